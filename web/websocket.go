package web

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"parley.im/parley/c2s"
)

// Subprotocol is the RFC 7395 WebSocket subprotocol.
const Subprotocol = "xmpp"

var errBinaryFrame = errors.New("web: binary WebSocket message (XMPP uses text messages)")

// serveWebSocket upgrades an RFC 7395 request and hands the connection to
// c2s. Refusals happen before the upgrade, with an HTTP status: 426 for a
// request that is not a WebSocket handshake, 403 for a foreign Origin, 400
// without the xmpp subprotocol, 429 over the per-address limit, 503 while
// shutting down.
func (s *Server) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	ci := s.client(r)
	log := s.log.With("ip", ci.IP.String(), "transport", "websocket")
	if r.Method != http.MethodGet || !headerHasToken(r.Header, "Connection", "upgrade") || !headerHasToken(r.Header, "Upgrade", "websocket") {
		w.Header().Set("Connection", "Upgrade")
		w.Header().Set("Upgrade", "websocket")
		http.Error(w, "this is an XMPP WebSocket endpoint (RFC 7395): connect with a WebSocket client and the xmpp subprotocol", http.StatusUpgradeRequired)
		return
	}
	if origin := r.Header.Get("Origin"); origin != "" && !s.originAllowed(origin, r) {
		log.Info("websocket refused: origin not allowed", "origin", origin)
		http.Error(w, "origin not allowed", http.StatusForbidden)
		return
	}
	if !headerHasToken(r.Header, "Sec-WebSocket-Protocol", Subprotocol) {
		log.Info("websocket refused: no xmpp subprotocol", "offered", r.Header.Get("Sec-WebSocket-Protocol"))
		http.Error(w, `the "xmpp" WebSocket subprotocol is required (RFC 7395)`, http.StatusBadRequest)
		return
	}
	if !s.trackWS(ci) {
		log.Info("websocket refused: too many connections from this address or shutting down")
		w.Header().Set("Retry-After", "10")
		http.Error(w, "too many connections", http.StatusTooManyRequests)
		return
	}
	defer s.untrackWS(ci)

	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		Subprotocols:       []string{Subprotocol},
		InsecureSkipVerify: true, // originAllowed checked it above
	})
	if err != nil {
		log.Info("websocket handshake failed", "err", err)
		return
	}
	fc := s.newWSConn(ws)
	s.mu.Lock()
	s.wsConns[fc] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.wsConns, fc)
		s.mu.Unlock()
		_ = fc.Close()
	}()
	s.c2s.ServeFramed(r.Context(), fc, c2s.FramedInfo{
		Transport: "websocket",
		RemoteIP:  ci.IP,
		Secure:    ci.Secure,
		TLS:       r.TLS,
	})
}

// trackWS counts a WebSocket against limits.max_connections_per_ip. c2s
// applies the same limit to all its connections together, TCP included;
// this check answers a flood of upgrades with 429 before any upgrade.
func (s *Server) trackWS(ci clientInfo) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.wsClosing {
		return false
	}
	if max := s.cfg.Limits.MaxConnectionsPerIP; max > 0 && s.wsPerIP[ci.IP] >= max {
		return false
	}
	s.wsPerIP[ci.IP]++
	return true
}

func (s *Server) untrackWS(ci clientInfo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.wsPerIP[ci.IP]--; s.wsPerIP[ci.IP] <= 0 {
		delete(s.wsPerIP, ci.IP)
	}
}

// originAllowed: the page's origin is this server (the request's host, or
// web.public_url), or is listed in web.websocket.allowed_origins ("*" =
// any).
func (s *Server) originAllowed(origin string, r *http.Request) bool {
	o, err := url.Parse(origin)
	if err != nil || o.Host == "" {
		return false
	}
	norm := strings.ToLower(o.Scheme + "://" + o.Host)
	for _, a := range s.cfg.Web.WebSocket.AllowedOrigins {
		if a == "*" || strings.ToLower(strings.TrimSuffix(a, "/")) == norm {
			return true
		}
	}
	if strings.EqualFold(o.Host, s.client(r).Host) {
		return true
	}
	if pu := s.cfg.Web.PublicURL; pu != "" {
		if u, err := url.Parse(pu); err == nil && strings.EqualFold(u.Host, o.Host) {
			return true
		}
	}
	return false
}

func headerHasToken(h http.Header, key, token string) bool {
	for _, v := range h.Values(key) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// wsConn is a c2s.FramedConn over one WebSocket: one text message per
// frame in both directions.
type wsConn struct {
	ws       *websocket.Conn
	ctx      context.Context // canceled by Close
	cancel   context.CancelFunc
	maxFrame int
	wtimeout time.Duration
	ping     time.Duration
	pingWait time.Duration

	reads     atomic.Uint64 // messages read, for the keepalive
	lastReads uint64        // keepalive's view of reads; only the timer touches it
	timer     *time.Timer
	closeOnce sync.Once
	closeCode atomic.Int32 // the WebSocket close status Close sends; 0 = normal
}

var _ c2s.FramedConn = (*wsConn)(nil) // interface guard

func (s *Server) newWSConn(ws *websocket.Conn) *wsConn {
	max := s.c2s.MaxFrameSize()
	// One byte over the limit is read so that c2s sees the frame is too
	// large and answers with a stream error, instead of the connection
	// just dropping.
	ws.SetReadLimit(int64(max) + 1)
	ctx, cancel := context.WithCancel(context.Background())
	c := &wsConn{
		ws: ws, ctx: ctx, cancel: cancel, maxFrame: max,
		wtimeout: s.cfg.C2S.WriteTimeout,
		ping:     s.cfg.Web.WebSocket.PingInterval,
		pingWait: s.cfg.C2S.PingTimeout,
	}
	if c.wtimeout <= 0 {
		c.wtimeout = 30 * time.Second
	}
	if c.pingWait <= 0 {
		c.pingWait = 30 * time.Second
	}
	if c.ping > 0 {
		// One timer per connection, no goroutine while idle.
		c.timer = time.AfterFunc(c.ping, c.keepalive)
	}
	return c
}

// keepalive sends a WebSocket ping after ping_interval without a message
// from the client, and closes the connection if no pong comes back within
// c2s.ping_timeout. The c2s reader, always blocked in ReadFrame, is what
// reads the pong.
func (c *wsConn) keepalive() {
	if c.ctx.Err() != nil {
		return
	}
	if n := c.reads.Load(); n != c.lastReads {
		c.lastReads = n
		c.timer.Reset(c.ping)
		return
	}
	ctx, cancel := context.WithTimeout(c.ctx, c.pingWait)
	err := c.ws.Ping(ctx)
	cancel()
	if err != nil {
		if c.ctx.Err() == nil {
			_ = c.ws.CloseNow()
		}
		return
	}
	c.timer.Reset(c.ping)
}

// ReadFrame returns the next text message, whole. A message over the frame
// limit is returned cut at limit+1 bytes, which c2s refuses with a
// policy-violation stream error.
func (c *wsConn) ReadFrame() ([]byte, error) {
	typ, r, err := c.ws.Reader(c.ctx)
	if err != nil {
		return nil, err
	}
	c.reads.Add(1)
	if typ != websocket.MessageText {
		// c2s closes the transport on this error; the close frame says why.
		c.closeCode.Store(int32(websocket.StatusUnsupportedData))
		return nil, errBinaryFrame
	}
	b, err := io.ReadAll(io.LimitReader(r, int64(c.maxFrame)+1))
	if err != nil {
		return nil, err
	}
	return b, nil
}

// WriteFrames writes each frame as one text message.
func (c *wsConn) WriteFrames(frames [][]byte) error {
	ctx, cancel := context.WithTimeout(c.ctx, c.wtimeout)
	defer cancel()
	for _, f := range frames {
		if err := c.ws.Write(ctx, websocket.MessageText, f); err != nil {
			return err
		}
	}
	return nil
}

// Close starts the WebSocket closing handshake and returns at once: the
// handshake waits (at most 5 s) for the client's close frame, which the
// blocked reader or the handshake itself reads.
func (c *wsConn) Close() error {
	c.closeOnce.Do(func() {
		if c.timer != nil {
			c.timer.Stop()
		}
		code, reason := websocket.StatusNormalClosure, ""
		if cc := websocket.StatusCode(c.closeCode.Load()); cc != 0 {
			code, reason = cc, "XMPP over WebSocket uses text messages (RFC 7395)"
		}
		go func() {
			_ = c.ws.Close(code, reason)
			c.cancel()
		}()
	})
	return nil
}
