package xmpptest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/netip"
	"sync"
	"testing"
	"time"

	"parley.im/parley/c2s"
	"parley.im/parley/xmppcore"
)

// MemFramed is an in-memory c2s.FramedConn: the server end of a framed
// transport whose client end is a FramedClient.
type MemFramed struct {
	in     chan []byte // client → server
	out    chan []byte // server → client
	closed chan struct{}
	once   sync.Once
}

// NewMemFramed returns a connected pair's server end.
func NewMemFramed() *MemFramed {
	return &MemFramed{in: make(chan []byte, 64), out: make(chan []byte, 4096), closed: make(chan struct{})}
}

// ReadFrame implements c2s.FramedConn.
func (m *MemFramed) ReadFrame() ([]byte, error) {
	select {
	case b := <-m.in:
		return b, nil
	case <-m.closed:
		return nil, io.EOF
	}
}

// WriteFrames implements c2s.FramedConn; it copies each frame.
func (m *MemFramed) WriteFrames(frames [][]byte) error {
	for _, f := range frames {
		select {
		case <-m.closed:
			return errors.New("xmpptest: framed transport closed")
		default:
		}
		select {
		case m.out <- bytes.Clone(f):
		case <-m.closed:
			return errors.New("xmpptest: framed transport closed")
		}
	}
	return nil
}

// Close implements c2s.FramedConn.
func (m *MemFramed) Close() error {
	m.once.Do(func() { close(m.closed) })
	return nil
}

// FramedClient is a raw client over a MemFramed: it sends exact frames and
// parses what the server answers, frame by frame.
type FramedClient struct {
	t    testing.TB
	Conn *MemFramed
	// Done is closed when ServeFramed has returned.
	Done chan struct{}
	// Open is the server's last <open/>; Features its last features.
	Open     *xmppcore.Element
	Features *xmppcore.Element
}

// DialFramed runs a framed session on s (secure, as over HTTPS, from
// 127.0.0.1) and returns its client end.
func DialFramed(t testing.TB, s *Server) *FramedClient {
	return DialFramedInfo(t, s, c2s.FramedInfo{Transport: "websocket", RemoteIP: netip.MustParseAddr("127.0.0.1"), Secure: true})
}

// DialFramedInfo is DialFramed with the transport description given.
func DialFramedInfo(t testing.TB, s *Server, info c2s.FramedInfo) *FramedClient {
	t.Helper()
	return FramedPair(t, func(fc c2s.FramedConn) { s.C2S().ServeFramed(context.Background(), fc, info) })
}

// FramedPair runs serve (which calls ServeFramed) on a new MemFramed in a
// goroutine and returns the client end.
func FramedPair(t testing.TB, serve func(c2s.FramedConn)) *FramedClient {
	t.Helper()
	m := NewMemFramed()
	c := &FramedClient{t: t, Conn: m, Done: make(chan struct{})}
	go func() {
		defer close(c.Done)
		serve(m)
	}()
	t.Cleanup(func() {
		m.Close()
		select {
		case <-c.Done:
		case <-time.After(Timeout):
			t.Errorf("xmpptest: ServeFramed did not return after the transport closed")
		}
	})
	return c
}

// Send sends one frame as it is.
func (c *FramedClient) Send(frame string) {
	c.t.Helper()
	select {
	case c.Conn.in <- []byte(frame):
	case <-c.Conn.closed:
		c.t.Fatalf("xmpptest: send on a closed framed transport: %s", frame)
	case <-time.After(Timeout):
		c.t.Fatalf("xmpptest: send timed out")
	}
}

// NextRaw returns the next frame the server wrote; io.EOF once the
// transport is closed and everything written was read.
func (c *FramedClient) NextRaw() ([]byte, error) {
	select {
	case b := <-c.Conn.out:
		return b, nil
	default:
	}
	select {
	case b := <-c.Conn.out:
		return b, nil
	case <-c.Conn.closed:
		select {
		case b := <-c.Conn.out:
			return b, nil
		default:
			return nil, io.EOF
		}
	case <-time.After(Timeout):
		return nil, errors.New("xmpptest: no frame within the timeout")
	}
}

// NextErr returns the next frame parsed. Every frame must parse on its
// own, as RFC 7395 requires.
func (c *FramedClient) NextErr() (*xmppcore.Element, error) {
	b, err := c.NextRaw()
	if err != nil {
		return nil, err
	}
	el, err := xmppcore.Parse(b)
	if err != nil {
		return nil, errors.New("xmpptest: frame does not parse alone: " + err.Error() + ": " + string(b))
	}
	return el, nil
}

// Next is NextErr failing the test on an error.
func (c *FramedClient) Next() *xmppcore.Element {
	c.t.Helper()
	el, err := c.NextErr()
	if err != nil {
		c.t.Fatalf("xmpptest: read frame: %v", err)
	}
	return el
}

// Expect reads frames until one satisfies match.
func (c *FramedClient) Expect(match func(*xmppcore.Element) bool) *xmppcore.Element {
	c.t.Helper()
	for {
		el := c.Next()
		if match(el) {
			return el
		}
	}
}

// OpenStream sends <open/> to host and reads the server's <open/> and
// features.
func (c *FramedClient) OpenStream(host string) {
	c.t.Helper()
	c.Send(`<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='` + host + `' version='1.0'/>`)
	c.Open = c.Next()
	if !c.Open.Is(c2s.NSFraming, "open") {
		c.t.Fatalf("xmpptest: expected <open/>, got %s", c.Open)
	}
	c.Features = c.Next()
	if !c.Features.Is(xmppcore.NSStream, "features") {
		c.t.Fatalf("xmpptest: expected stream features, got %s", c.Features)
	}
}

// AuthSCRAM runs a SCRAM exchange and returns the final element.
func (c *FramedClient) AuthSCRAM(s *SCRAM) *xmppcore.Element {
	c.t.Helper()
	return SCRAMExchange(c.t, s, c.Send, c.Next)
}

// Bind binds a resource and returns the bound JID.
func (c *FramedClient) Bind(resource string) string {
	c.t.Helper()
	r := ""
	if resource != "" {
		r = "<resource>" + xmppcore.EscapeAttr(resource) + "</resource>"
	}
	c.Send(`<iq xmlns='jabber:client' type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>` + r + `</bind></iq>`)
	el := c.Next()
	j := el.Child(xmppcore.NSBind, "bind").ChildText(xmppcore.NSBind, "jid")
	if el.Attr("type") != "result" || j == "" {
		c.t.Fatalf("xmpptest: bind failed: %s", el)
	}
	return j
}

// ExpectStreamError reads frames until a stream error, which must be
// followed by <close/> and the end of the transport; it returns the
// condition.
func (c *FramedClient) ExpectStreamError() string {
	c.t.Helper()
	for {
		el := c.Next()
		if !el.Is(xmppcore.NSStream, "error") {
			continue
		}
		cond := StreamErrorCondition(el)
		c.ExpectClose()
		return cond
	}
}

// ExpectClose expects the server's <close/> as the next frame and the
// transport closed after it.
func (c *FramedClient) ExpectClose() {
	c.t.Helper()
	if el := c.Next(); !el.Is(c2s.NSFraming, "close") {
		c.t.Fatalf("xmpptest: expected <close/>, got %s", el)
	}
	if b, err := c.NextRaw(); !errors.Is(err, io.EOF) {
		c.t.Fatalf("xmpptest: after <close/>: %q, %v", b, err)
	}
}

// Cut closes the transport under the session without closing the stream,
// as a lost network does.
func (c *FramedClient) Cut() { c.Conn.Close() }

// FramedLogin opens a framed stream, authenticates with SCRAM-SHA-256 and
// binds resource.
func FramedLogin(t testing.TB, s *Server, user, password, resource string) (*FramedClient, string) {
	t.Helper()
	c := DialFramed(t, s)
	c.OpenStream("localhost")
	if el := c.AuthSCRAM(&SCRAM{Mechanism: "SCRAM-SHA-256", User: user, Password: password}); !el.Is(xmppcore.NSSASL, "success") {
		t.Fatalf("xmpptest: framed login %s failed: %s", user, el)
	}
	c.OpenStream("localhost")
	return c, c.Bind(resource)
}

// StreamErrorCondition returns the defined condition of a stream error
// (its child in the streams namespace other than <text/>), "" when none.
func StreamErrorCondition(el *xmppcore.Element) string {
	cond := ""
	for ch := range el.Children() {
		if ch.Space == xmppcore.NSStreams && ch.Local != "text" {
			cond = ch.Local
		}
	}
	return cond
}
