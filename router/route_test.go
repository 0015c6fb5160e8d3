package router_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"mellium.im/xmpp/jid"

	"parley.im/parley/internal/routertest"
	"parley.im/parley/router"
	"parley.im/parley/xmppcore"
)

var ctx = context.Background()

// newRouter serves example.org, where alice, bob and carol have accounts.
func newRouter(t *testing.T, mod ...func(*router.Config)) *router.Router {
	t.Helper()
	cfg := router.Config{
		Hosts:         []string{"example.org", "example.com"},
		AccountExists: routertest.Accounts("alice@example.org", "bob@example.org", "carol@example.org"),
	}
	for _, f := range mod {
		f(&cfg)
	}
	return router.New(cfg)
}

// avail records available presence with a priority ("" for none).
func avail(t *testing.T, r *router.Router, s *routertest.Session, prio string) {
	t.Helper()
	p := `<presence/>`
	if prio != "" {
		p = `<presence><priority>` + prio + `</priority></presence>`
	}
	r.SetPresence(s, routertest.Parse(t, p))
}

func route(t *testing.T, r *router.Router, from *routertest.Session, xml string) *router.Stanza {
	t.Helper()
	st := routertest.Stanza(t, from, xml)
	r.Route(ctx, st)
	return st
}

// nothing fails the test if any of the sessions was sent something.
func nothing(t *testing.T, sessions ...*routertest.Session) {
	t.Helper()
	for _, s := range sessions {
		if got := s.Take(); len(got) != 0 {
			t.Errorf("%s was sent %v", s.JID(), got)
		}
	}
}

// got checks that each session received exactly el (the same element).
func got(t *testing.T, el *xmppcore.Element, sessions ...*routertest.Session) {
	t.Helper()
	for _, s := range sessions {
		if g := s.Take(); len(g) != 1 || g[0] != el {
			t.Errorf("%s was sent %v, want exactly %s", s.JID(), g, el)
		}
	}
}

// hook records the stanzas of an event and claims them when claim is set.
type hook struct {
	mu    sync.Mutex
	seen  []*router.Stanza
	claim bool
}

func (h *hook) handle(_ context.Context, st *router.Stanza) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seen = append(h.seen, st)
	return h.claim
}

func (h *hook) take() []*router.Stanza {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.seen
	h.seen = nil
	return s
}

func TestNoTo(t *testing.T) {
	r := newRouter(t)
	phone := routertest.Bind(t, r, "alice@example.org/phone")
	laptop := routertest.Bind(t, r, "alice@example.org/laptop")
	avail(t, r, phone, "0")
	avail(t, r, laptop, "5")

	// message: to the sender's own bare JID.
	st := route(t, r, phone, `<message type='chat' id='m'><body>note to self</body></message>`)
	got(t, st.El, laptop)
	nothing(t, phone)

	// presence: recorded, then the broadcast hooks.
	bc := &hook{}
	r.Hook(router.EventPresenceBroadcast, router.PriorityDefault, bc.handle)
	st = route(t, r, phone, `<presence><priority>7</priority></presence>`)
	if seen := bc.take(); len(seen) != 1 || seen[0] != st {
		t.Fatalf("broadcast hook saw %v", seen)
	}
	for _, ri := range r.Resources(jid.MustParse("alice@example.org")) {
		if ri.Session == phone && (!ri.Available || ri.Priority != 7 || ri.Presence != st.El) {
			t.Fatalf("phone recorded as %+v", ri)
		}
	}
	route(t, r, phone, `<presence type='unavailable'/>`)
	bc.take()
	for _, ri := range r.Resources(jid.MustParse("alice@example.org")) {
		if ri.Session == phone && ri.Available {
			t.Fatal("phone still available after unavailable presence")
		}
	}
	// A directed-less subscription presence is not availability.
	route(t, r, laptop, `<presence type='subscribe'/>`)
	for _, ri := range r.Resources(jid.MustParse("alice@example.org")) {
		if ri.Session == laptop && (!ri.Available || ri.Priority != 5) {
			t.Fatalf("laptop changed by a subscribe: %+v", ri)
		}
	}
	nothing(t, phone, laptop)

	// iq: the bare-JID hooks, with To set to the sender's bare JID.
	iqh := &hook{claim: true}
	remove := r.Hook(router.EventIQBare, router.PriorityDefault, iqh.handle)
	route(t, r, phone, `<iq type='get' id='q'><query xmlns='jabber:iq:roster'/></iq>`)
	if seen := iqh.take(); len(seen) != 1 || seen[0].To.String() != "alice@example.org" {
		t.Fatalf("iq/bare hook saw %v", seen)
	}
	remove()
	// Unclaimed: service-unavailable from the account.
	route(t, r, phone, `<iq type='get' id='q2'><query xmlns='jabber:iq:roster'/></iq>`)
	routertest.AssertXML(t, phone.TakeOne(t), `<iq type='error' id='q2' from='alice@example.org' to='alice@example.org/phone'>
		<error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`)
	nothing(t, laptop)
}

func TestToHost(t *testing.T) {
	r := newRouter(t)
	alice := routertest.Bind(t, r, "alice@example.org/phone")
	for _, kind := range []struct {
		ev   router.Event
		xml  string
		isIQ bool
	}{
		{router.EventMessageHost, `<message to='example.org' id='m'><body>hi</body></message>`, false},
		{router.EventPresenceHost, `<presence to='example.org' id='p'/>`, false},
		{router.EventIQHost, `<iq to='example.org' type='get' id='i'><x xmlns='urn:x'/></iq>`, true},
	} {
		h := &hook{claim: true}
		remove := r.Hook(kind.ev, router.PriorityDefault, h.handle)
		st := route(t, r, alice, kind.xml)
		if seen := h.take(); len(seen) != 1 || seen[0] != st {
			t.Errorf("%v hook saw %v", kind.ev, seen)
		}
		nothing(t, alice)
		remove()
		// Unclaimed: get/set IQs get service-unavailable, the rest is dropped.
		route(t, r, alice, kind.xml)
		if kind.isIQ {
			routertest.AssertXML(t, alice.TakeOne(t), `<iq type='error' id='i' from='example.org' to='alice@example.org/phone'>
				<error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`)
		} else {
			nothing(t, alice)
		}
	}
	// The second host is local too; its name comes back normalized.
	route(t, r, alice, `<iq to='EXAMPLE.com' type='set' id='i2'><x xmlns='urn:x'/></iq>`)
	routertest.AssertXML(t, alice.TakeOne(t), `<iq type='error' id='i2' from='example.com' to='alice@example.org/phone'>
		<error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`)
	// IQ results and errors to the host are dropped.
	route(t, r, alice, `<iq to='example.org' type='result' id='r'/>`)
	route(t, r, alice, `<iq to='example.org' type='error' id='e'/>`)
	// domain/resource on a local host: nothing lives there.
	route(t, r, alice, `<message to='example.org/res' id='m2'/>`)
	nothing(t, alice)
	route(t, r, alice, `<iq to='example.org/res' type='get' id='i3'><x xmlns='urn:x'/></iq>`)
	if el := alice.TakeOne(t); el.Attr("type") != "error" || el.Child("", "error").Child(xmppcore.NSStanzas, "service-unavailable") == nil {
		t.Fatalf("iq to domain/resource: %s", el)
	}
}

const serviceUnavailable = `<error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>`

func TestMessageToBare(t *testing.T) {
	t.Run("no resource", func(t *testing.T) {
		r := newRouter(t)
		alice := routertest.Bind(t, r, "alice@example.org/phone")
		for _, typ := range []string{"chat", "normal", ""} {
			route(t, r, alice, `<message to='bob@example.org' type='`+typ+`' id='m'><body>hi</body></message>`)
			routertest.AssertXML(t, alice.TakeOne(t), `<message to='alice@example.org/phone' from='bob@example.org' type='error' id='m'>`+serviceUnavailable+`</message>`)
		}
		route(t, r, alice, `<message to='bob@example.org' type='headline' id='h'><body>hi</body></message>`)
		route(t, r, alice, `<message to='bob@example.org' type='error' id='e'/>`)
		nothing(t, alice)
		// Offline storage takes what nobody could.
		off := &hook{claim: true}
		r.Hook(router.EventMessageOffline, router.PriorityDefault, off.handle)
		st := route(t, r, alice, `<message to='bob@example.org' type='chat' id='o'><body>later</body></message>`)
		if seen := off.take(); len(seen) != 1 || seen[0] != st {
			t.Fatalf("offline hook saw %v", seen)
		}
		nothing(t, alice)
	})

	t.Run("one resource", func(t *testing.T) {
		r := newRouter(t)
		alice := routertest.Bind(t, r, "alice@example.org/phone")
		bob := routertest.Bind(t, r, "bob@example.org/pc")
		// Bound but not available: not a recipient.
		route(t, r, alice, `<message to='bob@example.org' type='chat' id='m'/>`)
		nothing(t, bob)
		if got := alice.TakeOne(t); got.Attr("type") != "error" {
			t.Fatalf("alice got %s", got)
		}
		avail(t, r, bob, "")
		for _, typ := range []string{"chat", "normal", "", "headline", "bogus"} {
			st := route(t, r, alice, `<message to='Bob@Example.ORG' type='`+typ+`' id='m'><body>hi</body></message>`)
			got(t, st.El, bob)
		}
		route(t, r, alice, `<message to='bob@example.org' type='groupchat' id='g'><body>hi</body></message>`)
		nothing(t, bob)
		routertest.AssertXML(t, alice.TakeOne(t), `<message to='alice@example.org/phone' from='bob@example.org' type='error' id='g'>`+serviceUnavailable+`</message>`)
		route(t, r, alice, `<message to='bob@example.org' type='error' id='e'/>`)
		nothing(t, alice, bob)
	})

	t.Run("priorities", func(t *testing.T) {
		r := newRouter(t)
		alice := routertest.Bind(t, r, "alice@example.org/phone")
		low := routertest.Bind(t, r, "bob@example.org/low")
		hi1 := routertest.Bind(t, r, "bob@example.org/hi1")
		hi2 := routertest.Bind(t, r, "bob@example.org/hi2")
		neg := routertest.Bind(t, r, "bob@example.org/neg")
		away := routertest.Bind(t, r, "bob@example.org/away") // bound, no presence
		avail(t, r, low, "1")
		avail(t, r, hi1, "5")
		avail(t, r, hi2, "+5")
		avail(t, r, neg, "-1")

		st := route(t, r, alice, `<message to='bob@example.org' type='chat' id='c'/>`)
		got(t, st.El, hi1, hi2) // ties all get it
		nothing(t, low, neg, away, alice)

		st = route(t, r, alice, `<message to='bob@example.org' type='headline' id='h'/>`)
		got(t, st.El, low, hi1, hi2) // all non-negative
		nothing(t, neg, away, alice)

		// hi1 and hi2 leave: low is the best left (an unavailable
		// resource's priority does not count).
		route(t, r, hi1, `<presence type='unavailable'><priority>50</priority></presence>`)
		r.Unbind(hi2)
		st = route(t, r, alice, `<message to='bob@example.org' id='n'/>`)
		got(t, st.El, low)
		nothing(t, neg, away, hi1, hi2)

		// Only negative priority left: never a bare-JID message.
		route(t, r, low, `<presence><priority>-5</priority></presence>`)
		route(t, r, alice, `<message to='bob@example.org' type='chat' id='x'/>`)
		nothing(t, low, neg, away)
		routertest.AssertXML(t, alice.TakeOne(t), `<message to='alice@example.org/phone' from='bob@example.org' type='error' id='x'>`+serviceUnavailable+`</message>`)
		route(t, r, alice, `<message to='bob@example.org' type='headline' id='y'/>`)
		nothing(t, low, neg, away, alice)
		// ... but a message to its full JID does reach it.
		st = route(t, r, alice, `<message to='bob@example.org/neg' type='chat' id='z'/>`)
		got(t, st.El, neg)
	})

	t.Run("refused by the session", func(t *testing.T) {
		r := newRouter(t)
		alice := routertest.Bind(t, r, "alice@example.org/phone")
		bob := routertest.Bind(t, r, "bob@example.org/pc")
		avail(t, r, bob, "")
		bob.Refuse(true) // queue full
		route(t, r, alice, `<message to='bob@example.org' type='chat' id='m'/>`)
		routertest.AssertXML(t, alice.TakeOne(t), `<message to='alice@example.org/phone' from='bob@example.org' type='error' id='m'>`+serviceUnavailable+`</message>`)
	})

	t.Run("hook", func(t *testing.T) {
		r := newRouter(t)
		alice := routertest.Bind(t, r, "alice@example.org/phone")
		bob := routertest.Bind(t, r, "bob@example.org/pc")
		avail(t, r, bob, "")
		h := &hook{claim: true}
		r.Hook(router.EventMessageBare, router.PriorityDefault, h.handle)
		route(t, r, alice, `<message to='bob@example.org' type='chat' id='m'/>`)
		if len(h.take()) != 1 {
			t.Fatal("message/bare hook not called")
		}
		nothing(t, alice, bob)
	})
}

func TestPresenceToBare(t *testing.T) {
	r := newRouter(t)
	alice := routertest.Bind(t, r, "alice@example.org/phone")
	a := routertest.Bind(t, r, "bob@example.org/a")
	b := routertest.Bind(t, r, "bob@example.org/b")
	c := routertest.Bind(t, r, "bob@example.org/c") // not available
	avail(t, r, a, "-3")
	avail(t, r, b, "2")
	st := route(t, r, alice, `<presence to='bob@example.org' type='subscribe'/>`)
	got(t, st.El, a, b) // all available resources, whatever their priority
	nothing(t, c, alice)

	h := &hook{claim: true}
	r.Hook(router.EventPresenceBare, router.PriorityDefault, h.handle)
	route(t, r, alice, `<presence to='bob@example.org' type='probe'/>`)
	if len(h.take()) != 1 {
		t.Fatal("presence/bare hook not called")
	}
	nothing(t, a, b, c, alice)
}

func TestIQToBare(t *testing.T) {
	r := newRouter(t)
	alice := routertest.Bind(t, r, "alice@example.org/phone")
	bob := routertest.Bind(t, r, "bob@example.org/pc")
	avail(t, r, bob, "10")
	route(t, r, alice, `<iq to='bob@example.org' type='get' id='v'><vCard xmlns='vcard-temp'/></iq>`)
	routertest.AssertXML(t, alice.TakeOne(t), `<iq to='alice@example.org/phone' from='bob@example.org' type='error' id='v'>`+serviceUnavailable+`</iq>`)
	nothing(t, bob) // never delivered to a resource
	route(t, r, alice, `<iq to='bob@example.org' type='result' id='r'/>`)
	route(t, r, alice, `<iq to='bob@example.org' type='error' id='e'/>`)
	nothing(t, alice, bob)

	h := &hook{claim: true}
	r.Hook(router.EventIQBare, router.PriorityDefault, h.handle)
	route(t, r, alice, `<iq to='bob@example.org' type='set' id='s'><x xmlns='urn:x'/></iq>`)
	if len(h.take()) != 1 {
		t.Fatal("iq/bare hook not called")
	}
	nothing(t, alice, bob)
}

func TestToFullJID(t *testing.T) {
	r := newRouter(t)
	alice := routertest.Bind(t, r, "alice@example.org/phone")
	bob := routertest.Bind(t, r, "bob@example.org/pc") // bound, not available
	other := routertest.Bind(t, r, "bob@example.org/other")
	avail(t, r, other, "1")

	t.Run("bound", func(t *testing.T) {
		for _, xml := range []string{
			`<message to='bob@example.org/pc' type='chat' id='1'/>`,
			`<message to='bob@example.org/pc' type='groupchat' id='2'/>`,
			`<message to='bob@example.org/pc' type='error' id='3'/>`,
			`<presence to='bob@example.org/pc'/>`,
			`<presence to='bob@example.org/pc' type='unavailable'/>`,
			`<iq to='bob@example.org/pc' type='get' id='4'><x xmlns='urn:x'/></iq>`,
			`<iq to='bob@example.org/pc' type='result' id='5'/>`,
		} {
			st := route(t, r, alice, xml)
			got(t, st.El, bob)
			nothing(t, alice, other)
		}
		for _, ev := range []struct {
			ev  router.Event
			xml string
		}{
			{router.EventMessageFull, `<message to='bob@example.org/pc' id='1'/>`},
			{router.EventPresenceFull, `<presence to='bob@example.org/pc'/>`},
			{router.EventIQFull, `<iq to='bob@example.org/pc' type='get' id='4'><x xmlns='urn:x'/></iq>`},
		} {
			h := &hook{claim: true}
			remove := r.Hook(ev.ev, router.PriorityDefault, h.handle)
			route(t, r, alice, ev.xml)
			if len(h.take()) != 1 {
				t.Errorf("%v hook not called", ev.ev)
			}
			nothing(t, alice, bob, other)
			remove()
		}
	})

	t.Run("refused by the session", func(t *testing.T) {
		bob.Refuse(true) // closing, or its queue overflowed
		defer bob.Refuse(false)
		for _, typ := range []string{"chat", "normal", ""} {
			route(t, r, alice, `<message to='bob@example.org/pc' type='`+typ+`' id='r'><body>hi</body></message>`)
			routertest.AssertXML(t, alice.TakeOne(t), `<message to='alice@example.org/phone' from='bob@example.org/pc' type='error' id='r'>`+serviceUnavailable+`</message>`)
		}
		route(t, r, alice, `<iq to='bob@example.org/pc' type='get' id='g'><x xmlns='urn:x'/></iq>`)
		routertest.AssertXML(t, alice.TakeOne(t), `<iq to='alice@example.org/phone' from='bob@example.org/pc' type='error' id='g'>`+serviceUnavailable+`</iq>`)
		for _, xml := range []string{
			`<message to='bob@example.org/pc' type='groupchat' id='2'/>`,
			`<message to='bob@example.org/pc' type='headline' id='3'/>`,
			`<message to='bob@example.org/pc' type='error' id='4'/>`,
			`<presence to='bob@example.org/pc'/>`,
			`<iq to='bob@example.org/pc' type='result' id='5'/>`,
		} {
			route(t, r, alice, xml)
		}
		nothing(t, alice, bob, other)
	})

	t.Run("unbound", func(t *testing.T) {
		// chat: as if to the bare JID.
		st := route(t, r, alice, `<message to='bob@example.org/gone' type='chat' id='c'/>`)
		got(t, st.El, other)
		nothing(t, bob, alice)
		// normal, groupchat: service-unavailable from the full JID.
		for _, typ := range []string{"", "normal", "groupchat"} {
			route(t, r, alice, `<message to='bob@example.org/gone' type='`+typ+`' id='n'/>`)
			routertest.AssertXML(t, alice.TakeOne(t), `<message to='alice@example.org/phone' from='bob@example.org/gone' type='error' id='n'>`+serviceUnavailable+`</message>`)
		}
		// headline, error: dropped.
		route(t, r, alice, `<message to='bob@example.org/gone' type='headline' id='h'/>`)
		route(t, r, alice, `<message to='bob@example.org/gone' type='error' id='e'/>`)
		// presence: dropped, except subscriptions, which go to the bare JID.
		route(t, r, alice, `<presence to='bob@example.org/gone'/>`)
		route(t, r, alice, `<presence to='bob@example.org/gone' type='unavailable'/>`)
		nothing(t, alice, bob, other)
		for _, typ := range []string{"subscribe", "subscribed", "unsubscribe", "unsubscribed", "probe"} {
			st := route(t, r, alice, `<presence to='bob@example.org/gone' type='`+typ+`'/>`)
			got(t, st.El, other)
			nothing(t, alice, bob)
		}
		// iq: get/set -> service-unavailable; result/error dropped.
		route(t, r, alice, `<iq to='bob@example.org/gone' type='get' id='g'><x xmlns='urn:x'/></iq>`)
		routertest.AssertXML(t, alice.TakeOne(t), `<iq to='alice@example.org/phone' from='bob@example.org/gone' type='error' id='g'>`+serviceUnavailable+`</iq>`)
		route(t, r, alice, `<iq to='bob@example.org/gone' type='result' id='r'/>`)
		route(t, r, alice, `<iq to='bob@example.org/gone' type='error' id='e'/>`)
		nothing(t, alice, bob, other)
	})
}

func TestUnknownLocalUser(t *testing.T) {
	r := newRouter(t)
	alice := routertest.Bind(t, r, "alice@example.org/phone")
	off := &hook{claim: true}
	r.Hook(router.EventMessageOffline, router.PriorityDefault, off.handle)
	pres := &hook{claim: true}
	r.Hook(router.EventPresenceBare, router.PriorityDefault, pres.handle)
	for _, to := range []string{"nobody@example.org", "nobody@example.org/res"} {
		for _, typ := range []string{"chat", "normal"} {
			route(t, r, alice, `<message to='`+to+`' type='`+typ+`' id='m'/>`)
			if el := alice.TakeOne(t); el.Attr("type") != "error" || el.Child("", "error").Child(xmppcore.NSStanzas, "service-unavailable") == nil {
				t.Errorf("%s message to %s: %s", typ, to, el)
			}
		}
		route(t, r, alice, `<iq to='`+to+`' type='get' id='i'><x xmlns='urn:x'/></iq>`)
		if el := alice.TakeOne(t); el.Attr("type") != "error" || el.Child("", "error").Child(xmppcore.NSStanzas, "service-unavailable") == nil {
			t.Errorf("iq to %s: %s", to, el)
		}
		for _, typ := range []string{"", "subscribe", "probe", "unavailable"} {
			route(t, r, alice, `<presence to='`+to+`' type='`+typ+`'/>`)
		}
		route(t, r, alice, `<message to='`+to+`' type='error' id='e'/>`)
		route(t, r, alice, `<iq to='`+to+`' type='result' id='r'/>`)
		nothing(t, alice)
	}
	if len(off.take()) != 0 || len(pres.take()) != 0 {
		t.Fatal("hooks saw stanzas for a user that does not exist")
	}
	// A failing account lookup is taken as "exists": no error that could
	// make a contact give up.
	r = newRouter(t, func(c *router.Config) {
		c.AccountExists = func(context.Context, string, string) (bool, error) { return false, errors.New("db down") }
	})
	r.Hook(router.EventMessageOffline, router.PriorityDefault, off.handle)
	alice = routertest.Bind(t, r, "alice@example.org/phone")
	route(t, r, alice, `<message to='nobody@example.org' type='chat' id='m'/>`)
	if len(off.take()) != 1 {
		t.Fatal("with the account lookup failing, the message was not kept for later")
	}
	nothing(t, alice)
}

func TestOtherDomains(t *testing.T) {
	r := newRouter(t)
	alice := routertest.Bind(t, r, "alice@example.org/phone")
	for _, xml := range []string{
		`<message to='bob@example.net' type='chat' id='1'/>`,
		`<iq to='example.net' type='get' id='1'><x xmlns='urn:x'/></iq>`,
		`<presence to='bob@example.net/r' type='subscribe' id='1'/>`,
	} {
		st := route(t, r, alice, xml)
		want := fmt.Sprintf(`<%s to='alice@example.org/phone' from='%s' type='error' id='1'>
			<error type='cancel'><remote-server-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></%s>`, st.Kind(), st.To, st.Kind())
		routertest.AssertXML(t, alice.TakeOne(t), want)
	}
	route(t, r, alice, `<message to='bob@example.net' type='error' id='e'/>`)
	route(t, r, alice, `<iq to='example.net' type='result' id='r'/>`)
	nothing(t, alice)

	// A component domain gets everything addressed to it.
	comp := &routertest.Component{}
	r.SetComponent("muc.example.org", comp)
	st1 := route(t, r, alice, `<presence to='room@muc.example.org/nick'/>`)
	st2 := route(t, r, alice, `<iq to='muc.example.org' type='get' id='d'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	st3 := route(t, r, alice, `<message to='room@muc.example.org' type='error' id='e'/>`)
	if g := comp.Got(); !slices.Equal(g, []*router.Stanza{st1, st2, st3}) {
		t.Fatalf("component got %v", g)
	}
	nothing(t, alice)
	r.SetComponent("muc.example.org", nil)
	route(t, r, alice, `<iq to='muc.example.org' type='get' id='1'><x xmlns='urn:x'/></iq>`)
	if el := alice.TakeOne(t); el.Child("", "error").Child(xmppcore.NSStanzas, "remote-server-not-found") == nil {
		t.Fatalf("after removing the component: %s", el)
	}

	// Federation on: the remote gets it; a failed delivery bounces.
	rem := &routertest.Remote{}
	r.SetRemote(rem)
	st := route(t, r, alice, `<message to='bob@example.net' type='chat' id='f'/>`)
	if g := rem.Got(); len(g) != 1 || g[0] != st {
		t.Fatalf("remote got %v", g)
	}
	nothing(t, alice)
	rem.Err = errors.New("no route")
	route(t, r, alice, `<message to='bob@example.net' type='chat' id='1'/>`)
	routertest.AssertXML(t, alice.TakeOne(t), `<message to='alice@example.org/phone' from='bob@example.net' type='error' id='1'>
		<error type='cancel'><remote-server-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>`)
	r.SetRemote(nil)
	route(t, r, alice, `<message to='bob@example.net' type='chat' id='2'/>`)
	if len(rem.Got()) != 2 {
		t.Fatal("remote used after SetRemote(nil)")
	}
	alice.TakeOne(t)
}

// TestErrorFromElsewhere: an error for a stanza that did not come from a
// local session (Origin nil) is routed back to its sender.
func TestErrorFromElsewhere(t *testing.T) {
	r := newRouter(t)
	alice := routertest.Bind(t, r, "alice@example.org/phone")
	st := &router.Stanza{
		El:   routertest.Parse(t, `<iq from='alice@example.org/phone' to='nobody@example.org' type='get' id='x'><x xmlns='urn:x'/></iq>`),
		From: jid.MustParse("alice@example.org/phone"),
		To:   jid.MustParse("nobody@example.org"),
	}
	r.Route(ctx, st)
	routertest.AssertXML(t, alice.TakeOne(t), `<iq to='alice@example.org/phone' from='nobody@example.org' type='error' id='x'>`+serviceUnavailable+`</iq>`)
	// From nobody: nobody to tell.
	st = &router.Stanza{El: routertest.Parse(t, `<iq to='nobody@example.org' type='get' id='y'><x xmlns='urn:x'/></iq>`), To: jid.MustParse("nobody@example.org")}
	r.Route(ctx, st)
	nothing(t, alice)
}

func TestHooks(t *testing.T) {
	r := newRouter(t)
	alice := routertest.Bind(t, r, "alice@example.org/phone")
	var order []string
	mk := func(name string, claim bool) router.Handler {
		return func(context.Context, *router.Stanza) bool {
			order = append(order, name)
			return claim
		}
	}
	rmLate := r.Hook(router.EventMessageHost, router.PriorityLate, mk("late", true))
	r.Hook(router.EventMessageHost, router.PriorityDefault, mk("default1", false))
	rmEarly := r.Hook(router.EventMessageHost, router.PriorityEarly, mk("early", false))
	r.Hook(router.EventMessageHost, router.PriorityDefault, mk("default2", false))
	route(t, r, alice, `<message to='example.org'/>`)
	if want := []string{"early", "default1", "default2", "late"}; !slices.Equal(order, want) {
		t.Fatalf("order %v, want %v", order, want)
	}
	// A claiming hook stops the others.
	order = nil
	r.Hook(router.EventMessageHost, router.PriorityDefault+1, mk("claimer", true))
	route(t, r, alice, `<message to='example.org'/>`)
	if want := []string{"early", "claimer"}; !slices.Equal(order, want) {
		t.Fatalf("order %v, want %v", order, want)
	}
	// Removal.
	rmEarly()
	rmLate()
	rmEarly() // removing twice is harmless
	order = nil
	route(t, r, alice, `<message to='example.org'/>`)
	if want := []string{"claimer"}; !slices.Equal(order, want) {
		t.Fatalf("order %v, want %v", order, want)
	}

	// Pre-route sees stanzas from sessions only, and may stop them.
	pre := &hook{claim: true}
	rmPre := r.Hook(router.EventPreRoute, router.PriorityEarly, pre.handle)
	bob := routertest.Bind(t, r, "bob@example.org/pc")
	avail(t, r, bob, "")
	route(t, r, alice, `<message to='bob@example.org/pc' id='blocked'/>`)
	nothing(t, bob)
	r.Route(ctx, &router.Stanza{El: routertest.Parse(t, `<message to='bob@example.org/pc' from='example.org' id='server'/>`),
		From: jid.MustParse("example.org"), To: jid.MustParse("bob@example.org/pc")})
	if g := bob.Take(); len(g) != 1 || g[0].Attr("id") != "server" {
		t.Fatalf("a server stanza was not routed past pre-route: %v", g)
	}
	if len(pre.take()) != 1 {
		t.Fatal("pre-route saw the wrong stanzas")
	}
	rmPre()
	st := route(t, r, alice, `<message to='bob@example.org/pc' id='free'/>`)
	got(t, st.El, bob)

	if router.EventIQFull.String() != "iq/full" || router.Event(99).String() != "Event(99)" {
		t.Errorf("Event.String: %q %q", router.EventIQFull, router.Event(99))
	}
}

func TestPanickingHook(t *testing.T) {
	r := newRouter(t)
	alice := routertest.Bind(t, r, "alice@example.org/phone")
	bob := routertest.Bind(t, r, "bob@example.org/pc")
	avail(t, r, bob, "")
	r.Hook(router.EventMessageBare, router.PriorityDefault, func(context.Context, *router.Stanza) bool { panic("boom") })
	r.Hook(router.EventIQHost, router.PriorityDefault, func(context.Context, *router.Stanza) bool { panic(errors.New("boom")) })

	route(t, r, alice, `<message to='bob@example.org' type='chat' id='m'/>`)
	routertest.AssertXML(t, alice.TakeOne(t), `<message to='alice@example.org/phone' from='bob@example.org' type='error' id='m'>
		<error type='cancel'><internal-server-error xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>`)
	nothing(t, bob)
	route(t, r, alice, `<iq to='example.org' type='get' id='i'><x xmlns='urn:x'/></iq>`)
	routertest.AssertXML(t, alice.TakeOne(t), `<iq to='alice@example.org/phone' from='example.org' type='error' id='i'>
		<error type='cancel'><internal-server-error xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`)
	// An error stanza is not answered even when a hook panics on it.
	route(t, r, alice, `<message to='bob@example.org' type='error' id='e'/>`)
	nothing(t, alice)
	// The router goes on.
	st := route(t, r, alice, `<message to='bob@example.org/pc' id='full'/>`)
	got(t, st.El, bob)

	// Session hooks too.
	r.OnSessionBound(func(context.Context, router.Session, bool) { panic("bound") })
	var ended atomic.Int32
	r.OnSessionEnded(func(context.Context, router.Session, bool) { panic("ended") })
	r.OnSessionEnded(func(context.Context, router.Session, bool) { ended.Add(1) })
	s := routertest.Bind(t, r, "carol@example.org/x")
	r.SessionBound(ctx, s)
	r.SessionEnded(ctx, s)
	if ended.Load() != 1 {
		t.Fatal("the hook after a panicking one did not run")
	}
}

func TestRegistry(t *testing.T) {
	r := newRouter(t, func(c *router.Config) { c.MaxSessionsPerAccount = 3 })
	a := routertest.Bind(t, r, "alice@example.org/a")
	b := routertest.Bind(t, r, "Alice@Example.org/b")
	if n := r.SessionCount(); n != 2 {
		t.Fatalf("SessionCount %d", n)
	}
	if s, ok := r.Session(jid.MustParse("ALICE@example.org/b")); !ok || s != b {
		t.Fatal("Session by a differently cased JID")
	}
	if _, ok := r.Session(jid.MustParse("alice@example.org/B")); ok {
		t.Fatal("resources are case-sensitive")
	}
	if res := r.Resources(jid.MustParse("alice@example.org/whatever")); len(res) != 2 || res[0].Available || res[0].Presence != nil {
		t.Fatalf("Resources %+v", res)
	}

	// Replace (the default policy): the old session is returned, the
	// count unchanged.
	a2 := routertest.NewSession(jid.MustParse("alice@example.org/a"))
	old, err := r.Bind(a2)
	if err != nil || old != a {
		t.Fatalf("Bind replacing: %v, %v", old, err)
	}
	if s, _ := r.Session(a.JID()); s != a2 || r.SessionCount() != 2 {
		t.Fatal("replacement not recorded")
	}
	// The displaced session's Unbind is a no-op.
	if was, _ := r.Unbind(a); was {
		t.Fatal("Unbind of a replaced session removed something")
	}
	if s, ok := r.Session(a.JID()); !ok || s != a2 {
		t.Fatal("Unbind of a replaced session removed the new one")
	}

	// The session limit counts resources, not replacements.
	routertest.Bind(t, r, "alice@example.org/c")
	if _, err := r.Bind(routertest.NewSession(jid.MustParse("alice@example.org/d"))); !errors.Is(err, router.ErrTooManySessions) {
		t.Fatalf("fourth session: %v", err)
	}
	if _, err := r.Bind(routertest.NewSession(jid.MustParse("alice@example.org/c"))); err != nil {
		t.Fatalf("replacing at the limit: %v", err)
	}
	routertest.Bind(t, r, "bob@example.org/a") // another account

	// Unbind reports availability for the unavailable broadcast.
	avail(t, r, b, "")
	if was, wasAvail := r.Unbind(b); !was || !wasAvail {
		t.Fatalf("Unbind(b) = %v, %v", was, wasAvail)
	}
	if was, _ := r.Unbind(b); was {
		t.Fatal("second Unbind reported bound")
	}
	if n := r.SessionCount(); n != 3 || len(r.AllSessions()) != 3 {
		t.Fatalf("SessionCount %d, AllSessions %d", n, len(r.AllSessions()))
	}
	// SetPresence for an unbound session is ignored.
	avail(t, r, b, "")
	if len(r.Resources(jid.MustParse("alice@example.org"))) != 2 {
		t.Fatal("SetPresence bound a session")
	}

	// Refuse policy.
	r = newRouter(t, func(c *router.Config) { c.Conflict = router.RefuseNew })
	first := routertest.Bind(t, r, "alice@example.org/a")
	if old, err := r.Bind(routertest.NewSession(jid.MustParse("alice@example.org/a"))); !errors.Is(err, router.ErrConflict) || old != nil {
		t.Fatalf("Bind with RefuseNew: %v, %v", old, err)
	}
	if s, _ := r.Session(first.JID()); s != first {
		t.Fatal("refused bind replaced the session")
	}

	// Session hooks: ended only for sessions still bound, with availability.
	var bound, ended []string
	r.OnSessionBound(func(_ context.Context, s router.Session, _ bool) { bound = append(bound, s.JID().String()) })
	rm := r.OnSessionEnded(func(_ context.Context, s router.Session, wasAvail bool) {
		ended = append(ended, s.JID().String()+" "+strconv.FormatBool(wasAvail))
	})
	r.SessionBound(ctx, first)
	avail(t, r, first, "")
	r.SessionEnded(ctx, first)
	r.SessionEnded(ctx, first)
	if !slices.Equal(bound, []string{"alice@example.org/a"}) || !slices.Equal(ended, []string{"alice@example.org/a true"}) {
		t.Fatalf("hooks: bound %v, ended %v", bound, ended)
	}
	rm()
	s := routertest.Bind(t, r, "alice@example.org/z")
	r.SessionEnded(ctx, s)
	if len(ended) != 1 {
		t.Fatal("removed hook still runs")
	}
	if !r.IsLocalHost("example.com") || r.IsLocalHost("example.net") || !slices.Equal(r.Hosts(), []string{"example.org", "example.com"}) {
		t.Fatal("hosts")
	}
}

func TestPriorityParsing(t *testing.T) {
	r := newRouter(t)
	s := routertest.Bind(t, r, "alice@example.org/a")
	for in, want := range map[string]int{
		"": 0, "0": 0, "5": 5, "+5": 5, "-5": -5, "127": 127, "128": 127, "99999999999999999999": 127,
		"-128": -128, "-129": -128, "-99999999999999999999": -128, "abc": 0, "1.5": 0, "-": 0,
	} {
		p := `<presence/>`
		if in != "" {
			p = `<presence><priority>` + in + `</priority></presence>`
		}
		r.SetPresence(s, routertest.Parse(t, p))
		if res := r.Resources(s.JID()); res[0].Priority != want {
			t.Errorf("priority %q -> %d, want %d", in, res[0].Priority, want)
		}
	}
}

// TestConcurrency binds, routes to and unbinds many sessions at once; run
// with -race.
func TestConcurrency(t *testing.T) {
	r := newRouter(t, func(c *router.Config) {
		c.AccountExists = func(context.Context, string, string) (bool, error) { return true, nil }
	})
	var hookCalls atomic.Int64
	r.Hook(router.EventMessageOffline, router.PriorityDefault, func(context.Context, *router.Stanza) bool {
		hookCalls.Add(1)
		return true
	})
	const workers, rounds = 16, 200
	var wg sync.WaitGroup
	pres := routertest.Parse(t, `<presence><priority>1</priority></presence>`)
	for w := range workers {
		wg.Go(func() {
			me := routertest.NewSession(jid.MustParse(fmt.Sprintf("u%d@example.org/r", w)))
			if _, err := r.Bind(me); err != nil {
				t.Error(err)
				return
			}
			r.SetPresence(me, pres)
			for i := range rounds {
				// A short-lived extra resource of someone.
				extra := routertest.NewSession(jid.MustParse(fmt.Sprintf("u%d@example.org/x%d", (w+i)%workers, i)))
				if _, err := r.Bind(extra); err != nil {
					t.Error(err)
					return
				}
				r.SetPresence(extra, pres)
				peer := fmt.Sprintf("u%d@example.org", (w*7+i)%workers)
				r.Route(ctx, routertest.Stanza(t, me, `<message type='chat' to='`+peer+`' id='`+strconv.Itoa(i)+`'/>`))
				r.Route(ctx, routertest.Stanza(t, me, `<presence/>`))
				r.Resources(jid.MustParse(peer))
				if i%50 == 0 {
					rm := r.Hook(router.EventPresenceBroadcast, router.PriorityDefault, func(context.Context, *router.Stanza) bool { return false })
					rm()
				}
				r.SessionEnded(ctx, extra)
				me.Take()
			}
			r.SessionEnded(ctx, me)
		})
	}
	wg.Wait()
	if n := r.SessionCount(); n != 0 {
		t.Fatalf("%d sessions left", n)
	}
	if len(r.AllSessions()) != 0 {
		t.Fatal("AllSessions not empty")
	}
}
