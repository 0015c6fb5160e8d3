package c2s_test

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"parley.im/parley/c2s"
	"parley.im/parley/config"
	"parley.im/parley/internal/xmpptest"
	"parley.im/parley/xmppcore"
)

// readers counts the goroutines running a session's read loop, in all
// servers (the tests that use it do not run in parallel).
func readers() int {
	n, _ := readerStacks()
	return n
}

func readerStacks() (int, string) {
	buf := make([]byte, 1<<22)
	all := string(buf[:runtime.Stack(buf, true)])
	var found []string
	for g := range strings.SplitSeq(all, "\n\n") {
		if strings.Contains(g, "c2s.(*conn).runSession(") {
			found = append(found, g)
		}
	}
	return len(found), strings.Join(found, "\n\n")
}

// waitParked waits until n sessions of srv are parked and, if all, no
// reader goroutine is left in any server.
func waitParked(t *testing.T, srv *xmpptest.Server, n int, all bool) {
	t.Helper()
	deadline := time.Now().Add(xmpptest.Timeout)
	for {
		parked := srv.C2S().ParkedCount()
		r, stacks := readerStacks()
		if parked == n && (!all || r == 0) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions parked, want %d; %d reader goroutines:\n%s", parked, n, r, stacks)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sleepPark waits long enough for an idle reader to park.
func sleepPark() { time.Sleep(4 * c2s.ParkAfter()) }

// plainLogin logs in without TLS.
func plainLogin(t *testing.T, srv *xmpptest.Server, user, resource string) (*xmpptest.Client, string) {
	t.Helper()
	c := xmpptest.Dial(t, srv.StartTLSAddr)
	c.OpenStream("localhost")
	if el := c.Auth(scramSHA256, user, password); !el.Is(xmppcore.NSSASL, "success") {
		t.Fatalf("auth: %s", el)
	}
	c.OpenStream("localhost")
	return c, c.Bind(resource)
}

func noTLS(cfg *config.Config) { cfg.C2S.RequireTLS = false }

// A parked session gets what is routed to it, and what it sends next is
// read, also when a stanza is split across a pause longer than parkAfter
// (no park inside a stanza), over TLS and without.
func TestParkedSessionsReadAndWrite(t *testing.T) {
	for _, tls := range []bool{true, false} {
		srv := start(t, noTLS)
		var alice, bob *xmpptest.Client
		var bobJID string
		if tls {
			alice, _ = login(t, srv, "alice", "home")
			bob, bobJID = login(t, srv, "bob", "phone")
		} else {
			alice, _ = plainLogin(t, srv, "alice", "home")
			bob, bobJID = plainLogin(t, srv, "bob", "phone")
		}
		waitParked(t, srv, 2, true)
		for i := range 3 {
			id := "m" + string(rune('0'+i))
			alice.Send(`<message to='` + bobJID + `' id='` + id + `'><body>hi</body></message>`)
			bob.Expect(byID(id))
			waitParked(t, srv, 2, true)
		}
		// A stanza split across a pause: the reader stays.
		alice.Send(`<mess`)
		sleepPark()
		if n := srv.C2S().ParkedCount(); n != 1 {
			t.Fatalf("tls=%v: %d parked with a stanza half read, want 1", tls, n)
		}
		alice.Send(`age to='` + bobJID + `' id='split'><bo`)
		sleepPark()
		alice.Send(`dy>hi</body></message>`)
		if el := bob.Expect(byID("split")); el.ChildText("", "body") != "hi" {
			t.Fatalf("tls=%v: split message arrived as %s", tls, el)
		}
		// White space keepalives between parks.
		for range 3 {
			waitParked(t, srv, 2, true)
			alice.Send(" ")
			alice.Send("\n")
			sleepPark()
		}
		roundTrip(t, alice, "after-keepalives")
		waitParked(t, srv, 2, true)
	}
}

// Text between stanzas is not-well-formed, also after a park.
func TestParkedThenText(t *testing.T) {
	srv := start(t)
	alice, _ := login(t, srv, "alice", "home")
	waitParked(t, srv, 1, true)
	alice.Send(" hello ")
	sleepPark()
	alice.Send("<presence/>")
	wantStreamError(t, alice, "not-well-formed")
	alice.ExpectConnClosed()
}

// Whatever ends a session ends a parked one: a new session with the same
// resource (conflict), the peer closing TCP, server shutdown.
func TestParkedSessionEnds(t *testing.T) {
	srv := start(t)
	old, full := login(t, srv, "alice", "home")
	waitParked(t, srv, 1, true)
	replacing, _ := login(t, srv, "alice", "home")
	wantStreamError(t, old, "conflict")
	old.ExpectConnClosed()

	bob, bobJID := login(t, srv, "bob", "phone")
	waitParked(t, srv, 2, true)
	cut(bob)
	eventually(t, "bob's session unbound", func() bool {
		_, ok := srv.Router().Session(jid.MustParse(bobJID))
		return !ok
	})
	waitParked(t, srv, 1, true)
	if _, ok := srv.Router().Session(jid.MustParse(full)); !ok {
		t.Fatal("the replacing session is gone")
	}

	ctx, cancel := context.WithTimeout(context.Background(), xmpptest.Timeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	wantStreamError(t, replacing, "system-shutdown")
	replacing.ExpectConnClosed()
	if r := readers(); r != 0 {
		t.Fatalf("%d readers after shutdown", r)
	}
}

// A parked session that loses its transport detaches, and a parked session
// taken over by a resumption lets go of its transport.
func TestParkedSessionResumption(t *testing.T) {
	srv := start(t)
	alice, _ := login(t, srv, "alice", "a")
	bob1, bobJID, en := smEnable(t, srv, "bob", "phone", true)
	waitParked(t, srv, 2, true)
	alice.Send(`<message to='` + bobJID + `' id='m1'><body>1</body></message>`)
	bob1.Expect(byID("m1")) // read, never acknowledged
	waitParked(t, srv, 2, true)

	bob2, resumed := smResume(t, srv, "bob", en.Attr("id"), 0)
	if !resumed.Is(nsSM, "resumed") {
		t.Fatalf("resumption: %s", resumed)
	}
	if got := bob1.ExpectStreamError(); got != "conflict" {
		t.Fatalf("old stream ended with %q", got)
	}
	bob2.Expect(byID("m1"))
	bob2.Send(`<a xmlns='urn:xmpp:sm:3' h='1'/>`)
	waitParked(t, srv, 2, true)
	alice.Send(`<message to='` + bobJID + `' id='m2'><body>2</body></message>`)
	bob2.Expect(byID("m2"))

	// Transport lost while parked: detached, then resumed again.
	waitParked(t, srv, 2, true)
	cut(bob2)
	eventually(t, "detached", func() bool { return detachedCount(srv) == 1 })
	bob3, resumed := smResume(t, srv, "bob", en.Attr("id"), 2)
	if !resumed.Is(nsSM, "resumed") {
		t.Fatalf("second resumption: %s", resumed)
	}
	waitParked(t, srv, 2, true)
	alice.Send(`<message to='` + bobJID + `' id='m3'><body>3</body></message>`)
	bob3.Expect(byID("m3"))
}

// The idle ping comes while the reader is parked; an answer keeps the
// session, silence ends it.
func TestParkedIdlePing(t *testing.T) {
	srv := start(t, func(cfg *config.Config) {
		cfg.C2S.IdleTimeout = 600 * time.Millisecond
		cfg.C2S.PingTimeout = 600 * time.Millisecond
	})
	alice, _ := login(t, srv, "alice", "home")
	waitParked(t, srv, 1, true)
	ping := alice.Expect(func(el *xmppcore.Element) bool { return el.Child(nsPing, "ping") != nil })
	alice.Send(`<iq type='result' id='` + ping.Attr("id") + `' to='localhost'/>`)
	waitParked(t, srv, 1, true)
	// The second ping goes unanswered.
	alice.Expect(func(el *xmppcore.Element) bool { return el.Child(nsPing, "ping") != nil })
	start := time.Now()
	wantStreamError(t, alice, "connection-timeout")
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("connection-timeout came %v after the ping", d)
	}
}
