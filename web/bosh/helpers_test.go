package bosh_test

import (
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"parley.im/parley/config"
	"parley.im/parley/internal/xmpptest"
	"parley.im/parley/web/bosh"
	"parley.im/parley/xmppcore"
)

// env is a real server (xmpptest) with a BOSH handler over its c2s on a
// real HTTP server.
type env struct {
	t   testing.TB
	xs  *xmpptest.Server
	h   *bosh.Handler
	srv *httptest.Server
}

func newEnv(t testing.TB, cfg bosh.Config, configure ...func(*config.Config)) *env {
	t.Helper()
	xs := xmpptest.Start(t, configure...)
	xs.AddUser(t, "alice", "alice-secret")
	xs.AddUser(t, "bob", "bob-secret")
	cfg.Serve = xs.C2S().ServeFramed
	cfg.Hosts = func(d string) bool { return d == "localhost" }
	cfg.MaxFrameSize = xs.C2S().MaxFrameSize()
	if cfg.Client == nil {
		cfg.Client = func(*http.Request) (netip.Addr, bool) { return netip.MustParseAddr("127.0.0.1"), true }
	}
	h := bosh.New(cfg)
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		h.Shutdown()
		srv.Close()
	})
	return &env{t: t, xs: xs, h: h, srv: srv}
}

// client is a BOSH client written for the tests: it sends exact bodies and
// parses the answers.
type client struct {
	t   testing.TB
	url string
	sid string
	rid int64
	mu  sync.Mutex
}

func (e *env) client() *client {
	return &client{t: e.t, url: e.srv.URL, rid: 1000 + time.Now().UnixNano()%100000}
}

// raw posts body as it is and returns the status and the answer.
func (c *client) raw(method, body string, hdr ...string) (*http.Response, string) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.url, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp, string(b)
}

// parse parses a response body.
func parse(t testing.TB, s string) *xmppcore.Element {
	t.Helper()
	el, err := xmppcore.Parse([]byte(s))
	if err != nil || !el.Is(bosh.NS, "body") {
		t.Fatalf("not a BOSH body: %q (%v)", s, err)
	}
	return el
}

// nextRID returns the rid of the next request.
func (c *client) nextRID() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rid++
	return c.rid
}

// send posts a body with the next rid, the session's sid, attrs and
// payloads, and returns the parsed answer.
func (c *client) send(attrs string, payloads ...string) *xmppcore.Element {
	c.t.Helper()
	return c.sendRID(c.nextRID(), attrs, payloads...)
}

func (c *client) bodyText(rid int64, attrs string, payloads ...string) string {
	s := `<body xmlns='http://jabber.org/protocol/httpbind' xmlns:xmpp='urn:xmpp:xbosh' rid='` + strconv.FormatInt(rid, 10) + `'`
	if c.sid != "" {
		s += ` sid='` + c.sid + `'`
	}
	if attrs != "" {
		s += " " + attrs
	}
	if len(payloads) == 0 {
		return s + "/>"
	}
	return s + ">" + strings.Join(payloads, "") + "</body>"
}

func (c *client) sendRID(rid int64, attrs string, payloads ...string) *xmppcore.Element {
	c.t.Helper()
	resp, b := c.raw("POST", c.bodyText(rid, attrs, payloads...))
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/xml; charset=utf-8" {
		c.t.Fatalf("status %d, type %q: %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	return parse(c.t, b)
}

// async sends like send, without waiting: a request with payloads is held
// like any other until there is something to answer or the client sends
// the next one, as BOSH clients always keep one request at the server.
func (c *client) async(attrs string, payloads ...string) <-chan *xmppcore.Element {
	rid := c.nextRID()
	ch := make(chan *xmppcore.Element, 1)
	go func() {
		resp, b := c.raw("POST", c.bodyText(rid, attrs, payloads...))
		if resp.StatusCode != 200 {
			ch <- nil
			return
		}
		el, err := xmppcore.Parse([]byte(b))
		if err != nil {
			el = nil
		}
		ch <- el
	}()
	return ch
}

// create starts a session and returns the creation response.
func (c *client) create(attrs string) *xmppcore.Element {
	c.t.Helper()
	if attrs == "" {
		attrs = `to='localhost' xml:lang='en' wait='60' hold='1' ver='1.11' xmpp:version='1.0'`
	}
	el := c.send(attrs)
	c.sid = el.Attr("sid")
	return el
}

// login creates a session, authenticates with PLAIN, restarts and binds
// resource; it returns the bound JID.
func (c *client) login(user, password, resource string) string {
	c.t.Helper()
	// The creation response carries the features (the server writes them
	// with its <open/>).
	if el := c.create(""); el.Child(xmppcore.NSStream, "features") == nil {
		c.t.Fatalf("session creation: %s", el)
	}
	auth := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + password))
	el := c.send("", `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>`+auth+`</auth>`)
	if el.Child(xmppcore.NSSASL, "success") == nil {
		c.t.Fatalf("auth: %s", el)
	}
	el = c.send(`to='localhost' xml:lang='en' xmpp:restart='true'`)
	if f := el.Child(xmppcore.NSStream, "features"); f == nil || f.Child(xmppcore.NSBind, "bind") == nil {
		c.t.Fatalf("restart: %s", el)
	}
	el = c.send("", `<iq xmlns='jabber:client' type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>`+resource+`</resource></bind></iq>`)
	iq := el.Child("", "iq")
	if iq == nil || iq.Attr("type") != "result" {
		c.t.Fatalf("bind: %s", el)
	}
	return iq.Child(xmppcore.NSBind, "bind").ChildText(xmppcore.NSBind, "jid")
}

// waitFor polls cond until it holds (it is about the server's state, which
// the test cannot be told about otherwise).
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(xmpptest.Timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
