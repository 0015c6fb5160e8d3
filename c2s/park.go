package c2s

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"parley.im/parley/xmppcore"
)

// Parking. A bound TCP session that has been silent for parkAfter, its
// parser between two top-level elements, gives up its reader goroutine
// (and the stack it grew during negotiation) and its read buffer: the
// socket goes to the Server's poller (one epoll instance and goroutine for
// all parked sessions), and the read loop resumes on a new goroutine when
// the socket is readable (data, FIN, RST) or when something must wake the
// reader: Close, the transport being closed (write failure, a resumption
// taking the session over, shutdown) or the idle ping coming due. Writers
// already exist only while there is work, so a parked session holds no
// goroutine at all.
//
// Under TLS this is safe because tls.Conn.Read only blocks (and times out)
// when it needs more bytes: it holds no complete record and no plaintext
// then, and a partial record stays in the tls.Conn until the rest arrives,
// which makes the socket readable.

// parkAfter is how long a session's reader waits without traffic before it
// parks. The read deadline fires that often, whatever the idle timeout.
var parkAfter = 2 * time.Second

// parkList is the poller's record of parked sessions by token.
type parkList struct {
	mu     sync.Mutex
	parked map[uint64]*conn
	next   uint64 // last token given; tokens are never reused
	broken bool   // the event loop failed: nothing parks any more
	log    *slog.Logger
	mem    releaser // returns free memory after a wave of parks (release.go)
}

// parking is a Server's poller, created on first use.
type parking struct {
	mu      sync.Mutex
	p       atomic.Pointer[poller]
	failed  bool
	stopped bool
}

func (pk *parking) get(log *slog.Logger) *poller {
	if p := pk.p.Load(); p != nil {
		return p
	}
	pk.mu.Lock()
	defer pk.mu.Unlock()
	if p := pk.p.Load(); p != nil || pk.failed || pk.stopped || !parkSupported {
		return p
	}
	p, err := newPoller()
	if err != nil {
		pk.failed = true
		log.Warn("idle sessions keep their reader: no poller", "err", err)
		return nil
	}
	p.log = log
	go p.run()
	pk.p.Store(p)
	return p
}

// stop ends the poller once no session can park any more (Shutdown).
func (pk *parking) stop() {
	pk.mu.Lock()
	defer pk.mu.Unlock()
	pk.stopped = true
	if p := pk.p.Swap(nil); p != nil {
		p.mem.stop()
		p.stop()
	}
}

func (p *poller) init() { p.parked = make(map[uint64]*conn) }

// park records c and registers its socket. It reports false if c must go
// on reading on the calling goroutine. Once it returns true, another
// goroutine may run c's read loop at any moment: the caller must not touch
// c any more.
func (p *poller) park(c *conn, rc syscall.RawConn, wakeIn time.Duration) bool {
	p.mu.Lock()
	if p.broken {
		p.mu.Unlock()
		return false
	}
	p.next++
	tok := p.next
	p.parked[tok] = c
	c.parkTok = tok
	if wakeIn > 0 {
		if c.parkTimer == nil {
			c.parkTimer = time.AfterFunc(wakeIn, func() { p.unpark(c) })
		} else {
			c.parkTimer.Reset(wakeIn)
		}
	}
	p.mu.Unlock()
	if c.closing.Load() {
		// Closed while parking: Close looked for a parked reader before
		// this one was recorded (or finds it and resumes it).
		p.mu.Lock()
		mine := p.takeLocked(tok) != nil
		p.mu.Unlock()
		return !mine
	}
	if err := p.watch(rc, tok); err != nil {
		// The socket was closed meanwhile: the read will tell.
		p.mu.Lock()
		mine := p.takeLocked(tok) != nil
		p.mu.Unlock()
		return !mine // otherwise someone has woken it already
	}
	p.mem.parked()
	return true
}

// takeLocked removes the parked session with token tok, if it is still
// parked: whoever removes it resumes it, exactly once.
func (p *poller) takeLocked(tok uint64) *conn {
	c := p.parked[tok]
	if c == nil {
		return nil
	}
	delete(p.parked, tok)
	c.parkTok = 0
	if c.parkTimer != nil {
		c.parkTimer.Stop()
	}
	return c
}

// ready resumes the session whose socket became readable.
func (p *poller) ready(tok uint64) {
	p.mu.Lock()
	c := p.takeLocked(tok)
	p.mu.Unlock()
	if c != nil {
		go c.resume(p)
	}
}

// unpark resumes c if it is parked.
func (p *poller) unpark(c *conn) {
	p.mu.Lock()
	if c.parkTok == 0 {
		p.mu.Unlock()
		return
	}
	c = p.takeLocked(c.parkTok)
	p.mu.Unlock()
	if c != nil {
		go c.resume(p)
	}
}

// failed resumes every parked session when the event loop cannot go on;
// they keep their readers from then on.
func (p *poller) failed(err error) {
	p.mu.Lock()
	p.broken = true
	var all []*conn
	for tok := range p.parked {
		all = append(all, p.takeLocked(tok))
	}
	p.mu.Unlock()
	p.log.Error("session poller failed; idle sessions keep their readers", "err", err)
	for _, c := range all {
		go c.resume(p)
	}
}

// unpark wakes c's reader if it is parked, for whatever would have woken a
// reader blocked in Read (Close, the transport closed).
func (c *conn) unpark() {
	if p := c.srv.park.p.Load(); p != nil {
		p.unpark(c)
	}
}

// rawConn is the TCP socket's, for the poller; nil if there is none.
func (c *conn) rawConn() syscall.RawConn {
	sc, ok := c.nc.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// canPark reports whether this session's reader may park: TCP (not a
// framed transport) on a platform with a poller.
func (c *conn) canPark() bool {
	return parkSupported && c.fc == nil && c.rawConn() != nil
}

// nextDeadline is when the reader must next look at the session: at the
// idle (or ping) deadline, and after parkAfter if it may park.
func (c *conn) nextDeadline(now time.Time) time.Time {
	var d time.Time
	if c.srv.cfg.IdleTimeout > 0 {
		d = c.idleDue
	}
	if c.parkable {
		if p := now.Add(parkAfter); d.IsZero() || p.Before(d) {
			d = p
		}
	}
	return d
}

// park hands the session to the poller after the reader stopped with
// xmppcore.ErrPark. It reports false if the reader must go on instead.
func (c *conn) park(ctx context.Context, log *slog.Logger, done func()) bool {
	p := c.srv.park.get(c.srv.log)
	rc := c.rawConn()
	if p == nil || rc == nil {
		c.parkable = false
		_ = c.c.SetReadDeadline(c.nextDeadline(time.Now()))
		return false
	}
	c.br.Release()
	// The logger (a few hundred bytes with its attributes) is made again
	// on resume: a parked session keeps only what it cannot rebuild.
	c.resumeCtx, c.resumeDone = ctx, done
	var wakeIn time.Duration
	if c.srv.cfg.IdleTimeout > 0 {
		wakeIn = max(time.Until(c.idleDue), time.Millisecond)
	}
	if p.park(c, rc, wakeIn) {
		return true
	}
	_ = c.c.SetReadDeadline(c.nextDeadline(time.Now()))
	return false
}

// resume runs the read loop of a session that was parked, on a new
// goroutine.
func (c *conn) resume(p *poller) {
	if rc := c.rawConn(); rc != nil {
		p.unwatch(rc)
	}
	_ = c.c.SetReadDeadline(c.nextDeadline(time.Now()))
	ctx, done := c.resumeCtx, c.resumeDone
	c.resumeCtx, c.resumeDone = nil, nil
	c.readOn(ctx, c.srv.log.With("remote", c.remoteAddr(), "jid", c.jid.String()), done)
}

// isPark reports whether a read loop stopped to park.
func isPark(err error) bool { return err == xmppcore.ErrPark }

// ParkedCount returns the number of sessions whose reader is parked.
func (s *Server) ParkedCount() int {
	p := s.park.p.Load()
	if p == nil {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.parked)
}
