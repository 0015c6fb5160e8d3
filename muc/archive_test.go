package muc

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"parley.im/parley/internal/routertest"
	"parley.im/parley/storage"
	"parley.im/parley/xmppcore"
)

// say sends a groupchat message with a body from s and returns the room's
// stanza-id, as s got it reflected.
func (e *env) say(s *routertest.Session, id, body string) string {
	e.t.Helper()
	e.send(s, `<message to='%s' type='groupchat' id='%s'><body>%s</body></message>`, coven, id, body)
	for _, el := range s.Take() {
		if el.Attr("id") == id {
			if sid := el.Child(NSSID, "stanza-id"); sid != nil && sid.Attr("by") == coven {
				return sid.Attr("id")
			}
		}
	}
	e.t.Fatalf("%s: message %s not reflected with a stanza-id", s.JID(), id)
	return ""
}

// mamQuery sends an archive query to the room and returns the result
// messages and the final answer.
func (e *env) mamQuery(s *routertest.Session, inner string) ([]*xmppcore.Element, *xmppcore.Element) {
	e.t.Helper()
	e.send(s, `<iq type='set' id='mq' to='%s'><query xmlns='urn:xmpp:mam:2' queryid='qq'>%s</query></iq>`, coven, inner)
	got := s.Take()
	if len(got) == 0 || got[len(got)-1].Local != "iq" {
		e.t.Fatalf("query %s: %s", inner, list(got))
	}
	return got[:len(got)-1], got[len(got)-1]
}

// forwarded checks a result message and returns the archived message.
func forwarded(t *testing.T, el *xmppcore.Element, to, id string) *xmppcore.Element {
	t.Helper()
	res := el.Child(NSMAM, "result")
	if el.Local != "message" || el.Attr("from") != coven || el.Attr("to") != to || res == nil ||
		res.Attr("queryid") != "qq" || res.Attr("id") != id {
		t.Fatalf("result message: %s, want result %s to %s", el, id, to)
	}
	fwd := res.Child(NSForward, "forwarded")
	if fwd == nil || fwd.Child(NSDelay, "delay") == nil || fwd.Child(NSDelay, "delay").Attr("stamp") != "2026-03-01T12:00:00.000Z" {
		t.Fatalf("forwarded: %s", el)
	}
	msg := fwd.Child(xmppcore.NSClient, "message")
	if msg == nil || msg.Attr("type") != "groupchat" {
		t.Fatalf("forwarded message: %s", el)
	}
	return msg
}

func body(msg *xmppcore.Element) string {
	if b := msg.Child(xmppcore.NSClient, "body"); b != nil {
		return b.Text()
	}
	return ""
}

const rsm = "http://jabber.org/protocol/rsm"

// TestRoomArchiveQuery is XEP-0313 on the room's JID: messages with a
// body are archived under the room's stanza-id, from the sender's
// occupant JID; RSM pages them and <fin/> tells the set.
func TestRoomArchiveQuery(t *testing.T) {
	e := newEnv(t, Options{})
	alice := e.coven(fArchive, "1", fPersistent, "1")
	bob := e.bind(bobPC)
	e.enter(bob, "bob")
	ids := []string{e.say(alice, "m1", "one"), e.say(bob, "m2", "two")}
	e.send(alice, `<message to='%s' type='groupchat' id='cs'><active xmlns='http://jabber.org/protocol/chatstates'/></message>`, coven)
	ids = append(ids, e.say(alice, "m3", "three"))
	e.drain()

	res, fin := e.mamQuery(bob, `<set xmlns='`+rsm+`'><max>2</max></set>`)
	if len(res) != 2 {
		t.Fatalf("first page: %s", list(res))
	}
	for i, want := range []struct{ from, id, body string }{{coven + "/owner", "m1", "one"}, {coven + "/bob", "m2", "two"}} {
		msg := forwarded(t, res[i], bobPC, ids[i])
		if msg.Attr("from") != want.from || msg.Attr("id") != want.id || body(msg) != want.body {
			t.Errorf("entry %d: %s", i, msg)
		}
		if oid := msg.Child(NSOccupantID, "occupant-id"); oid == nil || oid.Attr("id") == "" {
			t.Errorf("entry %d without occupant-id: %s", i, msg)
		}
	}
	expectFin := func(fin *xmppcore.Element, complete string, index int, first, last string, count int) {
		t.Helper()
		want := fmt.Sprintf(`<iq type='result' id='mq' from='%s' to='%s'><fin xmlns='urn:xmpp:mam:2' complete='%s'><set xmlns='%s'>`+
			`<first index='%d'>%s</first><last>%s</last><count>%d</count></set></fin></iq>`, coven, bobPC, complete, rsm, index, first, last, count)
		if msg := match(fin, parse(t, want)); msg != "" {
			t.Errorf("fin: %s\n got %s\nwant %s", msg, fin, want)
		}
	}
	expectFin(fin, "false", 0, ids[0], ids[1], 3)

	res, fin = e.mamQuery(bob, `<set xmlns='`+rsm+`'><max>2</max><after>`+ids[1]+`</after></set>`)
	if len(res) != 1 || body(forwarded(t, res[0], bobPC, ids[2])) != "three" {
		t.Fatalf("second page: %s", list(res))
	}
	expectFin(fin, "true", 2, ids[2], ids[2], 3)

	// The last page, and a form filter.
	res, fin = e.mamQuery(bob, `<set xmlns='`+rsm+`'><max>1</max><before/></set>`)
	if len(res) != 1 || res[0].Child(NSMAM, "result").Attr("id") != ids[2] {
		t.Fatalf("last page: %s", list(res))
	}
	expectFin(fin, "false", 2, ids[2], ids[2], 3)
	res, _ = e.mamQuery(bob, `<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>urn:xmpp:mam:2</value></field>`+
		`<field var='after-id'><value>`+ids[0]+`</value></field></x>`)
	if len(res) != 2 {
		t.Fatalf("after-id: %s", list(res))
	}

	// Errors: an unknown id, a bad date, an unknown field.
	_, fin = e.mamQuery(bob, `<set xmlns='`+rsm+`'><after>nope</after></set>`)
	expect(t, bob)
	if msg := match(fin, parse(t, errStanza("iq", coven, bobPC, "mq", "cancel", "item-not-found"))); msg != "" {
		t.Errorf("unknown after: %s\n%s", msg, fin)
	}
	_, fin = e.mamQuery(bob, `<x xmlns='jabber:x:data' type='submit'><field var='start'><value>yesterday</value></field></x>`)
	if fin.Attr("type") != "error" || fin.Child("", "error") == nil || !strings.Contains(fin.String(), "bad-request") {
		t.Errorf("bad start: %s", fin)
	}
	_, fin = e.mamQuery(bob, `<x xmlns='jabber:x:data' type='submit'><field var='colour'><value>red</value></field></x>`)
	if !strings.Contains(fin.String(), "feature-not-implemented") {
		t.Errorf("unknown field: %s", fin)
	}
	expectNothing(t, alice)

	// Archives survive a restart of the service.
	e.restart()
	carol := e.bind(carolPC)
	res, _ = e.mamQuery(carol, ``)
	if len(res) != 3 {
		t.Fatalf("after restart: %s", list(res))
	}
}

// TestRoomArchiveAccess: occupants may query; non-occupants only public,
// open rooms without a password, or as members; rooms that do not
// archive answer service-unavailable; the features are advertised.
func TestRoomArchiveAccess(t *testing.T) {
	e := newEnv(t, Options{})
	alice := e.coven(fArchive, "1")
	bob := e.bind(bobPC)
	carol := e.bind(carolPC)
	e.enter(bob, "bob")
	e.say(alice, "m1", "one")
	e.drain()

	features := func(s *routertest.Session) string {
		var fs []string
		for c := range e.iq(s, coven, "get", `<query xmlns='http://jabber.org/protocol/disco#info'/>`).FirstChild().Children() {
			if c.Local == "feature" {
				fs = append(fs, c.Attr("var"))
			}
		}
		return strings.Join(fs, " ")
	}
	if f := features(carol); !strings.Contains(f, NSMAM) || !strings.Contains(f, NSModerate) {
		t.Errorf("archiving room features: %s", f)
	}

	// Public and open: anyone.
	if res, fin := e.mamQuery(carol, ``); len(res) != 1 || fin.Attr("type") != "result" {
		t.Fatalf("public room, non-occupant: %s %s", list(res), fin)
	}
	forbidden := func(s *routertest.Session, what string) {
		t.Helper()
		res, fin := e.mamQuery(s, ``)
		if len(res) != 0 || match(fin, parse(t, errStanza("iq", coven, s.JID().String(), "mq", "auth", "forbidden"))) != "" {
			t.Errorf("%s: %s %s", what, list(res), fin)
		}
	}
	// Hidden: occupants only.
	e.configure(alice, coven, "", fPublic, "0")
	e.drain()
	forbidden(carol, "hidden room, non-occupant")
	if res, _ := e.mamQuery(bob, ``); len(res) != 1 {
		t.Errorf("hidden room, occupant: %s", list(res))
	}
	// Members-only and public: members (present or not) and occupants.
	e.configure(alice, coven, "", fPublic, "1", fMembersOnly, "1")
	e.drain()
	forbidden(carol, "members-only room, non-member")
	e.admin(alice, "aff", `<item affiliation='member' jid='carol@example.org'/>`)
	e.drain()
	if res, _ := e.mamQuery(carol, ``); len(res) != 1 {
		t.Errorf("members-only room, member: %s", list(res))
	}
	// Archiving off: not advertised, not served.
	e.configure(alice, coven, "", fArchive, "0")
	e.drain()
	if f := features(bob); strings.Contains(f, NSMAM) || !strings.Contains(f, NSModerate) {
		t.Errorf("non-archiving room features: %s", f)
	}
	_, fin := e.mamQuery(bob, ``)
	if msg := match(fin, parse(t, errStanza("iq", coven, bobPC, "mq", "cancel", "service-unavailable"))); msg != "" {
		t.Errorf("archiving off: %s\n%s", msg, fin)
	}
	// Messages while off are not archived.
	e.say(alice, "m2", "off the record")
	e.configure(alice, coven, "", fArchive, "1")
	e.drain()
	if res, _ := e.mamQuery(carol, ``); len(res) != 1 {
		t.Errorf("after archiving off and on: %s", list(res))
	}
}

// TestModeration is XEP-0425: a moderator retracts a message by the
// room's stanza-id; everyone is told, the history loses it, the archive
// keeps a tombstone; others are forbidden, unknown ids item-not-found.
func TestModeration(t *testing.T) {
	e := newEnv(t, Options{})
	alice := e.coven(fArchive, "1")
	bob := e.bind(bobPC)
	e.enter(bob, "bob")
	keep := e.say(bob, "m1", "fine words")
	bad := e.say(bob, "m2", "foul words")
	e.drain()

	moderate := func(s *routertest.Session, id string) {
		e.send(s, `<iq type='set' id='mod' to='%s'><moderate id='%s' xmlns='urn:xmpp:message-moderate:1'>`+
			`<retract xmlns='urn:xmpp:message-retract:1'/><reason>Spam</reason></moderate></iq>`, coven, id)
	}
	moderate(bob, bad)
	expect(t, bob, errStanza("iq", coven, bobPC, "mod", "auth", "forbidden"))
	moderate(alice, "nope")
	expect(t, alice, errStanza("iq", coven, alicePhone, "mod", "cancel", "item-not-found"))
	expectNothing(t, bob)

	moderate(alice, bad)
	retraction := func(to string) string {
		return fmt.Sprintf(`<message from='%s' to='%s' type='groupchat' id='*'><retract xmlns='urn:xmpp:message-retract:1' id='%s'>`+
			`<moderated xmlns='urn:xmpp:message-moderate:1' by='%s/owner'>%s</moderated><reason>Spam</reason></retract></message>`,
			coven, to, bad, coven, oid)
	}
	expect(t, alice, retraction(alicePhone), result(coven, alicePhone, "mod"))
	expect(t, bob, retraction(bobPC))

	// The archive holds a tombstone in the message's place.
	res, _ := e.mamQuery(bob, ``)
	if len(res) != 2 {
		t.Fatalf("archive: %s", list(res))
	}
	if body(forwarded(t, res[0], bobPC, keep)) != "fine words" {
		t.Errorf("kept message: %s", res[0])
	}
	tomb := forwarded(t, res[1], bobPC, bad)
	r := tomb.Child(NSRetract, "retracted")
	if body(tomb) != "" || tomb.Attr("from") != coven+"/bob" || tomb.Attr("id") != "m2" || r == nil || r.Attr("stamp") == "" ||
		r.Child(NSModerate, "moderated") == nil || r.Child(NSModerate, "moderated").Attr("by") != coven+"/owner" ||
		tomb.Child(NSOccupantID, "occupant-id") == nil {
		t.Errorf("tombstone: %s", tomb)
	}

	// A newcomer's history lacks it.
	carol := e.bind(carolPC)
	got := e.join(carol, coven+"/carol", "")
	for _, el := range got {
		if el.Local == "message" && strings.Contains(el.String(), "foul") {
			t.Errorf("history still has the retracted message: %s", el)
		}
	}
	if !strings.Contains(list(got), "fine words") {
		t.Errorf("history lost the other message: %s", list(got))
	}

	e.drain()
	// Moderating again: the history no longer has it, the archive does
	// (as a tombstone), so it is retracted again rather than unknown.
	moderate(alice, bad)
	got = alice.Take()
	if len(got) != 2 || got[1].Attr("type") != "result" {
		t.Errorf("second moderation: %s", list(got))
	}
}

// TestModerationWithoutArchive: in a room that does not archive, the
// history is what moderation finds.
func TestModerationWithoutArchive(t *testing.T) {
	e := newEnv(t, Options{})
	alice := e.coven()
	bob := e.bind(bobPC)
	e.enter(bob, "bob")
	bad := e.say(bob, "m1", "foul words")
	e.drain()
	e.send(alice, `<iq type='set' id='mod' to='%s'><moderate id='%s' xmlns='urn:xmpp:message-moderate:1'><retract xmlns='urn:xmpp:message-retract:1'/></moderate></iq>`, coven, bad)
	got := alice.Take()
	if len(got) != 2 || got[0].Child(NSRetract, "retract") == nil || got[1].Attr("type") != "result" {
		t.Fatalf("moderation: %s", list(got))
	}
	if bob.Take()[0].Child(NSRetract, "retract").Child(NSRetract, "reason") != nil {
		t.Errorf("reason without one given")
	}
	e.send(alice, `<iq type='set' id='mod' to='%s'><moderate id='%s' xmlns='urn:xmpp:message-moderate:1'><retract xmlns='urn:xmpp:message-retract:1'/></moderate></iq>`, coven, bad)
	expect(t, alice, errStanza("iq", coven, alicePhone, "mod", "cancel", "item-not-found"))
}

// withQuery queries the archive with a 'with' field and returns the
// nicknames of the results' senders, or the error condition.
func (e *env) withQuery(s *routertest.Session, with string) (nicks []string, realJIDs []string, errCond string) {
	e.t.Helper()
	res, fin := e.mamQuery(s, `<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>urn:xmpp:mam:2</value></field>`+
		`<field var='with'><value>`+with+`</value></field></x>`)
	if fin.Attr("type") == "error" {
		for c := range fin.Child("", "error").Children() {
			return nil, nil, c.Local
		}
	}
	for _, el := range res {
		msg := el.Child(NSMAM, "result").Child(NSForward, "forwarded").Child(xmppcore.NSClient, "message")
		_, nick, _ := strings.Cut(msg.Attr("from"), "/")
		nicks = append(nicks, nick)
		j := ""
		if x := msg.Child(NSUser, "x"); x != nil && x.Child(NSUser, "item") != nil {
			j = x.Child(NSUser, "item").Attr("jid")
		}
		realJIDs = append(realJIDs, j)
	}
	return nicks, realJIDs, ""
}

// TestRoomArchiveWith is XEP-0313 §4.1.1 on a room archive: an occupant
// JID selects the messages sent under that nickname, the room's JID all
// of them, a real JID the messages of that user, and only for those who
// may see real JIDs (forbidden to a participant of a semi-anonymous
// room). Results carry the sender's real JID to those who may see it,
// never a muc#user item the sender put in the message itself.
func TestRoomArchiveWith(t *testing.T) {
	e := newEnv(t, Options{})
	alice := e.coven(fArchive, "1")
	bob := e.bind(bobPC)
	carol := e.bind(carolPC)
	e.enter(bob, "bob")
	e.enter(carol, "carol")
	e.say(alice, "m1", "one")
	e.send(bob, `<message to='%s' type='groupchat' id='m2'><body>two</body>`+
		`<x xmlns='http://jabber.org/protocol/muc#user'><item jid='alice@example.org/phone'/></x></message>`, coven)
	e.say(carol, "m3", "three")
	e.say(bob, "m4", "four")
	e.drain()

	for i, tc := range []struct {
		who         *routertest.Session
		with        string
		nicks, jids string
		err         string
	}{
		{bob, coven + "/bob", "bob bob", ", ", ""},
		{carol, coven + "/owner", "owner", "", ""},
		{carol, coven + "/nobody", "", "", ""},
		{carol, coven, "owner bob carol bob", ", , , ", ""},
		{carol, "bob@example.org", "", "", "forbidden"},
		{alice, "bob@example.org", "bob bob", "bob@example.org, bob@example.org", ""},
		{alice, "bob@example.org/pc", "bob bob", "bob@example.org, bob@example.org", ""},
		{alice, coven + "/carol", "carol", "carol@example.org", ""},
		{alice, "dave@example.org", "", "", ""},
	} {
		nicks, jids, cond := e.withQuery(tc.who, tc.with)
		if cond != tc.err || strings.Join(nicks, " ") != tc.nicks || strings.Join(jids, ", ") != tc.jids {
			t.Errorf("%d: %s with %s: nicks %q real JIDs %q error %q; want %q %q %q",
				i, tc.who.JID(), tc.with, nicks, jids, cond, tc.nicks, tc.jids, tc.err)
		}
	}
	// In a non-anonymous room anyone may filter by real JID.
	e.configure(alice, coven, "", fWhois, "anyone")
	e.drain()
	if nicks, jids, cond := e.withQuery(carol, "alice@example.org"); cond != "" || strings.Join(nicks, " ") != "owner" || jids[0] != "alice@example.org" {
		t.Errorf("non-anonymous room, participant, with alice: %q %q %q", nicks, jids, cond)
	}
}

// TestRoomArchiveForm: a get of the query form, and the #extended
// feature on the room.
func TestRoomArchiveForm(t *testing.T) {
	e := newEnv(t, Options{})
	alice := e.coven(fArchive, "1")
	res := e.iq(alice, coven, "get", `<query xmlns='urn:xmpp:mam:2'/>`)
	var fields []string
	if q := res.Child(NSMAM, "query"); q != nil && q.Child(NSData, "x") != nil {
		for f := range q.Child(NSData, "x").Children() {
			fields = append(fields, f.Attr("var"))
		}
	}
	if got := strings.Join(fields, " "); got != "FORM_TYPE with start end before-id after-id ids" {
		t.Errorf("query form fields: %q in %s", got, res)
	}
	info := e.iq(alice, coven, "get", `<query xmlns='http://jabber.org/protocol/disco#info'/>`).String()
	if !strings.Contains(info, `var="`+NSMAMExtended+`"`) && !strings.Contains(info, `var='`+NSMAMExtended+`'`) {
		t.Errorf("disco#info lacks %s: %s", NSMAMExtended, info)
	}
}

// archiveCount is how many entries the store holds for the room coven.
func (e *env) archiveCount() int {
	e.t.Helper()
	e.m.archiveWait()
	p, err := e.store.QueryRoomArchive(context.Background(), svcJID, "coven", storage.ArchiveQuery{})
	if err != nil {
		e.t.Fatal(err)
	}
	return p.Count
}

// TestRoomArchiveDeletedWithRoom: the archive of a temporary room goes
// when its last occupant leaves, that of a persistent room when its
// owner destroys it; unloading a persistent room or a restart keeps it,
// and a new room of the same name starts with an empty archive.
func TestRoomArchiveDeletedWithRoom(t *testing.T) {
	e := newEnv(t, Options{IdleTimeout: time.Minute})
	alice := e.coven(fArchive, "1")
	e.say(alice, "m1", "one")
	if n := e.archiveCount(); n != 1 {
		t.Fatalf("archived: %d", n)
	}
	e.send(alice, `<presence to='%s/owner' type='unavailable'/>`, coven)
	if n := e.archiveCount(); n != 0 {
		t.Errorf("temporary room gone, archive entries left: %d", n)
	}

	alice = e.coven(fArchive, "1", fPersistent, "1")
	e.say(alice, "m2", "two")
	e.send(alice, `<presence to='%s/owner' type='unavailable'/>`, coven)
	e.clock.Advance(2 * time.Minute)
	e.m.services[svcJID].evictIdle()
	e.restart()
	if n := e.archiveCount(); n != 1 {
		t.Errorf("persistent room unloaded and restarted: %d entries, want 1", n)
	}
	alice = e.bind(alicePhone)
	e.join(alice, coven+"/owner", "")
	e.drain()
	e.send(alice, `<iq type='set' id='d' to='%s'><query xmlns='http://jabber.org/protocol/muc#owner'><destroy/></query></iq>`, coven)
	if got := alice.Take(); find(got, func(el *xmppcore.Element) bool { return el.Attr("id") == "d" && el.Attr("type") == "result" }) == nil {
		t.Fatalf("destroy: %s", list(got))
	}
	if n := e.archiveCount(); n != 0 {
		t.Errorf("destroyed persistent room: %d entries left", n)
	}
	alice = e.coven(fArchive, "1")
	if res, _ := e.mamQuery(alice, ``); len(res) != 0 {
		t.Errorf("a new room of the same name sees %s", list(res))
	}
}

// TestRoomArchiveRetention: PurgeArchives deletes entries older than the
// retention, and nothing without one.
func TestRoomArchiveRetention(t *testing.T) {
	e := newEnv(t, Options{ArchiveRetention: 48 * time.Hour})
	alice := e.coven(fArchive, "1")
	e.say(alice, "m1", "old")
	e.clock.Advance(24 * time.Hour)
	e.say(alice, "m2", "newer")
	e.m.archiveWait()
	e.clock.Advance(25 * time.Hour) // m1 is 49 hours old, m2 25
	if n, err := e.m.PurgeArchives(context.Background()); err != nil || n != 1 {
		t.Fatalf("PurgeArchives = %d, %v; want 1", n, err)
	}
	res, _ := e.mamQuery(alice, ``)
	if len(res) != 1 || !strings.Contains(res[0].String(), "newer") {
		t.Errorf("after the purge: %s", list(res))
	}

	keep := newEnv(t, Options{})
	keep.coven(fArchive, "1")
	if n, err := keep.m.PurgeArchives(context.Background()); err != nil || n != 0 {
		t.Errorf("without a retention: %d, %v", n, err)
	}
}
