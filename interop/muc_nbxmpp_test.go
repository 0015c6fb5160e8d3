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
	ctx, srv, _ := clientTest(t, requireNbxmpp)

	p := startPython(t, ctx, srv, "nbxmpp", "nbxmpp_muc.py", srv.DirectTLSAddr,
		"--alice", account(t, srv, "alice", "alice secret"),
		"--bob", account(t, srv, "bob", "bob secret"),
		"--carol", account(t, srv, "carol", "carol secret"),
		"--room", "nbxmpp@conference.localhost")
	p.mustSucceed(t, ctx)
	p.expectOutput(t, "created-ok\n", "joined-ok\n", "groupchat-ok\n", "history-ok\n",
		"nick-ok\n", "kick-ok\n", "ban-ok\n", "left-ok\n", "finish ok\n", "result ok\n")
	if !strings.Contains(p.stdout.String(), "archive-ok\n") {
		t.Error("nbxmpp output lacks archive-ok: the room archive was not queried, or lacked the messages")
	}
}
