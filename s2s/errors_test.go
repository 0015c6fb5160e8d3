package s2s

import (
	"context"
	"encoding/base64"
	"net"
	"strings"
	"testing"
	"time"

	"parley.im/parley/internal/routertest"
	"parley.im/parley/xmppcore"
)

// errorsSetup: a (the server under test) and b, the real server of the
// domain the raw peer claims, which answers a's dialback verifications.
func errorsSetup(t *testing.T, modA func(*Config)) (*node, *node, *routertest.Session) {
	t.Helper()
	a, b := pair2(t, modA, nil)
	alice := routertest.Bind(t, a.r, "alice@a.example/phone")
	a.r.SetPresence(alice, xmppcore.New("", "presence"))
	return a, b, alice
}

// securePeer opens a TLS stream from "from" to a.
func securePeer(t *testing.T, a *node, from string) *rawPeer {
	t.Helper()
	p := dialRaw(t, a.addr)
	p.open(from, a.domain)
	p.starttls(from, a.domain, nil)
	return p
}

// authPeer is a peer claiming b.example with a key b really issued.
func authPeer(t *testing.T, a, b *node) *rawPeer {
	t.Helper()
	p := securePeer(t, a, "b.example")
	key := b.svc.dialbackKey("a.example", "b.example", p.header.ID)
	p.send(`<db:result from='b.example' to='a.example'>` + key + `</db:result>`)
	el := p.next()
	if !el.Is(NSDialback, "result") || el.Attr("type") != "valid" {
		t.Fatalf("dialback: got %s", el)
	}
	return p
}

func TestInboundErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		run  func(t *testing.T, a, b *node) string // returns the stream error condition
		want string
		log  string
	}{
		{"host unknown", nil, func(t *testing.T, a, b *node) string {
			p := dialRaw(t, a.addr)
			p.open("b.example", "nothere.example")
			return streamErrorCond(p.feats)
		}, "host-unknown", `condition=host-unknown`},
		{"client namespace", nil, func(t *testing.T, a, b *node) string {
			p := dialRaw(t, a.addr)
			p.send(`<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0' to='a.example'>`)
			p.rd = xmppcore.NewReader(p.c, xmppcore.Limits{})
			if _, err := p.rd.ReadHeader(); err != nil {
				t.Fatal(err)
			}
			return p.expectStreamError()
		}, "invalid-namespace", "server streams use jabber:server"},
		{"old version", nil, func(t *testing.T, a, b *node) string {
			p := dialRaw(t, a.addr)
			p.send(`<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' to='a.example'>`)
			p.rd = xmppcore.NewReader(p.c, xmppcore.Limits{})
			if _, err := p.rd.ReadHeader(); err != nil {
				t.Fatal(err)
			}
			return p.expectStreamError()
		}, "unsupported-version", "XMPP 1.0 streams only"},
		{"dialback without TLS", nil, func(t *testing.T, a, b *node) string {
			p := dialRaw(t, a.addr)
			p.open("b.example", "a.example")
			p.send(`<db:result from='b.example' to='a.example'>abc</db:result>`)
			return p.expectStreamError()
		}, "policy-violation", "STARTTLS is required"},
		{"bad dialback key", nil, func(t *testing.T, a, b *node) string {
			p := securePeer(t, a, "b.example")
			p.send(`<db:result from='b.example' to='a.example'>0123456789abcdef</db:result>`)
			if el := p.next(); el.Attr("type") != "invalid" {
				t.Fatalf("got %s", el)
			}
			b.log.waitFor(t, "answered a dialback verification", "result=invalid")
			return p.expectStreamError()
		}, "not-authorized", "dialback key did not verify"},
		{"key from another stream", nil, func(t *testing.T, a, b *node) string {
			p := securePeer(t, a, "b.example")
			key := b.svc.dialbackKey("a.example", "b.example", "some-other-stream")
			p.send(`<db:result from='b.example' to='a.example'>` + key + `</db:result>`)
			if el := p.next(); el.Attr("type") != "invalid" {
				t.Fatalf("got %s", el)
			}
			return p.expectStreamError()
		}, "not-authorized", "dialback key did not verify"},
		{"unprovable domain", nil, func(t *testing.T, a, b *node) string {
			ln, _ := net.Listen("tcp", "127.0.0.1:0")
			a.svc.cfg.StaticHosts["ghost.example"] = Target{Addr: ln.Addr().String()}
			ln.Close()
			p := securePeer(t, a, "ghost.example")
			p.send(`<db:result from='ghost.example' to='a.example'>0123</db:result>`)
			if el := p.next(); el.Attr("type") != "error" {
				t.Fatalf("got %s", el)
			}
			p.send(`<message from='x@ghost.example' to='alice@a.example'><body>spoof</body></message>`)
			return p.expectStreamError()
		}, "invalid-from", "ghost.example is not authenticated on this stream"},
		{"claims our own domain in the header", nil, func(t *testing.T, a, b *node) string {
			p := dialRaw(t, a.addr)
			p.open("a.example", "a.example")
			return streamErrorCond(p.feats)
		}, "invalid-from", "must be the peer's own domain"},
		{"dialback for our own domain", nil, func(t *testing.T, a, b *node) string {
			p := securePeer(t, a, "")
			p.send(`<db:result from='a.example' to='a.example'>0123</db:result>`)
			return p.expectStreamError()
		}, "invalid-from", "a.example is served here"},
		{"dialback to a host not served", nil, func(t *testing.T, a, b *node) string {
			p := securePeer(t, a, "b.example")
			p.send(`<db:result from='b.example' to='c.example'>0123</db:result>`)
			return p.expectStreamError()
		}, "host-unknown", "c.example is not served here"},
		{"stanza before authentication", nil, func(t *testing.T, a, b *node) string {
			p := securePeer(t, a, "b.example")
			p.send(`<message from='bob@b.example' to='alice@a.example'><body>early</body></message>`)
			return p.expectStreamError()
		}, "invalid-from", "b.example is not authenticated on this stream"},
		{"from outside the authenticated domains", nil, func(t *testing.T, a, b *node) string {
			p := authPeer(t, a, b)
			p.send(`<message from='eve@evil.example' to='alice@a.example'><body>spoof</body></message>`)
			return p.expectStreamError()
		}, "invalid-from", "evil.example is not authenticated"},
		{"no to", nil, func(t *testing.T, a, b *node) string {
			p := authPeer(t, a, b)
			p.send(`<message from='bob@b.example'><body>?</body></message>`)
			return p.expectStreamError()
		}, "improper-addressing", "need 'from' and 'to'"},
		{"to a host not served", nil, func(t *testing.T, a, b *node) string {
			p := authPeer(t, a, b)
			p.send(`<message from='bob@b.example' to='x@c.example'><body>?</body></message>`)
			return p.expectStreamError()
		}, "host-unknown", "c.example is not served here"},
		{"oversized stanza", func(c *Config) { c.Limits.MaxStanzaSize = 2048 }, func(t *testing.T, a, b *node) string {
			p := authPeer(t, a, b)
			p.send(`<message from='bob@b.example' to='alice@a.example'><body>` + strings.Repeat("x", 4096) + `</body></message>`)
			return p.expectStreamError()
		}, "policy-violation", "exceeds the size limit"},
		{"malformed XML", nil, func(t *testing.T, a, b *node) string {
			p := authPeer(t, a, b)
			p.send(`<message from='bob@b.example' to='alice@a.example'><body>x</bod></message>`)
			return p.expectStreamError()
		}, "not-well-formed", "not-well-formed"},
		{"unknown element", nil, func(t *testing.T, a, b *node) string {
			p := authPeer(t, a, b)
			p.send(`<foo xmlns='urn:example'/>`)
			return p.expectStreamError()
		}, "unsupported-stanza-type", "unexpected element foo"},
		{"too many streams", func(c *Config) { c.MaxConnections = 1 }, func(t *testing.T, a, b *node) string {
			authPeer(t, a, b)
			p := securePeer(t, a, "b.example")
			key := b.svc.dialbackKey("a.example", "b.example", p.header.ID)
			p.send(`<db:result from='b.example' to='a.example'>` + key + `</db:result>`)
			return p.expectStreamError()
		}, "policy-violation", "too many streams from b.example"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b, alice := errorsSetup(t, tc.mod)
			if got := tc.run(t, a, b); got != tc.want {
				t.Fatalf("stream error %q, want %q", got, tc.want)
			}
			a.log.waitFor(t, tc.log)
			if len(alice.Sent()) != 0 {
				t.Fatalf("alice received %v", alice.Sent())
			}
		})
	}
}

// A peer that proved its domain by dialback gets its stanzas routed.
func TestInboundDialbackRoutes(t *testing.T) {
	a, b, alice := errorsSetup(t, nil)
	p := authPeer(t, a, b)
	p.send(`<message type='chat' id='x1' from='bob@b.example/pc' to='alice@a.example'><body>hello</body></message>`)
	el := alice.WaitFor(t, routertest.ByID("x1"))
	if el.Attr("from") != "bob@b.example/pc" {
		t.Fatalf("got %s", el)
	}
	// An IQ to an unknown user comes back as an error on... a stream of a's own.
	a.log.waitFor(t, "inbound domain authenticated by dialback")
}

// The authoritative side answers db:verify by the key it issued.
func TestVerifyAnswers(t *testing.T) {
	a, b, _ := errorsSetup(t, nil)
	good := b.svc.dialbackKey("a.example", "b.example", "sid1")
	for _, tc := range []struct{ key, want string }{{good, "valid"}, {"bogus", "invalid"}} {
		p := dialRaw(t, b.addr)
		p.open("a.example", "b.example")
		p.starttls("a.example", "b.example", nil)
		p.send(`<db:verify from='a.example' to='b.example' id='sid1'>` + tc.key + `</db:verify>`)
		el := p.next()
		if !el.Is(NSDialback, "verify") || el.Attr("type") != tc.want || el.Attr("id") != "sid1" || el.Attr("from") != "b.example" {
			t.Fatalf("got %s, want type %s", el, tc.want)
		}
	}
	_ = a
}

// SASL EXTERNAL: offered only with a trusted certificate for the stream's
// 'from', and only for that identity.
func TestSASLExternal(t *testing.T) {
	a, b, alice := errorsSetup(t, nil)
	a.trust(t, b)
	cert := certPair(t, b.certFile)

	// A certificate not valid for the claimed domain: no EXTERNAL, and
	// trying it anyway fails, leaving dialback possible.
	p := dialRaw(t, a.addr)
	p.open("c.example", "a.example")
	p.starttls("c.example", "a.example", cert)
	if p.feats.Child(xmppcore.NSSASL, "mechanisms") != nil {
		t.Fatalf("EXTERNAL offered for a certificate not valid for the domain: %s", p.feats)
	}
	p.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>=</auth>`)
	if el := p.next(); !el.Is(xmppcore.NSSASL, "failure") || el.Child(xmppcore.NSSASL, "invalid-mechanism") == nil {
		t.Fatalf("got %s", el)
	}
	p.send(`<db:verify from='c.example' to='a.example' id='x'>k</db:verify>`)
	if el := p.next(); !el.Is(NSDialback, "verify") || el.Attr("type") != "invalid" {
		t.Fatalf("got %s", el)
	}

	p = dialRaw(t, a.addr)
	p.open("b.example", "a.example")
	p.starttls("b.example", a.domain, cert)
	if !hasMechanism(p.feats, "EXTERNAL") {
		t.Fatalf("no EXTERNAL: %s", p.feats)
	}
	p.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>` + base64.StdEncoding.EncodeToString([]byte("c.example")) + `</auth>`)
	if el := p.next(); !el.Is(xmppcore.NSSASL, "failure") || el.Child(xmppcore.NSSASL, "invalid-authzid") == nil {
		t.Fatalf("got %s", el)
	}
	a.log.waitFor(t, "SASL EXTERNAL refused")
	p.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>=</auth>`)
	if el := p.next(); !el.Is(xmppcore.NSSASL, "success") {
		t.Fatalf("got %s", el)
	}
	p.open("b.example", "a.example")
	p.send(`<message type='chat' id='e1' from='bob@b.example/pc' to='alice@a.example'><body>hello</body></message>`)
	alice.WaitFor(t, routertest.ByID("e1"))
}

// Shutdown ends authenticated streams with system-shutdown, and does not
// wait for streams still negotiating.
func TestShutdown(t *testing.T) {
	a, b, _ := errorsSetup(t, func(c *Config) { c.NegotiationTimeout = time.Minute })
	authed := authPeer(t, a, b)
	pending := dialRaw(t, a.addr)
	pending.open("b.example", "a.example") // and then nothing: negotiating
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.svc.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if got := authed.expectStreamError(); got != "system-shutdown" {
		t.Fatalf("got %s", got)
	}
}
