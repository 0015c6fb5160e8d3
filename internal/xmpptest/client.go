package xmpptest

import (
	"crypto/tls"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"mellium.im/sasl"

	"parley.im/parley/xmppcore"
)

// Timeout bounds every wait of a Client.
const Timeout = 10 * time.Second

// Client is a raw XMPP client for transcripts: it sends the exact bytes a
// test gives and parses what the server answers.
type Client struct {
	t    testing.TB
	Conn net.Conn
	rd   *xmppcore.Reader
	// Header is the last stream header received from the server.
	Header xmppcore.Header
	// Features is the last <stream:features/> received.
	Features *xmppcore.Element
}

// Dial connects over plain TCP (for STARTTLS listeners).
func Dial(t testing.TB, addr string) *Client {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, Timeout)
	if err != nil {
		t.Fatalf("xmpptest: dial %s: %v", addr, err)
	}
	c := &Client{t: t, Conn: nc}
	t.Cleanup(func() { nc.Close() })
	return c
}

// DialTLS connects with direct TLS (XEP-0368), offering ALPN xmpp-client.
func DialTLS(t testing.TB, addr string, cfg *tls.Config) *Client {
	t.Helper()
	if cfg == nil {
		cfg = &tls.Config{InsecureSkipVerify: true, ServerName: "localhost", NextProtos: []string{"xmpp-client"}} //nolint:gosec // test certificate
	}
	d := &net.Dialer{Timeout: Timeout}
	nc, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		t.Fatalf("xmpptest: dial TLS %s: %v", addr, err)
	}
	c := &Client{t: t, Conn: nc}
	t.Cleanup(func() { nc.Close() })
	return c
}

// Send writes raw XML.
func (c *Client) Send(s string) {
	c.t.Helper()
	_ = c.Conn.SetWriteDeadline(time.Now().Add(Timeout))
	if _, err := io.WriteString(c.Conn, s); err != nil {
		c.t.Fatalf("xmpptest: send: %v", err)
	}
}

// OpenStream sends a stream header to host and reads the server's header
// and features.
func (c *Client) OpenStream(host string) {
	c.t.Helper()
	c.Send(`<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0' to='` + host + `'>`)
	c.ReadHeader()
	c.Features = c.Next()
	if !c.Features.Is(xmppcore.NSStream, "features") {
		c.t.Fatalf("xmpptest: expected stream features, got %s", c.Features)
	}
}

// ReadHeader reads the server's stream header with a fresh parser.
func (c *Client) ReadHeader() xmppcore.Header {
	c.t.Helper()
	c.rd = xmppcore.NewReader(c.Conn, xmppcore.Limits{MaxStanzaSize: 1 << 20})
	_ = c.Conn.SetReadDeadline(time.Now().Add(Timeout))
	h, err := c.rd.ReadHeader()
	if err != nil {
		c.t.Fatalf("xmpptest: read stream header: %v", err)
	}
	c.Header = h
	return h
}

// Next reads the next top-level element; it fails the test on a timeout
// or when the stream ends.
func (c *Client) Next() *xmppcore.Element {
	c.t.Helper()
	el, err := c.NextErr()
	if err != nil {
		c.t.Fatalf("xmpptest: read: %v", err)
	}
	return el
}

// NextErr reads the next top-level element; io.EOF means the server closed
// the stream with </stream:stream>.
func (c *Client) NextErr() (*xmppcore.Element, error) {
	if c.rd == nil {
		return nil, errors.New("xmpptest: no stream header read yet")
	}
	_ = c.Conn.SetReadDeadline(time.Now().Add(Timeout))
	return c.rd.Next()
}

// ExpectStreamError reads until the stream error, the end of the stream
// and the end of the connection, and returns the error condition. It fails
// the test if the stream or the connection is not closed after the error.
func (c *Client) ExpectStreamError() string {
	c.t.Helper()
	if c.rd == nil {
		c.ReadHeader()
	}
	for {
		el, err := c.NextErr()
		if err != nil {
			c.t.Fatalf("xmpptest: expected a stream error, got %v", err)
		}
		if el.Is(xmppcore.NSStream, "error") {
			cond := ""
			for ch := range el.Children() {
				if ch.Space == xmppcore.NSStreams && ch.Local != "text" {
					cond = ch.Local
				}
			}
			if _, err := c.NextErr(); !errors.Is(err, io.EOF) {
				c.t.Errorf("xmpptest: stream not closed after the error: %v", err)
			}
			c.ExpectConnClosed()
			return cond
		}
	}
}

// Restart forgets the stream being parsed, for a stream that the test
// restarts by hand (after a TLS handshake or SASL success, without
// OpenStream): the next ExpectStreamError starts by reading a new server
// header.
func (c *Client) Restart() { c.rd = nil }

// ExpectConnClosed fails the test unless the server closes the connection
// (end of file or reset) within Timeout, with nothing more sent.
func (c *Client) ExpectConnClosed() {
	c.t.Helper()
	_ = c.Conn.SetReadDeadline(time.Now().Add(Timeout))
	var buf [512]byte
	n, err := c.Conn.Read(buf[:])
	var ne net.Error
	switch {
	case n > 0:
		c.t.Errorf("xmpptest: %q sent after the end of the stream", buf[:n])
	case errors.As(err, &ne) && ne.Timeout():
		c.t.Errorf("xmpptest: connection still open %v after the end of the stream", Timeout)
	case err == nil:
		c.t.Errorf("xmpptest: empty read instead of the end of the connection")
	}
}

// StartTLS negotiates STARTTLS and opens the new stream.
func (c *Client) StartTLS(host string) {
	c.t.Helper()
	c.StartTLSConfig(host, &tls.Config{InsecureSkipVerify: true, ServerName: host}) //nolint:gosec // test certificate
}

// StartTLSConfig is StartTLS with a TLS configuration of the test's own
// (to pin a TLS version, for instance).
func (c *Client) StartTLSConfig(host string, cfg *tls.Config) {
	c.t.Helper()
	c.Send(`<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`)
	if el := c.Next(); !el.Is(xmppcore.NSTLS, "proceed") {
		c.t.Fatalf("xmpptest: expected proceed, got %s", el)
	}
	tc := tls.Client(c.Conn, cfg)
	_ = tc.SetDeadline(time.Now().Add(Timeout))
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("xmpptest: TLS handshake: %v", err)
	}
	c.Conn = tc
	c.OpenStream(host)
}

// Mechanisms lists the SASL mechanisms in the last features.
func (c *Client) Mechanisms() []string {
	var out []string
	if m := c.Features.Child(xmppcore.NSSASL, "mechanisms"); m != nil {
		for ch := range m.Children() {
			out = append(out, ch.Text())
		}
	}
	return out
}

// Auth runs a SASL exchange with mellium's client mechanism m and returns
// the final element (<success/> or <failure/>). Over TLS the connection
// state is given to the client; extra options (sasl.RemoteMechanisms for
// the -PLUS mechanisms) are added after the credentials.
func (c *Client) Auth(m sasl.Mechanism, user, password string, extra ...sasl.Option) *xmppcore.Element {
	c.t.Helper()
	opts := []sasl.Option{sasl.Credentials(func() ([]byte, []byte, []byte) { return []byte(user), []byte(password), nil })}
	if tc, ok := c.Conn.(*tls.Conn); ok {
		cs := tc.ConnectionState()
		opts = append(opts, sasl.TLSState(cs))
	}
	opts = append(opts, extra...)
	neg := sasl.NewClient(m, opts...)
	_, resp, err := neg.Step(nil)
	if err != nil {
		c.t.Fatalf("xmpptest: SASL start: %v", err)
	}
	c.Send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='` + m.Name + `'>` + b64(resp) + `</auth>`)
	for {
		el := c.Next()
		switch {
		case el.Is(xmppcore.NSSASL, "challenge"):
			in, err := base64.StdEncoding.DecodeString(el.Text())
			if err != nil {
				c.t.Fatalf("xmpptest: bad challenge: %v", err)
			}
			_, resp, err := neg.Step(in)
			if err != nil {
				c.t.Fatalf("xmpptest: SASL step: %v", err)
			}
			c.Send(`<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>` + b64(resp) + `</response>`)
		case el.Is(xmppcore.NSSASL, "success"):
			if add := el.Text(); add != "" {
				in, _ := base64.StdEncoding.DecodeString(add)
				if _, _, err := neg.Step(in); err != nil {
					c.t.Fatalf("xmpptest: server signature rejected: %v", err)
				}
			}
			return el
		default:
			return el
		}
	}
}

func b64(b []byte) string {
	if len(b) == 0 {
		return "="
	}
	return base64.StdEncoding.EncodeToString(b)
}

// Bind binds a resource ("" lets the server choose) and returns the
// bound JID.
func (c *Client) Bind(resource string) string {
	c.t.Helper()
	r := ""
	if resource != "" {
		r = "<resource>" + xmppcore.EscapeAttr(resource) + "</resource>"
	}
	c.Send(`<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>` + r + `</bind></iq>`)
	el := c.Next()
	j := el.Child(xmppcore.NSBind, "bind").ChildText(xmppcore.NSBind, "jid")
	if el.Attr("type") != "result" || j == "" {
		c.t.Fatalf("xmpptest: bind failed: %s", el)
	}
	return j
}

// Login dials the STARTTLS listener, negotiates TLS, authenticates with
// SCRAM-SHA-256 and binds resource.
func Login(t testing.TB, s *Server, user, password, resource string) (*Client, string) {
	t.Helper()
	c := Dial(t, s.StartTLSAddr)
	c.OpenStream("localhost")
	c.StartTLS("localhost")
	if el := c.Auth(sasl.ScramSha256, user, password); !el.Is(xmppcore.NSSASL, "success") {
		t.Fatalf("xmpptest: login %s failed: %s", user, el)
	}
	c.OpenStream("localhost")
	return c, c.Bind(resource)
}

// Expect reads elements until one satisfies match, failing the test after
// Timeout; the elements skipped are returned for diagnostics.
func (c *Client) Expect(match func(*xmppcore.Element) bool) *xmppcore.Element {
	c.t.Helper()
	var skipped []string
	for {
		el, err := c.NextErr()
		if err != nil {
			c.t.Fatalf("xmpptest: expected element not received (%v); skipped: %s", err, strings.Join(skipped, " "))
		}
		if match(el) {
			return el
		}
		skipped = append(skipped, el.String())
	}
}
