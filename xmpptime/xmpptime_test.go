package xmpptime

import (
	"context"
	"slices"
	"testing"
	"time"

	"parley.im/parley/internal/routertest"
	"parley.im/parley/module"
	"parley.im/parley/router"
)

const notAvailable = `<error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>`

func setup(t *testing.T, m *Time) (*router.Router, *module.Registry, *routertest.Session) {
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

func fixed(tm time.Time) Option { return WithClock(func() time.Time { return tm }) }

func TestTime(t *testing.T) {
	// XEP-0202's example: 11:58:35 at -06:00 is 17:58:35 UTC.
	cst := time.FixedZone("CST", -6*3600)
	r, _, alice := setup(t, New(fixed(time.Date(2006, 12, 19, 11, 58, 35, 999e6, cst))))
	const answer = `<time xmlns='urn:xmpp:time'><tzo>-06:00</tzo><utc>2006-12-19T17:58:35Z</utc></time>`
	for _, tc := range []struct{ name, req, want string }{
		{"host",
			`<iq type='get' id='t1' to='example.org'><time xmlns='urn:xmpp:time'/></iq>`,
			`<iq type='result' id='t1' from='example.org' to='alice@example.org/phone'>` + answer + `</iq>`},
		{"no to",
			`<iq type='get' id='t2'><time xmlns='urn:xmpp:time'/></iq>`,
			`<iq type='result' id='t2' to='alice@example.org/phone'>` + answer + `</iq>`},
		// A user's time is their client's to tell, at its full JID.
		{"own bare JID",
			`<iq type='get' id='t3' to='alice@example.org'><time xmlns='urn:xmpp:time'/></iq>`,
			`<iq type='error' id='t3' from='alice@example.org' to='alice@example.org/phone'>` + notAvailable + `</iq>`},
		{"other bare JID",
			`<iq type='get' id='t4' to='bob@example.org'><time xmlns='urn:xmpp:time'/></iq>`,
			`<iq type='error' id='t4' from='bob@example.org' to='alice@example.org/phone'>` + notAvailable + `</iq>`},
		{"set",
			`<iq type='set' id='t5' to='example.org'><time xmlns='urn:xmpp:time'><utc>2000-01-01T00:00:00Z</utc></time></iq>`,
			`<iq type='error' id='t5' from='example.org' to='alice@example.org/phone'>` + notAvailable + `</iq>`},
		// The obsolete XEP-0090 namespace is not served.
		{"jabber:iq:time",
			`<iq type='get' id='t6' to='example.org'><query xmlns='jabber:iq:time'/></iq>`,
			`<iq type='error' id='t6' from='example.org' to='alice@example.org/phone'>` + notAvailable + `</iq>`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r.Route(t.Context(), routertest.Stanza(t, alice, tc.req))
			routertest.AssertXML(t, alice.TakeOne(t), tc.want)
		})
	}
}

func TestZones(t *testing.T) {
	for _, tc := range []struct {
		name string
		now  time.Time
		tzo  string
		utc  string
	}{
		{"UTC", time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), "+00:00", "2026-03-01T00:00:00Z"},
		// The day changes when converting to UTC.
		{"east half hour", time.Date(2026, 1, 1, 3, 4, 5, 0, time.FixedZone("IST", 5*3600+1800)), "+05:30", "2025-12-31T21:34:05Z"},
		{"west half hour", time.Date(2026, 7, 15, 22, 0, 0, 0, time.FixedZone("NDT", -(2*3600+1800))), "-02:30", "2026-07-16T00:30:00Z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _, alice := setup(t, New(fixed(tc.now)))
			r.Route(t.Context(), routertest.Stanza(t, alice, `<iq type='get' id='z' to='example.org'><time xmlns='urn:xmpp:time'/></iq>`))
			routertest.AssertXML(t, alice.TakeOne(t).FirstChild(),
				`<time xmlns='urn:xmpp:time'><tzo>`+tc.tzo+`</tzo><utc>`+tc.utc+`</utc></time>`)
		})
	}
}

// Without WithClock the module reads the real clock, in UTC on the wire.
func TestRealClock(t *testing.T) {
	r, _, alice := setup(t, New())
	before := time.Now().Truncate(time.Second)
	r.Route(t.Context(), routertest.Stanza(t, alice, `<iq type='get' id='c' to='example.org'><time xmlns='urn:xmpp:time'/></iq>`))
	after := time.Now()
	q := alice.TakeOne(t).FirstChild()
	got, err := time.Parse(utcLayout, q.ChildText(NS, "utc"))
	if err != nil {
		t.Fatal(err)
	}
	if got.Before(before) || got.After(after) {
		t.Errorf("utc %v not within [%v, %v]", got, before, after)
	}
	if want := time.Now().Format(tzoLayout); q.ChildText(NS, "tzo") != want {
		t.Errorf("tzo %q, want the local zone's %q", q.ChildText(NS, "tzo"), want)
	}
}

func TestFeature(t *testing.T) {
	_, reg, _ := setup(t, New())
	if !slices.Contains(reg.Features(module.Server), NS) {
		t.Errorf("server features %v lack %s", reg.Features(module.Server), NS)
	}
}
