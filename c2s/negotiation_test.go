package c2s_test

import (
	"crypto/tls"
	"slices"
	"strings"
	"testing"
	"time"

	"parley.im/parley/config"
	"parley.im/parley/internal/xmpptest"
	"parley.im/parley/xmppcore"
)

// limited sets small limits, so that tests can exceed them cheaply.
func limited(cfg *config.Config) {
	cfg.Limits.MaxStanzaSize = 4096
	cfg.Limits.MaxDepth = 8
	cfg.Limits.MaxStreamHeader = 512
}

// TestStreamErrors sends one bad thing per connection and checks the
// stream error and that the stream and the connection are closed.
func TestStreamErrors(t *testing.T) {
	srv := start(t, limited)
	nested := strings.Repeat("<a>", 9) + strings.Repeat("</a>", 9)
	for _, tc := range []struct {
		name string
		send []string // written one by one
		want string
	}{
		{"wrong to", []string{`<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0' to='example.net'>`}, "host-unknown"},
		{"no to", []string{`<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>`}, "host-unknown"},
		{"to a user", []string{`<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0' to='alice@localhost'>`}, "host-unknown"},
		{"wrong stream namespace", []string{`<stream:stream xmlns='jabber:client' xmlns:stream='urn:example:streams' version='1.0' to='localhost'>`}, "invalid-namespace"},
		{"jabber:server content", []string{`<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' version='1.0' to='localhost'>`}, "invalid-namespace"},
		{"no content namespace", []string{`<stream:stream xmlns:stream='http://etherx.jabber.org/streams' version='1.0' to='localhost'>`}, "invalid-namespace"},
		{"version missing", []string{`<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost'>`}, "unsupported-version"},
		{"version 2.0", []string{`<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='2.0' to='localhost'>`}, "unsupported-version"},
		{"version 0.9", []string{`<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='0.9' to='localhost'>`}, "unsupported-version"},
		// The parser judges text when the next tag starts: each garbage
		// here ends with one.
		{"garbage before the header", []string{"\x16\x03\x01\x02\x00GET / HTTP/1.1\r\n<"}, "not-well-formed"},
		{"text before the header", []string{"hello" + header}, "not-well-formed"},
		{"garbage after the header", []string{header, "}}}garbage{{{<message/>"}, "not-well-formed"},
		{"control character after the header", []string{header, "\x01<message/>"}, "not-well-formed"},
		{"bad tag after the header", []string{header, "<<>>"}, "not-well-formed"},
		{"mismatched tags", []string{header, `<message><body>hi</message></body>`}, "not-well-formed"},
		{"invalid UTF-8 in text", []string{header, "<message><body>\xff\xfe</body></message>"}, "not-well-formed"},
		{"invalid UTF-8 in the header", []string{"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0' to='local\xc3host'>"}, "not-well-formed"},
		{"end tag of another root", []string{header, `</stream:other>`}, "not-well-formed"},
		{"undeclared stanza prefix", []string{header, `<foo:message/>`}, "bad-namespace-prefix"},
		{"undeclared stream prefix", []string{`<stream:stream xmlns='jabber:client' version='1.0' to='localhost'>`}, "bad-namespace-prefix"},
		{"xmlns prefix redeclared", []string{header, `<message xmlns:xmlns='urn:x'/>`}, "bad-namespace-prefix"},
		{"comment", []string{header, `<!-- hello -->`}, "restricted-xml"},
		{"comment in a stanza", []string{header, `<message><!-- hello --></message>`}, "restricted-xml"},
		{"processing instruction", []string{header, `<?php echo 1; ?>`}, "restricted-xml"},
		{"processing instruction before the header", []string{`<?php echo 1; ?>` + header}, "restricted-xml"},
		{"DOCTYPE", []string{`<?xml version='1.0'?><!DOCTYPE stream:stream [<!ENTITY x 'y'>]>` + header}, "restricted-xml"},
		{"stanza over max_stanza_size", []string{header, `<message><body>` + strings.Repeat("x", 5000) + `</body></message>`}, "policy-violation"},
		{"nesting over max_depth", []string{header, nested}, "policy-violation"},
		{"header over max_stream_header", []string{strings.Replace(header, "version=", "id='"+strings.Repeat("i", 600)+"' version=", 1)}, "policy-violation"},
		{"stanza before auth", []string{header, `<message to='bob@localhost'><body>hi</body></message>`}, "not-authorized"},
		{"iq before auth", []string{header, `<iq type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq>`}, "not-authorized"},
		{"unknown element before auth", []string{header, `<hello xmlns='urn:example'/>`}, "unsupported-stanza-type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := xmpptest.Dial(t, srv.StartTLSAddr)
			for _, s := range tc.send {
				c.Send(s)
			}
			wantStreamError(t, c, tc.want)
		})
	}
}

// TestStreamErrorAfterHeader checks the stream error comes after the
// server's own header and features when they were already sent.
func TestStreamErrorAfterHeader(t *testing.T) {
	srv := start(t)
	c := opened(t, srv)
	if c.Header.From != "localhost" || c.Header.ID == "" || c.Header.Version != "1.0" {
		t.Fatalf("server header %+v", c.Header)
	}
	c.Send(`<message><body>`)
	c.Send(`</message>`)
	wantStreamError(t, c, "not-well-formed")
}

// TestOversizedAfterBind exceeds max_stanza_size and max_depth in a
// session, not only during negotiation.
func TestOversizedAfterBind(t *testing.T) {
	srv := start(t, limited)
	c, _ := login(t, srv, "alice", "")
	c.Send(`<message to='bob@localhost'><body>` + strings.Repeat("&amp;", 1000) + `</body></message>`)
	wantStreamError(t, c, "policy-violation")

	c, _ = login(t, srv, "alice", "")
	c.Send(`<message to='bob@localhost'>` + strings.Repeat("<a>", 8) + strings.Repeat("</a>", 8) + `</message>`)
	wantStreamError(t, c, "policy-violation")

	// Under the limits the stream goes on.
	c, _ = login(t, srv, "alice", "")
	c.Send(`<message to='bob@localhost'><body>` + strings.Repeat("x", 3500) + `</body></message>`)
	roundTrip(t, c, "still-open")
}

func TestNegotiationTimeout(t *testing.T) {
	t.Parallel() // mostly waiting for timeouts
	srv := start(t, func(cfg *config.Config) { cfg.C2S.NegotiationTimeout = 300 * time.Millisecond })

	// Header sent, then silence.
	c := opened(t, srv)
	wantStreamError(t, c, "connection-timeout")

	// Nothing at all: the server still answers with a header and the error.
	c = xmpptest.Dial(t, srv.StartTLSAddr)
	wantStreamError(t, c, "connection-timeout")

	// Silence after TLS.
	c = secured(t, srv)
	wantStreamError(t, c, "connection-timeout")

	// Silence on direct TLS before any header.
	c = xmpptest.DialTLS(t, srv.DirectTLSAddr, nil)
	wantStreamError(t, c, "connection-timeout")

	// Authenticated but never bound: the timeout covers the whole
	// negotiation, not each step.
	c = secured(t, srv)
	c.Send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-256'>`)
	wantStreamError(t, c, "connection-timeout")
}

// TestStreamErrorOnRestartedStream: a stream error on a restarted stream
// (after TLS, after SASL) comes after a new server header, since the
// client parses the restarted stream from scratch.
func TestStreamErrorOnRestartedStream(t *testing.T) {
	t.Parallel() // mostly waiting for timeouts
	srv := start(t, func(cfg *config.Config) { cfg.C2S.NegotiationTimeout = 500 * time.Millisecond })
	tlsOnly := func() *xmpptest.Client {
		c := opened(t, srv)
		c.Send(`<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`)
		if el := c.Next(); !el.Is(xmppcore.NSTLS, "proceed") {
			t.Fatalf("starttls: %s", el)
		}
		tc := tls.Client(c.Conn, &tls.Config{InsecureSkipVerify: true, ServerName: "localhost"}) //nolint:gosec // test certificate
		if err := tc.Handshake(); err != nil {
			t.Fatal(err)
		}
		c.Conn = tc
		c.Restart()
		return c
	}
	c := tlsOnly()
	c.Send(`<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0' to='example.net'>`)
	wantStreamError(t, c, "host-unknown")

	c = tlsOnly()
	c.Send(`</hello>`)
	wantStreamError(t, c, "not-well-formed")

	c = tlsOnly()
	c.Send(`<hello/>`)
	wantStreamError(t, c, "bad-format")

	c = tlsOnly() // silence
	wantStreamError(t, c, "connection-timeout")

	c = secured(t, srv)
	if el := c.Auth(scramSHA256, "alice", password); !el.Is(xmppcore.NSSASL, "success") {
		t.Fatalf("auth: %s", el)
	}
	c.Restart() // and silence
	wantStreamError(t, c, "connection-timeout")
}

// TestWhitespaceDuringNegotiation sends newlines between every element,
// as go-sendxmpp does, and before each restarted stream's header.
func TestWhitespaceDuringNegotiation(t *testing.T) {
	srv := start(t)
	c := xmpptest.Dial(t, srv.StartTLSAddr)
	c.Send("\n" + header + "\n")
	c.ReadHeader()
	c.Features = c.Next()
	c.Send("\n \t\r\n")
	c.StartTLS("localhost") // sends its own header
	c.Send("\n")
	if el := c.Auth(scramSHA256, "alice", password); !el.Is(xmppcore.NSSASL, "success") {
		t.Fatalf("auth: %s", el)
	}
	c.Send("\n" + header + "\n")
	c.ReadHeader()
	c.Features = c.Next()
	c.Send("\n")
	c.Bind("ws")
	c.Send("\n")
	roundTrip(t, c, "after-ws")
	c.Send("\n\n")
	roundTrip(t, c, "after-ws2")
}

func TestFeaturesBeforeTLS(t *testing.T) {
	srv := start(t)
	c := opened(t, srv)
	st := c.Features.Child(xmppcore.NSTLS, "starttls")
	if st == nil || st.Child(xmppcore.NSTLS, "required") == nil {
		t.Fatalf("features %s: want <starttls><required/></starttls>", c.Features)
	}
	if c.Features.Child(xmppcore.NSSASL, "mechanisms") != nil || c.Features.Child("urn:xmpp:sasl-cb:0", "sasl-channel-binding") != nil {
		t.Fatalf("features before TLS offer authentication: %s", c.Features)
	}
	// PLAIN (or anything) before TLS: encryption-required, stream open.
	c.Send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>` + b64("\x00alice\x00"+password) + `</auth>`)
	if got := saslFailure(t, c.Next()); got != "encryption-required" {
		t.Fatalf("PLAIN before TLS: %s", got)
	}
	c.StartTLS("localhost")
	if c.Features.Child(xmppcore.NSTLS, "starttls") != nil {
		t.Fatalf("starttls offered again over TLS: %s", c.Features)
	}
	if !slices.Contains(c.Mechanisms(), "PLAIN") || !slices.Contains(c.Mechanisms(), "SCRAM-SHA-256-PLUS") {
		t.Fatalf("mechanisms over TLS: %v", c.Mechanisms())
	}
	// STARTTLS twice is refused.
	c.Send(`<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`)
	if el := c.Next(); !el.Is(xmppcore.NSTLS, "failure") {
		t.Fatalf("second starttls answered %s", el)
	}
	wantStreamError(t, c, "policy-violation")
}

// TestPlainNeverBeforeTLS uses require_tls=false, where SCRAM may run in
// plain text: PLAIN must still be neither offered nor accepted.
func TestPlainNeverBeforeTLS(t *testing.T) {
	srv := start(t, func(cfg *config.Config) { cfg.C2S.RequireTLS = false })
	c := opened(t, srv)
	st := c.Features.Child(xmppcore.NSTLS, "starttls")
	if st == nil || st.Child(xmppcore.NSTLS, "required") != nil {
		t.Fatalf("features %s: want optional starttls", c.Features)
	}
	mechs := c.Mechanisms()
	if slices.Contains(mechs, "PLAIN") || !slices.Contains(mechs, "SCRAM-SHA-256") || slices.ContainsFunc(mechs, func(m string) bool { return strings.HasSuffix(m, "-PLUS") }) {
		t.Fatalf("mechanisms before TLS: %v", mechs)
	}
	c.Send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>` + b64("\x00alice\x00"+password) + `</auth>`)
	if got := saslFailure(t, c.Next()); got != "encryption-required" {
		t.Fatalf("PLAIN before TLS: %s", got)
	}
	// SCRAM works in plain text here.
	if el := c.Auth(scramSHA256, "alice", password); !el.Is(xmppcore.NSSASL, "success") {
		t.Fatalf("SCRAM without TLS: %s", el)
	}
}

// TestStartTLSPipelined sends data after <starttls/> in the same packet:
// it must not be taken as coming over TLS.
func TestStartTLSPipelined(t *testing.T) {
	srv := start(t)
	c := opened(t, srv)
	c.Send(`<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>` + header)
	el, err := c.NextErr()
	if err == nil && el.Is(xmppcore.NSTLS, "proceed") {
		t.Fatal("proceed despite pipelined data")
	}
	if err != nil || !el.Is(xmppcore.NSStream, "error") || el.Child(xmppcore.NSStreams, "policy-violation") == nil {
		t.Fatalf("got %v, %v; want a policy-violation stream error", el, err)
	}

	// White space after <starttls/> is no data (go-sendxmpp writes
	// "<starttls/>\n" at once): TLS goes on.
	c = opened(t, srv)
	c.Send("\n")
	c.StartTLSConfig("localhost", &tls.Config{InsecureSkipVerify: true, ServerName: "localhost"}) //nolint:gosec // test certificate
	c = opened(t, srv)
	c.Send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>\n \r\n")
	if el := c.Next(); !el.Is(xmppcore.NSTLS, "proceed") {
		t.Fatalf("starttls followed by white space: %s", el)
	}
	tc := tls.Client(c.Conn, &tls.Config{InsecureSkipVerify: true, ServerName: "localhost"}) //nolint:gosec // test certificate
	if err := tc.Handshake(); err != nil {
		t.Fatalf("TLS after white space: %v", err)
	}
	c.Conn = tc
	c.OpenStream("localhost")
	if el := c.Auth(scramSHA256, "alice", password); !el.Is(xmppcore.NSSASL, "success") {
		t.Fatalf("auth: %s", el)
	}

	// White space followed by anything else is refused.
	c = opened(t, srv)
	c.Send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>\n\x16\x03\x01")
	if el, err := c.NextErr(); err != nil || !el.Is(xmppcore.NSStream, "error") {
		t.Fatalf("got %v, %v; want a stream error", el, err)
	}
}

func TestDirectTLS(t *testing.T) {
	srv := start(t)
	c := xmpptest.DialTLS(t, srv.DirectTLSAddr, nil)
	cs := c.Conn.(*tls.Conn).ConnectionState()
	if cs.NegotiatedProtocol != "xmpp-client" {
		t.Fatalf("ALPN %q, want xmpp-client", cs.NegotiatedProtocol)
	}
	c.OpenStream("localhost")
	if c.Features.Child(xmppcore.NSTLS, "starttls") != nil {
		t.Fatalf("starttls offered over direct TLS: %s", c.Features)
	}
	if el := c.Auth(scramSHA256Plus, "alice", password, remote("SCRAM-SHA-256-PLUS")); !el.Is(xmppcore.NSSASL, "success") {
		t.Fatalf("auth over direct TLS: %s", el)
	}
	c.OpenStream("localhost")
	if j := c.Bind("direct"); j != "alice@localhost/direct" {
		t.Fatalf("bound %s", j)
	}
	roundTrip(t, c, "direct")
}

func TestTLS11Refused(t *testing.T) {
	srv := start(t)
	cfg := &tls.Config{InsecureSkipVerify: true, ServerName: "localhost", MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11} //nolint:gosec // testing the server's refusal
	conn, err := tls.Dial("tcp", srv.DirectTLSAddr, cfg)
	if err == nil {
		conn.Close()
		t.Fatal("TLS 1.1 handshake succeeded on direct TLS")
	}
	c := opened(t, srv)
	c.Send(`<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`)
	if el := c.Next(); !el.Is(xmppcore.NSTLS, "proceed") {
		t.Fatalf("starttls: %s", el)
	}
	tc := tls.Client(c.Conn, cfg)
	_ = tc.SetDeadline(time.Now().Add(xmpptest.Timeout))
	if err := tc.Handshake(); err == nil {
		t.Fatal("TLS 1.1 handshake succeeded after STARTTLS")
	}
}

func TestNotAuthorizedBeforeBind(t *testing.T) {
	srv := start(t)
	for _, stanza := range []string{
		`<message to='bob@localhost'><body>hi</body></message>`,
		`<presence/>`,
		`<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>`,
		`<iq type='get' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>`,
		`<iq type='set' id='s'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>`,
	} {
		c := authenticated(t, srv, "alice")
		c.Send(stanza)
		wantStreamError(t, c, "not-authorized")
	}
	// A second <auth/> after success is refused too.
	c := authenticated(t, srv, "alice")
	c.Send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-256'/>`)
	wantStreamError(t, c, "policy-violation")
}

func TestUnsupportedStanzaTypeAfterBind(t *testing.T) {
	srv := start(t)
	for _, el := range []string{
		`<hello xmlns='urn:example'/>`,
		`<r xmlns='urn:xmpp:sm:3'/>`,
		`<iq xmlns='jabber:server' type='get' id='1'/>`,
		`<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`,
	} {
		c, _ := login(t, srv, "alice", "")
		c.Send(el)
		wantStreamError(t, c, "unsupported-stanza-type")
	}
}

func TestInvalidFrom(t *testing.T) {
	srv := start(t)
	_, _ = login(t, srv, "alice", "other")
	for _, from := range []string{"bob@localhost", "bob@localhost/r", "alice@localhost/other", "localhost", "alice@example.net", "not a jid@@"} {
		c, _ := login(t, srv, "alice", "me")
		c.Send(`<message from='` + from + `' to='carol@localhost'><body>x</body></message>`)
		wantStreamError(t, c, "invalid-from")
	}
	// Its own full or bare JID (any case) is fine.
	c, _ := login(t, srv, "alice", "me")
	c.Send(`<message from='alice@localhost/me' to='carol@localhost'/>`)
	c.Send(`<message from='Alice@LOCALHOST' to='carol@localhost'/>`)
	roundTrip(t, c, "from-ok")
}

// TestIdlePing: after bind, silence makes the server ping; a client that
// answers, or only sends white space, stays; a silent one is closed with
// connection-timeout.
func TestIdlePing(t *testing.T) {
	t.Parallel() // mostly waiting for timeouts
	srv := start(t, func(cfg *config.Config) {
		cfg.C2S.IdleTimeout = 200 * time.Millisecond
		cfg.C2S.PingTimeout = time.Second
	})
	isPing := func(el *xmppcore.Element) bool {
		return el.Local == "iq" && el.Attr("type") == "get" && el.Child(nsPing, "ping") != nil
	}

	silent, silentJID := login(t, srv, "alice", "silent")
	ping := silent.Expect(isPing)
	if ping.Attr("from") != "localhost" || ping.Attr("to") != silentJID || ping.Attr("id") == "" {
		t.Fatalf("ping %s", ping)
	}
	wantStreamError(t, silent, "connection-timeout")

	answering, _ := login(t, srv, "bob", "answering")
	ws, _ := login(t, srv, "carol", "ws")
	// Three rounds: each answer (or space) buys another idle period.
	for range 3 {
		ping := answering.Expect(isPing)
		answering.Send(`<iq type='result' id='` + ping.Attr("id") + `' to='localhost'/>`)
		ws.Expect(isPing)
		ws.Send(" ")
	}
	// Both are still served.
	roundTrip(t, answering, "alive1")
	roundTrip(t, ws, "alive2")
}
