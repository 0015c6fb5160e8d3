package router_test

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"

	"parley.im/parley/internal/routertest"
	"parley.im/parley/router"
	"parley.im/parley/xmppcore"
)

// deliveries records what OnMessageDelivered reports.
type deliveries struct {
	mu   sync.Mutex
	seen []delivery
}

type delivery struct {
	st         *router.Stanza
	recipients []string // full JIDs, sorted
}

func (d *deliveries) hook(_ context.Context, st *router.Stanza, recipients []router.Session) {
	var rs []string
	for _, s := range recipients {
		rs = append(rs, s.JID().String())
	}
	slices.Sort(rs)
	d.mu.Lock()
	d.seen = append(d.seen, delivery{st, rs})
	d.mu.Unlock()
}

func (d *deliveries) take() []delivery {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := d.seen
	d.seen = nil
	return out
}

// one fails unless exactly one delivery of st to want was reported.
func (d *deliveries) one(t *testing.T, st *router.Stanza, want ...string) {
	t.Helper()
	got := d.take()
	slices.Sort(want)
	if len(got) != 1 || got[0].st != st || !slices.Equal(got[0].recipients, want) {
		t.Fatalf("deliveries = %d %v; want one of the stanza routed, to %v", len(got), got, want)
	}
}

func (d *deliveries) none(t *testing.T) {
	t.Helper()
	if got := d.take(); len(got) != 0 {
		t.Fatalf("deliveries reported: %v, want none", got)
	}
}

// dlHook records the stanzas of an event and claims them when claim is set.
type dlHook struct {
	mu    sync.Mutex
	seen  []*router.Stanza
	claim bool
}

func (h *dlHook) handle(_ context.Context, st *router.Stanza) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seen = append(h.seen, st)
	return h.claim
}

func (h *dlHook) take() []*router.Stanza {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.seen
	h.seen = nil
	return s
}

// dlGot checks that each session received exactly el (the same element).
func dlGot(t *testing.T, el *xmppcore.Element, sessions ...*routertest.Session) {
	t.Helper()
	for _, s := range sessions {
		if g := s.Take(); len(g) != 1 || g[0] != el {
			t.Errorf("%s was sent %v, want exactly %s", s.JID(), g, el)
		}
	}
}

// dlNothing fails the test if any of the sessions was sent something.
func dlNothing(t *testing.T, sessions ...*routertest.Session) {
	t.Helper()
	for _, s := range sessions {
		if g := s.Take(); len(g) != 0 {
			t.Errorf("%s was sent %v", s.JID(), g)
		}
	}
}

type deliveryEnv struct {
	r              *router.Router
	d              *deliveries
	phone, laptop  *routertest.Session
	bob            *routertest.Session
	offline, claim *dlHook
}

// newDeliveryEnv serves example.org with alice on two resources (bound,
// not yet available) and bob online, and records deliveries.
func newDeliveryEnv(t *testing.T) *deliveryEnv {
	t.Helper()
	e := &deliveryEnv{d: &deliveries{}, offline: &dlHook{claim: true}, claim: &dlHook{}}
	e.r = router.New(router.Config{
		Hosts:         []string{"example.org"},
		AccountExists: routertest.Accounts("alice@example.org", "bob@example.org"),
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	t.Cleanup(e.r.OnMessageDelivered(e.d.hook))
	e.r.Hook(router.EventMessageOffline, router.PriorityDefault, e.offline.handle)
	e.r.Hook(router.EventMessageBare, router.PriorityDefault, e.claim.handle)
	e.r.Hook(router.EventMessageFull, router.PriorityDefault, e.claim.handle)
	e.phone = routertest.Bind(t, e.r, "alice@example.org/phone")
	e.laptop = routertest.Bind(t, e.r, "alice@example.org/laptop")
	e.bob = routertest.Bind(t, e.r, "bob@example.org/home")
	return e
}

func (e *deliveryEnv) presence(t *testing.T, s *routertest.Session, prio string) {
	t.Helper()
	e.r.SetPresence(s, routertest.Parse(t, `<presence><priority>`+prio+`</priority></presence>`))
}

func (e *deliveryEnv) send(t *testing.T, xml string) *router.Stanza {
	t.Helper()
	st := routertest.Stanza(t, e.bob, xml)
	e.r.Route(context.Background(), st)
	return st
}

func (e *deliveryEnv) setClaim(on bool) {
	e.claim.mu.Lock()
	e.claim.claim = on
	e.claim.mu.Unlock()
}

func TestDeliveredBare(t *testing.T) {
	e := newDeliveryEnv(t)
	e.presence(t, e.phone, "1")
	e.presence(t, e.laptop, "1")

	st := e.send(t, `<message to='alice@example.org' type='chat'><body>hi</body></message>`)
	e.d.one(t, st, "alice@example.org/laptop", "alice@example.org/phone")
	dlGot(t, st.El, e.phone, e.laptop)

	// Only the resource of highest priority gets a chat to the bare JID.
	e.presence(t, e.laptop, "5")
	st = e.send(t, `<message to='alice@example.org'><body>normal</body></message>`)
	e.d.one(t, st, "alice@example.org/laptop")
	dlGot(t, st.El, e.laptop)
	dlNothing(t, e.phone)

	// Headline goes to every resource with a non-negative priority.
	e.presence(t, e.phone, "-1")
	st = e.send(t, `<message to='alice@example.org' type='headline'><body>news</body></message>`)
	e.d.one(t, st, "alice@example.org/laptop")
	e.presence(t, e.phone, "0")
	st = e.send(t, `<message to='alice@example.org' type='headline'><body>news</body></message>`)
	e.d.one(t, st, "alice@example.org/laptop", "alice@example.org/phone")
}

func TestDeliveredFull(t *testing.T) {
	e := newDeliveryEnv(t)
	// A bound resource gets a message to its full JID, available or not.
	st := e.send(t, `<message to='alice@example.org/phone' type='chat'><body>hi</body></message>`)
	e.d.one(t, st, "alice@example.org/phone")
	dlGot(t, st.El, e.phone)
	dlNothing(t, e.laptop)

	st = e.send(t, `<message to='alice@example.org/phone' type='error'><error type='cancel'><gone xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>`)
	e.d.one(t, st, "alice@example.org/phone")

	// A chat to an unbound resource is handled as if to the bare JID.
	e.presence(t, e.laptop, "0")
	st = e.send(t, `<message to='alice@example.org/tablet' type='chat'><body>hi</body></message>`)
	e.d.one(t, st, "alice@example.org/laptop")
	dlGot(t, st.El, e.laptop)
}

func TestDeliveredNotReported(t *testing.T) {
	e := newDeliveryEnv(t)

	// Nobody available: offline storage, not a delivery.
	e.send(t, `<message to='alice@example.org' type='chat'><body>hi</body></message>`)
	e.d.none(t)
	if n := len(e.offline.take()); n != 1 {
		t.Fatalf("offline hook saw %d messages, want 1", n)
	}

	// Every available session refuses: the same.
	e.presence(t, e.phone, "0")
	e.phone.Refuse(true)
	e.send(t, `<message to='alice@example.org' type='chat'><body>hi</body></message>`)
	e.d.none(t)
	if n := len(e.offline.take()); n != 1 {
		t.Fatalf("offline hook saw %d messages, want 1", n)
	}
	e.send(t, `<message to='alice@example.org/phone' type='chat'><body>hi</body></message>`)
	e.send(t, `<message to='alice@example.org' type='headline'><body>hi</body></message>`)
	e.d.none(t)
	e.phone.Refuse(false)

	// Of two, only the one that accepted.
	e.presence(t, e.laptop, "0")
	e.laptop.Refuse(true)
	st := e.send(t, `<message to='alice@example.org' type='chat'><body>hi</body></message>`)
	e.d.one(t, st, "alice@example.org/phone")
	e.laptop.Refuse(false)

	// A message a hook claimed was not delivered by the router.
	e.setClaim(true)
	e.send(t, `<message to='alice@example.org' type='chat'><body>hi</body></message>`)
	e.send(t, `<message to='alice@example.org/phone' type='chat'><body>hi</body></message>`)
	e.d.none(t)
	e.setClaim(false)

	// Presence and IQs are not messages; errors to the bare JID are dropped.
	e.send(t, `<presence to='alice@example.org/phone'/>`)
	e.send(t, `<presence to='alice@example.org'/>`)
	e.send(t, `<iq to='alice@example.org/phone' type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq>`)
	e.send(t, `<message to='alice@example.org' type='error'/>`)
	e.send(t, `<message to='alice@example.org' type='groupchat'><body>x</body></message>`)
	e.d.none(t)
}

func TestDeliveredHookRemovedAndPanics(t *testing.T) {
	e := newDeliveryEnv(t)
	e.presence(t, e.phone, "0")
	calls := 0
	remove := e.r.OnMessageDelivered(func(context.Context, *router.Stanza, []router.Session) {
		calls++
		panic("boom")
	})
	// A panicking hook neither stops the others nor bounces the message.
	st := e.send(t, `<message to='alice@example.org' type='chat' id='m1'><body>hi</body></message>`)
	e.d.one(t, st, "alice@example.org/phone")
	dlGot(t, st.El, e.phone)
	dlNothing(t, e.bob)
	if calls != 1 {
		t.Fatalf("panicking hook called %d times, want 1", calls)
	}
	remove()
	e.send(t, `<message to='alice@example.org' type='chat'><body>hi</body></message>`)
	if calls != 1 {
		t.Fatalf("removed hook called again")
	}
	e.d.take()
}

// TestDeliveredWithoutHooks routes as before when nobody listens.
func TestDeliveredWithoutHooks(t *testing.T) {
	r := router.New(router.Config{Hosts: []string{"example.org"},
		AccountExists: routertest.Accounts("alice@example.org")})
	alice := routertest.Bind(t, r, "alice@example.org/phone")
	bob := routertest.Bind(t, r, "bob@example.org/x")
	r.SetPresence(alice, routertest.Parse(t, `<presence/>`))
	st := routertest.Stanza(t, bob, `<message to='alice@example.org' type='chat'><body>hi</body></message>`)
	r.Route(context.Background(), st)
	dlGot(t, st.El, alice)
	remove := r.OnMessageDelivered(func(context.Context, *router.Stanza, []router.Session) {})
	remove()
	st = routertest.Stanza(t, bob, `<message to='alice@example.org/phone' type='chat'><body>hi</body></message>`)
	r.Route(context.Background(), st)
	dlGot(t, st.El, alice)
}
