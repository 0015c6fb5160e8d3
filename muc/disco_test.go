package muc

import (
	"fmt"
	"strings"
	"testing"

	"parley.im/parley/internal/routertest"
	"parley.im/parley/xmppcore"
)

func (e *env) iq(s *routertest.Session, to, typ, payload string) *xmppcore.Element {
	e.t.Helper()
	e.send(s, `<iq type='%s' id='q' to='%s'>%s</iq>`, typ, to, payload)
	got := s.Take()
	if len(got) != 1 {
		e.t.Fatalf("%s to %s: %s", payload, to, list(got))
	}
	return got[0]
}

// TestServiceDisco is §6.1-6.3: the server lists the service, the service
// says what it is, and lists its public rooms: live and unlocked, or
// stored; never hidden or locked ones.
func TestServiceDisco(t *testing.T) {
	e := newEnv(t, Options{Name: "Witches"})
	if items := e.reg.Items(); fmt.Sprint(items) != "[conference.example.org]" {
		t.Errorf("server items %v", items)
	}
	if d := e.m.Domains(); fmt.Sprint(d) != "[conference.example.org]" {
		t.Errorf("Domains() = %v", d)
	}
	bob := e.bind(bobPC)
	expect := func(got *xmppcore.Element, want string) {
		t.Helper()
		if msg := match(got, parse(t, want)); msg != "" {
			t.Errorf("%s\n got %s", msg, got)
		}
	}
	expect(e.iq(bob, svcJID, "get", `<query xmlns='http://jabber.org/protocol/disco#info'/>`),
		`<iq type='result' id='q' from='conference.example.org' to='bob@example.org/pc'><query xmlns='http://jabber.org/protocol/disco#info'>
		<identity category='conference' type='text' name='Witches'/>
		<feature var='http://jabber.org/protocol/disco#info'/><feature var='http://jabber.org/protocol/disco#items'/>
		<feature var='http://jabber.org/protocol/muc'/><feature var='http://jabber.org/protocol/muc#stable_id'/>
		<feature var='urn:xmpp:occupant-id:0'/><feature var='urn:xmpp:ping'/><feature var='vcard-temp'/></query></iq>`)
	expect(e.iq(bob, svcJID, "get", `<query xmlns='http://jabber.org/protocol/disco#info' node='x'/>`),
		errStanza("iq", svcJID, bobPC, "q", "cancel", "item-not-found"))
	expect(e.iq(bob, svcJID, "get", `<ping xmlns='urn:xmpp:ping'/>`), result(svcJID, bobPC, "q"))
	expect(e.iq(bob, svcJID, "get", `<query xmlns='jabber:iq:version'/>`),
		errStanza("iq", svcJID, bobPC, "q", "cancel", "service-unavailable"))

	alice := e.coven(fRoomName, "A Dark Cave")
	e.create(alice, "hidden@conference.example.org/a")
	e.configure(alice, "hidden@conference.example.org", "", fPublic, "0")
	e.join(alice, "locked@conference.example.org/a", "")
	e.create(alice, "stored@conference.example.org/a")
	e.configure(alice, "stored@conference.example.org", "", fPersistent, "1", fRoomName, "Kept")
	e.send(alice, `<presence to='stored@conference.example.org/a' type='unavailable'/>`)
	e.clock.Advance(DefaultIdleTimeout)
	e.m.services[svcJID].evictIdle() // as the janitor does
	e.drain()
	expect(e.iq(bob, svcJID, "get", `<query xmlns='http://jabber.org/protocol/disco#items'/>`),
		`<iq type='result' id='q' from='conference.example.org' to='bob@example.org/pc'><query xmlns='http://jabber.org/protocol/disco#items'>
		<item jid='coven@conference.example.org' name='A Dark Cave'/><item jid='stored@conference.example.org' name='Kept'/></query></iq>`)
}

// TestRoomDisco is §6.4-6.6 and §7.12: identity, features by
// configuration, the muc#roominfo form; occupants only to occupants; the
// reserved nickname node; no #traffic node.
func TestRoomDisco(t *testing.T) {
	e := newEnv(t, Options{})
	alice := e.coven(fRoomName, "A Dark Cave", fRoomDesc, "For witches", fLang, "en", fPublic, "0")
	bob := e.bind(bobPC)
	e.send(alice, `<message to='coven@conference.example.org' type='groupchat'><subject>Spells</subject></message>`)
	e.drain()
	info := e.iq(bob, coven, "get", `<query xmlns='http://jabber.org/protocol/disco#info'/>`)
	var features []string
	for c := range info.FirstChild().Children() {
		if c.Local == "feature" {
			features = append(features, c.Attr("var"))
		}
	}
	want := "[http://jabber.org/protocol/disco#info http://jabber.org/protocol/disco#items http://jabber.org/protocol/muc " +
		"http://jabber.org/protocol/muc#self-ping-optimization http://jabber.org/protocol/muc#stable_id jabber:iq:register " +
		"muc_hidden muc_open muc_semianonymous muc_temporary muc_unmoderated muc_unsecured urn:xmpp:message-moderate:1 " +
		"urn:xmpp:occupant-id:0 urn:xmpp:ping urn:xmpp:sid:0 vcard-temp]"
	if fmt.Sprint(features) != want {
		t.Errorf("features:\n got %v\nwant %s", features, want)
	}
	id := info.FirstChild().Child(NSDiscoInfo, "identity")
	if id.Attr("category") != "conference" || id.Attr("type") != "text" || id.Attr("name") != "A Dark Cave" {
		t.Errorf("identity %s", id)
	}
	vals := formValues(info.FirstChild().Child(NSData, "x"))
	for k, v := range map[string]string{"FORM_TYPE": NSRoomInfo, "muc#roominfo_description": "For witches",
		"muc#roominfo_subject": "Spells", "muc#roominfo_occupants": "1", "muc#roominfo_lang": "en"} {
		if first(vals[k]) != v {
			t.Errorf("roominfo %s = %q, want %q", k, first(vals[k]), v)
		}
	}
	// The other side of every feature.
	e.configure(alice, coven, "", fPublic, "1", fMembersOnly, "1", fModerated, "1", fPasswordProt, "1", fSecret, "x",
		fPersistent, "1", fWhois, "anyone")
	info = e.iq(bob, coven, "get", `<query xmlns='http://jabber.org/protocol/disco#info'/>`)
	s := info.String()
	for _, f := range []string{"muc_public", "muc_membersonly", "muc_moderated", "muc_passwordprotected", "muc_persistent", "muc_nonanonymous"} {
		if !strings.Contains(s, `"`+f+`"`) {
			t.Errorf("no %s in %s", f, s)
		}
	}

	// Occupants are private to non-occupants (§6.5).
	e.configure(alice, coven, "", fMembersOnly, "0")
	e.drain()
	empty := `<iq type='result' id='q' from='coven@conference.example.org' to='bob@example.org/pc'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`
	if msg := match(e.iq(bob, coven, "get", `<query xmlns='http://jabber.org/protocol/disco#items'/>`), parse(t, empty)); msg != "" {
		t.Error(msg)
	}
	e.enter(bob, "bob", `<password>x</password>`)
	items := e.iq(bob, coven, "get", `<query xmlns='http://jabber.org/protocol/disco#items'/>`)
	if msg := match(items, parse(t, `<iq type='result' id='q' from='coven@conference.example.org' to='bob@example.org/pc'>
		<query xmlns='http://jabber.org/protocol/disco#items'><item jid='coven@conference.example.org/bob'/>
		<item jid='coven@conference.example.org/owner'/></query></iq>`)); msg != "" {
		t.Errorf("items to an occupant: %s\n%s", msg, items)
	}

	// x-roomuser-item (§7.12): empty, then the registered nickname.
	node := `<query xmlns='http://jabber.org/protocol/disco#info' node='x-roomuser-item'/>`
	if msg := match(e.iq(bob, coven, "get", node), parse(t, `<iq type='result' id='q' from='coven@conference.example.org' to='bob@example.org/pc'>`+node+`</iq>`)); msg != "" {
		t.Error(msg)
	}
	e.admin(alice, "m", `<item affiliation='member' jid='bob@example.org' nick='thirdwitch'/>`)
	e.drain()
	if msg := match(e.iq(bob, coven, "get", node), parse(t, `<iq type='result' id='q' from='coven@conference.example.org' to='bob@example.org/pc'>
		<query xmlns='http://jabber.org/protocol/disco#info' node='x-roomuser-item'><identity category='conference' type='text' name='thirdwitch'/></query></iq>`)); msg != "" {
		t.Error(msg)
	}
	if msg := match(e.iq(bob, coven, "get", `<query xmlns='http://jabber.org/protocol/disco#info' node='http://jabber.org/protocol/muc#traffic'/>`),
		parse(t, errStanza("iq", coven, bobPC, "q", "cancel", "service-unavailable"))); msg != "" {
		t.Error(msg)
	}
	if msg := match(e.iq(bob, coven, "get", `<query xmlns='http://jabber.org/protocol/disco#info' node='other'/>`),
		parse(t, errStanza("iq", coven, bobPC, "q", "cancel", "item-not-found"))); msg != "" {
		t.Error(msg)
	}
	// Unknown IQs to the room; disco to a room that does not exist.
	if msg := match(e.iq(bob, coven, "get", `<query xmlns='urn:other'/>`), parse(t, errStanza("iq", coven, bobPC, "q", "cancel", "service-unavailable"))); msg != "" {
		t.Error(msg)
	}
	if msg := match(e.iq(bob, "nowhere@conference.example.org", "get", `<query xmlns='http://jabber.org/protocol/disco#info'/>`),
		parse(t, errStanza("iq", "nowhere@conference.example.org", bobPC, "q", "cancel", "item-not-found"))); msg != "" {
		t.Error(msg)
	}
	// Disco to an occupant JID from a non-occupant: bad-request (§6.6).
	carol := e.bind(carolPC)
	if msg := match(e.iq(carol, coven+"/bob", "get", `<query xmlns='http://jabber.org/protocol/disco#info'/>`),
		parse(t, errStanza("iq", coven+"/bob", carolPC, "q", "modify", "bad-request"))); msg != "" {
		t.Error(msg)
	}
}

// TestServiceMessages checks what the service's own JID answers to
// messages and presence.
func TestServiceMessages(t *testing.T) {
	e := newEnv(t, Options{})
	bob := e.bind(bobPC)
	e.send(bob, `<message to='conference.example.org' id='m'><body>hello?</body></message>`)
	expect(t, bob, errStanza("message", svcJID, bobPC, "m", "cancel", "service-unavailable"))
	e.send(bob, `<message to='conference.example.org' type='headline'><body>x</body></message>`)
	e.send(bob, `<presence to='conference.example.org'/>`)
	expectNothing(t, bob)
	e.send(bob, `<iq type='get' id='r' to='conference.example.org/x'><ping xmlns='urn:xmpp:ping'/></iq>`)
	expect(t, bob, errStanza("iq", svcJID+"/x", bobPC, "r", "cancel", "service-unavailable"))
	e.send(bob, `<iq type='get' id='b' to='conference.example.org'/>`)
	expect(t, bob, errStanza("iq", svcJID, bobPC, "b", "modify", "bad-request"))
}
