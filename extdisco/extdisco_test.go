package extdisco

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"parley.im/parley/internal/routertest"
	"parley.im/parley/module"
	"parley.im/parley/router"
)

// A vector computed outside Go, with
//
//	printf '%s' '1700000000:alice@localhost' | openssl dgst -sha1 -hmac 'north wind' -binary | base64
const (
	vectorSecret   = "north wind"
	vectorUsername = "1700000000:alice@localhost"
	vectorPassword = "/41f3DYovZDiVCijtwGvD6S8CUQ="
)

func TestCredentialsVector(t *testing.T) {
	u, p := Credentials(vectorSecret, "alice@localhost", time.Unix(1700000000, 0))
	if u != vectorUsername || p != vectorPassword {
		t.Errorf("Credentials = %q, %q; want %q, %q", u, p, vectorUsername, vectorPassword)
	}
	u, _ = Credentials(vectorSecret, "", time.Unix(1700000000, 0))
	if u != "1700000000" {
		t.Errorf("username without user = %q, want the timestamp alone", u)
	}
}

// TestCredentialsOpenSSL checks other inputs against openssl, when the
// machine has it.
func TestCredentialsOpenSSL(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("no openssl")
	}
	for _, tc := range []struct{ secret, user string }{
		{"s3cr3t", "bob@example.org"},
		{"with spaces and ünïcode", "x@y"},
	} {
		u, p := Credentials(tc.secret, tc.user, time.Unix(1234567890, 0))
		cmd := exec.Command("openssl", "dgst", "-sha1", "-hmac", tc.secret, "-binary")
		cmd.Stdin = strings.NewReader(u)
		mac, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		b64 := exec.Command("base64")
		b64.Stdin = strings.NewReader(string(mac))
		want, err := b64.Output()
		if err != nil {
			t.Fatal(err)
		}
		if p != strings.TrimSpace(string(want)) {
			t.Errorf("password for %q: %q, openssl says %q", u, p, want)
		}
	}
}

var now = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func setup(t *testing.T) (*router.Router, *routertest.Session) {
	t.Helper()
	r := router.New(router.Config{Hosts: []string{"example.org"},
		AccountExists: routertest.Accounts("alice@example.org")})
	reg := module.NewRegistry(module.Env{Router: r})
	m := New(Options{
		Services: []Service{
			{Type: "stun", Host: "stun.example.org", Port: 3478, Transport: "udp"},
			{Type: "turn", Host: "turn.example.org", Port: 3478, Transport: "udp", Secret: vectorSecret},
			{Type: "turn", Host: "turn.example.org", Port: 3479, Transport: "tcp", Name: "TCP relay", Secret: vectorSecret},
			{Type: "turns", Host: "turn.example.org", Port: 5349, Transport: "tcp", Secret: "other"},
		},
		TTL: time.Hour,
		Now: func() time.Time { return now },
	})
	if err := reg.Add(m); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Stop(context.Background()) })
	if got := reg.Features(module.Server); len(got) != 1 || got[0] != NS {
		t.Errorf("server features %q, want %s", got, NS)
	}
	return r, routertest.Bind(t, r, "alice@example.org/phone")
}

func TestServices(t *testing.T) {
	r, alice := setup(t)
	exp := now.Add(time.Hour)
	u, p := Credentials(vectorSecret, "alice@example.org", exp)
	u2, p2 := Credentials("other", "alice@example.org", exp)
	creds := func(u, p string) string {
		return ` restricted='1' username='` + u + `' password='` + p + `' expires='2026-11-22T11:00:00Z'`
	}
	stun := `<service type='stun' host='stun.example.org' port='3478' transport='udp'/>`
	turn1 := `<service type='turn' host='turn.example.org' port='3478' transport='udp'` + creds(u, p) + `/>`
	turn2 := `<service type='turn' host='turn.example.org' port='3479' transport='tcp' name='TCP relay'` + creds(u, p) + `/>`
	turns := `<service type='turns' host='turn.example.org' port='5349' transport='tcp'` + creds(u2, p2) + `/>`
	const head = `<iq type='result' from='example.org' to='alice@example.org/phone'`
	for _, tc := range []struct{ name, req, want string }{
		{"all", `<iq type='get' id='a' to='example.org'><services xmlns='urn:xmpp:extdisco:2'/></iq>`,
			head + ` id='a'><services xmlns='urn:xmpp:extdisco:2'>` + stun + turn1 + turn2 + turns + `</services></iq>`},
		{"by type", `<iq type='get' id='b' to='example.org'><services xmlns='urn:xmpp:extdisco:2' type='turn'/></iq>`,
			head + ` id='b'><services xmlns='urn:xmpp:extdisco:2' type='turn'>` + turn1 + turn2 + `</services></iq>`},
		{"unknown type", `<iq type='get' id='c' to='example.org'><services xmlns='urn:xmpp:extdisco:2' type='ftp'/></iq>`,
			head + ` id='c'><services xmlns='urn:xmpp:extdisco:2' type='ftp'/></iq>`},
		{"credentials, both ports", `<iq type='get' id='d' to='example.org'><credentials xmlns='urn:xmpp:extdisco:2'><service host='turn.example.org' type='turn'/></credentials></iq>`,
			head + ` id='d'><credentials xmlns='urn:xmpp:extdisco:2'>` + turn1 + turn2 + `</credentials></iq>`},
		{"credentials by port", `<iq type='get' id='e' to='example.org'><credentials xmlns='urn:xmpp:extdisco:2'><service host='turn.example.org' type='turn' port='3479'/></credentials></iq>`,
			head + ` id='e'><credentials xmlns='urn:xmpp:extdisco:2'>` + turn2 + `</credentials></iq>`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r.Route(t.Context(), routertest.Stanza(t, alice, tc.req))
			routertest.AssertXML(t, alice.TakeOne(t), tc.want)
		})
	}
}

func TestErrors(t *testing.T) {
	r, alice := setup(t)
	for _, tc := range []struct{ name, req, cond string }{
		{"unknown service", `<iq type='get' id='a' to='example.org'><credentials xmlns='urn:xmpp:extdisco:2'><service host='nope.example.org' type='turn'/></credentials></iq>`, "item-not-found"},
		{"wrong port", `<iq type='get' id='b' to='example.org'><credentials xmlns='urn:xmpp:extdisco:2'><service host='turn.example.org' type='turn' port='1'/></credentials></iq>`, "item-not-found"},
		{"not restricted", `<iq type='get' id='c' to='example.org'><credentials xmlns='urn:xmpp:extdisco:2'><service host='stun.example.org' type='stun'/></credentials></iq>`, "not-acceptable"},
		{"no service", `<iq type='get' id='d' to='example.org'><credentials xmlns='urn:xmpp:extdisco:2'/></iq>`, "bad-request"},
		{"no type", `<iq type='get' id='e' to='example.org'><credentials xmlns='urn:xmpp:extdisco:2'><service host='turn.example.org'/></credentials></iq>`, "bad-request"},
		{"bad port", `<iq type='get' id='f' to='example.org'><credentials xmlns='urn:xmpp:extdisco:2'><service host='turn.example.org' type='turn' port='x'/></credentials></iq>`, "bad-request"},
		{"set", `<iq type='set' id='g' to='example.org'><services xmlns='urn:xmpp:extdisco:2'/></iq>`, "service-unavailable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r.Route(t.Context(), routertest.Stanza(t, alice, tc.req))
			if got := routertest.ErrorCondition(alice.TakeOne(t)); got != tc.cond {
				t.Errorf("condition %q, want %q", got, tc.cond)
			}
		})
	}
}

// Someone who is not a local user (here: a remote requester, with no
// session) gets no credentials.
func TestForbiddenToStrangers(t *testing.T) {
	r, _ := setup(t)
	remote := &routertest.Remote{}
	r.SetRemote(remote)
	el := routertest.Parse(t, `<iq type='get' id='x' from='eve@evil.example/a' to='example.org'><services xmlns='urn:xmpp:extdisco:2'/></iq>`)
	st := &router.Stanza{El: el}
	st.From, st.To = routertest.JID(t, "eve@evil.example/a"), routertest.JID(t, "example.org")
	r.Route(t.Context(), st)
	got := remote.Got()
	if len(got) != 1 || routertest.ErrorCondition(got[0].El) != "forbidden" {
		t.Fatalf("answer to a remote requester: %v", got)
	}
	if strings.Contains(got[0].El.String(), "password") {
		t.Errorf("credentials leaked: %s", got[0].El)
	}
}
