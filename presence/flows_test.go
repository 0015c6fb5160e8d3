package presence

import (
	"context"
	"slices"
	"testing"

	"mellium.im/xmpp/jid"

	"parley.im/parley/internal/routertest"
	"parley.im/parley/module"
	"parley.im/parley/router"
	"parley.im/parley/storage"
)

const (
	aliceBare = "alice@example.org"
	bobBare   = "bob@example.org"
)

// Two local users go through a whole subscription in both directions and
// back: every stanza on both sides, every state.
func TestLocalSubscriptionFlow(t *testing.T) {
	e := setup(t, false)
	phone := e.bind(t, aliceBare+"/phone")
	desk := e.bind(t, bobBare+"/desk")
	e.available(t, phone, `<presence><status>alice here</status></presence>`)
	e.available(t, desk, `<presence><show>chat</show></presence>`)

	// alice asks; bob is asked.
	e.send(t, phone, `<presence type='subscribe' to='bob@example.org' id='s1'/>`)
	assertAll(t, "bob", desk.Take(), `<presence type='subscribe' id='s1' from='alice@example.org' to='bob@example.org'/>`)
	assertAll(t, "alice", phone.Take())
	if a, b := e.state(t, aliceBare, bobBare), e.state(t, bobBare, aliceBare); a != "none+out" || b != "none+in" {
		t.Fatalf("after subscribe: alice %s, bob %s", a, b)
	}
	if p := e.pusher.take(); len(p) != 2 || p[0].account != aliceBare || p[1].account != bobBare {
		t.Fatalf("pushes %+v", p)
	}
	if r := e.requests(t, bobBare); !slices.Equal(r, []string{aliceBare}) {
		t.Fatalf("bob's kept requests %v", r)
	}

	// bob approves: alice is told and gets bob's presence.
	e.send(t, desk, `<presence type='subscribed' to='alice@example.org/phone' id='s2'/>`)
	assertAll(t, "alice", phone.Take(),
		`<presence type='subscribed' id='s2' from='bob@example.org' to='alice@example.org'/>`,
		`<presence from='bob@example.org/desk' to='alice@example.org'><show>chat</show></presence>`)
	assertAll(t, "bob", desk.Take())
	if a, b := e.state(t, aliceBare, bobBare), e.state(t, bobBare, aliceBare); a != "to" || b != "from" {
		t.Fatalf("after subscribed: alice %s, bob %s", a, b)
	}
	if r := e.requests(t, bobBare); len(r) != 0 {
		t.Fatalf("answered request still kept: %v", r)
	}

	// bob asks back; alice approves: both ways.
	e.send(t, desk, `<presence type='subscribe' to='alice@example.org'/>`)
	assertAll(t, "alice", phone.Take(), `<presence type='subscribe' from='bob@example.org' to='alice@example.org'/>`)
	e.send(t, phone, `<presence type='subscribed' to='bob@example.org'/>`)
	assertAll(t, "bob", desk.Take(),
		`<presence type='subscribed' from='alice@example.org' to='bob@example.org'/>`,
		`<presence from='alice@example.org/phone' to='bob@example.org'><status>alice here</status></presence>`)
	if a, b := e.state(t, aliceBare, bobBare), e.state(t, bobBare, aliceBare); a != "both" || b != "both" {
		t.Fatalf("after mutual: alice %s, bob %s", a, b)
	}
	e.pusher.take()

	// alice removes bob from her roster (the roster module stores the
	// removal, then runs the hook): both directions are cancelled.
	old, _ := e.store.RosterItem(t.Context(), host, "alice", bobBare)
	if _, _, err := e.store.UpdateRosterItem(t.Context(), host, "alice", bobBare,
		func(*storage.RosterItem) (*storage.RosterItem, error) { return nil, nil }); err != nil {
		t.Fatal(err)
	}
	e.pusher.removed(t.Context(), aliceBare, old)
	assertAll(t, "bob", desk.Take(),
		`<presence type='unsubscribe' from='alice@example.org' to='bob@example.org'/>`,
		`<presence type='unsubscribed' from='alice@example.org' to='bob@example.org'/>`,
		`<presence type='unavailable' from='alice@example.org/phone' to='bob@example.org'/>`)
	// bob's server side: alice no longer gets bob's presence.
	assertAll(t, "alice", phone.Take(), `<presence type='unavailable' from='bob@example.org/desk' to='alice@example.org'/>`)
	if a, b := e.state(t, aliceBare, bobBare), e.state(t, bobBare, aliceBare); a != "-" || b != "none" {
		t.Fatalf("after removal: alice %s, bob %s", a, b)
	}
	if p := e.pusher.take(); len(p) != 2 || p[0].account != bobBare || p[1].account != bobBare ||
		stateString(p[1].after) != "none" {
		t.Fatalf("pushes after removal %+v", p)
	}
}

// A request to an offline user is kept and presented at each initial
// presence until it is answered.
func TestOfflineRequest(t *testing.T) {
	e := setup(t, false)
	phone := e.bind(t, aliceBare+"/phone")
	e.available(t, phone, `<presence/>`)
	e.send(t, phone, `<presence type='subscribe' to='bob@example.org' id='s1'><status>it's alice</status></presence>`)
	const req = `<presence type='subscribe' id='s1' from='alice@example.org' to='bob@example.org'><status>it's alice</status></presence>`
	if r := e.requests(t, bobBare); !slices.Equal(r, []string{aliceBare}) {
		t.Fatalf("kept requests %v", r)
	}

	for i := range 2 {
		desk := e.bind(t, bobBare+"/desk")
		other := e.bind(t, bobBare+"/other") // bound, never available
		e.send(t, desk, `<presence/>`)
		assertAll(t, "bob at login", desk.Take(), `<presence from='bob@example.org/desk' to='bob@example.org/desk'/>`, req)
		assertAll(t, "bob's unavailable resource", other.Take())
		if i == 0 {
			// Unanswered: presented again next time.
			e.r.SessionEnded(t.Context(), desk)
			e.r.SessionEnded(t.Context(), other)
			continue
		}
		// A later presence change is not an initial presence.
		e.send(t, desk, `<presence><show>away</show></presence>`)
		assertAll(t, "bob", desk.Take(), `<presence from='bob@example.org/desk' to='bob@example.org/desk'><show>away</show></presence>`)
		e.send(t, desk, `<presence type='unsubscribed' to='alice@example.org'/>`)
		assertAll(t, "alice", phone.Take(), `<presence type='unsubscribed' from='bob@example.org' to='alice@example.org'/>`)
		e.r.SessionEnded(t.Context(), desk)
		e.r.SessionEnded(t.Context(), other)
	}
	if r := e.requests(t, bobBare); len(r) != 0 {
		t.Fatalf("denied request still kept: %v", r)
	}
	if a, b := e.state(t, aliceBare, bobBare), e.state(t, bobBare, aliceBare); a != "none" || b != "-" {
		t.Fatalf("after denial: alice %s, bob %s", a, b)
	}
	desk := e.bind(t, bobBare+"/desk")
	e.send(t, desk, `<presence/>`)
	assertAll(t, "bob", desk.Take(), `<presence from='bob@example.org/desk' to='bob@example.org/desk'/>`)

	// A kept request whose item is no longer pending is dropped, not shown.
	e.p.keepRequest(t.Context(), desk.JID().Bare(), phone.JID().Bare(), routertest.Parse(t, req))
	e.send(t, desk, `<presence type='unavailable'/>`)
	desk.Take()
	e.send(t, desk, `<presence/>`)
	assertAll(t, "bob", desk.Take(), `<presence from='bob@example.org/desk' to='bob@example.org/desk'/>`)
	if r := e.requests(t, bobBare); len(r) != 0 {
		t.Fatalf("stale request kept: %v", r)
	}
}

// RFC 6121 §3.4: alice approves bob before he asks; his request is then
// answered at once and never shown to her.
func TestPreApprovalFlow(t *testing.T) {
	e := setup(t, false)
	phone := e.bind(t, aliceBare+"/phone")
	desk := e.bind(t, bobBare+"/desk")
	e.available(t, phone, `<presence><priority>3</priority></presence>`)
	e.available(t, desk, `<presence/>`)
	e.send(t, phone, `<presence type='subscribed' to='bob@example.org'/>`)
	assertAll(t, "bob", desk.Take())
	if a := e.state(t, aliceBare, bobBare); a != "none+approved" {
		t.Fatalf("alice %s", a)
	}
	e.send(t, desk, `<presence type='subscribe' to='alice@example.org'/>`)
	assertAll(t, "alice", phone.Take())
	assertAll(t, "bob", desk.Take(),
		`<presence type='subscribed' from='alice@example.org' to='bob@example.org'/>`,
		`<presence from='alice@example.org/phone' to='bob@example.org'><priority>3</priority></presence>`)
	if a, b := e.state(t, aliceBare, bobBare), e.state(t, bobBare, aliceBare); a != "from" || b != "to" {
		t.Fatalf("alice %s, bob %s", a, b)
	}
}

// A user is implicitly subscribed to itself (RFC 6121 §4.2.2).
func TestSelfSubscription(t *testing.T) {
	e := setup(t, false)
	phone := e.bind(t, aliceBare+"/phone")
	laptop := e.bind(t, aliceBare+"/laptop")
	e.available(t, laptop, `<presence/>`)
	e.send(t, phone, `<presence type='subscribe' to='alice@example.org'/>`)
	assertAll(t, "phone", phone.Take(), `<presence type='subscribed' from='alice@example.org' to='alice@example.org/phone'/>`)
	for _, typ := range []string{Subscribed, Unsubscribe, Unsubscribed} {
		e.send(t, phone, `<presence type='`+typ+`' to='alice@example.org/laptop'/>`)
	}
	assertAll(t, "phone", phone.Take())
	assertAll(t, "laptop", laptop.Take())
	if s := e.state(t, aliceBare, aliceBare); s != "-" {
		t.Fatalf("self item %s", s)
	}
	if p := e.pusher.take(); len(p) != 0 {
		t.Fatalf("pushes %+v", p)
	}
}

// Initial presence goes to the contacts subscribed to the user and to the
// user's available resources, untouched (caps, negative priority); the
// contacts the user is subscribed to are probed.
func TestInitialPresence(t *testing.T) {
	e := setup(t, false)
	for _, it := range []string{"bob@example.org:both", "carol@example.org:from", "dave@example.org:to",
		"erin@example.org:none+out", "romeo@remote.example:both", "mallory@example.org:none+in"} {
		c, s, _ := cut(it)
		e.put(t, aliceBare, item(t, c, s))
	}
	e.put(t, bobBare, item(t, aliceBare, "both"))
	e.put(t, "dave@example.org", item(t, aliceBare, "from"))

	phone := e.bind(t, aliceBare+"/phone")
	laptop := e.bind(t, aliceBare+"/laptop")
	tablet := e.bind(t, aliceBare+"/tablet") // bound, not available
	desk := e.bind(t, bobBare+"/desk")
	carolA := e.bind(t, "carol@example.org/a")
	carolB := e.bind(t, "carol@example.org/b") // not available
	erin := e.bind(t, "erin@example.org/x")
	e.available(t, laptop, `<presence><priority>1</priority></presence>`)
	e.available(t, desk, `<presence><show>xa</show></presence>`)
	e.available(t, carolA, `<presence/>`)
	e.available(t, erin, `<presence/>`)

	const caps = `<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='https://example.org' ver='QgayPKawpkPSDYmwT/WM94uAlu0='/>`
	e.send(t, phone, `<presence><priority>-1</priority>`+caps+`</presence>`)
	body := `<priority>-1</priority>` + caps + `</presence>`
	assertAll(t, "bob", desk.Take(), `<presence from='alice@example.org/phone' to='bob@example.org'>`+body)
	assertAll(t, "carol/a", carolA.Take(), `<presence from='alice@example.org/phone' to='carol@example.org'>`+body)
	assertAll(t, "carol/b", carolB.Take())
	assertAll(t, "erin", erin.Take())
	assertSet(t, "alice/laptop", laptop.Take(), `<presence from='alice@example.org/phone' to='alice@example.org/laptop'>`+body)
	assertAll(t, "alice/tablet", tablet.Take())
	// Her own presence, then the probes' answers (bob online, dave
	// offline and never seen); romeo is remote and federation is off:
	// neither probed nor an error.
	assertSet(t, "alice/phone", phone.Take(),
		`<presence from='alice@example.org/phone' to='alice@example.org/phone'>`+body,
		`<presence from='bob@example.org/desk' to='alice@example.org/phone'><show>xa</show></presence>`,
		`<presence type='unavailable' from='dave@example.org' to='alice@example.org/phone'/>`)

	// A change of presence is broadcast, without probes.
	e.send(t, phone, `<presence><show>dnd</show></presence>`)
	assertAll(t, "bob", desk.Take(), `<presence from='alice@example.org/phone' to='bob@example.org'><show>dnd</show></presence>`)
	assertAll(t, "carol/a", carolA.Take(), `<presence from='alice@example.org/phone' to='carol@example.org'><show>dnd</show></presence>`)
	assertAll(t, "alice/phone", phone.Take(), `<presence from='alice@example.org/phone' to='alice@example.org/phone'><show>dnd</show></presence>`)
	assertAll(t, "alice/laptop", laptop.Take(), `<presence from='alice@example.org/phone' to='alice@example.org/laptop'><show>dnd</show></presence>`)
}

func cut(s string) (string, string, bool) {
	for i := range s {
		if s[i] == ':' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// Probes from contacts are answered from the router's view of the
// account: each available resource (negative priority included), else the
// last unavailable presence with its time, and only for contacts with a
// subscription.
func TestProbes(t *testing.T) {
	e := setup(t, false)
	e.put(t, aliceBare, item(t, bobBare, "from"))
	e.put(t, aliceBare, item(t, "carol@example.org", "to"))
	e.put(t, "carol@example.org", item(t, aliceBare, "from"))
	e.put(t, "erin@example.org", item(t, aliceBare, "to")) // out of step: alice has no item
	phone := e.bind(t, aliceBare+"/phone")
	laptop := e.bind(t, aliceBare+"/laptop")
	desk := e.bind(t, bobBare+"/desk")
	carol := e.bind(t, "carol@example.org/a")
	erin := e.bind(t, "erin@example.org/x")
	e.send(t, phone, `<presence><priority>5</priority></presence>`)
	e.send(t, laptop, `<presence><priority>-1</priority><status>away from desk</status></presence>`)
	// alice probed carol at login: carol is bound but not available.
	assertSet(t, "alice/phone", phone.Take(),
		`<presence from='alice@example.org/phone' to='alice@example.org/phone'><priority>5</priority></presence>`,
		`<presence type='unavailable' from='carol@example.org' to='alice@example.org/phone'/>`,
		`<presence from='alice@example.org/laptop' to='alice@example.org/phone'><priority>-1</priority><status>away from desk</status></presence>`)
	laptop.Take()
	desk.Take()

	e.send(t, desk, `<presence type='probe' to='alice@example.org'/>`)
	assertSet(t, "bob", desk.Take(),
		`<presence from='alice@example.org/phone' to='bob@example.org/desk'><priority>5</priority></presence>`,
		`<presence from='alice@example.org/laptop' to='bob@example.org/desk'><priority>-1</priority><status>away from desk</status></presence>`)
	// Addressed to a full JID: answered for the account all the same.
	e.send(t, desk, `<presence type='probe' to='alice@example.org/phone'/>`)
	if got := desk.Take(); len(got) != 2 {
		t.Fatalf("probe to full JID: %v", got)
	}
	assertAll(t, "alice", phone.Take())

	// No subscription: told so. Available carol is not delivered the
	// unsubscribed: her item ("from") has nothing it cancels.
	e.available(t, carol, `<presence/>`)
	e.send(t, carol, `<presence type='probe' to='alice@example.org'/>`)
	assertAll(t, "carol", carol.Take())
	if s := e.state(t, "carol@example.org", aliceBare); s != "from" {
		t.Fatalf("carol's item %s", s)
	}
	// erin's item said she had a subscription: the answer brings it in line.
	e.available(t, erin, `<presence/>`)
	e.pusher.take()
	e.send(t, erin, `<presence type='probe' to='alice@example.org'/>`)
	assertAll(t, "erin", erin.Take(), `<presence type='unsubscribed' from='alice@example.org' to='erin@example.org'/>`)
	if s := e.state(t, "erin@example.org", aliceBare); s != "none" {
		t.Fatalf("erin's item: %s", s)
	}
	if p := e.pusher.take(); len(p) != 1 || p[0].account != "erin@example.org" {
		t.Fatalf("pushes %+v", p)
	}

	// Offline: the last unavailable presence, stamped.
	e.send(t, phone, `<presence type='unavailable'/>`)
	e.send(t, laptop, `<presence type='unavailable'><status>gone</status></presence>`)
	desk.Take()
	e.send(t, desk, `<presence type='probe' to='alice@example.org'/>`)
	assertAll(t, "bob", desk.Take(), `<presence type='unavailable' from='alice@example.org/laptop' to='bob@example.org/desk'>
		<status>gone</status><delay xmlns='urn:xmpp:delay' from='example.org' stamp='2024-05-06T07:08:09Z'/></presence>`)
}

// Directed presence (RFC 6121 §4.6) is remembered per session; its targets
// get unavailable presence when the session goes unavailable or ends.
func TestDirectedPresence(t *testing.T) {
	e := setup(t, false)
	e.put(t, aliceBare, item(t, bobBare, "both"))
	phone := e.bind(t, aliceBare+"/phone")
	desk := e.bind(t, bobBare+"/desk")
	erin := e.bind(t, "erin@example.org/x")
	carol := e.bind(t, "carol@example.org/a")
	for _, s := range []*routertest.Session{desk, erin, carol} {
		e.available(t, s, `<presence/>`)
	}
	e.send(t, phone, `<presence/>`)
	desk.Take()
	phone.Take()

	e.send(t, phone, `<presence to='erin@example.org/x'><show>chat</show></presence>`)
	assertAll(t, "erin", erin.Take(), `<presence from='alice@example.org/phone' to='erin@example.org/x'><show>chat</show></presence>`)
	e.send(t, phone, `<presence to='bob@example.org'/>`)
	assertAll(t, "bob", desk.Take(), `<presence from='alice@example.org/phone' to='bob@example.org'/>`)
	e.send(t, phone, `<presence to='carol@example.org'/>`)
	e.send(t, phone, `<presence type='unavailable' to='carol@example.org'/>`)
	if got := carol.Take(); len(got) != 2 {
		t.Fatalf("carol got %v", got)
	}
	// Broadcast presence does not go to directed-presence targets.
	e.send(t, phone, `<presence><show>away</show></presence>`)
	assertAll(t, "erin", erin.Take())
	desk.Take()
	phone.Take()

	e.send(t, phone, `<presence type='unavailable'/>`)
	assertAll(t, "erin", erin.Take(), `<presence type='unavailable' from='alice@example.org/phone' to='erin@example.org/x'/>`)
	assertAll(t, "bob (once)", desk.Take(), `<presence type='unavailable' from='alice@example.org/phone' to='bob@example.org'/>`)
	assertAll(t, "carol", carol.Take())
	assertAll(t, "alice", phone.Take(), `<presence type='unavailable' from='alice@example.org/phone' to='alice@example.org/phone'/>`)

	// A session that never went available: its directed presence is
	// ended when it ends, and no one else hears of it.
	laptop := e.bind(t, aliceBare+"/laptop")
	e.send(t, laptop, `<presence to='erin@example.org/x'/>`)
	erin.Take()
	e.r.SessionEnded(t.Context(), laptop)
	assertAll(t, "erin", erin.Take(), `<presence type='unavailable' from='alice@example.org/laptop' to='erin@example.org/x'/>`)
	assertAll(t, "bob", desk.Take())

	// An unavailable presence from a session that was not available is
	// not broadcast.
	tablet := e.bind(t, aliceBare+"/tablet")
	e.send(t, tablet, `<presence type='unavailable'/>`)
	assertAll(t, "bob", desk.Take())
	assertAll(t, "tablet", tablet.Take())
}

// A session lost while available is followed by unavailable presence as
// if the user had sent it (RFC 6121 §4.5.2).
func TestConnectionLoss(t *testing.T) {
	e := setup(t, false)
	e.put(t, aliceBare, item(t, bobBare, "both"))
	e.put(t, aliceBare, item(t, "carol@example.org", "to"))
	e.put(t, bobBare, item(t, aliceBare, "both"))
	phone := e.bind(t, aliceBare+"/phone")
	laptop := e.bind(t, aliceBare+"/laptop")
	desk := e.bind(t, bobBare+"/desk")
	carol := e.bind(t, "carol@example.org/a")
	e.available(t, laptop, `<presence/>`)
	e.available(t, desk, `<presence/>`)
	e.available(t, carol, `<presence/>`)
	e.send(t, phone, `<presence/>`)
	for _, s := range []*routertest.Session{phone, laptop, desk, carol} {
		s.Take()
	}

	e.r.SessionEnded(t.Context(), phone)
	assertAll(t, "bob", desk.Take(), `<presence type='unavailable' from='alice@example.org/phone' to='bob@example.org'/>`)
	assertAll(t, "alice/laptop", laptop.Take(), `<presence type='unavailable' from='alice@example.org/phone' to='alice@example.org/laptop'/>`)
	assertAll(t, "carol (not subscribed)", carol.Take())

	// The laptop was still there: no "last seen" yet. Lost too: now there is.
	e.send(t, desk, `<presence type='probe' to='alice@example.org'/>`)
	assertAll(t, "bob", desk.Take(), `<presence from='alice@example.org/laptop' to='bob@example.org/desk'/>`)
	e.r.SessionEnded(t.Context(), laptop)
	desk.Take()
	e.send(t, desk, `<presence type='probe' to='alice@example.org'/>`)
	assertAll(t, "bob", desk.Take(), `<presence type='unavailable' from='alice@example.org/laptop' to='bob@example.org/desk'>
		<delay xmlns='urn:xmpp:delay' from='example.org' stamp='2024-05-06T07:08:09Z'/></presence>`)

	// A session that ends without having been available tells no one.
	tablet := e.bind(t, aliceBare+"/tablet")
	e.r.SessionEnded(t.Context(), tablet)
	assertAll(t, "bob", desk.Take())
}

// With federation, server-generated presence goes to remote contacts and
// remote contacts are probed from the bare JID.
func TestFederated(t *testing.T) {
	e := setup(t, true)
	e.put(t, aliceBare, item(t, romeo, "both"))
	phone := e.bind(t, aliceBare+"/phone")
	e.send(t, phone, `<presence/>`)
	assertAll(t, "romeo", e.remoteGot(t),
		`<presence from='alice@example.org/phone' to='romeo@remote.example'/>`,
		`<presence type='probe' from='alice@example.org' to='romeo@remote.example'/>`)
	e.r.SessionEnded(t.Context(), phone)
	assertAll(t, "romeo", e.remoteGot(t), `<presence type='unavailable' from='alice@example.org/phone' to='romeo@remote.example'/>`)
}

// Without federation, what the user sends to another domain gets the
// router's error, but what the server generates is not sent at all.
func TestNotFederated(t *testing.T) {
	e := setup(t, false)
	e.put(t, aliceBare, item(t, romeo, "both"))
	phone := e.bind(t, aliceBare+"/phone")
	e.send(t, phone, `<presence/>`)
	assertAll(t, "alice", phone.Take(), `<presence from='alice@example.org/phone' to='alice@example.org/phone'/>`)
	e.send(t, phone, `<presence type='unsubscribe' to='romeo@remote.example' id='u'/>`)
	assertAll(t, "alice", phone.Take(), `<presence type='error' id='u' from='romeo@remote.example' to='alice@example.org'>
		<error type='cancel'><remote-server-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>`)
	e.r.SessionEnded(t.Context(), phone)
}

// Presence processing creates items (a request from a stranger does) only
// while the roster has room.
func TestRosterFull(t *testing.T) {
	e := setup(t, false, WithMaxRosterItems(1))
	e.put(t, aliceBare, item(t, "carol@example.org", "both"))
	phone := e.bind(t, aliceBare+"/phone")
	desk := e.bind(t, bobBare+"/desk")
	e.available(t, phone, `<presence/>`)
	e.send(t, phone, `<presence type='subscribe' to='bob@example.org' id='f'/>`)
	assertAll(t, "alice", phone.Take(), `<presence type='error' id='f' from='bob@example.org' to='alice@example.org/phone'>
		<error type='modify'><policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>
		<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>the roster is full</text></error></presence>`)
	assertAll(t, "bob", desk.Take())
	e.send(t, desk, `<presence type='subscribe' to='alice@example.org'/>`)
	assertAll(t, "alice", phone.Take())
	if a := e.state(t, aliceBare, bobBare); a != "-" {
		t.Fatalf("alice's item for bob: %s", a)
	}
	if r := e.requests(t, aliceBare); len(r) != 0 {
		t.Fatalf("kept %v", r)
	}
	// Existing items still change.
	e.send(t, phone, `<presence type='unsubscribe' to='carol@example.org'/>`)
	if s := e.state(t, aliceBare, "carol@example.org"); s != "from" {
		t.Fatalf("carol: %s", s)
	}
}

// Removing an item cancels what it held (RFC 6121 §2.5.2).
func TestItemRemoved(t *testing.T) {
	for _, tc := range []struct {
		state string
		want  []string
	}{
		{"none", nil},
		{"none+out", []string{`<presence type='unsubscribe' from='alice@example.org' to='romeo@remote.example'/>`}},
		{"to", []string{`<presence type='unsubscribe' from='alice@example.org' to='romeo@remote.example'/>`}},
		{"none+in", []string{`<presence type='unsubscribed' from='alice@example.org' to='romeo@remote.example'/>`}},
		{"from", []string{`<presence type='unsubscribed' from='alice@example.org' to='romeo@remote.example'/>`,
			`<presence type='unavailable' from='alice@example.org/phone' to='romeo@remote.example'/>`}},
		{"both", []string{`<presence type='unsubscribe' from='alice@example.org' to='romeo@remote.example'/>`,
			`<presence type='unsubscribed' from='alice@example.org' to='romeo@remote.example'/>`,
			`<presence type='unavailable' from='alice@example.org/phone' to='romeo@remote.example'/>`}},
		{"none+approved", nil},
	} {
		t.Run(tc.state, func(t *testing.T) {
			e := setup(t, true)
			phone := e.bind(t, aliceBare+"/phone")
			e.available(t, phone, `<presence/>`)
			old := item(t, romeo, tc.state)
			if old.PendingIn {
				e.p.keepRequest(t.Context(), phone.JID().Bare(), jid.MustParse(romeo),
					routertest.Parse(t, `<presence type='subscribe'/>`))
			}
			e.pusher.removed(t.Context(), aliceBare, *old)
			assertAll(t, "romeo", e.remoteGot(t), tc.want...)
			if r := e.requests(t, aliceBare); len(r) != 0 {
				t.Fatalf("request kept: %v", r)
			}
		})
	}
}

// Broadcast presence is observed, not claimed: other modules hooked after
// presence (offline messages at initial presence) still see it.
func TestBroadcastNotClaimed(t *testing.T) {
	e := setup(t, false)
	var seen []bool
	remove := e.r.Hook(router.EventPresenceBroadcast, router.PriorityLate, func(_ context.Context, st *router.Stanza) bool {
		seen = append(seen, st.Initial)
		return false
	})
	defer remove()
	phone := e.bind(t, aliceBare+"/phone")
	e.send(t, phone, `<presence/>`)
	e.send(t, phone, `<presence><show>away</show></presence>`)
	e.send(t, phone, `<presence type='unavailable'/>`)
	if !slices.Equal(seen, []bool{true, false, false}) {
		t.Fatalf("later hook saw %v", seen)
	}
}

func TestStreamFeature(t *testing.T) {
	store := openStore(t)
	r := router.New(router.Config{Hosts: []string{host}})
	reg := module.NewRegistry(module.Env{Router: r})
	if err := reg.Add(New(store, &pusher{})); err != nil {
		t.Fatal(err)
	}
	defer reg.Stop(context.Background())
	fs := reg.StreamFeatures()
	if len(fs) != 1 || !fs[0].Is(NSPreApproval, "sub") {
		t.Fatalf("stream features %v", fs)
	}
}
