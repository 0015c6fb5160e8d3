package c2s

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"
	"mellium.im/xmpp/stream"

	"parley.im/parley/auth"
	"parley.im/parley/xmppcore"
)

// conn is one client connection, from accept to close. Until bind, only the
// goroutine running serve touches it; after bind, writes go through the
// writer goroutine (see session.go).
type conn struct {
	srv *Server
	nc  net.Conn // the TCP connection
	c   net.Conn // what is read and written: nc, or the TLS layer over it
	ip  netip.Addr

	br *xmppcore.ByteReader
	rd *xmppcore.Reader

	secure     bool
	tlsState   *tls.ConnectionState
	servedLeaf *x509.Certificate
	host       string // the virtual host named in the stream header
	lang       string
	user       string // authenticated localpart
	authFails  int
	triedPlus  bool // a -PLUS attempt failed on the binding type
	authMech   string
	jid        jid.JID
	jidStr     string    // jid as a string, once stamped on a stanza (boundJID)
	deadline   time.Time // end of negotiation
	headerSent bool

	// Session state, after bind.
	out       *outQueue
	quit      chan struct{}
	closeOnce sync.Once
	closing   atomic.Bool
	inSession atomic.Bool
	closeErr  stream.Error
	closeText string
	writing   atomic.Bool // a writer goroutine runs
	pingOut   atomic.Bool
	lastTotal int64
	pingSeq   atomic.Uint64
	idleDue   time.Time // TCP: when silence gets a ping, or (pingOut) ends the session

	// Parking (park.go). parkTok and parkTimer are guarded by the
	// poller's mutex; the rest belongs to the reader, parked or not.
	parkable   bool
	parkTok    uint64 // non-zero while parked
	parkTimer  *time.Timer
	resumeCtx  context.Context
	resumeDone func()

	// Framed transports (WebSocket, BOSH): fc is set, nc, c, br and rd are
	// nil, and the idle timer stands in for read deadlines.
	fc         FramedConn
	finfo      *FramedInfo
	fout       *framedOut // the write side of fc; moves with it
	frameCount atomic.Uint64
	lastFrames atomic.Uint64
	idleTimer  *time.Timer
	frameOffs  []int    // writer scratch: frame boundaries in the batch buffer
	frameSlots [][]byte // writer scratch: the frames of the batch

	// tmu guards the transport fields (nc, c, br, rd, fc, finfo,
	// fout, idleTimer, timerGen) against the goroutines that are
	// not the reader: a resumption moves a transport from one conn to
	// another, and a detached session drops its transport.
	tmu      sync.Mutex
	timerGen uint64 // bumped when the transport changes: stale timers do nothing

	// Writers: started under wstart only while inSession, so that letting
	// go of the transport can wait for them.
	wstart  sync.Mutex
	writers sync.WaitGroup
	wdead   atomic.Bool // a write failed: no writer starts on this transport

	// Stream management (sm.go).
	sm           atomic.Pointer[smState]
	smu          sync.Mutex    // guards attached, claimed, ended, expireTimer, readerDone
	attached     bool          // a reader runs the session on a transport
	claimed      bool          // a resumption is taking the session over
	ended        bool          // the session is over for good
	expireTimer  *time.Timer   // runs out the resumption timeout
	readerDone   chan struct{} // closed when the current reader has let go of its transport
	detached     atomic.Bool   // waiting for resumption, without a transport
	ran          atomic.Bool   // the session ran once (the bound hooks ran)
	resumeTarget *conn         // on a new stream: the session <resume/> took over
	closeApp     []byte        // application condition in the closing stream error
	carrier      *conn         // the connection whose transport runs this session (under srv.mu)

	// Client state indication (csi.go).
	inactive atomic.Bool
	csi      csiState
}

func newConn(s *Server, nc net.Conn, ip netip.Addr) *conn {
	return &conn{srv: s, nc: nc, c: nc, ip: ip, quit: make(chan struct{})}
}

// errClosedBy marks a stream the peer or the server closed on purpose, as
// opposed to a protocol error that needs a stream error.
var errPeerClosed = errors.New("c2s: peer closed the stream")

// streamFail carries a stream error to send before closing.
type streamFail struct {
	se   stream.Error
	text string // sent to the client: no secrets, no internals
	app  []byte // an application-specific condition element, or nil
}

func (f *streamFail) Error() string { return "stream error " + f.se.Err + ": " + f.text }

// tlsFailure is a failed TLS handshake: nothing more can be said on the
// connection, in XML or otherwise.
type tlsFailure struct{ err error }

func (f *tlsFailure) Error() string { return "c2s: TLS handshake: " + f.err.Error() }
func (f *tlsFailure) Unwrap() error { return f.err }

func fail(se stream.Error, format string, args ...any) error {
	return &streamFail{se: se, text: fmt.Sprintf(format, args...)}
}

// serve runs the connection to its end; then done (if not nil) is called,
// maybe from another goroutine if the session's reader parked.
func (c *conn) serve(ctx context.Context, direct bool, done func()) {
	log := c.srv.log.With("remote", c.remoteAddr())
	if c.fc != nil {
		log = log.With("transport", c.finfo.Transport)
	}
	c.deadline = time.Now().Add(c.srv.cfg.NegotiationTimeout)
	if c.fc != nil {
		c.startFramedTimer(c.srv.cfg.NegotiationTimeout)
	} else {
		_ = c.nc.SetDeadline(c.deadline)
	}
	err := c.negotiate(ctx, direct)
	if err != nil {
		c.finish(err, log)
		if done != nil {
			done()
		}
		return
	}
	log = log.With("jid", c.jid.String())
	log.Info("session started", "tls", c.tlsVersion())
	if t := c.resumeTarget; t != nil {
		// <resume/>: the old session goes on on this transport.
		t.live(ctx, c.srv.log.With("remote", t.remoteAddr(), "jid", t.jid.String()), done)
		return
	}
	c.live(ctx, log, done)
}

// finish sends the stream error an error calls for, closes the stream and
// the connection, and logs why.
func (c *conn) finish(err error, log interface {
	Info(string, ...any)
	Debug(string, ...any)
}) {
	var sf *streamFail
	var tf *tlsFailure
	se, isStreamErr := xmppcore.AsStreamError(err)
	switch {
	case errors.As(err, &tf):
		log.Info("TLS handshake failed", "err", tf.err)
	case errors.As(err, &sf):
		log.Info("stream closed with error", "condition", sf.se.Err, "reason", sf.text)
		c.closeApp = sf.app
		c.writeClose(sf.se, sf.text)
	case isStreamErr:
		log.Info("stream closed with error", "condition", se.Err, "reason", err.Error())
		c.writeClose(se, "")
	case errors.Is(err, errPeerClosed), errors.Is(err, io.EOF):
		log.Debug("stream closed by peer")
		c.writeClose(stream.Error{}, "")
	case err != nil:
		log.Debug("connection lost", "err", err)
	}
	c.closeTransport()
}

// closeTransport closes the connection or the framed transport, if the
// session still has one.
func (c *conn) closeTransport() {
	c.tmu.Lock()
	defer c.tmu.Unlock()
	if c.idleTimer != nil {
		c.idleTimer.Stop()
	}
	switch {
	case c.fc != nil:
		_ = c.fc.Close()
	case c.nc != nil:
		c.nc.Close()
		c.unpark() // the parked reader reads the error, as a blocked one would
	}
}

// streamErrorBytes is <stream:error/> with the application condition
// (closeApp) when there is one.
func (c *conn) streamErrorBytes(se stream.Error, text string) []byte {
	b := xmppcore.StreamErrorBytes(se, text)
	if c.closeApp != nil {
		b = insertAt(b, len(b)-len("</stream:error>"), string(c.closeApp))
	}
	return b
}

// remoteAddr names the peer for logs.
func (c *conn) remoteAddr() string {
	if c.fc != nil {
		return c.ip.String()
	}
	return c.nc.RemoteAddr().String()
}

// transportName is what Observer calls the transport.
func (c *conn) transportName() string {
	if c.fc != nil {
		return c.finfo.Transport
	}
	return "tcp"
}

// readHeader reads the client's stream header, or a framed <open/>.
func (c *conn) readHeader() (xmppcore.Header, error) {
	if c.fc != nil {
		return c.readFramedHeader()
	}
	return c.rd.ReadHeader()
}

// next reads the next top-level element; io.EOF is the client's end of the
// stream.
func (c *conn) next() (*xmppcore.Element, error) {
	if c.fc != nil {
		return c.nextFramed()
	}
	return c.rd.Next()
}

// writeClose writes a stream error (if any) and the end of the stream,
// bounded by the write timeout, from the goroutine that owns writing.
func (c *conn) writeClose(se stream.Error, text string) {
	if c.fc != nil {
		c.writeFramedEnd(nil, se, text)
		return
	}
	var b []byte
	if !c.headerSent {
		b = c.appendHeader(b)
	}
	if se.Err != "" {
		b = append(b, c.streamErrorBytes(se, text)...)
	}
	b = append(b, "</stream:stream>"...)
	_ = c.c.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = c.c.Write(b)
}

// write sends raw bytes during negotiation.
func (c *conn) write(b []byte) error {
	_ = c.c.SetWriteDeadline(time.Now().Add(c.srv.cfg.WriteTimeout))
	_, err := c.c.Write(b)
	return err
}

func (c *conn) writeElement(el *xmppcore.Element) error {
	if c.fc != nil {
		return c.writeFrames(appendFrame(nil, el))
	}
	return c.write(el.AppendXML(nil, xmppcore.NSClient))
}

func (c *conn) tlsVersion() string {
	if c.tlsState == nil {
		return "none"
	}
	return tls.VersionName(c.tlsState.Version)
}

func (c *conn) startTLS(direct bool) error {
	cfg := c.srv.tlsConfig(direct)
	// The shared GetCertificate records the certificate served to this
	// connection: SCRAM's tls-server-end-point binding hashes it.
	c.srv.handshakes.Store(c.nc, c)
	defer c.srv.handshakes.Delete(c.nc)
	tc := tls.Server(c.nc, cfg)
	_ = c.nc.SetDeadline(c.deadline)
	if err := tc.Handshake(); err != nil {
		return &tlsFailure{err}
	}
	cs := tc.ConnectionState()
	c.tlsState = &cs
	c.c = tc
	c.secure = true
	return nil
}

// tlsConfig returns the configuration shared by all the handshakes on
// STARTTLS or on direct TLS (with ALPN "xmpp-client"): nothing is cloned
// per connection.
func (s *Server) tlsConfig(direct bool) *tls.Config {
	base := s.baseTLS()
	s.tlsMu.Lock()
	defer s.tlsMu.Unlock()
	if s.tlsShared[0] == nil {
		cfg := base.Clone() // with the ticket keys set in baseTLS
		cfg.GetCertificate = s.getCertificate
		d := cfg.Clone()
		d.NextProtos = []string{"xmpp-client"}
		s.tlsShared = [2]*tls.Config{cfg, d}
	}
	if direct {
		return s.tlsShared[1]
	}
	return s.tlsShared[0]
}

// getCertificate is the base configuration's, remembering which leaf the
// connection handshaking (Server.handshakes) was given.
func (s *Server) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	s.tlsMu.Lock()
	base := s.tlsBase
	s.tlsMu.Unlock()
	cert, err := base.GetCertificate(hello)
	if err != nil || cert == nil {
		return cert, err
	}
	if v, ok := s.handshakes.Load(hello.Conn); ok {
		c := v.(*conn) // on the goroutine running the handshake
		c.servedLeaf = cert.Leaf
		if c.servedLeaf == nil && len(cert.Certificate) > 0 {
			c.servedLeaf, _ = x509.ParseCertificate(cert.Certificate[0])
		}
	}
	return cert, nil
}

func (c *conn) newReader() {
	c.br = xmppcore.NewByteReader(c.c, 0)
	c.br.OnTimeout = c.onNegotiationTimeout
	c.rd = xmppcore.NewReader(c.br, c.srv.cfg.Limits)
}

func (c *conn) onNegotiationTimeout() error {
	if c.closing.Load() {
		// Close woke the reader: end the stream with its reason.
		return &streamFail{se: c.closeErr, text: c.closeText}
	}
	return fail(stream.ConnectionTimeout, "negotiation took too long")
}

// negotiate runs the stream from the first byte to a bound resource.
func (c *conn) negotiate(ctx context.Context, direct bool) error {
	if direct {
		if err := c.startTLS(true); err != nil {
			return err
		}
	}
	if c.fc == nil {
		c.newReader()
	}
	for {
		if err := c.openStream(); err != nil {
			return err
		}
		restart, err := c.negotiateFeatures(ctx)
		if err != nil {
			return err
		}
		if !restart {
			return nil // bound
		}
	}
}

// openStream reads the client's stream header, checks it and answers with
// ours and the stream features of this stage.
func (c *conn) openStream() error {
	// A restarted stream (after TLS, after SASL) has no server header yet:
	// an error before ours is sent must come after one.
	c.headerSent = false
	h, err := c.readHeader()
	if err != nil {
		return err
	}
	if h.Name.Local != "stream" {
		return fail(stream.BadFormat, "the root element must be stream")
	}
	if h.Name.Space != xmppcore.NSStream {
		return fail(stream.InvalidNamespace, "the stream namespace must be %s", xmppcore.NSStream)
	}
	if h.ContentNS != xmppcore.NSClient {
		return fail(stream.InvalidNamespace, "the content namespace must be %s", xmppcore.NSClient)
	}
	if !versionOK(h.Version) {
		return fail(stream.UnsupportedVersion, "XMPP 1.0 is required")
	}
	if h.To == "" {
		return fail(stream.HostUnknown, "the stream header has no 'to'")
	}
	to, err := jid.Parse(h.To)
	host := to.Domainpart()
	if err != nil || to.Localpart() != "" || to.Resourcepart() != "" || !c.srv.deps.Router.IsLocalHost(host) {
		return fail(stream.HostUnknown, "this server does not serve that host")
	}
	if c.host != "" && host != c.host {
		return fail(stream.HostUnknown, "the host changed during negotiation")
	}
	c.host = host
	c.lang = h.Lang
	if c.fc != nil {
		open := c.openFrame(c.host)
		features := c.appendFeatures(nil)
		features = insertAt(features, len("<stream:features"), nsStreamDecl)
		c.headerSent = true
		return c.writeOpen(open, features)
	}
	b := c.appendHeader(nil)
	b = c.appendFeatures(b)
	c.headerSent = true
	return c.write(b)
}

func versionOK(v string) bool {
	major, _, ok := strings.Cut(v, ".")
	n, err := strconv.Atoi(major)
	return ok && err == nil && n == 1
}

func (c *conn) appendHeader(b []byte) []byte {
	b = append(b, `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0' xml:lang='en' id='`...)
	b = append(b, randomID()...)
	b = append(b, '\'')
	if c.host != "" {
		b = append(b, ` from='`...)
		b = append(b, xmppcore.EscapeAttr(c.host)...)
		b = append(b, '\'')
	}
	return append(b, '>')
}

func randomID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (c *conn) channelBinding() *auth.ChannelBinding {
	if c.tlsState == nil {
		return nil
	}
	return auth.NewChannelBinding(c.tlsState, c.servedLeaf)
}

func (c *conn) mechanisms() []string {
	if !c.secure && c.srv.cfg.RequireTLS {
		return nil
	}
	return auth.Mechanisms(c.channelBinding(), c.secure, c.srv.cfg.AllowPlain, c.srv.cfg.Mechanisms)
}

func (c *conn) appendFeatures(b []byte) []byte {
	f := &xmppcore.Element{}
	switch {
	case c.user == "":
		if !c.secure && c.fc == nil {
			st := xmppcore.New(xmppcore.NSTLS, "starttls")
			if c.srv.cfg.RequireTLS {
				st.Append(xmppcore.New(xmppcore.NSTLS, "required"))
			}
			f.Append(st)
		}
		if mechs := c.mechanisms(); len(mechs) > 0 {
			m := xmppcore.New(xmppcore.NSSASL, "mechanisms")
			for _, name := range mechs {
				m.Append(xmppcore.New(xmppcore.NSSASL, "mechanism").AppendText(name))
			}
			f.Append(m)
			if cb := c.channelBinding(); cb != nil && len(cb.Types()) > 0 {
				// XEP-0440: which channel-binding types a -PLUS mechanism may use.
				cbEl := xmppcore.New(nsSASLCB, "sasl-channel-binding")
				for _, t := range cb.Types() {
					cbEl.Append(xmppcore.New(nsSASLCB, "channel-binding", "type", t))
				}
				f.Append(cbEl)
			}
			if c.sasl2Offered() {
				f.Append(c.sasl2Feature(mechs)) // XEP-0388, sasl2.go
			}
		}
		if extra := c.srv.deps.PreAuthFeatures; extra != nil && c.preAuthOpen() {
			f.Append(extra(c.host)...)
		}
	default:
		f.Append(xmppcore.New(xmppcore.NSBind, "bind"))
		f.Append(xmppcore.New(xmppcore.NSSession, "session").Append(xmppcore.New(xmppcore.NSSession, "optional")))
		f.Append(xmppcore.New(nsStreamMgmt, "sm"))   // XEP-0198, sm.go
		f.Append(xmppcore.New(nsClientState, "csi")) // XEP-0352, csi.go
		if extra := c.srv.deps.PostAuthFeatures; extra != nil {
			f.Append(extra()...)
		}
	}
	// Written by hand for the stream prefix, which some clients insist on.
	b = append(b, "<stream:features>"...)
	for ch := range f.Children() {
		b = ch.AppendXML(b, xmppcore.NSClient)
	}
	return append(b, "</stream:features>"...)
}

const nsSASLCB = "urn:xmpp:sasl-cb:0"

// negotiateFeatures handles top-level elements until the stream restarts
// (restart true) or a resource is bound (restart false).
func (c *conn) negotiateFeatures(ctx context.Context) (restart bool, err error) {
	for {
		el, err := c.next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return false, errPeerClosed
			}
			return false, err
		}
		switch {
		case el.Is(xmppcore.NSTLS, "starttls"):
			if c.secure || c.user != "" || c.fc != nil {
				_ = c.writeElement(xmppcore.New(xmppcore.NSTLS, "failure"))
				return false, fail(stream.PolicyViolation, "TLS is already established")
			}
			if !c.discardBufferedSpace() {
				// Data pipelined after <starttls/> would be processed as if it
				// came over TLS (CVE-2011-0411-style injection): refuse.
				return false, fail(stream.PolicyViolation, "data sent after starttls before the TLS handshake")
			}
			if err := c.write([]byte(`<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`)); err != nil {
				return false, err
			}
			if err := c.startTLS(false); err != nil {
				return false, err
			}
			c.newReader()
			return true, nil
		case el.Is(nsSASL2, "authenticate"):
			bound, err := c.authenticate2(ctx, el) // sasl2.go
			if err != nil || bound {
				return false, err
			}
		case el.Is(xmppcore.NSSASL, "auth"):
			if c.user != "" {
				return false, fail(stream.PolicyViolation, "already authenticated")
			}
			ok, err := c.authenticate(ctx, el)
			if err != nil {
				return false, err
			}
			if ok {
				if c.fc == nil {
					c.rd = xmppcore.NewReader(c.br, c.srv.cfg.Limits)
				}
				return true, nil
			}
		case xmppcore.IsStanza(el):
			if c.user == "" {
				if reply, ok := c.preAuthIQ(ctx, el); ok {
					if err := c.writeElement(reply); err != nil {
						return false, err
					}
					continue
				}
				return false, fail(stream.NotAuthorized, "authenticate first")
			}
			bound, err := c.handlePreBindIQ(ctx, el)
			if err != nil || bound {
				return false, err
			}
		case el.Is(nsStreamMgmt, "resume") && c.user != "":
			reply, err := c.smResume(ctx, el)
			if err != nil {
				return false, err
			}
			if t := c.resumeTarget; t != nil {
				// The transport is the old session's now. A failed write
				// shows again to its reader, which detaches it again.
				_ = t.writeElement(reply)
				return false, nil
			}
			if err := c.writeElement(reply); err != nil {
				return false, err
			}
		case el.Is(nsStreamMgmt, "enable") && c.user != "":
			// XEP-0198 §3: only after bind.
			if err := c.writeElement(smFailed(stanza.UnexpectedRequest)); err != nil {
				return false, err
			}
		default:
			return false, fail(stream.UnsupportedStanzaType, "unexpected element %s during negotiation", el.Local)
		}
	}
}

// discardBufferedSpace drops what was read after <starttls/> if it is only
// white space, which some clients (go-sendxmpp) write with the element; it
// reports false if anything else is there, and the stream must then end.
func (c *conn) discardBufferedSpace() bool {
	n := c.br.Buffered()
	if n == 0 {
		return true
	}
	rest := make([]byte, n)
	if m, _ := c.br.Read(rest); m != n {
		return false
	}
	for _, b := range rest {
		if b != ' ' && b != '\t' && b != '\r' && b != '\n' {
			return false
		}
	}
	return true
}

// preAuthOpen reports whether the pre-authentication extensions (in-band
// registration) may be used on this stream: over TLS, or when TLS is not
// required, as for authentication itself.
func (c *conn) preAuthOpen() bool { return c.secure || !c.srv.cfg.RequireTLS }

// preAuthIQ hands an IQ sent before authentication to Deps.PreAuthIQ.
func (c *conn) preAuthIQ(ctx context.Context, el *xmppcore.Element) (*xmppcore.Element, bool) {
	h := c.srv.deps.PreAuthIQ
	if h == nil || el.Local != xmppcore.IQ || !c.preAuthOpen() {
		return nil, false
	}
	el.RemoveAttr("from") // the client has no address yet
	reply, ok := h(ctx, c.host, c.ip, el)
	return reply, ok && reply != nil
}
