package bosh

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"parley.im/parley/c2s"
	"parley.im/parley/xmppcore"
)

// Defaults of Config.
const (
	DefaultMaxWait       = 60 * time.Second
	DefaultMaxHold       = 1
	DefaultInactivity    = 60 * time.Second
	DefaultMaxPause      = 120 * time.Second
	DefaultPolling       = 2 * time.Second
	DefaultMaxSessions   = 10000
	DefaultMaxOutBytes   = 4 << 20
	DefaultMaxBodyFrames = 4 // bodies may hold this many frames' worth of bytes
)

// ServeFunc runs one framed XMPP session to its end: c2s.Server.ServeFramed.
type ServeFunc func(ctx context.Context, fc c2s.FramedConn, info c2s.FramedInfo)

// Config configures the handler.
type Config struct {
	// Serve runs the XMPP sessions (required).
	Serve ServeFunc
	// Hosts reports whether a domain is served; 'to' must name one.
	Hosts func(domain string) bool
	// MaxWait bounds the 'wait' a client may ask for: the longest a request
	// is held without anything to send.
	MaxWait time.Duration
	// MaxHold bounds the 'hold' a client may ask for.
	MaxHold int
	// Inactivity is how long a session lives with no request held.
	Inactivity time.Duration
	// MaxPause bounds the 'pause' a client may ask for.
	MaxPause time.Duration
	// Polling is the shortest interval between two empty requests of a
	// polling session (hold 0).
	Polling time.Duration
	// MaxSessions bounds the BOSH sessions alive at once.
	MaxSessions int
	// MaxFrameSize bounds one payload (c2s.Server.MaxFrameSize); a body may
	// hold DefaultMaxBodyFrames times that.
	MaxFrameSize int
	// Limits are the stream parser's limits, applied to each payload.
	Limits xmppcore.Limits
	// MaxOutBytes bounds what waits for the client to ask for it; a
	// session that lets more pile up is ended.
	MaxOutBytes int
	// AllowedOrigins lists the origins allowed by CORS; empty or "*" allows
	// any (a BOSH request carries no ambient credential: the sid in the
	// body is the session).
	AllowedOrigins []string
	// Client returns the client's address and whether the request reached
	// us securely; ProxyClient(nil) when nil.
	Client func(r *http.Request) (netip.Addr, bool)
	Logger *slog.Logger
	// Now is the clock for the polling rule (time.Now when nil).
	Now func() time.Time
}

// Handler is the BOSH connection manager: an http.Handler for /http-bind.
type Handler struct {
	cfg Config
	log *slog.Logger
	ctx context.Context // of the XMPP sessions: they end through their transport

	mu       sync.Mutex
	sessions map[string]*session
	closing  bool
	wg       sync.WaitGroup
}

// New returns the handler.
func New(cfg Config) *Handler {
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = DefaultMaxWait
	}
	if cfg.MaxHold <= 0 {
		cfg.MaxHold = DefaultMaxHold
	}
	if cfg.Inactivity <= 0 {
		cfg.Inactivity = DefaultInactivity
	}
	if cfg.MaxPause <= 0 {
		cfg.MaxPause = DefaultMaxPause
	}
	if cfg.Polling <= 0 {
		cfg.Polling = DefaultPolling
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = DefaultMaxSessions
	}
	if cfg.MaxFrameSize <= 0 {
		cfg.MaxFrameSize = xmppcore.DefaultLimits.MaxStanzaSize + 1024
	}
	if cfg.MaxOutBytes <= 0 {
		cfg.MaxOutBytes = DefaultMaxOutBytes
	}
	if cfg.Hosts == nil {
		cfg.Hosts = func(string) bool { return true }
	}
	if cfg.Client == nil {
		cfg.Client = ProxyClient(nil)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Handler{cfg: cfg, log: log.With("component", "bosh"), ctx: context.Background(),
		sessions: make(map[string]*session)}
}

// Sessions returns the number of live sessions.
func (h *Handler) Sessions() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.sessions)
}

// Shutdown answers every held request with system-shutdown and ends the
// sessions' transports; the XMPP sessions end through c2s. Register it
// with the web server's OnShutdown, so that long polls do not hold the
// server's shutdown up.
func (h *Handler) Shutdown() {
	h.mu.Lock()
	h.closing = true
	all := make([]*session, 0, len(h.sessions))
	for _, s := range h.sessions {
		all = append(all, s)
	}
	h.mu.Unlock()
	for _, s := range all {
		s.end("system-shutdown", nil)
	}
}

// Wait waits until every session's XMPP side has returned (ctx bounds it).
func (h *Handler) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { h.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *Handler) forget(s *session) {
	h.mu.Lock()
	if h.sessions[s.sid] == s {
		delete(h.sessions, s.sid)
	}
	h.mu.Unlock()
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	if origin := r.Header.Get("Origin"); origin != "" {
		if !h.originAllowed(origin) {
			h.log.Info("bosh: origin refused", "origin", origin)
			http.Error(w, "origin not allowed", http.StatusForbidden)
			return
		}
		hdr.Set("Access-Control-Allow-Origin", origin)
		hdr.Add("Vary", "Origin")
	}
	switch r.Method {
	case http.MethodOptions:
		hdr.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
		hdr.Set("Access-Control-Allow-Headers", "Content-Type")
		hdr.Set("Access-Control-Max-Age", "86400")
		w.WriteHeader(http.StatusNoContent)
		return
	case http.MethodPost:
	default:
		hdr.Set("Allow", "POST, OPTIONS")
		http.Error(w, "BOSH expects POST", http.StatusMethodNotAllowed)
		return
	}
	limit := int64(h.cfg.MaxFrameSize) * DefaultMaxBodyFrames
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			h.log.Info("bosh: request body too large", "limit", limit)
			write(w, http.StatusOK, terminate("policy-violation"))
			return
		}
		return // the client went away
	}
	b, err := parseBody(raw, h.limits())
	if err != nil {
		h.log.Info("bosh: bad request", "err", err)
		write(w, http.StatusOK, terminate("bad-request"))
		return
	}
	sid := b.attr("sid")
	if sid == "" {
		h.create(w, r, b)
		return
	}
	h.mu.Lock()
	s := h.sessions[sid]
	h.mu.Unlock()
	if s == nil {
		h.log.Info("bosh: unknown sid")
		write(w, http.StatusOK, terminate("item-not-found"))
		return
	}
	s.handle(w, r, b)
}

func (h *Handler) limits() xmppcore.Limits {
	lim := h.cfg.Limits
	if lim.MaxStanzaSize <= 0 || lim.MaxStanzaSize > h.cfg.MaxFrameSize {
		lim.MaxStanzaSize = h.cfg.MaxFrameSize
	}
	return lim
}

func (h *Handler) originAllowed(origin string) bool {
	if len(h.cfg.AllowedOrigins) == 0 {
		return true
	}
	return slices.Contains(h.cfg.AllowedOrigins, "*") || slices.ContainsFunc(h.cfg.AllowedOrigins, func(o string) bool {
		return strings.EqualFold(strings.TrimSuffix(o, "/"), origin)
	})
}

// write sends a response body.
func write(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h.Set("Content-Type", "text/xml; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(b)
}

// create starts a session (XEP-0124 §7.1, XEP-0206 §3).
func (h *Handler) create(w http.ResponseWriter, r *http.Request, b *body) {
	legacy := b.attr("ver") == ""
	fail := func(cond string, status int) {
		h.log.Info("bosh: session refused", "condition", cond)
		if !legacy {
			status = http.StatusOK
		}
		write(w, status, terminate(cond))
	}
	to := b.attr("to")
	if to == "" {
		fail("improper-addressing", http.StatusBadRequest)
		return
	}
	if !h.cfg.Hosts(to) {
		fail("host-unknown", http.StatusNotFound)
		return
	}
	wait, err := seconds(b.attr("wait"), h.cfg.MaxWait)
	if err != nil {
		fail("bad-request", http.StatusBadRequest)
		return
	}
	// wait='0' would turn every held request into a busy poll.
	wait = max(wait, min(time.Second, h.cfg.MaxWait))
	hold := 1
	if v := b.attr("hold"); v != "" {
		if hold, err = strconv.Atoi(v); err != nil || hold < 0 {
			fail("bad-request", http.StatusBadRequest)
			return
		}
	}
	hold = min(hold, h.cfg.MaxHold)
	ip, secure := h.cfg.Client(r)
	s := &session{h: h, sid: newSID(), wait: wait, hold: hold, requests: hold + 1,
		ver: version(b.attr("ver")), to: to, lang: b.attr("xml:lang"),
		lastRID: b.rid - 1, early: make(map[int64]*request), cache: make(map[int64][]byte),
		creating: true, createRID: b.rid}
	s.cond = sync.NewCond(&s.mu)
	h.mu.Lock()
	if h.closing || len(h.sessions) >= h.cfg.MaxSessions {
		h.mu.Unlock()
		h.log.Warn("bosh: too many sessions", "max", h.cfg.MaxSessions)
		fail("policy-violation", http.StatusForbidden)
		return
	}
	h.sessions[s.sid] = s
	h.wg.Add(1)
	h.mu.Unlock()
	h.log.Debug("bosh: session created", "sid_prefix", s.sid[:4], "ip", ip.String(), "wait", wait, "hold", hold)
	info := c2s.FramedInfo{Transport: "bosh", RemoteIP: ip, Secure: secure, TLS: r.TLS, Lang: s.lang}
	go func() {
		defer h.wg.Done()
		h.cfg.Serve(h.ctx, s, info)
		s.end("remote-connection-failed", nil) // in case c2s never closed
	}()
	s.handle(w, r, b)
}

// seconds parses a number of seconds, bounded by max; "" is max.
func seconds(v string, max time.Duration) (time.Duration, error) {
	if v == "" {
		return max, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, errors.New("bosh: not a number of seconds")
	}
	if d := time.Duration(n) * time.Second; d < max && n < 1<<31 {
		return d, nil
	}
	return max, nil
}

// version is the protocol version answered: the client's, up to 1.11.
func version(v string) string {
	major, minor, ok := strings.Cut(v, ".")
	ma, err1 := strconv.Atoi(major)
	mi, err2 := strconv.Atoi(minor)
	if !ok || err1 != nil || err2 != nil || ma > 1 || (ma == 1 && mi >= 11) {
		return "1.11"
	}
	return v
}

func newSID() string {
	b := make([]byte, 18)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
