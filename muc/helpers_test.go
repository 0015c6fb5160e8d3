package muc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
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
	"parley.im/parley/xmppcore"
)

const (
	host   = "example.org"
	svcJID = "conference.example.org"
	coven  = "coven@conference.example.org"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// faultyStore is the real SQLite store with failures injected on demand.
type faultyStore struct {
	*sqlite.Store
	mu  sync.Mutex
	err error
}

var errInjected = errors.New("injected storage failure")

func (f *faultyStore) fail(on bool) {
	f.mu.Lock()
	f.err = nil
	if on {
		f.err = errInjected
	}
	f.mu.Unlock()
}

func (f *faultyStore) failure() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

func (f *faultyStore) CreateMUCRoom(ctx context.Context, r storage.MUCRoom) error {
	if err := f.failure(); err != nil {
		return err
	}
	return f.Store.CreateMUCRoom(ctx, r)
}

func (f *faultyStore) MUCRoom(ctx context.Context, service, name string) (storage.MUCRoom, error) {
	if err := f.failure(); err != nil {
		return storage.MUCRoom{}, err
	}
	return f.Store.MUCRoom(ctx, service, name)
}

func (f *faultyStore) UpdateMUCRoom(ctx context.Context, r storage.MUCRoom) error {
	if err := f.failure(); err != nil {
		return err
	}
	return f.Store.UpdateMUCRoom(ctx, r)
}

func (f *faultyStore) DeleteMUCRoom(ctx context.Context, service, name string) error {
	if err := f.failure(); err != nil {
		return err
	}
	return f.Store.DeleteMUCRoom(ctx, service, name)
}

func (f *faultyStore) SetMUCAffiliations(ctx context.Context, service, name string, c []storage.MUCAffiliation) error {
	if err := f.failure(); err != nil {
		return err
	}
	return f.Store.SetMUCAffiliations(ctx, service, name, c)
}

// env is a router for example.org with the MUC module on
// conference.example.org, over SQLite.
type env struct {
	t     *testing.T
	rt    *router.Router
	reg   *module.Registry
	m     *MUC
	store *faultyStore
	path  string
	clock *storetest.Clock
	opts  Options
	stop  func()
	all   []*routertest.Session
}

// secret is the occupant-id secret of the tests.
var secret = []byte("0123456789abcdef0123456789abcdef")

func newEnv(t *testing.T, opts Options) *env {
	t.Helper()
	e := &env{t: t, path: filepath.Join(t.TempDir(), "parley.db"), clock: storetest.NewClock(t0), opts: opts}
	e.start()
	return e
}

// start opens the store and runs a fresh router and module over it.
func (e *env) start() {
	t := e.t
	t.Helper()
	st, err := sqlite.Open(context.Background(), e.path)
	if err != nil {
		t.Fatal(err)
	}
	e.store = &faultyStore{Store: st}
	e.rt = router.New(router.Config{Hosts: []string{host},
		AccountExists: routertest.Accounts("alice@example.org", "bob@example.org", "carol@example.org",
			"dave@example.org", "eve@example.org", "frank@example.org")})
	e.reg = module.NewRegistry(module.Env{Router: e.rt, Logger: slog.New(slog.DiscardHandler)})
	opts := e.opts
	if opts.Now == nil {
		opts.Now = e.clock.Now
	}
	if opts.OccupantIDSecret == nil {
		opts.OccupantIDSecret = secret
	}
	e.m = New(e.store, opts)
	if err := e.reg.Add(e.m); err != nil {
		t.Fatal(err)
	}
	if err := e.reg.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			e.reg.Stop(context.Background())
			st.Close()
		}
	}
	e.stop = stop
	t.Cleanup(stop)
}

// restart stops the module and the store and starts them again on the
// same file: what survives is what was stored.
func (e *env) restart() {
	e.t.Helper()
	e.stop()
	e.start()
}

// bind binds a session for a full JID.
func (e *env) bind(full string) *routertest.Session {
	e.t.Helper()
	s := routertest.Bind(e.t, e.rt, full)
	e.all = append(e.all, s)
	e.send(s, `<presence/>`) // available, so that messages to the bare JID reach it
	s.Take()
	return s
}

// drain forgets what every session got so far.
func (e *env) drain() {
	for _, s := range e.all {
		s.Take()
	}
}

// enter joins s to coven as nick and drains everyone.
func (e *env) enter(s *routertest.Session, nick string, extra ...string) {
	e.t.Helper()
	got := e.join(s, coven+"/"+nick, strings.Join(extra, ""))
	if len(got) == 0 || got[0].Attr("type") == "error" {
		e.t.Fatalf("%s joining as %s: got%s", s.JID(), nick, list(got))
	}
	e.drain()
}

// coven makes the room coven with alice (phone) as its owner, nick
// "owner", with the configuration fields given (var, value pairs), and
// returns alice's session.
func (e *env) coven(kv ...string) *routertest.Session {
	e.t.Helper()
	alice := e.bind("alice@example.org/phone")
	e.join(alice, coven+"/owner", "")
	e.configure(alice, coven, "", kv...)
	e.drain()
	return alice
}

// send routes a stanza from a session, as c2s would.
func (e *env) send(from *routertest.Session, format string, args ...any) {
	e.t.Helper()
	e.rt.Route(context.Background(), routertest.Stanza(e.t, from, fmt.Sprintf(format, args...)))
}

// sendAs routes a stanza from a JID with no session (a remote user, or
// presence the server generates for a user).
func (e *env) sendAs(from string, format string, args ...any) {
	e.t.Helper()
	el := routertest.Parse(e.t, fmt.Sprintf(format, args...))
	el.SetAttr("from", from)
	st := &router.Stanza{El: el, From: jid.MustParse(from), To: jid.MustParse(el.Attr("to")), OnBehalf: true}
	e.rt.Route(context.Background(), st)
}

// join sends a MUC join (with extra inside <x/>) and returns what the
// session got.
func (e *env) join(s *routertest.Session, occupant, extra string) []*xmppcore.Element {
	e.t.Helper()
	e.send(s, `<presence to='%s'><x xmlns='http://jabber.org/protocol/muc'>%s</x></presence>`, occupant, extra)
	return s.Take()
}

// create makes an instant room with s as its owner.
func (e *env) create(s *routertest.Session, occupant string) {
	e.t.Helper()
	got := e.join(s, occupant, "")
	if len(got) == 0 || !hasStatus(got[len(got)-2], 201) {
		e.t.Fatalf("creating %s: got %s", occupant, list(got))
	}
	e.configure(s, bareOf(occupant), "")
	s.Take()
}

// configure submits a configuration form with the given fields
// (var=value pairs, several values separated by '|') and expects success;
// it returns what else s got.
func (e *env) configure(s *routertest.Session, roomJID string, fields string, kv ...string) []*xmppcore.Element {
	e.t.Helper()
	e.send(s, `<iq type='set' id='cfg' to='%s'><query xmlns='http://jabber.org/protocol/muc#owner'>%s</query></iq>`,
		roomJID, form(fields, kv...))
	got := s.Take()
	i := slices.IndexFunc(got, func(el *xmppcore.Element) bool { return el.Attr("id") == "cfg" })
	if i < 0 || got[i].Attr("type") != "result" {
		e.t.Fatalf("configuring %s: got %s", roomJID, list(got))
	}
	return slices.Delete(got, i, i+1)
}

// form builds a muc#roomconfig submission; raw is added as is.
func form(raw string, kv ...string) string {
	var b strings.Builder
	b.WriteString(`<x xmlns='jabber:x:data' type='submit'>`)
	if len(kv) > 0 || raw != "" {
		b.WriteString(`<field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value></field>`)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		fmt.Fprintf(&b, `<field var='%s'>`, kv[i])
		for _, v := range strings.Split(kv[i+1], "|") {
			fmt.Fprintf(&b, `<value>%s</value>`, v)
		}
		b.WriteString(`</field>`)
	}
	b.WriteString(raw)
	b.WriteString(`</x>`)
	return b.String()
}

func bareOf(s string) string { b, _, _ := strings.Cut(s, "/"); return b }

func find(els []*xmppcore.Element, match func(*xmppcore.Element) bool) *xmppcore.Element {
	for _, el := range els {
		if match(el) {
			return el
		}
	}
	return nil
}

func list(els []*xmppcore.Element) string {
	if len(els) == 0 {
		return " (nothing)"
	}
	var b strings.Builder
	for _, el := range els {
		b.WriteString("\n\t")
		b.WriteString(el.String())
	}
	return b.String()
}

// statuses returns the MUC status codes of a stanza.
func statuses(el *xmppcore.Element) []string {
	x := el.Child(NSUser, "x")
	if x == nil {
		return nil
	}
	var codes []string
	for c := range x.Children() {
		if c.Is(NSUser, "status") {
			codes = append(codes, c.Attr("code"))
		}
	}
	return codes
}

func hasStatus(el *xmppcore.Element, code int) bool {
	return el != nil && slices.Contains(statuses(el), fmt.Sprint(code))
}

// expect checks that a session got exactly the stanzas wanted, in order;
// see match for the wildcards.
func expect(t *testing.T, s *routertest.Session, want ...string) {
	t.Helper()
	got := s.Take()
	for i := range max(len(got), len(want)) {
		switch {
		case i >= len(got):
			t.Errorf("%s: missing stanza %d:\n\t%s\ngot:%s", s.JID(), i, want[i], list(got))
		case i >= len(want):
			t.Errorf("%s: unexpected stanza %d:\n\t%s", s.JID(), i, got[i])
		default:
			if msg := match(got[i], routertest.Parse(t, want[i])); msg != "" {
				t.Errorf("%s: stanza %d: %s\n got %s\nwant %s", s.JID(), i, msg, routertest.Canonical(got[i]), strings.Join(strings.Fields(want[i]), " "))
			}
		}
	}
}

// expectNothing checks that a session got nothing.
func expectNothing(t *testing.T, ss ...*routertest.Session) {
	t.Helper()
	for _, s := range ss {
		if got := s.Take(); len(got) > 0 {
			t.Errorf("%s got:%s", s.JID(), list(got))
		}
	}
}

// match compares an element with a wanted one: same names, attributes,
// text (trimmed) and children in order. A wanted attribute value '*'
// matches any non-empty value.
func match(got, want *xmppcore.Element) string {
	if got.Space != want.Space || got.Local != want.Local {
		return fmt.Sprintf("element {%s}%s, want {%s}%s", got.Space, got.Local, want.Space, want.Local)
	}
	if len(got.Attrs) != len(want.Attrs) {
		return fmt.Sprintf("<%s/> has attributes %v, want %v", got.Local, got.Attrs, want.Attrs)
	}
	for _, wa := range want.Attrs {
		v, ok := got.LookupAttr(wa.Space, wa.Local)
		if !ok || (wa.Value != "*" && v != wa.Value) || (wa.Value == "*" && v == "") {
			return fmt.Sprintf("<%s/> attribute %s=%q, want %q", got.Local, wa.Local, v, wa.Value)
		}
	}
	if g, w := strings.TrimSpace(got.Text()), strings.TrimSpace(want.Text()); g != w {
		return fmt.Sprintf("<%s/> text %q, want %q", got.Local, g, w)
	}
	gc, wc := slices.Collect(got.Children()), slices.Collect(want.Children())
	if len(gc) != len(wc) {
		return fmt.Sprintf("<%s/> has %d children, want %d", got.Local, len(gc), len(wc))
	}
	for i := range gc {
		if msg := match(gc[i], wc[i]); msg != "" {
			return msg
		}
	}
	return ""
}

// Pieces of expected stanzas.

// x is a muc#user <x/> with an item and status codes.
func x(item string, codes ...int) string {
	var b strings.Builder
	b.WriteString(`<x xmlns='http://jabber.org/protocol/muc#user'>`)
	b.WriteString(item)
	for _, c := range codes {
		fmt.Fprintf(&b, `<status code='%d'/>`, c)
	}
	b.WriteString(`</x>`)
	return b.String()
}

// item is a muc#user <item/>; jidAttr "" leaves out the jid.
func item(aff, role, jidAttr string, inner ...string) string {
	j := ""
	if jidAttr != "" {
		j = fmt.Sprintf(` jid='%s'`, jidAttr)
	}
	if len(inner) == 0 {
		return fmt.Sprintf(`<item affiliation='%s' role='%s'%s/>`, aff, role, j)
	}
	return fmt.Sprintf(`<item affiliation='%s' role='%s'%s>%s</item>`, aff, role, j, strings.Join(inner, ""))
}

const oid = `<occupant-id xmlns='urn:xmpp:occupant-id:0' id='*'/>`

// pres is a presence from an occupant JID to a session; extra goes
// before the <x/>.
func pres(from, to, typ, xel string, extra ...string) string {
	return presID("", from, to, typ, xel, extra...)
}

// presID is pres with an id.
func presID(id, from, to, typ, xel string, extra ...string) string {
	t := ""
	if typ != "" {
		t = fmt.Sprintf(` type='%s'`, typ)
	}
	if id != "" {
		t += fmt.Sprintf(` id='%s'`, id)
	}
	return fmt.Sprintf(`<presence from='%s' to='%s'%s>%s%s%s</presence>`, from, to, t, strings.Join(extra, ""), xel, oid)
}

// errStanza is an error answer.
func errStanza(kind, from, to, id, typ, cond string, before ...string) string {
	idAttr := ""
	if id != "" {
		idAttr = fmt.Sprintf(` id='%s'`, id)
	}
	return fmt.Sprintf(`<%s from='%s' to='%s' type='error'%s>%s<error type='%s' by='%s'><%s xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></%s>`,
		kind, from, to, idAttr, strings.Join(before, ""), typ, bareOf(from), cond, kind)
}

const mucX = `<x xmlns='http://jabber.org/protocol/muc'/>`

// subjectMsg is the subject message sent on joining.
func subjectMsg(from, to, text, delay string) string {
	subj := `<subject/>`
	if text != "" {
		subj = `<subject>` + text + `</subject>`
	}
	return fmt.Sprintf(`<message from='%s' to='%s' type='groupchat' id='*'>%s%s</message>`, from, to, subj, delay)
}

func delayFrom(roomJID, at string) string {
	return fmt.Sprintf(`<delay xmlns='urn:xmpp:delay' from='%s' stamp='%s'/>`, roomJID, at)
}

func result(from, to, id string) string {
	return fmt.Sprintf(`<iq type='result' from='%s' to='%s' id='%s'/>`, from, to, id)
}

func parse(t *testing.T, s string) *xmppcore.Element {
	t.Helper()
	return routertest.Parse(t, s)
}

// remoteRecorder is a router.Remote that keeps what it is given.
type remoteRecorder struct {
	mu  sync.Mutex
	got []*xmppcore.Element
}

func (r *remoteRecorder) Deliver(_ context.Context, st *router.Stanza) error {
	r.mu.Lock()
	r.got = append(r.got, st.El)
	r.mu.Unlock()
	return nil
}

func (r *remoteRecorder) take() []*xmppcore.Element {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.got
	r.got = nil
	return out
}

// room returns the live room of that name on the service.
func (e *env) room(name string) *room {
	e.t.Helper()
	r, err := e.m.services[svcJID].lookup(context.Background(), name)
	if err != nil || r == nil {
		e.t.Fatalf("room %s: %v, %v", name, r, err)
	}
	return r
}
