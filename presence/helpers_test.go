package presence

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"parley.im/parley/internal/routertest"
	"parley.im/parley/module"
	"parley.im/parley/router"
	"parley.im/parley/storage"
	"parley.im/parley/storage/sqlite"
	"parley.im/parley/xmppcore"
)

const host = "example.org"

// push is one call of RosterPusher.Push.
type push struct {
	account       string
	before, after *storage.RosterItem
	version       int64
}

// pusher records pushes and holds the roster module's removal hooks.
type pusher struct {
	mu       sync.Mutex
	pushes   []push
	onRemove []func(ctx context.Context, host, username string, old storage.RosterItem)
}

func (p *pusher) Push(_ context.Context, host, username string, before, after *storage.RosterItem, version int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pushes = append(p.pushes, push{username + "@" + host, before, after, version})
}

func (p *pusher) OnRemove(h func(ctx context.Context, host, username string, old storage.RosterItem)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.onRemove = append(p.onRemove, h)
}

func (p *pusher) take() []push {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.pushes
	p.pushes = nil
	return out
}

// removed runs the hooks as the roster module does after a removal.
func (p *pusher) removed(ctx context.Context, account string, old storage.RosterItem) {
	j := jid.MustParse(account)
	p.mu.Lock()
	hooks := slices.Clone(p.onRemove)
	p.mu.Unlock()
	for _, h := range hooks {
		h(ctx, j.Domainpart(), j.Localpart(), old)
	}
}

type env struct {
	r          *router.Router
	p          *Presence
	store      *sqlite.Store
	pusher     *pusher
	remote     *routertest.Remote // nil unless federated
	remoteSeen int
	now        time.Time
}

// setup returns a router for example.org (accounts alice, bob, carol,
// dave, erin) with the presence module. With federated, a recording Remote
// stands for other domains and the module uses WithFederation.
func setup(t *testing.T, federated bool, opts ...Option) *env {
	t.Helper()
	store := openStore(t, "alice@example.org", "bob@example.org", "carol@example.org",
		"dave@example.org", "erin@example.org")
	r := router.New(router.Config{Hosts: []string{host}, AccountExists: store.AccountExists})
	reg := module.NewRegistry(module.Env{Router: r})
	e := &env{r: r, store: store, pusher: &pusher{}, now: time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)}
	opts = append([]Option{WithClock(func() time.Time { return e.now })}, opts...)
	if federated {
		e.remote = &routertest.Remote{}
		r.SetRemote(e.remote)
		opts = append(opts, WithFederation())
	}
	e.p = New(e.store, e.pusher, opts...)
	if err := reg.Add(e.p); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Stop(context.Background()) })
	return e
}

// bind binds a session and runs the bound hooks, as c2s does.
func (e *env) bind(t *testing.T, full string) *routertest.Session {
	t.Helper()
	s := routertest.Bind(t, e.r, full)
	e.r.SessionBound(t.Context(), s)
	return s
}

// send routes stanza text from a session, as c2s does.
func (e *env) send(t *testing.T, s *routertest.Session, text string) {
	t.Helper()
	e.r.Route(t.Context(), routertest.Stanza(t, s, text))
}

// fromServer routes stanza text that a remote server (or the server
// itself) sends: no origin session.
func (e *env) fromServer(t *testing.T, text string) {
	t.Helper()
	el := routertest.Parse(t, text)
	st := &router.Stanza{El: el, From: jid.MustParse(el.Attr("from"))}
	if to := el.Attr("to"); to != "" {
		st.To = jid.MustParse(to)
	}
	e.r.Route(t.Context(), st)
}

// item parses a state written as in RFC 6121 Appendix A, lower case, with
// '+' between parts: "none", "none+out+in", "to+in", "from+out", "both",
// "none+approved"... "-" is no item. Items carry no name, so "none+in" is
// a tracking item that only records a request.
func item(t testing.TB, contact, s string) *storage.RosterItem {
	t.Helper()
	if s == "-" {
		return nil
	}
	parts := strings.Split(s, "+")
	it := &storage.RosterItem{JID: contact, Subscription: parts[0]}
	switch parts[0] {
	case storage.SubNone, storage.SubTo, storage.SubFrom, storage.SubBoth:
	default:
		t.Fatalf("bad state %q", s)
	}
	for _, f := range parts[1:] {
		switch f {
		case "out":
			it.PendingOut = true
		case "in":
			it.PendingIn = true
		case "approved":
			it.Approved = true
		default:
			t.Fatalf("bad state %q", s)
		}
	}
	return it
}

// stateString is the inverse of item.
func stateString(it *storage.RosterItem) string {
	if it == nil {
		return "-"
	}
	s := it.Subscription
	if it.PendingOut {
		s += "+out"
	}
	if it.PendingIn {
		s += "+in"
	}
	if it.Approved {
		s += "+approved"
	}
	return s
}

// put stores an item in account's roster.
func (e *env) put(t *testing.T, account string, it *storage.RosterItem) {
	t.Helper()
	if it == nil {
		return
	}
	j := jid.MustParse(account)
	if _, _, err := e.store.UpdateRosterItem(t.Context(), j.Domainpart(), j.Localpart(), it.JID,
		func(*storage.RosterItem) (*storage.RosterItem, error) { return it, nil }); err != nil {
		t.Fatal(err)
	}
}

// state returns the state of account's item for contact.
func (e *env) state(t *testing.T, account, contact string) string {
	t.Helper()
	j := jid.MustParse(account)
	it, err := e.store.RosterItem(t.Context(), j.Domainpart(), j.Localpart(), contact)
	if err == storage.ErrNotFound {
		return "-"
	}
	if err != nil {
		t.Fatal(err)
	}
	return stateString(&it)
}

// requests returns the contacts whose requests are kept for account.
func (e *env) requests(t *testing.T, account string) []string {
	t.Helper()
	j := jid.MustParse(account)
	items, err := e.store.ListData(t.Context(), j.Domainpart(), j.Localpart(), storage.DataSubscribeRequest)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, it := range items {
		out = append(out, it.Key)
	}
	return out
}

// available makes a session available with the given presence without
// running the broadcast (to set up a test).
func (e *env) available(t *testing.T, s *routertest.Session, text string) {
	t.Helper()
	el := routertest.Parse(t, text)
	el.SetAttr("from", s.JID().String())
	e.r.SetPresence(s, el)
}

// remoteGot returns what the Remote was given since the last call.
func (e *env) remoteGot(t *testing.T) []*xmppcore.Element {
	t.Helper()
	var out []*xmppcore.Element
	got := e.remote.Got()
	for _, st := range got[e.remoteSeen:] {
		out = append(out, st.El)
	}
	e.remoteSeen = len(got)
	return out
}

// assertAll checks that got holds exactly the elements of want, in order.
func assertAll(t *testing.T, who string, got []*xmppcore.Element, want ...string) {
	t.Helper()
	if len(got) != len(want) {
		var b strings.Builder
		for _, g := range got {
			b.WriteString("\n\t" + routertest.Canonical(g).String())
		}
		t.Fatalf("%s got %d stanzas, want %d:%s", who, len(got), len(want), b.String())
	}
	for i := range want {
		routertest.AssertXML(t, got[i], want[i])
	}
}

// assertSet checks that got holds the elements of want in any order.
func assertSet(t *testing.T, who string, got []*xmppcore.Element, want ...string) {
	t.Helper()
	var g, w []string
	for _, el := range got {
		g = append(g, routertest.Canonical(el).String())
	}
	for _, s := range want {
		w = append(w, routertest.Canonical(routertest.Parse(t, s)).String())
	}
	slices.Sort(g)
	slices.Sort(w)
	if !slices.Equal(g, w) {
		t.Fatalf("%s got:\n\t%s\nwant:\n\t%s", who, strings.Join(g, "\n\t"), strings.Join(w, "\n\t"))
	}
}
