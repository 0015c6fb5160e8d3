package vcard

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"mellium.im/xmpp/jid"

	"parley.im/parley/internal/routertest"
	"parley.im/parley/module"
	"parley.im/parley/router"
	"parley.im/parley/storage"
)

const (
	unavailable = `<error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>`
	ise         = `<error type='cancel'><internal-server-error xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>`
	card        = `<vCard xmlns='vcard-temp'><FN>Alice Liddell</FN><N><FAMILY>Liddell</FAMILY><GIVEN>Alice</GIVEN></N>
		<EMAIL><INTERNET/><USERID>alice@example.org</USERID></EMAIL><DESC>Curiouser &amp; curiouser</DESC></vCard>`
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

func (e *env) iq(t *testing.T, from *routertest.Session, xml string) string {
	t.Helper()
	e.r.Route(t.Context(), routertest.Stanza(t, from, xml))
	return routertest.Canonical(from.TakeOne(t)).String()
}

func canon(t *testing.T, xml string) string {
	t.Helper()
	return routertest.Canonical(routertest.Parse(t, xml)).String()
}

func TestSetAndGet(t *testing.T) {
	e := setup(t, Options{})
	// No vCard yet: an empty one (XEP-0054 §3.1).
	if got, want := e.iq(t, e.alice, `<iq type='get' id='g1'><vCard xmlns='vcard-temp'/></iq>`),
		canon(t, `<iq type='result' id='g1' to='alice@example.org/phone'><vCard xmlns='vcard-temp'/></iq>`); got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if got, want := e.iq(t, e.alice, `<iq type='set' id='s1'>`+card+`</iq>`),
		canon(t, `<iq type='result' id='s1' to='alice@example.org/phone'/>`); got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	// Own, addressed either way.
	for _, req := range []string{`<iq type='get' id='g2'><vCard xmlns='vcard-temp'/></iq>`,
		`<iq type='get' id='g2' to='alice@example.org'><vCard xmlns='vcard-temp'/></iq>`} {
		got := e.iq(t, e.alice, req)
		want := canon(t, `<iq type='result' id='g2' to='alice@example.org/phone'>`+card+`</iq>`)
		if strings.Contains(req, "to=") {
			want = canon(t, `<iq type='result' id='g2' from='alice@example.org' to='alice@example.org/phone'>`+card+`</iq>`)
		}
		if got != want {
			t.Errorf("got %s, want %s", got, want)
		}
	}
	// Another user's is public (§3.3).
	if got, want := e.iq(t, e.bob, `<iq type='get' id='g3' to='alice@example.org'><vCard xmlns='vcard-temp'/></iq>`),
		canon(t, `<iq type='result' id='g3' from='alice@example.org' to='bob@example.org/pc'>`+card+`</iq>`); got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	// So is it to a remote requester, answered through the federation link.
	remote := &routertest.Remote{}
	e.r.SetRemote(remote)
	el := routertest.Parse(t, `<iq type='get' id='g4' from='romeo@montague.net/orchard' to='alice@example.org'><vCard xmlns='vcard-temp'/></iq>`)
	e.r.Route(t.Context(), &router.Stanza{El: el, From: jid.MustParse("romeo@montague.net/orchard"), To: jid.MustParse("alice@example.org")})
	if got := remote.Got(); len(got) != 1 {
		t.Fatalf("remote got %d", len(got))
	} else {
		routertest.AssertXML(t, got[0].El, `<iq type='result' id='g4' from='alice@example.org' to='romeo@montague.net/orchard'>`+card+`</iq>`)
	}

	// Replaced, then cleared by an empty vCard.
	e.iq(t, e.alice, `<iq type='set' id='s2'><vCard xmlns='vcard-temp'><FN>A</FN></vCard></iq>`)
	if got, want := e.iq(t, e.bob, `<iq type='get' id='g5' to='alice@example.org'><vCard xmlns='vcard-temp'/></iq>`),
		canon(t, `<iq type='result' id='g5' from='alice@example.org' to='bob@example.org/pc'><vCard xmlns='vcard-temp'><FN>A</FN></vCard></iq>`); got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	for range 2 { // clearing twice is fine
		if got, want := e.iq(t, e.alice, `<iq type='set' id='s3'><vCard xmlns='vcard-temp'/></iq>`),
			canon(t, `<iq type='result' id='s3' to='alice@example.org/phone'/>`); got != want {
			t.Errorf("got %s, want %s", got, want)
		}
	}
	if _, err := e.store.GetData(t.Context(), "example.org", "alice", storage.DataVCard, ""); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("after clearing, GetData: %v", err)
	}
}

func TestRefused(t *testing.T) {
	e := setup(t, Options{MaxSize: 100})
	small := `<vCard xmlns='vcard-temp'><FN>Bob</FN></vCard>`
	e.iq(t, e.bob, `<iq type='set' id='s'>`+small+`</iq>`)
	for _, tc := range []struct{ name, req, want string }{
		// §3.2: forbidden (or not-allowed).
		{"set another user's", `<iq type='set' id='x' to='bob@example.org'>` + card + `</iq>`,
			`<iq type='error' id='x' from='bob@example.org' to='alice@example.org/phone'><error type='auth'><forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>
				<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>only your own vCard can be changed</text></error></iq>`},
		{"clear another user's", `<iq type='set' id='x' to='bob@example.org'><vCard xmlns='vcard-temp'/></iq>`,
			`<iq type='error' id='x' from='bob@example.org' to='alice@example.org/phone'><error type='auth'><forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>
				<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>only your own vCard can be changed</text></error></iq>`},
		{"too large", `<iq type='set' id='x'>` + card + `</iq>`,
			`<iq type='error' id='x' from='alice@example.org' to='alice@example.org/phone'><error type='modify'><not-acceptable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>
				<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>the vCard is larger than 100 bytes</text></error></iq>`},
		{"unknown user", `<iq type='get' id='x' to='nobody@example.org'><vCard xmlns='vcard-temp'/></iq>`,
			`<iq type='error' id='x' from='nobody@example.org' to='alice@example.org/phone'>` + unavailable + `</iq>`},
		{"the server's", `<iq type='get' id='x' to='example.org'><vCard xmlns='vcard-temp'/></iq>`,
			`<iq type='error' id='x' from='example.org' to='alice@example.org/phone'>` + unavailable + `</iq>`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, want := e.iq(t, e.alice, tc.req), canon(t, tc.want); got != want {
				t.Errorf("got %s\nwant %s", got, want)
			}
			if _, err := e.store.GetData(t.Context(), "example.org", "alice", storage.DataVCard, ""); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("alice's vCard stored: %v", err)
			}
			if got, want := e.iq(t, e.bob, `<iq type='get' id='b'><vCard xmlns='vcard-temp'/></iq>`),
				canon(t, `<iq type='result' id='b' to='bob@example.org/pc'>`+small+`</iq>`); got != want {
				t.Errorf("bob's vCard changed: %s", got)
			}
		})
	}
}

func TestSizeLimit(t *testing.T) {
	e := setup(t, Options{})
	if e := New(nil, Options{}); e.max != DefaultMaxSize {
		t.Errorf("default MaxSize %d", e.max)
	}
	// A vCard of exactly the limit passes, one byte more does not.
	prefix, suffix := `<vCard xmlns="vcard-temp"><DESC>`, `</DESC></vCard>`
	fill := strings.Repeat("x", DefaultMaxSize-len(prefix)-len(suffix))
	ok := prefix + fill + suffix
	if got := e.iq(t, e.alice, `<iq type='set' id='s'>`+ok+`</iq>`); !strings.Contains(got, `type="result"`) {
		t.Errorf("a vCard of exactly %d bytes: %s", DefaultMaxSize, got)
	}
	if got := e.iq(t, e.alice, `<iq type='set' id='s'>`+prefix+fill+"x"+suffix+`</iq>`); !strings.Contains(got, "not-acceptable") {
		t.Errorf("a vCard of %d bytes: %s", DefaultMaxSize+1, got)
	}
}

func TestStorageErrors(t *testing.T) {
	e := setup(t, Options{})
	e.store.SetErr(errors.New("disk on fire"))
	for _, req := range []string{`<iq type='get' id='x'><vCard xmlns='vcard-temp'/></iq>`,
		`<iq type='set' id='x'>` + card + `</iq>`, `<iq type='set' id='x'><vCard xmlns='vcard-temp'/></iq>`} {
		if got, want := e.iq(t, e.alice, req),
			canon(t, `<iq type='error' id='x' from='alice@example.org' to='alice@example.org/phone'>`+ise+`</iq>`); got != want {
			t.Errorf("%s: got %s", req, got)
		}
	}
	e.store.SetErr(nil)
	if err := e.store.PutData(t.Context(), "example.org", "alice", storage.DataVCard, "", []byte("<vCard")); err != nil {
		t.Fatal(err)
	}
	if got, want := e.iq(t, e.bob, `<iq type='get' id='x' to='alice@example.org'><vCard xmlns='vcard-temp'/></iq>`),
		canon(t, `<iq type='error' id='x' from='alice@example.org' to='bob@example.org/pc'>`+ise+`</iq>`); got != want {
		t.Errorf("corrupt vCard: got %s", got)
	}
}

func TestFeature(t *testing.T) {
	e := setup(t, Options{})
	for _, target := range []module.Target{module.Server, module.Account} {
		if !slices.Contains(e.reg.Features(target), NS) {
			t.Errorf("target %d: features %v lack %s", target, e.reg.Features(target), NS)
		}
	}
}
