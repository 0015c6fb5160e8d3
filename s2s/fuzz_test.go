package s2s

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"parley.im/parley/certs"
	"parley.im/parley/config"
	"parley.im/parley/internal/routertest"
	"parley.im/parley/router"
)

// FuzzInbound feeds arbitrary bytes after a valid stream header to the
// receiving side (TLS not required, so that dialback, verify and stanza
// handling are reached): it must answer or close, never panic or hang.
func FuzzInbound(f *testing.F) {
	cfg := config.Default()
	cfg.DataDir = f.TempDir()
	cfg.Hosts = []config.Host{{Name: "a.example"}}
	cm, err := certs.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		f.Fatal(err)
	}
	r := router.New(router.Config{Hosts: []string{"a.example"}, AccountExists: routertest.Accounts("alice@a.example")})
	svc := New(Config{Enabled: true, NegotiationTimeout: 2 * time.Second, QueueSize: 16, Secret: []byte("fuzz")},
		Deps{Router: r, Certs: cm, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			Dial: func(context.Context, string, string) (net.Conn, error) {
				return nil, errors.New("no network in fuzzing")
			}})
	r.SetRemote(svc)
	for _, s := range []string{
		`<db:result from='b.example' to='a.example'>abc</db:result>`,
		`<db:verify from='b.example' to='a.example' id='x'>abc</db:verify>`,
		`<message from='b@b.example' to='alice@a.example'><body>x</body></message>`,
		`<bidi xmlns='urn:xmpp:bidi'/><auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>=</auth>`,
		`<iq type='get' id='1'/></stream:stream>`,
		`<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`,
		`<message><body>&lt;</bod>`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		client, server := net.Pipe()
		done := make(chan struct{})
		go func() {
			defer close(done)
			svc.serveIn(server, false)
		}()
		go func() { _, _ = io.Copy(io.Discard, client) }()
		_ = client.SetWriteDeadline(time.Now().Add(2 * time.Second))
		_, _ = client.Write([]byte(`<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' version='1.0' from='b.example' to='a.example'>`))
		_, _ = client.Write(data)
		client.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("serveIn did not return")
		}
	})
}
