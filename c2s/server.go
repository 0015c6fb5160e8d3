package c2s

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"mellium.im/xmpp/stream"

	"parley.im/parley/auth"
	"parley.im/parley/router"
	"parley.im/parley/storage"
	"parley.im/parley/xmppcore"
)

// Config holds the c2s settings.
type Config struct {
	StartTLS  []string // listen addresses with STARTTLS
	DirectTLS []string // listen addresses with direct TLS (ALPN xmpp-client)
	// RequireTLS refuses authentication before TLS. When false (loopback
	// benchmarks only), SCRAM may run in plaintext; PLAIN never does.
	RequireTLS          bool
	NegotiationTimeout  time.Duration
	IdleTimeout         time.Duration
	PingTimeout         time.Duration
	WriteTimeout        time.Duration
	QueueSize           int
	Limits              xmppcore.Limits
	MaxConnectionsPerIP int
	// Overload (listen.go, ratelimit.go): the socket receive buffer of
	// every TCP connection in bytes (0: the kernel's autotuning), and the
	// bytes per second one connection is read at most, with a burst
	// (ReadRate 0: unlimited; ReadBurst 0: one second's worth).
	ReceiveBuffer int
	ReadRate      int
	ReadBurst     int

	Mechanisms      []string // enabled SASL mechanisms; nil = all
	AllowPlain      bool
	MaxAuthAttempts int
	ScramIterations int // what new credentials get; shown for unknown users
	FakeSaltKey     []byte

	// XEP-0198 stream management (sm.go). SMResumeTimeout is how long a
	// session whose transport was lost waits to be resumed (0: sessions
	// are not resumable); SMMaxUnacked bounds the stanzas written and not
	// yet acknowledged (the session is closed beyond it); SMLocation, when
	// set, is the address clients are told to reconnect to.
	SMResumeTimeout time.Duration
	SMMaxUnacked    int
	SMLocation      string
	// SASL2 configures XEP-0388 SASL2, XEP-0386 Bind2 and XEP-0484 FAST
	// (sasl2.go).
	SASL2 SASL2Config
}

// Certificates serves the TLS certificates of the virtual hosts.
type Certificates interface {
	TLSConfig() *tls.Config
}

// Deps are the collaborators of the c2s server.
type Deps struct {
	Router  *router.Router
	Store   storage.Store
	Certs   Certificates
	Limiter *auth.Limiter
	Logger  *slog.Logger
	// PostAuthFeatures adds stream features after authentication (stream
	// management, roster versioning...).
	PostAuthFeatures func() []*xmppcore.Element
	// PreAuthFeatures adds stream features offered on a host before
	// authentication (in-band registration). Like PreAuthIQ it is used
	// only over TLS, or when TLS is not required.
	PreAuthFeatures func(host string) []*xmppcore.Element
	// PreAuthIQ answers an IQ a client sends on host before
	// authenticating (in-band registration): the answer and true, or
	// false for an IQ it does not handle, which then ends the stream with
	// <not-authorized/> as when PreAuthIQ is nil. The IQ comes without
	// 'from'; the answer is written as it is.
	PreAuthIQ func(ctx context.Context, host string, remoteIP netip.Addr, iq *xmppcore.Element) (*xmppcore.Element, bool)
	// Observer, when set, is told about sessions, stanzas, logins and
	// queue overflows (metrics).
	Observer Observer
	// AckBarrier, when set, is called before the server acknowledges
	// (XEP-0198 <a/>) messages a client sent: it returns once what the
	// modules queued for storage (the archive's writer) is stored, so that
	// an acknowledged message is durable.
	AckBarrier func(ctx context.Context)
}

// Server accepts and runs client connections.
type Server struct {
	cfg  Config
	deps Deps
	log  *slog.Logger

	// tlsBase is cloned once for each kind of listener (tlsShared). Its
	// session ticket keys are set explicitly, on the clones too, so that
	// sessions resume on either.
	tlsMu              sync.Mutex
	tlsBase            *tls.Config
	tlsShared          [2]*tls.Config // STARTTLS, direct TLS (conn.go tlsConfig)
	handshakes         sync.Map       // net.Conn → *conn during its TLS handshake
	stopTicketRotation chan struct{}
	prevTicketKey      *[32]byte

	mu        sync.Mutex
	listeners []net.Listener
	conns     map[*conn]struct{}
	perIP     map[netip.Addr]int
	closing   bool
	wg        sync.WaitGroup

	// Resumable sessions by stream management id (sm.go).
	smMu  sync.Mutex
	smIDs map[string]*conn
	// Detached sessions end under expMu's read lock; Shutdown takes the
	// write lock once it has ended them all, so that none is rerouting
	// while storage closes.
	expMu     sync.RWMutex
	expClosed bool

	park parking // the poller of parked sessions (park.go)
}

// New returns a c2s server; Listen binds its addresses, Serve runs them.
func New(cfg Config, deps Deps) *Server {
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 4096
	}
	if cfg.MaxAuthAttempts <= 0 {
		cfg.MaxAuthAttempts = 3
	}
	if cfg.NegotiationTimeout <= 0 {
		cfg.NegotiationTimeout = 30 * time.Second
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 30 * time.Second
	}
	if cfg.SMMaxUnacked <= 0 {
		cfg.SMMaxUnacked = 2 * cfg.QueueSize
	}
	return &Server{cfg: cfg, deps: deps, log: deps.Logger.With("component", "c2s"),
		conns: make(map[*conn]struct{}), perIP: make(map[netip.Addr]int), smIDs: make(map[string]*conn),
		stopTicketRotation: make(chan struct{})}
}

// ticketKeyLifetime is how long a session ticket key issues tickets; the
// previous key still decrypts for one more period. Rotating bounds what a
// stolen key reveals (tickets are not forward secret).
const ticketKeyLifetime = 24 * time.Hour

// baseTLS returns the configuration every connection clones.
func (s *Server) baseTLS() *tls.Config {
	s.tlsMu.Lock()
	defer s.tlsMu.Unlock()
	if s.tlsBase == nil {
		s.tlsBase = s.deps.Certs.TLSConfig()
		s.rotateTicketKeysLocked()
		go s.rotateTicketKeys()
	}
	return s.tlsBase
}

func (s *Server) rotateTicketKeysLocked() {
	var k [32]byte
	_, _ = rand.Read(k[:])
	keys := [][32]byte{k}
	if s.prevTicketKey != nil {
		keys = append(keys, *s.prevTicketKey)
	}
	s.tlsBase.SetSessionTicketKeys(keys)
	for _, cfg := range s.tlsShared {
		if cfg != nil {
			cfg.SetSessionTicketKeys(keys)
		}
	}
	s.prevTicketKey = &k
}

func (s *Server) rotateTicketKeys() {
	t := time.NewTicker(ticketKeyLifetime)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			s.tlsMu.Lock()
			s.rotateTicketKeysLocked()
			s.tlsMu.Unlock()
		case <-s.stopTicketRotation:
			return
		}
	}
}

// Listen binds every configured address. It fails, closing what it opened,
// if any address cannot be bound.
func (s *Server) Listen() error {
	bind := func(addr string, direct bool) error {
		l, err := s.listen(addr) // listen.go
		if err != nil {
			return fmt.Errorf("c2s: listen %s: %w", addr, err)
		}
		s.mu.Lock()
		s.listeners = append(s.listeners, &taggedListener{Listener: l, direct: direct})
		s.mu.Unlock()
		return nil
	}
	for _, a := range s.cfg.StartTLS {
		if err := bind(a, false); err != nil {
			s.closeListeners()
			return err
		}
	}
	for _, a := range s.cfg.DirectTLS {
		if err := bind(a, true); err != nil {
			s.closeListeners()
			return err
		}
	}
	return nil
}

type taggedListener struct {
	net.Listener
	direct bool
}

// Addrs returns the bound addresses: STARTTLS ones, then direct TLS ones.
func (s *Server) Addrs() (starttls, direct []net.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.listeners {
		tl := l.(*taggedListener)
		if tl.direct {
			direct = append(direct, l.Addr())
		} else {
			starttls = append(starttls, l.Addr())
		}
	}
	return starttls, direct
}

// Serve accepts connections on every bound listener until Shutdown.
func (s *Server) Serve(ctx context.Context) {
	s.mu.Lock()
	ls := append([]net.Listener(nil), s.listeners...)
	s.mu.Unlock()
	for _, l := range ls {
		s.wg.Add(1)
		go func(l *taggedListener) {
			defer s.wg.Done()
			s.accept(ctx, l)
		}(l.(*taggedListener))
	}
	for _, l := range ls {
		s.log.Info("listening", "addr", l.Addr().String(), "direct_tls", l.(*taggedListener).direct)
	}
}

func (s *Server) accept(ctx context.Context, l *taggedListener) {
	var backoff time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and similar: wait instead of spinning.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("accept failed", "err", err, "retry_in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		ip := remoteIP(nc)
		c, ok := s.track(nc, ip)
		if !ok {
			s.log.Info("connection refused: too many from this address", "ip", ip.String())
			_ = nc.SetWriteDeadline(time.Now().Add(time.Second))
			_, _ = nc.Write([]byte(`<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>`))
			_, _ = nc.Write(xmppcore.StreamErrorBytes(stream.PolicyViolation, "too many connections from your address"))
			_, _ = nc.Write([]byte("</stream:stream>"))
			nc.Close()
			continue
		}
		s.wg.Add(1)
		// Not deferred: the session's reader may park, and the
		// connection ends on the goroutine that resumes it.
		go c.serve(ctx, l.direct, func() {
			s.untrack(c)
			s.wg.Done()
		})
	}
}

func remoteIP(nc net.Conn) netip.Addr {
	if ta, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(ta.IP); ok {
			return ip.Unmap()
		}
	}
	return netip.Addr{}
}

func (s *Server) track(nc net.Conn, ip netip.Addr) (*conn, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return nil, false
	}
	if max := s.cfg.MaxConnectionsPerIP; max > 0 && s.perIP[ip] >= max {
		return nil, false
	}
	s.perIP[ip]++
	c := newConn(s, nc, ip)
	s.conns[c] = struct{}{}
	return c, true
}

// swapTracked replaces from by to in the set of connections Shutdown
// closes, when a resumption moves from's transport into an older session.
func (s *Server) swapTracked(from, to *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.conns[from]; ok {
		delete(s.conns, from)
		s.conns[to] = struct{}{}
		to.carrier = from
	}
}

// restoreCarrier undoes swapTracked once the session has let go of the
// transport: the connection that carried it is tracked again, until its
// goroutine ends.
func (s *Server) restoreCarrier(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.carrier == nil {
		return
	}
	if _, ok := s.conns[c]; ok {
		delete(s.conns, c)
		s.conns[c.carrier] = struct{}{}
	}
	c.carrier = nil
}

// isClosing reports whether Shutdown has begun.
func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
	if s.perIP[c.ip]--; s.perIP[c.ip] <= 0 {
		delete(s.perIP, c.ip)
	}
}

func (s *Server) closeListeners() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.listeners {
		l.Close()
	}
}

// Shutdown stops accepting, ends every stream with system-shutdown after
// flushing what is queued, and waits for the connections to finish until
// ctx is done, when it closes what remains.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if !s.closing {
		close(s.stopTicketRotation)
	}
	s.closing = true
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	s.closeListeners()
	for _, c := range conns {
		c.Close(stream.SystemShutdown, "the server is shutting down")
	}
	// Detached sessions end now, while storage is open: what they hold
	// goes to offline storage.
	s.smMu.Lock()
	var detached []*conn
	for _, c := range s.smIDs {
		if c.detached.Load() {
			detached = append(detached, c)
		}
	}
	s.smMu.Unlock()
	for _, c := range detached {
		c.expire(ctx, "server shutdown")
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.conns {
			c.closeTransport()
		}
		s.mu.Unlock()
		<-done
	}
	s.expMu.Lock()
	s.expClosed = true
	s.expMu.Unlock()
	s.park.stop() // no session is left to park
	return ctx.Err()
}

// ConnCount returns the number of open client connections.
func (s *Server) ConnCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}
