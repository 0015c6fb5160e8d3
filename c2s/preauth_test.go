package c2s_test

import (
	"context"
	"log/slog"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"parley.im/parley/c2s"
	"parley.im/parley/certs"
	"parley.im/parley/config"
	"parley.im/parley/internal/xmpptest"
	"parley.im/parley/router"
	"parley.im/parley/storage/sqlite"
	"parley.im/parley/xmppcore"
)

// preAuth records what Deps.PreAuthIQ is given and answers registration
// queries only, as the register module does.
type preAuth struct {
	mu    sync.Mutex
	calls []preAuthCall
}

type preAuthCall struct {
	host string
	ip   netip.Addr
	iq   string
}

func (p *preAuth) iq(_ context.Context, host string, ip netip.Addr, iq *xmppcore.Element) (*xmppcore.Element, bool) {
	p.mu.Lock()
	p.calls = append(p.calls, preAuthCall{host, ip, iq.String()})
	p.mu.Unlock()
	if iq.Child("jabber:iq:register", "query") == nil {
		return nil, false
	}
	return xmppcore.New("", xmppcore.IQ, "type", "result", "id", iq.Attr("id")), true
}

func (p *preAuth) features(host string) []*xmppcore.Element {
	return []*xmppcore.Element{xmppcore.New("http://jabber.org/features/iq-register", "register", "host", host)}
}

func (p *preAuth) recorded() []preAuthCall {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]preAuthCall(nil), p.calls...)
}

// startPreAuth runs a bare c2s server for localhost with the
// pre-authentication hooks set.
func startPreAuth(t *testing.T, requireTLS bool) (string, *preAuth) {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	log := slog.New(slog.DiscardHandler)
	cm, err := certs.New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "parley.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	r := router.New(router.Config{Hosts: []string{"localhost"}, AccountExists: st.AccountExists})
	p := &preAuth{}
	srv := c2s.New(c2s.Config{StartTLS: []string{"127.0.0.1:0"}, RequireTLS: requireTLS, ScramIterations: 4096,
		FakeSaltKey: []byte("test key")},
		c2s.Deps{Router: r, Store: st, Certs: cm, Logger: log, PreAuthIQ: p.iq, PreAuthFeatures: p.features})
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	srv.Serve(context.Background())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	addrs, _ := srv.Addrs()
	return addrs[0].String(), p
}

func hasRegisterFeature(f *xmppcore.Element) bool {
	return f.Child("http://jabber.org/features/iq-register", "register") != nil
}

const registerGet = `<iq type='get' id='reg1' from='mallory@localhost'><query xmlns='jabber:iq:register'/></iq>`

func TestPreAuthOverTLS(t *testing.T) {
	addr, p := startPreAuth(t, true)
	c := xmpptest.Dial(t, addr)
	c.OpenStream("localhost")
	if hasRegisterFeature(c.Features) {
		t.Errorf("registration offered before TLS: %s", c.Features)
	}
	c.StartTLS("localhost")
	if reg := c.Features.Child("http://jabber.org/features/iq-register", "register"); reg == nil || reg.Attr("host") != "localhost" {
		t.Fatalf("features after TLS: %s", c.Features)
	}
	c.Send(registerGet)
	if got := c.Next(); got.Attr("type") != "result" || got.Attr("id") != "reg1" {
		t.Fatalf("answer %s", got)
	}
	// Still negotiating: the stream goes on, and SASL is still offered.
	c.Send(`<iq type='get' id='reg2'><query xmlns='jabber:iq:register'/></iq>`)
	if got := c.Next(); got.Attr("id") != "reg2" {
		t.Fatalf("answer %s", got)
	}
	calls := p.recorded()
	if len(calls) != 2 {
		t.Fatalf("%d calls", len(calls))
	}
	if calls[0].host != "localhost" || calls[0].ip != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("called with host %q, ip %s", calls[0].host, calls[0].ip)
	}
	if el := calls[0].iq; el != `<iq type="get" id="reg1"><query xmlns="jabber:iq:register"/></iq>` {
		t.Errorf("handed %s: the client's 'from' must not pass", el)
	}
	// What the hook does not handle ends the stream as before.
	c.Send(`<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>`)
	if cond := c.ExpectStreamError(); cond != "not-authorized" {
		t.Errorf("stream error %s", cond)
	}
}

func TestPreAuthRefusedBeforeTLS(t *testing.T) {
	addr, p := startPreAuth(t, true)
	c := xmpptest.Dial(t, addr)
	c.OpenStream("localhost")
	c.Send(registerGet)
	if cond := c.ExpectStreamError(); cond != "not-authorized" {
		t.Errorf("stream error %s", cond)
	}
	if calls := p.recorded(); len(calls) != 0 {
		t.Errorf("the hook was called before TLS: %v", calls)
	}
}

// With require_tls off (loopback benchmarks), registration works without
// TLS, as authentication does.
func TestPreAuthWithoutRequiredTLS(t *testing.T) {
	addr, p := startPreAuth(t, false)
	c := xmpptest.Dial(t, addr)
	c.OpenStream("localhost")
	if !hasRegisterFeature(c.Features) {
		t.Fatalf("features: %s", c.Features)
	}
	c.Send(registerGet)
	if got := c.Next(); got.Attr("id") != "reg1" {
		t.Fatalf("answer %s", got)
	}
	// Messages and presence are never handed to the hook.
	c.Send(`<message to='localhost'><body>hi</body></message>`)
	if cond := c.ExpectStreamError(); cond != "not-authorized" {
		t.Errorf("stream error %s", cond)
	}
	if n := len(p.recorded()); n != 1 {
		t.Errorf("%d calls", n)
	}
}
