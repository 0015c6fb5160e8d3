package register_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"mellium.im/sasl"

	"parley.im/parley/c2s"
	"parley.im/parley/certs"
	"parley.im/parley/config"
	"parley.im/parley/internal/xmpptest"
	"parley.im/parley/module"
	"parley.im/parley/register"
	"parley.im/parley/router"
	"parley.im/parley/storage/sqlite"
	"parley.im/parley/xmppcore"
)

// TestOverC2S registers an account over a real client connection, logs in
// with it, changes its password and removes it, with the module wired into
// c2s as the server wires it.
func TestOverC2S(t *testing.T) {
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
	reg := module.NewRegistry(module.Env{Router: r, Store: st, Logger: log})
	mod := register.New(st, register.Options{Enabled: true, Iterations: 4096})
	if err := reg.Add(mod); err != nil {
		t.Fatal(err)
	}
	srv := c2s.New(c2s.Config{StartTLS: []string{"127.0.0.1:0"}, RequireTLS: true, ScramIterations: 4096,
		FakeSaltKey: []byte("test key")},
		c2s.Deps{Router: r, Store: st, Certs: cm, Logger: log, PostAuthFeatures: reg.StreamFeatures,
			PreAuthIQ: mod.PreAuthIQ, PreAuthFeatures: mod.PreAuthFeatures})
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	srv.Serve(context.Background())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		_ = reg.Stop(ctx)
	})
	addrs, _ := srv.Addrs()
	addr := addrs[0].String()

	c := xmpptest.Dial(t, addr)
	c.OpenStream("localhost")
	c.StartTLS("localhost")
	if c.Features.Child(register.NSFeature, "register") == nil {
		t.Fatalf("no registration feature: %s", c.Features)
	}
	c.Send(`<iq type='get' id='r1'><query xmlns='jabber:iq:register'/></iq>`)
	if got := c.Next(); got.Attr("type") != "result" || got.FirstChild().Child(register.NS, "username") == nil {
		t.Fatalf("form: %s", got)
	}
	c.Send(`<iq type='set' id='r2'><query xmlns='jabber:iq:register'><username>Eve</username><password>apple pie</password></query></iq>`)
	if got := c.Next(); got.Attr("type") != "result" || got.Attr("id") != "r2" {
		t.Fatalf("registration: %s", got)
	}
	if got := c.Auth(sasl.ScramSha256, "eve", "apple pie"); !got.Is(xmppcore.NSSASL, "success") {
		t.Fatalf("login with the new account: %s", got)
	}
	c.OpenStream("localhost")
	c.Bind("phone")

	c.Send(`<iq type='set' id='p1'><query xmlns='jabber:iq:register'><username>eve</username><password>pear tart</password></query></iq>`)
	if got := c.Next(); got.Attr("type") != "result" || got.Attr("id") != "p1" {
		t.Fatalf("password change: %s", got)
	}
	c2 := xmpptest.Dial(t, addr)
	c2.OpenStream("localhost")
	c2.StartTLS("localhost")
	if got := c2.Auth(sasl.ScramSha256, "eve", "pear tart"); !got.Is(xmppcore.NSSASL, "success") {
		t.Fatalf("login with the new password: %s", got)
	}

	c.Send(`<iq type='set' id='rm'><query xmlns='jabber:iq:register'><remove/></query></iq>`)
	if got := c.Next(); got.Attr("type") != "result" || got.Attr("id") != "rm" {
		t.Fatalf("removal: %s", got)
	}
	if cond := c.ExpectStreamError(); cond != "not-authorized" {
		t.Errorf("stream error %s after removal", cond)
	}
	if ok, err := st.AccountExists(t.Context(), "localhost", "eve"); ok || err != nil {
		t.Errorf("account still exists: %v %v", ok, err)
	}
}
