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
// is refused with forbidden), and alice queries the room archive, which
// must hold both messages. The script (testdata/nbxmpp_muc.py) would skip
// the archive step for a room that does not list urn:xmpp:mam:2 and say
// so; Parley's room archives, so this test requires that step done. The
// script exits non-zero unless the rest happened.
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
	if !strings.Contains(out, "archive-ok\n") {
		t.Error("nbxmpp output lacks archive-ok: the room archive was not queried, or lacked the messages")
	}
}
