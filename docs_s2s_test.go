package parley_test

import (
	"crypto/tls"
	"testing"

	"parley.im/parley/config"
	"parley.im/parley/internal/xmpptest"
	"parley.im/parley/xmppcore"
)

// s2sFeatures opens a server stream to a Parley with federation on and
// returns the features before and after STARTTLS, and the client.
func s2sFeatures(t *testing.T) (pre, post *xmppcore.Element, c *xmpptest.Client) {
	t.Helper()
	srv := xmpptest.Start(t, func(c *config.Config) {
		c.S2S.Enabled = true
		c.S2S.Listen = []string{"127.0.0.1:0"}
	})
	st, _ := srv.S2SAddrs()
	if len(st) == 0 {
		t.Fatal("federation on, but no s2s listener")
	}
	c = xmpptest.Dial(t, st[0].String())
	open := `<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' version='1.0' from='remote.example' to='localhost'>`
	c.Send(open)
	c.ReadHeader()
	pre = c.Next()
	c.Send(`<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`)
	if el := c.Next(); !el.Is(xmppcore.NSTLS, "proceed") {
		t.Fatalf("STARTTLS on the s2s port: %s", el)
	}
	tc := tls.Client(c.Conn, &tls.Config{InsecureSkipVerify: true, ServerName: "localhost"}) //nolint:gosec // self-signed test certificate
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	c.Conn = tc
	c.Send(open)
	c.ReadHeader()
	post = c.Next()
	return pre, post, c
}

// checkDialback: the s2s stream offers dialback after TLS (required
// before), and the server answers a verification request as the
// authoritative server, refusing a key it did not issue.
func checkDialback(t *testing.T, _ *probe) {
	pre, post, c := s2sFeatures(t)
	if st := pre.Child(xmppcore.NSTLS, "starttls"); st == nil || st.Child(xmppcore.NSTLS, "required") == nil {
		t.Errorf("STARTTLS not required on the s2s port: %s", pre)
	}
	if post.Child("urn:xmpp:features:dialback", "dialback") == nil {
		t.Errorf("no urn:xmpp:features:dialback after TLS: %s", post)
	}
	c.Send(`<db:verify from='remote.example' to='localhost' id='s1'>not-a-key-we-issued</db:verify>`)
	if el := c.Next(); !el.Is("jabber:server:dialback", "verify") || el.Attr("type") != "invalid" {
		t.Errorf("db:verify with a bad key: %s, want type invalid", el)
	}
}

// checkBidi: XEP-0288 is offered on s2s streams.
func checkBidi(t *testing.T, _ *probe) {
	pre, post, _ := s2sFeatures(t)
	if pre.Child("urn:xmpp:features:bidi", "bidi") == nil || post.Child("urn:xmpp:features:bidi", "bidi") == nil {
		t.Errorf("urn:xmpp:features:bidi missing before or after TLS: %s %s", pre, post)
	}
}
