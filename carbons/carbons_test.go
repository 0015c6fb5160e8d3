package carbons

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"

	"parley.im/parley/internal/routertest"
	"parley.im/parley/internal/storetest"
	"parley.im/parley/mam"
	"parley.im/parley/module"
	"parley.im/parley/router"
	"parley.im/parley/xmppcore"
)

type env struct {
	r      *router.Router
	reg    *module.Registry
	c      *Carbons
	remote *routertest.Remote

	// alice's resources: phone (priority 1) and laptop (0) enabled
	// carbons; tablet (0) did not; watch enabled carbons but sent no
	// presence.
	phone, laptop, tablet, watch *routertest.Session
	bob                          *routertest.Session
}

func setup(t *testing.T, extra ...module.Module) *env {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	e := &env{c: New(), remote: &routertest.Remote{}}
	e.r = router.New(router.Config{Hosts: []string{"example.org"},
		AccountExists: routertest.Accounts("alice@example.org", "bob@example.org", "carol@example.org"), Logger: logger})
	e.r.SetRemote(e.remote)
	e.reg = module.NewRegistry(module.Env{Router: e.r, Logger: logger})
	for _, m := range append(extra, e.c) {
		if err := e.reg.Add(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.reg.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.reg.Stop(context.Background()) })
	e.phone = e.online(t, "alice@example.org/phone", "1")
	e.laptop = e.online(t, "alice@example.org/laptop", "0")
	e.tablet = e.online(t, "alice@example.org/tablet", "0")
	e.watch = routertest.Bind(t, e.r, "alice@example.org/watch")
	e.bob = e.online(t, "bob@example.org/home", "0")
	for _, s := range []*routertest.Session{e.phone, e.laptop, e.watch} {
		e.enable(t, s)
	}
	return e
}

func (e *env) online(t *testing.T, full, prio string) *routertest.Session {
	t.Helper()
	s := routertest.Bind(t, e.r, full)
	e.r.SetPresence(s, routertest.Parse(t, `<presence><priority>`+prio+`</priority></presence>`))
	return s
}

func (e *env) enable(t *testing.T, s *routertest.Session) {
	t.Helper()
	e.send(t, s, `<iq type='set' id='on'><enable xmlns='urn:xmpp:carbons:2'/></iq>`)
	if got := s.TakeOne(t); got.Attr("type") != "result" {
		t.Fatalf("enable: %s", got)
	}
}

func (e *env) send(t *testing.T, from *routertest.Session, xml string) {
	t.Helper()
	e.r.Route(t.Context(), routertest.Stanza(t, from, xml))
}

func (e *env) alices() []*routertest.Session {
	return []*routertest.Session{e.phone, e.laptop, e.tablet, e.watch}
}

// quiet fails the test if any session was sent something.
func quiet(t *testing.T, sessions ...*routertest.Session) {
	t.Helper()
	for _, s := range sessions {
		if got := s.Take(); len(got) != 0 {
			t.Errorf("%s was sent %v", s.JID(), got)
		}
	}
}

// carbon is the copy a resource must get: the wrapper from alice's bare
// JID, with the original in jabber:client.
func carbon(kind, to, typ, original string) string {
	typeAttr := ""
	if typ != "" {
		typeAttr = ` type='` + typ + `'`
	}
	return `<message from='alice@example.org' to='` + to + `'` + typeAttr + `><` + kind + ` xmlns='urn:xmpp:carbons:2'>
		<forwarded xmlns='urn:xmpp:forward:0'>` + original + `</forwarded></` + kind + `></message>`
}

func TestEnableDisable(t *testing.T) {
	e := setup(t)
	if !e.c.Enabled(e.phone) || e.c.Enabled(e.tablet) {
		t.Fatalf("enabled: phone %v tablet %v", e.c.Enabled(e.phone), e.c.Enabled(e.tablet))
	}
	for _, req := range []string{
		`<iq type='set' id='a'><enable xmlns='urn:xmpp:carbons:2'/></iq>`,
		`<iq type='set' id='a' to='alice@example.org'><enable xmlns='urn:xmpp:carbons:2'/></iq>`,
		`<iq type='set' id='a' to='example.org'><enable xmlns='urn:xmpp:carbons:2'/></iq>`,
	} {
		e.send(t, e.tablet, req)
		if got := e.tablet.TakeOne(t); got.Attr("type") != "result" || got.FirstChild() != nil {
			t.Errorf("%s: %s", req, got)
		}
		if !e.c.Enabled(e.tablet) {
			t.Errorf("%s: not enabled", req)
		}
	}
	for range 2 { // twice: not an error (§8.1)
		e.send(t, e.tablet, `<iq type='set' id='d'><disable xmlns='urn:xmpp:carbons:2'/></iq>`)
		routertest.AssertXML(t, e.tablet.TakeOne(t), `<iq type='result' id='d' to='alice@example.org/tablet'/>`)
		if e.c.Enabled(e.tablet) {
			t.Errorf("still enabled")
		}
	}
	// Nobody sets another account's carbons.
	e.send(t, e.bob, `<iq type='set' id='x' to='alice@example.org'><enable xmlns='urn:xmpp:carbons:2'/></iq>`)
	routertest.AssertXML(t, e.bob.TakeOne(t), `<iq type='error' id='x' from='alice@example.org' to='bob@example.org/home'>
		<error type='cancel'><not-allowed xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>
		<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>carbons are set by each of the account's own resources</text></error></iq>`)
	e.send(t, e.bob, `<iq type='set' id='x' to='alice@example.org'><disable xmlns='urn:xmpp:carbons:2'/></iq>`)
	if got := e.bob.TakeOne(t); got.Attr("type") != "error" {
		t.Errorf("disable for another: %s", got)
	}
	if !e.c.Enabled(e.phone) {
		t.Errorf("bob turned alice's carbons off")
	}
	if !slices.Contains(e.reg.Features(module.Server), NS) {
		t.Errorf("server features %v lack %s", e.reg.Features(module.Server), NS)
	}
}

func TestReceivedCopies(t *testing.T) {
	e := setup(t)
	// To the bare JID: phone (highest priority) gets it; laptop, enabled
	// and available, a copy; tablet (not enabled) and watch (not
	// available) nothing.
	e.send(t, e.bob, `<message to='alice@example.org' type='chat' id='m1'><body>hi</body><thread>th</thread></message>`)
	original := `<message xmlns='jabber:client' from='bob@example.org/home' to='alice@example.org' type='chat' id='m1'><body>hi</body><thread>th</thread></message>`
	routertest.AssertXML(t, e.phone.TakeOne(t), `<message from='bob@example.org/home' to='alice@example.org' type='chat' id='m1'><body>hi</body><thread>th</thread></message>`)
	got := e.laptop.TakeOne(t)
	routertest.AssertXML(t, got, carbon("received", "alice@example.org/laptop", "chat", original))
	// The forwarded message is in jabber:client explicitly, body and all.
	inner := got.Child(NS, "received").Child(NSForward, "forwarded").Child(xmppcore.NSClient, "message")
	if inner == nil || inner.Child(xmppcore.NSClient, "body") == nil {
		t.Errorf("forwarded message not in jabber:client: %s", got)
	}
	quiet(t, e.tablet, e.watch, e.bob)

	// To a full JID: the other enabled, available resources.
	e.send(t, e.bob, `<message to='alice@example.org/laptop' type='chat' id='m2'><body>yo</body></message>`)
	if got := e.laptop.TakeOne(t); got.Attr("id") != "m2" || got.Child(NS, "received") != nil {
		t.Errorf("laptop: %s", got)
	}
	routertest.AssertXML(t, e.phone.TakeOne(t), carbon("received", "alice@example.org/phone", "chat",
		`<message xmlns='jabber:client' from='bob@example.org/home' to='alice@example.org/laptop' type='chat' id='m2'><body>yo</body></message>`))
	quiet(t, e.tablet, e.watch)

	// Normal without type: the copy has none either.
	e.send(t, e.bob, `<message to='alice@example.org' id='m3'><body>plain</body></message>`)
	e.phone.TakeOne(t)
	routertest.AssertXML(t, e.laptop.TakeOne(t), carbon("received", "alice@example.org/laptop", "",
		`<message xmlns='jabber:client' from='bob@example.org/home' to='alice@example.org' id='m3'><body>plain</body></message>`))

	// Both at the top priority get the message itself, no copies.
	e.r.SetPresence(e.laptop, routertest.Parse(t, `<presence><priority>1</priority></presence>`))
	e.send(t, e.bob, `<message to='alice@example.org' type='chat' id='m4'><body>both</body></message>`)
	for _, s := range []*routertest.Session{e.phone, e.laptop} {
		if got := s.TakeOne(t); got.Attr("id") != "m4" || got.Child(NS, "received") != nil {
			t.Errorf("%s: %s", s.JID(), got)
		}
	}
	quiet(t, e.tablet, e.watch)
}

func TestNoCopiesWhenNotDelivered(t *testing.T) {
	e := setup(t)
	for _, s := range []*routertest.Session{e.phone, e.laptop, e.tablet} {
		e.r.SetPresence(s, routertest.Parse(t, `<presence type='unavailable'/>`))
	}
	// Nobody available: the message is not delivered (no offline module
	// here: bounced), and no copy goes to anyone.
	e.send(t, e.bob, `<message to='alice@example.org' type='chat' id='m1'><body>hi</body></message>`)
	quiet(t, e.alices()...)
	if got := e.bob.TakeOne(t); got.Attr("type") != "error" {
		t.Errorf("bob: %s", got)
	}
}

func TestSentCopies(t *testing.T) {
	e := setup(t)
	e.send(t, e.phone, `<message to='bob@example.org' type='chat' id='s1'><body>hello</body></message>`)
	routertest.AssertXML(t, e.bob.TakeOne(t), `<message from='alice@example.org/phone' to='bob@example.org' type='chat' id='s1'><body>hello</body></message>`)
	original := `<message xmlns='jabber:client' from='alice@example.org/phone' to='bob@example.org' type='chat' id='s1'><body>hello</body></message>`
	routertest.AssertXML(t, e.laptop.TakeOne(t), carbon("sent", "alice@example.org/laptop", "chat", original))
	// Enabled but not available: a sent copy all the same (§7 names only
	// the enabled resources).
	routertest.AssertXML(t, e.watch.TakeOne(t), carbon("sent", "alice@example.org/watch", "chat", original))
	quiet(t, e.phone, e.tablet)

	// A sender without carbons still has its messages copied to the others.
	e.send(t, e.tablet, `<message to='carol@example.net' type='chat' id='s2'><body>far</body></message>`)
	for _, s := range []*routertest.Session{e.phone, e.laptop, e.watch} {
		got := s.TakeOne(t)
		if got.Child(NS, "sent") == nil || got.Attr("from") != "alice@example.org" {
			t.Errorf("%s: %s", s.JID(), got)
		}
	}
	quiet(t, e.tablet)
	if got := e.remote.Got(); len(got) != 1 || got[0].El.Child(NS, "sent") != nil {
		t.Errorf("remote got %v", got)
	}
}

// TestToOwnAccount: a message to one's own account gives received copies
// only, and none to the resource that sent it.
func TestToOwnAccount(t *testing.T) {
	e := setup(t)
	e.send(t, e.laptop, `<message to='alice@example.org/tablet' type='chat' id='n1'><body>note</body></message>`)
	if got := e.tablet.TakeOne(t); got.Attr("id") != "n1" {
		t.Errorf("tablet: %s", got)
	}
	if got := e.phone.TakeOne(t); got.Child(NS, "received") == nil {
		t.Errorf("phone: %s", got)
	}
	quiet(t, e.laptop, e.watch)

	e.send(t, e.laptop, `<message type='chat' id='n2'><body>note</body></message>`)
	if got := e.phone.TakeOne(t); got.Attr("id") != "n2" {
		t.Errorf("phone: %s", got)
	}
	quiet(t, e.laptop, e.tablet, e.watch)
}

func TestEligibility(t *testing.T) {
	for _, tc := range []struct {
		name string
		msg  string // from bob to alice's phone (full JID) unless from alice
		want bool
		out  bool // sent by alice's tablet to bob instead
	}{
		{name: "chat", msg: `<message type='chat'><body>b</body></message>`, want: true},
		{name: "chat state only", msg: `<message type='chat'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>`, want: true},
		{name: "normal with body", msg: `<message type='normal'><body>b</body></message>`, want: true},
		{name: "unknown type with body", msg: `<message type='odd'><body>b</body></message>`, want: true},
		{name: "normal without body", msg: `<message><event xmlns='http://jabber.org/protocol/pubsub#event'/></message>`},
		{name: "receipt", msg: `<message><received xmlns='urn:xmpp:receipts' id='x'/></message>`, want: true},
		{name: "marker", msg: `<message><displayed xmlns='urn:xmpp:chat-markers:0' id='x'/></message>`, want: true},
		{name: "headline", msg: `<message type='headline'><body>b</body></message>`},
		{name: "groupchat", msg: `<message type='groupchat'><body>b</body></message>`},
		{name: "private and no-copy", msg: `<message type='chat'><body>b</body><private xmlns='urn:xmpp:carbons:2'/><no-copy xmlns='urn:xmpp:hints'/></message>`},
		{name: "private", msg: `<message type='chat'><body>b</body><private xmlns='urn:xmpp:carbons:2'/></message>`},
		{name: "no-copy", msg: `<message type='chat'><body>b</body><no-copy xmlns='urn:xmpp:hints'/></message>`},
		{name: "private, sent", msg: `<message type='chat'><body>b</body><private xmlns='urn:xmpp:carbons:2'/><no-copy xmlns='urn:xmpp:hints'/></message>`, out: true},
		{name: "direct invitation", msg: `<message><x xmlns='jabber:x:conference' jid='room@conference.example.org'/></message>`, want: true},
		{name: "unrelated error", msg: `<message type='error' id='nope'><error type='cancel'><gone xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>`},
		{name: "chat, sent", msg: `<message type='chat'><body>b</body></message>`, want: true, out: true},
		{name: "headline, sent", msg: `<message type='headline'><body>b</body></message>`, out: true},
		{name: "groupchat, sent", msg: `<message type='groupchat'><body>b</body></message>`, out: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := setup(t)
			from, to, watcher := e.bob, "alice@example.org/phone", e.laptop
			if tc.out {
				from, to = e.tablet, "bob@example.org/home"
			}
			el := routertest.Parse(t, tc.msg)
			el.SetAttr("to", to)
			e.send(t, from, el.String())
			got := watcher.Take()
			if copied := len(got) == 1; copied != tc.want || len(got) > 1 {
				t.Errorf("copies %v, want copied %v", got, tc.want)
			}
		})
	}
}

// TestMUCMessages: MUC rules of §6.1, with the room on a component.
func TestMUCMessages(t *testing.T) {
	e := setup(t)
	room := &routertest.Component{}
	e.r.SetComponent("conference.example.org", room)
	deliver := func(xml string) {
		t.Helper()
		el := routertest.Parse(t, xml)
		st := &router.Stanza{El: el}
		st.From = routertest.JID(t, el.Attr("from"))
		st.To = routertest.JID(t, el.Attr("to"))
		e.r.Route(t.Context(), st)
	}
	// A private message from an occupant: the room copies it to each
	// joined client itself.
	deliver(`<message from='room@conference.example.org/bob' to='alice@example.org/phone' type='chat' id='pm'>
		<body>psst</body><x xmlns='http://jabber.org/protocol/muc#user'/></message>`)
	e.phone.TakeOne(t)
	quiet(t, e.laptop)
	// A mediated invitation from the room's bare JID: copied.
	deliver(`<message from='room@conference.example.org' to='alice@example.org/phone' id='inv'>
		<x xmlns='http://jabber.org/protocol/muc#user'><invite from='bob@example.org/home'/></x></message>`)
	e.phone.TakeOne(t)
	if got := e.laptop.TakeOne(t); got.Child(NS, "received") == nil {
		t.Errorf("invitation: %s", got)
	}
	// Groupchat from the room: never.
	deliver(`<message from='room@conference.example.org/bob' to='alice@example.org/phone' type='groupchat' id='gc'><body>all</body></message>`)
	e.phone.TakeOne(t)
	quiet(t, e.laptop)
	// A private message alice sends to an occupant: copied.
	e.send(t, e.phone, `<message to='room@conference.example.org/bob' type='chat' id='pm2'><body>back</body>
		<x xmlns='http://jabber.org/protocol/muc#user'/></message>`)
	if got := e.laptop.TakeOne(t); got.Child(NS, "sent") == nil {
		t.Errorf("PM sent: %s", got)
	}
	if n := len(room.Got()); n != 1 {
		t.Errorf("room got %d", n)
	}
}

// TestErrors: an error is copied when it answers an eligible message of
// the same conversation.
func TestErrors(t *testing.T) {
	e := setup(t)
	e.send(t, e.phone, `<message to='carol@example.org' type='chat' id='lost'><body>b</body></message>`)
	// carol has an account but no session: service-unavailable, which
	// the router sends to the phone directly (not a delivery); a copy of
	// the message went to laptop and watch.
	if got := e.phone.TakeOne(t); got.Attr("type") != "error" {
		t.Fatalf("phone: %s", got)
	}
	e.laptop.Take()
	e.watch.Take()
	// bob answers alice's message with an error: copied.
	e.send(t, e.phone, `<message to='bob@example.org/home' type='chat' id='q1'><body>b</body></message>`)
	e.bob.Take()
	e.laptop.Take()
	e.watch.Take()
	e.send(t, e.bob, `<message to='alice@example.org/phone' type='error' id='q1'><error type='cancel'><gone xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>`)
	e.phone.TakeOne(t)
	if got := e.laptop.TakeOne(t); got.Child(NS, "received") == nil || got.Attr("type") != "error" {
		t.Errorf("error answering an eligible message: %s", got)
	}
	// The same ID from someone else: not an answer.
	carol := e.online(t, "carol@example.org/pc", "0")
	e.send(t, carol, `<message to='alice@example.org/phone' type='error' id='q1'/>`)
	e.phone.TakeOne(t)
	quiet(t, e.laptop)
	// alice answers bob's message with an error: a sent copy.
	e.send(t, e.bob, `<message to='alice@example.org/phone' type='chat' id='q2'><body>b</body></message>`)
	e.phone.Take()
	e.laptop.Take()
	e.send(t, e.phone, `<message to='bob@example.org/home' type='error' id='q2'><error type='cancel'><not-acceptable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>`)
	if got := e.laptop.TakeOne(t); got.Child(NS, "sent") == nil {
		t.Errorf("error answering bob: %s", got)
	}
}

// TestForgedCarbons: §11: carbons come from the account's bare JID only;
// a routed one is dropped unanswered.
func TestForgedCarbons(t *testing.T) {
	e := setup(t)
	forged := `<message to='alice@example.org' type='chat' id='f'><received xmlns='urn:xmpp:carbons:2'>
		<forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' from='juliet@example.net/balcony' to='alice@example.org/phone' type='chat'><body>meet me</body></message></forwarded>
		</received></message>`
	e.send(t, e.bob, forged)
	e.send(t, e.bob, `<message to='alice@example.org/laptop' type='chat' id='f2'><sent xmlns='urn:xmpp:carbons:2'/></message>`)
	// Not even from the account's own resources.
	e.send(t, e.tablet, `<message to='alice@example.org/phone' type='chat' id='f3'><sent xmlns='urn:xmpp:carbons:2'/></message>`)
	quiet(t, append(e.alices(), e.bob)...)
}

// TestCopiesComeFromBareJID checks every copy of a busy exchange.
func TestCopiesComeFromBareJID(t *testing.T) {
	e := setup(t)
	for i := range 5 {
		e.send(t, e.bob, fmt.Sprintf(`<message to='alice@example.org' type='chat' id='i%d'><body>x</body></message>`, i))
		e.send(t, e.phone, fmt.Sprintf(`<message to='bob@example.org' type='chat' id='o%d'><body>x</body></message>`, i))
	}
	n := 0
	for _, s := range e.alices() {
		for _, el := range s.Take() {
			if el.Child(NS, "sent") == nil && el.Child(NS, "received") == nil {
				continue
			}
			n++
			if el.Attr("from") != "alice@example.org" || el.Attr("to") != s.JID().String() {
				t.Errorf("copy %s to %s", el, s.JID())
			}
		}
	}
	if n != 15 { // 5 received (laptop), 5 sent to laptop and 5 to watch
		t.Errorf("%d copies, want 15", n)
	}
}

func TestSessionEnd(t *testing.T) {
	e := setup(t)
	e.r.SessionEnded(t.Context(), e.laptop)
	if e.c.Enabled(e.laptop) {
		t.Errorf("still enabled after the session ended")
	}
	again := e.online(t, "alice@example.org/laptop", "0")
	if e.c.Enabled(again) {
		t.Errorf("a new session of the same resource starts enabled")
	}
	e.send(t, e.bob, `<message to='alice@example.org' type='chat' id='m'><body>x</body></message>`)
	e.phone.TakeOne(t)
	quiet(t, again)
	// The last enabled session of the user gone: the user is forgotten.
	for _, s := range []*routertest.Session{e.phone, e.watch} {
		e.r.SessionEnded(t.Context(), s)
	}
	if e.c.user(routertest.JID(t, "alice@example.org")) != nil {
		t.Errorf("state kept for a user without enabled sessions")
	}
}

// TestStopRemovesDeliveryHook: after Stop, no received copies.
func TestStopRemovesDeliveryHook(t *testing.T) {
	e := setup(t)
	if err := e.reg.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	e.send(t, e.bob, `<message to='alice@example.org' type='chat' id='m'><body>x</body></message>`)
	e.phone.TakeOne(t)
	quiet(t, e.laptop)
}

// TestWithMAM: carbons carry the stanza-ids of the account's archive:
// the sender's own on sent copies (never on what the addressee gets), the
// recipient's on received copies, the same as the delivered message.
func TestWithMAM(t *testing.T) {
	st := storetest.Open(t, "example.org", "alice", "bob")
	e := setup(t, mam.New(st, mam.Options{}))

	e.send(t, e.phone, `<message to='bob@example.org' type='chat' id='s1'><body>hello</body></message>`)
	got := e.bob.TakeOne(t)
	if sid(got, "alice@example.org") != "" {
		t.Errorf("the addressee sees the sender's stanza-id: %s", got)
	}
	cp := e.laptop.TakeOne(t)
	inner := cp.Child(NS, "sent").Child(NSForward, "forwarded").Child(xmppcore.NSClient, "message")
	if sid(inner, "alice@example.org") == "" {
		t.Errorf("sent copy without the sender's stanza-id: %s", cp)
	}
	e.watch.Take()

	e.send(t, e.bob, `<message to='alice@example.org' type='chat' id='m1'><body>hi</body></message>`)
	direct := sid(e.phone.TakeOne(t), "alice@example.org")
	cp = e.laptop.TakeOne(t)
	inner = cp.Child(NS, "received").Child(NSForward, "forwarded").Child(xmppcore.NSClient, "message")
	if direct == "" || sid(inner, "alice@example.org") != direct {
		t.Errorf("received copy stanza-id %q, delivered %q", sid(inner, "alice@example.org"), direct)
	}
}

func sid(el *xmppcore.Element, by string) string {
	for c := range el.Children() {
		if c.Local == "stanza-id" && c.Space == "urn:xmpp:sid:0" && c.Attr("by") == by {
			return c.Attr("id")
		}
	}
	return ""
}

// TestConcurrent exercises enabling, disabling and copying at once.
func TestConcurrent(t *testing.T) {
	e := setup(t)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for j := range 50 {
				e.send(t, e.bob, fmt.Sprintf(`<message to='alice@example.org' type='chat' id='%d-%d'><body>x</body></message>`, i, j))
				e.send(t, e.phone, fmt.Sprintf(`<message to='bob@example.org' type='chat' id='%d-%d'><body>x</body></message>`, i, j))
			}
		})
	}
	wg.Go(func() {
		for range 50 {
			e.r.Route(context.Background(), routertest.Stanza(t, e.tablet, `<iq type='set' id='on'><enable xmlns='urn:xmpp:carbons:2'/></iq>`))
			e.r.Route(context.Background(), routertest.Stanza(t, e.tablet, `<iq type='set' id='off'><disable xmlns='urn:xmpp:carbons:2'/></iq>`))
		}
	})
	wg.Wait()
	if got := len(e.laptop.Take()); got != 400 {
		t.Errorf("laptop got %d copies, want 400", got)
	}
}
