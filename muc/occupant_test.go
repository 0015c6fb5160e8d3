package muc

import (
	"context"
	"strings"
	"testing"

	"parley.im/parley/router"
	"parley.im/parley/xmppcore"
)

// TestNickChange is §7.6: unavailable with 303 and the new nickname from
// the old JID, then available from the new one, to all (110 to the user);
// conflicts with nicknames in use or reserved; 210 when normalized.
func TestNickChange(t *testing.T) {
	e := newEnv(t, Options{})
	alice := e.coven()
	bob := e.bind(bobPC)
	carol := e.bind(carolPC)
	e.enter(bob, "thirdwitch")
	e.enter(carol, "carol")
	e.send(bob, `<presence to='coven@conference.example.org/oldhag' id='n1'/>`)
	gone := func(withJID string, codes ...int) string {
		it := `<item affiliation='none' role='participant' nick='oldhag'/>`
		if withJID != "" {
			it = `<item affiliation='none' role='participant' nick='oldhag' jid='` + withJID + `'/>`
		}
		return pres(coven+"/thirdwitch", "", "unavailable", x(it, codes...))
	}
	fix := func(s, to string) string { return strings.ReplaceAll(s, "to=''", "to='"+to+"'") }
	expect(t, bob, fix(gone(bobPC, 110, 303), bobPC),
		presID("n1", coven+"/oldhag", bobPC, "", x(item("none", "participant", bobPC), 110)))
	expect(t, alice, fix(gone(bobPC, 303), alicePhone), pres(coven+"/oldhag", alicePhone, "", x(item("none", "participant", bobPC))))
	expect(t, carol, fix(gone("", 303), carolPC), pres(coven+"/oldhag", carolPC, "", x(item("none", "participant", ""))))

	// In use, or reserved by another: conflict, from the wanted JID.
	e.send(bob, `<presence to='coven@conference.example.org/carol' id='n2'/>`)
	expect(t, bob, errStanza("presence", coven+"/carol", bobPC, "n2", "cancel", "conflict", mucX))
	e.admin(alice, "r", `<item affiliation='member' jid='dave@example.org' nick='davy'/>`)
	e.drain()
	e.send(bob, `<presence to='coven@conference.example.org/davy' id='n3'/>`)
	expect(t, bob, errStanza("presence", coven+"/davy", bobPC, "n3", "cancel", "conflict", mucX))
	// Normalized by the service: 210.
	e.send(bob, "<presence to='coven@conference.example.org/Rene\u0301' id='n4'/>")
	got := bob.Take()
	if len(got) != 2 || !hasStatus(got[1], 210) || got[1].Attr("from") != coven+"/René" {
		t.Errorf("normalized nickname: %s", list(got))
	}
	e.drain()

	// One session of two moves alone: the old nickname stays for the
	// other; the moving one gets 303 for it, then joins the new one.
	phone := e.bind("bob@example.org/phone")
	e.enter(phone, "René")
	e.send(phone, `<presence to='coven@conference.example.org/bobby' id='n5'/>`)
	got = phone.Take()
	if len(got) != 2 || !hasStatus(got[0], 303) || got[0].Attr("type") != "unavailable" || got[1].Attr("from") != coven+"/bobby" {
		t.Errorf("moving session: %s", list(got))
	}
	if got := alice.Take(); len(got) != 2 || got[0].Attr("type") != "" || got[0].Attr("from") != coven+"/René" ||
		got[1].Attr("from") != coven+"/bobby" {
		t.Errorf("alice on the move: %s", list(got)) // René's presence now the pc's, then bobby's
	}
	// And back: it joins the user's other nickname, which it shares.
	e.drain()
	e.send(phone, `<presence to='coven@conference.example.org/René'/>`)
	if got := alice.Take(); len(got) != 2 || !hasStatus(got[0], 303) || got[1].Attr("from") != coven+"/René" {
		t.Errorf("alice on the merge: %s", list(got))
	}
	r := e.room("coven")
	if o := r.occupants["René"]; o == nil || len(o.sessions) != 2 || r.occupants["bobby"] != nil {
		t.Errorf("after the merge: %+v", r.occupants)
	}
}

// TestAvailabilityChange is §7.7: the new show/status to all, the
// occupant's own with 110 and the id of its presence.
func TestAvailabilityChange(t *testing.T) {
	e := newEnv(t, Options{})
	alice := e.coven()
	bob := e.bind(bobPC)
	e.enter(bob, "bob")
	e.send(bob, `<presence to='coven@conference.example.org/bob' id='p1'><show>xa</show><status>gone</status>
		<x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='owner' role='moderator'/></x>
		<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='n' ver='v'/></presence>`)
	body := `<show>xa</show><status>gone</status><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='n' ver='v'/>`
	expect(t, bob, presID("p1", coven+"/bob", bobPC, "", x(item("none", "participant", bobPC), 110), body))
	expect(t, alice, pres(coven+"/bob", alicePhone, "", x(item("none", "participant", bobPC)), body))
	// Newcomers see the new presence.
	carol := e.bind(carolPC)
	got := e.join(carol, coven+"/carol", "")
	if p := find(got, func(el *xmppcore.Element) bool { return el.Attr("from") == coven+"/bob" }); p == nil || p.ChildText("", "show") != "xa" {
		t.Errorf("roster after the change: %s", list(got))
	}
	// Presence of other types is ignored; so is unavailable from a
	// non-occupant (§17.2 rule 5).
	e.drain()
	e.send(bob, `<presence to='coven@conference.example.org/bob' type='probe'/>`)
	e.send(bob, `<presence to='coven@conference.example.org/bob' type='subscribe'/>`)
	dave := e.bind("dave@example.org/x")
	e.send(dave, `<presence to='coven@conference.example.org/dave' type='unavailable'/>`)
	e.send(dave, `<presence to='coven@conference.example.org' type='unavailable'/>`)
	expectNothing(t, alice, bob, carol, dave)
	e.send(dave, `<presence to='coven@conference.example.org'/>`)
	expect(t, dave, errStanza("presence", coven, "dave@example.org/x", "", "modify", "jid-malformed", mucX))
}

// TestSessionEnd checks that a session that ends leaves its rooms, by the
// router's session-ended hook, and that unavailable presence sent for it
// by the server (from its full JID, with no session) is processed too.
func TestSessionEnd(t *testing.T) {
	e := newEnv(t, Options{})
	alice := e.coven()
	bob := e.bind(bobPC)
	e.enter(bob, "bob")
	e.create(bob, "other@conference.example.org/bob")
	e.drain()
	e.rt.SessionEnded(context.Background(), bob)
	expect(t, alice, pres(coven+"/bob", alicePhone, "unavailable", x(item("none", "none", bobPC))))
	if r, _ := e.m.services[svcJID].lookup(t.Context(), "other"); r != nil {
		t.Error("bob's temporary room outlived him")
	}

	carol := e.bind(carolPC)
	e.enter(carol, "carol")
	e.sendAs(carolPC, `<presence to='coven@conference.example.org/carol' type='unavailable'/>`)
	expect(t, alice, pres(coven+"/carol", alicePhone, "unavailable", x(item("none", "none", carolPC))))
	// Her session is still bound here, so it hears of it.
	expect(t, carol, pres(coven+"/carol", carolPC, "unavailable", x(item("none", "none", carolPC), 110)))
	if got := len(e.room("coven").occupants); got != 1 {
		t.Errorf("%d occupants left, want 1", got)
	}

	// Broadcast unavailable presence ends directed presence (RFC 6121
	// §4.6.3): dave leaves the room, with his status.
	dave := e.bind("dave@example.org/x")
	e.enter(dave, "dave")
	e.send(dave, `<presence type='unavailable'><status>off</status></presence>`)
	expect(t, alice, pres(coven+"/dave", alicePhone, "unavailable", x(item("none", "none", "dave@example.org/x")), `<status>off</status>`))
	// Available broadcast presence changes nothing.
	e.enter(dave, "dave")
	e.send(dave, `<presence><show>away</show></presence>`)
	expectNothing(t, alice)
}

// TestGhosts is §18.1.3: a delivery error from an occupant's real JID
// removes that session with 333; the router's own bounce of a groupchat
// message to a resource that is gone does it.
func TestGhosts(t *testing.T) {
	e := newEnv(t, Options{})
	alice := e.coven()
	bob := e.bind(bobPC)
	carol := e.bind(carolPC)
	e.enter(bob, "bob")
	e.enter(carol, "carol")
	// An error the client sends, not about delivery: nothing happens.
	e.send(bob, `<message to='coven@conference.example.org/owner' type='error' id='x'><error type='modify'><bad-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>`)
	expectNothing(t, alice, bob, carol)
	// carol's session is unbound without the room hearing of it: the next
	// groupchat message bounces, and she is removed.
	e.rt.Unbind(carol)
	e.send(alice, `<message to='coven@conference.example.org' type='groupchat' id='m'><body>hi</body></message>`)
	got := alice.Take()
	if len(got) != 2 || got[0].Attr("type") != "groupchat" || got[1].Attr("type") != "unavailable" || !hasStatus(got[1], 333) {
		t.Errorf("alice: %s", list(got))
	}
	got = bob.Take()
	if len(got) != 2 || !hasStatus(got[1], 333) || hasStatus(got[1], 110) {
		t.Errorf("bob: %s", list(got))
	}
	// A presence error from an occupant does it too.
	e.send(bob, `<presence to='coven@conference.example.org/owner' type='error'><error type='cancel'><remote-server-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>`)
	expect(t, bob, pres(coven+"/bob", bobPC, "unavailable", x(item("none", "none", bobPC), 110, 333)))
}

// TestShutdown is §11.2: stopping the module removes everyone with 332.
func TestShutdown(t *testing.T) {
	e := newEnv(t, Options{})
	alice := e.coven()
	bob := e.bind(bobPC)
	e.enter(bob, "bob")
	e.reg.Stop(context.Background())
	expect(t, alice, pres(coven+"/owner", alicePhone, "unavailable", x(item("owner", "none", ""), 110, 332)))
	expect(t, bob, pres(coven+"/bob", bobPC, "unavailable", x(item("none", "none", ""), 110, 332)))
	// The component is gone from the router.
	e.send(bob, `<message to='coven@conference.example.org' type='groupchat' id='m'><body>x</body></message>`)
	if got := bob.Take(); len(got) != 1 || got[0].Child("", "error").FirstChild().Local != "remote-server-not-found" {
		t.Errorf("after stop: %s", list(got))
	}
}

// TestSelfPing is XEP-0410 §3.2: a ping to one's own occupant JID is
// answered by the room; a non-occupant gets not-acceptable.
func TestSelfPing(t *testing.T) {
	e := newEnv(t, Options{})
	e.coven()
	bob := e.bind(bobPC)
	carol := e.bind(carolPC)
	e.enter(bob, "bob")
	ping := `<ping xmlns='urn:xmpp:ping'/>`
	if got := e.iq(bob, coven+"/bob", "get", ping); match(got, parse(t, result(coven+"/bob", bobPC, "q"))) != "" {
		t.Errorf("self-ping: %s", got)
	}
	notJoined := `<iq from='coven@conference.example.org/bob' to='carol@example.org/pc' type='error' id='q'>
		<error type='modify' by='coven@conference.example.org'><not-acceptable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>
		<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>You are not in the room</text></error></iq>`
	if got := e.iq(carol, coven+"/bob", "get", ping); match(got, parse(t, notJoined)) != "" {
		t.Errorf("ping from a non-occupant: %s", got)
	}
	// A room that does not exist: not-acceptable too (the client rejoins).
	if got := e.iq(carol, "nowhere@conference.example.org/bob", "get", ping); got.Child("", "error").FirstChild().Local != "not-acceptable" {
		t.Errorf("ping to a missing room: %s", got)
	}
	if got := e.iq(carol, coven, "get", ping); got.Attr("type") != "result" {
		t.Errorf("ping to the room: %s", got)
	}
}

// TestIQRelay is §17.3 rules 2-3: IQs between occupants go through the
// room with the real JIDs hidden; vCard requests go to the bare JID.
func TestIQRelay(t *testing.T) {
	e := newEnv(t, Options{})
	alice := e.coven()
	bob := e.bind(bobPC)
	e.enter(bob, "bob")
	e.send(alice, `<iq type='get' id='v1' to='coven@conference.example.org/bob'><query xmlns='jabber:iq:version'/></iq>`)
	got := bob.Take()
	if len(got) != 1 || got[0].Attr("from") != coven+"/owner" || got[0].Attr("to") != bobPC || got[0].Attr("id") == "v1" {
		t.Fatalf("relayed request: %s", list(got))
	}
	rid := got[0].Attr("id")
	// A spoofed answer (from another JID) is dropped.
	carol := e.bind(carolPC)
	e.send(carol, `<iq type='result' id='%s' to='coven@conference.example.org/owner'/>`, rid)
	expectNothing(t, alice)
	e.send(bob, `<iq type='result' id='%s' to='coven@conference.example.org/owner'><query xmlns='jabber:iq:version'><name>x</name></query></iq>`, rid)
	expect(t, alice, `<iq type='result' id='v1' from='coven@conference.example.org/bob' to='alice@example.org/phone'>
		<query xmlns='jabber:iq:version'><name>x</name></query></iq>`)
	// Once only.
	e.send(bob, `<iq type='result' id='%s' to='coven@conference.example.org/owner'/>`, rid)
	expectNothing(t, alice)

	// A vCard request goes to the bare JID, where the server answers.
	var asked string
	e.rt.Hook(router.EventIQBare, 0, func(_ context.Context, st *router.Stanza) bool {
		asked = st.El.String()
		return true
	})
	e.send(alice, `<iq type='get' id='v2' to='coven@conference.example.org/bob'><vCard xmlns='vcard-temp'/></iq>`)
	if asked == "" || !strings.Contains(asked, `to="bob@example.org"`) || !strings.Contains(asked, `from="coven@conference.example.org/owner"`) {
		t.Errorf("vCard request: %q", asked)
	}
	// To a nickname not in the room: item-not-found.
	e.send(alice, `<iq type='get' id='v3' to='coven@conference.example.org/nobody'><query xmlns='jabber:iq:version'/></iq>`)
	expect(t, alice, errStanza("iq", coven+"/nobody", alicePhone, "v3", "cancel", "item-not-found"))
	e.send(carol, `<iq type='get' id='v4' to='coven@conference.example.org/bob'><query xmlns='jabber:iq:version'/></iq>`)
	if got := carol.Take(); len(got) != 1 || got[0].Child("", "error").FirstChild().Local != "not-acceptable" {
		t.Errorf("from a non-occupant: %s", list(got))
	}
}

// TestOccupantID is XEP-0421 §4-5: stable for one user in one room
// (across nicknames, sessions and rejoins), different between users and
// between rooms, and keyed by the secret.
func TestOccupantID(t *testing.T) {
	e := newEnv(t, Options{})
	alice := e.coven()
	e.create(alice, "other@conference.example.org/owner")
	bob := e.bind(bobPC)
	got := e.join(bob, coven+"/bob", "")
	id1 := occupantIDOf(got[len(got)-2])
	e.send(bob, `<presence to='coven@conference.example.org/bobby'/>`)
	got = bob.Take()
	id2 := occupantIDOf(got[len(got)-1])
	phone := e.bind("bob@example.org/phone")
	got = e.join(phone, coven+"/second", "")
	id3 := occupantIDOf(got[len(got)-2])
	got = e.join(bob, "other@conference.example.org/bob", "")
	idOther := occupantIDOf(got[len(got)-2])
	rosterAlice := occupantIDOf(find(e.join(bob, coven+"/bobby", ""), func(el *xmppcore.Element) bool {
		return el.Attr("from") == coven+"/owner"
	}))
	if id1 == "" || id1 != id2 || id1 != id3 {
		t.Errorf("ids of bob in coven: %q %q %q", id1, id2, id3)
	}
	if idOther == id1 || rosterAlice == id1 || rosterAlice == "" {
		t.Errorf("ids collide: coven %q, other room %q, alice %q", id1, idOther, rosterAlice)
	}
	m2 := New(nil, Options{OccupantIDSecret: []byte("another secret")})
	r := e.room("coven")
	r2 := &room{svc: &service{m: m2}, jidStr: r.jidStr}
	if r2.occupantID("bob@example.org") == id1 || r.occupantID("bob@example.org") != id1 {
		t.Error("the id does not depend on the secret alone")
	}
}
