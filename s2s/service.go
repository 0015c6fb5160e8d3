package s2s

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"mellium.im/xmpp/stanza"

	"parley.im/parley/certs"
	"parley.im/parley/router"
	"parley.im/parley/xmppcore"
)

// Namespaces of server-to-server streams.
const (
	NSDialback        = "jabber:server:dialback"
	NSDialbackFeature = "urn:xmpp:features:dialback"
	NSBidi            = "urn:xmpp:bidi"
	NSBidiFeature     = "urn:xmpp:features:bidi"
)

// Target is where a remote domain's server listens.
type Target struct {
	Addr      string // host:port
	DirectTLS bool   // XEP-0368: TLS from the first byte
}

// Config is the federation policy and its limits.
type Config struct {
	Enabled     bool     // full federation
	Allow       []string // reachable even while Enabled is false
	Deny        []string // never reached nor accepted (subdomains included)
	Listen      []string // STARTTLS listeners
	DirectTLS   []string // XEP-0368 listeners
	RequireTLS  bool
	RequireCert bool           // refuse dialback: certificates only
	Roots       *x509.CertPool // trusted roots for remote certificates; nil = system
	StaticHosts map[string]Target

	ConnectTimeout     time.Duration
	NegotiationTimeout time.Duration
	IdleTimeout        time.Duration
	WriteTimeout       time.Duration
	QueueSize          int // stanzas waiting per remote domain
	MaxConnections     int // inbound streams per remote domain
	Limits             xmppcore.Limits
	// noBidi turns XEP-0288 off (tests of the unidirectional paths).
	noBidi bool
	// Secret derives the dialback keys; it must stay the same across
	// restarts (a key issued before a restart is verified after it).
	Secret []byte
}

// Resolver is the part of net.Resolver the service uses.
type Resolver interface {
	LookupSRV(ctx context.Context, service, proto, name string) (string, []*net.SRV, error)
}

// Deps are what the service uses from the rest of the server.
type Deps struct {
	Router   *router.Router
	Certs    *certs.Manager
	Logger   *slog.Logger
	Resolver Resolver                                                          // nil: net.DefaultResolver
	Dial     func(ctx context.Context, network, addr string) (net.Conn, error) // nil: net.Dialer
}

// Service is the federation link of the router.
type Service struct {
	cfg      Config
	deps     Deps
	log      *slog.Logger
	allow    map[string]bool
	deny     map[string]bool
	dbSecret [32]byte
	tlsIn    *tls.Config
	tlsInDT  *tls.Config

	ctx    context.Context
	cancel context.CancelFunc

	mu        sync.Mutex
	links     map[string]*link // by remote domain
	conns     map[*conn]struct{}
	inbound   map[string]int // authenticated inbound streams per remote domain
	listeners []net.Listener
	closed    bool
	wg        sync.WaitGroup
}

var _ router.Remote = (*Service)(nil) // interface guard

// New returns a service; Listen and Serve start it.
func New(cfg Config, deps Deps) *Service {
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	if deps.Resolver == nil {
		deps.Resolver = net.DefaultResolver
	}
	if deps.Dial == nil {
		d := &net.Dialer{}
		deps.Dial = d.DialContext
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 30 * time.Second
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 1000
	}
	if cfg.MaxConnections <= 0 {
		cfg.MaxConnections = 4
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 10 * time.Minute
	}
	if cfg.NegotiationTimeout <= 0 {
		cfg.NegotiationTimeout = 30 * time.Second
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	s := &Service{cfg: cfg, deps: deps, log: deps.Logger.With("component", "s2s"),
		allow: map[string]bool{}, deny: map[string]bool{},
		links: map[string]*link{}, conns: map[*conn]struct{}{}, inbound: map[string]int{}}
	for _, d := range cfg.Allow {
		s.allow[d] = true
	}
	for _, d := range cfg.Deny {
		s.deny[d] = true
	}
	// The dialback secret is derived, so that the server secret itself
	// never keys anything a peer sees.
	h := sha256.New()
	h.Write([]byte("parley s2s dialback\x00"))
	h.Write(cfg.Secret)
	copy(s.dbSecret[:], h.Sum(nil))
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if deps.Certs != nil {
		s.tlsIn = deps.Certs.TLSConfig()
		// Ask for the peer's certificate: it may authenticate it (SASL
		// EXTERNAL) or let dialback succeed without a callback.
		s.tlsIn.ClientAuth = tls.RequestClientCert
		s.tlsInDT = s.tlsIn.Clone()
		s.tlsInDT.NextProtos = []string{"xmpp-server"}
	}
	return s
}

// Listen binds the listeners, so that a busy port fails the start.
func (s *Service) Listen() error {
	for _, list := range []struct {
		addrs  []string
		direct bool
	}{{s.cfg.Listen, false}, {s.cfg.DirectTLS, true}} {
		for _, a := range list.addrs {
			ln, err := net.Listen("tcp", a)
			if err != nil {
				s.closeListeners()
				return fmt.Errorf("s2s: listen %s: %w", a, err)
			}
			s.listeners = append(s.listeners, &taggedListener{ln, list.direct})
		}
	}
	return nil
}

type taggedListener struct {
	net.Listener
	direct bool
}

// Addrs returns the bound addresses: STARTTLS ones, then direct TLS ones.
func (s *Service) Addrs() (starttls, direct []net.Addr) {
	for _, ln := range s.listeners {
		if ln.(*taggedListener).direct {
			direct = append(direct, ln.Addr())
		} else {
			starttls = append(starttls, ln.Addr())
		}
	}
	return starttls, direct
}

// Serve accepts remote servers until Shutdown.
func (s *Service) Serve() {
	for _, ln := range s.listeners {
		tl := ln.(*taggedListener)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			for {
				nc, err := tl.Accept()
				if err != nil {
					if s.ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
						s.log.Warn("accept failed", "err", err)
						time.Sleep(50 * time.Millisecond)
						continue
					}
					return
				}
				s.wg.Add(1)
				go func() {
					defer s.wg.Done()
					s.serveIn(nc, tl.direct)
				}()
			}
		}()
	}
}

func (s *Service) closeListeners() {
	for _, ln := range s.listeners {
		ln.Close()
	}
}

// Shutdown stops accepting and closes every stream with system-shutdown
// after what is queued on it has been written.
func (s *Service) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	s.cancel()
	s.closeListeners()
	for _, c := range conns {
		if c.running.Load() {
			c.close(errShutdown, "")
		} else {
			// Still negotiating: end the wait for the peer now.
			_ = c.nc.SetDeadline(time.Now())
		}
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Service) track(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Service) untrack(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// Deliver implements router.Remote: it queues st for its remote domain.
// An error makes the router answer remote-server-not-found.
func (s *Service) Deliver(ctx context.Context, st *router.Stanza) error {
	remote := st.To.Domainpart()
	if !s.permitted(remote) {
		s.log.Info("stanza to a domain federation does not reach", "to", remote, "from", st.From.String())
		return errNotPermitted
	}
	local := st.From.Domainpart()
	if !s.deps.Router.Serves(local) {
		// Only what this server's users and services send leaves it.
		s.log.Info("dropping stanza for a remote domain from a domain not served here", "from", st.From.String(), "to", st.To.String())
		return nil
	}
	if c := s.bidiStream(remote, local); c != nil && c.send(st.El) {
		return nil
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errShuttingDown
	}
	l := s.links[remote]
	if l == nil {
		l = &link{svc: s, remote: remote, pending: map[string][]*router.Stanza{}, authing: map[string]bool{}}
		s.links[remote] = l
	}
	s.mu.Unlock()
	l.enqueue(st)
	return nil
}

// bidiStream returns an inbound stream from remote on which bidi was
// enabled and that may carry stanzas from local to remote.
func (s *Service) bidiStream(remote, local string) *conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if !c.outbound && c.bidi.Load() && c.canSend(local, remote) {
			return c
		}
	}
	return nil
}

// bounce answers st with a stanza error from the remote domain.
func (s *Service) bounce(st *router.Stanza, cond stanza.Condition, text string) {
	s.deps.Router.Error(s.ctx, st, xmppcore.NewError(cond, text))
}

var (
	errNotPermitted = errors.New("s2s: federation with this domain is not permitted")
	errShuttingDown = errors.New("s2s: shutting down")
)
