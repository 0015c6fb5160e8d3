//go:build unix

package interop_test

import (
	"strconv"
	"strings"
	"testing"

	"parley.im/parley/config"
	"parley.im/parley/internal/xmpptest"
	"parley.im/parley/xmppcore"
)

// TestSlixmppInvite: slixmpp's XEP-0050 plugin runs the XEP-0401 commands
// as an admin (the two-stage "Create account" through the plugin's command
// workflow, and "Invite user"), and is refused them as a user. The links it
// got then register accounts with open registration off (XEP-0445), and
// the invited accounts are the admin's mutual contacts.
func TestSlixmppInvite(t *testing.T) {
	ctx, srv, _ := clientTest(t, requireSlixmpp, func(c *config.Config) { c.Hosts[0].Admins = []string{"admin@localhost"} })
	p := runSlixmpp(t, ctx, srv, "slixmpp_invite.py",
		"--admin", account(t, srv, "admin", "admin-secret"),
		"--user", account(t, srv, "alice", "alice-secret"),
		"--username", "juliet")
	uris := map[string]string{}
	for _, line := range strings.Split(p.stdout.String(), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "uri" {
			uris[f[1]] = f[2]
		}
	}
	p.expectOutput(t, "user invite refused forbidden\n", "user commands -\n", "create-account form roster-subscription,username status=executing\n")
	if !strings.HasPrefix(uris["create-account"], "xmpp:juliet@localhost?register;preauth=") ||
		!strings.HasPrefix(uris["invite"], "xmpp:admin@localhost?roster;preauth=") {
		t.Fatalf("invitation URIs %q", uris)
	}
	for kind, user := range map[string]string{"create-account": "juliet", "invite": "romeo"} {
		tok := strings.TrimSuffix(strings.SplitN(uris[kind], "preauth=", 2)[1], ";ibr=y")
		c := xmpptest.Dial(t, srv.StartTLSAddr)
		c.OpenStream("localhost")
		c.StartTLS("localhost")
		for i, req := range []string{
			`<preauth xmlns='urn:xmpp:pars:0' token='` + tok + `'/>`,
			`<query xmlns='jabber:iq:register'><username>` + user + `</username><password>pw</password></query>`,
		} {
			id := kind + strconv.Itoa(i)
			c.Send(`<iq type='set' id='` + id + `'>` + req + `</iq>`)
			if res := c.Expect(func(el *xmppcore.Element) bool { return el.Attr("id") == id }); res.Attr("type") != "result" {
				t.Fatalf("%s link, step %d: %s", kind, i, res)
			}
		}
		it, err := srv.Store().RosterItem(t.Context(), "localhost", "admin", user+"@localhost")
		if err != nil || it.Subscription != "both" {
			t.Errorf("admin's item for %s: %+v, %v", user, it, err)
		}
	}
}
