package private

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"parley.im/parley/internal/routertest"
	"parley.im/parley/module"
	"parley.im/parley/router"
	"parley.im/parley/storage"
)

const (
	ise       = `<error type='cancel'><internal-server-error xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>`
	bookmarks = `<storage xmlns='storage:bookmarks'><conference jid='tea@conference.example.org' autojoin='true' name='Tea'><nick>alice</nick></conference></storage>`
	notes     = `<storage xmlns='storage:rosternotes'><note jid='bob@example.org'>the hatter</note></storage>`
)

type env struct {
	r          *router.Router
	reg        *module.Registry
	store      *faulty
	alice, bob *routertest.Session
}

func setup(t *testing.T, opts Options) *env {
	t.Helper()
	e := &env{store: &faulty{Store: openStore(t, "alice", "bob")}}
	e.r = router.New(router.Config{Hosts: []string{"example.org"}, AccountExists: e.store.AccountExists})
	e.reg = module.NewRegistry(module.Env{Router: e.r})
	if err := e.reg.Add(New(e.store, opts)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.reg.Stop(context.Background()) })
	e.alice = routertest.Bind(t, e.r, "alice@example.org/phone")
	e.bob = routertest.Bind(t, e.r, "bob@example.org/pc")
	return e
}

func (e *env) iq(t *testing.T, from *routertest.Session, xml, want string) {
	t.Helper()
	e.r.Route(t.Context(), routertest.Stanza(t, from, xml))
	routertest.AssertXML(t, from.TakeOne(t), want)
}

func (e *env) keys(t *testing.T, user string) []string {
	t.Helper()
	items, err := e.store.ListData(t.Context(), "example.org", user, storage.DataPrivate)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, it := range items {
		keys = append(keys, it.Key)
	}
	return keys
}

func TestSetAndGet(t *testing.T) {
	e := setup(t, Options{})
	// Nothing stored: the requested element comes back (§2.1).
	e.iq(t, e.alice, `<iq type='get' id='g1'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query></iq>`,
		`<iq type='result' id='g1' to='alice@example.org/phone'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query></iq>`)
	// Two namespaces in one set.
	e.iq(t, e.alice, `<iq type='set' id='s1'><query xmlns='jabber:iq:private'>`+bookmarks+notes+`</query></iq>`,
		`<iq type='result' id='s1' to='alice@example.org/phone'/>`)
	if got := e.keys(t, "alice"); !slices.Equal(got, []string{"storage:bookmarks", "storage:rosternotes"}) {
		t.Errorf("stored %v", got)
	}
	e.iq(t, e.alice, `<iq type='get' id='g2'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query></iq>`,
		`<iq type='result' id='g2' to='alice@example.org/phone'><query xmlns='jabber:iq:private'>`+bookmarks+`</query></iq>`)
	e.iq(t, e.alice, `<iq type='get' id='g3' to='alice@example.org'><query xmlns='jabber:iq:private'><storage xmlns='storage:rosternotes'/></query></iq>`,
		`<iq type='result' id='g3' from='alice@example.org' to='alice@example.org/phone'><query xmlns='jabber:iq:private'>`+notes+`</query></iq>`)
	// Replaced; the other namespace stays; the last of two with one
	// namespace wins.
	e.iq(t, e.alice, `<iq type='set' id='s2'><query xmlns='jabber:iq:private'>
		<storage xmlns='storage:bookmarks'><a/></storage><storage xmlns='storage:bookmarks'/></query></iq>`,
		`<iq type='result' id='s2' to='alice@example.org/phone'/>`)
	e.iq(t, e.alice, `<iq type='get' id='g4'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query></iq>`,
		`<iq type='result' id='g4' to='alice@example.org/phone'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query></iq>`)
	e.iq(t, e.alice, `<iq type='get' id='g5'><query xmlns='jabber:iq:private'><storage xmlns='storage:rosternotes'/></query></iq>`,
		`<iq type='result' id='g5' to='alice@example.org/phone'><query xmlns='jabber:iq:private'>`+notes+`</query></iq>`)
	// Bob has his own space.
	e.iq(t, e.bob, `<iq type='get' id='g6'><query xmlns='jabber:iq:private'><storage xmlns='storage:rosternotes'/></query></iq>`,
		`<iq type='result' id='g6' to='bob@example.org/pc'><query xmlns='jabber:iq:private'><storage xmlns='storage:rosternotes'/></query></iq>`)
}

func TestRefused(t *testing.T) {
	e := setup(t, Options{})
	e.iq(t, e.bob, `<iq type='set' id='s'><query xmlns='jabber:iq:private'>`+notes+`</query></iq>`,
		`<iq type='result' id='s' to='bob@example.org/pc'/>`)
	forbidden := `<error type='auth'><forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>
		<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>private XML belongs to its owner</text></error>`
	reservedNS := `<error type='modify'><not-acceptable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>
		<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>reserved namespace</text></error>`
	for _, tc := range []struct{ name, req, want string }{
		{"get another user's", `<iq type='get' id='x' to='bob@example.org'><query xmlns='jabber:iq:private'><storage xmlns='storage:rosternotes'/></query></iq>`,
			`<iq type='error' id='x' from='bob@example.org' to='alice@example.org/phone'>` + forbidden + `</iq>`},
		{"set another user's", `<iq type='set' id='x' to='bob@example.org'><query xmlns='jabber:iq:private'>` + bookmarks + `</query></iq>`,
			`<iq type='error' id='x' from='bob@example.org' to='alice@example.org/phone'>` + forbidden + `</iq>`},
		{"get without child", `<iq type='get' id='x'><query xmlns='jabber:iq:private'/></iq>`,
			`<iq type='error' id='x' from='alice@example.org' to='alice@example.org/phone'><error type='modify'><bad-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>
				<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>a get names exactly one element</text></error></iq>`},
		{"get of two", `<iq type='get' id='x'><query xmlns='jabber:iq:private'><a xmlns='urn:a'/><b xmlns='urn:b'/></query></iq>`,
			`<iq type='error' id='x' from='alice@example.org' to='alice@example.org/phone'><error type='modify'><bad-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>
				<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>a get names exactly one element</text></error></iq>`},
		{"set without child", `<iq type='set' id='x'><query xmlns='jabber:iq:private'/></iq>`,
			`<iq type='error' id='x' from='alice@example.org' to='alice@example.org/phone'><error type='modify'><not-acceptable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>
				<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>a set carries at least one element</text></error></iq>`},
		{"set unqualified", `<iq type='set' id='x'><query xmlns='jabber:iq:private'><foo/></query></iq>`,
			`<iq type='error' id='x' from='alice@example.org' to='alice@example.org/phone'>` + reservedNS + `</iq>`},
		{"set jabber:client", `<iq type='set' id='x'><query xmlns='jabber:iq:private'><message xmlns='jabber:client'/></query></iq>`,
			`<iq type='error' id='x' from='alice@example.org' to='alice@example.org/phone'>` + reservedNS + `</iq>`},
		{"set jabber:server among valid", `<iq type='set' id='x'><query xmlns='jabber:iq:private'>` + bookmarks + `<db xmlns='jabber:server'/></query></iq>`,
			`<iq type='error' id='x' from='alice@example.org' to='alice@example.org/phone'>` + reservedNS + `</iq>`},
		{"get jabber:iq:private", `<iq type='get' id='x'><query xmlns='jabber:iq:private'><query xmlns='jabber:iq:private'/></query></iq>`,
			`<iq type='error' id='x' from='alice@example.org' to='alice@example.org/phone'>` + reservedNS + `</iq>`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.iq(t, e.alice, tc.req, tc.want)
			if got := e.keys(t, "alice"); len(got) != 0 {
				t.Errorf("alice has %v", got)
			}
			if got := e.keys(t, "bob"); !slices.Equal(got, []string{"storage:rosternotes"}) {
				t.Errorf("bob has %v", got)
			}
		})
	}
}

func TestSizeLimit(t *testing.T) {
	const limit = 200
	e := setup(t, Options{MaxSize: limit})
	if p := New(nil, Options{}); p.max != DefaultMaxSize {
		t.Errorf("default MaxSize %d", p.max)
	}
	// Serialized as <a xmlns="urn:a">…</a>: 20 bytes of markup.
	elem := func(ns string, n int) string {
		return `<a xmlns="` + ns + `">` + strings.Repeat("x", n-len(`<a xmlns="`+ns+`"></a>`)) + `</a>`
	}
	tooBig := `<iq type='error' id='x' from='alice@example.org' to='alice@example.org/phone'><error type='modify'><not-acceptable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>
		<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>private XML is limited to 200 bytes per account</text></error></iq>`
	ok := `<iq type='result' id='x' to='alice@example.org/phone'/>`
	e.iq(t, e.alice, `<iq type='set' id='x'><query xmlns='jabber:iq:private'>`+elem("urn:a", 120)+`</query></iq>`, ok)
	// 120 + 81 > 200, refused whole.
	e.iq(t, e.alice, `<iq type='set' id='x'><query xmlns='jabber:iq:private'>`+elem("urn:c", 40)+elem("urn:b", 41)+`</query></iq>`, tooBig)
	if got := e.keys(t, "alice"); !slices.Equal(got, []string{"urn:a"}) {
		t.Errorf("stored %v", got)
	}
	// 120 + 80 = 200 fits.
	e.iq(t, e.alice, `<iq type='set' id='x'><query xmlns='jabber:iq:private'>`+elem("urn:b", 80)+`</query></iq>`, ok)
	// Replacing counts the new size, not both.
	e.iq(t, e.alice, `<iq type='set' id='x'><query xmlns='jabber:iq:private'>`+elem("urn:a", 100)+`</query></iq>`, ok)
	e.iq(t, e.alice, `<iq type='set' id='x'><query xmlns='jabber:iq:private'>`+elem("urn:a", 121)+`</query></iq>`, tooBig)
	// Bob's quota is his own.
	e.iq(t, e.bob, `<iq type='set' id='x'><query xmlns='jabber:iq:private'>`+elem("urn:a", 200)+`</query></iq>`,
		`<iq type='result' id='x' to='bob@example.org/pc'/>`)
}

func TestStorageErrors(t *testing.T) {
	e := setup(t, Options{})
	e.store.SetErr(errors.New("disk on fire"))
	for _, req := range []string{
		`<iq type='get' id='x'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query></iq>`,
		`<iq type='set' id='x'><query xmlns='jabber:iq:private'>` + bookmarks + `</query></iq>`,
	} {
		e.iq(t, e.alice, req, `<iq type='error' id='x' from='alice@example.org' to='alice@example.org/phone'>`+ise+`</iq>`)
	}
	e.store.SetErr(nil)
	if err := e.store.PutData(t.Context(), "example.org", "alice", storage.DataPrivate, "storage:bookmarks", []byte("<storage")); err != nil {
		t.Fatal(err)
	}
	e.iq(t, e.alice, `<iq type='get' id='x'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query></iq>`,
		`<iq type='error' id='x' from='alice@example.org' to='alice@example.org/phone'>`+ise+`</iq>`)
}

func TestFeature(t *testing.T) {
	e := setup(t, Options{})
	if !slices.Contains(e.reg.Features(module.Server), NS) {
		t.Errorf("server features %v lack %s", e.reg.Features(module.Server), NS)
	}
}
