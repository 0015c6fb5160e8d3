package lastactivity

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
	"parley.im/parley/storage/sqlite"
)

const (
	unavailable = `<error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>`
	forbidden   = `<error type='auth'><forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>`
	ise         = `<error type='cancel'><internal-server-error xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>`
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// roster is the store's rosters, with failures injected on demand.
type roster struct {
	*sqlite.Store

	mu  sync.Mutex
	err error
}

func (r *roster) setErr(err error) {
	r.mu.Lock()
	r.err = err
	r.mu.Unlock()
}

func (r *roster) RosterItem(ctx context.Context, host, username, contact string) (storage.RosterItem, error) {
	r.mu.Lock()
	err := r.err
	r.mu.Unlock()
	if err != nil {
		return storage.RosterItem{}, err
	}
	return r.Store.RosterItem(ctx, host, username, contact)
}

// subscribe puts contact in user's roster with the given subscription.
func subscribe(t *testing.T, st *sqlite.Store, user, contact, sub string) {
	t.Helper()
	_, _, err := st.UpdateRosterItem(t.Context(), "example.org", user, contact, func(*storage.RosterItem) (*storage.RosterItem, error) {
		return &storage.RosterItem{JID: contact, Subscription: sub}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

type env struct {
	r      *router.Router
	reg    *module.Registry
	store  *faulty
	roster *roster
	clock  *storetest.Clock
	bob    *routertest.Session
	carol  *routertest.Session
}

func setup(t *testing.T) *env {
	t.Helper()
	st := openStore(t, "alice", "bob", "carol", "dave")
	e := &env{store: &faulty{Store: st}, roster: &roster{Store: st}, clock: storetest.NewClock(t0)}
	// Alice's roster: bob and romeo may see her presence, carol and dave
	// may not.
	subscribe(t, st, "alice", "bob@example.org", storage.SubFrom)
	subscribe(t, st, "alice", "romeo@montague.net", storage.SubBoth)
	subscribe(t, st, "alice", "carol@example.org", storage.SubTo)
	subscribe(t, st, "alice", "dave@example.org", storage.SubNone)
	e.r = router.New(router.Config{Hosts: []string{"example.org"}, AccountExists: st.AccountExists})
	e.reg = module.NewRegistry(module.Env{Router: e.r})
	if err := e.reg.Add(New(e.store, e.roster, Options{Now: e.clock.Now})); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.reg.Stop(context.Background()) })
	e.bob = routertest.Bind(t, e.r, "bob@example.org/pc")
	e.carol = routertest.Bind(t, e.r, "carol@example.org/x")
	return e
}

func (e *env) send(t *testing.T, from *routertest.Session, xml string) {
	t.Helper()
	e.r.Route(t.Context(), routertest.Stanza(t, from, xml))
}

func (e *env) iq(t *testing.T, from *routertest.Session, xml, want string) {
	t.Helper()
	e.send(t, from, xml)
	routertest.AssertXML(t, from.TakeOne(t), want)
}

const askAlice = `<iq type='get' id='l' to='alice@example.org'><query xmlns='jabber:iq:last'/></iq>`

func TestUptime(t *testing.T) {
	e := setup(t)
	e.clock.Advance(125*time.Second + 900*time.Millisecond)
	e.iq(t, e.carol, `<iq type='get' id='u' to='example.org'><query xmlns='jabber:iq:last'/></iq>`,
		`<iq type='result' id='u' from='example.org' to='carol@example.org/x'><query xmlns='jabber:iq:last' seconds='125'/></iq>`)
	started := New(nil, nil, Options{Started: t0.Add(-time.Hour), Now: func() time.Time { return t0 }})
	if got, _ := started.uptime(t.Context(), nil); got.Attr("seconds") != "3600" {
		t.Errorf("with Started an hour ago: %s", got)
	}
}

func TestLastLogout(t *testing.T) {
	e := setup(t)
	// Never logged out since the module exists.
	e.iq(t, e.bob, askAlice, `<iq type='error' id='l' from='alice@example.org' to='bob@example.org/pc'>`+unavailable+`</iq>`)

	phone := routertest.Bind(t, e.r, "alice@example.org/phone")
	laptop := routertest.Bind(t, e.r, "alice@example.org/laptop")
	e.send(t, phone, `<presence/>`)
	// §3.1: connected, so 0.
	e.iq(t, e.bob, askAlice, `<iq type='result' id='l' from='alice@example.org' to='bob@example.org/pc'><query xmlns='jabber:iq:last' seconds='0'/></iq>`)
	e.iq(t, phone, `<iq type='get' id='own'><query xmlns='jabber:iq:last'/></iq>`,
		`<iq type='result' id='own' to='alice@example.org/phone'><query xmlns='jabber:iq:last' seconds='0'/></iq>`)

	e.send(t, phone, `<presence type='unavailable'><status>Heading Home</status></presence>`)
	e.r.SessionEnded(t.Context(), phone)
	if _, err := e.store.GetData(t.Context(), "example.org", "alice", storage.DataLastActivity, ""); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("recorded while the laptop is still connected: %v", err)
	}
	e.iq(t, e.bob, askAlice, `<iq type='result' id='l' from='alice@example.org' to='bob@example.org/pc'><query xmlns='jabber:iq:last' seconds='0'/></iq>`)

	e.clock.Advance(time.Minute)
	e.send(t, laptop, `<presence type='unavailable'><status>Gone fishing</status></presence>`)
	e.r.SessionEnded(t.Context(), laptop)
	e.clock.Advance(15*time.Minute + 3*time.Second)
	e.iq(t, e.bob, askAlice, `<iq type='result' id='l' from='alice@example.org' to='bob@example.org/pc'>
		<query xmlns='jabber:iq:last' seconds='903'>Gone fishing</query></iq>`)

	// Back and gone again without a status: the old text is not reused.
	phone = routertest.Bind(t, e.r, "alice@example.org/phone")
	e.send(t, phone, `<presence type='unavailable'><status>Lunch</status></presence>`)
	e.send(t, phone, `<presence/>`)
	e.r.SessionEnded(t.Context(), phone)
	e.clock.Advance(10 * time.Second)
	e.iq(t, e.bob, askAlice, `<iq type='result' id='l' from='alice@example.org' to='bob@example.org/pc'>
		<query xmlns='jabber:iq:last' seconds='10'/></iq>`)
}

func TestWhoMayAsk(t *testing.T) {
	e := setup(t)
	phone := routertest.Bind(t, e.r, "alice@example.org/phone")
	e.r.SessionEnded(t.Context(), phone)
	dave := routertest.Bind(t, e.r, "dave@example.org/y")
	e.iq(t, e.carol, askAlice, `<iq type='error' id='l' from='alice@example.org' to='carol@example.org/x'>`+forbidden+`</iq>`)
	e.iq(t, dave, askAlice, `<iq type='error' id='l' from='alice@example.org' to='dave@example.org/y'>`+forbidden+`</iq>`)
	// Subscription is per direction: alice is not in bob's roster.
	e.iq(t, e.bob, `<iq type='get' id='l' to='carol@example.org'><query xmlns='jabber:iq:last'/></iq>`,
		`<iq type='error' id='l' from='carol@example.org' to='bob@example.org/pc'>`+forbidden+`</iq>`)

	remote := &routertest.Remote{}
	e.r.SetRemote(remote)
	el := routertest.Parse(t, `<iq type='get' id='r' from='romeo@montague.net/orchard' to='alice@example.org'><query xmlns='jabber:iq:last'/></iq>`)
	e.r.Route(t.Context(), &router.Stanza{El: el, From: jid.MustParse("romeo@montague.net/orchard"), To: jid.MustParse("alice@example.org")})
	if got := remote.Got(); len(got) != 1 {
		t.Fatalf("remote got %d", len(got))
	} else {
		routertest.AssertXML(t, got[0].El, `<iq type='result' id='r' from='alice@example.org' to='romeo@montague.net/orchard'><query xmlns='jabber:iq:last' seconds='0'/></iq>`)
	}

	e.roster.setErr(errors.New("disk on fire"))
	e.iq(t, e.bob, askAlice, `<iq type='error' id='l' from='alice@example.org' to='bob@example.org/pc'>`+ise+`</iq>`)
}

// §3.2: a request to a full JID from someone not allowed never reaches the
// client.
func TestFullJIDGuard(t *testing.T) {
	e := setup(t)
	phone := routertest.Bind(t, e.r, "alice@example.org/phone")
	laptop := routertest.Bind(t, e.r, "alice@example.org/laptop")
	toPhone := `<iq type='get' id='f' to='alice@example.org/phone'><query xmlns='jabber:iq:last'/></iq>`
	e.iq(t, e.carol, toPhone, `<iq type='error' id='f' from='alice@example.org/phone' to='carol@example.org/x'>`+forbidden+`</iq>`)
	if got := phone.Take(); len(got) != 0 {
		t.Fatalf("the client got %v", got)
	}
	for _, from := range []*routertest.Session{e.bob, laptop} {
		e.send(t, from, toPhone)
		if got := phone.TakeOne(t); got.Attr("id") != "f" {
			t.Errorf("the client got %s", got)
		}
		if got := from.Take(); len(got) != 0 {
			t.Errorf("the requester got %v", got)
		}
	}
	// Other IQs, and answers, are not the module's business.
	for _, x := range []string{`<iq type='get' id='p' to='alice@example.org/phone'><ping xmlns='urn:xmpp:ping'/></iq>`,
		`<iq type='result' id='p' to='alice@example.org/phone'><query xmlns='jabber:iq:last' seconds='3'/></iq>`} {
		e.send(t, e.carol, x)
		if got := phone.TakeOne(t); got.Attr("id") != "p" {
			t.Errorf("the client got %s", got)
		}
	}
	e.roster.setErr(errors.New("disk on fire"))
	e.iq(t, e.carol, toPhone, `<iq type='error' id='f' from='alice@example.org/phone' to='carol@example.org/x'>`+ise+`</iq>`)
}

func TestStorageErrors(t *testing.T) {
	e := setup(t)
	e.store.SetErr(errors.New("disk on fire"))
	phone := routertest.Bind(t, e.r, "alice@example.org/phone")
	e.r.SessionEnded(t.Context(), phone) // logged, not fatal
	e.iq(t, e.bob, askAlice, `<iq type='error' id='l' from='alice@example.org' to='bob@example.org/pc'>`+ise+`</iq>`)
	e.store.SetErr(nil)
	if err := e.store.PutData(t.Context(), "example.org", "alice", storage.DataLastActivity, "", []byte("{")); err != nil {
		t.Fatal(err)
	}
	e.iq(t, e.bob, askAlice, `<iq type='error' id='l' from='alice@example.org' to='bob@example.org/pc'>`+ise+`</iq>`)
}

func TestFeature(t *testing.T) {
	e := setup(t)
	for _, target := range []module.Target{module.Server, module.Account} {
		if !slices.Contains(e.reg.Features(target), NS) {
			t.Errorf("target %d: features %v lack %s", target, e.reg.Features(target), NS)
		}
	}
}
