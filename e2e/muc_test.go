package e2e_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"parley.im/parley/config"
	"parley.im/parley/internal/xmpptest"
	"parley.im/parley/router"
	"parley.im/parley/xmppcore"
)

// Multi-user chat (XEP-0045) through the real server: the MUC service on
// conference.localhost as real clients reach it, over their c2s sessions.
// Namespaces are the XEPs' literal strings, not the module's constants, so
// that a typo in either is caught.
//
// The sync of the other tests (a ping to the server) does not prove that
// the room has answered: a room's queue is drained by whichever goroutine
// finds it undrained (muc/doc.go), possibly another client's, after the
// sender's session has gone on to its next stanza. A ping to the room
// itself is answered through the same queue, after everything the room
// queued before it: roomSync.

const (
	mucDomain    = "conference." + host
	nsMUC        = "http://jabber.org/protocol/muc"
	nsMUCUser    = nsMUC + "#user"
	nsMUCAdmin   = nsMUC + "#admin"
	nsMUCOwner   = nsMUC + "#owner"
	nsData       = "jabber:x:data"
	nsDiscoInfo  = "http://jabber.org/protocol/disco#info"
	nsDiscoItems = "http://jabber.org/protocol/disco#items"
	nsOccupantID = "urn:xmpp:occupant-id:0"
	nsStanzaID   = "urn:xmpp:sid:0"
)

// --- element access (xmppcore.Element's methods are not nil-safe)

// descend follows children by namespace and name; nil when one is missing.
func descend(el *xmppcore.Element, path ...string) *xmppcore.Element {
	for i := 0; i+1 < len(path) && el != nil; i += 2 {
		el = el.Child(path[i], path[i+1])
	}
	return el
}

func attrOf(el *xmppcore.Element, name string) string {
	if el == nil {
		return ""
	}
	return el.Attr(name)
}

// mucUser is the muc#user <x/> of a presence or message, or nil.
func mucUser(el *xmppcore.Element) *xmppcore.Element { return descend(el, nsMUCUser, "x") }

// mucItem is the muc#user <item/> of a presence, or nil.
func mucItem(el *xmppcore.Element) *xmppcore.Element {
	return descend(el, nsMUCUser, "x", nsMUCUser, "item")
}

// mucCodes returns the muc#user status codes of el, sorted.
func mucCodes(el *xmppcore.Element) []int {
	var codes []int
	if x := mucUser(el); x != nil {
		for s := range x.Children() {
			if s.Is(nsMUCUser, "status") {
				n, _ := strconv.Atoi(s.Attr("code"))
				codes = append(codes, n)
			}
		}
	}
	slices.Sort(codes)
	return codes
}

func hasCode(el *xmppcore.Element, code int) bool { return slices.Contains(mucCodes(el), code) }

// occupantID is the XEP-0421 occupant id of el ("" if none).
func occupantID(el *xmppcore.Element) string {
	return attrOf(descend(el, nsOccupantID, "occupant-id"), "id")
}

// roomStanzaIDs returns the ids of the XEP-0359 stanza ids of el given by
// room.
func roomStanzaIDs(el *xmppcore.Element, room string) []string {
	var ids []string
	for c := range el.Children() {
		if c.Is(nsStanzaID, "stanza-id") && c.Attr("by") == room {
			ids = append(ids, c.Attr("id"))
		}
	}
	return ids
}

// describeItem shows a muc#user item as text: affiliation, role, and the
// real JID and new nickname when present.
func describeItem(el *xmppcore.Element) string {
	it := mucItem(el)
	if it == nil {
		return "<no item>"
	}
	s := "affiliation=" + it.Attr("affiliation") + " role=" + it.Attr("role")
	if j := it.Attr("jid"); j != "" {
		s += " jid=" + j
	}
	if n := it.Attr("nick"); n != "" {
		s += " nick=" + n
	}
	return s
}

// --- matchers

// occPresence matches presence of type typ ("" for available) from the
// occupant JID occ with every status code given.
func occPresence(occ, typ string, codes ...int) func(*xmppcore.Element) bool {
	return func(el *xmppcore.Element) bool {
		if el.Local != xmppcore.Presence || el.Attr("from") != occ || el.Attr("type") != typ {
			return false
		}
		for _, c := range codes {
			if !hasCode(el, c) {
				return false
			}
		}
		return true
	}
}

// roomMessage matches a groupchat message from from with that body.
func roomMessage(from, body string) func(*xmppcore.Element) bool {
	return func(el *xmppcore.Element) bool {
		return el.Local == xmppcore.Message && el.Attr("type") == "groupchat" && el.Attr("from") == from &&
			el.Child("", "body") != nil && el.ChildText("", "body") == body
	}
}

// anyFromRoom matches any stanza from the room or one of its occupants.
func anyFromRoom(room string) func(*xmppcore.Element) bool {
	return func(el *xmppcore.Element) bool {
		from := el.Attr("from")
		return from == room || strings.HasPrefix(from, room+"/")
	}
}

// --- client actions

// roomSync is sync through the room: the room answers a ping after
// everything it queued before, for anyone, so once c has the answer every
// session has been handed what the room sent so far. It returns, and
// forgets, what c received before the answer that nobody took yet. The
// answer may be an error (a room that no longer exists, or is locked):
// it is the order that matters.
func (c *client) roomSync(room string) []*xmppcore.Element {
	c.t.Helper()
	id := c.nextID("roomsync")
	c.send(`<iq type='get' id='` + id + `' to='` + room + `'><ping xmlns='urn:xmpp:ping'/></iq>`)
	c.take("the answer to "+id, byID(id))
	got := c.backlog
	c.backlog = nil
	return got
}

// joined is a join as the newcomer saw it, in the order of §7.2: the
// others' presence, its own (110), the history, the subject.
type joined struct {
	others  []*xmppcore.Element
	self    *xmppcore.Element
	history []*xmppcore.Element
	subject *xmppcore.Element
}

// mucJoin joins room as nick with x inside the MUC <x/> (history,
// password) and returns what arrived from the room up to a roomSync. It fails
// the test unless the self-presence came, and checks the order: nothing
// from the room after the subject, no presence after the self-presence.
func (c *client) mucJoin(room, nick, x string) joined {
	c.t.Helper()
	occ := room + "/" + nick
	c.send(`<presence to='` + occ + `'><x xmlns='` + nsMUC + `'>` + x + `</x></presence>`)
	got := c.roomSync(room)
	var j joined
	for _, el := range got {
		switch {
		case !anyFromRoom(room)(el) || el.Local == xmppcore.Message && el.Attr("type") != "groupchat":
			c.backlog = append(c.backlog, el) // not the join's (an invitation, a private message)
		case j.self == nil && occPresence(occ, "", 110)(el):
			j.self = el
		case j.self == nil && el.Local == xmppcore.Presence && el.Attr("type") == "":
			j.others = append(j.others, el)
		case j.self != nil && j.subject == nil && el.Local == xmppcore.Message && el.Attr("type") == "groupchat" &&
			el.Child("", "subject") != nil && el.Child("", "body") == nil:
			j.subject = el
		case j.self != nil && j.subject == nil && el.Local == xmppcore.Message && el.Attr("type") == "groupchat":
			j.history = append(j.history, el)
		default:
			c.t.Errorf("%s: out of place in the join of %s: %s\neverything: %s", c.jid, occ, el, dump(got))
		}
	}
	if j.self == nil {
		c.t.Fatalf("%s: no self-presence (110) from %s after joining; got %s", c.jid, occ, dump(got))
	}
	if j.subject == nil {
		c.t.Errorf("%s: no subject after joining %s (§7.2.15: always, even empty); got %s", c.jid, occ, dump(got))
	}
	return j
}

// mucJoinError tries to join and returns the condition of the error
// presence the room answers with; it fails the test if the user got in.
func (c *client) mucJoinError(room, nick, x string) string {
	c.t.Helper()
	occ := room + "/" + nick
	c.send(`<presence to='` + occ + `'><x xmlns='` + nsMUC + `'>` + x + `</x></presence>`)
	got := c.roomSync(room)
	errs := filter(got, occPresence(occ, "error"))
	if len(errs) != 1 || count(got, occPresence(occ, "")) != 0 {
		c.t.Fatalf("%s: joining %s: %s; want one error presence, and not in the room", c.jid, occ, dump(got))
	}
	if descend(errs[0], nsMUC, "x") == nil {
		c.t.Errorf("%s: join error without <x xmlns='%s'/>: %s", c.jid, nsMUC, errs[0])
	}
	return errorCondition(errs[0])
}

// mucCreate creates room as nick (§10.1.1: self-presence with 201, the
// owner and moderator, the room locked) and accepts the default
// configuration with an empty form (instant room, §10.1.2).
func (c *client) mucCreate(room, nick string) joined {
	c.t.Helper()
	j := c.mucJoin(room, nick, "")
	if got := mucCodes(j.self); !slices.Equal(got, []int{110, 201}) {
		c.t.Errorf("%s: status codes %v creating %s, want [110 201]: %s", c.jid, got, room, j.self)
	}
	if got, want := describeItem(j.self), "affiliation=owner role=moderator jid="+c.jid; got != want {
		c.t.Errorf("%s: creator's item %s, want %s", c.jid, got, want)
	}
	c.mustIQ("set", room, `<query xmlns='`+nsMUCOwner+`'><x xmlns='`+nsData+`' type='submit'/></query>`)
	return j
}

// mucConfigure submits the room configuration form with the fields given
// as var, value pairs.
func (c *client) mucConfigure(room string, fields ...string) {
	c.t.Helper()
	var b strings.Builder
	b.WriteString(`<query xmlns='` + nsMUCOwner + `'><x xmlns='` + nsData + `' type='submit'>`)
	b.WriteString(`<field var='FORM_TYPE'><value>` + nsMUC + `#roomconfig</value></field>`)
	for i := 0; i+1 < len(fields); i += 2 {
		b.WriteString(`<field var='` + fields[i] + `'><value>` + xmppcore.EscapeAttr(fields[i+1]) + `</value></field>`)
	}
	b.WriteString(`</x></query>`)
	c.mustIQ("set", room, b.String())
}

// formFields returns the values of a data form's fields by var.
func formFields(x *xmppcore.Element) map[string][]string {
	out := map[string][]string{}
	if x == nil {
		return out
	}
	for f := range x.Children() {
		if !f.Is(nsData, "field") {
			continue
		}
		vals := []string{}
		for v := range f.Children() {
			if v.Is(nsData, "value") {
				vals = append(vals, v.Text())
			}
		}
		out[f.Attr("var")] = vals
	}
	return out
}

// mucConfigForm returns the fields of the room's configuration form.
func (c *client) mucConfigForm(room string) map[string][]string {
	c.t.Helper()
	res := c.mustIQ("get", room, `<query xmlns='`+nsMUCOwner+`'/>`)
	x := descend(res, nsMUCOwner, "query", nsData, "x")
	if x == nil || attrOf(x, "type") != "form" {
		c.t.Fatalf("%s: configuration of %s: no form in %s", c.jid, room, res)
	}
	return formFields(x)
}

// mucAffiliations returns the JIDs of the room's list of that affiliation.
func (c *client) mucAffiliations(room, aff string) []string {
	c.t.Helper()
	res := c.mustIQ("get", room, `<query xmlns='`+nsMUCAdmin+`'><item affiliation='`+aff+`'/></query>`)
	var out []string
	for it := range descend(res, nsMUCAdmin, "query").Children() {
		if it.Attr("affiliation") != aff {
			c.t.Errorf("%s: %s list of %s holds %s", c.jid, aff, room, it)
		}
		out = append(out, it.Attr("jid"))
	}
	slices.Sort(out)
	return out
}

// say sends a groupchat message with id to room.
func (c *client) say(room, id, body string) {
	c.t.Helper()
	c.send(`<message type='groupchat' to='` + room + `' id='` + id + `'><body>` + body + `</body></message>`)
}

// expectReflection takes the one copy of a groupchat message from occ
// (sent with id and body) from what c received up to a roomSync, checks it
// (the client's id kept, one stanza id by the room, occ's occupant id) and
// returns it.
func (c *client) expectReflection(room, occ, id, body, occID string) *xmppcore.Element {
	c.t.Helper()
	got := c.roomSync(room)
	copies := filter(got, roomMessage(occ, body))
	if len(copies) != 1 {
		c.t.Fatalf("%s: %d copies of %q from %s, want 1; got %s", c.jid, len(copies), body, occ, dump(got))
	}
	m := copies[0]
	if m.Attr("id") != id || m.Attr("to") != c.jid {
		c.t.Errorf("%s: copy of %q with id %q to %q, want id %q (§7.4) to %s", c.jid, body, m.Attr("id"), m.Attr("to"), id, c.jid)
	}
	if ids := roomStanzaIDs(m, room); len(ids) != 1 || ids[0] == "" {
		c.t.Errorf("%s: stanza ids by %s in %s: %q, want one", c.jid, room, m, ids)
	}
	if got := occupantID(m); got != occID || got == "" {
		c.t.Errorf("%s: occupant id %q in %s, want %q", c.jid, got, m, occID)
	}
	return m
}

// delayFromRoom checks the XEP-0203 delay the room put on a history
// message or the subject, and returns its stamp.
func delayFromRoom(t *testing.T, room string, el *xmppcore.Element) time.Time {
	t.Helper()
	d := descend(el, nsDelay, "delay")
	if d == nil {
		t.Errorf("no XEP-0203 delay in %s", el)
		return time.Time{}
	}
	if d.Attr("from") != room {
		t.Errorf("delay from %q, want the room %s: %s", d.Attr("from"), room, el)
	}
	ts, err := time.Parse(time.RFC3339Nano, d.Attr("stamp"))
	if err != nil || !strings.HasSuffix(d.Attr("stamp"), "Z") {
		t.Errorf("delay stamp %q: %v, want UTC", d.Attr("stamp"), err)
	}
	return ts
}

// --- tests

// TestMUCRoom: alice creates a room (201, locked until she accepts the
// default configuration), bob and carol join (the others' presence, their
// own with 110, the subject; real JIDs only to the moderator), groupchat
// messages reach every occupant once with the room's stanza id and the
// sender's occupant id (forged ones stripped), dave joining late gets the
// discussion history with delays before the subject, and private messages
// go from one occupant to another only.
func TestMUCRoom(t *testing.T) {
	t.Parallel()
	srv := start(t, []string{"alice", "bob", "carol", "dave"})
	alice, _ := online(t, srv, "alice", "phone", "")
	bob, _ := online(t, srv, "bob", "desk", "")
	carol, _ := online(t, srv, "carol", "tab", "")
	dave, _ := online(t, srv, "dave", "laptop", "")
	room := "tea@" + mucDomain
	occ := func(nick string) string { return room + "/" + nick }

	// Creation. The room is locked (§10.1.1) until configured: bob cannot
	// join it yet, and it is not listed.
	j := alice.mucJoin(room, "Alice", "")
	if got := mucCodes(j.self); !slices.Equal(got, []int{110, 201}) {
		t.Errorf("alice's status codes creating the room: %v, want [110 201]: %s", got, j.self)
	}
	if len(j.others) != 0 || len(j.history) != 0 {
		t.Errorf("a new room had occupants %s and history %s", dump(j.others), dump(j.history))
	}
	if j.subject != nil && (j.subject.ChildText("", "subject") != "" || j.subject.Attr("from") != room) {
		t.Errorf("the subject of a new room: %s, want an empty one from the room", j.subject)
	}
	if cond := bob.mucJoinError(room, "Bob", ""); cond != "item-not-found" {
		t.Errorf("joining a locked room: %s, want item-not-found (§7.2.11)", cond)
	}
	alice.mustIQ("set", room, `<query xmlns='`+nsMUCOwner+`'><x xmlns='`+nsData+`' type='submit'/></query>`)
	alice.send(`<message type='groupchat' to='` + room + `'><subject>Darjeeling or Assam?</subject></message>`)
	subj := alice.take("her subject change", func(el *xmppcore.Element) bool {
		return el.Attr("from") == occ("Alice") && el.ChildText("", "subject") == "Darjeeling or Assam?"
	})
	if subj.Attr("type") != "groupchat" {
		t.Errorf("the subject change as reflected: %s", subj)
	}

	// bob joins: alice's presence (no real JID: he is no moderator), his
	// own with 110 and his real JID, the subject from who set it.
	j = bob.mucJoin(room, "Bob", "")
	if len(j.others) != 1 || j.others[0].Attr("from") != occ("Alice") {
		t.Fatalf("bob's view of the occupants: %s, want alice", dump(j.others))
	}
	aliceID := occupantID(j.others[0])
	if got := describeItem(j.others[0]); got != "affiliation=owner role=moderator" {
		t.Errorf("alice's presence to bob: %s, want owner and moderator without her JID (semi-anonymous)", got)
	}
	if got, want := describeItem(j.self), "affiliation=none role=participant jid="+bob.jid; got != want {
		t.Errorf("bob's self-presence: %s, want %s", got, want)
	}
	if got := mucCodes(j.self); !slices.Equal(got, []int{110}) {
		t.Errorf("bob's self-presence codes: %v, want [110]", got)
	}
	if j.subject == nil || j.subject.ChildText("", "subject") != "Darjeeling or Assam?" || j.subject.Attr("from") != occ("Alice") {
		t.Errorf("the subject bob got: %s, want alice's", j.subject)
	} else {
		delayFromRoom(t, room, j.subject)
	}
	bobPres := alice.take("bob's presence", occPresence(occ("Bob"), ""))
	if got, want := describeItem(bobPres), "affiliation=none role=participant jid="+bob.jid; got != want {
		t.Errorf("bob's presence to alice, a moderator: %s, want %s", got, want)
	}
	bobID := occupantID(bobPres)
	if aliceID == "" || bobID == "" || aliceID == bobID {
		t.Errorf("occupant ids: alice %q, bob %q", aliceID, bobID)
	}
	if occupantID(j.self) != bobID {
		t.Errorf("bob's occupant id: %q to himself, %q to alice", occupantID(j.self), bobID)
	}

	// carol: both others, in no particular order.
	j = carol.mucJoin(room, "Carol", "")
	var seen []string
	for _, p := range j.others {
		seen = append(seen, p.Attr("from"))
		if attrOf(mucItem(p), "jid") != "" {
			t.Errorf("carol, a participant, sees a real JID: %s", p)
		}
	}
	slices.Sort(seen)
	if want := []string{occ("Alice"), occ("Bob")}; !slices.Equal(seen, want) {
		t.Errorf("carol's view of the occupants: %q, want %q", seen, want)
	}
	if p := alice.take("carol's presence", occPresence(occ("Carol"), "")); attrOf(mucItem(p), "jid") != carol.jid {
		t.Errorf("carol's presence to alice lacks her real JID: %s", p)
	}
	if p := bob.take("carol's presence", occPresence(occ("Carol"), "")); attrOf(mucItem(p), "jid") != "" {
		t.Errorf("carol's presence to bob shows her real JID: %s", p)
	}
	for _, c := range []*client{alice, bob, carol} {
		noneOf(t, c.jid, "more from the room after the joins", c.roomSync(room), anyFromRoom(room))
	}

	// Groupchat: each occupant gets one copy, with bob's id, the same
	// stanza id by the room, and bob's occupant id, not the forged ones.
	bob.send(`<message type='groupchat' to='` + room + `' id='m1'><body>milk first</body>` +
		`<occupant-id xmlns='` + nsOccupantID + `' id='forged'/>` +
		`<stanza-id xmlns='` + nsStanzaID + `' by='` + room + `' id='forged'/></message>`)
	var stanzaIDs []string
	for _, c := range []*client{bob, alice, carol} {
		m := c.expectReflection(room, occ("Bob"), "m1", "milk first", bobID)
		stanzaIDs = append(stanzaIDs, roomStanzaIDs(m, room)...)
	}
	if len(stanzaIDs) != 3 || stanzaIDs[0] != stanzaIDs[1] || stanzaIDs[1] != stanzaIDs[2] || stanzaIDs[0] == "forged" {
		t.Errorf("stanza ids of one message to its three recipients: %q, want one id, the room's", stanzaIDs)
	}
	alice.say(room, "m2", "never")
	early := alice.roomSync(room) // handled before carol's, whatever the connections do
	carol.say(room, "m3", "only with Assam")
	for _, c := range []*client{carol, alice, bob} { // carol's own sync first: then hers is handled
		got := c.roomSync(room)
		if c == alice {
			got = append(early, got...)
		}
		for _, m := range []func(*xmppcore.Element) bool{roomMessage(occ("Alice"), "never"), roomMessage(occ("Carol"), "only with Assam")} {
			if n := count(got, m); n != 1 {
				t.Errorf("%s got %d copies of a message, want 1: %s", c.jid, n, dump(got))
			}
		}
	}

	// dave joins late: the history, oldest first, as reflected (same
	// stanza ids), each with a delay from the room; then the subject.
	before := time.Now().UTC()
	j = dave.mucJoin(room, "Dave", "")
	var bodies []string
	for _, m := range j.history {
		bodies = append(bodies, m.Attr("from")+": "+m.ChildText("", "body"))
		if ts := delayFromRoom(t, room, m); ts.After(before) {
			t.Errorf("history stamped %v, after dave's join (%v): %s", ts, before, m)
		}
		if occupantID(m) == "" || len(roomStanzaIDs(m, room)) != 1 {
			t.Errorf("history message without its occupant id or stanza id: %s", m)
		}
	}
	want := []string{occ("Bob") + ": milk first", occ("Alice") + ": never", occ("Carol") + ": only with Assam"}
	if !slices.Equal(bodies, want) {
		t.Errorf("dave's history: %q, want %q", bodies, want)
	}
	if len(j.history) > 0 && len(stanzaIDs) > 0 && !slices.Equal(roomStanzaIDs(j.history[0], room), stanzaIDs[:1]) {
		t.Errorf("history keeps the stanza id: %s, live %q", j.history[0], stanzaIDs[0])
	}
	if len(j.others) != 3 {
		t.Errorf("dave's view of the occupants: %s", dump(j.others))
	}
	for _, c := range []*client{alice, bob, carol} {
		c.take("dave's presence", occPresence(occ("Dave"), ""))
	}

	// Leaving and coming back asking for one stanza of history.
	dave.send(`<presence type='unavailable' to='` + occ("Dave") + `'/>`)
	if p := dave.take("his own unavailable presence", occPresence(occ("Dave"), "unavailable", 110)); describeItem(p) != "affiliation=none role=none jid="+dave.jid {
		t.Errorf("dave's unavailable self-presence: %s", p)
	}
	for _, c := range []*client{alice, bob, carol} {
		c.take("dave's unavailable presence", occPresence(occ("Dave"), "unavailable"))
	}
	j = dave.mucJoin(room, "Dave", `<history maxstanzas='1'/>`)
	if len(j.history) != 1 || j.history[0].ChildText("", "body") != "only with Assam" {
		t.Errorf("history with maxstanzas=1: %s, want carol's message", dump(j.history))
	}
	for _, c := range []*client{alice, bob, carol} {
		c.take("dave's presence", occPresence(occ("Dave"), ""))
	}

	// A private message: to carol's session only, from bob's occupant JID,
	// marked with the muc#user <x/>.
	bob.send(`<message type='chat' to='` + occ("Carol") + `' id='pm1'><body>psst</body></message>`)
	bob.roomSync(room)
	pm := carol.take("bob's private message", chat("psst"))
	if pm.Attr("from") != occ("Bob") || pm.Attr("to") != carol.jid || pm.Attr("type") != "chat" || mucUser(pm) == nil {
		t.Errorf("the private message as carol got it: %s, want chat from %s to %s with <x xmlns='%s'/>", pm, occ("Bob"), carol.jid, nsMUCUser)
	}
	if occupantID(pm) != bobID {
		t.Errorf("the private message's occupant id: %q, want bob's %q", occupantID(pm), bobID)
	}
	noneOf(t, "carol", "a second copy", carol.roomSync(room), chat("psst"))
	for _, c := range []*client{alice, dave, bob} {
		noneOf(t, c.jid, "bob's private message to carol", c.roomSync(room), chat("psst"))
	}
	res := bob.iq("get", occ("Nobody"), `<ping xmlns='urn:xmpp:ping'/>`)
	bob.send(`<message type='chat' to='` + occ("Nobody") + `' id='pm2'><body>hello?</body></message>`)
	if e := bob.take("the error for a message to nobody", byID("pm2")); errorCondition(e) != "item-not-found" {
		t.Errorf("a private message to a nickname not in the room: %s, want item-not-found", e)
	}
	if errorCondition(res) != "item-not-found" {
		t.Errorf("an IQ to a nickname not in the room: %s, want item-not-found", res)
	}
}

// TestMUCModeration: a nickname change (303 from the old nickname with the
// new one, then presence from the new one), a kick by the owner (307, with
// the actor and reason, after which the user may come back), a ban (301,
// after which the user cannot come back: forbidden), a participant's kick
// refused, and the room destroyed with an alternate venue: every occupant
// told once, and the room gone.
func TestMUCModeration(t *testing.T) {
	t.Parallel()
	srv := start(t, []string{"alice", "bob", "carol"})
	alice, _ := online(t, srv, "alice", "phone", "")
	bob, _ := online(t, srv, "bob", "desk", "")
	carol, _ := online(t, srv, "carol", "tab", "")
	room := "court@" + mucDomain
	occ := func(nick string) string { return room + "/" + nick }
	alice.mucCreate(room, "Queen")
	bob.mucJoin(room, "Bob", "")
	carol.mucJoin(room, "Carol", "")
	for _, c := range []*client{alice, bob} {
		c.take("carol's presence", occPresence(occ("Carol"), ""))
	}
	alice.take("bob's presence", occPresence(occ("Bob"), ""))

	// bob becomes Knave (§7.6).
	bob.send(`<presence to='` + occ("Knave") + `'/>`)
	got := bob.roomSync(room)
	out := filter(got, occPresence(occ("Bob"), "unavailable", 303, 110))
	in := filter(got, occPresence(occ("Knave"), "", 110))
	if len(out) != 1 || len(in) != 1 || attrOf(mucItem(out[0]), "nick") != "Knave" {
		t.Fatalf("bob's nickname change as he saw it: %s; want unavailable from Bob with 303, 110 and nick Knave, then presence from Knave with 110", dump(got))
	}
	for _, c := range []*client{alice, carol} {
		got := c.roomSync(room)
		i := slices.IndexFunc(got, occPresence(occ("Bob"), "unavailable", 303))
		k := slices.IndexFunc(got, occPresence(occ("Knave"), ""))
		if i < 0 || k < i || attrOf(mucItem(got[i]), "nick") != "Knave" || hasCode(got[i], 110) {
			t.Errorf("%s: bob's nickname change: %s; want unavailable from Bob with 303 and nick Knave, then presence from Knave", c.jid, dump(got))
		}
	}
	bob.say(room, "k1", "renamed")
	for _, c := range []*client{bob, alice, carol} {
		if n := count(c.roomSync(room), roomMessage(occ("Knave"), "renamed")); n != 1 {
			t.Errorf("%s got %d copies of a message from the new nickname, want 1", c.jid, n)
		}
	}

	// A participant may not kick (§8.2: only moderators).
	if res := bob.iq("set", room, `<query xmlns='`+nsMUCAdmin+`'><item nick='Carol' role='none'/></query>`); errorCondition(res) != "forbidden" {
		t.Errorf("a participant's kick: %s, want forbidden", res)
	}

	// The owner kicks carol (§8.2).
	alice.mustIQ("set", room, `<query xmlns='`+nsMUCAdmin+`'><item nick='Carol' role='none'><reason>Off with her head</reason></item></query>`)
	p := carol.take("her kick", occPresence(occ("Carol"), "unavailable"))
	if !slices.Equal(mucCodes(p), []int{110, 307}) || attrOf(descend(mucItem(p), nsMUCUser, "actor"), "nick") != "Queen" ||
		descend(mucItem(p), nsMUCUser, "reason") == nil || mucItem(p).ChildText(nsMUCUser, "reason") != "Off with her head" {
		t.Errorf("carol's kick as she got it: %s; want 307 and 110, actor Queen and the reason", p)
	}
	if got := describeItem(p); got != "affiliation=none role=none jid="+carol.jid {
		t.Errorf("carol's kick item: %s", got)
	}
	for _, c := range []*client{alice, bob} {
		got := c.roomSync(room)
		kicks := filter(got, occPresence(occ("Carol"), "unavailable", 307))
		if len(kicks) != 1 || hasCode(kicks[0], 110) {
			t.Errorf("%s: carol's kick: %s; want one unavailable presence with 307", c.jid, dump(got))
		}
	}
	carol.say(room, "c1", "still here?")
	if e := carol.take("the error for a message after the kick", byID("c1")); errorCondition(e) != "not-acceptable" {
		t.Errorf("groupchat after a kick: %s, want not-acceptable (not an occupant)", e)
	}
	noneOf(t, "bob", "a kicked user's message", bob.roomSync(room), anyBody)

	// A kick is no ban: carol comes back, and is banned (§9.1).
	carol.mucJoin(room, "Carol", "")
	alice.roomSync(room)
	bob.roomSync(room)
	alice.mustIQ("set", room, `<query xmlns='`+nsMUCAdmin+`'><item jid='carol@localhost' affiliation='outcast'><reason>Treason</reason></item></query>`)
	p = carol.take("her ban", occPresence(occ("Carol"), "unavailable"))
	if !slices.Equal(mucCodes(p), []int{110, 301}) || describeItem(p) != "affiliation=outcast role=none jid="+carol.jid ||
		mucItem(p).ChildText(nsMUCUser, "reason") != "Treason" {
		t.Errorf("carol's ban as she got it: %s; want 301 and 110, outcast, the reason", p)
	}
	for _, c := range []*client{alice, bob} {
		bans := filter(c.roomSync(room), occPresence(occ("Carol"), "unavailable", 301))
		if len(bans) != 1 || attrOf(mucItem(bans[0]), "affiliation") != "outcast" {
			t.Errorf("%s: carol's ban: %s; want one unavailable presence with 301, outcast", c.jid, dump(bans))
		}
	}
	if cond := carol.mucJoinError(room, "Carol", ""); cond != "forbidden" {
		t.Errorf("a banned user's join: %s, want forbidden (§7.2.7)", cond)
	}
	if cond := carol.mucJoinError(room, "Someone Else", ""); cond != "forbidden" {
		t.Errorf("a banned user's join under another nickname: %s, want forbidden", cond)
	}
	if got := alice.mucAffiliations(room, "outcast"); !slices.Equal(got, []string{"carol@localhost"}) {
		t.Errorf("the ban list: %q, want carol", got)
	}
	noneOf(t, "alice", "carol's refused joins", alice.roomSync(room), occPresence(occ("Carol"), ""))

	// Destruction (§10.9): bob and alice each get one unavailable presence
	// with the <destroy/> and its alternate venue and reason.
	venue := "hall@" + mucDomain
	alice.mustIQ("set", room, `<query xmlns='`+nsMUCOwner+`'><destroy jid='`+venue+`'><reason>Moving to the hall</reason></destroy></query>`)
	for _, c := range []*client{alice, bob} {
		got := c.roomSync(room)
		gone := filter(got, anyFromRoom(room))
		if len(gone) != 1 || gone[0].Local != xmppcore.Presence || gone[0].Attr("type") != "unavailable" {
			t.Errorf("%s: the room's destruction: %s; want one unavailable presence", c.jid, dump(got))
			continue
		}
		d := descend(gone[0], nsMUCUser, "x", nsMUCUser, "destroy")
		if attrOf(d, "jid") != venue || d.ChildText(nsMUCUser, "reason") != "Moving to the hall" {
			t.Errorf("%s: the destruction without the alternate venue and reason: %s", c.jid, gone[0])
		}
	}
	res := bob.iq("get", room, `<query xmlns='`+nsDiscoInfo+`'/>`)
	if errorCondition(res) != "item-not-found" {
		t.Errorf("disco#info of a destroyed room: %s, want item-not-found", res)
	}
	bob.say(room, "b1", "anyone?")
	if e := bob.take("the error for a message to the destroyed room", byID("b1")); errorCondition(e) != "item-not-found" {
		t.Errorf("groupchat to a destroyed room: %s, want item-not-found", e)
	}
}

// TestMUCAccessControl: a room made members-only removes its non-members
// (322) and refuses them (registration-required) until an admin makes them
// members, which invites them (§9.5); a password-protected room refuses a
// join without the password or with a wrong one (not-authorized).
func TestMUCAccessControl(t *testing.T) {
	t.Parallel()
	srv := start(t, []string{"alice", "bob", "carol"})
	alice, _ := online(t, srv, "alice", "phone", "")
	bob, _ := online(t, srv, "bob", "desk", "")
	carol, _ := online(t, srv, "carol", "tab", "")

	club := "club@" + mucDomain
	alice.mucCreate(club, "Alice")
	carol.mucJoin(club, "Carol", "")
	alice.mucConfigure(club, "muc#roomconfig_membersonly", "1")
	p := carol.take("her removal", occPresence(club+"/Carol", "unavailable"))
	if !slices.Equal(mucCodes(p), []int{110, 322}) {
		t.Errorf("a non-member when the room becomes members-only: %s, want 322 and 110 (§10.2)", p)
	}
	if gone := filter(alice.roomSync(club), occPresence(club+"/Carol", "unavailable", 322)); len(gone) != 1 {
		t.Errorf("alice did not see carol removed with 322 once: %s", dump(gone))
	}
	if cond := bob.mucJoinError(club, "Bob", ""); cond != "registration-required" {
		t.Errorf("a non-member's join: %s, want registration-required (§7.2.6)", cond)
	}
	alice.mustIQ("set", club, `<query xmlns='`+nsMUCAdmin+`'><item jid='bob@localhost' affiliation='member'/></query>`)
	inv := bob.take("the invitation", func(el *xmppcore.Element) bool {
		return el.Local == xmppcore.Message && el.Attr("from") == club && descend(el, nsMUCUser, "x", nsMUCUser, "invite") != nil
	})
	if from := attrOf(descend(inv, nsMUCUser, "x", nsMUCUser, "invite"), "from"); from != "alice@localhost" {
		t.Errorf("the invitation of a new member comes from %q, want alice@localhost: %s", from, inv)
	}
	j := bob.mucJoin(club, "Bob", "")
	if got, want := describeItem(j.self), "affiliation=member role=participant jid="+bob.jid; got != want {
		t.Errorf("a member's self-presence: %s, want %s", got, want)
	}
	if got := alice.mucAffiliations(club, "member"); !slices.Equal(got, []string{"bob@localhost"}) {
		t.Errorf("the member list: %q", got)
	}
	if cond := carol.mucJoinError(club, "Carol", ""); cond != "registration-required" {
		t.Errorf("carol still a non-member: %s, want registration-required", cond)
	}

	vault := "vault@" + mucDomain
	alice.mucCreate(vault, "Alice")
	alice.mucConfigure(vault, "muc#roomconfig_passwordprotectedroom", "1", "muc#roomconfig_roomsecret", "open sesame")
	got := alice.roomSync(vault)
	if n := count(got, func(el *xmppcore.Element) bool {
		return el.Local == xmppcore.Message && el.Attr("from") == vault && el.Attr("type") == "groupchat" && slices.Equal(mucCodes(el), []int{104})
	}); n != 1 {
		t.Errorf("alice after configuring the room she is in: %s; want one message with 104 (§10.2.1)", dump(got))
	}
	for _, x := range []string{"", `<password>open says me</password>`} {
		if cond := carol.mucJoinError(vault, "Carol", x); cond != "not-authorized" {
			t.Errorf("a join with %q: %s, want not-authorized (§7.2.5)", x, cond)
		}
	}
	carol.mucJoin(vault, "Carol", `<password>open sesame</password>`)
	if got := filter(alice.roomSync(vault), func(el *xmppcore.Element) bool { return el.Local == xmppcore.Presence }); len(got) != 1 || !occPresence(vault+"/Carol", "")(got[0]) {
		t.Errorf("alice saw of the joins to the password room: %s, want carol's presence alone", dump(got))
	}
}

// discoFeatures returns the features of a disco#info result.
func discoFeatures(res *xmppcore.Element) []string {
	var out []string
	if q := descend(res, nsDiscoInfo, "query"); q != nil {
		for f := range q.Children() {
			if f.Is(nsDiscoInfo, "feature") {
				out = append(out, f.Attr("var"))
			}
		}
	}
	return out
}

// discoItems returns the items of a disco#items result as jid or
// jid=name.
func discoItems(res *xmppcore.Element) []string {
	var out []string
	if q := descend(res, nsDiscoItems, "query"); q != nil {
		for it := range q.Children() {
			s := it.Attr("jid")
			if n := it.Attr("name"); n != "" {
				s += "=" + n
			}
			out = append(out, s)
		}
	}
	return out
}

// TestMUCDisco: the server lists the service; the service is a
// conference/text entity with the MUC feature and lists its public rooms
// (not hidden or locked ones); a room's disco#info has the muc_* features
// of its configuration and the muc#roominfo form; its occupants are
// listed to occupants only.
func TestMUCDisco(t *testing.T) {
	t.Parallel()
	srv := start(t, []string{"alice", "bob"})
	alice, _ := online(t, srv, "alice", "phone", "")
	bob, _ := online(t, srv, "bob", "desk", "")

	if items := discoItems(alice.mustIQ("get", host, `<query xmlns='`+nsDiscoItems+`'/>`)); !slices.Contains(items, mucDomain) {
		t.Errorf("the server's disco#items: %q, want %s", items, mucDomain)
	}
	res := alice.mustIQ("get", mucDomain, `<query xmlns='`+nsDiscoInfo+`'/>`)
	id := descend(res, nsDiscoInfo, "query", nsDiscoInfo, "identity")
	if attrOf(id, "category") != "conference" || attrOf(id, "type") != "text" {
		t.Errorf("the service's identity: %s, want conference/text", res)
	}
	if f := discoFeatures(res); !slices.Contains(f, nsMUC) {
		t.Errorf("the service's features: %q, want %s", f, nsMUC)
	}

	lobby := "lobby@" + mucDomain
	alice.mucCreate(lobby, "Alice")
	alice.mucConfigure(lobby, "muc#roomconfig_roomname", "The Lobby", "muc#roomconfig_roomdesc", "Wait here",
		"muc#roomconfig_moderatedroom", "1")
	alice.send(`<message type='groupchat' to='` + lobby + `'><subject>Welcome</subject></message>`)
	attic := "attic@" + mucDomain
	alice.mucCreate(attic, "Alice")
	alice.mucConfigure(attic, "muc#roomconfig_publicroom", "0")
	alice.mucJoin("cellar@"+mucDomain, "Alice", "") // locked: never configured
	alice.roomSync(lobby)

	if items := discoItems(bob.mustIQ("get", mucDomain, `<query xmlns='`+nsDiscoItems+`'/>`)); !slices.Equal(items, []string{lobby + "=The Lobby"}) {
		t.Errorf("the service's rooms: %q, want only the lobby, with its name (not the hidden attic, nor the locked cellar)", items)
	}

	res = bob.mustIQ("get", lobby, `<query xmlns='`+nsDiscoInfo+`'/>`)
	id = descend(res, nsDiscoInfo, "query", nsDiscoInfo, "identity")
	if attrOf(id, "category") != "conference" || attrOf(id, "type") != "text" || attrOf(id, "name") != "The Lobby" {
		t.Errorf("the room's identity: %s, want conference/text named The Lobby", res)
	}
	f := discoFeatures(res)
	for _, want := range []string{nsMUC, "muc_public", "muc_open", "muc_moderated", "muc_unsecured", "muc_temporary", "muc_semianonymous"} {
		if !slices.Contains(f, want) {
			t.Errorf("the room's features %q lack %s", f, want)
		}
	}
	for _, not := range []string{"muc_hidden", "muc_membersonly", "muc_unmoderated", "muc_passwordprotected", "muc_persistent", "muc_nonanonymous"} {
		if slices.Contains(f, not) {
			t.Errorf("the room's features %q have %s", f, not)
		}
	}
	var info map[string][]string
	for x := range descend(res, nsDiscoInfo, "query").Children() {
		if x.Is(nsData, "x") {
			if v := formFields(x); slices.Equal(v["FORM_TYPE"], []string{nsMUC + "#roominfo"}) {
				info = v
			}
		}
	}
	if info == nil {
		t.Fatalf("no muc#roominfo form in the room's disco#info: %s", res)
	}
	for k, want := range map[string]string{"muc#roominfo_description": "Wait here", "muc#roominfo_subject": "Welcome", "muc#roominfo_occupants": "1"} {
		if got := info[k]; !slices.Equal(got, []string{want}) {
			t.Errorf("muc#roominfo %s: %q, want %q", k, got, want)
		}
	}
	if got := discoFeatures(bob.mustIQ("get", attic, `<query xmlns='`+nsDiscoInfo+`'/>`)); !slices.Contains(got, "muc_hidden") {
		t.Errorf("the hidden room's features: %q, want muc_hidden", got)
	}

	// Occupants are listed to occupants (§6.5), not to others.
	if items := discoItems(bob.mustIQ("get", lobby, `<query xmlns='`+nsDiscoItems+`'/>`)); len(items) != 0 {
		t.Errorf("the room's occupants as listed to a non-occupant: %q, want none", items)
	}
	if items := discoItems(alice.mustIQ("get", lobby, `<query xmlns='`+nsDiscoItems+`'/>`)); !slices.Equal(items, []string{lobby + "/Alice"}) {
		t.Errorf("the room's occupants as listed to an occupant: %q", items)
	}
}

// TestMUCSessionEnds: a user whose connection drops (no stream end, no
// unavailable presence) is removed from the room, and the others get its
// unavailable presence; so is a user whose session broadcasts unavailable
// presence and stays connected. Back in a new session, the first is no
// occupant: its messages to the room are refused.
func TestMUCSessionEnds(t *testing.T) {
	t.Parallel()
	srv := start(t, []string{"alice", "bob", "carol"})
	alice, _ := online(t, srv, "alice", "phone", "")
	bob, _ := online(t, srv, "bob", "desk", "")
	carol, _ := online(t, srv, "carol", "tab", "")
	room := "pub@" + mucDomain
	alice.mucCreate(room, "Alice")
	bob.mucJoin(room, "Bob", "")
	carol.mucJoin(room, "Carol", "")
	alice.roomSync(room)

	ended := sessionsEnded(t, srv, "bob@localhost", 1)
	tc, ok := bob.c.Conn.(*tls.Conn)
	if !ok {
		t.Fatalf("bob's connection is a %T, not TLS", bob.c.Conn)
	}
	_ = tc.NetConn().Close() // no close_notify, no </stream:stream>
	ended()
	for _, c := range []*client{alice, carol} {
		got := c.roomSync(room)
		gone := filter(got, occPresence(room+"/Bob", "unavailable"))
		if len(gone) != 1 || attrOf(mucItem(gone[0]), "role") != "none" || hasCode(gone[0], 110) {
			t.Errorf("%s: bob's connection dropped: %s; want his unavailable presence once", c.jid, dump(got))
		}
	}
	if items := discoItems(alice.mustIQ("get", room, `<query xmlns='`+nsDiscoItems+`'/>`)); !slices.Equal(items, []string{room + "/Alice", room + "/Carol"}) {
		t.Errorf("the occupants after bob's drop: %q", items)
	}

	bob = login(t, srv, "bob", "desk")
	bob.say(room, "b1", "I'm back")
	if e := bob.take("the error for a message from a former occupant", byID("b1")); errorCondition(e) != "not-acceptable" {
		t.Errorf("groupchat from the same full JID after the drop: %s, want not-acceptable (not an occupant)", e)
	}
	noneOf(t, "alice", "a message from a former occupant", alice.roomSync(room), anyBody)

	// carol goes unavailable but stays connected (RFC 6121 §4.6.3: that
	// ends her directed presence, so she leaves the room).
	carol.send(`<presence type='unavailable'/>`)
	carol.sync() // the broadcast is handled in her session, before the ping
	got := alice.roomSync(room)
	if gone := filter(got, occPresence(room+"/Carol", "unavailable")); len(gone) != 1 {
		t.Errorf("alice: carol's unavailable broadcast: %s; want her unavailable presence once", dump(got))
	}
	if items := discoItems(alice.mustIQ("get", room, `<query xmlns='`+nsDiscoItems+`'/>`)); !slices.Equal(items, []string{room + "/Alice"}) {
		t.Errorf("the occupants after carol's unavailable presence: %q", items)
	}
}

// TestMUCPersistentRoomRestart: a persistent room, its configuration, its
// affiliations (with a registered nickname and a ban reason), its subject
// and its archive are stored, in SQLite and in PostgreSQL, and are all
// there after a restart on the same data; the room is listed before
// anyone enters it, its rules apply (the ban, the reserved nickname,
// members-only), and occupant ids are the same as before (derived from
// the server's persistent secret).
func TestMUCPersistentRoomRestart(t *testing.T) {
	t.Parallel()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		mucRestart(t, func(*config.Config) {})
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		mucRestart(t, withPostgres(t))
	})
}

func mucRestart(t *testing.T, backend func(*config.Config)) {
	dir := t.TempDir()
	conf := func(c *config.Config) { c.DataDir = dir; backend(c) }
	srv := start(t, []string{"alice", "bob", "carol", "mallory"}, conf)
	alice, _ := online(t, srv, "alice", "phone", "")
	bob, _ := online(t, srv, "bob", "desk", "")
	room := "council@" + mucDomain
	occ := func(nick string) string { return room + "/" + nick }

	alice.mucCreate(room, "Queen")
	alice.mucConfigure(room, "muc#roomconfig_persistentroom", "1", "muc#roomconfig_roomname", "The Council",
		"muc#roomconfig_roomdesc", "Where it is decided", "muc#roomconfig_membersonly", "1",
		"muc#roomconfig_moderatedroom", "1", "muc#roomconfig_maxusers", "20", "muc#roomconfig_whois", "anyone",
		"muc#roomconfig_changesubject", "1", "muc#roomconfig_allowpm", "participants", "muc#maxhistoryfetch", "7",
		"muc#roomconfig_enablearchiving", "1", "muc#roomconfig_getmemberlist", "participant")
	alice.mustIQ("set", room, `<query xmlns='`+nsMUCAdmin+`'>`+
		`<item jid='bob@localhost' affiliation='member' nick='Robert'/>`+
		`<item jid='carol@localhost' affiliation='admin'/>`+
		`<item jid='mallory@localhost' affiliation='outcast'><reason>Eavesdropping</reason></item></query>`)
	alice.send(`<message type='groupchat' to='` + room + `'><subject>Agenda: tea</subject></message>`)
	form := alice.mucConfigForm(room)
	lists := map[string][]string{}
	for _, aff := range []string{"owner", "admin", "member", "outcast"} {
		lists[aff] = alice.mucAffiliations(room, aff)
	}
	want := map[string][]string{"owner": {"alice@localhost"}, "admin": {"carol@localhost"},
		"member": {"bob@localhost"}, "outcast": {"mallory@localhost"}}
	for aff, jids := range want {
		if !slices.Equal(lists[aff], jids) {
			t.Fatalf("the %s list before the restart: %q, want %q", aff, lists[aff], jids)
		}
	}
	bob.take("the invitation that comes with membership", func(el *xmppcore.Element) bool {
		return el.Attr("from") == room && descend(el, nsMUCUser, "x", nsMUCUser, "invite") != nil
	})
	j := bob.mucJoin(room, "Robert", "")
	if len(j.others) != 1 {
		t.Fatalf("bob's view of the room before the restart: %s", dump(j.others))
	}
	aliceID := occupantID(j.others[0])
	alice.say(room, "before", "Said before the restart")
	alice.roomSync(room)

	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}

	srv = start(t, nil, conf)
	bob = login(t, srv, "bob", "desk")
	// Listed from storage, before anyone addresses it.
	if items := discoItems(bob.mustIQ("get", mucDomain, `<query xmlns='`+nsDiscoItems+`'/>`)); !slices.Equal(items, []string{room + "=The Council"}) {
		t.Errorf("the service's rooms after the restart: %q, want the council with its name", items)
	}
	alice = login(t, srv, "alice", "phone")
	j = alice.mucJoin(room, "Queen", "")
	if got := mucCodes(j.self); slices.Contains(got, 201) || !slices.Contains(got, 100) {
		t.Errorf("alice's status codes joining after the restart: %v; want no 201 (not created again), 100 (non-anonymous)", got)
	}
	if j.subject == nil || j.subject.ChildText("", "subject") != "Agenda: tea" || j.subject.Attr("from") != occ("Queen") {
		t.Errorf("the subject after the restart: %s, want alice's", j.subject)
	} else {
		delayFromRoom(t, room, j.subject)
	}
	if got := alice.mucConfigForm(room); !equalForms(got, form) {
		t.Errorf("the configuration after the restart:\n%v\nwant\n%v", got, form)
	}
	for aff, jids := range want {
		if got := alice.mucAffiliations(room, aff); !slices.Equal(got, jids) {
			t.Errorf("the %s list after the restart: %q, want %q", aff, got, jids)
		}
	}
	res := alice.mustIQ("get", room, `<query xmlns='`+nsMUCAdmin+`'><item affiliation='outcast'/></query>`)
	if r := descend(res, nsMUCAdmin, "query", nsMUCAdmin, "item"); r == nil || r.ChildText(nsMUCAdmin, "reason") != "Eavesdropping" {
		t.Errorf("the ban reason after the restart: %s", res)
	}
	f := discoFeatures(alice.mustIQ("get", room, `<query xmlns='`+nsDiscoInfo+`'/>`))
	for _, want := range []string{"muc_persistent", "muc_membersonly", "muc_moderated", "muc_nonanonymous"} {
		if !slices.Contains(f, want) {
			t.Errorf("the room's features after the restart %q lack %s", f, want)
		}
	}

	// The rules hold: mallory is banned, carol (an admin) may not take
	// bob's registered nickname, bob gets in under it.
	mallory := login(t, srv, "mallory", "ear")
	if cond := mallory.mucJoinError(room, "Mallory", ""); cond != "forbidden" {
		t.Errorf("the banned user after the restart: %s, want forbidden", cond)
	}
	carol := login(t, srv, "carol", "tab")
	if cond := carol.mucJoinError(room, "Robert", ""); cond != "conflict" {
		t.Errorf("another user taking a registered nickname after the restart: %s, want conflict", cond)
	}
	j = bob.mucJoin(room, "Robert", "")
	if got, want := describeItem(j.self), "affiliation=member role=participant jid="+bob.jid; got != want {
		t.Errorf("bob's self-presence after the restart: %s, want %s", got, want)
	}
	if len(j.others) != 1 || occupantID(j.others[0]) != aliceID || aliceID == "" {
		t.Errorf("alice's occupant id after the restart: %s, want %q as before", dump(j.others), aliceID)
	}
	if got := attrOf(mucItem(j.others[0]), "jid"); got != alice.jid {
		t.Errorf("alice's real JID as bob sees it in the non-anonymous room: %q, want %s", got, alice.jid)
	}
	// The room archive kept the message (XEP-0313 on the room JID).
	bob.send(`<iq type='set' id='arch' to='` + room + `'><query xmlns='urn:xmpp:mam:2' queryid='a1'/></iq>`)
	got := bob.take("the archived message", func(el *xmppcore.Element) bool {
		return el.Local == xmppcore.Message && el.Attr("from") == room && descend(el, "urn:xmpp:mam:2", "result") != nil
	})
	var fwd *xmppcore.Element
	if f := descend(got, "urn:xmpp:mam:2", "result", "urn:xmpp:forward:0", "forwarded"); f != nil {
		for c := range f.Children() {
			if c.Local == xmppcore.Message {
				fwd = c
			}
		}
	}
	if fwd == nil || !strings.Contains(fwd.String(), "Said before the restart") || fwd.Attr("from") != occ("Queen") {
		t.Errorf("the room archive after the restart: %s", got)
	}
	bob.take("the archive query's answer", func(el *xmppcore.Element) bool {
		return el.Local == xmppcore.IQ && el.Attr("id") == "arch" && el.Attr("type") == "result"
	})
}

// equalForms compares two forms' fields and values.
func equalForms(a, b map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || !slices.Equal(v, w) {
			return false
		}
	}
	return true
}

// TestMUCShutdownTellsOccupants: on an orderly shutdown the occupants of
// a room are told they leave it because the service shuts down (status
// 332, which muc.MUC.Stop documents), before their streams end.
func TestMUCShutdownTellsOccupants(t *testing.T) {
	t.Parallel()
	srv := start(t, []string{"alice", "bob"})
	alice, _ := online(t, srv, "alice", "phone", "")
	bob, _ := online(t, srv, "bob", "desk", "")
	room := "ark@" + mucDomain
	alice.mucCreate(room, "Noah")
	bob.mucJoin(room, "Bob", "")
	alice.roomSync(room)
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	for _, c := range []*client{alice, bob} {
		var got []*xmppcore.Element
		for {
			el, err := c.c.NextErr()
			if err != nil {
				break
			}
			got = append(got, el)
		}
		self := filter(got, func(el *xmppcore.Element) bool {
			return el.Local == xmppcore.Presence && strings.HasPrefix(el.Attr("from"), room+"/") &&
				el.Attr("type") == "unavailable" && slices.Equal(mucCodes(el), []int{110, 332})
		})
		if len(self) != 1 {
			t.Errorf("%s at shutdown: %s; want its unavailable presence from the room with 110 and 332 once", c.jid, dump(got))
		}
	}
}

// flagWriter is a log writer that raises its flag when a record holds
// every one of its words (slog writes a record in one Write).
type flagWriter struct {
	words [][]byte
	seen  atomic.Bool
}

func (w *flagWriter) Write(p []byte) (int, error) {
	for _, word := range w.words {
		if !bytes.Contains(p, word) {
			return len(p), nil
		}
	}
	w.seen.Store(true)
	return len(p), nil
}

// TestMUCSlowOccupant: an occupant that never reads, with a small c2s
// queue, is dropped from the room without delaying the others. alice
// floods bob through the room with private messages of 16 KB, which fill
// his socket buffers and then his queue, and with each sends a short
// groupchat message to everyone, which carol, a third occupant, must get
// in lockstep, in order, once; when bob's queue overflows his session is
// closed and everyone left sees him leave. If the room's delivery waited
// for bob, carol's copies would stop coming and the test would fail on
// its read deadline; no time is measured. (Private messages, not
// groupchat, carry the bulk: they go through the same queue and fan-out,
// and only bob's copy is large, so nobody else parses megabytes.)
func TestMUCSlowOccupant(t *testing.T) {
	t.Parallel()
	const queue = 32
	overflow := &flagWriter{words: [][]byte{[]byte("outbound queue full"), []byte("bob@localhost/slow")}}
	srv := xmpptest.StartWithLog(t, overflow, func(c *config.Config) {
		c.C2S.QueueSize = queue
		c.Roster.MaxItems = queue - 16
		c.MAM.MaxPageSize = queue - 16
		c.MAM.DefaultPageSize = min(c.MAM.DefaultPageSize, c.MAM.MaxPageSize)
	})
	for _, u := range []string{"alice", "bob", "carol"} {
		srv.AddUser(t, u, password)
	}
	alice, _ := online(t, srv, "alice", "phone", "")
	bob, _ := online(t, srv, "bob", "slow", "")
	carol, _ := online(t, srv, "carol", "tab", "")
	room := "flood@" + mucDomain
	alice.mucCreate(room, "Alice")
	bob.mucJoin(room, "Bob", "")
	carol.mucJoin(room, "Carol", "")
	alice.roomSync(room)
	bob.roomSync(room)

	// bob reads no more, and his socket buffers little.
	if tc, ok := bob.c.Conn.(*tls.Conn); ok {
		if nc, ok := tc.NetConn().(*net.TCPConn); ok {
			_ = nc.SetReadBuffer(4096)
		}
	}
	ended := make(chan struct{})
	var once atomic.Bool
	remove := srv.Router().OnSessionEnded(func(_ context.Context, s router.Session, _ bool) {
		if s.JID().String() == bob.jid && once.CompareAndSwap(false, true) {
			close(ended)
		}
	})
	defer remove()

	// Flood until the server gives up on bob: it says so in its log (then
	// sending more is useless) or his session has ended. Bounded by
	// volume: 2,000 private messages of 16 KB.
	pad := strings.Repeat("x", 16<<10)
	const most = 2000
	sent := 0
flood:
	for ; ; sent++ {
		if sent == most {
			t.Fatalf("bob's session still up after %d messages of %d bytes with c2s.queue_size %d", most, len(pad), queue)
		}
		id := "f" + strconv.Itoa(sent)
		alice.send(`<message type='chat' to='` + room + `/Bob'><body>` + pad + `</body></message>`)
		alice.say(room, id, id)
		for _, c := range []*client{alice, carol} {
			m := c.take("message "+id, func(el *xmppcore.Element) bool {
				return el.Local == xmppcore.Message && el.Attr("type") == "groupchat" && el.Attr("from") == room+"/Alice"
			})
			if m.Attr("id") != id || m.ChildText("", "body") != id {
				t.Fatalf("%s: got message %s where %s was due (order, or a duplicate)", c.jid, m.Attr("id"), id)
			}
		}
		select {
		case <-ended:
			break flood
		default:
		}
		if overflow.seen.Load() {
			break
		}
	}
	select {
	case <-ended:
	case <-time.After(xmpptest.Timeout):
		t.Fatalf("bob's session not ended %v after its queue overflowed (message %d)", xmpptest.Timeout, sent)
	}
	if sent < queue {
		t.Errorf("bob's session ended after %d messages, fewer than its queue holds (%d)", sent, queue)
	}
	for _, c := range []*client{alice, carol} {
		got := c.roomSync(room)
		if gone := filter(got, occPresence(room+"/Bob", "unavailable")); len(gone) != 1 {
			t.Errorf("%s: bob's removal: %s; want his unavailable presence once", c.jid, dump(got))
		}
		noneOf(t, c.jid, "more messages than were sent", got, anyBody)
	}
	bobJID, err := jid.Parse(bob.jid)
	must(t, err, "parse %s", bob.jid)
	if _, ok := srv.Router().Session(bobJID); ok {
		t.Errorf("bob's session is still bound")
	}
	alice.say(room, "after", "is anyone left?")
	for _, c := range []*client{alice, carol} {
		if n := count(c.roomSync(room), roomMessage(room+"/Alice", "is anyone left?")); n != 1 {
			t.Errorf("%s got %d copies of the message after bob's removal, want 1", c.jid, n)
		}
	}
	if items := discoItems(alice.mustIQ("get", room, `<query xmlns='`+nsDiscoItems+`'/>`)); !slices.Equal(items, []string{room + "/Alice", room + "/Carol"}) {
		t.Errorf("the occupants after bob's removal: %q", items)
	}
}

// TestMUCWithCarbonsAndArchive: alice is in a room from her phone and
// not from her laptop, both with carbons (XEP-0280). The room's messages,
// groupchat and private, reach the phone only: the laptop gets no carbon
// of them (§6: not eligible when sent by a MUC room, private messages from
// occupants included, which the carbons module knows by the muc#user <x/>
// the room adds). Her archive (XEP-0313) keeps the private message, not
// the groupchat, which is the room's to archive.
func TestMUCWithCarbonsAndArchive(t *testing.T) {
	t.Parallel()
	srv := start(t, []string{"alice", "bob"})
	phone, _ := online(t, srv, "alice", "phone", "")
	laptop, _ := online(t, srv, "alice", "laptop", "")
	bob, _ := online(t, srv, "bob", "desk", "")
	for _, c := range []*client{phone, laptop} {
		c.mustIQ("set", "", `<enable xmlns='urn:xmpp:carbons:2'/>`)
	}
	room := "den@" + mucDomain
	phone.mucCreate(room, "Alice")
	bob.mucJoin(room, "Bob", "")
	bob.say(room, "g1", "to everyone")
	bob.send(`<message type='chat' to='` + room + `/Alice' id='p1'><body>to alice alone</body></message>`)
	bob.roomSync(room)

	got := phone.roomSync(room)
	if count(got, roomMessage(room+"/Bob", "to everyone")) != 1 || count(got, chat("to alice alone")) != 1 {
		t.Errorf("alice's phone, in the room: %s; want bob's groupchat and private messages once each", dump(got))
	}
	noneOf(t, "alice's laptop", "the room's messages or carbons of them", laptop.roomSync(room), func(el *xmppcore.Element) bool {
		return el.Local == xmppcore.Message
	})

	p := phone.queryMAM("")
	if bodies := p.bodies(); !slices.Equal(bodies, []string{"to alice alone"}) {
		t.Errorf("alice's archive: %q; want the private message alone (no groupchat)", bodies)
	}
}
