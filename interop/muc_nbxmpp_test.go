//go:build unix

package interop_test

import (
	"strings"
	"testing"
)

// TestNbxmppMUC: three nbxmpp clients (Gajim's library) on one GLib main
// loop use a room on conference.localhost, over XEP-0368 direct TLS with
// the self-signed certificate accepted: alice creates it and configures it
// with the owner form (a name, persistent, archiving if offered), bob
// joins and they exchange groupchat messages, carol joins late and gets
// them as discussion history with delays, bob changes nick (303), alice
// kicks carol (307) and, after carol rejoins, bans her (301; her next join
// is refused with forbidden). When the room's disco#info lists
// urn:xmpp:mam:2, alice also queries the room archive and must get both
// messages; otherwise the script skips that step alone and says so. The
// script (testdata/nbxmpp_muc.py) exits non-zero unless the rest happened.
func TestNbxmppMUC(t *testing.T) {
	t.Parallel()
	requireNbxmpp(t)
	ctx := testContext(t)
	srv, _ := startServer(t)
	srv.AddUser(t, "alice", "alice secret")
	srv.AddUser(t, "bob", "bob secret")
	srv.AddUser(t, "carol", "carol secret")
	const room = "nbxmpp@conference.localhost"

	p := startProcess(t, ctx, "nbxmpp", nil, nil,
		python, script(t, "nbxmpp_muc.py"),
		"--addr", srv.DirectTLSAddr,
		"--cafile", certFile(srv),
		"--alice", "alice@localhost:alice secret",
		"--bob", "bob@localhost:bob secret",
		"--carol", "carol@localhost:carol secret",
		"--room", room,
		"--timeout", clientTimeout, "--debug")
	p.mustSucceed(t, ctx)

	out := p.stdout.String()
	for _, want := range []string{"created-ok\n", "joined-ok\n", "groupchat-ok\n", "history-ok\n",
		"nick-ok\n", "kick-ok\n", "ban-ok\n", "left-ok\n", "finish ok\n", "result ok\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("nbxmpp output lacks %q", want)
		}
	}
	switch {
	case strings.Contains(out, "archive-ok\n"):
		t.Log("the room archive (MAM to the room JID) was queried and held both messages")
	case strings.Contains(out, "archive-skipped "):
		t.Log("the room does not advertise urn:xmpp:mam:2: the archive step was skipped")
	default:
		t.Error("nbxmpp output has neither archive-ok nor archive-skipped")
	}
}
