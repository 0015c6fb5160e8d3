package version

import (
	"context"
	"runtime"
	"slices"
	"testing"

	"parley.im/parley/internal/routertest"
	"parley.im/parley/module"
	"parley.im/parley/router"
)

const notAvailable = `<error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>`

func setup(t *testing.T, m *Version) (*router.Router, *module.Registry, *routertest.Session) {
	t.Helper()
	r := router.New(router.Config{Hosts: []string{"example.org"},
		AccountExists: routertest.Accounts("alice@example.org", "bob@example.org")})
	reg := module.NewRegistry(module.Env{Router: r})
	if err := reg.Add(m); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Stop(context.Background()) })
	return r, reg, routertest.Bind(t, r, "alice@example.org/phone")
}

func TestVersion(t *testing.T) {
	r, _, alice := setup(t, New("1.2.3"))
	const answer = `<query xmlns='jabber:iq:version'><name>Parley</name><version>1.2.3</version></query>`
	for _, tc := range []struct{ name, req, want string }{
		{"host",
			`<iq type='get' id='v1' to='example.org'><query xmlns='jabber:iq:version'/></iq>`,
			`<iq type='result' id='v1' from='example.org' to='alice@example.org/phone'>` + answer + `</iq>`},
		{"no to",
			`<iq type='get' id='v2'><query xmlns='jabber:iq:version'/></iq>`,
			`<iq type='result' id='v2' to='alice@example.org/phone'>` + answer + `</iq>`},
		// The server must not claim to be a user's client.
		{"own bare JID",
			`<iq type='get' id='v3' to='alice@example.org'><query xmlns='jabber:iq:version'/></iq>`,
			`<iq type='error' id='v3' from='alice@example.org' to='alice@example.org/phone'>` + notAvailable + `</iq>`},
		{"other bare JID",
			`<iq type='get' id='v4' to='bob@example.org'><query xmlns='jabber:iq:version'/></iq>`,
			`<iq type='error' id='v4' from='bob@example.org' to='alice@example.org/phone'>` + notAvailable + `</iq>`},
		{"set",
			`<iq type='set' id='v5' to='example.org'><query xmlns='jabber:iq:version'><name>x</name></query></iq>`,
			`<iq type='error' id='v5' from='example.org' to='alice@example.org/phone'>` + notAvailable + `</iq>`},
		{"wrong element",
			`<iq type='get' id='v6' to='example.org'><version xmlns='jabber:iq:version'/></iq>`,
			`<iq type='error' id='v6' from='example.org' to='alice@example.org/phone'>` + notAvailable + `</iq>`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r.Route(t.Context(), routertest.Stanza(t, alice, tc.req))
			routertest.AssertXML(t, alice.TakeOne(t), tc.want)
		})
	}
}

func TestOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    *Version
		want string
	}{
		{"with OS", New("2.0", WithOS()),
			`<query xmlns='jabber:iq:version'><name>Parley</name><version>2.0</version><os>` + runtime.GOOS + `</os></query>`},
		{"empty version", New(""),
			`<query xmlns='jabber:iq:version'><name>Parley</name><version>unknown</version></query>`},
		// Text is escaped, not spliced into the XML.
		{"odd version", New("1.0<beta>&"),
			`<query xmlns='jabber:iq:version'><name>Parley</name><version>1.0&lt;beta&gt;&amp;</version></query>`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _, alice := setup(t, tc.m)
			r.Route(t.Context(), routertest.Stanza(t, alice, `<iq type='get' id='o' to='example.org'><query xmlns='jabber:iq:version'/></iq>`))
			got := alice.TakeOne(t)
			routertest.AssertXML(t, got.FirstChild(), tc.want)
			if got.Attr("type") != "result" {
				t.Errorf("type %q", got.Attr("type"))
			}
		})
	}
}

// Every answer is a fresh tree: the router may share a reply between
// writers, so a module must not hand out the same element twice.
func TestFreshAnswers(t *testing.T) {
	r, _, alice := setup(t, New("1"))
	for range 2 {
		r.Route(t.Context(), routertest.Stanza(t, alice, `<iq type='get' id='f' to='example.org'><query xmlns='jabber:iq:version'/></iq>`))
	}
	got := alice.Take()
	if len(got) != 2 || got[0].FirstChild() == got[1].FirstChild() {
		t.Fatalf("answers share their payload: %v", got)
	}
}

func TestFeature(t *testing.T) {
	_, reg, _ := setup(t, New("1"))
	if !slices.Contains(reg.Features(module.Server), NS) {
		t.Errorf("server features %v lack %s", reg.Features(module.Server), NS)
	}
	if slices.Contains(reg.Features(module.Account), NS) {
		t.Errorf("account features %v advertise %s, which accounts do not answer", reg.Features(module.Account), NS)
	}
}
