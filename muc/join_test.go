package muc

import (
	"fmt"
	"testing"
	"time"

	"parley.im/parley/xmppcore"
)

const (
	alicePhone = "alice@example.org/phone"
	bobPC      = "bob@example.org/pc"
	carolPC    = "carol@example.org/pc"
)

// TestCreateInstantRoom is §10.1.1-2: the creator gets 110 and 201, the
// room is locked until the empty form unlocks it.
func TestCreateInstantRoom(t *testing.T) {
	e := newEnv(t, Options{})
	alice := e.bind(alicePhone)
	bob := e.bind(bobPC)

	e.send(alice, `<presence to='coven@conference.example.org/firstwitch' id='j1'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	expect(t, alice,
		presID("j1", coven+"/firstwitch", alicePhone, "", x(item("owner", "moderator", alicePhone), 110, 201)),
		subjectMsg(coven, alicePhone, "", ""))

	// Locked: nobody else gets in (§7.2.11), nor sees it.
	e.send(bob, `<presence to='coven@conference.example.org/bob' id='j2'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	expect(t, bob, errStanza("presence", coven+"/bob", bobPC, "j2", "cancel", "item-not-found", mucX))
	e.send(bob, `<iq type='get' id='i1' to='coven@conference.example.org'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	expect(t, bob, errStanza("iq", coven, bobPC, "i1", "cancel", "item-not-found"))
	e.send(bob, `<message to='coven@conference.example.org' type='groupchat' id='m1'><body>hi</body></message>`)
	expect(t, bob, errStanza("message", coven, bobPC, "m1", "cancel", "item-not-found"))

	e.send(alice, `<iq type='set' id='c1' to='coven@conference.example.org'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'/></query></iq>`)
	expect(t, alice, result(coven, alicePhone, "c1"))

	e.send(bob, `<presence to='coven@conference.example.org/bob' id='j3'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	expect(t, bob,
		pres(coven+"/firstwitch", bobPC, "", x(item("owner", "moderator", ""))),
		presID("j3", coven+"/bob", bobPC, "", x(item("none", "participant", bobPC), 110)),
		subjectMsg(coven, bobPC, "", ""))
	expect(t, alice, pres(coven+"/bob", alicePhone, "", x(item("none", "participant", bobPC))))
}

// TestCreateReservedRoom is §10.1.3: the owner asks for the form, fills
// it in, and the room opens with that configuration.
func TestCreateReservedRoom(t *testing.T) {
	e := newEnv(t, Options{})
	alice := e.bind(alicePhone)
	bob := e.bind(bobPC)
	e.join(alice, coven+"/owner", "")

	e.send(alice, `<iq type='get' id='f1' to='coven@conference.example.org'><query xmlns='http://jabber.org/protocol/muc#owner'/></iq>`)
	got := alice.Take()
	if len(got) != 1 || got[0].Attr("type") != "result" {
		t.Fatalf("form request: %s", list(got))
	}
	f := got[0].FirstChild().Child(NSData, "x")
	vals := formValues(f)
	if f.Attr("type") != "form" || first(vals["FORM_TYPE"]) != NSRoomConfig || first(vals[fPersistent]) != "0" ||
		first(vals[fPublic]) != "1" || first(vals[fWhois]) != "moderators" || first(vals[fHistory]) != "20" ||
		first(vals[fMaxUsers]) != "none" {
		t.Errorf("default form: %s", f)
	}

	e.configure(alice, coven, "", fRoomName, "A Dark Cave", fPasswordProt, "1", fSecret, "cauldronburn", fWhois, "anyone")
	e.send(bob, `<presence to='coven@conference.example.org/bob'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	expect(t, bob, errStanza("presence", coven+"/bob", bobPC, "", "auth", "not-authorized", mucX))
	got = e.join(bob, coven+"/bob", `<password>cauldronburn</password>`)
	if len(got) != 3 || !hasStatus(got[1], 110) || !hasStatus(got[1], 100) {
		t.Errorf("joining with the password: %s", list(got))
	}
}

// TestCancelCreation is §10.1.3: canceling the initial configuration
// destroys the room; so does the owner leaving before configuring it.
func TestCancelCreation(t *testing.T) {
	e := newEnv(t, Options{})
	alice := e.bind(alicePhone)
	bob := e.bind(bobPC)
	e.join(alice, coven+"/owner", "")
	e.send(alice, `<iq type='set' id='c' to='coven@conference.example.org'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='cancel'/></query></iq>`)
	expect(t, alice,
		pres(coven+"/owner", alicePhone, "unavailable", `<x xmlns='http://jabber.org/protocol/muc#user'>`+
			item("none", "none", "")+`<destroy/><status code='110'/></x>`),
		result(coven, alicePhone, "c"))
	// Gone: bob creates it anew and owns it.
	got := e.join(bob, coven+"/bob", "")
	if len(got) != 2 || !hasStatus(got[0], 201) {
		t.Fatalf("recreating: %s", list(got))
	}
	e.send(bob, `<presence to='coven@conference.example.org/bob' type='unavailable'/>`)
	bob.Take()
	got = e.join(alice, coven+"/owner", "")
	if len(got) != 2 || !hasStatus(got[0], 201) {
		t.Fatalf("the owner left the locked room, it should be gone: %s", list(got))
	}
}

// TestJoinErrors covers §7.2.4-7.2.11 and §7.2.1.
func TestJoinErrors(t *testing.T) {
	e := newEnv(t, Options{})
	alice := e.coven(fMaxUsers, "2")
	bob := e.bind(bobPC)
	carol := e.bind(carolPC)
	dave := e.bind("dave@example.org/x")
	e.enter(bob, "bob")
	// A ban, and a reserved nickname.
	e.send(alice, `<iq type='set' id='a' to='coven@conference.example.org'><query xmlns='http://jabber.org/protocol/muc#admin'>
		<item affiliation='outcast' jid='eve@example.org'/><item affiliation='member' jid='frank@example.org' nick='frankie'/></query></iq>`)
	e.drain()
	eve := e.bind("eve@example.org/x")

	for i, tc := range []struct {
		to, typ, cond string
	}{
		{coven, "modify", "jid-malformed"},                // no nickname
		{coven + "/ ", "modify", "jid-malformed"},         // invisible nickname
		{coven + "/bob", "cancel", "conflict"},            // in use
		{coven + "/frankie", "cancel", "conflict"},        // reserved by frank
		{coven + "/carol", "wait", "service-unavailable"}, // full: owner and bob, max 2
	} {
		e.send(carol, `<presence to='%s' id='e%d'><x xmlns='http://jabber.org/protocol/muc'/></presence>`, tc.to, i)
		expect(t, carol, errStanza("presence", tc.to, carolPC, fmt.Sprintf("e%d", i), tc.typ, tc.cond, mucX))
	}
	e.send(eve, `<presence to='coven@conference.example.org/eve' id='b'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	expect(t, eve, errStanza("presence", coven+"/eve", "eve@example.org/x", "b", "auth", "forbidden", mucX))

	// Admins and owners get in past the limit (§7.2.10).
	e.send(alice, `<iq type='set' id='a' to='coven@conference.example.org'><query xmlns='http://jabber.org/protocol/muc#admin'>
		<item affiliation='admin' jid='dave@example.org'/></query></iq>`)
	e.drain()
	e.enter(dave, "dave")

	// Members-only (§7.2.6): a non-member may not enter.
	e.configure(alice, coven, "", fMembersOnly, "1", fMaxUsers, "none")
	e.drain()
	e.send(carol, `<presence to='coven@conference.example.org/carol' id='m'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	expect(t, carol, errStanza("presence", coven+"/carol", carolPC, "m", "auth", "registration-required", mucX))
	// frank is a member: he may, under his reserved nickname.
	frank := e.bind("frank@example.org/x")
	e.enter(frank, "frankie")
}

// TestCreatePolicy covers §10.1.1's not-allowed and the room quota.
func TestCreatePolicy(t *testing.T) {
	for i, tc := range []struct {
		opts    Options
		who     string
		allowed bool
	}{
		{Options{}, bobPC, true},
		{Options{}, "romeo@montague.lit/x", false}, // not a local user
		{Options{Create: CreateAnyone}, "romeo@montague.lit/x", true},
		{Options{Create: CreateAdmins}, bobPC, false},
		{Options{Create: CreateAdmins, Admins: map[string][]string{host: {"bob@example.org"}}}, bobPC, true},
		{Options{Create: CreateList, Creators: []string{"carol@example.org"}}, bobPC, false},
		{Options{Create: CreateList, Creators: []string{"carol@example.org", "example.org"}}, bobPC, true},
		{Options{Create: CreateList, Creators: []string{"Bob@Example.org"}}, bobPC, true}, // normalized
	} {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			e := newEnv(t, tc.opts)
			to := coven + "/n"
			if tc.who == bobPC {
				bob := e.bind(bobPC)
				got := e.join(bob, to, "")
				if ok := len(got) == 2 && hasStatus(got[0], 201); ok != tc.allowed {
					t.Errorf("creation allowed %v, want %v: %s", ok, tc.allowed, list(got))
				}
				if !tc.allowed {
					if len(got) != 1 || match(got[0], parse(t, errStanza("presence", to, bobPC, "", "cancel", "not-allowed", mucX))) != "" {
						t.Errorf("refusal: %s", list(got))
					}
				}
				return
			}
			// A remote user: the answer goes to the (recording) remote.
			rm := &remoteRecorder{}
			e.rt.SetRemote(rm)
			e.sendAs(tc.who, `<presence to='%s'><x xmlns='http://jabber.org/protocol/muc'/></presence>`, to)
			got := rm.take()
			if ok := len(got) == 2 && hasStatus(got[0], 201); ok != tc.allowed {
				t.Errorf("creation allowed %v, want %v: %s", ok, tc.allowed, list(got))
			}
		})
	}
}

func TestMaxRoomsPerUser(t *testing.T) {
	e := newEnv(t, Options{MaxRoomsPerUser: 2, Admins: map[string][]string{host: {"carol@example.org"}}})
	bob := e.bind(bobPC)
	carol := e.bind(carolPC)
	e.create(bob, "r1@conference.example.org/bob")
	e.create(bob, "r2@conference.example.org/bob")
	e.configure(bob, "r2@conference.example.org", "", fPersistent, "1")
	// r2 is now stored and still live; leaving keeps it (persistent).
	e.send(bob, `<presence to='r2@conference.example.org/bob' type='unavailable'/>`)
	bob.Take()
	got := e.join(bob, "r3@conference.example.org/bob", "")
	want := `<presence from='r3@conference.example.org/bob' to='bob@example.org/pc' type='error'>` + mucX +
		`<error type='cancel' by='r3@conference.example.org'><not-allowed xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>
		<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>You own too many rooms already</text></error></presence>`
	if len(got) != 1 || match(got[0], parse(t, want)) != "" {
		t.Errorf("third room: %s", list(got))
	}
	// A temporary room goes when emptied, and frees a place.
	e.send(bob, `<presence to='r1@conference.example.org/bob' type='unavailable'/>`)
	bob.Take()
	e.create(bob, "r3@conference.example.org/bob")
	// Service admins have no limit.
	for i := range 3 {
		e.create(carol, fmt.Sprintf("c%d@conference.example.org/carol", i))
	}
}

// TestJoinStatusCodes checks 100 (non-anonymous), 170 (archived) and 210
// (nickname changed by the service) in self-presence (§7.2.3-7.2.5,
// §7.2.12), and who sees real JIDs.
func TestJoinStatusCodes(t *testing.T) {
	e := newEnv(t, Options{})
	alice := e.coven(fWhois, "anyone", fArchive, "1")
	bob := e.bind(bobPC)
	// "e" and a combining acute accent are "é" once normalized (NFC,
	// RFC 8265 OpaqueString).
	e.send(bob, "<presence to='coven@conference.example.org/Rene\u0301' id='j'><x xmlns='http://jabber.org/protocol/muc'/></presence>")
	got := bob.Take()
	if len(got) != 3 {
		t.Fatalf("join: %s", list(got))
	}
	if msg := match(got[1], parse(t, presID("j", coven+"/René", bobPC, "", x(item("none", "participant", bobPC), 100, 110, 170, 210)))); msg != "" {
		t.Errorf("self-presence: %s\n%s", msg, got[1])
	}
	// Non-anonymous: alice sees bob's JID, bob sees alice's.
	if msg := match(got[0], parse(t, pres(coven+"/owner", bobPC, "", x(item("owner", "moderator", alicePhone))))); msg != "" {
		t.Errorf("roster: %s\n%s", msg, got[0])
	}
	expect(t, alice, pres(coven+"/René", alicePhone, "", x(item("none", "participant", bobPC))))
}

// TestSemiAnonymous checks that only moderators see real JIDs (§7.2.5).
func TestSemiAnonymous(t *testing.T) {
	e := newEnv(t, Options{})
	alice := e.coven()
	bob := e.bind(bobPC)
	carol := e.bind(carolPC)
	e.enter(bob, "bob")
	e.join(carol, coven+"/carol", "")
	expect(t, alice, pres(coven+"/carol", alicePhone, "", x(item("none", "participant", carolPC))))
	expect(t, bob, pres(coven+"/carol", bobPC, "", x(item("none", "participant", ""))))
}

// TestGroupchat10Join is §7.2.21: presence without <x/> from a
// non-occupant is answered with a kick (110, 307, 333), and does not
// create a room.
func TestGroupchat10Join(t *testing.T) {
	e := newEnv(t, Options{})
	bob := e.bind(bobPC)
	kick := pres(coven+"/bob", bobPC, "unavailable",
		x(item("none", "none", "", `<reason>You are not in the room.</reason>`), 110, 307, 333))
	kick = kick[:len(kick)-len(oid)-len("</presence>")] + "</presence>" // no occupant id: there is no occupant
	e.send(bob, `<presence to='coven@conference.example.org/bob'/>`)
	expect(t, bob, kick)
	e.coven()
	e.send(bob, `<presence to='coven@conference.example.org/bob'><show>away</show></presence>`)
	expect(t, bob, kick)
}

// TestMultiSession is §7.2.9: two resources of one user share a
// nickname; each join is answered in full, the others hear each presence,
// and the nickname stays until both left.
func TestMultiSession(t *testing.T) {
	e := newEnv(t, Options{})
	alice := e.coven()
	bob := e.bind(bobPC)
	phone := e.bind("bob@example.org/phone")
	e.enter(bob, "bob")

	e.send(phone, `<presence to='coven@conference.example.org/bob' id='p'><x xmlns='http://jabber.org/protocol/muc'/><show>away</show></presence>`)
	expect(t, phone,
		pres(coven+"/owner", "bob@example.org/phone", "", x(item("owner", "moderator", ""))),
		presID("p", coven+"/bob", "bob@example.org/phone", "", x(item("none", "participant", "bob@example.org/phone"), 110), `<show>away</show>`),
		subjectMsg(coven, "bob@example.org/phone", "", ""))
	expect(t, alice, pres(coven+"/bob", alicePhone, "", x(item("none", "participant", "bob@example.org/phone")), `<show>away</show>`))
	expect(t, bob, pres(coven+"/bob", bobPC, "", x(item("none", "participant", "bob@example.org/phone"), 110), `<show>away</show>`))

	// Messages reach both sessions, and both may send.
	e.send(alice, `<message to='coven@conference.example.org' type='groupchat' id='m'><body>hi</body></message>`)
	for _, s := range e.all {
		if got := s.Take(); len(got) != 1 || got[0].ChildText("", "body") != "hi" {
			t.Errorf("%s got %s", s.JID(), list(got))
		}
	}
	e.send(phone, `<message to='coven@conference.example.org' type='groupchat' id='m2'><body>from phone</body></message>`)
	if got := alice.Take(); len(got) != 1 || got[0].Attr("from") != coven+"/bob" {
		t.Errorf("alice got %s", list(got))
	}
	e.drain()

	// The phone leaves: it alone gets unavailable; the others see bob
	// as the pc says.
	e.send(phone, `<presence to='coven@conference.example.org/bob' type='unavailable'/>`)
	expect(t, phone, pres(coven+"/bob", "bob@example.org/phone", "unavailable", x(item("none", "none", "bob@example.org/phone"), 110)))
	expect(t, alice, pres(coven+"/bob", alicePhone, "", x(item("none", "participant", bobPC))))
	expect(t, bob, pres(coven+"/bob", bobPC, "", x(item("none", "participant", bobPC), 110)))
	e.send(bob, `<presence to='coven@conference.example.org/bob' type='unavailable'><status>bye</status></presence>`)
	expect(t, alice, pres(coven+"/bob", alicePhone, "unavailable", x(item("none", "none", bobPC)), `<status>bye</status>`))
}

// TestResync is §7.2.1 and §17.2 rule 3: a join from a session already in
// the room is answered as a new join.
func TestResync(t *testing.T) {
	e := newEnv(t, Options{})
	alice := e.coven()
	bob := e.bind(bobPC)
	e.enter(bob, "bob")
	e.send(alice, `<message to='coven@conference.example.org' type='groupchat' id='m'><body>one</body></message>`)
	e.drain()
	got := e.join(bob, coven+"/bob", "")
	if len(got) != 4 || !hasStatus(got[1], 110) || got[2].ChildText("", "body") != "one" || got[3].Child("", "subject") == nil {
		t.Errorf("resync: %s", list(got))
	}
	expect(t, alice, pres(coven+"/bob", alicePhone, "", x(item("none", "participant", bobPC))))
}

// TestHistory is §7.2.14-7.2.15: history after presence, with delay from
// the room, limited by maxstanzas, maxchars, seconds and since, then the
// subject.
func TestHistory(t *testing.T) {
	e := newEnv(t, Options{})
	alice := e.coven(fHistory, "3")
	for i := range 5 {
		e.send(alice, `<message to='coven@conference.example.org' type='groupchat' id='m%d'><body>message %d</body></message>`, i, i)
		e.clock.Advance(10 * time.Second)
	}
	// Neither chat states nor no-store messages nor subjects are history.
	e.send(alice, `<message to='coven@conference.example.org' type='groupchat'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>`)
	e.send(alice, `<message to='coven@conference.example.org' type='groupchat'><body>x</body><no-store xmlns='urn:xmpp:hints'/></message>`)
	e.send(alice, `<message to='coven@conference.example.org' type='groupchat'><subject>Spells</subject></message>`)
	e.drain()

	bodies := func(els []*xmppcore.Element) []string {
		var out []string
		for _, el := range els {
			if b := el.Child("", "body"); b != nil {
				out = append(out, b.Text())
			}
		}
		return out
	}
	for i, tc := range []struct {
		hist string
		want []string
	}{
		{"", []string{"message 2", "message 3", "message 4"}},
		{`<history maxstanzas='2'/>`, []string{"message 3", "message 4"}},
		{`<history maxchars='0'/>`, nil},
		{`<history seconds='25'/>`, []string{"message 3", "message 4"}},
		{`<history since='2026-03-01T12:00:30Z'/>`, []string{"message 4"}},
		{`<history since='2026-03-01T12:00:30Z' maxstanzas='3'/>`, []string{"message 4"}},
	} {
		s := e.bind(fmt.Sprintf("bob@example.org/h%d", i))
		got := e.join(s, coven+"/bob", tc.hist)
		if b := bodies(got); fmt.Sprint(b) != fmt.Sprint(tc.want) {
			t.Errorf("%s: history %q, want %q", tc.hist, b, tc.want)
		}
		if last := got[len(got)-1]; last.ChildText("", "subject") != "Spells" {
			t.Errorf("%s: last is %s, want the subject", tc.hist, last)
		}
		e.send(s, `<presence to='coven@conference.example.org/bob' type='unavailable'/>`)
		e.drain()
	}

	// The delayed copy: from the sender's occupant JID, with a delay from
	// the room, and the same stanza and occupant ids as reflected live.
	s := e.bind("carol@example.org/h")
	got := e.join(s, coven+"/carol", `<history maxstanzas='1'/>`)
	want := `<message from='coven@conference.example.org/owner' to='carol@example.org/h' type='groupchat' id='m4'>
		<body>message 4</body>` + oid + `<stanza-id xmlns='urn:xmpp:sid:0' id='*' by='coven@conference.example.org'/>` +
		delayFrom(coven, "2026-03-01T12:00:40.000Z") + `</message>`
	if msg := match(got[2], parse(t, want)); msg != "" {
		t.Errorf("history message: %s\n%s", msg, got[2])
	}
	// maxchars counts whole stanzas as sent: exactly the length of the
	// newest takes it alone.
	n := len(got[2].String())
	for _, tc := range []struct {
		chars int
		want  int
	}{{n, 1}, {n - 1, 0}, {2*n + 5, 2}} {
		s := e.bind("carol@example.org/h")
		e.send(s, `<presence to='coven@conference.example.org/carol' type='unavailable'/>`)
		s.Take()
		got := e.join(s, coven+"/carol", fmt.Sprintf(`<history maxchars='%d'/>`, tc.chars))
		if b := bodies(got); len(b) != tc.want {
			t.Errorf("maxchars %d (one is %d): got %q, want %d", tc.chars, n, b, tc.want)
		}
	}
	// A shorter history length keeps the newest.
	e.configure(alice, coven, "", fHistory, "1")
	s = e.bind("dave@example.org/h")
	if b := bodies(e.join(s, coven+"/dave", "")); fmt.Sprint(b) != "[message 4]" {
		t.Errorf("after shrinking: %q", b)
	}
}

// TestHistoryKeepsDelay is §7.9: history an owner sends with its own
// delay (a one-to-one chat carried over) keeps it, without the room's.
func TestHistoryKeepsDelay(t *testing.T) {
	e := newEnv(t, Options{})
	alice := e.coven()
	e.send(alice, `<message to='coven@conference.example.org' type='groupchat' id='h'><body>Thrice</body>
		<delay xmlns='urn:xmpp:delay' from='alice@example.org/phone' stamp='2004-09-29T01:54:37Z'/></message>`)
	e.drain()
	bob := e.bind(bobPC)
	got := e.join(bob, coven+"/bob", "")
	want := `<message from='coven@conference.example.org/owner' to='bob@example.org/pc' type='groupchat' id='h'><body>Thrice</body>
		<delay xmlns='urn:xmpp:delay' from='alice@example.org/phone' stamp='2004-09-29T01:54:37Z'/>` + oid +
		`<stanza-id xmlns='urn:xmpp:sid:0' id='*' by='coven@conference.example.org'/></message>`
	if len(got) != 4 || match(got[2], parse(t, want)) != "" {
		t.Errorf("history: %s", list(got))
	}
}
