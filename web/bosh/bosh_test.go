package bosh_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"parley.im/parley/internal/xmpptest"
	"parley.im/parley/web/bosh"
	"parley.im/parley/xmppcore"
)

func isMessage(body string) func(*xmppcore.Element) bool {
	return func(el *xmppcore.Element) bool {
		return el.Local == "message" && el.ChildText("", "body") == body
	}
}

// TestLoginAndChat: a BOSH user logs in (creation, SASL, restart, bind) and
// exchanges messages with a TCP user, then terminates.
func TestLoginAndChat(t *testing.T) {
	e := newEnv(t, bosh.Config{})
	c := e.client()
	el := c.create("")
	for k, want := range map[string]string{"wait": "60", "hold": "1", "requests": "2", "ver": "1.11", "from": "localhost",
		"inactivity": "60", "maxpause": "120", "polling": "2", "secure": "true", "ack": strconv.FormatInt(c.rid, 10)} {
		if got := el.Attr(k); got != want {
			t.Errorf("creation response %s=%q, want %q", k, got, want)
		}
	}
	if v, _ := el.LookupAttr(bosh.NSXBOSH, "version"); v != "1.0" {
		t.Errorf("xmpp:version %q", v)
	}
	if v, _ := el.LookupAttr(bosh.NSXBOSH, "restartlogic"); v != "true" {
		t.Errorf("xmpp:restartlogic %q", v)
	}
	if len(c.sid) < 20 || el.Attr("authid") == "" {
		t.Errorf("sid %q authid %q", c.sid, el.Attr("authid"))
	}
	f := el.Child(xmppcore.NSStream, "features")
	if f == nil || f.Child(xmppcore.NSSASL, "mechanisms") == nil {
		t.Fatalf("no mechanisms in the creation response: %s", el)
	}
	c.sid = ""
	jid := c.login("alice", "alice-secret", "web")
	if jid != "alice@localhost/web" {
		t.Fatalf("bound %q", jid)
	}

	bob, _ := xmpptest.Login(t, e.xs, "bob", "bob-secret", "tcp")
	// BOSH → TCP.
	held := c.async("", `<message xmlns='jabber:client' to='bob@localhost/tcp' type='chat'><body>hi bob</body></message>`)
	got := bob.Expect(isMessage("hi bob"))
	if got.Attr("from") != "alice@localhost/web" {
		t.Errorf("from %q", got.Attr("from"))
	}
	// TCP → BOSH, on the request the server holds.
	bob.Send(`<message to='alice@localhost/web' type='chat'><body>hi alice</body></message>`)
	if el := <-held; el == nil || el.Child("", "message") == nil || el.Child("", "message").ChildText("", "body") != "hi alice" {
		t.Errorf("held request answered with %s", el)
	}

	// Terminate, with a last stanza.
	el = c.send(`type='terminate'`, `<presence xmlns='jabber:client' type='unavailable'/>`)
	if el.Attr("type") != "terminate" {
		t.Errorf("terminate answered with %s", el)
	}
	sid := c.sid
	waitFor(t, "the session to end", func() bool { return e.h.Held(sid) == -1 })
	if el := c.send(""); el.Attr("type") != "terminate" || el.Attr("condition") != "item-not-found" {
		t.Errorf("request after terminate: %s", el)
	}
}

// TestOutOfOrder: a request that arrives ahead of the one before it is held
// until the gap fills, and the payloads reach the server in rid order.
func TestOutOfOrder(t *testing.T) {
	e := newEnv(t, bosh.Config{})
	c := e.client()
	c.login("alice", "alice-secret", "web")
	bob, _ := xmpptest.Login(t, e.xs, "bob", "bob-secret", "tcp")

	first, second := c.nextRID(), c.nextRID()
	go c.raw("POST", c.bodyText(second, "", `<message xmlns='jabber:client' to='bob@localhost/tcp' type='chat'><body>two</body></message>`))
	waitFor(t, "the second request to wait", func() bool { return e.h.Early(c.sid) == 1 })
	// The first is answered at once: the second is then held in its place.
	c.sendRID(first, "", `<message xmlns='jabber:client' to='bob@localhost/tcp' type='chat'><body>one</body></message>`)
	m := bob.Expect(func(el *xmppcore.Element) bool { return el.Local == "message" })
	if m.ChildText("", "body") != "one" {
		t.Errorf("first message %s", m)
	}
	bob.Expect(isMessage("two"))
}

// TestRepeatedRID: a request sent again (its answer lost in flight) gets
// the same answer, byte for byte; one that was cut before its answer gets
// what was waiting.
func TestRepeatedRID(t *testing.T) {
	e := newEnv(t, bosh.Config{})
	c := e.client()
	c.login("alice", "alice-secret", "web")
	bob, _ := xmpptest.Login(t, e.xs, "bob", "bob-secret", "tcp")
	bob.Send(`<message to='alice@localhost/web' type='chat'><body>lost</body></message>`)
	var rid int64
	var first string
	for first == "" || !strings.Contains(first, "lost") {
		rid = c.nextRID()
		resp, b := c.raw("POST", c.bodyText(rid, ""))
		if resp.StatusCode != 200 {
			t.Fatal(resp.Status)
		}
		first = b
	}
	_, again := c.raw("POST", c.bodyText(rid, ""))
	if again != first {
		t.Errorf("repeated rid answered\n%s\nnot\n%s", again, first)
	}
	// The session goes on.
	c.async("", `<message xmlns='jabber:client' to='bob@localhost/tcp' type='chat'><body>still here</body></message>`)
	bob.Expect(isMessage("still here"))
}

// TestHeldRIDAgain: the same rid again while the first is held: the first
// gets a recoverable error, the second takes its place.
func TestHeldRIDAgain(t *testing.T) {
	e := newEnv(t, bosh.Config{})
	c := e.client()
	c.login("alice", "alice-secret", "web")
	rid := c.nextRID()
	done := make(chan *xmppcore.Element)
	go func() { done <- c.sendRID(rid, "") }()
	waitFor(t, "the request to be held", func() bool { return e.h.Held(c.sid) == 1 })
	go func() { done <- c.sendRID(rid, "") }()
	el := <-done
	if el.Attr("type") != "error" {
		t.Errorf("first copy answered with %s", el)
	}
	bob, _ := xmpptest.Login(t, e.xs, "bob", "bob-secret", "tcp")
	bob.Send(`<message to='alice@localhost/web' type='chat'><body>to the second</body></message>`)
	el = <-done
	if el.Child("", "message") == nil {
		t.Errorf("second copy answered with %s", el)
	}
}

func TestTerminalConditions(t *testing.T) {
	e := newEnv(t, bosh.Config{})
	type tc struct {
		name, body, cond string
	}
	for i, c := range []tc{
		{"not XML", `<body`, "bad-request"},
		{"not a body", `<iq xmlns='jabber:client' rid='1'/>`, "bad-request"},
		{"wrong namespace", `<body xmlns='jabber:client' rid='1' to='localhost'/>`, "bad-request"},
		{"no rid", `<body xmlns='http://jabber.org/protocol/httpbind' to='localhost' ver='1.11'/>`, "bad-request"},
		{"bad rid", `<body xmlns='http://jabber.org/protocol/httpbind' rid='-4' to='localhost' ver='1.11'/>`, "bad-request"},
		{"huge rid", `<body xmlns='http://jabber.org/protocol/httpbind' rid='9007199254740992' to='localhost' ver='1.11'/>`, "bad-request"},
		{"bad wait", `<body xmlns='http://jabber.org/protocol/httpbind' rid='1' to='localhost' wait='soon' ver='1.11'/>`, "bad-request"},
		{"bad hold", `<body xmlns='http://jabber.org/protocol/httpbind' rid='1' to='localhost' hold='-1' ver='1.11'/>`, "bad-request"},
		{"no to", `<body xmlns='http://jabber.org/protocol/httpbind' rid='1' wait='60' ver='1.11'/>`, "improper-addressing"},
		{"unknown host", `<body xmlns='http://jabber.org/protocol/httpbind' rid='1' to='elsewhere.example' ver='1.11'/>`, "host-unknown"},
		{"unknown sid", `<body xmlns='http://jabber.org/protocol/httpbind' rid='1' sid='nosuchsession'/>`, "item-not-found"},
		{"bad payload", `<body xmlns='http://jabber.org/protocol/httpbind' rid='1' to='localhost' ver='1.11'><message xmlns='jabber:client'><a></b></message></body>`, "bad-request"},
		{"doctype", `<!DOCTYPE body><body xmlns='http://jabber.org/protocol/httpbind' rid='1' to='localhost' ver='1.11'/>`, "bad-request"},
		{"other encoding", `<?xml version='1.0' encoding='ISO-8859-1'?><body xmlns='http://jabber.org/protocol/httpbind' rid='1' to='localhost' ver='1.11'/>`, "bad-request"},
		{"too large", `<body xmlns='http://jabber.org/protocol/httpbind' rid='1' to='localhost' ver='1.11'>` + strings.Repeat(" ", 5<<20) + `</body>`, "policy-violation"},
	} {
		resp, b := e.client().raw("POST", c.body)
		el := parse(t, b)
		if resp.StatusCode != 200 || el.Attr("type") != "terminate" || el.Attr("condition") != c.cond {
			t.Errorf("%d %s: %d %s, want %s", i, c.name, resp.StatusCode, b, c.cond)
		}
	}
	// Legacy clients (no 'ver') get HTTP codes.
	resp, _ := e.client().raw("POST", `<body xmlns='http://jabber.org/protocol/httpbind' rid='1' to='elsewhere.example'/>`)
	if resp.StatusCode != 404 {
		t.Errorf("legacy unknown host: %d", resp.StatusCode)
	}
	if e.h.Sessions() != 0 {
		t.Errorf("%d sessions left", e.h.Sessions())
	}
	// Other methods.
	resp, _ = e.client().raw("GET", "")
	if resp.StatusCode != http.StatusMethodNotAllowed || !strings.Contains(resp.Header.Get("Allow"), "POST") {
		t.Errorf("GET: %d", resp.StatusCode)
	}
}

// TestRIDWindow: a rid beyond the window, or one too old to have its
// answer kept, ends the session with item-not-found.
func TestRIDWindow(t *testing.T) {
	e := newEnv(t, bosh.Config{})
	for _, off := range []int64{3, -5} {
		c := e.client()
		c.login("alice", "alice-secret", "w"+strconv.FormatInt(off, 10))
		sid := c.sid
		el := c.sendRID(c.rid+off, "")
		if el.Attr("type") != "terminate" || el.Attr("condition") != "item-not-found" {
			t.Errorf("rid %+d: %s", off, el)
		}
		waitFor(t, "the session to end", func() bool { return e.h.Held(sid) == -1 })
	}
}

// TestStreamError: a stream error from the server ends the session with
// remote-stream-error, carrying the error.
func TestStreamError(t *testing.T) {
	e := newEnv(t, bosh.Config{})
	c := e.client()
	c.login("alice", "alice-secret", "web")
	el := c.send("", `<message xmlns='jabber:client' from='bob@localhost/x' to='bob@localhost'><body>forged</body></message>`)
	for el.Attr("type") != "terminate" {
		el = c.send("")
	}
	se := el.Child(xmppcore.NSStream, "error")
	if el.Attr("condition") != "remote-stream-error" || se == nil || se.Child(xmppcore.NSStreams, "invalid-from") == nil {
		t.Errorf("forged from: %s", el)
	}
}

// TestWaitAndInactivity: a held request is answered empty after 'wait';
// a session with no request held for 'inactivity' ends.
func TestWaitAndInactivity(t *testing.T) {
	e := newEnv(t, bosh.Config{Inactivity: time.Second})
	c := e.client()
	el := c.create(`to='localhost' wait='1' hold='1' ver='1.11' xmpp:version='1.0'`)
	if el.Attr("wait") != "1" || el.Child(xmppcore.NSStream, "features") == nil {
		t.Fatalf("creation: %s", el)
	}
	if el := c.send(""); el.Attr("type") != "" || el.FirstChild() != nil {
		t.Errorf("after wait: %s", el)
	}
	sid := c.sid
	// wait='0' is raised to a second; a longer wait than the maximum is
	// lowered to it.
	if el := e.client().create(`to='localhost' wait='0' ver='1.11' xmpp:version='1.0'`); el.Attr("wait") != "1" {
		t.Errorf("wait=0 answered with wait=%q", el.Attr("wait"))
	}
	if el := e.client().create(`to='localhost' wait='3600' ver='1.11' xmpp:version='1.0'`); el.Attr("wait") != "60" {
		t.Errorf("wait=3600 answered with wait=%q", el.Attr("wait"))
	}
	waitFor(t, "the inactive session to end", func() bool { return e.h.Held(sid) == -1 })
	if el := c.send(""); el.Attr("condition") != "item-not-found" {
		t.Errorf("after inactivity: %s", el)
	}
}

// TestPause: a pause within maxpause is answered at once and keeps the
// session; one beyond it is a policy violation.
func TestPause(t *testing.T) {
	e := newEnv(t, bosh.Config{MaxPause: 2 * time.Minute})
	c := e.client()
	c.login("alice", "alice-secret", "web")
	rid := c.nextRID()
	held := make(chan *xmppcore.Element)
	go func() { held <- c.sendRID(rid, "") }()
	waitFor(t, "the request to be held", func() bool { return e.h.Held(c.sid) == 1 })
	if el := c.send(`pause='60'`); el.Attr("type") != "" || el.FirstChild() != nil {
		t.Errorf("pause: %s", el)
	}
	<-held
	if e.h.Held(c.sid) != 0 {
		t.Errorf("requests held after a pause: %d", e.h.Held(c.sid))
	}
	if el := c.send(`pause='121'`); el.Attr("condition") != "policy-violation" {
		t.Errorf("long pause: %s", el)
	}
}

// TestPolling: a polling session (hold 0) that sends empty requests too
// often is ended with policy-violation.
func TestPolling(t *testing.T) {
	e := newEnv(t, bosh.Config{Polling: time.Hour})
	c := e.client()
	el := c.create(`to='localhost' wait='60' hold='0' ver='1.11' xmpp:version='1.0'`)
	if el.Attr("hold") != "0" || el.Attr("requests") != "1" {
		t.Fatalf("creation: %s", el)
	}
	var last *xmppcore.Element
	for range 3 {
		if last = c.send(""); last.Attr("type") == "terminate" {
			break
		}
	}
	if last.Attr("condition") != "policy-violation" {
		t.Errorf("polling too often: %s", last)
	}
}

func TestCORS(t *testing.T) {
	e := newEnv(t, bosh.Config{AllowedOrigins: []string{"https://chat.example.org"}})
	c := e.client()
	resp, _ := c.raw("OPTIONS", "", "Origin", "https://chat.example.org", "Access-Control-Request-Method", "POST",
		"Access-Control-Request-Headers", "content-type")
	h := resp.Header
	if resp.StatusCode != 204 || h.Get("Access-Control-Allow-Origin") != "https://chat.example.org" ||
		!strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") || !strings.Contains(h.Get("Access-Control-Allow-Headers"), "Content-Type") {
		t.Errorf("preflight: %d %v", resp.StatusCode, h)
	}
	resp, b := c.raw("POST", c.bodyText(c.nextRID(), `to='localhost' ver='1.11' xmpp:version='1.0'`), "Origin", "https://chat.example.org")
	if resp.Header.Get("Access-Control-Allow-Origin") != "https://chat.example.org" || parse(t, b).Attr("sid") == "" {
		t.Errorf("POST from an allowed origin: %v %s", resp.Header, b)
	}
	resp, _ = c.raw("POST", c.bodyText(c.nextRID(), `to='localhost' ver='1.11'`), "Origin", "https://evil.example")
	if resp.StatusCode != 403 {
		t.Errorf("POST from another origin: %d", resp.StatusCode)
	}
}

// TestShutdown: held requests are answered with system-shutdown at once.
func TestShutdown(t *testing.T) {
	e := newEnv(t, bosh.Config{})
	c := e.client()
	c.login("alice", "alice-secret", "web")
	done := make(chan *xmppcore.Element)
	go func() { done <- c.send("") }()
	waitFor(t, "the request to be held", func() bool { return e.h.Held(c.sid) == 1 })
	e.h.Shutdown()
	if el := <-done; el.Attr("type") != "terminate" || el.Attr("condition") != "system-shutdown" {
		t.Errorf("held request at shutdown: %s", el)
	}
	if el := e.client().create(""); el.Attr("condition") != "policy-violation" {
		t.Errorf("new session after shutdown: %s", el)
	}
}

// TestDroppedRequest: a held request whose HTTP connection is cut before
// anything was sent on it is sent again with the same rid, and gets what
// arrived meanwhile.
func TestDroppedRequest(t *testing.T) {
	e := newEnv(t, bosh.Config{})
	c := e.client()
	c.login("alice", "alice-secret", "web")
	rid := c.nextRID()
	ctx, cancel := context.WithCancel(t.Context())
	req, _ := http.NewRequestWithContext(ctx, "POST", c.url, strings.NewReader(c.bodyText(rid, "")))
	done := make(chan struct{})
	go func() {
		defer close(done)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	waitFor(t, "the request to be held", func() bool { return e.h.Held(c.sid) == 1 })
	cancel()
	<-done
	waitFor(t, "the request to be dropped", func() bool { return e.h.Held(c.sid) == 0 })
	bob, _ := xmpptest.Login(t, e.xs, "bob", "bob-secret", "tcp")
	bob.Send(`<message to='alice@localhost/web' type='chat'><body>while away</body></message>`)
	el := c.sendRID(rid, "")
	if m := el.Child("", "message"); m == nil || m.ChildText("", "body") != "while away" {
		t.Errorf("the request sent again got %s", el)
	}
}

// BenchmarkMessages sends chat messages from a BOSH session to a TCP user,
// one request per message (as a client that sends at once), and waits for
// each to arrive: the round trip of one message through /http-bind.
func BenchmarkMessages(b *testing.B) {
	e := newEnv(b, bosh.Config{})
	c := e.client()
	c.login("alice", "alice-secret", "web")
	bob, _ := xmpptest.Login(b, e.xs, "bob", "bob-secret", "tcp")
	i := 0
	for b.Loop() {
		i++
		body := "m" + strconv.Itoa(i)
		c.async("", `<message xmlns='jabber:client' to='bob@localhost/tcp' type='chat'><body>`+body+`</body></message>`)
		bob.Expect(isMessage(body))
	}
}

// TestPauseOutlastsInactivity: a session paused for longer than the
// inactivity period is still there after that period.
func TestPauseOutlastsInactivity(t *testing.T) {
	e := newEnv(t, bosh.Config{Inactivity: time.Second})
	c := e.client()
	c.login("alice", "alice-secret", "web")
	if el := c.send(`pause='30'`); el.Attr("type") != "" {
		t.Fatalf("pause: %s", el)
	}
	time.Sleep(2 * time.Second) // twice the inactivity period, well within the pause
	if e.h.Held(c.sid) == -1 {
		t.Fatal("the paused session ended after the inactivity period")
	}
	bob, _ := xmpptest.Login(t, e.xs, "bob", "bob-secret", "tcp")
	c.async("", `<message xmlns='jabber:client' to='bob@localhost/tcp' type='chat'><body>back</body></message>`)
	bob.Expect(isMessage("back"))
}
