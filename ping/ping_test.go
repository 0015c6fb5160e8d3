package ping

import (
	"context"
	"slices"
	"testing"

	"mellium.im/xmpp/jid"

	"parley.im/parley/internal/routertest"
	"parley.im/parley/module"
	"parley.im/parley/router"
)

const (
	notAvailable = `<error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>`
	badRequest   = `<error type='modify'><bad-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>`
)

// setup returns a router for example.org where alice (bound) and bob
// (offline) have accounts, with the ping module registered.
func setup(t *testing.T) (*router.Router, *module.Registry, *routertest.Session) {
	t.Helper()
	r := router.New(router.Config{Hosts: []string{"example.org"},
		AccountExists: routertest.Accounts("alice@example.org", "bob@example.org")})
	reg := module.NewRegistry(module.Env{Router: r})
	if err := reg.Add(New()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Stop(context.Background()) })
	return r, reg, routertest.Bind(t, r, "alice@example.org/phone")
}

func TestPong(t *testing.T) {
	r, _, alice := setup(t)
	for _, tc := range []struct{ name, req, want string }{
		{"host",
			`<iq type='get' id='p1' to='example.org'><ping xmlns='urn:xmpp:ping'/></iq>`,
			`<iq type='result' id='p1' from='example.org' to='alice@example.org/phone'/>`},
		{"own bare JID",
			`<iq type='get' id='p2' to='alice@example.org'><ping xmlns='urn:xmpp:ping'/></iq>`,
			`<iq type='result' id='p2' from='alice@example.org' to='alice@example.org/phone'/>`},
		// RFC 6120 §8.1.2.1: an answer on the account's behalf may omit 'from'.
		{"no to",
			`<iq type='get' id='p3'><ping xmlns='urn:xmpp:ping'/></iq>`,
			`<iq type='result' id='p3' to='alice@example.org/phone'/>`},
		// XEP-0199 §4.4: the server answers for an account, online or not.
		{"other user's bare JID",
			`<iq type='get' id='p4' to='bob@example.org'><ping xmlns='urn:xmpp:ping'/></iq>`,
			`<iq type='result' id='p4' from='bob@example.org' to='alice@example.org/phone'/>`},
		{"unknown user",
			`<iq type='get' id='p5' to='nobody@example.org'><ping xmlns='urn:xmpp:ping'/></iq>`,
			`<iq type='error' id='p5' from='nobody@example.org' to='alice@example.org/phone'>` + notAvailable + `</iq>`},
		// XEP-0199 defines no set: whatever answers it must be an error.
		{"set",
			`<iq type='set' id='p6' to='example.org'><ping xmlns='urn:xmpp:ping'/></iq>`,
			`<iq type='error' id='p6' from='example.org' to='alice@example.org/phone'>` + notAvailable + `</iq>`},
		{"set to bare JID",
			`<iq type='set' id='p7' to='bob@example.org'><ping xmlns='urn:xmpp:ping'/></iq>`,
			`<iq type='error' id='p7' from='bob@example.org' to='alice@example.org/phone'>` + notAvailable + `</iq>`},
		{"two payloads",
			`<iq type='get' id='p8' to='example.org'><ping xmlns='urn:xmpp:ping'/><ping xmlns='urn:xmpp:ping'/></iq>`,
			`<iq type='error' id='p8' from='example.org' to='alice@example.org/phone'>` + badRequest +
				`<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>an IQ get or set carries exactly one child</text></error></iq>`},
		{"other namespace",
			`<iq type='get' id='p9' to='example.org'><ping xmlns='urn:xmpp:ping:2'/></iq>`,
			`<iq type='error' id='p9' from='example.org' to='alice@example.org/phone'>` + notAvailable + `</iq>`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r.Route(t.Context(), routertest.Stanza(t, alice, tc.req))
			routertest.AssertXML(t, alice.TakeOne(t), tc.want)
		})
	}
}

// A result or error sent to the server is never answered, even with a ping
// payload: answering it could start a loop between two entities.
func TestNoAnswerToAnswers(t *testing.T) {
	r, _, alice := setup(t)
	for _, req := range []string{
		`<iq type='result' id='r1' to='example.org'><ping xmlns='urn:xmpp:ping'/></iq>`,
		`<iq type='error' id='r2' to='example.org'><ping xmlns='urn:xmpp:ping'/></iq>`,
		`<iq type='result' id='r3' to='bob@example.org'><ping xmlns='urn:xmpp:ping'/></iq>`,
	} {
		r.Route(t.Context(), routertest.Stanza(t, alice, req))
	}
	if got := alice.Take(); len(got) != 0 {
		t.Fatalf("answers were answered: %v", got)
	}
}

// A ping to a bound full JID is the client's to answer: the module must not
// intercept it.
func TestFullJIDReachesClient(t *testing.T) {
	r, _, alice := setup(t)
	bob := routertest.Bind(t, r, "bob@example.org/laptop")
	r.Route(t.Context(), routertest.Stanza(t, alice,
		`<iq type='get' id='e2e' to='bob@example.org/laptop'><ping xmlns='urn:xmpp:ping'/></iq>`))
	routertest.AssertXML(t, bob.TakeOne(t),
		`<iq type='get' id='e2e' from='alice@example.org/phone' to='bob@example.org/laptop'><ping xmlns='urn:xmpp:ping'/></iq>`)
	if got := alice.Take(); len(got) != 0 {
		t.Fatalf("the server answered a client's ping: %v", got)
	}
}

// A remote server's ping has no local origin: the pong goes back through
// the router to the federation link.
func TestRemoteRequester(t *testing.T) {
	r, _, _ := setup(t)
	remote := &routertest.Remote{}
	r.SetRemote(remote)
	req := routertest.Parse(t, `<iq type='get' id='s2s1' from='montague.example' to='example.org'><ping xmlns='urn:xmpp:ping'/></iq>`)
	r.Route(t.Context(), &router.Stanza{El: req, From: jid.MustParse("montague.example"), To: jid.MustParse("example.org")})
	got := remote.Got()
	if len(got) != 1 {
		t.Fatalf("remote got %d stanzas, want 1", len(got))
	}
	if !got[0].To.Equal(jid.MustParse("montague.example")) || !got[0].From.Equal(jid.MustParse("example.org")) {
		t.Errorf("pong routed from %s to %s", got[0].From, got[0].To)
	}
	routertest.AssertXML(t, got[0].El, `<iq type='result' id='s2s1' from='example.org' to='montague.example'/>`)
}

func TestFeature(t *testing.T) {
	_, reg, _ := setup(t)
	for _, target := range []module.Target{module.Server, module.Account} {
		if !slices.Contains(reg.Features(target), NS) {
			t.Errorf("target %d: features %v lack %s", target, reg.Features(target), NS)
		}
	}
}

// Once the registry stops, pings are no longer claimed.
func TestStop(t *testing.T) {
	r, reg, alice := setup(t)
	if err := reg.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	r.Route(t.Context(), routertest.Stanza(t, alice, `<iq type='get' id='s' to='example.org'><ping xmlns='urn:xmpp:ping'/></iq>`))
	routertest.AssertXML(t, alice.TakeOne(t),
		`<iq type='error' id='s' from='example.org' to='alice@example.org/phone'>`+notAvailable+`</iq>`)
}
