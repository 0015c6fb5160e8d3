package s2s

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stream"

	"parley.im/parley/router"
	"parley.im/parley/xmppcore"
)

// pair is a (sending domain, receiving domain) pair that a stream has
// authenticated, in one direction.
type pair struct{ from, to string }

// conn is one server-to-server TCP connection, inbound or outbound.
// Negotiation runs on the goroutine that owns reading; once the stream is
// authenticated, stanzas to write go through a bounded queue drained by a
// writer goroutine, so that Deliver never blocks.
type conn struct {
	svc      *Service
	nc       net.Conn // the TCP connection
	outbound bool
	log      *slog.Logger
	link     *link // outbound streams: the link they serve

	wmu sync.Mutex // serializes writes and guards c and the header state
	c   net.Conn   // nc, or the TLS layer over it

	br *xmppcore.ByteReader
	rd *xmppcore.Reader

	id         string // the stream ID, chosen by the receiving side
	localHost  string // our domain in the stream header
	remoteHost string // the peer's domain in the stream header ("" if it gave none)
	tlsState   *tls.ConnectionState
	peerChain  bool // the peer's certificate chains to a trusted root
	peerLeaf   *x509.Certificate
	headerSent bool
	bidi       atomic.Bool
	running    atomic.Bool // negotiated: the writer runs

	mu        sync.Mutex
	recv      map[pair]bool // pairs whose stanzas are accepted from the peer
	sendOK    map[pair]bool // pairs this side may send
	verifying map[pair]bool // inbound dialback requests being verified

	out       chan []byte
	quit      chan struct{}
	closeOnce sync.Once
	closeErr  stream.Error
	closeText string
	writerOut chan struct{}
	last      atomic.Int64 // unix nanoseconds of the last traffic either way
	counted   string       // remote domain counted in svc.inbound
}

var errShutdown = stream.SystemShutdown

func (s *Service) newConn(nc net.Conn, outbound bool) *conn {
	c := &conn{svc: s, nc: nc, c: nc, outbound: outbound,
		recv: map[pair]bool{}, sendOK: map[pair]bool{}, verifying: map[pair]bool{},
		out: make(chan []byte, s.cfg.QueueSize), quit: make(chan struct{}), writerOut: make(chan struct{})}
	dir := "in"
	if outbound {
		dir = "out"
	}
	c.log = s.log.With("dir", dir, "peer", nc.RemoteAddr().String())
	c.touch()
	return c
}

func (c *conn) touch() { c.last.Store(time.Now().UnixNano()) }

func newStreamID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// header returns our stream header.
func (c *conn) header(from, to, id string) []byte {
	b := []byte(`<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' version='1.0'`)
	for _, a := range [][2]string{{"from", from}, {"to", to}, {"id", id}} {
		if a[1] != "" {
			b = append(b, ' ')
			b = append(b, a[0]...)
			b = append(b, "='"...)
			b = append(b, xmppcore.EscapeAttr(a[1])...)
			b = append(b, '\'')
		}
	}
	return append(b, '>')
}

// write sends bytes now (negotiation); the caller holds no lock.
func (c *conn) write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.writeLocked(b)
}

func (c *conn) writeLocked(b []byte) error {
	_ = c.c.SetWriteDeadline(time.Now().Add(c.svc.cfg.WriteTimeout))
	_, err := c.c.Write(b)
	c.touch()
	return err
}

func (c *conn) writeElement(el *xmppcore.Element) error {
	return c.write(el.AppendXML(nil, xmppcore.NSServer))
}

// newReader starts a fresh parser (at the start and after each restart).
func (c *conn) newReader() {
	c.br = xmppcore.NewByteReader(c.c, 0)
	c.rd = xmppcore.NewReader(c.br, c.svc.cfg.Limits)
}

// send queues an element for the writer; false when the queue is full or
// the stream is closing.
func (c *conn) send(el *xmppcore.Element) bool {
	ok, _ := c.trySend(el)
	return ok
}

// trySend is send that also tells a closing stream (closing true: the
// stanza may go on a new stream) from a full queue.
func (c *conn) trySend(el *xmppcore.Element) (ok, closing bool) {
	b := el.AppendXML(nil, xmppcore.NSServer)
	select {
	case <-c.quit:
		return false, true
	default:
	}
	select {
	case c.out <- b:
		return true, false
	default:
		return false, false
	}
}

// startWriter runs the writer goroutine.
func (c *conn) startWriter() {
	c.running.Store(true)
	if c.svc.ctx.Err() != nil {
		c.close(errShutdown, "") // Shutdown ran while this stream negotiated
	}
	c.svc.wg.Add(1)
	go func() {
		defer c.svc.wg.Done()
		defer close(c.writerOut)
		for {
			select {
			case b := <-c.out:
				if err := c.writeBatch(b); err != nil {
					c.log.Debug("write failed", "err", err)
					c.nc.Close()
					return
				}
			case <-c.quit:
				// Flush what was queued before the close, then end the stream.
				for {
					select {
					case b := <-c.out:
						if c.writeBatch(b) != nil {
							c.nc.Close()
							return
						}
						continue
					default:
					}
					break
				}
				c.writeEnd()
				return
			}
		}
	}()
}

func (c *conn) writeBatch(first []byte) error {
	buf := first
	for len(buf) < 64<<10 {
		select {
		case b := <-c.out:
			buf = append(buf, b...)
			continue
		default:
		}
		break
	}
	return c.write(buf)
}

// writeEnd writes the stream error (if any) and the end of the stream,
// then closes the connection.
func (c *conn) writeEnd() {
	c.wmu.Lock()
	var b []byte
	if !c.headerSent && !c.outbound {
		b = c.header(c.localHost, "", newStreamID())
	}
	if c.closeErr.Err != "" {
		b = append(b, xmppcore.StreamErrorBytes(c.closeErr, c.closeText)...)
	}
	b = append(b, "</stream:stream>"...)
	_ = c.c.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = c.c.Write(b)
	c.wmu.Unlock()
	// Give the peer a moment to close its side, so that the error is read
	// rather than lost to a reset; the reader closes nc when it ends.
	_ = c.nc.SetReadDeadline(time.Now().Add(time.Second))
}

// close ends the stream with se (empty for a plain close), asynchronously
// when the writer runs.
func (c *conn) close(se stream.Error, text string) {
	c.closeOnce.Do(func() {
		c.closeErr, c.closeText = se, text
		close(c.quit)
	})
}

// closeNow is close for a connection whose writer does not run yet.
func (c *conn) closeNow(se stream.Error, text string) {
	c.close(se, text)
	c.writeEnd()
	c.nc.Close()
}

// streamFail is a stream error to send before closing.
type streamFail struct {
	se   stream.Error
	text string
}

func (f *streamFail) Error() string { return "stream error " + f.se.Err + ": " + f.text }

func fail(se stream.Error, format string, args ...any) error {
	return &streamFail{se: se, text: fmt.Sprintf(format, args...)}
}

// errorOf maps a reading or negotiation error to the stream error to send.
func errorOf(err error) (stream.Error, string, bool) {
	var sf *streamFail
	if errors.As(err, &sf) {
		return sf.se, sf.text, true
	}
	if se, ok := xmppcore.AsStreamError(err); ok {
		return se, "", true
	}
	return stream.Error{}, "", false
}

func (c *conn) canSend(local, remote string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sendOK[pair{local, remote}]
}

func (c *conn) allowSend(local, remote string) {
	c.mu.Lock()
	c.sendOK[pair{local, remote}] = true
	c.mu.Unlock()
}

func (c *conn) allowRecv(remote, local string) {
	c.mu.Lock()
	c.recv[pair{remote, local}] = true
	c.mu.Unlock()
}

func (c *conn) mayRecv(remote, local string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.recv[pair{remote, local}]
}

func (c *conn) anyRecvFrom(remote string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for p := range c.recv {
		if p.from == remote {
			return true
		}
	}
	return false
}

// armIdle makes reads time out after the idle timeout, counting traffic
// either way; a stream idle that long is closed.
func (c *conn) armIdle() {
	idle := c.svc.cfg.IdleTimeout
	_ = c.nc.SetReadDeadline(time.Now().Add(idle))
	c.br.OnTimeout = func() error {
		select {
		case <-c.quit:
			return errClosing
		default:
		}
		last := time.Unix(0, c.last.Load())
		if time.Since(last) >= idle {
			return errIdle
		}
		return c.nc.SetReadDeadline(last.Add(idle))
	}
}

var (
	errIdle    = errors.New("s2s: stream idle")
	errClosing = errors.New("s2s: stream closed, the peer did not end its side")
)

// run is the authenticated stream's read loop, for both directions.
func (c *conn) run() {
	c.armIdle()
	c.startWriter()
	err := c.readLoop()
	c.finish(err)
}

func (c *conn) readLoop() error {
	for {
		el, err := c.rd.Next()
		if err != nil {
			return err
		}
		c.touch()
		if err := c.handle(el); err != nil {
			return err
		}
	}
}

// finish logs why the stream ends, closes it and forgets it.
func (c *conn) finish(err error) {
	switch se, text, ok := errorOf(err); {
	case errors.Is(err, errIdle):
		c.log.Info("closing idle stream", "local", c.localHost, "remote", c.remoteHost)
		c.close(stream.Error{}, "")
	case ok:
		c.log.Warn("stream closed with error", "condition", se.Err, "reason", errText(err, text), "local", c.localHost, "remote", c.remoteHost)
		c.close(se, text)
	case errors.Is(err, io.EOF):
		c.log.Info("stream closed by peer", "local", c.localHost, "remote", c.remoteHost)
		c.close(stream.Error{}, "")
	default:
		c.log.Info("connection lost", "err", err, "local", c.localHost, "remote", c.remoteHost)
		c.close(stream.Error{}, "")
	}
	<-c.writerOut
	c.nc.Close()
	if c.link != nil {
		c.link.closed(c)
	}
	c.svc.release(c)
	c.svc.untrack(c)
}

func errText(err error, text string) string {
	if text != "" {
		return text
	}
	return err.Error()
}

// handle processes one element on an authenticated (or authenticating)
// stream: dialback requests and answers, bidi, and stanzas.
func (c *conn) handle(el *xmppcore.Element) error {
	switch {
	case el.Is(xmppcore.NSStream, "error"):
		cond := ""
		if f := el.FirstChild(); f != nil {
			cond = f.Local
		}
		c.log.Info("peer sent a stream error", "condition", cond, "text", el.ChildText(xmppcore.NSStreams, "text"))
		return io.EOF
	case el.Is(NSDialback, "result"):
		if el.Attr("type") != "" {
			return c.dialbackAnswer(el)
		}
		return c.dialbackRequest(el)
	case el.Is(NSDialback, "verify"):
		if el.Attr("type") != "" {
			c.log.Info("unexpected dialback verify answer", "from", el.Attr("from"))
			return nil
		}
		return c.verifyRequest(el)
	case el.Is(NSBidi, "bidi"):
		if c.outbound {
			return fail(stream.UnsupportedStanzaType, "bidi is requested by the initiating server")
		}
		c.bidi.Store(true)
		return nil
	case xmppcore.IsStanza(el):
		return c.stanza(el)
	case el.Is(xmppcore.NSTLS, "starttls"):
		return fail(stream.PolicyViolation, "TLS must be negotiated before authentication")
	case el.Is(xmppcore.NSSASL, "auth"):
		return fail(stream.PolicyViolation, "the stream is already authenticated")
	}
	return fail(stream.UnsupportedStanzaType, "unexpected element %s", el.Local)
}

// stanza checks the addresses of a stanza from the peer and routes it.
func (c *conn) stanza(el *xmppcore.Element) error {
	fromS, toS := el.Attr("from"), el.Attr("to")
	if fromS == "" || toS == "" {
		return fail(stream.ImproperAddressing, "stanzas between servers need 'from' and 'to'")
	}
	from, err := jid.Parse(fromS)
	if err != nil {
		return fail(stream.InvalidFrom, "'from' is not a valid JID")
	}
	to, err := jid.Parse(toS)
	if err != nil {
		return fail(stream.ImproperAddressing, "'to' is not a valid JID")
	}
	rd, ld := from.Domainpart(), to.Domainpart()
	if !c.mayRecv(rd, ld) {
		switch {
		case !c.svc.deps.Router.Serves(ld):
			return fail(stream.HostUnknown, "%s is not served here", ld)
		case !c.anyRecvFrom(rd):
			return fail(stream.InvalidFrom, "%s is not authenticated on this stream", rd)
		default:
			return fail(stream.InvalidFrom, "%s is not authenticated for %s on this stream", rd, ld)
		}
	}
	if !c.svc.permitted(rd) {
		return fail(stream.PolicyViolation, "federation with %s is not permitted", rd)
	}
	c.svc.deps.Router.Route(c.svc.ctx, &router.Stanza{El: el, From: from, To: to})
	return nil
}
