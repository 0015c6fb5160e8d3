package c2s_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"parley.im/parley/config"
	"parley.im/parley/internal/xmpptest"
	"parley.im/parley/xmppcore"
)

const nsSM = "urn:xmpp:sm:3"

// isSM matches a stream management element.
func isSM(local string) func(*xmppcore.Element) bool {
	return func(el *xmppcore.Element) bool { return el.Is(nsSM, local) }
}

// smEnable logs in over TCP and enables stream management.
func smEnable(t *testing.T, srv *xmpptest.Server, user, resource string, resume bool) (*xmpptest.Client, string, *xmppcore.Element) {
	t.Helper()
	c, j := login(t, srv, user, resource)
	if c.Features.Child(nsSM, "sm") == nil {
		t.Fatalf("stream management not offered: %s", c.Features)
	}
	if resume {
		c.Send(`<enable xmlns='urn:xmpp:sm:3' resume='true'/>`)
	} else {
		c.Send(`<enable xmlns='urn:xmpp:sm:3'/>`)
	}
	en := c.Next()
	if !en.Is(nsSM, "enabled") {
		t.Fatalf("enable answered with %s", en)
	}
	return c, j, en
}

// cut closes the TCP connection under a client's TLS, without a stream end
// or a TLS alert: a lost network.
func cut(c *xmpptest.Client) {
	if tc, ok := c.Conn.(*tls.Conn); ok {
		tc.NetConn().Close()
		return
	}
	c.Conn.Close()
}

// smResume opens a new authenticated stream and sends <resume/>; it
// returns the client and the answer.
func smResume(t *testing.T, srv *xmpptest.Server, user, previd string, h uint32) (*xmpptest.Client, *xmppcore.Element) {
	t.Helper()
	c := authenticated(t, srv, user)
	c.Send(`<resume xmlns='urn:xmpp:sm:3' previd='` + previd + `' h='` + strconv.FormatUint(uint64(h), 10) + `'/>`)
	return c, c.Next()
}

func detachedCount(srv *xmpptest.Server) int { return srv.C2S().DetachedCount() }

// offlineCount is the number of messages in user's offline storage.
func offlineCount(t *testing.T, srv *xmpptest.Server, user string) int {
	t.Helper()
	msgs, err := srv.Store().OfflineMessages(context.Background(), "localhost", user)
	if err != nil {
		t.Fatal(err)
	}
	return len(msgs)
}

// hOf returns the h attribute of an element.
func hOf(t *testing.T, el *xmppcore.Element) uint32 {
	t.Helper()
	h, err := strconv.ParseUint(el.Attr("h"), 10, 32)
	if err != nil {
		t.Fatalf("bad h in %s", el)
	}
	return uint32(h)
}

// Acks without resumption: the server counts what it handled and answers
// <r/>; it requests acks for what it sent, and accepts exact ones.
func TestSMAcks(t *testing.T) {
	srv := start(t)
	alice, _ := login(t, srv, "alice", "a")
	bob, bobJID, en := smEnable(t, srv, "bob", "b", false)
	if en.Attr("id") != "" || en.Attr("resume") != "" {
		t.Fatalf("resumption granted without being asked: %s", en)
	}
	bob.Send(`<r xmlns='urn:xmpp:sm:3'/>`)
	if a := bob.Expect(isSM("a")); hOf(t, a) != 0 {
		t.Fatalf("h before any stanza: %s", a)
	}
	bob.Send(`<iq type='get' id='p1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`)
	bob.Send(`<message to='alice@localhost/a' id='x1'><body>1</body></message>`)
	bob.Send(`<message to='nobody@localhost' id='x2'><body>2</body></message>`) // bounced: handled too
	bob.Send(`<r xmlns='urn:xmpp:sm:3'/>`)
	// The ping result and the error for x2 come before that <a/>, and the
	// server asks for an ack of what it sent.
	sawR := false
	for {
		el := bob.Next()
		if el.Is(nsSM, "r") {
			sawR = true
		}
		if el.Is(nsSM, "a") {
			if hOf(t, el) != 3 {
				t.Fatalf("h after three stanzas: %s", el)
			}
			break
		}
	}
	if !sawR {
		t.Fatal("the server did not request an ack")
	}
	alice.Expect(byID("x1"))

	// What the server sends is counted: three messages.
	for i := range 3 {
		alice.Send(fmt.Sprintf(`<message to='%s' id='m%d'><body>%d</body></message>`, bobJID, i, i))
	}
	for got := 0; got < 3; {
		if el := bob.Next(); el.Local == "message" && strings.HasPrefix(el.Attr("id"), "m") {
			got++
		}
	}
	// Everything sent so far: the ping result, the error for x2 and the three messages.
	bob.Send(`<a xmlns='urn:xmpp:sm:3' h='5'/>`)
	roundTrip(t, bob, "after-ack") // the stream goes on
	bob.Send(`<a xmlns='urn:xmpp:sm:3' h='6'/>`)
	roundTrip(t, bob, "after-ack-2")
}

// An <a/> acknowledging more than was sent ends the stream with
// undefined-condition and <handled-count-too-high/>.
func TestSMHandledCountTooHigh(t *testing.T) {
	srv := start(t)
	bob, _, _ := smEnable(t, srv, "bob", "b", false)
	roundTrip(t, bob, "one") // one stanza sent to bob
	bob.Send(`<a xmlns='urn:xmpp:sm:3' h='5'/>`)
	errEl := bob.Expect(func(el *xmppcore.Element) bool { return el.Is(xmppcore.NSStream, "error") })
	if errEl.Child(xmppcore.NSStreams, "undefined-condition") == nil {
		t.Fatalf("stream error %s", errEl)
	}
	hc := errEl.Child(nsSM, "handled-count-too-high")
	if hc == nil || hc.Attr("h") != "5" || hc.Attr("send-count") != "1" {
		t.Fatalf("no handled-count-too-high h=5 send-count=1 in %s", errEl)
	}
	if _, err := bob.NextErr(); err == nil {
		t.Fatal("stream not closed after the error")
	}
}

// The XEP's failures that keep the stream: <enable/> before bind and
// twice, <resume/> with an unknown id, another user's id, after bind.
func TestSMFailures(t *testing.T) {
	srv := start(t)
	failedWith := func(t *testing.T, el *xmppcore.Element, cond string) {
		t.Helper()
		if !el.Is(nsSM, "failed") || el.Child(xmppcore.NSStanzas, cond) == nil {
			t.Fatalf("got %s, want <failed/> with %s", el, cond)
		}
	}
	t.Run("enable before bind", func(t *testing.T) {
		c := authenticated(t, srv, "alice")
		c.Send(`<enable xmlns='urn:xmpp:sm:3'/>`)
		failedWith(t, c.Next(), "unexpected-request")
		c.Bind("") // the stream goes on
	})
	t.Run("enable twice", func(t *testing.T) {
		c, _, _ := smEnable(t, srv, "alice", "", false)
		c.Send(`<enable xmlns='urn:xmpp:sm:3'/>`)
		failedWith(t, c.Expect(isSM("failed")), "unexpected-request")
		roundTrip(t, c, "still")
	})
	t.Run("unknown id", func(t *testing.T) {
		c, el := smResume(t, srv, "alice", "no-such-id", 0)
		failedWith(t, el, "item-not-found")
		c.Bind("") // may bind instead
	})
	t.Run("another user's id", func(t *testing.T) {
		bob, _, en := smEnable(t, srv, "bob", "b", true)
		cut(bob)
		eventually(t, "bob detached", func() bool { return detachedCount(srv) == 1 })
		_, el := smResume(t, srv, "carol", en.Attr("id"), 0)
		failedWith(t, el, "item-not-found")
		// Bob's session is untouched: he resumes it.
		_, el = smResume(t, srv, "bob", en.Attr("id"), 0)
		if !el.Is(nsSM, "resumed") {
			t.Fatalf("bob's own resumption: %s", el)
		}
	})
	t.Run("resume after bind", func(t *testing.T) {
		c, _, en := smEnable(t, srv, "alice", "", true)
		c.Send(`<resume xmlns='urn:xmpp:sm:3' previd='` + en.Attr("id") + `' h='0'/>`)
		failedWith(t, c.Expect(isSM("failed")), "unexpected-request")
		c.Send(`</stream:stream>`) // ended, not left detached
		for {
			if _, err := c.NextErr(); err != nil {
				break
			}
		}
	})
	t.Run("bad h", func(t *testing.T) {
		c, _, _ := smEnable(t, srv, "alice", "", false)
		c.Send(`<a xmlns='urn:xmpp:sm:3' h='-1'/>`)
		wantStreamError(t, c, "bad-format")
	})
}

// <enabled/> carries the resumption id, resume, max (the client's if
// lower) and the configured location.
func TestSMEnabledAttributes(t *testing.T) {
	srv := start(t, func(cfg *config.Config) {
		cfg.C2S.SMResumeTimeout = 10 * time.Minute
		cfg.C2S.SMLocation = "node1.example.net:5222"
	})
	c, _ := login(t, srv, "alice", "")
	c.Send(`<enable xmlns='urn:xmpp:sm:3' resume='1' max='120'/>`)
	en := c.Next()
	if !en.Is(nsSM, "enabled") || en.Attr("id") == "" || en.Attr("resume") != "true" || en.Attr("max") != "120" || en.Attr("location") != "node1.example.net:5222" {
		t.Fatalf("enabled: %s", en)
	}
	c2, _ := login(t, srv, "bob", "")
	c2.Send(`<enable xmlns='urn:xmpp:sm:3' resume='true' max='100000'/>`)
	if en := c2.Next(); en.Attr("max") != "600" {
		t.Fatalf("max above the server's: %s", en)
	}
	// With resumption off, <enable resume/> gets plain acks.
	off := start(t, func(cfg *config.Config) { cfg.C2S.SMResumeTimeout = 0 })
	c3, _ := login(t, off, "alice", "")
	c3.Send(`<enable xmlns='urn:xmpp:sm:3' resume='true'/>`)
	if en := c3.Next(); !en.Is(nsSM, "enabled") || en.Attr("id") != "" || en.Attr("resume") != "" {
		t.Fatalf("enabled without resumption: %s", en)
	}
}

// readMessages reads until n messages with ids from "m" are in got (which
// it fills), answering the server's ack requests with h (counting every
// stanza) when ack is set. It returns the stanzas counted.
func readMessages(t *testing.T, c *xmpptest.Client, got map[string]int, order *[]string, h *uint32, n int, ack bool) {
	t.Helper()
	for len(got) < n {
		el := c.Next()
		switch {
		case el.Is(nsSM, "r"):
			if ack {
				c.Send(`<a xmlns='urn:xmpp:sm:3' h='` + strconv.FormatUint(uint64(*h), 10) + `'/>`)
			}
		case el.Space == nsSM:
		default:
			*h++
			if el.Local == "message" {
				id := el.Attr("id")
				got[id]++
				*order = append(*order, id)
			}
		}
	}
}

// The TCP connection is cut while messages are in flight; the client
// resumes with what it counted and every message arrives exactly once, in
// order: the unacknowledged ones resent, then those held meanwhile.
func TestSMResumeExactlyOnce(t *testing.T) {
	srv := start(t)
	alice, _ := login(t, srv, "alice", "a")
	bob, bobJID, en := smEnable(t, srv, "bob", "phone", true)
	const total = 300
	for i := range 150 {
		alice.Send(fmt.Sprintf(`<message to='%s' id='m%03d' type='chat'><body>%s</body></message>`, bobJID, i, strings.Repeat("x", 200)))
	}
	got := map[string]int{}
	var order []string
	var h uint32
	readMessages(t, bob, got, &order, &h, 40, true)
	// Cut with the rest of the first 150 in flight (in the server's queue,
	// its socket buffers or ours, unread).
	cut(bob)
	for i := 150; i < total; i++ {
		alice.Send(fmt.Sprintf(`<message to='%s' id='m%03d' type='chat'><body>%s</body></message>`, bobJID, i, strings.Repeat("x", 200)))
	}
	roundTrip(t, alice, "sent") // all routed: to the session, detached or not
	eventually(t, "bob detached", func() bool { return detachedCount(srv) == 1 })

	bob2, resumed := smResume(t, srv, "bob", en.Attr("id"), h)
	if !resumed.Is(nsSM, "resumed") || resumed.Attr("previd") != en.Attr("id") || hOf(t, resumed) != 0 {
		t.Fatalf("resumption: %s", resumed)
	}
	readMessages(t, bob2, got, &order, &h, total, true)
	for i := range total {
		id := fmt.Sprintf("m%03d", i)
		if got[id] != 1 {
			t.Errorf("%s received %d times", id, got[id])
		}
		if order[i] != id {
			t.Fatalf("message %d is %s: out of order (%v)", i, order[i], order[max(0, i-3):min(len(order), i+3)])
		}
	}
	// The resumed session is the same: still bound under its JID, and
	// its counter went on.
	roundTrip(t, bob2, "alive")
	alice.Send(`<message to='` + bobJID + `' id='after'><body>after</body></message>`)
	bob2.Expect(byID("after"))
}

// A resumption while the old connection still looks alive (half dead)
// takes the session over: the old stream gets <conflict/>.
func TestSMResumeReplacesHalfDead(t *testing.T) {
	srv := start(t)
	alice, _ := login(t, srv, "alice", "a")
	bob1, bobJID, en := smEnable(t, srv, "bob", "phone", true)
	alice.Send(`<message to='` + bobJID + `' id='m1'><body>1</body></message>`)
	bob1.Expect(byID("m1")) // read, never acknowledged

	bob2, resumed := smResume(t, srv, "bob", en.Attr("id"), 0)
	if !resumed.Is(nsSM, "resumed") {
		t.Fatalf("resumption: %s", resumed)
	}
	if got := bob1.ExpectStreamError(); got != "conflict" {
		t.Fatalf("old stream ended with %q", got)
	}
	bob2.Expect(byID("m1")) // resent: it was not acknowledged
	alice.Send(`<message to='` + bobJID + `' id='m2'><body>2</body></message>`)
	bob2.Expect(byID("m2"))
}

// When the resumption timeout passes, the session ends: what it did not
// deliver goes to offline storage (and arrives at the next login, once),
// an IQ request held for it is answered with an error, and the id is
// unknown from then on.
func TestSMTimeout(t *testing.T) {
	srv := start(t, func(cfg *config.Config) { cfg.C2S.SMResumeTimeout = 300 * time.Millisecond })
	alice, _ := login(t, srv, "alice", "a")
	available(t, alice)
	bob, bobJID, en := smEnable(t, srv, "bob", "phone", true)
	available(t, bob)
	alice.Send(`<message to='` + bobJID + `' id='m1' type='chat'><body>one</body></message>`)
	bob.Expect(byID("m1")) // never acknowledged
	cut(bob)
	eventually(t, "bob detached", func() bool { return detachedCount(srv) == 1 })
	alice.Send(`<message to='` + bobJID + `' id='m2' type='chat'><body>two</body></message>`)
	alice.Send(`<iq to='` + bobJID + `' id='q1' type='get'><query xmlns='jabber:iq:version'/></iq>`)
	if el := alice.Expect(byID("q1")); stanzaError(t, el) != "service-unavailable" {
		t.Fatalf("held IQ answered with %s", el)
	}
	_, el := smResume(t, srv, "bob", en.Attr("id"), 0)
	if !el.Is(nsSM, "failed") || el.Child(xmppcore.NSStanzas, "item-not-found") == nil {
		t.Fatalf("resumption after the timeout: %s", el)
	}
	eventually(t, "stored offline", func() bool { return offlineCount(t, srv, "bob") == 2 })
	bob2, _ := login(t, srv, "bob", "laptop")
	bob2.Send(`<presence/>`)
	got := map[string]int{}
	deadline := time.Now().Add(xmpptest.Timeout)
	for got["m1"] == 0 || got["m2"] == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("offline messages: %v", got)
		}
		el := bob2.Next()
		if el.Local == "message" {
			got[el.Attr("id")]++
		}
	}
	roundTrip(t, bob2, "done")
	if got["m1"] != 1 || got["m2"] != 1 {
		t.Fatalf("offline delivery: %v", got)
	}
}

// A client that acknowledges nothing is closed past sm_max_unacked, and
// what it did not acknowledge goes to offline storage.
func TestSMMaxUnacked(t *testing.T) {
	srv := start(t, func(cfg *config.Config) {
		// Below queue_size, which validation refuses, to keep the test
		// small; the offline delivery at the end needs the queue.
		cfg.C2S.SMMaxUnacked = 16
	})
	alice, _ := login(t, srv, "alice", "a")
	bob, bobJID, _ := smEnable(t, srv, "bob", "phone", true)
	for i := range 20 {
		alice.Send(fmt.Sprintf(`<message to='%s' id='m%02d' type='chat'><body>%d</body></message>`, bobJID, i, i))
		if i%4 == 3 {
			roundTrip(t, alice, "r"+strconv.Itoa(i)) // keep the queue short
		}
	}
	if got := bob.ExpectStreamError(); got != "resource-constraint" {
		t.Fatalf("stream error %q", got)
	}
	eventually(t, "stored offline", func() bool { return offlineCount(t, srv, "bob") == 20 })
	bob2, _ := login(t, srv, "bob", "laptop")
	bob2.Send(`<presence/>`)
	seen := map[string]bool{}
	for len(seen) < 20 {
		el := bob2.Next()
		if el.Local == "message" {
			seen[el.Attr("id")] = true
		}
	}
}

// Stream management works the same on a framed transport: cut, resume
// on a new framed connection, and receive what was sent meanwhile.
func TestSMFramedResume(t *testing.T) {
	srv := start(t)
	alice, _ := login(t, srv, "alice", "a")
	bob, bobJID := xmpptest.FramedLogin(t, srv, "bob", password, "web")
	bob.Send(`<enable xmlns='urn:xmpp:sm:3' resume='true'/>`)
	en := bob.Next()
	if !en.Is(nsSM, "enabled") || en.Attr("id") == "" {
		t.Fatalf("enable: %s", en)
	}
	alice.Send(`<message to='` + bobJID + `' id='m1'><body>1</body></message>`)
	bob.Expect(byID("m1"))
	bob.Cut()
	eventually(t, "bob detached", func() bool { return detachedCount(srv) == 1 })
	alice.Send(`<message to='` + bobJID + `' id='m2'><body>2</body></message>`)
	roundTrip(t, alice, "sent")

	bob2 := xmpptest.DialFramed(t, srv)
	bob2.OpenStream("localhost")
	if el := bob2.AuthSCRAM(&xmpptest.SCRAM{Mechanism: "SCRAM-SHA-256", User: "bob", Password: password}); !el.Is(xmppcore.NSSASL, "success") {
		t.Fatalf("auth: %s", el)
	}
	bob2.OpenStream("localhost")
	bob2.Send(`<resume xmlns='urn:xmpp:sm:3' previd='` + en.Attr("id") + `' h='1'/>`)
	if el := bob2.Next(); !el.Is(nsSM, "resumed") {
		t.Fatalf("resume: %s", el)
	}
	if el := bob2.Expect(func(el *xmppcore.Element) bool { return el.Local == "message" }); el.Attr("id") != "m2" {
		t.Fatalf("after resuming: %s (m1 was acknowledged)", el)
	}
}
