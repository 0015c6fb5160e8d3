package web

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"parley.im/parley/c2s"
	"parley.im/parley/config"
	"parley.im/parley/storage"
	"parley.im/parley/web/webclient"
)

// Options are what the web server is built from. Config is the whole
// configuration: [web] plus the hosts, limits, registration and MUC settings
// the endpoints announce.
type Options struct {
	Config *config.Config
	// C2S runs the WebSocket sessions (c2s.Server.ServeFramed); nil
	// disables /xmpp-websocket.
	C2S *c2s.Server
	// Certs serves the hosts' certificates by SNI on the HTTPS listeners.
	Certs interface{ TLSConfig() *tls.Config }
	// Store is pinged by /healthz.
	Store pinger
	// Metrics is served at /metrics; nil disables it.
	Metrics *Metrics
	Logger  *slog.Logger
	// Handlers are mounted on the mux as they are (pattern → handler), for
	// endpoints other packages own: BOSH at "/http-bind", HTTP upload under
	// its path. A BOSH handler at BOSHPath is announced in host-meta.
	Handlers map[string]http.Handler
}

// BOSHPath is where the BOSH handler is mounted and announced.
const BOSHPath = "/http-bind"

// WebSocketPath is the RFC 7395 endpoint.
const WebSocketPath = "/xmpp-websocket"

// Server is the HTTP server: its listeners, its mux and the per-IP
// WebSocket counters.
type Server struct {
	cfg     *config.Config
	log     *slog.Logger
	c2s     *c2s.Server
	store   pinger
	metrics *Metrics
	mux     *http.ServeMux
	srv     *http.Server

	trusted     []netip.Prefix
	metricsFrom []netip.Prefix
	boshMounted bool

	mu        sync.Mutex
	plain     []net.Listener
	secure    []net.Listener
	wsPerIP   map[netip.Addr]int
	wsConns   map[*wsConn]struct{}
	wsClosing bool
}

// New builds the server and its routes; Listen binds the addresses.
func New(opts Options) (*Server, error) {
	if opts.Config == nil {
		return nil, errors.New("web: no configuration")
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	wc := opts.Config.Web
	s := &Server{
		cfg:     opts.Config,
		log:     log.With("component", "web"),
		c2s:     opts.C2S,
		store:   opts.Store,
		metrics: opts.Metrics,
		mux:     http.NewServeMux(),
		wsPerIP: map[netip.Addr]int{},
		wsConns: map[*wsConn]struct{}{},
	}
	var err error
	if s.trusted, err = webclient.ParsePrefixes(wc.TrustedProxies); err != nil {
		return nil, fmt.Errorf("web: trusted_proxies: %w", err)
	}
	if s.metricsFrom, err = webclient.ParsePrefixes(wc.Metrics.Allow); err != nil {
		return nil, fmt.Errorf("web: metrics.allow: %w", err)
	}
	s.routes(opts.Handlers)
	s.srv = &http.Server{
		Handler:           s.mux,
		ReadHeaderTimeout: wc.ReadHeaderTimeout,
		// No ReadTimeout or WriteTimeout: they would cut WebSocket
		// connections and BOSH long polls, which bound their own time.
		IdleTimeout:    wc.IdleTimeout,
		MaxHeaderBytes: wc.MaxHeaderBytes,
		ErrorLog:       slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	if opts.Certs != nil {
		s.srv.TLSConfig = opts.Certs.TLSConfig()
		s.srv.TLSConfig.NextProtos = []string{"h2", "http/1.1"}
	}
	return s, nil
}

func (s *Server) routes(extra map[string]http.Handler) {
	wc := s.cfg.Web
	if wc.WebSocket.Enabled && s.c2s != nil {
		s.mux.Handle(WebSocketPath, http.HandlerFunc(s.serveWebSocket))
	}
	s.mux.HandleFunc("GET /.well-known/host-meta", s.serveHostMeta)
	s.mux.HandleFunc("GET /.well-known/host-meta.json", s.serveHostMeta)
	s.mux.HandleFunc("OPTIONS /.well-known/", serveCORSPreflight)
	s.mux.HandleFunc("GET /healthz", s.serveHealth)
	if wc.Metrics.Enabled && s.metrics != nil {
		s.mux.Handle("GET /metrics", s.restrictMetrics(s.metrics.Handler()))
	}
	if wc.Chat.Enabled {
		s.mountChat()
	}
	for pattern, h := range extra {
		if pattern == BOSHPath || strings.HasSuffix(pattern, " "+BOSHPath) {
			s.boshMounted = true
		}
		s.mux.Handle(pattern, h)
	}
}

// Handle mounts h at pattern (net/http.ServeMux syntax); call it before
// Serve. It is the same as passing the pair in Options.Handlers.
func (s *Server) Handle(pattern string, h http.Handler) {
	if pattern == BOSHPath {
		s.boshMounted = true
	}
	s.mux.Handle(pattern, h)
}

// OnShutdown registers f to run when Shutdown starts, before in-flight
// requests are waited for: handlers that hold requests open (BOSH long
// polls) use it to answer them at once.
func (s *Server) OnShutdown(f func()) { s.srv.RegisterOnShutdown(f) }

// Handler returns the mux, for tests.
func (s *Server) Handler() http.Handler { return s.mux }

// Listen binds the [web] http and https addresses.
func (s *Server) Listen() error {
	var lc net.ListenConfig
	bind := func(addrs []string, tlsOn bool) error {
		for _, a := range addrs {
			l, err := lc.Listen(context.Background(), "tcp", a)
			if err != nil {
				return fmt.Errorf("web: listen %s: %w", a, err)
			}
			s.mu.Lock()
			if tlsOn {
				s.secure = append(s.secure, l)
			} else {
				s.plain = append(s.plain, l)
			}
			s.mu.Unlock()
		}
		return nil
	}
	if err := bind(s.cfg.Web.HTTP, false); err != nil {
		s.closeListeners()
		return err
	}
	if len(s.cfg.Web.HTTPS) > 0 && s.srv.TLSConfig == nil {
		s.closeListeners()
		return errors.New("web: https listeners need certificates")
	}
	if err := bind(s.cfg.Web.HTTPS, true); err != nil {
		s.closeListeners()
		return err
	}
	return nil
}

func (s *Server) closeListeners() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range append(s.plain, s.secure...) {
		_ = l.Close()
	}
	s.plain, s.secure = nil, nil
}

// Addrs returns the bound plain and TLS addresses.
func (s *Server) Addrs() (plain, secure []net.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.plain {
		plain = append(plain, l.Addr())
	}
	for _, l := range s.secure {
		secure = append(secure, l.Addr())
	}
	return plain, secure
}

// Serve serves every bound listener in the background. ctx is the parent
// of the WebSocket sessions' contexts.
func (s *Server) Serve(ctx context.Context) {
	s.srv.BaseContext = func(net.Listener) context.Context { return context.WithoutCancel(ctx) }
	s.mu.Lock()
	plain, secure := s.plain, s.secure
	s.mu.Unlock()
	run := func(l net.Listener, tlsOn bool) {
		var err error
		if tlsOn {
			err = s.srv.ServeTLS(l, "", "")
		} else {
			err = s.srv.Serve(l)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("http listener stopped", "addr", l.Addr().String(), "err", err)
		}
	}
	for _, l := range plain {
		go run(l, false)
	}
	for _, l := range secure {
		go run(l, true)
	}
	s.log.Info("web listening", "http", addrStrings(plain), "https", addrStrings(secure))
}

func addrStrings(ls []net.Listener) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.Addr().String()
	}
	return out
}

// Shutdown stops accepting HTTP requests and waits for those in flight
// (ctx bounds the wait). WebSocket sessions are not closed here: they
// belong to c2s, whose Shutdown (called after this one) ends them with
// system-shutdown; new upgrades are refused from now on.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.wsClosing = true
	s.mu.Unlock()
	err := s.srv.Shutdown(ctx)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// Close cuts everything at once, WebSocket connections included.
func (s *Server) Close() error {
	s.mu.Lock()
	s.wsClosing = true
	conns := make([]*wsConn, 0, len(s.wsConns))
	for c := range s.wsConns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
	return s.srv.Close()
}

// pingStore is the readiness check: storage answers within a second.
func (s *Server) pingStore(ctx context.Context) error {
	if s.store == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	return s.store.Ping(ctx)
}

// pinger is the part of storage.Store that /healthz uses.
type pinger interface {
	Ping(ctx context.Context) error
}

var _ pinger = storage.Store(nil)
