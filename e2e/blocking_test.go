package e2e_test

import (
	"testing"

	"parley.im/parley/xmppcore"
)

// TestBlockingAcrossModules checks XEP-0191 where blocking meets presence
// and message delivery: alice, bob and carol are mutual contacts; alice
// blocks bob. bob gets alice's unavailable presence; what the presence
// module then sends on alice's behalf (her broadcasts, answers to bob's
// probes) does not reach him, while carol still gets it (the router's
// EventOnBehalf); bob's messages to alice are refused with
// service-unavailable and hers to him with not-acceptable; alice's probe
// of bob's presence is not answered either. After unblocking, presence
// flows both ways again.
func TestBlockingAcrossModules(t *testing.T) {
	t.Parallel()
	srv := start(t, []string{"alice", "bob", "carol"})
	alice, _ := online(t, srv, "alice", "phone", "")
	bob, _ := online(t, srv, "bob", "desk", "")
	carol, _ := online(t, srv, "carol", "tab", "")
	subscribe(t, alice, bob)
	subscribe(t, alice, carol)

	alice.mustIQ("get", "", `<blocklist xmlns='urn:xmpp:blocking'/>`)
	alice.mustIQ("set", "", `<block xmlns='urn:xmpp:blocking'><item jid='bob@localhost'/></block>`)
	p := alice.take("the block push", func(el *xmppcore.Element) bool {
		return el.Local == xmppcore.IQ && el.Attr("type") == "set" && el.Child(nsBlocking, "block") != nil
	})
	if it := p.Child(nsBlocking, "block").Child(nsBlocking, "item"); it == nil || it.Attr("jid") != "bob@localhost" {
		t.Errorf("block push: %s", p)
	}
	alice.sync()
	bob.take("alice's unavailable presence on the block", presence(alice.jid, "unavailable"))
	noneOf(t, "carol", "alice's unavailable presence (only bob is blocked)", carol.sync(),
		presence(alice.jid, "unavailable"))

	// alice's broadcast: carol gets it, bob does not.
	alice.send(`<presence><show>dnd</show></presence>`)
	alice.sync()
	if p := carol.take("alice's broadcast", presence(alice.jid, "")); p.ChildText("", "show") != "dnd" {
		t.Errorf("carol got %s", p)
	}
	noneOf(t, "bob", "alice's broadcast while blocked", bob.sync(), anyPresenceFrom("alice@localhost"))

	// bob's messages to alice: service-unavailable, and she sees nothing.
	bob.send(`<message type='chat' to='alice@localhost' id='b1'><body>let me in</body></message>`)
	if e := bob.take("the error for his message", byID("b1")); errorCondition(e) != "service-unavailable" {
		t.Errorf("bob's message to alice, who blocked him, answered with %s, want service-unavailable", e)
	}
	noneOf(t, "alice", "a message from bob, whom she blocked", alice.sync(), anyBody)
	// To her full JID as well.
	bob.send(`<message type='chat' to='` + alice.jid + `' id='b2'><body>let me in</body></message>`)
	if e := bob.take("the error for his message", byID("b2")); errorCondition(e) != "service-unavailable" {
		t.Errorf("bob's message to alice's full JID answered with %s, want service-unavailable", e)
	}
	noneOf(t, "alice", "a message from bob, whom she blocked", alice.sync(), anyBody)

	// alice's own messages to bob: not-acceptable with <blocked/>.
	alice.send(`<message type='chat' to='bob@localhost' id='a1'><body>hello?</body></message>`)
	e := alice.take("the error for her message", byID("a1"))
	if errorCondition(e) != "not-acceptable" || e.Child("", "error").Child("urn:xmpp:blocking:errors", "blocked") == nil {
		t.Errorf("alice's message to bob, whom she blocked, answered with %s, want not-acceptable with <blocked/>", e)
	}
	noneOf(t, "bob", "a message from alice while she blocks him", bob.sync(), anyBody)

	// A new resource of bob probes alice at its initial presence: the
	// answer, sent on alice's behalf, is blocked too.
	bob2, got := online(t, srv, "bob", "laptop", "")
	noneOf(t, "bob/laptop", "alice's presence in answer to its probe", got, anyPresenceFrom("alice@localhost"))
	// And a new resource of alice gets no answer from bob.
	alice2, got := online(t, srv, "alice", "tablet", "")
	noneOf(t, "alice/tablet", "bob's presence in answer to its probe", got, anyPresenceFrom("bob@localhost"))
	if count(got, presence(carol.jid, "")) != 1 {
		t.Errorf("alice/tablet did not get carol's presence once: %s", dump(got))
	}
	noneOf(t, "bob/desk", "the initial presence of alice's new resource", bob.sync(), anyPresenceFrom("alice@localhost"))
	noneOf(t, "bob/laptop", "the initial presence of alice's new resource", bob2.sync(), anyPresenceFrom("alice@localhost"))

	// Unblock: each of alice's available resources sends bob its current
	// presence, and her broadcasts reach him again.
	alice.mustIQ("set", "", `<unblock xmlns='urn:xmpp:blocking'><item jid='bob@localhost'/></unblock>`)
	alice.sync()
	for _, b := range []*client{bob, bob2} {
		got := b.sync()
		if p := filter(got, presence(alice.jid, "")); len(p) != 1 || p[0].ChildText("", "show") != "dnd" {
			t.Errorf("%s after the unblock: %s, want alice/phone's current presence (dnd) once", b.jid, dump(got))
		}
		if count(got, presence(alice2.jid, "")) != 1 {
			t.Errorf("%s after the unblock: %s, want alice/tablet's presence once", b.jid, dump(got))
		}
	}
	alice.send(`<presence><show>chat</show></presence>`)
	alice.sync()
	if p := bob.take("alice's broadcast after the unblock", presence(alice.jid, "")); p.ChildText("", "show") != "chat" {
		t.Errorf("bob got %s", p)
	}
	bob.send(`<message type='chat' to='alice@localhost' id='b3'><body>thanks</body></message>`)
	bob.sync()
	alice.take("bob's message after the unblock", chat("thanks"))
}
