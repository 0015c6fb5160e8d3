package muc

import (
	"strings"
	"testing"

	"parley.im/parley/internal/routertest"
)

// TestMediatedInvitation is §7.8.2: the room sends the invitation from
// itself on behalf of the inviter, with the reason, the continue flag and
// the password; the decline goes back the same way.
func TestMediatedInvitation(t *testing.T) {
	e := newEnv(t, Options{})
	alice := e.coven(fPasswordProt, "1", fSecret, "cauldronburn")
	carol := e.bind(carolPC)
	e.send(alice, `<message to='coven@conference.example.org' id='nzd143v8'><x xmlns='http://jabber.org/protocol/muc#user'>
		<invite to='carol@example.org'><reason>Hey Hecate</reason><continue thread='t1'/></invite></x></message>`)
	expect(t, carol, `<message from='coven@conference.example.org' to='carol@example.org' id='nzd143v8'>
		<x xmlns='http://jabber.org/protocol/muc#user'><invite from='alice@example.org'><reason>Hey Hecate</reason><continue thread='t1'/></invite>
		<password>cauldronburn</password></x>
		<body>alice@example.org invites you to the room coven@conference.example.org: Hey Hecate</body></message>`)
	expectNothing(t, alice)

	e.send(carol, `<message to='coven@conference.example.org' id='jk2vs61v'><x xmlns='http://jabber.org/protocol/muc#user'>
		<decline to='alice@example.org/phone'><reason>Too busy</reason></decline></x></message>`)
	expect(t, alice, `<message from='coven@conference.example.org' to='alice@example.org/phone' id='jk2vs61v'>
		<x xmlns='http://jabber.org/protocol/muc#user'><decline from='carol@example.org'><reason>Too busy</reason></decline></x></message>`)
	// An invitation is no membership in an open room (§9.5).
	if a := e.room("coven").affOf(carol.JID()); a != affNone {
		t.Errorf("carol's affiliation after the invitation: %v", a)
	}
	// A non-occupant may not invite to an open room; a bad JID is refused.
	dave := e.bind("dave@example.org/x")
	e.send(dave, `<message to='coven@conference.example.org' id='i2'><x xmlns='http://jabber.org/protocol/muc#user'><invite to='carol@example.org'/></x></message>`)
	expect(t, dave, `<message from='coven@conference.example.org' to='dave@example.org/x' type='error' id='i2'>
		<x xmlns='http://jabber.org/protocol/muc#user'><invite to='carol@example.org'/></x>
		<error type='auth' by='coven@conference.example.org'><forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>`)
	e.send(alice, `<message to='coven@conference.example.org' id='i3'><x xmlns='http://jabber.org/protocol/muc#user'><invite to='@@'/></x></message>`)
	expect(t, alice, errStanza("message", coven, alicePhone, "i3", "modify", "jid-malformed"))
	expectNothing(t, carol)
}

// TestMembersOnlyInvitation is §7.8.2 and §9.5: in a members-only room
// only admins invite, or members too when the room allows it; the invitee
// becomes a member.
func TestMembersOnlyInvitation(t *testing.T) {
	e := newEnv(t, Options{})
	alice := e.coven(fMembersOnly, "1", fPersistent, "1")
	bob := e.bind(bobPC)
	carol := e.bind(carolPC)
	dave := e.bind("dave@example.org/x")
	e.send(alice, `<message to='coven@conference.example.org'><x xmlns='http://jabber.org/protocol/muc#user'><invite to='bob@example.org'/></x></message>`)
	if got := bob.Take(); len(got) != 1 || got[0].Child(NSUser, "x").Child(NSUser, "invite") == nil {
		t.Fatalf("bob's invitation: %s", list(got))
	}
	e.enter(bob, "bob") // a member now
	stored, err := e.store.MUCRoom(t.Context(), svcJID, "coven")
	if err != nil || len(stored.Affiliations) != 2 {
		t.Errorf("stored: %+v, %v", stored.Affiliations, err)
	}
	e.send(bob, `<message to='coven@conference.example.org' id='i'><x xmlns='http://jabber.org/protocol/muc#user'><invite to='carol@example.org'/></x></message>`)
	got := bob.Take()
	if len(got) != 1 || got[0].Attr("type") != "error" || got[0].Child("", "error").FirstChild().Local != "forbidden" {
		t.Errorf("a member inviting: %s", list(got))
	}
	expectNothing(t, carol)
	e.configure(alice, coven, "", fAllowInvites, "1")
	e.drain()
	e.send(bob, `<message to='coven@conference.example.org' id='i'><x xmlns='http://jabber.org/protocol/muc#user'><invite to='carol@example.org'/></x></message>`)
	if got := carol.Take(); len(got) != 1 {
		t.Errorf("carol's invitation: %s", list(got))
	}
	e.enter(carol, "carol")
	e.send(dave, `<presence to='coven@conference.example.org/dave'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	if got := dave.Take(); len(got) != 1 || got[0].Attr("type") != "error" {
		t.Errorf("dave, not invited: %s", list(got))
	}
}

// TestVoiceRequest is §7.13 and §8.6: a visitor's request goes to every
// moderator session as a form; a moderator's approval grants voice.
func TestVoiceRequest(t *testing.T) {
	e := newEnv(t, Options{})
	alice := e.coven(fModerated, "1")
	bob := e.bind(bobPC)
	carol := e.bind(carolPC)
	e.enter(bob, "bob")
	e.enter(carol, "carol")
	request := `<message to='coven@conference.example.org' id='r'><x xmlns='jabber:x:data' type='submit'>
		<field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#request</value></field>
		<field var='muc#role' type='list-single' label='Requested role'><value>participant</value></field></x></message>`
	e.send(bob, "%s", request)
	expect(t, alice, `<message from='coven@conference.example.org' to='alice@example.org/phone' id='*'>
		<x xmlns='jabber:x:data' type='form'><title>Voice request</title>
		<instructions>To approve this request for voice, select the "Grant voice to this person?" checkbox and click OK.</instructions>
		<field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/muc#request</value></field>
		<field var='muc#role' type='list-single' label='Requested role'><value>participant</value></field>
		<field var='muc#jid' type='jid-single' label='User ID'><value>bob@example.org/pc</value></field>
		<field var='muc#roomnick' type='text-single' label='Room Nickname'><value>bob</value></field>
		<field var='muc#request_allow' type='boolean' label='Grant voice to this person?'><value>false</value></field></x></message>`)
	expectNothing(t, bob, carol)
	approval := func(allow string) string {
		return `<message to='coven@conference.example.org' id='a'><x xmlns='jabber:x:data' type='submit'>
		<field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#request</value></field>
		<field var='muc#role'><value>participant</value></field><field var='muc#jid'><value>bob@example.org/pc</value></field>
		<field var='muc#roomnick'><value>bob</value></field><field var='muc#request_allow'><value>` + allow + `</value></field></x></message>`
	}
	// Only moderators answer.
	e.send(carol, "%s", approval("true"))
	expect(t, carol, errStanza("message", coven, carolPC, "a", "auth", "forbidden"))
	e.send(alice, "%s", approval("false"))
	expectNothing(t, alice, bob)
	e.send(alice, "%s", approval("true"))
	if got := bob.Take(); len(got) != 1 || got[0].Child(NSUser, "x").Child(NSUser, "item").Attr("role") != "participant" {
		t.Errorf("bob after approval: %s", list(got))
	}
	e.drain()
	// A participant has nothing to ask for; requests off: forbidden.
	e.send(bob, "%s", request)
	expectNothing(t, alice, bob)
	e.configure(alice, coven, "", fVoiceRequests, "0")
	e.drain()
	e.send(carol, "%s", request)
	expect(t, carol, errStanza("message", coven, carolPC, "r", "auth", "forbidden"))
}

// TestRegistration is §7.10 and §7.12: the form, registering (the user
// becomes a member with the nickname), conflicts, the registered answer,
// and cancelling with <remove/>.
func TestRegistration(t *testing.T) {
	e := newEnv(t, Options{})
	alice := e.coven()
	bob := e.bind(bobPC)
	carol := e.bind(carolPC)
	e.enter(bob, "bob")
	e.enter(carol, "carol")
	got := e.iq(bob, coven, "get", `<query xmlns='jabber:iq:register'/>`)
	if msg := match(got, parse(t, `<iq type='result' id='q' from='coven@conference.example.org' to='bob@example.org/pc'>
		<query xmlns='jabber:iq:register'><instructions>Choose the nickname to reserve in this room.</instructions>
		<x xmlns='jabber:x:data' type='form'><title>coven@conference.example.org registration</title>
		<instructions>Choose the nickname to reserve in this room.</instructions>
		<field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/muc#register</value></field>
		<field var='muc#register_roomnick' type='text-single' label='Desired Nickname'><required/></field></x></query></iq>`)); msg != "" {
		t.Errorf("form: %s\n%s", msg, got)
	}
	submit := func(nick string) string {
		return `<query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' type='submit'>
			<field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#register</value></field>
			<field var='muc#register_roomnick'><value>` + nick + `</value></field></x></query>`
	}
	// A nickname in use by another occupant: conflict.
	if got := e.iq(bob, coven, "set", submit("carol")); got.Child("", "error").FirstChild().Local != "conflict" {
		t.Errorf("registering carol's nick: %s", got)
	}
	if got := e.iq(bob, coven, "set", `<query xmlns='jabber:iq:register'/>`); got.Child("", "error").FirstChild().Local != "bad-request" {
		t.Errorf("no form: %s", got)
	}
	e.send(bob, `<iq type='set' id='r' to='coven@conference.example.org'>%s</iq>`, submit("thirdwitch"))
	expect(t, bob, result(coven, bobPC, "r"), pres(coven+"/bob", bobPC, "", x(item("member", "participant", bobPC), 110)))
	if got := alice.Take(); len(got) != 1 || got[0].Child(NSUser, "x").Child(NSUser, "item").Attr("affiliation") != "member" {
		t.Errorf("alice on bob's registration: %s", list(got))
	}
	e.drain()
	got = e.iq(bob, coven, "get", `<query xmlns='jabber:iq:register'/>`)
	if msg := match(got, parse(t, `<iq type='result' id='q' from='coven@conference.example.org' to='bob@example.org/pc'>
		<query xmlns='jabber:iq:register'><registered/><username>thirdwitch</username></query></iq>`)); msg != "" {
		t.Errorf("registered: %s\n%s", msg, got)
	}
	if got := e.iq(carol, coven, "set", submit("thirdwitch")); got.Child("", "error").FirstChild().Local != "conflict" {
		t.Errorf("registering bob's nick: %s", got)
	}
	// Changing one's registered nickname keeps the membership.
	if got := e.iq(bob, coven, "set", submit("hag")); got.Attr("type") != "result" {
		t.Errorf("changing the nick: %s", got)
	}
	if r := e.room("coven"); r.affs["bob@example.org"].nick != "hag" || r.nicks["thirdwitch"] != "" {
		t.Errorf("after the change: %+v", r.affs)
	}
	e.send(bob, `<iq type='set' id='u' to='coven@conference.example.org'><query xmlns='jabber:iq:register'><remove/></query></iq>`)
	expect(t, bob, result(coven, bobPC, "u"), pres(coven+"/bob", bobPC, "", x(item("none", "participant", bobPC), 110)))
	if got := e.iq(bob, coven, "set", `<query xmlns='jabber:iq:register'><remove/></query>`); got.Child("", "error").FirstChild().Local != "not-allowed" {
		t.Errorf("removing twice: %s", got)
	}
	e.drain()
	// Banned users may not register.
	e.admin(alice, "ban", `<item affiliation='outcast' jid='frank@example.org'/>`)
	e.drain()
	frank := e.bind("frank@example.org/x")
	if got := e.iq(frank, coven, "get", `<query xmlns='jabber:iq:register'/>`); got.Child("", "error").FirstChild().Local != "not-allowed" {
		t.Errorf("banned, form: %s", got)
	}
	if got := e.iq(frank, coven, "set", submit("frank")); got.Child("", "error").FirstChild().Local != "not-allowed" {
		t.Errorf("banned, submit: %s", got)
	}
	testRegistrationApproval(t, e, alice, submit)
	// Registration off: service-unavailable (§7.10).
	e2 := newEnv(t, Options{NoRegistration: true})
	e2.coven()
	eve := e2.bind("eve@example.org/x")
	if got := e2.iq(eve, coven, "get", `<query xmlns='jabber:iq:register'/>`); got.Child("", "error").FirstChild().Local != "service-unavailable" {
		t.Errorf("registration off: %s", got)
	}
}

// TestPresenceBroadcast is muc#roomconfig_presencebroadcast: presence of
// roles not listed reaches only the occupant itself; it appears when the
// role changes to a listed one.
func TestPresenceBroadcast(t *testing.T) {
	e := newEnv(t, Options{})
	alice := e.coven(fModerated, "1", fBroadcast, "moderator|participant")
	bob := e.bind(bobPC)
	got := e.join(bob, coven+"/bob", "")
	if len(got) != 3 || !hasStatus(got[1], 110) {
		t.Errorf("a visitor's join: %s", list(got))
	}
	expectNothing(t, alice)
	e.send(bob, `<presence to='coven@conference.example.org/bob'><show>away</show></presence>`)
	expectNothing(t, alice)
	bob.Take()
	e.admin(alice, "v", `<item nick='bob' role='participant'/>`)
	if got := alice.Take(); len(got) != 2 || got[1].Attr("from") != coven+"/bob" {
		t.Errorf("voice makes bob appear: %s", list(got))
	}
	e.drain()
	e.admin(alice, "v", `<item nick='bob' role='visitor'/>`)
	if got := alice.Take(); len(got) != 2 || got[1].Attr("type") != "unavailable" {
		t.Errorf("losing voice makes bob disappear: %s", list(got))
	}
}

// TestLargeRoom is the overload policy: past Options.LargeRoom occupants
// only moderators' presence is broadcast.
func TestLargeRoom(t *testing.T) {
	e := newEnv(t, Options{LargeRoom: 3})
	alice := e.coven()
	bob := e.bind(bobPC)
	carol := e.bind(carolPC)
	dave := e.bind("dave@example.org/x")
	e.join(bob, coven+"/bob", "")
	if got := alice.Take(); len(got) != 1 {
		t.Errorf("a small room: %s", list(got))
	}
	e.enter(carol, "carol") // now 3: large
	got := e.join(dave, coven+"/dave", "")
	// dave sees alice (a moderator) and himself, not bob or carol.
	if len(got) != 3 || got[0].Attr("from") != coven+"/owner" || got[1].Attr("from") != coven+"/dave" {
		t.Errorf("dave's join in a large room: %s", list(got))
	}
	expectNothing(t, alice, bob, carol)
	// Messages still reach everyone.
	e.send(dave, `<message to='coven@conference.example.org' type='groupchat'><body>x</body></message>`)
	if got := bob.Take(); len(got) != 1 {
		t.Errorf("a message in a large room: %s", list(got))
	}
}

// TestDeclineToOccupant sends a decline to an occupant JID of the room:
// it reaches that occupant's sessions.
func TestDeclineToOccupant(t *testing.T) {
	e := newEnv(t, Options{})
	alice := e.coven()
	carol := e.bind(carolPC)
	e.send(carol, `<message to='coven@conference.example.org'><x xmlns='http://jabber.org/protocol/muc#user'>
		<decline to='coven@conference.example.org/owner'/></x></message>`)
	expect(t, alice, `<message from='coven@conference.example.org' to='alice@example.org/phone'>
		<x xmlns='http://jabber.org/protocol/muc#user'><decline from='carol@example.org'/></x></message>`)
	e.send(carol, `<message to='coven@conference.example.org'><x xmlns='http://jabber.org/protocol/muc#user'>
		<decline to='coven@conference.example.org/nobody'/></x></message>`)
	expectNothing(t, alice, carol)
}

// testRegistrationApproval is §7.10 with §9.9 in a members-only room: a
// registration is a request that the owners and admins get as a form;
// the answer of one of them (others are forbidden) makes the user a
// member, who is invited, or declines it, and the user is told.
func testRegistrationApproval(t *testing.T, e *env, alice *routertest.Session, submit func(string) string) {
	t.Helper()
	e.configure(alice, coven, "", fMembersOnly, "1")
	e.drain()
	dave := e.bind("dave@example.org/x")
	got := e.iq(dave, coven, "get", `<query xmlns='jabber:iq:register'/>`)
	if got.Attr("type") != "result" || !strings.Contains(got.String(), "An admin of the room must approve the request.") {
		t.Errorf("members-only, form: %s", got)
	}
	if got := e.iq(dave, coven, "set", submit("dave")); got.Attr("type") != "result" {
		t.Fatalf("members-only, request: %s", got)
	}
	if a := e.room("coven").affs["dave@example.org"].aff; a != affOutcast && a >= affMember {
		t.Errorf("member before approval: %v", a)
	}
	asked := alice.Take()
	if len(asked) != 1 || asked[0].Attr("from") != coven || asked[0].Local != "message" {
		t.Fatalf("alice's approval request: %s", list(asked))
	}
	fields := formValues(findForm(asked[0], NSRegister))
	if first(fields["muc#jid"]) != "dave@example.org" || first(fields["muc#register_roomnick"]) != "dave" ||
		first(fields["muc#register_allow"]) != "0" {
		t.Errorf("approval form: %s", asked[0])
	}
	answer := func(s *routertest.Session, user, allow string) {
		e.send(s, `<message to='%s' id='ans'><x xmlns='jabber:x:data' type='submit'>`+
			`<field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#register</value></field>`+
			`<field var='muc#jid'><value>%s</value></field><field var='muc#register_allow'><value>%s</value></field></x></message>`,
			coven, user, allow)
	}
	// Only owners and admins answer.
	bob := e.all[1]
	answer(bob, "dave@example.org", "1")
	expect(t, bob, errStanza("message", coven, bobPC, "ans", "auth", "forbidden"))
	answer(alice, "dave@example.org", "1")
	if a := e.room("coven").affs["dave@example.org"]; a.aff != affMember || a.nick != "dave" {
		t.Errorf("after approval: %+v", a)
	}
	if got := dave.Take(); len(got) != 1 || got[0].Child(NSUser, "x") == nil || got[0].Child(NSUser, "x").Child(NSUser, "invite") == nil {
		t.Errorf("dave after approval: %s, want an invitation", list(got))
	}
	answer(alice, "dave@example.org", "1")
	expect(t, alice, errStanza("message", coven, alicePhone, "ans", "cancel", "item-not-found"))

	// Declined: the user is told and is no member.
	eve := e.bind("eve@example.org/x")
	if got := e.iq(eve, coven, "set", submit("eve")); got.Attr("type") != "result" {
		t.Fatalf("eve's request: %s", got)
	}
	alice.Take()
	answer(alice, "eve@example.org", "0")
	if got := eve.Take(); len(got) != 1 || !strings.Contains(got[0].ChildText("", "body"), "declined") {
		t.Errorf("eve after the refusal: %s", list(got))
	}
	if _, ok := e.room("coven").affs["eve@example.org"]; ok {
		t.Errorf("eve has an affiliation after the refusal")
	}
	expectNothing(t, alice)
}
