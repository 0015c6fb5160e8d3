package s2s

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"parley.im/parley/certs"
	"parley.im/parley/config"
	"parley.im/parley/internal/routertest"
	"parley.im/parley/router"
	"parley.im/parley/xmppcore"
)

// logBuf collects a node's log for assertions.
type logBuf struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{}
}

func newLogBuf() *logBuf { return &logBuf{changed: make(chan struct{})} }

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.Write(p)
	close(l.changed)
	l.changed = make(chan struct{})
	return len(p), nil
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitFor waits until the log holds every one of the substrings.
func (l *logBuf) waitFor(t *testing.T, subs ...string) {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for {
		l.mu.Lock()
		s, ch := l.b.String(), l.changed
		l.mu.Unlock()
		ok := true
		for _, sub := range subs {
			if !strings.Contains(s, sub) {
				ok = false
			}
		}
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("log never showed %q; log:\n%s", subs, s)
		}
	}
}

// node is one federating server in a test: a router with test sessions
// and a real s2s service on a loopback port.
type node struct {
	domain   string
	r        *router.Router
	svc      *Service
	log      *logBuf
	certFile string
	addr     string
	dials    *dialLog
}

type dialLog struct {
	mu    sync.Mutex
	addrs []string
}

func (d *dialLog) list() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.addrs...)
}

func newNode(t testing.TB, domain string, accounts []string, mod func(*Config)) *node {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Hosts = []config.Host{{Name: domain}}
	cm, err := certs.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	r := router.New(router.Config{Hosts: []string{domain}, AccountExists: routertest.Accounts(accounts...)})
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	sc := Config{
		Enabled: true, Listen: []string{"127.0.0.1:0"}, RequireTLS: true,
		Roots: x509.NewCertPool(), StaticHosts: map[string]Target{},
		NegotiationTimeout: 10 * time.Second, IdleTimeout: time.Minute, QueueSize: 64, MaxConnections: 4,
		Secret: secret,
	}
	if mod != nil {
		mod(&sc)
	}
	lb := newLogBuf()
	var w io.Writer = lb
	if os.Getenv("PARLEY_TEST_LOG") != "" {
		w = io.MultiWriter(lb, os.Stderr)
	}
	dl := &dialLog{}
	d := &net.Dialer{}
	svc := New(sc, Deps{Router: r, Certs: cm, Logger: slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})).With("node", domain),
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dl.mu.Lock()
			dl.addrs = append(dl.addrs, addr)
			dl.mu.Unlock()
			return d.DialContext(ctx, network, addr)
		}})
	if err := svc.Listen(); err != nil {
		t.Fatal(err)
	}
	r.SetRemote(svc)
	svc.Serve()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = svc.Shutdown(ctx)
	})
	st, _ := svc.Addrs()
	n := &node{domain: domain, r: r, svc: svc, log: lb, certFile: filepath.Join(cfg.CertDir(), domain+".crt"), addr: st[0].String(), dials: dl}
	return n
}

// mapTo makes n reach other through the static map.
func (n *node) mapTo(other *node) { n.svc.cfg.StaticHosts[other.domain] = Target{Addr: other.addr} }

// trust adds other's self-signed certificate to n's roots.
func (n *node) trust(t *testing.T, other *node) {
	t.Helper()
	b, err := os.ReadFile(other.certFile)
	if err != nil {
		t.Fatal(err)
	}
	if !n.svc.cfg.Roots.AppendCertsFromPEM(b) {
		t.Fatal("no certificate in", other.certFile)
	}
}

func pair2(t testing.TB, modA, modB func(*Config)) (*node, *node) {
	a := newNode(t, "a.example", []string{"alice@a.example"}, modA)
	b := newNode(t, "b.example", []string{"bob@b.example"}, modB)
	a.mapTo(b)
	b.mapTo(a)
	return a, b
}

// rawPeer is a hand-driven remote server connecting to a node.
type rawPeer struct {
	t      *testing.T
	nc     net.Conn
	c      net.Conn
	rd     *xmppcore.Reader
	header xmppcore.Header
	feats  *xmppcore.Element
}

func dialRaw(t *testing.T, addr string) *rawPeer {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawPeer{t: t, nc: nc, c: nc}
}

func (p *rawPeer) send(s string) {
	p.t.Helper()
	_ = p.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(p.c, s); err != nil {
		p.t.Fatalf("send: %v", err)
	}
}

func (p *rawPeer) open(from, to string) {
	p.t.Helper()
	attrs := ""
	if from != "" {
		attrs += " from='" + from + "'"
	}
	p.send(`<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' version='1.0' to='` + to + `'` + attrs + `>`)
	p.rd = xmppcore.NewReader(p.c, xmppcore.Limits{MaxStanzaSize: 1 << 20})
	_ = p.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	h, err := p.rd.ReadHeader()
	if err != nil {
		p.t.Fatalf("read header: %v", err)
	}
	p.header = h
	p.feats = p.next()
}

func (p *rawPeer) nextErr() (*xmppcore.Element, error) {
	_ = p.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	return p.rd.Next()
}

func (p *rawPeer) next() *xmppcore.Element {
	p.t.Helper()
	el, err := p.nextErr()
	if err != nil {
		p.t.Fatalf("read: %v", err)
	}
	return el
}

func (p *rawPeer) starttls(from, to string, cert *tls.Certificate) {
	p.t.Helper()
	p.send(`<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`)
	if el := p.next(); !el.Is(xmppcore.NSTLS, "proceed") {
		p.t.Fatalf("want proceed, got %s", el)
	}
	cfg := &tls.Config{InsecureSkipVerify: true, ServerName: to} //nolint:gosec // test
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	tc := tls.Client(p.nc, cfg)
	if err := tc.Handshake(); err != nil {
		p.t.Fatal(err)
	}
	p.c = tc
	p.open(from, to)
}

// expectStreamError reads up to the stream error and returns its condition.
func (p *rawPeer) expectStreamError() string {
	p.t.Helper()
	var skipped []string
	for {
		el, err := p.nextErr()
		if err != nil {
			p.t.Fatalf("no stream error (%v); got %s", err, skipped)
		}
		if el.Is(xmppcore.NSStream, "error") {
			if f := el.FirstChild(); f != nil {
				return f.Local
			}
			return ""
		}
		skipped = append(skipped, el.String())
	}
}

func certPair(t *testing.T, certFile string) *tls.Certificate {
	t.Helper()
	c, err := tls.LoadX509KeyPair(certFile, strings.TrimSuffix(certFile, ".crt")+".key")
	if err != nil {
		t.Fatal(err)
	}
	return &c
}

var _ = pem.Decode

func parseJID(s string) (jid.JID, error) { return jid.Parse(s) }
