package web_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"parley.im/parley/config"
	"parley.im/parley/internal/xmpptest"
	"parley.im/parley/web"
	"parley.im/parley/xmppcore"
)

const timeout = 10 * time.Second

// start runs a real server with its web listener on a loopback port and
// returns it with the base URL of plain HTTP.
func start(t *testing.T, configure ...func(*config.Config)) (*xmpptest.Server, string) {
	t.Helper()
	s := xmpptest.Start(t, configure...)
	// Cleanups run last-in first-out: the clients' (registered later)
	// close first, then this waits until c2s has seen every connection
	// end, and only then does the server shut down.
	t.Cleanup(func() {
		for deadline := time.Now().Add(timeout); s.C2S().ConnCount() > 0 && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
	})
	plain, _ := s.WebAddrs()
	if len(plain) == 0 {
		t.Fatal("no web listener")
	}
	return s, "http://" + plain[0].String()
}

func wsURL(base string) string { return "ws" + strings.TrimPrefix(base, "http") + web.WebSocketPath }

// wsClient is a raw RFC 7395 client: one frame per element.
type wsClient struct {
	t  *testing.T
	ws *websocket.Conn
}

func dialWS(t *testing.T, base string, opts *websocket.DialOptions) (*wsClient, *http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, wsURL(base), opts)
	if err != nil {
		return nil, resp, err
	}
	ws.SetReadLimit(1 << 24)
	t.Cleanup(func() { _ = ws.CloseNow() })
	return &wsClient{t: t, ws: ws}, resp, nil
}

func mustDialWS(t *testing.T, base string) *wsClient {
	t.Helper()
	c, _, err := dialWS(t, base, &websocket.DialOptions{Subprotocols: []string{"xmpp"}})
	if err != nil {
		t.Fatal(err)
	}
	if c.ws.Subprotocol() != "xmpp" {
		t.Fatalf("subprotocol = %q", c.ws.Subprotocol())
	}
	return c
}

func (c *wsClient) send(frame string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, []byte(frame)); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

func (c *wsClient) nextErr() (*xmppcore.Element, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	typ, b, err := c.ws.Read(ctx)
	if err != nil {
		return nil, err
	}
	if typ != websocket.MessageText {
		c.t.Fatalf("server sent a binary message")
	}
	el, err := xmppcore.Parse(b)
	if err != nil {
		c.t.Fatalf("server frame is not one element: %q: %v", b, err)
	}
	return el, nil
}

func (c *wsClient) next() *xmppcore.Element {
	c.t.Helper()
	el, err := c.nextErr()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return el
}

func (c *wsClient) open() *xmppcore.Element {
	c.t.Helper()
	c.send(`<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>`)
	if el := c.next(); !el.Is("urn:ietf:params:xml:ns:xmpp-framing", "open") {
		c.t.Fatalf("expected <open/>, got %s", el)
	}
	f := c.next()
	if !f.Is(xmppcore.NSStream, "features") {
		c.t.Fatalf("expected features, got %s", f)
	}
	return f
}

// login authenticates with SCRAM-SHA-256 and binds a resource.
func (c *wsClient) login(user, password string) string {
	c.t.Helper()
	c.open()
	s := &xmpptest.SCRAM{Mechanism: "SCRAM-SHA-256", User: user, Password: password}
	if el := xmpptest.SCRAMExchange(c.t, s, c.send, c.next); !el.Is(xmppcore.NSSASL, "success") {
		c.t.Fatalf("login: %s", el)
	}
	c.open()
	c.send(`<iq xmlns='jabber:client' type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>web</resource></bind></iq>`)
	el := c.next()
	j := el.Child(xmppcore.NSBind, "bind").ChildText(xmppcore.NSBind, "jid")
	if j == "" {
		c.t.Fatalf("bind: %s", el)
	}
	return j
}

// expectStreamError reads until a stream error, then expects <close/>
// and the WebSocket closed.
func (c *wsClient) expectStreamError() string {
	c.t.Helper()
	for {
		el := c.next()
		if !el.Is(xmppcore.NSStream, "error") {
			continue
		}
		cond := xmpptest.StreamErrorCondition(el)
		if el := c.next(); !el.Is("urn:ietf:params:xml:ns:xmpp-framing", "close") {
			c.t.Fatalf("expected <close/> after the stream error, got %s", el)
		}
		if _, err := c.nextErr(); err == nil {
			c.t.Fatal("the connection stayed open after <close/>")
		}
		return cond
	}
}

func TestHandshakeRefusals(t *testing.T) {
	_, base := start(t, func(c *config.Config) {
		c.Web.WebSocket.AllowedOrigins = []string{"https://chat.example.org"}
	})
	for i, tc := range []struct {
		name   string
		opts   *websocket.DialOptions
		status int
	}{
		{"no subprotocol", &websocket.DialOptions{}, http.StatusBadRequest},
		{"other subprotocol", &websocket.DialOptions{Subprotocols: []string{"mqtt"}}, http.StatusBadRequest},
		{"foreign origin", &websocket.DialOptions{Subprotocols: []string{"xmpp"},
			HTTPHeader: http.Header{"Origin": {"https://evil.example"}}}, http.StatusForbidden},
		{"allowed origin", &websocket.DialOptions{Subprotocols: []string{"xmpp"},
			HTTPHeader: http.Header{"Origin": {"https://chat.example.org"}}}, http.StatusSwitchingProtocols},
		{"same origin", &websocket.DialOptions{Subprotocols: []string{"xmpp"},
			HTTPHeader: http.Header{"Origin": {base}}}, http.StatusSwitchingProtocols},
		{"no origin (not a browser)", &websocket.DialOptions{Subprotocols: []string{"xmpp"}}, http.StatusSwitchingProtocols},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, resp, err := dialWS(t, base, tc.opts)
			if resp == nil {
				t.Fatalf("%d: no response: %v", i, err)
			}
			if resp.StatusCode != tc.status {
				t.Fatalf("%d: status %d, want %d (err %v)", i, resp.StatusCode, tc.status, err)
			}
		})
	}

	resp, err := http.Get(base + web.WebSocketPath)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUpgradeRequired {
		t.Fatalf("plain GET: status %d, want 426", resp.StatusCode)
	}
}

func TestPerIPLimit(t *testing.T) {
	_, base := start(t, func(c *config.Config) { c.Limits.MaxConnectionsPerIP = 2 })
	mustDialWS(t, base)
	mustDialWS(t, base)
	_, resp, err := dialWS(t, base, &websocket.DialOptions{Subprotocols: []string{"xmpp"}})
	if resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("third connection: %v %v", resp, err)
	}
}

func TestLargeStanza(t *testing.T) {
	s, base := start(t) // limits.max_stanza_size is 256 KiB by default
	s.AddUser(t, "alice", "pw-alice")
	s.AddUser(t, "bob", "pw-bob")
	alice := mustDialWS(t, base)
	ajid := alice.login("alice", "pw-alice")
	bob := mustDialWS(t, base)
	bob.login("bob", "pw-bob")
	bob.send(`<presence xmlns='jabber:client'/>`)

	body := strings.Repeat("0123456789abcdef", 100*1024/16) // 100 KiB
	alice.send(`<message xmlns='jabber:client' to='bob@localhost/web' type='chat' id='big'><body>` + body + `</body></message>`)
	m := bob.next()
	for m.Local != "message" {
		m = bob.next()
	}
	if got := m.ChildText(m.Space, "body"); got != body || m.Attr("from") != ajid {
		t.Fatalf("bob got a body of %d bytes from %q", len(got), m.Attr("from"))
	}
}

func TestTooLargeStanza(t *testing.T) {
	s, base := start(t, func(c *config.Config) { c.Limits.MaxStanzaSize = 4096 })
	s.AddUser(t, "alice", "pw-alice")
	c := mustDialWS(t, base)
	c.login("alice", "pw-alice")
	c.send(`<message xmlns='jabber:client' to='localhost'><body>` + strings.Repeat("x", 8192) + `</body></message>`)
	if cond := c.expectStreamError(); cond != "policy-violation" {
		t.Fatalf("condition %q, want policy-violation", cond)
	}
}

func TestFramesNotOneElement(t *testing.T) {
	s, base := start(t)
	s.AddUser(t, "alice", "pw-alice")
	for i, frame := range []string{
		`<message xmlns='jabber:client' to='localhost'/><message xmlns='jabber:client' to='localhost'/>`,
		`<message xmlns='jabber:client' to='localhost'><body>half`,
		`just text`,
		``,
	} {
		c := mustDialWS(t, base)
		c.login("alice", "pw-alice")
		c.send(frame)
		if cond := c.expectStreamError(); cond == "" {
			t.Fatalf("%d: no stream error condition", i)
		}
	}
	// A binary message is not XMPP: the WebSocket is closed with 1003.
	c := mustDialWS(t, base)
	c.open()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageBinary, []byte(`<presence/>`)); err != nil {
		t.Fatal(err)
	}
	_, err := c.nextErr()
	if websocket.CloseStatus(err) != websocket.StatusUnsupportedData {
		t.Fatalf("binary message: %v", err)
	}
}

func TestCloseFromClient(t *testing.T) {
	s, base := start(t)
	s.AddUser(t, "alice", "pw-alice")
	c := mustDialWS(t, base)
	c.login("alice", "pw-alice")
	c.send(`<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>`)
	for {
		el := c.next()
		if el.Is("urn:ietf:params:xml:ns:xmpp-framing", "close") {
			break
		}
	}
	_, err := c.nextErr()
	if err == nil {
		t.Fatal("connection open after <close/>")
	}
}

func TestHostMeta(t *testing.T) {
	_, base := start(t)
	host := strings.TrimPrefix(base, "http://")
	resp, err := http.Get(base + "/.well-known/host-meta")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Header.Get("Access-Control-Allow-Origin") != "*" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/xrd+xml") {
		t.Fatalf("headers: %v", resp.Header)
	}
	var xrd struct {
		XMLName xml.Name `xml:"http://docs.oasis-open.org/ns/xri/xrd-1.0 XRD"`
		Links   []struct {
			Rel  string `xml:"rel,attr"`
			Href string `xml:"href,attr"`
		} `xml:"Link"`
	}
	if err := xml.Unmarshal(b, &xrd); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	if len(xrd.Links) == 0 || xrd.Links[0].Rel != web.RelWebSocket || xrd.Links[0].Href != "ws://"+host+"/xmpp-websocket" {
		t.Fatalf("XRD links: %+v", xrd.Links)
	}

	resp, err = http.Get(base + "/.well-known/host-meta.json")
	if err != nil {
		t.Fatal(err)
	}
	var jrd struct {
		Links []struct{ Rel, Href string } `json:"links"`
	}
	err = json.NewDecoder(resp.Body).Decode(&jrd)
	resp.Body.Close()
	if err != nil || resp.Header.Get("Access-Control-Allow-Origin") != "*" || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("JSON: %v %v", err, resp.Header)
	}
	if len(jrd.Links) == 0 || jrd.Links[0].Rel != web.RelWebSocket || jrd.Links[0].Href != "ws://"+host+"/xmpp-websocket" {
		t.Fatalf("JRD links: %+v", jrd.Links)
	}

	req, _ := http.NewRequest(http.MethodOptions, base+"/.well-known/host-meta.json", nil)
	req.Header.Set("Origin", "https://elsewhere.example")
	req.Header.Set("Access-Control-Request-Method", "GET")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
}

func TestHostMetaPublicURL(t *testing.T) {
	_, base := start(t, func(c *config.Config) { c.Web.PublicURL = "https://chat.example.org/xmpp" })
	resp, err := http.Get(base + "/.well-known/host-meta.json")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `"wss://chat.example.org/xmpp/xmpp-websocket"`) {
		t.Fatalf("host-meta.json with public_url: %s", b)
	}
}

func TestHealthz(t *testing.T) {
	s, base := start(t)
	resp, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %d", resp.StatusCode)
	}
	// With storage gone the check must fail.
	if err := s.Store().Close(); err != nil {
		t.Fatal(err)
	}
	resp, err = http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("healthz with storage closed: %d", resp.StatusCode)
	}
}

func TestMetricsAfterLogin(t *testing.T) {
	s, base := start(t)
	s.AddUser(t, "alice", "pw-alice")
	c := mustDialWS(t, base)
	c.login("alice", "pw-alice")
	c.send(`<iq xmlns='jabber:client' type='get' id='p1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`)
	c.next()
	// A failed login over TCP too.
	tc := xmpptest.Dial(t, s.StartTLSAddr)
	tc.OpenStream("localhost")
	tc.StartTLS("localhost")
	if el := tc.AuthSCRAM(&xmpptest.SCRAM{Mechanism: "SCRAM-SHA-256", User: "alice", Password: "wrong"}); !el.Is(xmppcore.NSSASL, "failure") {
		t.Fatalf("wrong password: %s", el)
	}

	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	text := string(b)
	for _, want := range []string{
		`parley_sessions{transport="websocket"} 1`,
		`parley_sessions_started_total{transport="websocket"} 1`,
		`parley_stanzas_in_total{kind="iq"} `,
		`parley_stanzas_out_total{kind="iq"} `,
		`parley_auth_total{mechanism="SCRAM-SHA-256",result="success"} 1`,
		`parley_auth_total{mechanism="SCRAM-SHA-256",result="failure"} 1`,
		`parley_queue_drops_total 0`,
		`parley_storage_seconds_count{op="account"}`,
		`go_goroutines `,
		`process_resident_memory_bytes `,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestMetricsRestricted(t *testing.T) {
	_, base := start(t, func(c *config.Config) { c.Web.Metrics.Allow = []string{"192.0.2.0/24"} })
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("metrics from a loopback address not allowed: %d", resp.StatusCode)
	}
}

func TestChatPage(t *testing.T) {
	for i, tc := range []struct {
		name   string
		dir    string
		status int
		want   string
	}{
		{"installed", "chat/node_modules/converse.js/dist", http.StatusOK, "converse.min.js"},
		{"missing", t.TempDir(), http.StatusServiceUnavailable, "npm ci"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "installed" {
				requireConverse(t)
			}
			_, base := start(t, func(c *config.Config) { c.Web.Chat.Dir = tc.dir })
			for _, path := range []string{"/", "/chat"} {
				resp, err := http.Get(base + path)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				csp := resp.Header.Get("Content-Security-Policy")
				if resp.StatusCode != tc.status || !strings.Contains(string(b), tc.want) || !strings.Contains(csp, "default-src 'self'") {
					t.Fatalf("%d %s: %d, CSP %q\n%s", i, path, resp.StatusCode, csp, b)
				}
				if strings.Contains(string(b), "http://") || strings.Contains(string(b), "https://") {
					t.Fatalf("%s names another site:\n%s", path, b)
				}
			}
		})
	}
}

func TestHTTPS(t *testing.T) {
	s, _ := start(t)
	s.AddUser(t, "alice", "pw-alice")
	_, secure := s.WebAddrs()
	pem, err := os.ReadFile(filepath.Join(s.Config.CertDir(), "localhost.crt"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	// The host's certificate, chosen by SNI, verifies for "localhost".
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "localhost"}}
	client := &http.Client{Transport: tr}
	defer tr.CloseIdleConnections()
	base := "https://" + secure[0].String()
	resp, err := client.Get(base + "/.well-known/host-meta.json")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `"wss://`+secure[0].String()+`/xmpp-websocket"`) {
		t.Fatalf("host-meta over HTTPS: %s", b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "wss://"+secure[0].String()+web.WebSocketPath, &websocket.DialOptions{
		Subprotocols: []string{"xmpp"}, HTTPClient: client})
	if err != nil {
		t.Fatal(err)
	}
	c := &wsClient{t: t, ws: ws}
	t.Cleanup(func() { _ = ws.CloseNow() })
	if j := c.login("alice", "pw-alice"); j != "alice@localhost/web" {
		t.Fatalf("bound %q", j)
	}
}

func TestShutdownClosesWebSockets(t *testing.T) {
	s, base := start(t)
	s.AddUser(t, "alice", "pw-alice")
	c := mustDialWS(t, base)
	c.login("alice", "pw-alice")
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Shutdown(ctx) }()
	if cond := c.expectStreamError(); cond != "system-shutdown" {
		t.Fatalf("condition %q, want system-shutdown", cond)
	}
	if err := <-done; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Fatal("the web server still answers after shutdown")
	}
}

func TestKeepaliveClosesSilentPeer(t *testing.T) {
	s, base := start(t, func(c *config.Config) {
		c.Web.WebSocket.PingInterval = time.Second
		c.C2S.PingTimeout = time.Second
	})
	// A client that never reads never answers the server's ping.
	_, _, err := dialWS(t, base, &websocket.DialOptions{Subprotocols: []string{"xmpp"}})
	if err != nil {
		t.Fatal(err)
	}
	// Well before the negotiation timeout (30 s) ends it, the keepalive does.
	deadline := time.Now().Add(15 * time.Second)
	for s.C2S().ConnCount() > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the silent WebSocket is still open")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
