//go:build unix

package interop_test

import (
	"testing"

	"mellium.im/sasl"

	"parley.im/parley/xmppcore"
)

// TestSlixmppMUC: three slixmpp clients use the MUC service on
// conference.localhost with slixmpp's own XEP-0045 and XEP-0313 plugins:
// alice creates a room (201) and configures it with the owner form (a
// name, archiving on), bob joins, they exchange groupchat messages (each
// gets both, once, with the room's stanza id and the sender's occupant
// id), alice changes the subject, carol joins late and gets the messages
// as history, bob changes nick (303), alice kicks carol (307) and bans
// her (301; her next join is forbidden), bob queries the room archive
// (both messages; with alice's occupant JID, hers alone), and they leave.
// The script (testdata/slixmpp_muc.py) exits non-zero unless all of it
// happened; the room, temporary, must then be gone.
func TestSlixmppMUC(t *testing.T) {
	ctx, srv, _ := clientTest(t, requireSlixmpp)
	const room = "interop@conference.localhost"

	p := runSlixmpp(t, ctx, srv, "slixmpp_muc.py",
		"--alice", account(t, srv, "alice", "alice secret"),
		"--bob", account(t, srv, "bob", "bob secret"),
		"--carol", account(t, srv, "carol", "carol secret"),
		"--room", room)
	p.expectOutput(t, "created-ok\n", "configured-ok\n", "joined-ok\n", "groupchat-ok\n", "subject-ok\n",
		"history-ok\n", "nick-ok\n", "kick-ok\n", "ban-ok\n", "archive-ok\n", "left-ok\n", "result ok\n",
		"bob subject from="+room+"/Alice subject='Interop works'\n")

	// Left by everyone, the temporary room is gone.
	c, _ := rawLogin(t, srv, false, sasl.ScramSha256, "alice", "alice secret", "check")
	c.Send(`<iq type='get' id='gone' to='` + room + `'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	el := c.Expect(func(el *xmppcore.Element) bool { return el.Local == xmppcore.IQ && el.Attr("id") == "gone" })
	if e := el.Child("", "error"); el.Attr("type") != "error" || e == nil || e.Child(xmppcore.NSStanzas, "item-not-found") == nil {
		t.Errorf("disco#info of the room after everyone left: %s, want item-not-found", el)
	}
}
