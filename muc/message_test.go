package muc

import (
	"strings"
	"testing"
	"time"

	"parley.im/parley/xmppcore"
)

// roomStanzaID is the XEP-0359 stanza id the room put on a message.
func roomStanzaID(el *xmppcore.Element) string {
	for c := range el.Children() {
		if c.Is(NSSID, "stanza-id") && c.Attr("by") == coven {
			return c.Attr("id")
		}
	}
	return ""
}

func occupantIDOf(el *xmppcore.Element) string {
	if c := el.Child(NSOccupantID, "occupant-id"); c != nil {
		return c.Attr("id")
	}
	return ""
}

// TestGroupchat is §7.4 with XEP-0359 and XEP-0421: the message goes to
// every occupant from the sender's occupant JID, with the client's id,
// one stanza id by the room (a forged one removed) and the occupant id
// (a forged one replaced).
func TestGroupchat(t *testing.T) {
	e := newEnv(t, Options{})
	alice := e.coven()
	bob := e.bind(bobPC)
	e.enter(bob, "bob")
	e.send(bob, `<message to='coven@conference.example.org' type='groupchat' id='hysf1v37' xml:lang='en'>
		<body>Harpier cries</body><origin-id xmlns='urn:xmpp:sid:0' id='o1'/>
		<stanza-id xmlns='urn:xmpp:sid:0' id='forged' by='coven@conference.example.org'/>
		<stanza-id xmlns='urn:xmpp:sid:0' id='other' by='bob@example.org'/>
		<occupant-id xmlns='urn:xmpp:occupant-id:0' id='forged'/></message>`)
	want := func(to string) string {
		return `<message from='coven@conference.example.org/bob' to='` + to + `' type='groupchat' id='hysf1v37' xml:lang='en'>
			<body>Harpier cries</body><origin-id xmlns='urn:xmpp:sid:0' id='o1'/>
			<stanza-id xmlns='urn:xmpp:sid:0' id='other' by='bob@example.org'/>` + oid +
			`<stanza-id xmlns='urn:xmpp:sid:0' id='*' by='coven@conference.example.org'/></message>`
	}
	gotA, gotB := alice.Take(), bob.Take()
	if len(gotA) != 1 || len(gotB) != 1 {
		t.Fatalf("alice got %s\nbob got %s", list(gotA), list(gotB))
	}
	if msg := match(gotA[0], parse(t, want(alicePhone))); msg != "" {
		t.Errorf("alice: %s\n%s", msg, gotA[0])
	}
	if msg := match(gotB[0], parse(t, want(bobPC))); msg != "" {
		t.Errorf("bob: %s\n%s", msg, gotB[0])
	}
	// One stanza id for all copies; a new one per message.
	idA := roomStanzaID(gotA[0])
	if idA == "forged" || idA != roomStanzaID(gotB[0]) {
		t.Errorf("stanza ids %q and %q", idA, roomStanzaID(gotB[0]))
	}
	if occupantIDOf(gotA[0]) == "forged" {
		t.Error("the forged occupant id went through")
	}

	// Without an id, the room makes one, the same in every copy.
	e.send(bob, `<message to='coven@conference.example.org' type='groupchat'><body>no id</body></message>`)
	a, b := alice.Take(), bob.Take()
	if len(a) != 1 || len(b) != 1 || a[0].Attr("id") == "" || a[0].Attr("id") != b[0].Attr("id") ||
		roomStanzaID(a[0]) == idA || roomStanzaID(a[0]) != roomStanzaID(b[0]) {
		t.Errorf("without id: %s%s", list(a), list(b))
	}
}

// TestGroupchatErrors covers §7.4 (non-occupant: not-acceptable;
// visitor: forbidden) and §17.1 rule 1 (wrong type: bad-request).
func TestGroupchatErrors(t *testing.T) {
	e := newEnv(t, Options{})
	alice := e.coven(fModerated, "1")
	bob := e.bind(bobPC)
	carol := e.bind(carolPC)
	e.enter(bob, "bob") // a visitor: the room is moderated
	e.send(carol, `<message to='coven@conference.example.org' type='groupchat' id='m1'><body>hi</body></message>`)
	expect(t, carol, `<message from='coven@conference.example.org' to='carol@example.org/pc' type='error' id='m1'>
		<error type='modify' by='coven@conference.example.org'><not-acceptable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>
		<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>You are not in the room</text></error></message>`)
	e.send(bob, `<message to='coven@conference.example.org' type='groupchat' id='m2'><body>hi</body></message>`)
	expect(t, bob, errStanza("message", coven, bobPC, "m2", "auth", "forbidden"))
	e.send(bob, `<message to='coven@conference.example.org' type='chat' id='m3'><body>hi</body></message>`)
	expect(t, bob, errStanza("message", coven, bobPC, "m3", "modify", "bad-request"))
	// Errors from non-occupants are dropped, never answered.
	e.send(carol, `<message to='coven@conference.example.org' type='error' id='m4'><error type='cancel'><gone xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>`)
	expectNothing(t, alice, bob, carol)
}

// TestSubject is §8.1 and §7.2.16: moderators change the subject (or
// participants, when allowed), everyone hears of it, newcomers get it
// with a delay; others get forbidden. A body or thread makes it a plain
// message.
func TestSubject(t *testing.T) {
	e := newEnv(t, Options{})
	alice := e.coven()
	bob := e.bind(bobPC)
	e.enter(bob, "bob")
	e.send(bob, `<message to='coven@conference.example.org' type='groupchat' id='s1'><subject>Mine</subject></message>`)
	expect(t, bob, errStanza("message", coven, bobPC, "s1", "auth", "forbidden"))

	e.clock.Advance(time.Minute)
	e.send(alice, `<message to='coven@conference.example.org' type='groupchat' id='s2'><subject>Fire Burn</subject></message>`)
	for _, s := range []string{alicePhone, bobPC} {
		want := `<message from='coven@conference.example.org/owner' to='` + s + `' type='groupchat' id='s2'><subject>Fire Burn</subject>` +
			oid + `<stanza-id xmlns='urn:xmpp:sid:0' id='*' by='coven@conference.example.org'/></message>`
		if s == alicePhone {
			expect(t, alice, want)
		} else {
			expect(t, bob, want)
		}
	}
	carol := e.bind(carolPC)
	got := e.join(carol, coven+"/carol", "")
	if msg := match(got[len(got)-1], parse(t, subjectMsg(coven+"/owner", carolPC, "Fire Burn", delayFrom(coven, "2026-03-01T12:01:00.000Z")))); msg != "" {
		t.Errorf("subject on join: %s\n%s", msg, got[len(got)-1])
	}
	// With a body it is a message, not a subject change (§8.1).
	e.drain()
	e.send(bob, `<message to='coven@conference.example.org' type='groupchat' id='s3'><subject>x</subject><body>y</body></message>`)
	if got := bob.Take(); len(got) != 1 || got[0].Attr("type") != "groupchat" {
		t.Errorf("subject with body: %s", list(got))
	}
	e.drain()
	// Participants may change it when the room allows it.
	e.configure(alice, coven, "", fChangeSubject, "1")
	e.drain()
	e.send(bob, `<message to='coven@conference.example.org' type='groupchat' id='s4'><subject/></message>`)
	if got := alice.Take(); len(got) != 1 || got[0].Attr("from") != coven+"/bob" {
		t.Errorf("participant's subject change: %s", list(got))
	}
	e.drain()
	dave := e.bind("dave@example.org/x")
	got = e.join(dave, coven+"/dave", "")
	if msg := match(got[len(got)-1], parse(t, subjectMsg(coven+"/bob", "dave@example.org/x", "", delayFrom(coven, "2026-03-01T12:01:00.000Z")))); msg != "" {
		t.Errorf("cleared subject on join: %s\n%s", msg, got[len(got)-1])
	}
}

// TestPrivateMessages is §7.5: relayed from the sender's occupant JID to
// every session of the recipient, with <x/> added, under
// muc#roomconfig_allowpm; errors for non-occupants, missing nicknames and
// type groupchat. A XEP-0249 direct invitation in it passes untouched.
func TestPrivateMessages(t *testing.T) {
	e := newEnv(t, Options{})
	alice := e.coven()
	bob := e.bind(bobPC)
	phone := e.bind("bob@example.org/phone")
	carol := e.bind(carolPC)
	e.enter(bob, "bob")
	e.enter(phone, "bob")
	e.send(alice, `<message to='coven@conference.example.org/bob' type='chat' id='pm1'><body>psst</body>
		<x xmlns='jabber:x:conference' jid='other@conference.example.org' reason='come'/></message>`)
	for _, s := range []string{bobPC, "bob@example.org/phone"} {
		want := `<message from='coven@conference.example.org/owner' to='` + s + `' type='chat' id='pm1'><body>psst</body>
			<x xmlns='jabber:x:conference' jid='other@conference.example.org' reason='come'/>
			<x xmlns='http://jabber.org/protocol/muc#user'/>` + oid + `</message>`
		if s == bobPC {
			expect(t, bob, want)
		} else {
			expect(t, phone, want)
		}
	}
	expectNothing(t, alice)

	e.send(carol, `<message to='coven@conference.example.org/bob' type='chat' id='pm2'><body>x</body></message>`)
	expect(t, carol, `<message from='coven@conference.example.org/bob' to='carol@example.org/pc' type='error' id='pm2'>
		<error type='modify' by='coven@conference.example.org'><not-acceptable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>
		<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>You are not in the room</text></error></message>`)
	e.send(alice, `<message to='coven@conference.example.org/nobody' type='chat' id='pm3'><body>x</body></message>`)
	expect(t, alice, errStanza("message", coven+"/nobody", alicePhone, "pm3", "cancel", "item-not-found"))
	e.send(alice, `<message to='coven@conference.example.org/bob' type='groupchat' id='pm4'><body>x</body></message>`)
	expect(t, alice, errStanza("message", coven+"/bob", alicePhone, "pm4", "modify", "bad-request"))

	for _, tc := range []struct {
		allowPM          string
		bobMay, aliceMay bool
	}{
		{pmNone, false, false},
		{pmModerators, false, true},
		{pmParticipants, true, true},
		{pmAnyone, true, true},
	} {
		e.configure(alice, coven, "", fAllowPM, tc.allowPM)
		e.drain()
		e.send(bob, `<message to='coven@conference.example.org/owner' id='b'><body>x</body></message>`)
		if got := alice.Take(); (len(got) == 1) != tc.bobMay {
			t.Errorf("allowpm %s: bob's message: %s; bob got %s", tc.allowPM, list(got), list(bob.Take()))
		}
		if !tc.bobMay {
			expect(t, bob, errStanza("message", coven+"/owner", bobPC, "b", "auth", "forbidden"))
		}
		e.send(alice, `<message to='coven@conference.example.org/bob' id='a'><body>x</body></message>`)
		if got := bob.Take(); (len(got) == 1) != tc.aliceMay {
			t.Errorf("allowpm %s: alice's message: %s", tc.allowPM, list(got))
		}
		e.drain()
	}
}

// TestRateLimit checks the per-occupant token bucket: past the burst the
// sender gets policy-violation of type wait and nobody the message; the
// bucket refills with time; owners are not limited.
func TestRateLimit(t *testing.T) {
	e := newEnv(t, Options{MessageRate: 1, MessageBurst: 2})
	alice := e.coven()
	bob := e.bind(bobPC)
	e.enter(bob, "bob")
	send := func(id string) {
		e.send(bob, `<message to='coven@conference.example.org' type='groupchat' id='%s'><body>x</body></message>`, id)
	}
	send("1")
	send("2")
	if got := alice.Take(); len(got) != 2 {
		t.Fatalf("within the burst: %s", list(got))
	}
	bob.Take()
	send("3")
	expectNothing(t, alice)
	expect(t, bob, `<message from='coven@conference.example.org' to='bob@example.org/pc' type='error' id='3'>
		<error type='wait' by='coven@conference.example.org'><policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>
		<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>You are sending messages too fast, please wait a little</text></error></message>`)
	// Private messages count too.
	e.send(bob, `<message to='coven@conference.example.org/owner' type='chat' id='4'><body>x</body></message>`)
	if got := bob.Take(); len(got) != 1 || got[0].Attr("type") != "error" {
		t.Errorf("private message over the limit: %s", list(got))
	}
	e.clock.Advance(time.Second)
	send("5")
	if got := alice.Take(); len(got) != 1 {
		t.Errorf("after a second: %s", list(got))
	}
	e.drain()
	for i := range 10 {
		e.send(alice, `<message to='coven@conference.example.org' type='groupchat' id='o%d'><body>x</body></message>`, i)
	}
	if got := bob.Take(); len(got) != 10 {
		t.Errorf("the owner is limited: bob got %d messages", len(got))
	}
}

// TestBacklogFull: while a room's deliveries lag maxBacklog stanzas
// behind, a groupchat message is refused with resource-constraint (wait)
// and nothing is reflected, archived or kept as history; once the drain
// caught up, messages go through again.
func TestBacklogFull(t *testing.T) {
	e := newEnv(t, Options{})
	alice := e.coven()
	bob := e.bind(bobPC)
	e.enter(bob, "bob")
	r := e.room("coven")
	r.mu.Lock()
	r.draining = true // as if a drain were running: what is queued stays queued
	for range maxBacklog {
		r.outq = append(r.outq, delivery{el: xmppcore.New("", "message"), one: recipient{}})
	}
	r.mu.Unlock()
	e.send(bob, `<message to='%s' type='groupchat' id='late'><body>too late</body></message>`, coven)
	r.mu.Lock()
	last := r.outq[len(r.outq)-1]
	n := len(r.history.entries())
	r.outq, r.draining = nil, false
	r.mu.Unlock()
	if last.el.Attr("type") != "error" || last.one.str != bobPC || !strings.Contains(last.el.String(), "resource-constraint") ||
		last.el.Child("", "error").Attr("type") != "wait" {
		t.Errorf("answer to a message into a full backlog: %s to %s", last.el, last.one.str)
	}
	if n != 0 {
		t.Errorf("history holds %d messages after a refused one", n)
	}
	expectNothing(t, alice, bob)
	e.send(bob, `<message to='%s' type='groupchat' id='ok'><body>in time</body></message>`, coven)
	if got := alice.Take(); len(got) != 1 || got[0].Attr("id") != "ok" {
		t.Errorf("after the backlog cleared: %s", list(got))
	}
}
