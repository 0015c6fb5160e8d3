package offline

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"parley.im/parley/internal/routertest"
	"parley.im/parley/internal/storetest"
	"parley.im/parley/module"
	"parley.im/parley/router"
	"parley.im/parley/storage"
	"parley.im/parley/xmppcore"
)

const unavailable = `<error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>`

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type env struct {
	r     *router.Router
	reg   *module.Registry
	store *faulty
	alice *routertest.Session
	clock *storetest.Clock
}

// setup runs the module for example.org, where alice is online and bob
// has an account but no session.
func setup(t *testing.T, opts Options) *env {
	t.Helper()
	e := &env{store: &faulty{Store: openStore(t, "alice", "bob")}, clock: storetest.NewClock(t0)}
	e.r = router.New(router.Config{Hosts: []string{"example.org"},
		AccountExists: e.store.AccountExists})
	e.reg = module.NewRegistry(module.Env{Router: e.r})
	if opts.Now == nil {
		opts.Now = e.clock.Now
	}
	if err := e.reg.Add(New(e.store, opts)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.reg.Stop(context.Background()) })
	e.alice = routertest.Bind(t, e.r, "alice@example.org/phone")
	return e
}

func (e *env) send(t *testing.T, from *routertest.Session, xml string) {
	t.Helper()
	e.r.Route(t.Context(), routertest.Stanza(t, from, xml))
}

func (e *env) stored(t *testing.T, user string) []storage.OfflineMessage {
	t.Helper()
	msgs, err := e.store.Store.OfflineMessages(t.Context(), "example.org", user)
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

// online binds a session for bob and sends its initial presence.
func (e *env) online(t *testing.T, full, presence string) *routertest.Session {
	t.Helper()
	s := routertest.Bind(t, e.r, full)
	e.send(t, s, presence)
	return s
}

func TestStoreAndDeliverInOrder(t *testing.T) {
	e := setup(t, Options{})
	e.send(t, e.alice, `<message to='bob@example.org' type='chat' id='m1'><body>one</body></message>`)
	e.clock.Advance(time.Second)
	e.send(t, e.alice, `<message to='bob@example.org' id='m2'><subject>s</subject><body>two</body></message>`)
	e.clock.Advance(1500 * time.Millisecond)
	// RFC 6121 §8.5.3.2.1: chat to a resource that is not bound goes to
	// the bare JID, and so to storage.
	e.send(t, e.alice, `<message to='bob@example.org/gone' type='chat' id='m3'><body>three</body></message>`)
	e.send(t, e.alice, `<message to='bob@example.org' type='normal' id='m4'><body>four</body></message>`)
	if got := e.alice.Take(); len(got) != 0 {
		t.Fatalf("the sender was answered: %v", got)
	}
	if n := len(e.stored(t, "bob")); n != 4 {
		t.Fatalf("%d messages stored, want 4", n)
	}

	bob := e.online(t, "bob@example.org/laptop", `<presence/>`)
	got := bob.Take()
	if len(got) != 4 {
		t.Fatalf("bob got %d stanzas, want 4: %v", len(got), got)
	}
	routertest.AssertXML(t, got[0], `<message from='alice@example.org/phone' to='bob@example.org' type='chat' id='m1'><body>one</body>
		<delay xmlns='urn:xmpp:delay' from='example.org' stamp='2026-03-01T12:00:00.000Z'>Offline Storage</delay></message>`)
	routertest.AssertXML(t, got[1], `<message from='alice@example.org/phone' to='bob@example.org' id='m2'><subject>s</subject><body>two</body>
		<delay xmlns='urn:xmpp:delay' from='example.org' stamp='2026-03-01T12:00:01.000Z'>Offline Storage</delay></message>`)
	routertest.AssertXML(t, got[2], `<message from='alice@example.org/phone' to='bob@example.org/gone' type='chat' id='m3'><body>three</body>
		<delay xmlns='urn:xmpp:delay' from='example.org' stamp='2026-03-01T12:00:02.500Z'>Offline Storage</delay></message>`)
	if got[3].Attr("id") != "m4" {
		t.Errorf("fourth delivered is %s", got[3])
	}
	if n := len(e.stored(t, "bob")); n != 0 {
		t.Errorf("%d messages left after delivery", n)
	}

	// A later presence of the same session is not an initial one: nothing
	// is delivered twice.
	e.send(t, bob, `<presence><show>away</show></presence>`)
	if got := bob.Take(); len(got) != 0 {
		t.Errorf("a presence update delivered again: %v", got)
	}
}

func TestNotStored(t *testing.T) {
	for i, tc := range []struct {
		name, msg string
		answer    string // what alice gets back, "" for nothing
	}{
		{"groupchat", `<message to='bob@example.org' type='groupchat' id='x'><body>b</body></message>`,
			`<message from='bob@example.org' to='alice@example.org/phone' type='error' id='x'>` + unavailable + `</message>`},
		{"headline", `<message to='bob@example.org' type='headline' id='x'><body>b</body></message>`, ""},
		{"error", `<message to='bob@example.org' type='error' id='x'><body>b</body></message>`, ""},
		// XEP-0334: the sender asked that nothing keep it.
		{"no-store", `<message to='bob@example.org' type='chat' id='x'><body>b</body><no-store xmlns='urn:xmpp:hints'/></message>`,
			`<message from='bob@example.org' to='alice@example.org/phone' type='error' id='x'>` + unavailable + `</message>`},
		// XEP-0160 §3: chat states alone are not stored, nor bounced.
		{"chat state", `<message to='bob@example.org' type='chat' id='x'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>`, ""},
		{"chat state, thread and origin-id", `<message to='bob@example.org' type='chat' id='x'><thread>t</thread>
			<active xmlns='http://jabber.org/protocol/chatstates'/><origin-id xmlns='urn:xmpp:sid:0' id='o'/></message>`, ""},
		{"empty", `<message to='bob@example.org' id='x'/>`, ""},
		// RFC 6121 §8.5.3.2.1, by the router: normal to an unbound resource.
		{"normal to a full JID", `<message to='bob@example.org/gone' id='x'><body>b</body></message>`,
			`<message from='bob@example.org/gone' to='alice@example.org/phone' type='error' id='x'>` + unavailable + `</message>`},
		{"unknown user", `<message to='nobody@example.org' type='chat' id='x'><body>b</body></message>`,
			`<message from='nobody@example.org' to='alice@example.org/phone' type='error' id='x'>` + unavailable + `</message>`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := setup(t, Options{})
			e.send(t, e.alice, tc.msg)
			if tc.answer == "" {
				if got := e.alice.Take(); len(got) != 0 {
					t.Errorf("%d: sender got %v", i, got)
				}
			} else {
				routertest.AssertXML(t, e.alice.TakeOne(t), tc.answer)
			}
			if n := len(e.stored(t, "bob")) + len(e.stored(t, "nobody")); n != 0 {
				t.Errorf("%d: %d messages stored", i, n)
			}
		})
	}
}

func TestStoredWithoutBody(t *testing.T) {
	for _, msg := range []string{
		// XEP-0334 §4: offline delivery is the temporary storage that
		// no-permanent-store still allows.
		`<message to='bob@example.org' type='chat' id='x'><body>b</body><no-permanent-store xmlns='urn:xmpp:hints'/></message>`,
		`<message to='bob@example.org' type='chat' id='x'><active xmlns='http://jabber.org/protocol/chatstates'/><store xmlns='urn:xmpp:hints'/></message>`,
		`<message to='bob@example.org' type='chat' id='x'><encrypted xmlns='eu.siacs.conversations.axolotl'><payload>AA==</payload></encrypted></message>`,
		`<message to='bob@example.org' id='x'><x xmlns='jabber:x:conference' jid='room@conference.example.org'/></message>`,
		`<message to='bob@example.org' type='chat' id='x'><received xmlns='urn:xmpp:receipts' id='y'/></message>`,
	} {
		e := setup(t, Options{})
		e.send(t, e.alice, msg)
		if got := e.alice.Take(); len(got) != 0 {
			t.Errorf("%s: sender got %v", msg, got)
		}
		if n := len(e.stored(t, "bob")); n != 1 {
			t.Errorf("%s: %d stored, want 1", msg, n)
		}
	}
}

func TestLimit(t *testing.T) {
	e := setup(t, Options{Limit: 2})
	for _, id := range []string{"1", "2", "3"} {
		e.send(t, e.alice, `<message to='bob@example.org' type='chat' id='`+id+`'><body>b</body></message>`)
	}
	// XEP-0160 §2: the queue is full, the sender is told.
	routertest.AssertXML(t, e.alice.TakeOne(t),
		`<message from='bob@example.org' to='alice@example.org/phone' type='error' id='3'>`+unavailable+`</message>`)
	if n := len(e.stored(t, "bob")); n != 2 {
		t.Fatalf("%d stored, want 2", n)
	}
	if got := e.store.lastLimit(); got != 2 {
		t.Errorf("limit passed to the store = %d", got)
	}
}

func TestLimitOption(t *testing.T) {
	for _, tc := range []struct{ opt, want int }{{0, DefaultLimit}, {5, 5}, {-1, 0}} {
		e := setup(t, Options{Limit: tc.opt})
		e.send(t, e.alice, `<message to='bob@example.org' type='chat'><body>b</body></message>`)
		if got := e.store.lastLimit(); got != tc.want {
			t.Errorf("Limit %d: the store was given %d, want %d", tc.opt, got, tc.want)
		}
	}
}

func TestNegativePriority(t *testing.T) {
	e := setup(t, Options{})
	e.send(t, e.alice, `<message to='bob@example.org' type='chat' id='m1'><body>b</body></message>`)
	bob := e.online(t, "bob@example.org/bot", `<presence><priority>-1</priority></presence>`)
	if got := bob.Take(); len(got) != 0 {
		t.Fatalf("a negative-priority resource got %v", got)
	}
	if n := len(e.stored(t, "bob")); n != 1 {
		t.Fatalf("%d stored, want 1", n)
	}
	// XEP-0160 §2: the next non-negative available presence gets them.
	e.send(t, bob, `<presence><priority>0</priority></presence>`)
	if got := bob.TakeOne(t); got.Attr("id") != "m1" {
		t.Errorf("delivered %s", got)
	}
	e.send(t, bob, `<presence><priority>5</priority></presence>`)
	if got := bob.Take(); len(got) != 0 {
		t.Errorf("delivered again: %v", got)
	}
}

// A message that arrives while the only resource has a negative priority
// is stored (RFC 6121 §8.5.2.1.1) and delivered when the priority rises.
func TestStoredWhileNegative(t *testing.T) {
	e := setup(t, Options{})
	bob := e.online(t, "bob@example.org/bot", `<presence><priority>-5</priority></presence>`)
	e.send(t, e.alice, `<message to='bob@example.org' type='chat' id='m1'><body>b</body></message>`)
	if got := bob.Take(); len(got) != 0 {
		t.Fatalf("a negative-priority resource got %v", got)
	}
	e.send(t, bob, `<presence/>`)
	if got := bob.TakeOne(t); got.Attr("id") != "m1" {
		t.Errorf("delivered %s", got)
	}
}

func TestOnlyToTheResourceThatCameOnline(t *testing.T) {
	e := setup(t, Options{})
	e.send(t, e.alice, `<message to='bob@example.org' type='chat' id='m1'><body>b</body></message>`)
	laptop := routertest.Bind(t, e.r, "bob@example.org/laptop") // bound, not available
	phone := e.online(t, "bob@example.org/phone", `<presence/>`)
	if got := phone.TakeOne(t); got.Attr("id") != "m1" {
		t.Errorf("delivered %s", got)
	}
	if got := laptop.Take(); len(got) != 0 {
		t.Errorf("the other resource got %v", got)
	}
	e.send(t, laptop, `<presence/>`)
	if got := laptop.Take(); len(got) != 0 {
		t.Errorf("the other resource got %v later", got)
	}
}

// Unavailable presence, probes and directed presence deliver nothing.
func TestOtherPresenceDeliversNothing(t *testing.T) {
	e := setup(t, Options{})
	e.send(t, e.alice, `<message to='bob@example.org' type='chat' id='m1'><body>b</body></message>`)
	bob := routertest.Bind(t, e.r, "bob@example.org/laptop")
	e.send(t, bob, `<presence type='unavailable'/>`)
	e.send(t, bob, `<presence to='alice@example.org'/>`)
	if got := bob.Take(); len(got) != 0 {
		t.Fatalf("bob got %v", got)
	}
	if n := len(e.stored(t, "bob")); n != 1 {
		t.Fatalf("%d stored, want 1", n)
	}
}

func TestRefusedMessagesAreKept(t *testing.T) {
	e := setup(t, Options{})
	for _, id := range []string{"1", "2", "3"} {
		e.send(t, e.alice, `<message to='bob@example.org' type='chat' id='`+id+`'><body>b</body></message>`)
	}
	bob := &limited{Session: routertest.NewSession(jid.MustParse("bob@example.org/laptop")), left: 1}
	if _, err := e.r.Bind(bob); err != nil {
		t.Fatal(err)
	}
	e.r.Route(t.Context(), bob.stanza(t, `<presence/>`))
	if got := bob.Take(); len(got) != 1 || got[0].Attr("id") != "1" {
		t.Fatalf("accepted %v, want message 1", got)
	}
	left := e.stored(t, "bob")
	if len(left) != 2 {
		t.Fatalf("%d stored after a partial delivery, want 2", len(left))
	}
	// The next initial presence delivers the rest, in order.
	bob.setLeft(10)
	e.r.Route(t.Context(), bob.stanza(t, `<presence type='unavailable'/>`))
	e.r.Route(t.Context(), bob.stanza(t, `<presence/>`))
	got := bob.Take()
	if len(got) != 2 || got[0].Attr("id") != "2" || got[1].Attr("id") != "3" {
		t.Fatalf("second delivery %v", got)
	}
	if n := len(e.stored(t, "bob")); n != 0 {
		t.Errorf("%d left", n)
	}
}

func TestStoreErrors(t *testing.T) {
	e := setup(t, Options{})
	e.store.fail(errors.New("disk on fire"), nil)
	e.send(t, e.alice, `<message to='bob@example.org' type='chat' id='x'><body>b</body></message>`)
	routertest.AssertXML(t, e.alice.TakeOne(t),
		`<message from='bob@example.org' to='alice@example.org/phone' type='error' id='x'>`+unavailable+`</message>`)
	// Reading fails: nothing delivered, nothing lost.
	e.store.fail(nil, nil)
	e.send(t, e.alice, `<message to='bob@example.org' type='chat' id='y'><body>b</body></message>`)
	e.store.fail(errors.New("disk on fire"), nil)
	bob := e.online(t, "bob@example.org/laptop", `<presence/>`)
	if got := bob.Take(); len(got) != 0 {
		t.Fatalf("bob got %v", got)
	}
	// Deleting fails: delivered, and delivered again next time (a
	// duplicate rather than a loss).
	e.store.fail(nil, errors.New("disk on fire"))
	e.send(t, bob, `<presence type='unavailable'/>`)
	e.send(t, bob, `<presence/>`)
	if got := bob.TakeOne(t); got.Attr("id") != "y" {
		t.Fatalf("delivered %s", got)
	}
	e.store.fail(nil, nil)
	e.send(t, bob, `<presence type='unavailable'/>`)
	e.send(t, bob, `<presence/>`)
	if got := bob.TakeOne(t); got.Attr("id") != "y" {
		t.Fatalf("delivered %s", got)
	}
	if n := len(e.stored(t, "bob")); n != 0 {
		t.Errorf("%d left", n)
	}
}

func TestUnreadableMessageSkipped(t *testing.T) {
	e := setup(t, Options{})
	if err := e.store.PushOffline(t.Context(), "example.org", "bob", []byte("<message"), t0, 0); err != nil {
		t.Fatal(err)
	}
	if err := e.store.PushOffline(t.Context(), "example.org", "bob", []byte("<iq type='get' id='q'/>"), t0, 0); err != nil {
		t.Fatal(err)
	}
	e.send(t, e.alice, `<message to='bob@example.org' type='chat' id='ok'><body>b</body></message>`)
	bob := e.online(t, "bob@example.org/laptop", `<presence/>`)
	if got := bob.TakeOne(t); got.Attr("id") != "ok" {
		t.Fatalf("delivered %s", got)
	}
	if n := len(e.stored(t, "bob")); n != 0 {
		t.Errorf("%d left", n)
	}
}

func TestFeature(t *testing.T) {
	e := setup(t, Options{})
	if !slices.Contains(e.reg.Features(module.Server), Feature) {
		t.Errorf("server features %v lack %s", e.reg.Features(module.Server), Feature)
	}
	if err := e.reg.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(e.reg.Features(module.Server), Feature) {
		t.Error("feature still advertised after stop")
	}
	// Stopped: the router answers as without offline storage.
	e.send(t, e.alice, `<message to='bob@example.org' type='chat' id='x'><body>b</body></message>`)
	routertest.AssertXML(t, e.alice.TakeOne(t),
		`<message from='bob@example.org' to='alice@example.org/phone' type='error' id='x'>`+unavailable+`</message>`)
}

func TestStamp(t *testing.T) {
	loc := time.FixedZone("X", 2*3600)
	if got := Stamp(time.Date(2002, 9, 10, 23, 8, 25, 123456789, loc)); got != "2002-09-10T21:08:25.123Z" {
		t.Errorf("Stamp = %s", got)
	}
}

// limited accepts a number of stanzas, then refuses like a full queue.
type limited struct {
	*routertest.Session
	mu   sync.Mutex
	left int
}

func (l *limited) Send(el *xmppcore.Element) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.left == 0 {
		return false
	}
	l.left--
	return l.Session.Send(el)
}

func (l *limited) setLeft(n int) {
	l.mu.Lock()
	l.left = n
	l.mu.Unlock()
}

// stanza is routertest.Stanza with the wrapper as origin.
func (l *limited) stanza(t *testing.T, xml string) *router.Stanza {
	st := routertest.Stanza(t, l.Session, xml)
	st.Origin = l
	return st
}
