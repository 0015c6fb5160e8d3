package c2s

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sync"
	"time"

	"mellium.im/xmpp/stream"

	"parley.im/parley/xmppcore"
)

// NSFraming is the RFC 7395 namespace of <open/> and <close/>.
const NSFraming = "urn:ietf:params:xml:ns:xmpp-framing"

// FramedConn carries one complete top-level XML element per frame.
//
// ServeFramed calls ReadFrame from one goroutine only. It never calls
// WriteFrames concurrently with itself, but WriteFrames and Close may be
// called while a ReadFrame is blocked; Close must make a blocked ReadFrame
// return.
type FramedConn interface {
	// ReadFrame returns the next frame: one complete element as the client sent it
	// (an RFC 7395 <open/> or <close/> in urn:ietf:params:xml:ns:xmpp-framing, a stanza, or a nonza).
	// The transport bounds the frame's size (Server.MaxFrameSize); ServeFramed
	// may keep the returned slice.
	ReadFrame() ([]byte, error)
	// WriteFrames sends frames in order; each is one complete, namespace-qualified element
	// (stanzas carry xmlns='jabber:client', stream features/errors carry xmlns:stream).
	// The frames may share a buffer that is reused once WriteFrames returns:
	// copy what must outlive the call.
	WriteFrames(frames [][]byte) error
	Close() error
}

// FramedInfo describes the transport under a framed session.
type FramedInfo struct {
	Transport string               // "websocket" or "bosh", for logs and metrics
	RemoteIP  netip.Addr           //
	Secure    bool                 // carried over HTTPS, or behind a trusted proxy: no STARTTLS offered
	TLS       *tls.ConnectionState // nil unless HTTPS; used for channel binding where possible
	Lang      string
}

// MaxFrameSize is the largest frame a framed transport should accept: the
// stanza size limit plus room for the namespace declarations a frame
// repeats. ServeFramed refuses anything larger with policy-violation.
func (s *Server) MaxFrameSize() int {
	n := s.cfg.Limits.MaxStanzaSize
	if n <= 0 {
		n = xmppcore.DefaultLimits.MaxStanzaSize
	}
	return n + 1024
}

// ServeFramed runs one framed session to its end (blocking). The server answers the client's
// <open/> with its own <open/> (id, from, version, xml:lang), features as one frame, and ends with <close/>.
//
// Negotiation (SASL, bind), limits, stream management and the session
// itself are those of TCP connections; only STARTTLS is never offered (the
// transport is secure or it is not). The transport is closed when
// ServeFramed returns.
func (s *Server) ServeFramed(ctx context.Context, fc FramedConn, info FramedInfo) {
	if info.Transport == "" {
		info.Transport = "framed"
	}
	c, ok := s.trackFramed(fc, info)
	if !ok {
		s.log.Info("connection refused: too many from this address", "ip", info.RemoteIP.String(), "transport", info.Transport)
		f := &conn{srv: s, fc: fc, finfo: &info, fout: &framedOut{}}
		f.writeClose(stream.PolicyViolation, "too many connections from your address")
		_ = fc.Close()
		return
	}
	s.wg.Add(1)
	defer s.wg.Done()
	defer s.untrack(c)
	c.serve(ctx, false, nil)
}

func (s *Server) trackFramed(fc FramedConn, info FramedInfo) (*conn, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return nil, false
	}
	if max := s.cfg.MaxConnectionsPerIP; max > 0 && s.perIP[info.RemoteIP] >= max {
		return nil, false
	}
	s.perIP[info.RemoteIP]++
	c := newConn(s, nil, info.RemoteIP)
	c.fc, c.finfo, c.fout = fc, &info, &framedOut{}
	c.secure = info.Secure || info.TLS != nil
	// The certificate served is not known here: tls-server-end-point is
	// not offered, tls-exporter (TLS 1.3) is.
	c.tlsState = info.TLS
	s.conns[c] = struct{}{}
	return c, true
}

// frameWrapOpen and frameWrapClose make one frame a document the stream
// parser reads with the same limits and namespace rules as a TCP stream.
const (
	frameWrapOpen  = `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`
	frameWrapClose = `</stream:stream>`
)

// errFrame is a frame that is not exactly one element.
var errFrame = fmt.Errorf("%w: a frame must hold exactly one complete element", stream.NotWellFormed)

// parseFrame parses a frame that must be exactly one element.
func (c *conn) parseFrame(frame []byte) (*xmppcore.Element, error) {
	if len(frame) > c.srv.MaxFrameSize() {
		return nil, fmt.Errorf("%w: frame of %d bytes", stream.PolicyViolation, len(frame))
	}
	if len(bytes.TrimSpace(frame)) == 0 {
		return nil, errFrame
	}
	src := io.MultiReader(bytes.NewReader([]byte(frameWrapOpen)), bytes.NewReader(frame), bytes.NewReader([]byte(frameWrapClose)))
	br := xmppcore.NewByteReader(src, min(4096, len(frame)+len(frameWrapOpen)+len(frameWrapClose)))
	rd := xmppcore.NewReader(br, c.srv.cfg.Limits)
	if _, err := rd.ReadHeader(); err != nil {
		return nil, err
	}
	el, err := rd.Next()
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, errFrame
		}
		return nil, err
	}
	// Exactly the wrapper's end must follow, and nothing after it.
	if _, err := rd.Next(); !errors.Is(err, io.EOF) {
		return nil, errFrame
	}
	var one [1]byte
	if br.Buffered() != 0 {
		return nil, errFrame
	}
	if n, _ := src.Read(one[:]); n != 0 {
		return nil, errFrame
	}
	return el, nil
}

// readFrameElement reads and parses the next frame, counting it as
// activity for the idle timer.
func (c *conn) readFrameElement() (*xmppcore.Element, error) {
	b, err := c.fc.ReadFrame()
	if err != nil {
		if c.closing.Load() {
			return nil, &streamFail{se: c.closeErr, text: c.closeText}
		}
		if errors.Is(err, io.EOF) {
			// Only <close/> ends a framed stream cleanly: a transport
			// that ends without it was lost.
			return nil, fmt.Errorf("%w: %s transport ended without <close/>", io.ErrUnexpectedEOF, c.finfo.Transport)
		}
		return nil, err
	}
	c.frameCount.Add(1)
	return c.parseFrame(b)
}

// readFramedHeader reads an RFC 7395 <open/> and turns it into the header
// the negotiation checks.
func (c *conn) readFramedHeader() (xmppcore.Header, error) {
	el, err := c.readFrameElement()
	if err != nil {
		return xmppcore.Header{}, err
	}
	if !el.Is(NSFraming, "open") {
		if el.Is(NSFraming, "close") {
			return xmppcore.Header{}, errPeerClosed
		}
		return xmppcore.Header{}, fail(stream.BadFormat, "the stream must start with <open/> in %s", NSFraming)
	}
	h := xmppcore.Header{
		Name:      xml.Name{Space: xmppcore.NSStream, Local: "stream"},
		ContentNS: xmppcore.NSClient,
		To:        el.Attr("to"),
		From:      el.Attr("from"),
		Version:   el.Attr("version"),
		Lang:      el.Lang(),
	}
	if h.Lang == "" {
		h.Lang = c.finfo.Lang
	}
	return h, nil
}

// nextFramed returns the next element of a framed stream: io.EOF for the
// client's <close/>, and a stream error for a misplaced <open/>.
func (c *conn) nextFramed() (*xmppcore.Element, error) {
	el, err := c.readFrameElement()
	if err != nil {
		return nil, err
	}
	if el.Space == NSFraming {
		switch el.Local {
		case "close":
			return nil, io.EOF
		case "open":
			return nil, fail(stream.BadFormat, "<open/> is only allowed at the start of a stream")
		}
	}
	return el, nil
}

// appendFrame serializes el as a frame: namespace-qualified on its own.
func appendFrame(b []byte, el *xmppcore.Element) []byte {
	start := len(b)
	b = el.AppendXML(b, xmppcore.NSClient)
	if el.Space != "" {
		return b // it declares its namespace already
	}
	return insertAt(b, start+1+len(el.Local), ` xmlns="jabber:client"`)
}

// insertAt inserts s into b at i, in place.
func insertAt(b []byte, i int, s string) []byte {
	n := len(b)
	b = append(b, s...)
	copy(b[i+len(s):], b[i:n])
	copy(b[i:], s)
	return b
}

const nsStreamDecl = ` xmlns:stream="http://etherx.jabber.org/streams"`

// streamErrorFrame is <stream:error/> with its prefix declared.
func streamErrorFrame(se stream.Error, text string) []byte {
	b := xmppcore.StreamErrorBytes(se, text)
	return insertAt(b, len("<stream:error"), nsStreamDecl)
}

var closeFrame = []byte(`<close xmlns="` + NSFraming + `"/>`)

// openFrame is the server's RFC 7395 <open/> from host.
func (c *conn) openFrame(host string) []byte { return openFrameBytes(host) }

func openFrameBytes(host string) []byte {
	b := append([]byte(nil), `<open xmlns="`+NSFraming+`" version="1.0" xml:lang="en" id="`...)
	b = append(b, randomID()...)
	b = append(b, '"')
	if host != "" {
		b = append(b, ` from="`...)
		b = append(b, xmppcore.EscapeAttr(host)...)
		b = append(b, '"')
	}
	return append(b, "/>"...)
}

// framedOut is the write side of one framed transport: WriteFrames is
// never called concurrently, and nothing follows the final frames. It
// moves with its transport when a resumption adopts it.
type framedOut struct {
	mu     sync.Mutex
	opened bool // the server's <open/> was written
	ended  bool // the final frames were written
}

// writeFrames writes frames under the write lock, unless the stream's end
// was written already. Only the reader (negotiation) and the writer call
// it.
func (c *conn) writeFrames(frames ...[]byte) error {
	return c.fout.write(c.fc, frames, false)
}

// writeOpen writes the server's <open/> and features.
func (c *conn) writeOpen(frames ...[]byte) error {
	return c.fout.write(c.fc, frames, true)
}

func (o *framedOut) write(fc FramedConn, frames [][]byte, open bool) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.ended {
		return errPeerClosed
	}
	if open {
		o.opened = true
	}
	return fc.WriteFrames(frames)
}

// writeFramedEnd writes the final frames (pending stanzas, an error if
// any, then <close/>) once on the current transport, and closes it. Any
// goroutine may call it.
func (c *conn) writeFramedEnd(pending [][]byte, se stream.Error, text string) {
	c.tmu.Lock()
	fc, fout := c.fc, c.fout
	c.tmu.Unlock()
	if fc == nil {
		return // the transport was moved or dropped
	}
	// closeApp is set before whatever calls this: by the reader before
	// it, or before Close's channel, which the writer waits on.
	fout.end(fc, pending, se, text, c.closeApp)
}

// end writes the final frames once and closes the transport.
func (o *framedOut) end(fc FramedConn, pending [][]byte, se stream.Error, text string, app []byte) {
	o.mu.Lock()
	if !o.ended {
		o.ended = true
		frames := pending
		if !o.opened {
			frames = append(frames, openFrameBytes(""))
		}
		if se.Err != "" {
			b := streamErrorFrame(se, text)
			if app != nil {
				b = insertAt(b, len(b)-len("</stream:error>"), string(app))
			}
			frames = append(frames, b)
		}
		frames = append(frames, closeFrame)
		_ = fc.WriteFrames(frames)
	}
	o.mu.Unlock()
	_ = fc.Close()
}

// startFramedTimer starts the timer that stands in for read deadlines on
// a framed transport, first for the negotiation timeout. It is tied to
// the current transport: once the transport changes (timerGen), it does
// nothing.
func (c *conn) startFramedTimer(d time.Duration) {
	c.tmu.Lock()
	defer c.tmu.Unlock()
	gen := c.timerGen
	var t *time.Timer
	t = time.AfterFunc(time.Hour, func() { c.onFramedTimer(gen, t) })
	t.Stop()
	c.idleTimer = t
	t.Reset(d)
}

// onFramedTimer is the framed counterpart of the read deadline: during
// negotiation it ends the stream; in a session it pings a silent client and
// ends the session if the silence goes on (a resumable session only loses
// its transport).
func (c *conn) onFramedTimer(gen uint64, t *time.Timer) {
	c.tmu.Lock()
	stale, fc := gen != c.timerGen, c.fc
	c.tmu.Unlock()
	// Not under tmu: Close takes it. A transport moved away right after
	// the check is no harm: Close and Send then find no transport of
	// this timer's.
	if stale || fc == nil || c.closing.Load() {
		return
	}
	if !c.ran.Load() {
		c.Close(stream.ConnectionTimeout, "negotiation took too long")
		return
	}
	if !c.inSession.Load() {
		return
	}
	if n := c.frameCount.Load(); n != c.lastFrames.Load() {
		c.lastFrames.Store(n)
		c.pingOut.Store(false)
		t.Reset(c.srv.cfg.IdleTimeout)
		return
	}
	if c.pingOut.Load() {
		if c.resumable() {
			// Half dead: drop the transport; the reader detaches.
			_ = fc.Close()
			return
		}
		c.Close(stream.ConnectionTimeout, "no answer to ping")
		return
	}
	c.pingOut.Store(true)
	c.Send(c.pingElement())
	timeout := c.srv.cfg.PingTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	t.Reset(timeout)
}
