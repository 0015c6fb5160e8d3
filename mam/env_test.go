package mam

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"parley.im/parley/internal/routertest"
	"parley.im/parley/internal/storetest"
	"parley.im/parley/module"
	"parley.im/parley/router"
	"parley.im/parley/storage"
	"parley.im/parley/storage/sqlite"
	"parley.im/parley/xmppcore"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// openStore opens a SQLite store in a temporary directory with accounts
// for users on example.org.
func openStore(t *testing.T, users ...string) *sqlite.Store {
	return storetest.Open(t, "example.org", users...)
}

// faulty is the real store with archive writes failing on demand and the
// sizes of the batches written recorded.
type faulty struct {
	*sqlite.Store

	mu      sync.Mutex
	failing int   // the next failing appends fail
	batches []int // sizes of the appends that reached the store
	block   chan struct{}

	prefsBlock chan struct{} // when set, preference reads wait for it
	prefsReads int
}

func (f *faulty) ArchivePrefs(ctx context.Context, host, username string) (storage.ArchivePrefs, error) {
	f.mu.Lock()
	f.prefsReads++
	block := f.prefsBlock
	f.mu.Unlock()
	if block != nil {
		<-block
	}
	return f.Store.ArchivePrefs(ctx, host, username)
}

var errInjected = errors.New("injected failure")

func (f *faulty) AppendArchive(ctx context.Context, entries []storage.ArchiveEntry) error {
	f.mu.Lock()
	block := f.block
	f.mu.Unlock()
	if block != nil {
		<-block
	}
	f.mu.Lock()
	f.batches = append(f.batches, len(entries))
	fail := f.failing > 0
	if fail {
		f.failing--
	}
	f.mu.Unlock()
	if fail {
		return errInjected
	}
	return f.Store.AppendArchive(ctx, entries)
}

func (f *faulty) fail(n int) {
	f.mu.Lock()
	f.failing = n
	f.mu.Unlock()
}

func (f *faulty) batchSizes() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]int(nil), f.batches...)
}

type env struct {
	r      *router.Router
	reg    *module.Registry
	store  *faulty
	mam    *MAM
	clock  *storetest.Clock
	remote *routertest.Remote

	alice, laptop, bob *routertest.Session
}

// setup runs the module (started) on example.org, where alice is online
// on two resources (phone at priority 1, laptop at 0), bob on one, and
// carol has an account but no session. example.net is a remote domain.
// extra builds further modules over the store, added after MAM.
func setup(t *testing.T, opts Options, extra ...func(*faulty) module.Module) *env {
	t.Helper()
	e := &env{store: &faulty{Store: openStore(t, "alice", "bob", "carol")}, clock: storetest.NewClock(t0),
		remote: &routertest.Remote{}}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	e.r = router.New(router.Config{Hosts: []string{"example.org"}, AccountExists: e.store.AccountExists, Logger: logger})
	e.r.SetRemote(e.remote)
	e.reg = module.NewRegistry(module.Env{Router: e.r, Logger: logger})
	if opts.Now == nil {
		opts.Now = e.clock.Now
	}
	e.mam = New(e.store, opts)
	if err := e.reg.Add(e.mam); err != nil {
		t.Fatal(err)
	}
	for _, f := range extra {
		if err := e.reg.Add(f(e.store)); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.reg.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.reg.Stop(context.Background()) })
	e.alice = e.online(t, "alice@example.org/phone", "1")
	e.laptop = e.online(t, "alice@example.org/laptop", "0")
	e.bob = e.online(t, "bob@example.org/home", "0")
	return e
}

func (e *env) online(t *testing.T, full, prio string) *routertest.Session {
	t.Helper()
	s := routertest.Bind(t, e.r, full)
	e.r.SetPresence(s, routertest.Parse(t, `<presence><priority>`+prio+`</priority></presence>`))
	return s
}

// send routes xml from a session, one clock second later than the last.
func (e *env) send(t *testing.T, from *routertest.Session, xml string) {
	t.Helper()
	e.clock.Advance(time.Second)
	e.r.Route(t.Context(), routertest.Stanza(t, from, xml))
}

// flush waits until what was routed is written.
func (e *env) flush(t *testing.T) {
	t.Helper()
	if err := e.mam.w.flush(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// archive returns user's whole archive.
func (e *env) archive(t *testing.T, user string) []storage.ArchiveEntry {
	t.Helper()
	e.flush(t)
	p, err := e.store.QueryArchive(t.Context(), "example.org", user, storage.ArchiveQuery{Max: 10000})
	if err != nil {
		t.Fatal(err)
	}
	return p.Entries
}

// stanzaID returns the id of el's stanza-id by 'by', "" when none, and
// fails the test when there are several.
func stanzaID(t *testing.T, el *xmppcore.Element, by string) string {
	t.Helper()
	id, n := "", 0
	for c := range el.Children() {
		if c.Is(NSSID, "stanza-id") && c.Attr("by") == by {
			id = c.Attr("id")
			n++
		}
	}
	if n > 1 {
		t.Fatalf("%d stanza-ids by %s in %s", n, by, el)
	}
	return id
}

// queryResult is what a query brought back.
type queryResult struct {
	results []*xmppcore.Element // the <result/> messages
	iq      *xmppcore.Element   // the final IQ
}

// ids returns the archive IDs of the results, in the order sent.
func (q queryResult) ids() []string {
	var out []string
	for _, m := range q.results {
		out = append(out, m.Child(NS, "result").Attr("id"))
	}
	return out
}

// bodies returns the bodies of the forwarded messages, in the order sent.
func (q queryResult) bodies() []string {
	var out []string
	for _, m := range q.results {
		out = append(out, forwarded(m).ChildText(xmppcore.NSClient, "body"))
	}
	return out
}

// fin returns the IQ result's <fin/>, or nil.
func (q queryResult) fin() *xmppcore.Element { return q.iq.Child(NS, "fin") }

// rsm returns first, its index, last and count of the <fin/>'s set.
func (q queryResult) rsm(t *testing.T) (first string, index int, last string, count int) {
	t.Helper()
	set := q.fin().Child(NSRSM, "set")
	if set == nil {
		t.Fatalf("no RSM set in %s", q.iq)
	}
	if f := set.Child(NSRSM, "first"); f != nil {
		first = f.Text()
		index, _ = strconv.Atoi(f.Attr("index"))
	}
	last = set.ChildText(NSRSM, "last")
	count, _ = strconv.Atoi(set.ChildText(NSRSM, "count"))
	return
}

func (q queryResult) complete() string { return q.fin().Attr("complete") }

// forwarded returns the message inside a result.
func forwarded(m *xmppcore.Element) *xmppcore.Element {
	return m.Child(NS, "result").Child(NSForward, "forwarded").Child(xmppcore.NSClient, "message")
}

var queryN int

// query sends an archive query from s (payload is the inside of <query/>)
// and returns the results and the final IQ, which must come last.
func (e *env) query(t *testing.T, s *routertest.Session, attrs, payload string) queryResult {
	t.Helper()
	queryN++
	id := fmt.Sprint("q", queryN)
	e.r.Route(t.Context(), routertest.Stanza(t, s,
		`<iq type='set' id='`+id+`'><query xmlns='urn:xmpp:mam:2' `+attrs+`>`+payload+`</query></iq>`))
	got := s.Take()
	if len(got) == 0 {
		t.Fatalf("no answer to the query")
	}
	q := queryResult{results: got[:len(got)-1], iq: got[len(got)-1]}
	if q.iq.Local != "iq" || q.iq.Attr("id") != id {
		t.Fatalf("the last stanza is not the IQ answer: %s", q.iq)
	}
	for _, m := range q.results {
		if m.Local != "message" || m.Child(NS, "result") == nil {
			t.Fatalf("not a result: %s", m)
		}
	}
	return q
}

// queryOK is query that fails the test unless the IQ is a result.
func (e *env) queryOK(t *testing.T, s *routertest.Session, attrs, payload string) queryResult {
	t.Helper()
	q := e.query(t, s, attrs, payload)
	if q.iq.Attr("type") != "result" || q.fin() == nil {
		t.Fatalf("query failed: %s", q.iq)
	}
	return q
}

// queryErr is query that fails the test unless the IQ is an error with
// condition cond and nothing else was sent.
func (e *env) queryErr(t *testing.T, s *routertest.Session, payload, cond string) {
	t.Helper()
	q := e.query(t, s, "", payload)
	if len(q.results) != 0 {
		t.Errorf("results sent before an error: %v", q.results)
	}
	assertError(t, q.iq, cond)
}

func assertError(t *testing.T, el *xmppcore.Element, cond string) {
	t.Helper()
	if el.Attr("type") != "error" {
		t.Fatalf("want a %s error, got %s", cond, el)
	}
	if e := el.Child("", "error"); e == nil || e.Child(xmppcore.NSStanzas, cond) == nil {
		t.Fatalf("want a %s error, got %s", cond, el)
	}
}

// form builds a submitted query form from var/value pairs; a value of
// the form "a|b" gives several values.
func form(pairs ...string) string {
	s := `<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>urn:xmpp:mam:2</value></field>`
	for i := 0; i+1 < len(pairs); i += 2 {
		s += `<field var='` + pairs[i] + `'>`
		for _, v := range splitBar(pairs[i+1]) {
			s += `<value>` + v + `</value>`
		}
		s += `</field>`
	}
	return s + `</x>`
}

func splitBar(s string) []string {
	var out []string
	start := 0
	for i := range len(s) {
		if s[i] == '|' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func rsm(inner string) string {
	return `<set xmlns='http://jabber.org/protocol/rsm'>` + inner + `</set>`
}
