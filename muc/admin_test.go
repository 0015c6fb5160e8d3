package muc

import (
	"fmt"
	"strings"
	"testing"

	"parley.im/parley/internal/routertest"
)

// admin sends a muc#admin set with items and returns nothing; the caller
// checks what each session got.
func (e *env) admin(s *routertest.Session, id, items string) {
	e.t.Helper()
	e.send(s, `<iq type='set' id='%s' to='coven@conference.example.org'><query xmlns='http://jabber.org/protocol/muc#admin'>%s</query></iq>`, id, items)
}

// adminList asks for a list and returns the items' canonical strings.
func (e *env) adminList(s *routertest.Session, attr string) string {
	e.t.Helper()
	e.send(s, `<iq type='get' id='list' to='coven@conference.example.org'><query xmlns='http://jabber.org/protocol/muc#admin'><item %s/></query></iq>`, attr)
	got := s.Take()
	if len(got) != 1 {
		e.t.Fatalf("list %s: %s", attr, list(got))
	}
	return routertest.Canonical(got[0]).String()
}

// TestKick is §8.2: 307 with actor and reason, to the kicked occupant with
// 110, then the result, to the others without; the rules on who may kick.
func TestKick(t *testing.T) {
	e := newEnv(t, Options{})
	alice := e.coven()
	bob := e.bind(bobPC)
	carol := e.bind(carolPC)
	dave := e.bind("dave@example.org/x")
	e.enter(bob, "bob")
	e.enter(carol, "carol")
	e.enter(dave, "dave")
	// dave becomes a moderator (not an admin); bob an admin.
	e.admin(alice, "m", `<item nick='dave' role='moderator'/><item affiliation='admin' jid='bob@example.org'/>`)
	e.drain()

	e.admin(dave, "k1", `<item nick='carol' role='none'><reason>Avaunt, you cullion!</reason></item>`)
	kicked := item("none", "none", carolPC, `<actor nick='dave'/><reason>Avaunt, you cullion!</reason>`)
	expect(t, carol, pres(coven+"/carol", carolPC, "unavailable", x(kicked, 110, 307)))
	expect(t, dave, result(coven, "dave@example.org/x", "k1"),
		pres(coven+"/carol", "dave@example.org/x", "unavailable", x(kicked, 307)))
	expect(t, alice, pres(coven+"/carol", alicePhone, "unavailable", x(kicked, 307)))
	// A moderator that is not an admin may not kick an admin (§8.2:
	// not-allowed), nor touch another moderator's role.
	e.admin(dave, "k2", `<item nick='bob' role='none'/>`)
	expect(t, dave, errStanza("iq", coven, "dave@example.org/x", "k2", "cancel", "not-allowed"))
	// An admin may not kick the owner.
	e.drain()
	e.admin(bob, "k3", `<item nick='owner' role='none'/>`)
	expect(t, bob, errStanza("iq", coven, bobPC, "k3", "cancel", "not-allowed"))
	// A participant may not kick anyone.
	e.enter(carol, "carol")
	e.admin(carol, "k4", `<item nick='dave' role='none'/>`)
	expect(t, carol, errStanza("iq", coven, carolPC, "k4", "auth", "forbidden"))
	e.admin(alice, "k5", `<item nick='nobody' role='none'/>`)
	expect(t, alice, errStanza("iq", coven, alicePhone, "k5", "cancel", "item-not-found"))
	// The owner kicks the admin.
	e.admin(alice, "k6", `<item nick='bob' role='none'/>`)
	expect(t, bob, pres(coven+"/bob", bobPC, "unavailable", x(item("admin", "none", bobPC, `<actor nick='owner'/>`), 110, 307)))
}

// TestVoice covers §8.3-8.5 and §7.1 defaults in a moderated room.
func TestVoice(t *testing.T) {
	e := newEnv(t, Options{})
	alice := e.coven(fModerated, "1")
	bob := e.bind(bobPC)
	carol := e.bind(carolPC)
	e.enter(bob, "bob")
	e.enter(carol, "carol")
	e.admin(alice, "v1", `<item nick='bob' role='participant'><reason>A worthy witch</reason></item>`)
	voiced := `<item affiliation='none' role='participant' nick='bob' jid='bob@example.org/pc'><actor nick='owner'/><reason>A worthy witch</reason></item>`
	expect(t, alice, result(coven, alicePhone, "v1"), pres(coven+"/bob", alicePhone, "", x(voiced)))
	expect(t, bob, pres(coven+"/bob", bobPC, "", x(voiced, 110)))
	expect(t, carol, pres(coven+"/bob", carolPC, "", x(`<item affiliation='none' role='participant' nick='bob'><actor nick='owner'/><reason>A worthy witch</reason></item>`)))
	e.send(bob, `<message to='coven@conference.example.org' type='groupchat'><body>I speak</body></message>`)
	if got := carol.Take(); len(got) != 1 {
		t.Errorf("a participant's message: %s", list(got))
	}
	e.drain()

	if got, want := e.adminList(alice, "role='participant'"), fmt.Sprintf(
		`<iq from="%s" id="list" to="%s" type="result"><query xmlns="http://jabber.org/protocol/muc#admin">`+
			`<item affiliation="none" jid="bob@example.org/pc" nick="bob" role="participant"/></query></iq>`, coven, alicePhone); got != want {
		t.Errorf("voice list:\n got %s\nwant %s", got, want)
	}
	if got := e.adminList(alice, "role='visitor'"); !strings.Contains(got, `nick="carol" role="visitor"`) {
		t.Errorf("visitor list: %s", got)
	}
	e.send(bob, `<iq type='get' id='l' to='coven@conference.example.org'><query xmlns='http://jabber.org/protocol/muc#admin'><item role='participant'/></query></iq>`)
	expect(t, bob, errStanza("iq", coven, bobPC, "l", "auth", "forbidden"))

	// Modifying the voice list: a delta of several items.
	e.admin(alice, "v2", `<item nick='bob' role='visitor'/><item nick='carol' role='participant'/>`)
	got := alice.Take()
	if len(got) != 3 || got[0].Attr("type") != "result" {
		t.Fatalf("voice list change: %s", list(got))
	}
	e.drain()
	// Nobody takes voice from the owner.
	e.admin(alice, "v3", `<item nick='owner' role='visitor'/>`)
	expect(t, alice, errStanza("iq", coven, alicePhone, "v3", "cancel", "not-allowed"))
	// Both a role and an affiliation: bad-request (§17.3 rule 4).
	e.admin(alice, "v4", `<item nick='bob' role='participant' affiliation='member' jid='bob@example.org'/>`)
	expect(t, alice, errStanza("iq", coven, alicePhone, "v4", "modify", "bad-request"))
	// One bad item and nothing is applied.
	e.admin(alice, "v5", `<item nick='bob' role='participant'/><item nick='owner' role='visitor'/>`)
	expect(t, alice, errStanza("iq", coven, alicePhone, "v5", "cancel", "not-allowed"))
	expectNothing(t, bob)
}

// TestBan is §9.1-9.2: 301 with actor and reason, the ban list, domain
// bans, and the rules (no self-ban: conflict; admins may not ban owners:
// not-allowed; members may not ban: forbidden).
func TestBan(t *testing.T) {
	e := newEnv(t, Options{})
	alice := e.coven(fPersistent, "1")
	bob := e.bind(bobPC)
	carol := e.bind(carolPC)
	e.enter(bob, "bob")
	e.enter(carol, "carol")
	e.admin(alice, "b1", `<item affiliation='outcast' jid='carol@example.org'><reason>Treason</reason></item>`)
	banned := func(withJID bool) string {
		j := ""
		if withJID {
			j = carolPC
		}
		return item("outcast", "none", j, `<actor nick='owner'/><reason>Treason</reason>`)
	}
	expect(t, alice, result(coven, alicePhone, "b1"), pres(coven+"/carol", alicePhone, "unavailable", x(banned(true), 301)))
	expect(t, carol, pres(coven+"/carol", carolPC, "unavailable", x(banned(true), 110, 301)))
	expect(t, bob, pres(coven+"/carol", bobPC, "unavailable", x(banned(false), 301)))
	e.send(carol, `<presence to='coven@conference.example.org/carol'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	expect(t, carol, errStanza("presence", coven+"/carol", carolPC, "", "auth", "forbidden", mucX))

	// A whole domain; a user of it with an affiliation of their own is
	// not concerned (§9.2: user@domain first, then domain).
	e.admin(alice, "b2", `<item affiliation='member' jid='dave@evil.example'/><item affiliation='outcast' jid='evil.example'/>`)
	e.drain()
	rm := &remoteRecorder{}
	e.rt.SetRemote(rm)
	e.sendAs("mallory@evil.example/x", `<presence to='coven@conference.example.org/mallory'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	if got := rm.take(); len(got) != 1 || got[0].Attr("type") != "error" {
		t.Errorf("domain ban: %s", list(got))
	}
	e.sendAs("dave@evil.example/x", `<presence to='coven@conference.example.org/dave'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	if got := rm.take(); len(got) < 2 || got[0].Attr("type") == "error" {
		t.Errorf("a member of a banned domain: %s", list(got))
	}
	e.drain()

	want := fmt.Sprintf(`<iq from="%s" id="list" to="%s" type="result"><query xmlns="http://jabber.org/protocol/muc#admin">`+
		`<item affiliation="outcast" jid="carol@example.org"><reason>Treason</reason></item>`+
		`<item affiliation="outcast" jid="evil.example"/></query></iq>`, coven, alicePhone)
	if got := e.adminList(alice, "affiliation='outcast'"); got != want {
		t.Errorf("ban list:\n got %s\nwant %s", got, want)
	}
	e.send(bob, `<iq type='get' id='l' to='coven@conference.example.org'><query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='outcast'/></query></iq>`)
	expect(t, bob, errStanza("iq", coven, bobPC, "l", "auth", "forbidden"))

	e.admin(alice, "b4", `<item affiliation='admin' jid='bob@example.org'/>`)
	e.drain()
	// No banning oneself (§9.1: conflict).
	e.admin(bob, "b3", `<item affiliation='outcast' jid='bob@example.org'/>`)
	expect(t, bob, errStanza("iq", coven, bobPC, "b3", "cancel", "conflict"))
	e.admin(bob, "b5", `<item affiliation='outcast' jid='alice@example.org'/>`)
	expect(t, bob, errStanza("iq", coven, bobPC, "b5", "cancel", "not-allowed"))
	// An admin lifts a ban; the list is stored (persistent room).
	e.admin(bob, "b6", `<item affiliation='none' jid='carol@example.org'/>`)
	expect(t, bob, result(coven, bobPC, "b6"))
	stored, err := e.store.MUCRoom(t.Context(), svcJID, "coven")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(stored.Affiliations) != "[{alice@example.org owner  } {bob@example.org admin  } {dave@evil.example member  } {evil.example outcast  }]" {
		t.Errorf("stored affiliations: %v", stored.Affiliations)
	}
}

// TestMembership is §9.3-9.5: granting and revoking membership, the
// member list, and removal with 321 from a members-only room; 101 to
// users out of the room, an invitation to new members of a members-only
// room.
func TestMembership(t *testing.T) {
	e := newEnv(t, Options{})
	alice := e.coven(fModerated, "1")
	bob := e.bind(bobPC)
	carol := e.bind(carolPC)
	e.enter(bob, "bob")
	e.admin(alice, "m1", `<item affiliation='member' jid='bob@example.org' nick='bobby'><reason>worthy</reason></item>`)
	// A visitor of a moderated room becomes a participant as a member.
	expect(t, bob, pres(coven+"/bob", bobPC, "", x(item("member", "participant", bobPC), 110)))
	expect(t, alice, result(coven, alicePhone, "m1"), pres(coven+"/bob", alicePhone, "", x(item("member", "participant", bobPC))))
	// carol is not in the room: a message with 101.
	e.admin(alice, "m2", `<item affiliation='member' jid='carol@example.org'/>`)
	expect(t, carol, `<message from='coven@conference.example.org' to='carol@example.org' id='*'>`+
		x(`<item affiliation='member' jid='carol@example.org'/>`, 101)+`</message>`)
	e.drain()
	want := fmt.Sprintf(`<iq from="%s" id="list" to="%s" type="result"><query xmlns="http://jabber.org/protocol/muc#admin">`+
		`<item affiliation="member" jid="bob@example.org" nick="bobby"><reason>worthy</reason></item>`+
		`<item affiliation="member" jid="carol@example.org"/></query></iq>`, coven, alicePhone)
	if got := e.adminList(alice, "affiliation='member'"); got != want {
		t.Errorf("member list:\n got %s\nwant %s", got, want)
	}
	// Semi-anonymous: members may not see the member list.
	e.send(bob, `<iq type='get' id='l' to='coven@conference.example.org'><query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='member'/></query></iq>`)
	expect(t, bob, errStanza("iq", coven, bobPC, "l", "auth", "forbidden"))
	// The reserved nickname is bob's: nobody else may take it.
	dave := e.bind("dave@example.org/x")
	e.send(dave, `<presence to='coven@conference.example.org/bobby'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	expect(t, dave, errStanza("presence", coven+"/bobby", "dave@example.org/x", "", "cancel", "conflict", mucX))
	// Nor may an admin give it to another.
	e.admin(alice, "m3", `<item affiliation='member' jid='dave@example.org' nick='bobby'/>`)
	expect(t, alice, errStanza("iq", coven, alicePhone, "m3", "cancel", "conflict"))

	// Revoking in an open moderated room: bob is back to visitor.
	e.admin(alice, "m4", `<item affiliation='none' jid='bob@example.org'/>`)
	expect(t, bob, pres(coven+"/bob", bobPC, "", x(item("none", "visitor", bobPC), 110)))
	e.drain()

	// Members-only: bob is not a member any more and the room turns
	// members-only: out with 322. Then a member revoked leaves with 321.
	e.admin(alice, "m5", `<item affiliation='member' jid='bob@example.org'/>`)
	e.enter(carol, "carol")
	e.admin(alice, "m6", `<item affiliation='none' jid='carol@example.org'/>`)
	e.drain()
	e.configure(alice, coven, "", fMembersOnly, "1")
	expect(t, carol, pres(coven+"/carol", carolPC, "unavailable", x(item("none", "none", carolPC), 110, 322)))
	got := bob.Take()
	if len(got) < 1 || !hasStatus(got[0], 322) {
		t.Errorf("bob on carol's removal: %s", list(got))
	}
	e.drain()
	e.admin(alice, "m7", `<item affiliation='none' jid='bob@example.org'/>`)
	expect(t, bob, pres(coven+"/bob", bobPC, "unavailable", x(item("none", "none", bobPC, `<actor nick='owner'/>`), 110, 321)))
	e.drain()
	// A new member of a members-only room, not in it, gets an invitation.
	e.admin(alice, "m8", `<item affiliation='member' jid='carol@example.org'/>`)
	expect(t, carol, `<message from='coven@conference.example.org' to='carol@example.org' id='*'>
		<x xmlns='http://jabber.org/protocol/muc#user'><invite from='alice@example.org'/></x>
		<body>alice@example.org invites you to the room coven@conference.example.org</body></message>`)
	// Only admins and owners edit the member list.
	e.enter(carol, "carol")
	e.admin(carol, "m9", `<item affiliation='member' jid='dave@example.org'/>`)
	expect(t, carol, errStanza("iq", coven, carolPC, "m9", "auth", "forbidden"))
}

// TestModerators is §9.6-9.8: admins grant and revoke moderator status,
// but not from admins or owners; non-admin moderators may not.
func TestModerators(t *testing.T) {
	e := newEnv(t, Options{})
	alice := e.coven()
	bob := e.bind(bobPC)
	carol := e.bind(carolPC)
	e.enter(bob, "bob")
	e.enter(carol, "carol")
	e.admin(alice, "a", `<item affiliation='admin' jid='bob@example.org'/>`)
	expect(t, bob, pres(coven+"/bob", bobPC, "", x(item("admin", "moderator", bobPC), 110)))
	e.drain()
	e.admin(bob, "g", `<item nick='carol' role='moderator'/>`)
	expect(t, carol, pres(coven+"/carol", carolPC, "", x(`<item affiliation='none' role='moderator' nick='carol' jid='carol@example.org/pc'><actor nick='bob'/></item>`, 110)))
	e.drain()
	if got := e.adminList(bob, "role='moderator'"); !strings.Contains(got, `nick="carol" role="moderator"`) || !strings.Contains(got, `nick="owner"`) {
		t.Errorf("moderator list: %s", got)
	}
	// carol, a moderator without affiliation, may not revoke bob's.
	e.admin(carol, "r1", `<item nick='bob' role='participant'/>`)
	expect(t, carol, errStanza("iq", coven, carolPC, "r1", "cancel", "not-allowed"))
	// Nor grant moderation.
	dave := e.bind("dave@example.org/x")
	e.enter(dave, "dave")
	e.admin(carol, "r2", `<item nick='dave' role='moderator'/>`)
	expect(t, carol, errStanza("iq", coven, carolPC, "r2", "cancel", "not-allowed"))
	// An admin may not revoke moderation from the owner.
	e.admin(bob, "r3", `<item nick='owner' role='participant'/>`)
	expect(t, bob, errStanza("iq", coven, bobPC, "r3", "cancel", "not-allowed"))
	e.admin(bob, "r4", `<item nick='carol' role='participant'/>`)
	expect(t, carol, pres(coven+"/carol", carolPC, "", x(`<item affiliation='none' role='participant' nick='carol' jid='carol@example.org/pc'><actor nick='bob'/></item>`, 110)))
}

// TestAdminsAndOwners is §10.3-10.8: only owners edit the admin and owner
// lists; the last owner may not leave the role (conflict); another owner
// may.
func TestAdminsAndOwners(t *testing.T) {
	e := newEnv(t, Options{})
	alice := e.coven()
	bob := e.bind(bobPC)
	e.enter(bob, "bob")
	e.admin(alice, "o1", `<item affiliation='none' jid='alice@example.org'/>`)
	expect(t, alice, errStanza("iq", coven, alicePhone, "o1", "cancel", "conflict"))
	e.admin(alice, "o2", `<item affiliation='admin' jid='bob@example.org'/>`)
	e.drain()
	// An admin may neither make owners nor admins, nor remove admins.
	e.admin(bob, "o3", `<item affiliation='owner' jid='bob@example.org'/>`)
	expect(t, bob, errStanza("iq", coven, bobPC, "o3", "auth", "forbidden"))
	e.admin(bob, "o4", `<item affiliation='admin' jid='carol@example.org'/>`)
	expect(t, bob, errStanza("iq", coven, bobPC, "o4", "auth", "forbidden"))
	e.admin(bob, "o5", `<item affiliation='member' jid='alice@example.org'/>`)
	expect(t, bob, errStanza("iq", coven, bobPC, "o5", "auth", "forbidden"))
	e.send(bob, `<iq type='get' id='l' to='coven@conference.example.org'><query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='owner'/></query></iq>`)
	expect(t, bob, errStanza("iq", coven, bobPC, "l", "auth", "forbidden"))

	e.admin(alice, "o6", `<item affiliation='owner' jid='bob@example.org/pc'/>`) // full JID: its bare JID
	expect(t, bob, pres(coven+"/bob", bobPC, "", x(item("owner", "moderator", bobPC), 110)))
	e.drain()
	want := fmt.Sprintf(`<iq from="%s" id="list" to="%s" type="result"><query xmlns="http://jabber.org/protocol/muc#admin">`+
		`<item affiliation="owner" jid="alice@example.org"/><item affiliation="owner" jid="bob@example.org"/></query></iq>`, coven, bobPC)
	if got := e.adminList(bob, "affiliation='owner'"); got != want {
		t.Errorf("owner list:\n got %s\nwant %s", got, want)
	}
	// With another owner, alice may step down to admin.
	e.admin(alice, "o7", `<item affiliation='admin' jid='alice@example.org'/>`)
	expect(t, alice, result(coven, alicePhone, "o7"), pres(coven+"/owner", alicePhone, "", x(item("admin", "moderator", alicePhone), 110)))
	e.drain()
	if got := e.adminList(bob, "affiliation='admin'"); !strings.Contains(got, `jid="alice@example.org"`) {
		t.Errorf("admin list: %s", got)
	}
}

// TestServiceAdmin checks that service admins act as owners of every
// room without being listed.
func TestServiceAdmin(t *testing.T) {
	e := newEnv(t, Options{Admins: map[string][]string{host: {"carol@example.org"}}})
	e.coven(fMembersOnly, "1")
	carol := e.bind(carolPC)
	got := e.join(carol, coven+"/carol", "")
	if len(got) < 2 || !hasStatus(got[1], 110) || got[1].Child(NSUser, "x").Child(NSUser, "item").Attr("affiliation") != "owner" {
		t.Fatalf("service admin joining: %s", list(got))
	}
	e.send(carol, `<iq type='get' id='f' to='coven@conference.example.org'><query xmlns='http://jabber.org/protocol/muc#owner'/></iq>`)
	if got := carol.Take(); len(got) != 1 || got[0].Attr("type") != "result" {
		t.Errorf("service admin asking for the form: %s", list(got))
	}
}

// TestAffiliationUnchanged checks that a change that leaves an
// occupant's affiliation as it was (a new reserved nickname) neither
// resets its role nor tells anyone.
func TestAffiliationUnchanged(t *testing.T) {
	e := newEnv(t, Options{})
	alice := e.coven()
	bob := e.bind(bobPC)
	e.enter(bob, "bob")
	e.admin(alice, "m", `<item affiliation='member' jid='bob@example.org'/>`)
	e.admin(alice, "g", `<item nick='bob' role='moderator'/>`)
	e.drain()
	e.admin(alice, "n", `<item affiliation='member' jid='bob@example.org' nick='bobby'/>`)
	expect(t, alice, result(coven, alicePhone, "n"))
	expectNothing(t, bob)
	if o := e.room("coven").occupants["bob"]; o.role != roleModerator {
		t.Errorf("bob's role is %v", o.role)
	}
}

// TestKickMultiSession checks that a kick removes every session of the
// nickname: each gets its own 307 with 110, the others hear it once; and
// that a moderator's request from another resource of the same user (not
// joined) still acts as that moderator.
func TestKickMultiSession(t *testing.T) {
	e := newEnv(t, Options{})
	alice := e.coven()
	laptop := e.bind("alice@example.org/laptop") // alice, not joined from here
	bob := e.bind(bobPC)
	phone := e.bind("bob@example.org/phone")
	carol := e.bind(carolPC)
	e.enter(bob, "bob")
	e.enter(phone, "bob")
	e.enter(carol, "carol")
	e.admin(laptop, "k", `<item nick='bob' role='none'><reason>out</reason></item>`)
	kicked := func(j string) string {
		return item("none", "none", j, `<actor nick='owner'/><reason>out</reason>`)
	}
	expect(t, bob, pres(coven+"/bob", bobPC, "unavailable", x(kicked(bobPC), 110, 307)))
	expect(t, phone, pres(coven+"/bob", "bob@example.org/phone", "unavailable", x(kicked("bob@example.org/phone"), 110, 307)))
	expect(t, carol, pres(coven+"/bob", carolPC, "unavailable", x(kicked(""), 307)))
	expect(t, laptop, result(coven, "alice@example.org/laptop", "k"))
	if got := alice.Take(); len(got) != 1 || !hasStatus(got[0], 307) {
		t.Errorf("alice: %s", list(got))
	}
	if r := e.room("coven"); r.occupants["bob"] != nil || len(r.bySession) != 2 {
		t.Errorf("after the kick: %v sessions", len(r.bySession))
	}
}
