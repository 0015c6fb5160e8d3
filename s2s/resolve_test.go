package s2s

import (
	"context"
	"errors"
	"net"
	"slices"
	"testing"

	"parley.im/parley/internal/routertest"
	"parley.im/parley/xmppcore"
)

type fakeResolver map[string][]*net.SRV // "_service._proto.name"

func (f fakeResolver) LookupSRV(_ context.Context, service, proto, name string) (string, []*net.SRV, error) {
	if r, ok := f["_"+service+"._"+proto+"."+name]; ok {
		return "", r, nil
	}
	return "", nil, errors.New("no such record")
}

func TestResolve(t *testing.T) {
	s := New(Config{StaticHosts: map[string]Target{"static.example": {Addr: "10.0.0.1:5999", DirectTLS: true}}},
		Deps{Resolver: fakeResolver{
			"_xmpp-server._tcp.srv.example":  {{Target: "xmpp2.srv.example.", Port: 5269, Priority: 20}, {Target: "xmpp1.srv.example.", Port: 5270, Priority: 10}},
			"_xmpps-server._tcp.srv.example": {{Target: "tls.srv.example.", Port: 5271, Priority: 10}},
			"_xmpp-server._tcp.none.example": {{Target: ".", Port: 0}},
		}})
	for i, tc := range []struct {
		domain string
		want   []Target
	}{
		{"static.example", []Target{{"10.0.0.1:5999", true}}},
		{"srv.example", []Target{{"tls.srv.example:5271", true}, {"xmpp1.srv.example:5270", false}, {"xmpp2.srv.example:5269", false}}},
		{"plain.example", []Target{{"plain.example:5269", false}}},
		{"none.example", []Target{}},
	} {
		got := s.resolve(t.Context(), tc.domain)
		if !slices.Equal(got, tc.want) {
			t.Errorf("%d: %s: %v, want %v", i, tc.domain, got, tc.want)
		}
	}
	for i, tc := range []struct {
		in     string
		domain string
		t      Target
		ok     bool
	}{
		{"b.example=127.0.0.1:5269", "b.example", Target{"127.0.0.1:5269", false}, true},
		{"b.example=tls:127.0.0.1:5270", "b.example", Target{"127.0.0.1:5270", true}, true},
		{"b.example", "", Target{}, false},
	} {
		d, tt, ok := ParseStaticHost(tc.in)
		if d != tc.domain || tt != tc.t || ok != tc.ok {
			t.Errorf("%d: ParseStaticHost(%q) = %q %v %v", i, tc.in, d, tt, ok)
		}
	}
}

// XEP-0368: a domain mapped to a direct TLS listener is reached with TLS
// from the first byte (ALPN xmpp-server).
func TestDirectTLS(t *testing.T) {
	a := newNode(t, "a.example", []string{"alice@a.example"}, nil)
	b := newNode(t, "b.example", []string{"bob@b.example"}, func(c *Config) { c.DirectTLS = []string{"127.0.0.1:0"} })
	_, direct := b.svc.Addrs()
	a.svc.cfg.StaticHosts["b.example"] = Target{Addr: direct[0].String(), DirectTLS: true}
	b.mapTo(a)
	alice := routertest.Bind(t, a.r, "alice@a.example/phone")
	bob := routertest.Bind(t, b.r, "bob@b.example/pc")
	b.r.SetPresence(bob, xmppcore.New("", "presence"))
	a.r.Route(t.Context(), chat(t, alice, "bob@b.example/pc", "t1"))
	bob.WaitFor(t, routertest.ByID("t1"))
	for _, d := range a.dials.list() {
		if d == b.addr {
			t.Fatalf("a dialed b's STARTTLS port: %v", a.dials.list())
		}
	}
}
