package e2e_test

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"parley.im/parley/xmppcore"
)

// TestSubscriptionHandshake walks alice and bob through RFC 6121 from
// strangers to contacts and on: the four steps of the subscription
// handshake with the roster pushes of each (§3.1), presence both ways
// (§4), chat both ways, bob's session ending (unavailable to alice,
// §4.5.2), messages to bob stored while he is offline and delivered once,
// in order and with XEP-0203 delay, at his next initial presence
// (XEP-0160), and his roster version still current then (XEP-0237).
func TestSubscriptionHandshake(t *testing.T) {
	t.Parallel()
	srv := start(t, []string{"alice", "bob"})
	alice, _ := online(t, srv, "alice", "phone", "")
	bob, _ := online(t, srv, "bob", "desk", "")
	const aliceBare, bobBare = "alice@localhost", "bob@localhost"

	// 1. alice asks: her item for bob is none + ask; bob gets the request
	// from her bare JID and no push (§3.1.3: a pending request alone adds
	// nothing to his roster).
	alice.send(`<presence type='subscribe' to='bob@localhost'/>`)
	alice.expectPush(bobBare, "subscription=none ask=subscribe")
	noneOf(t, "alice", "anything else after asking", alice.sync(), func(*xmppcore.Element) bool { return true })
	req := bob.take("alice's subscription request", presence(aliceBare, "subscribe"))
	if req.Attr("to") != bobBare {
		t.Errorf("the request is addressed to %q, want %s", req.Attr("to"), bobBare)
	}
	noneOf(t, "bob", "a roster push for a request he did not answer", bob.sync(), anyPush)

	// 2. bob approves: his item for alice is from; hers for bob is to,
	// she gets the approval from his bare JID and his presence from his
	// full JID (§3.1.5).
	bob.send(`<presence type='subscribed' to='alice@localhost'/>`)
	bob.expectPush(aliceBare, "subscription=from")
	noneOf(t, "bob", "more after approving", bob.sync(), func(*xmppcore.Element) bool { return true })
	alice.take("bob's approval", presence(bobBare, "subscribed"))
	alice.expectPush(bobBare, "subscription=to")
	alice.take("bob's presence after the approval", presence(bob.jid, ""))
	noneOf(t, "alice", "anything else after bob's approval", alice.sync(), func(*xmppcore.Element) bool { return true })

	// 3. bob asks back: from + ask for him; alice gets the request, and
	// no push since what she sees of bob (to) did not change.
	bob.send(`<presence type='subscribe' to='alice@localhost'/>`)
	bob.expectPush(aliceBare, "subscription=from ask=subscribe")
	bob.sync()
	alice.take("bob's subscription request", presence(bobBare, "subscribe"))
	noneOf(t, "alice", "a roster push for bob's request", alice.sync(), anyPush)

	// 4. alice approves: both; bob gets the approval and her presence.
	alice.send(`<presence type='subscribed' to='bob@localhost'/>`)
	alice.expectPush(bobBare, "subscription=both")
	alice.sync()
	bob.take("alice's approval", presence(aliceBare, "subscribed"))
	last := bob.expectPush(aliceBare, "subscription=both")
	bob.take("alice's presence after the approval", presence(alice.jid, ""))
	bob.sync()
	bobVer := last.Child(nsRoster, "query").Attr("ver")
	if bobVer == "" {
		t.Errorf("bob's roster push has no version although he asked with ver: %s", last)
	}
	for _, c := range []*client{alice, bob} {
		q := c.roster("-")
		other := map[*client]string{alice: bobBare, bob: aliceBare}[c]
		if got := item(rosterItem(q, other)); got != "subscription=both" {
			t.Errorf("%s's roster: %s is %s, want subscription=both", c.bare, other, got)
		}
	}

	// Presence changes now reach the contact, from the full JID.
	alice.send(`<presence><show>away</show><status>lunch</status></presence>`)
	alice.sync()
	p := bob.take("alice's new presence", presence(alice.jid, ""))
	if p.ChildText("", "show") != "away" || p.ChildText("", "status") != "lunch" {
		t.Errorf("bob got %s", p)
	}
	bob.send(`<presence><show>chat</show></presence>`)
	bob.sync()
	if p := alice.take("bob's new presence", presence(bob.jid, "")); p.ChildText("", "show") != "chat" {
		t.Errorf("alice got %s", p)
	}

	// Chat both ways, to the bare JIDs.
	alice.send(`<message type='chat' to='bob@localhost' id='c1'><body>hi bob</body></message>`)
	bob.send(`<message type='chat' to='alice@localhost' id='c2'><body>hi alice</body></message>`)
	if m := bob.take("alice's chat", chat("hi bob")); m.Attr("from") != alice.jid {
		t.Errorf("bob got the chat from %q, want %s", m.Attr("from"), alice.jid)
	}
	if m := alice.take("bob's chat", chat("hi alice")); m.Attr("from") != bob.jid {
		t.Errorf("alice got the chat from %q, want %s", m.Attr("from"), bob.jid)
	}

	// bob goes away (ends his stream without unavailable presence): alice
	// is told, from his full JID.
	bob.close()
	alice.take("bob's unavailable presence", presence(bob.jid, "unavailable"))

	// Messages for bob are now kept, without an error to alice.
	before := time.Now().UTC().Truncate(time.Millisecond)
	bodies := []string{"first while away", "second while away", "third while away"}
	for i, b := range bodies {
		alice.send(`<message type='chat' to='bob@localhost' id='off` + strconv.Itoa(i) + `'><body>` + b + `</body></message>`)
	}
	noneOf(t, "alice", "an error for a message to offline bob", alice.sync(),
		func(el *xmppcore.Element) bool { return el.Attr("type") == "error" })
	after := time.Now().UTC()
	if n, err := srv.Store().CountOffline(ctx(t), host, "bob"); err != nil || n != len(bodies) {
		t.Errorf("offline messages stored for bob: %d, %v; want %d", n, err, len(bodies))
	}

	// bob comes back: his roster has not changed since his version (an
	// empty result, no pushes), and his initial presence brings the
	// messages, in order, each once, with delay; and alice's presence.
	bob = login(t, srv, "bob", "desk")
	if q := bob.roster(bobVer); q != nil {
		t.Errorf("roster get with the current version %s: %s, want an empty result", bobVer, q)
	}
	bob.send(`<presence/>`)
	got := bob.sync()
	msgs := filter(got, anyBody)
	var gotBodies []string
	var prev time.Time
	for _, m := range msgs {
		gotBodies = append(gotBodies, m.ChildText("", "body"))
		if m.Attr("from") != alice.jid || m.Attr("to") != bobBare {
			t.Errorf("offline message from %q to %q, want from %s to %s", m.Attr("from"), m.Attr("to"), alice.jid, bobBare)
		}
		ts := delayStamp(t, m)
		if ts.Before(before) || ts.After(after) || ts.Before(prev) {
			t.Errorf("delay stamp %s not in order within [%s, %s]", ts.Format(time.RFC3339Nano), before, after)
		}
		prev = ts
	}
	if !slices.Equal(gotBodies, bodies) {
		t.Errorf("bob got the offline messages %q, want %q in that order; everything: %s", gotBodies, bodies, dump(got))
	}
	if count(got, anyPush) != 0 {
		t.Errorf("bob got roster pushes after a versioned get at the current version: %s", dump(filter(got, anyPush)))
	}
	if count(got, presence(alice.jid, "")) != 1 {
		t.Errorf("bob did not get alice's presence (the answer to his probe) exactly once: %s", dump(got))
	}
	alice.take("bob's presence when he is back", presence(bob.jid, ""))
	if n, err := srv.Store().CountOffline(ctx(t), host, "bob"); err != nil || n != 0 {
		t.Errorf("offline messages left for bob after delivery: %d, %v", n, err)
	}

	// Exactly once: a third session gets none of them again.
	bob.close()
	alice.take("bob's unavailable presence", presence(bob.jid, "unavailable"))
	bob = login(t, srv, "bob", "laptop")
	bob.send(`<presence/>`)
	noneOf(t, "bob", "offline messages a second time", bob.sync(), anyBody)
}
