package muc

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"parley.im/parley/internal/routertest"
	"parley.im/parley/xmppcore"
)

// TestConfigForm is §10.2: only owners get or submit the form; values the
// service cannot take are not-acceptable, and nothing changes.
func TestConfigForm(t *testing.T) {
	e := newEnv(t, Options{MaxOccupants: 50, MaxHistory: 10})
	alice := e.coven()
	bob := e.bind(bobPC)
	e.enter(bob, "bob")
	e.send(bob, `<iq type='get' id='f' to='coven@conference.example.org'><query xmlns='http://jabber.org/protocol/muc#owner'/></iq>`)
	expect(t, bob, errStanza("iq", coven, bobPC, "f", "auth", "forbidden"))
	e.send(bob, `<iq type='set' id='s' to='coven@conference.example.org'><query xmlns='http://jabber.org/protocol/muc#owner'>%s</query></iq>`, form("", fPublic, "0"))
	expect(t, bob, errStanza("iq", coven, bobPC, "s", "auth", "forbidden"))

	for i, kv := range [][]string{
		{fPublic, "maybe"},
		{fMaxUsers, "many"},
		{fMaxUsers, "-3"},
		{fWhois, "none"}, // fully anonymous rooms are deprecated (§10.1.3)
		{fHistory, "-1"},
		{fBroadcast, "moderator|none"},
		{fAllowPM, "everyone"},
		{fPasswordProt, "1"}, // without a password
		{fPasswordProt, "1", fSecret, ""},
	} {
		e.send(alice, `<iq type='set' id='bad%d' to='coven@conference.example.org'><query xmlns='http://jabber.org/protocol/muc#owner'>%s</query></iq>`, i, form("", kv...))
		expect(t, alice, errStanza("iq", coven, alicePhone, fmt.Sprint("bad", i), "modify", "not-acceptable"))
	}
	e.send(alice, `<iq type='set' id='ft' to='coven@conference.example.org'><query xmlns='http://jabber.org/protocol/muc#owner'>
		<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>urn:other</value></field></x></query></iq>`)
	expect(t, alice, errStanza("iq", coven, alicePhone, "ft", "modify", "bad-request"))
	e.send(alice, `<iq type='set' id='nx' to='coven@conference.example.org'><query xmlns='http://jabber.org/protocol/muc#owner'/></iq>`)
	expect(t, alice, errStanza("iq", coven, alicePhone, "nx", "modify", "bad-request"))

	// Every option, then read back in the form. Limits cap values.
	e.configure(alice, coven, "", fRoomName, "A Dark Cave", fRoomDesc, "For witches", fLang, "en",
		fPublic, "0", fModerated, "true", fPasswordProt, "1", fSecret, "cauldron", fMaxUsers, "200",
		fWhois, "anyone", fAllowInvites, "1", fChangeSubject, "1", fHistoryAlt, "30",
		fBroadcast, "moderator|participant", fAllowPM, pmModerators, fLogging, "1", fVoiceRequests, "0")
	e.drain()
	e.send(alice, `<iq type='get' id='f' to='coven@conference.example.org'><query xmlns='http://jabber.org/protocol/muc#owner'/></iq>`)
	got := alice.Take()
	if len(got) != 1 {
		t.Fatal(list(got))
	}
	vals := formValues(got[0].FirstChild().Child(NSData, "x"))
	for field, want := range map[string]string{
		fRoomName: "A Dark Cave", fRoomDesc: "For witches", fLang: "en", fPublic: "0", fModerated: "1",
		fPasswordProt: "1", fSecret: "cauldron", fMaxUsers: "50", fWhois: "anyone", fAllowInvites: "1",
		fChangeSubject: "1", fHistory: "10", fBroadcast: "[moderator participant]", fAllowPM: pmModerators,
		fArchive: "1", fVoiceRequests: "0", fPersistent: "0", fMembersOnly: "0",
	} {
		v := first(vals[field])
		if len(vals[field]) > 1 {
			v = fmt.Sprint(vals[field])
		}
		if v != want {
			t.Errorf("%s = %q, want %q", field, v, want)
		}
	}
	// Turning the password off clears it.
	e.configure(alice, coven, "", fPasswordProt, "0")
	if e.m.services[svcJID].roomShard("coven").rooms["coven"].r.cfg.Password != "" {
		t.Error("the password stayed")
	}
}

// TestConfigNotifications is §10.2.1: 170/171 for archiving, 172/173 for
// anonymity, 104 for the rest, in one message from the room to all.
func TestConfigNotifications(t *testing.T) {
	e := newEnv(t, Options{})
	alice := e.coven()
	bob := e.bind(bobPC)
	e.enter(bob, "bob")
	for _, tc := range []struct {
		kv    []string
		codes []int
	}{
		{[]string{fArchive, "1"}, []int{170}},
		{[]string{fArchive, "0"}, []int{171}},
		{[]string{fWhois, "anyone"}, []int{172}},
		{[]string{fWhois, "moderators", fRoomName, "x"}, []int{104, 173}},
		{[]string{fRoomDesc, "y"}, []int{104}},
		{[]string{fRoomDesc, "y"}, nil}, // nothing changed
	} {
		e.configure(alice, coven, "", tc.kv...)
		if tc.codes == nil {
			expectNothing(t, bob)
			continue
		}
		var st string
		for _, c := range tc.codes {
			st += fmt.Sprintf(`<status code='%d'/>`, c)
		}
		expect(t, bob, `<message from='coven@conference.example.org' to='bob@example.org/pc' type='groupchat' id='*'>
			<x xmlns='http://jabber.org/protocol/muc#user'>`+st+`</x></message>`)
		e.drain()
	}
}

// TestDestroy is §10.9: every session gets one unavailable presence with
// <destroy/> (alternate venue, reason, password), the owner the result;
// the room is gone, from storage too; only owners may destroy.
func TestDestroy(t *testing.T) {
	e := newEnv(t, Options{})
	alice := e.coven(fPersistent, "1")
	bob := e.bind(bobPC)
	phone := e.bind("bob@example.org/phone")
	e.enter(bob, "bob")
	e.enter(phone, "bob")
	e.send(bob, `<iq type='set' id='d0' to='coven@conference.example.org'><query xmlns='http://jabber.org/protocol/muc#owner'><destroy/></query></iq>`)
	expect(t, bob, errStanza("iq", coven, bobPC, "d0", "auth", "forbidden"))

	e.send(alice, `<iq type='set' id='d1' to='coven@conference.example.org'><query xmlns='http://jabber.org/protocol/muc#owner'>
		<destroy jid='heath@conference.example.org'><reason>Macbeth doth come.</reason><password>pw</password></destroy></query></iq>`)
	destroyed := func(from, to string) string {
		return pres(from, to, "unavailable", `<x xmlns='http://jabber.org/protocol/muc#user'>`+item("none", "none", "")+
			`<destroy jid='heath@conference.example.org'><reason>Macbeth doth come.</reason><password>pw</password></destroy><status code='110'/></x>`)
	}
	expect(t, alice, destroyed(coven+"/owner", alicePhone), result(coven, alicePhone, "d1"))
	expect(t, bob, destroyed(coven+"/bob", bobPC))
	expect(t, phone, destroyed(coven+"/bob", "bob@example.org/phone"))
	if _, err := e.store.MUCRoom(t.Context(), svcJID, "coven"); err == nil {
		t.Error("the destroyed room is still stored")
	}
	// Gone: a message gets item-not-found; a join creates a new room.
	e.send(bob, `<message to='coven@conference.example.org' type='groupchat' id='m'><body>x</body></message>`)
	expect(t, bob, errStanza("message", coven, bobPC, "m", "cancel", "item-not-found"))
	if got := e.join(bob, coven+"/bob", ""); len(got) != 2 || !hasStatus(got[0], 201) {
		t.Errorf("after destruction: %s", list(got))
	}
}

// TestTemporaryRoom checks that a temporary room goes with its last
// occupant (§7.14) and a persistent one stays, configured.
func TestTemporaryRoom(t *testing.T) {
	e := newEnv(t, Options{})
	alice := e.coven()
	e.send(alice, `<presence to='coven@conference.example.org/owner' type='unavailable'/>`)
	alice.Take()
	if got := e.join(alice, coven+"/owner", ""); len(got) != 2 || !hasStatus(got[0], 201) {
		t.Fatalf("a temporary room outlived its occupants: %s", list(got))
	}
	e.configure(alice, coven, "", fPersistent, "1", fRoomName, "Kept")
	e.send(alice, `<presence to='coven@conference.example.org/owner' type='unavailable'/>`)
	alice.Take()
	bob := e.bind(bobPC)
	if got := e.join(bob, coven+"/bob", ""); len(got) != 2 || hasStatus(got[0], 201) {
		t.Fatalf("a persistent room did not stay: %s", list(got))
	}
	// Back to temporary: it goes from storage, and with its occupants.
	e.drain()
	e.configure(alice, coven, "", fPersistent, "0")
	if _, err := e.store.MUCRoom(t.Context(), svcJID, "coven"); err == nil {
		t.Error("a temporary room is still stored")
	}
	e.send(bob, `<presence to='coven@conference.example.org/bob' type='unavailable'/>`)
	e.drain()
	if got := e.join(bob, coven+"/bob", ""); len(got) != 2 || !hasStatus(got[0], 201) {
		t.Errorf("emptied after turning temporary: %s", list(got))
	}
}

// TestPersistenceAcrossRestart stops everything and starts again on the
// same SQLite file: configuration, affiliations (and registered
// nicknames) and subject come back; occupants and history do not.
func TestPersistenceAcrossRestart(t *testing.T) {
	e := newEnv(t, Options{})
	alice := e.coven(fPersistent, "1", fRoomName, "A Dark Cave", fMembersOnly, "1", fPasswordProt, "1",
		fSecret, "pw", fWhois, "anyone", fArchive, "1", fBroadcast, "moderator|participant")
	e.admin(alice, "a", `<item affiliation='member' jid='bob@example.org' nick='bobby'/><item affiliation='outcast' jid='eve@example.org'><reason>spam</reason></item>`)
	e.clock.Advance(time.Minute)
	e.send(alice, `<message to='coven@conference.example.org' type='groupchat'><subject>Spells</subject></message>`)
	e.send(alice, `<message to='coven@conference.example.org' type='groupchat'><body>not kept</body></message>`)
	e.drain()

	e.restart()
	svc := e.m.services[svcJID]
	if live := svc.liveRooms(); len(live) != 0 {
		t.Fatalf("%d rooms loaded at start, want none (on demand)", len(live))
	}
	bob := e.bind(bobPC)
	carol := e.bind(carolPC)
	eve := e.bind("eve@example.org/x")
	// bob, a member, may use another nickname than his reserved one.
	got := e.join(bob, coven+"/bob", `<password>pw</password>`)
	if len(svc.liveRooms()) != 1 {
		t.Error("the room was not loaded by the join")
	}
	if len(got) != 2 {
		t.Fatalf("bob's join after the restart: %s", list(got))
	}
	if msg := match(got[0], parse(t, pres(coven+"/bob", bobPC, "", x(item("member", "participant", bobPC), 100, 110, 170)))); msg != "" {
		t.Errorf("self-presence: %s\n%s", msg, got[0])
	}
	if msg := match(got[1], parse(t, subjectMsg(coven+"/owner", bobPC, "Spells", delayFrom(coven, "2026-03-01T12:01:00.000Z")))); msg != "" {
		t.Errorf("subject: %s\n%s", msg, got[1])
	}
	e.send(carol, `<presence to='coven@conference.example.org/bobby'><x xmlns='http://jabber.org/protocol/muc'><password>pw</password></x></presence>`)
	expect(t, carol, errStanza("presence", coven+"/bobby", carolPC, "", "auth", "registration-required", mucX))
	e.send(eve, `<presence to='coven@conference.example.org/eve'><x xmlns='http://jabber.org/protocol/muc'><password>pw</password></x></presence>`)
	expect(t, eve, errStanza("presence", coven+"/eve", "eve@example.org/x", "", "auth", "forbidden", mucX))
	alice = e.bind(alicePhone)
	got = e.join(alice, coven+"/owner", `<password>pw</password>`)
	if len(got) < 2 || got[1].Child(NSUser, "x").Child(NSUser, "item").Attr("affiliation") != "owner" {
		t.Errorf("alice after the restart: %s", list(got))
	}
	r := svc.roomShard("coven").rooms["coven"].r
	if r.cfg.Name != "A Dark Cave" || !r.cfg.Persistent || fmt.Sprint(r.cfg.PresenceBroadcast) != "[moderator participant]" ||
		r.nicks["bobby"] != "bob@example.org" || r.affs["eve@example.org"].reason != "spam" || r.history.n != 0 {
		t.Errorf("room after the restart: %+v", r.cfg)
	}
}

// TestStorageFailures injects storage errors: the client gets
// internal-server-error and the room stays as it was.
func TestStorageFailures(t *testing.T) {
	e := newEnv(t, Options{})
	alice := e.coven(fPersistent, "1")
	bob := e.bind(bobPC)
	e.enter(bob, "bob")
	e.store.fail(true)
	e.admin(alice, "a", `<item affiliation='member' jid='bob@example.org'/>`)
	expect(t, alice, errStanza("iq", coven, alicePhone, "a", "cancel", "internal-server-error"))
	e.send(alice, `<message to='coven@conference.example.org' type='groupchat' id='s'><subject>x</subject></message>`)
	expect(t, alice, errStanza("message", coven, alicePhone, "s", "cancel", "internal-server-error"))
	e.send(alice, `<iq type='set' id='c' to='coven@conference.example.org'><query xmlns='http://jabber.org/protocol/muc#owner'>%s</query></iq>`, form("", fRoomName, "x"))
	expect(t, alice, errStanza("iq", coven, alicePhone, "c", "cancel", "internal-server-error"))
	e.send(alice, `<iq type='set' id='d' to='coven@conference.example.org'><query xmlns='http://jabber.org/protocol/muc#owner'><destroy/></query></iq>`)
	expect(t, alice, errStanza("iq", coven, alicePhone, "d", "cancel", "internal-server-error"))
	// A room that is not live cannot be loaded.
	e.send(bob, `<presence to='other@conference.example.org/bob'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	expect(t, bob, errStanza("presence", "other@conference.example.org/bob", bobPC, "", "cancel", "internal-server-error"))
	expectNothing(t, bob)
	e.store.fail(false)

	r := e.m.services[svcJID].roomShard("coven").rooms["coven"].r
	if r.affOf(bob.JID()) != affNone || r.subject != "" || r.cfg.Name != "" || r.closed {
		t.Errorf("the room changed: %v %q %q %v", r.affOf(bob.JID()), r.subject, r.cfg.Name, r.closed)
	}
	stored, err := e.store.MUCRoom(t.Context(), svcJID, "coven")
	if err != nil || len(stored.Affiliations) != 1 || stored.Subject != "" {
		t.Errorf("storage changed: %+v, %v", stored, err)
	}
}

// TestPersistentByDefault checks rooms that are persistent from the start
// (Options.Defaults): stored once configured, not while locked.
func TestPersistentByDefault(t *testing.T) {
	d := DefaultRoomConfig()
	d.Persistent = true
	e := newEnv(t, Options{Defaults: &d})
	alice := e.bind(alicePhone)
	e.join(alice, coven+"/owner", "")
	e.send(alice, `<message to='coven@conference.example.org' type='groupchat' id='s'><subject>early</subject></message>`)
	if got := alice.Take(); len(got) != 1 || got[0].Attr("type") == "error" {
		t.Fatalf("subject in the locked room: %s", list(got))
	}
	if _, err := e.store.MUCRoom(t.Context(), svcJID, "coven"); err == nil {
		t.Error("a locked room is stored")
	}
	e.configure(alice, coven, "")
	stored, err := e.store.MUCRoom(t.Context(), svcJID, "coven")
	if err != nil || stored.Subject != "early" || len(stored.Affiliations) != 1 {
		t.Errorf("after the instant configuration: %+v, %v", stored, err)
	}
	e.admin(alice, "m", `<item affiliation='member' jid='bob@example.org'/>`)
	if stored, _ := e.store.MUCRoom(t.Context(), svcJID, "coven"); len(stored.Affiliations) != 2 {
		t.Errorf("affiliations stored: %+v", stored.Affiliations)
	}
}

// configForm gets the configuration form as field values by var.
func (e *env) configValues(s *routertest.Session) map[string][]string {
	e.t.Helper()
	res := e.iq(s, coven, "get", `<query xmlns='http://jabber.org/protocol/muc#owner'/>`)
	q := res.Child(NSOwner, "query")
	if q == nil || q.Child(NSData, "x") == nil {
		e.t.Fatalf("config form: %s", res)
	}
	return formValues(q.Child(NSData, "x"))
}

// TestConfigAffiliationLists is muc#roomconfig_roomadmins and
// _roomowners (§15.5.3): the form shows the lists; a submitted list is
// the full list, so those added gain the affiliation and those left out
// lose it, with the occupants told (and kept in storage); a JID that does
// not parse is not-acceptable, a list without owners a conflict, and
// neither changes anything.
func TestConfigAffiliationLists(t *testing.T) {
	e := newEnv(t, Options{})
	alice := e.coven(fPersistent, "1")
	bob := e.bind(bobPC)
	e.enter(bob, "bob")
	if v := e.configValues(alice); strings.Join(v[fRoomOwners], " ") != "alice@example.org" || len(v[fRoomAdmins]) != 0 ||
		strings.Join(v[fGetMemberList], " ") != "moderator" {
		t.Errorf("initial lists: owners %q admins %q getmemberlist %q", v[fRoomOwners], v[fRoomAdmins], v[fGetMemberList])
	}

	got := e.configure(alice, coven, "", fRoomAdmins, "bob@example.org/pc|carol@example.org", fRoomOwners, "alice@example.org|dave@example.org")
	if p := find(got, func(el *xmppcore.Element) bool { return el.Local == "presence" && el.Attr("from") == coven+"/bob" }); p == nil ||
		p.Child(NSUser, "x").Child(NSUser, "item").Attr("affiliation") != "admin" || p.Child(NSUser, "x").Child(NSUser, "item").Attr("role") != "moderator" {
		t.Errorf("alice on bob becoming admin: %s", list(got))
	}
	if got := bob.Take(); len(got) == 0 || !hasStatus(got[0], 110) {
		t.Errorf("bob on becoming admin: %s", list(got))
	}
	e.drain()
	v := e.configValues(alice)
	if strings.Join(v[fRoomAdmins], " ") != "bob@example.org carol@example.org" ||
		strings.Join(v[fRoomOwners], " ") != "alice@example.org dave@example.org" {
		t.Errorf("after setting: owners %q admins %q", v[fRoomOwners], v[fRoomAdmins])
	}

	// Dropped from the owners but listed as admin: admin. Dropped from
	// the admins: none.
	e.configure(alice, coven, "", fRoomAdmins, "dave@example.org", fRoomOwners, "alice@example.org")
	e.drain()
	r := e.room("coven")
	for j, want := range map[string]affiliation{"dave@example.org": affAdmin, "bob@example.org": affNone,
		"carol@example.org": affNone, "alice@example.org": affOwner} {
		if got := r.affOf(jid.MustParse(j)); got != want {
			t.Errorf("%s: %s, want %s", j, got, want)
		}
	}

	// An owner named in the admins alone stays an owner.
	e.configure(alice, coven, "", fRoomAdmins, "alice@example.org|dave@example.org")
	e.drain()
	if got := e.room("coven").affOf(jid.MustParse("alice@example.org")); got != affOwner {
		t.Errorf("alice listed among the admins only: %s, want owner", got)
	}

	// Errors change nothing.
	for i, tc := range []struct {
		kv        []string
		cond, typ string
	}{
		{[]string{fRoomOwners, ""}, "conflict", "cancel"},
		{[]string{fRoomAdmins, "carol@example.org", fRoomOwners, "bob@example.org|@bad"}, "not-acceptable", "modify"},
		{[]string{fRoomOwners, "example.org"}, "not-acceptable", "modify"},
	} {
		e.send(alice, `<iq type='set' id='bad%d' to='coven@conference.example.org'><query xmlns='http://jabber.org/protocol/muc#owner'>%s</query></iq>`, i, form("", tc.kv...))
		expect(t, alice, errStanza("iq", coven, alicePhone, fmt.Sprint("bad", i), tc.typ, tc.cond))
	}
	// What was set survives a restart.
	e.restart()
	alice = e.bind(alicePhone)
	e.join(alice, coven+"/owner", "")
	if v := e.configValues(alice); strings.Join(v[fRoomAdmins], " ") != "dave@example.org" || strings.Join(v[fRoomOwners], " ") != "alice@example.org" {
		t.Errorf("after a restart: owners %q admins %q", v[fRoomOwners], v[fRoomAdmins])
	}
}

// TestGetMemberList is muc#roomconfig_getmemberlist: by default only
// moderators (and admins and owners, always) retrieve the member list;
// the roles the owner lists may; an empty list leaves admins and owners
// alone; a role that does not exist is not-acceptable.
func TestGetMemberList(t *testing.T) {
	e := newEnv(t, Options{})
	alice := e.coven(fModerated, "1", fPersistent, "1")
	bob := e.bind(bobPC)
	carol := e.bind(carolPC)
	e.enter(bob, "bob")
	e.enter(carol, "carol") // a visitor: the room is moderated
	e.admin(alice, "m", `<item affiliation='member' jid='dave@example.org'/><item nick='bob' role='moderator'/>`)
	e.drain()
	const want = `<iq from="coven@conference.example.org" id="list" to="%s" type="result"><query xmlns="http://jabber.org/protocol/muc#admin"><item affiliation="member" jid="dave@example.org"/></query></iq>`
	allowed := func(s *routertest.Session) bool {
		t.Helper()
		got := e.adminList(s, `affiliation='member'`)
		if strings.Contains(got, "forbidden") {
			return false
		}
		if got != fmt.Sprintf(want, s.JID()) {
			t.Errorf("member list: %s", got)
		}
		return true
	}
	if !allowed(alice) || !allowed(bob) || allowed(carol) {
		t.Errorf("default: owner, moderator may; visitor may not")
	}
	e.configure(alice, coven, "", fGetMemberList, "visitor")
	e.drain()
	if !allowed(alice) || allowed(bob) || !allowed(carol) {
		t.Errorf("visitors only: owner and visitor may; moderator may not")
	}
	e.configure(alice, coven, "", fGetMemberList, "")
	e.drain()
	if !allowed(alice) || allowed(bob) || allowed(carol) {
		t.Errorf("nobody else: only the owner may")
	}
	e.restart()
	alice = e.bind(alicePhone)
	e.join(alice, coven+"/owner", "")
	if v := e.configValues(alice); len(v[fGetMemberList]) != 0 {
		t.Errorf("after a restart, getmemberlist %q, want none", v[fGetMemberList])
	}
	e.send(alice, `<iq type='set' id='bad' to='coven@conference.example.org'><query xmlns='http://jabber.org/protocol/muc#owner'>%s</query></iq>`, form("", fGetMemberList, "none"))
	expect(t, alice, errStanza("iq", coven, alicePhone, "bad", "modify", "not-acceptable"))
}
