package c2s_test

import (
	"testing"
	"time"

	"parley.im/parley/config"
	"parley.im/parley/internal/xmpptest"
	"parley.im/parley/xmppcore"
)

// header is a correct client stream header for the test host.
const header = `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0' to='localhost'>`

const (
	password = "correct horse"
	nsPing   = "urn:xmpp:ping"
)

// start runs a server with the users alice, bob and carol.
func start(t *testing.T, configure ...func(*config.Config)) *xmpptest.Server {
	t.Helper()
	srv := xmpptest.Start(t, configure...)
	for _, u := range []string{"alice", "bob", "carol"} {
		srv.AddUser(t, u, password)
	}
	return srv
}

// opened dials the STARTTLS listener and opens a stream.
func opened(t *testing.T, srv *xmpptest.Server) *xmpptest.Client {
	t.Helper()
	c := xmpptest.Dial(t, srv.StartTLSAddr)
	c.OpenStream("localhost")
	return c
}

// secured dials, opens a stream and negotiates TLS.
func secured(t *testing.T, srv *xmpptest.Server) *xmpptest.Client {
	t.Helper()
	c := opened(t, srv)
	c.StartTLS("localhost")
	return c
}

// authenticated is secured plus SCRAM-SHA-256 as user and the restarted
// stream, not yet bound.
func authenticated(t *testing.T, srv *xmpptest.Server, user string) *xmpptest.Client {
	t.Helper()
	c := secured(t, srv)
	if el := c.Auth(scramSHA256, user, password); !el.Is(xmppcore.NSSASL, "success") {
		t.Fatalf("auth: %s", el)
	}
	c.OpenStream("localhost")
	return c
}

// login is xmpptest.Login with the test password.
func login(t *testing.T, srv *xmpptest.Server, user, resource string) (*xmpptest.Client, string) {
	t.Helper()
	return xmpptest.Login(t, srv, user, password, resource)
}

func wantStreamError(t *testing.T, c *xmpptest.Client, want string) {
	t.Helper()
	if got := c.ExpectStreamError(); got != want {
		t.Fatalf("stream error %q, want %q", got, want)
	}
}

// saslFailure returns the condition of a <failure/>, or fails the test.
func saslFailure(t *testing.T, el *xmppcore.Element) string {
	t.Helper()
	if !el.Is(xmppcore.NSSASL, "failure") {
		t.Fatalf("got %s, want a SASL failure", el)
	}
	for ch := range el.Children() {
		if ch.Space == xmppcore.NSSASL && ch.Local != "text" {
			return ch.Local
		}
	}
	t.Fatalf("failure without condition: %s", el)
	return ""
}

// stanzaError returns the condition of a stanza error, or fails the test.
func stanzaError(t *testing.T, el *xmppcore.Element) string {
	t.Helper()
	e := el.Child("", "error")
	if el.Attr("type") != "error" || e == nil {
		t.Fatalf("got %s, want a stanza error", el)
	}
	for ch := range e.Children() {
		if ch.Space == xmppcore.NSStanzas && ch.Local != "text" {
			return ch.Local
		}
	}
	t.Fatalf("error without condition: %s", el)
	return ""
}

// byID matches an element by id.
func byID(id string) func(*xmppcore.Element) bool {
	return func(el *xmppcore.Element) bool { return el.Attr("id") == id }
}

// roundTrip sends an IQ ping to the server with id and waits for its
// answer: everything the client sent before has then been routed.
func roundTrip(t *testing.T, c *xmpptest.Client, id string) *xmppcore.Element {
	t.Helper()
	c.Send(`<iq type='get' id='` + id + `' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`)
	el := c.Expect(byID(id))
	if el.Attr("type") != "result" {
		t.Fatalf("ping answered with %s", el)
	}
	return el
}

// eventually polls cond until it holds or a deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(xmpptest.Timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not true after %v", what, xmpptest.Timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
