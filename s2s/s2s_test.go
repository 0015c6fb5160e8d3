package s2s

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"parley.im/parley/internal/routertest"
	"parley.im/parley/router"
	"parley.im/parley/xmppcore"
)

func chat(t *testing.T, from *routertest.Session, to, id string) *router.Stanza {
	return routertest.Stanza(t, from, `<message type='chat' id='`+id+`' to='`+to+`'><body>hi</body></message>`)
}

func errorCond(el *xmppcore.Element) string {
	e := el.Child("", "error")
	if e == nil {
		return ""
	}
	for ch := range e.Children() {
		if ch.Space == xmppcore.NSStanzas {
			return ch.Local
		}
	}
	return ""
}

// Two servers with self-signed certificates federate by dialback, both
// ways, and a second local domain (a MUC service) is piggybacked on the
// authenticated stream.
func TestDialbackBothWays(t *testing.T) {
	for _, bidi := range []bool{false, true} {
		t.Run(map[bool]string{false: "two streams", true: "bidi"}[bidi], func(t *testing.T) {
			mod := func(c *Config) { c.noBidi = !bidi }
			testDialbackBothWays(t, bidi, mod)
		})
	}
}

func testDialbackBothWays(t *testing.T, bidi bool, mod func(*Config)) {
	a, b := pair2(t, mod, mod)
	alice := routertest.Bind(t, a.r, "alice@a.example/phone")
	bob := routertest.Bind(t, b.r, "bob@b.example/pc")
	a.r.SetPresence(alice, xmppcore.New("", "presence"))
	b.r.SetPresence(bob, xmppcore.New("", "presence"))

	a.r.Route(t.Context(), chat(t, alice, "bob@b.example", "m1"))
	got := bob.WaitFor(t, routertest.ByID("m1"))
	if got.Attr("from") != "alice@a.example/phone" || got.ChildText("", "body") != "hi" {
		t.Fatalf("bob got %s", got)
	}
	b.r.Route(t.Context(), chat(t, bob, "alice@a.example/phone", "m2"))
	alice.WaitFor(t, routertest.ByID("m2"))
	a.log.waitFor(t, "outbound stream authenticated", "answered a dialback verification", "result=valid")
	b.log.waitFor(t, "inbound domain authenticated by dialback")
	if bidi {
		// b answered over a's stream: b never connected to a to send.
		if strings.Contains(b.log.String(), "outbound stream authenticated") {
			t.Fatalf("b opened its own stream despite bidi:\n%s", b.log.String())
		}
	} else {
		b.log.waitFor(t, "outbound stream authenticated")
		a.log.waitFor(t, "inbound domain authenticated by dialback")
	}

	// A component domain of a sends on the same stream: piggybacked dialback.
	a.r.SetComponent("conference.a.example", &routertest.Component{})
	b.svc.cfg.StaticHosts["conference.a.example"] = Target{Addr: a.addr}
	el := routertest.Parse(t, `<message type='groupchat' id='g1' from='room@conference.a.example/nick' to='bob@b.example/pc'><body>x</body></message>`)
	from, _ := parseJID("room@conference.a.example/nick")
	to, _ := parseJID("bob@b.example/pc")
	a.r.Route(t.Context(), &router.Stanza{El: el, From: from, To: to})
	bob.WaitFor(t, routertest.ByID("g1"))
	a.log.waitFor(t, "additional domain authenticated")
	if n := len(a.dials.list()); n > 3 {
		// one stream to b, plus at most the verification streams
		t.Fatalf("a dialed %d times: %v", n, a.dials.list())
	}
}

// With each side trusting the other's certificate, streams authenticate
// with SASL EXTERNAL and no dialback callback is made.
func TestCertificateAuth(t *testing.T) {
	a, b := pair2(t, func(c *Config) { c.RequireCert = true }, func(c *Config) { c.RequireCert = true })
	a.trust(t, b)
	b.trust(t, a)
	alice := routertest.Bind(t, a.r, "alice@a.example/phone")
	bob := routertest.Bind(t, b.r, "bob@b.example/pc")
	b.r.SetPresence(bob, xmppcore.New("", "presence"))
	a.r.Route(t.Context(), chat(t, alice, "bob@b.example/pc", "c1"))
	bob.WaitFor(t, routertest.ByID("c1"))
	b.log.waitFor(t, "inbound stream authenticated by certificate")
	if strings.Contains(b.log.String(), "dialback") || strings.Contains(a.log.String(), "answered a dialback") {
		t.Fatalf("dialback used although certificates are trusted:\n%s", b.log.String())
	}
}

// A server that requires certificates refuses a self-signed peer: the
// sender gets remote-server-not-found and nothing is delivered.
func TestRequireCertRefusesSelfSigned(t *testing.T) {
	a, b := pair2(t, nil, func(c *Config) { c.RequireCert = true })
	alice := routertest.Bind(t, a.r, "alice@a.example/phone")
	bob := routertest.Bind(t, b.r, "bob@b.example/pc")
	b.r.SetPresence(bob, xmppcore.New("", "presence"))
	a.r.Route(t.Context(), chat(t, alice, "bob@b.example/pc", "r1"))
	el := alice.WaitFor(t, routertest.ByID("r1"))
	if el.Attr("type") != "error" || errorCond(el) != "remote-server-not-found" {
		t.Fatalf("alice got %s", el)
	}
	b.log.waitFor(t, "dialback refused: a valid certificate is required")
	if len(bob.Sent()) != 0 {
		t.Fatalf("bob got %v", bob.Sent())
	}
}

// Stanzas for a domain whose server cannot be reached bounce with
// remote-server-not-found; one that never answers, remote-server-timeout.
func TestBounces(t *testing.T) {
	a := newNode(t, "a.example", []string{"alice@a.example"}, func(c *Config) { c.NegotiationTimeout = 300 * time.Millisecond })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	a.svc.cfg.StaticHosts["gone.example"] = Target{Addr: closed}
	a.svc.cfg.StaticHosts["slow.example"] = Target{Addr: silentPeer(t)}
	alice := routertest.Bind(t, a.r, "alice@a.example/phone")

	a.r.Route(t.Context(), chat(t, alice, "x@gone.example", "g1"))
	a.r.Route(t.Context(), chat(t, alice, "y@gone.example", "g2"))
	for _, id := range []string{"g1", "g2"} {
		if el := alice.WaitFor(t, routertest.ByID(id)); errorCond(el) != "remote-server-not-found" {
			t.Fatalf("%s: got %s", id, el)
		}
	}
	a.r.Route(t.Context(), chat(t, alice, "x@slow.example", "s1"))
	if el := alice.WaitFor(t, routertest.ByID("s1")); errorCond(el) != "remote-server-timeout" {
		t.Fatalf("got %s", el)
	}
	a.log.waitFor(t, "outbound stream failed")
}

// With federation off, only allow-listed domains are dialed; others get
// remote-server-not-found without any connection attempt, and inbound
// streams from them are refused.
func TestFederationDisabledAllowList(t *testing.T) {
	a := newNode(t, "a.example", []string{"alice@a.example"}, func(c *Config) {
		c.Enabled = false
		c.Allow = []string{"push.example"}
	})
	push := newNode(t, "push.example", []string{"app@push.example"}, nil)
	other := newNode(t, "b.example", []string{"bob@b.example"}, nil)
	a.mapTo(push)
	a.mapTo(other)
	push.mapTo(a)
	other.mapTo(a)
	alice := routertest.Bind(t, a.r, "alice@a.example/phone")
	app := routertest.Bind(t, push.r, "app@push.example/srv")
	push.r.SetPresence(app, xmppcore.New("", "presence"))

	a.r.Route(t.Context(), chat(t, alice, "bob@b.example", "n1"))
	if el := alice.WaitFor(t, routertest.ByID("n1")); errorCond(el) != "remote-server-not-found" {
		t.Fatalf("got %s", el)
	}
	if d := a.dials.list(); len(d) != 0 {
		t.Fatalf("dialed %v for a domain not allowed", d)
	}
	a.r.Route(t.Context(), chat(t, alice, "app@push.example/srv", "p1"))
	app.WaitFor(t, routertest.ByID("p1"))
	for _, d := range a.dials.list() {
		if d == other.addr {
			t.Fatalf("dialed the server of a domain not allowed: %v", a.dials.list())
		}
	}

	// b.example tries to reach a: refused at the stream header.
	p := dialRaw(t, a.addr)
	p.open("b.example", "a.example")
	if got := streamErrorCond(p.feats); got != "policy-violation" {
		t.Fatalf("got %s", p.feats)
	}
	a.log.waitFor(t, "federation with b.example is not permitted")
}

// A deny-listed domain (and its subdomains) is never reached.
func TestDenyList(t *testing.T) {
	a := newNode(t, "a.example", []string{"alice@a.example"}, func(c *Config) { c.Deny = []string{"evil.example"} })
	alice := routertest.Bind(t, a.r, "alice@a.example/phone")
	a.r.Route(t.Context(), chat(t, alice, "x@conference.evil.example", "d1"))
	if el := alice.WaitFor(t, routertest.ByID("d1")); errorCond(el) != "remote-server-not-found" {
		t.Fatalf("got %s", el)
	}
	if d := a.dials.list(); len(d) != 0 {
		t.Fatalf("dialed %v", d)
	}
}

// An idle stream is closed; the next stanza opens a new one.
func TestIdleClose(t *testing.T) {
	a, b := pair2(t, func(c *Config) { c.IdleTimeout = 200 * time.Millisecond }, nil)
	alice := routertest.Bind(t, a.r, "alice@a.example/phone")
	bob := routertest.Bind(t, b.r, "bob@b.example/pc")
	b.r.SetPresence(bob, xmppcore.New("", "presence"))
	a.r.Route(t.Context(), chat(t, alice, "bob@b.example/pc", "i1"))
	bob.WaitFor(t, routertest.ByID("i1"))
	a.log.waitFor(t, "closing idle stream")
	a.r.Route(t.Context(), chat(t, alice, "bob@b.example/pc", "i2"))
	bob.WaitFor(t, routertest.ByID("i2"))
}

// The per-domain queue bounds what waits while a stream is set up.
func TestQueueLimit(t *testing.T) {
	a := newNode(t, "a.example", []string{"alice@a.example"}, func(c *Config) { c.QueueSize = 2 })
	a.svc.cfg.StaticHosts["slow.example"] = Target{Addr: silentPeer(t)}
	alice := routertest.Bind(t, a.r, "alice@a.example/phone")
	for _, id := range []string{"q1", "q2", "q3"} {
		a.r.Route(t.Context(), chat(t, alice, "x@slow.example", id))
	}
	if el := alice.WaitFor(t, routertest.ByID("q3")); errorCond(el) != "resource-constraint" {
		t.Fatalf("got %s", el)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = a.svc.Shutdown(ctx)
}

func streamErrorCond(el *xmppcore.Element) string {
	if el == nil || !el.Is(xmppcore.NSStream, "error") {
		return ""
	}
	if f := el.FirstChild(); f != nil {
		return f.Local
	}
	return ""
}

// A remote server that refuses us (it denies our domain) closes the stream
// with a stream error: queued stanzas bounce with remote-server-not-found.
func TestRefusedByRemote(t *testing.T) {
	a, b := pair2(t, nil, func(c *Config) { c.Deny = []string{"a.example"} })
	alice := routertest.Bind(t, a.r, "alice@a.example/phone")
	a.r.Route(t.Context(), chat(t, alice, "bob@b.example", "x1"))
	if el := alice.WaitFor(t, routertest.ByID("x1")); errorCond(el) != "remote-server-not-found" {
		t.Fatalf("got %s", el)
	}
	a.log.waitFor(t, "sent the stream error policy-violation")
	b.log.waitFor(t, "federation with a.example is not permitted")
}

// silentPeer listens on loopback and accepts connections without ever
// answering; it returns the address. The listener, and then what it
// accepted, close when the test ends.
func silentPeer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	return ln.Addr().String()
}
