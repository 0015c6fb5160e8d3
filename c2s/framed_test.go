package c2s_test

import (
	"bytes"
	"context"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"parley.im/parley/auth"
	"parley.im/parley/c2s"
	"parley.im/parley/config"
	"parley.im/parley/internal/storetest"
	"parley.im/parley/internal/xmpptest"
	"parley.im/parley/router"
	"parley.im/parley/xmppcore"
)

// A framed session negotiates like a TCP one (SCRAM, bind), without
// STARTTLS, and chats with a TCP session; every frame it gets parses alone.
func TestFramedSession(t *testing.T) {
	srv := start(t)
	alice, aliceJID := login(t, srv, "alice", "tcp")
	available(t, alice)

	bob := xmpptest.DialFramed(t, srv)
	bob.OpenStream("localhost")
	if bob.Open.Attr("from") != "localhost" || bob.Open.Attr("version") != "1.0" || bob.Open.Attr("id") == "" {
		t.Fatalf("server <open/>: %s", bob.Open)
	}
	if bob.Features.Child(xmppcore.NSTLS, "starttls") != nil {
		t.Fatalf("STARTTLS offered on a framed transport: %s", bob.Features)
	}
	if el := bob.AuthSCRAM(&xmpptest.SCRAM{Mechanism: "SCRAM-SHA-256", User: "bob", Password: password}); !el.Is(xmppcore.NSSASL, "success") {
		t.Fatalf("auth: %s", el)
	}
	bob.OpenStream("localhost")
	if bob.Features.Child(xmppcore.NSBind, "bind") == nil {
		t.Fatalf("no bind after SASL: %s", bob.Features)
	}
	bobJID := bob.Bind("web")
	bob.Send(`<presence xmlns='jabber:client'/>`)

	alice.Send(`<message type='chat' id='m1' to='` + bobJID + `'><body>to the web</body></message>`)
	raw := rawUntil(t, bob, "m1")
	if !bytes.Contains(raw, []byte(`xmlns="jabber:client"`)) {
		t.Fatalf("stanza frame without its namespace: %s", raw)
	}
	el, err := xmppcore.Parse(raw)
	if err != nil || el.Attr("from") != aliceJID || el.ChildText("", "body") != "to the web" {
		t.Fatalf("bob got %s (%v)", raw, err)
	}

	bob.Send(`<message xmlns='jabber:client' type='chat' id='m2' to='alice@localhost'><body>from the web</body></message>`)
	if el := alice.Expect(byID("m2")); el.Attr("from") != bobJID || el.ChildText("", "body") != "from the web" {
		t.Fatalf("alice got %s", el)
	}

	// A clean close: the server answers <close/> and ends the transport.
	bob.Send(`<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>`)
	bob.Expect(func(el *xmppcore.Element) bool { return el.Is(c2s.NSFraming, "close") })
	select {
	case <-bob.Done:
	case <-time.After(xmpptest.Timeout):
		t.Fatal("ServeFramed still running after <close/>")
	}
}

// rawUntil reads frames until one with the given id, and returns it as
// the server wrote it.
func rawUntil(t *testing.T, c *xmpptest.FramedClient, id string) []byte {
	t.Helper()
	for {
		b, err := c.NextRaw()
		if err != nil {
			t.Fatalf("waiting for %s: %v", id, err)
		}
		if el, err := xmppcore.Parse(b); err == nil && el.Attr("id") == id {
			return b
		}
	}
}

// Each bad frame gets the RFC 7395 answer: a stream error, then <close/>,
// then the end of the transport.
func TestFramedErrors(t *testing.T) {
	srv := start(t, limited)
	open := `<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>`
	for _, tc := range []struct {
		name   string
		frames []string
		want   string
	}{
		{"two elements in one frame", []string{open, `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'/><abort xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>`}, "not-well-formed"},
		{"half an element", []string{open, `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>`}, "not-well-formed"},
		{"text", []string{open, `hello`}, "not-well-formed"},
		{"empty frame", []string{open, ``}, "not-well-formed"},
		{"element and text", []string{open, `<presence/>trailing`}, "not-well-formed"},
		{"breaking out of the wrapper", []string{open, `<presence/></stream:stream><presence/>`}, "not-well-formed"},
		{"stanza instead of open", []string{`<message xmlns='jabber:client'/>`}, "bad-format"},
		{"stream header instead of open", []string{`<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>`}, "not-well-formed"},
		{"wrong host", []string{`<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='example.net' version='1.0'/>`}, "host-unknown"},
		{"no version", []string{`<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost'/>`}, "unsupported-version"},
		{"open twice", []string{open, open}, "bad-format"},
		{"frame over the stanza limit", []string{open, `<message xmlns='jabber:client'><body>` + strings.Repeat("x", 6000) + `</body></message>`}, "policy-violation"},
		{"too deep", []string{open, strings.Repeat("<a>", 9) + strings.Repeat("</a>", 9)}, "policy-violation"},
		{"stanza before auth", []string{open, `<message xmlns='jabber:client' to='bob@localhost'/>`}, "not-authorized"},
		{"starttls", []string{open, `<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`}, "policy-violation"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := xmpptest.DialFramed(t, srv)
			for _, f := range tc.frames {
				c.Send(f)
			}
			if got := c.ExpectStreamError(); got != tc.want {
				t.Fatalf("stream error %q, want %q", got, tc.want)
			}
		})
	}
}

// A framed stream that does not finish negotiating is ended with
// connection-timeout.
func TestFramedNegotiationTimeout(t *testing.T) {
	srv := start(t, func(cfg *config.Config) { cfg.C2S.NegotiationTimeout = 200 * time.Millisecond })
	c := xmpptest.DialFramed(t, srv)
	c.OpenStream("localhost")
	if got := c.ExpectStreamError(); got != "connection-timeout" {
		t.Fatalf("stream error %q", got)
	}
}

// A framed session that goes silent gets a ping, and answering it keeps
// the session.
func TestFramedIdlePing(t *testing.T) {
	srv := start(t, func(cfg *config.Config) {
		cfg.C2S.IdleTimeout = 100 * time.Millisecond
		cfg.C2S.PingTimeout = 5 * time.Second
	})
	c, _ := xmpptest.FramedLogin(t, srv, "alice", password, "web")
	ping := c.Expect(func(el *xmppcore.Element) bool { return el.Child(nsPing, "ping") != nil })
	c.Send(`<iq xmlns='jabber:client' type='result' id='` + ping.Attr("id") + `'/>`)
	c.Send(`<iq xmlns='jabber:client' type='get' id='p2' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`)
	if el := c.Expect(byID("p2")); el.Attr("type") != "result" {
		t.Fatalf("ping answered with %s", el)
	}
}

// A framed session over plain HTTP (not secure) is offered no mechanism
// when TLS is required, and no STARTTLS either.
func TestFramedInsecure(t *testing.T) {
	srv := start(t)
	c := xmpptest.DialFramedInfo(t, srv, c2s.FramedInfo{Transport: "bosh", RemoteIP: netip.MustParseAddr("192.0.2.1")})
	c.OpenStream("localhost")
	if c.Features.Child(xmppcore.NSTLS, "starttls") != nil || c.Features.Child(xmppcore.NSSASL, "mechanisms") != nil {
		t.Fatalf("features on an insecure framed transport: %s", c.Features)
	}
}

// The per-address connection limit counts framed sessions too.
func TestFramedConnectionLimit(t *testing.T) {
	srv := start(t, func(cfg *config.Config) { cfg.Limits.MaxConnectionsPerIP = 1 })
	first := xmpptest.DialFramed(t, srv)
	first.OpenStream("localhost")
	second := xmpptest.DialFramed(t, srv)
	if got := second.ExpectStreamError(); got != "policy-violation" {
		t.Fatalf("stream error %q", got)
	}
}

// recorder is an Observer that counts.
type recorder struct {
	mu     sync.Mutex
	counts map[string]int
}

func (r *recorder) add(k string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.counts == nil {
		r.counts = map[string]int{}
	}
	r.counts[k]++
}

func (r *recorder) get(k string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counts[k]
}

func (r *recorder) SessionStarted(tr string) { r.add("start " + tr) }
func (r *recorder) SessionEnded(tr string)   { r.add("end " + tr) }
func (r *recorder) StanzaIn(kind string)     { r.add("in " + kind) }
func (r *recorder) StanzaOut(kind string)    { r.add("out " + kind) }
func (r *recorder) Auth(mech string, ok bool) {
	if ok {
		r.add("auth ok " + mech)
	} else {
		r.add("auth fail " + mech)
	}
}
func (r *recorder) QueueDrop() { r.add("drop") }

// The Observer hears about the session, its stanzas and its login, on a
// c2s server built directly (server does not wire one yet).
func TestObserver(t *testing.T) {
	st := storetest.Open(t, "localhost")
	creds, err := auth.DeriveCredentials(password, 4096)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateAccount(context.Background(), "localhost", "alice", creds); err != nil {
		t.Fatal(err)
	}
	rt := router.New(router.Config{Hosts: []string{"localhost"}})
	rec := &recorder{}
	srv := c2s.New(c2s.Config{}, c2s.Deps{Router: rt, Store: st, Observer: rec})
	info := c2s.FramedInfo{Transport: "websocket", RemoteIP: netip.MustParseAddr("127.0.0.1"), Secure: true}
	c := xmpptest.FramedPair(t, func(fc c2s.FramedConn) { srv.ServeFramed(context.Background(), fc, info) })
	c.OpenStream("localhost")
	if el := c.AuthSCRAM(&xmpptest.SCRAM{Mechanism: "SCRAM-SHA-256", User: "alice", Password: "wrong"}); el.Is(xmppcore.NSSASL, "success") {
		t.Fatal("wrong password accepted")
	}
	if el := c.AuthSCRAM(&xmpptest.SCRAM{Mechanism: "SCRAM-SHA-256", User: "alice", Password: password}); !el.Is(xmppcore.NSSASL, "success") {
		t.Fatalf("auth: %s", el)
	}
	c.OpenStream("localhost")
	c.Bind("web")
	// A message to oneself goes out again: one in, one out.
	c.Send(`<message xmlns='jabber:client' to='alice@localhost/web' id='m'><body>x</body></message>`)
	c.Expect(byID("m"))
	c.Send(`<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>`)
	<-c.Done
	for k, want := range map[string]int{
		"auth fail SCRAM-SHA-256": 1, "auth ok SCRAM-SHA-256": 1,
		"start websocket": 1, "end websocket": 1, "in message": 1, "out message": 1,
	} {
		if got := rec.get(k); got != want {
			t.Errorf("%s: %d, want %d (all: %v)", k, got, want, rec.counts)
		}
	}
}
