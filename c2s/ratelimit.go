package c2s

import (
	"errors"
	"math"
	"net"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"
)

// Per-connection read rate (c2s.read_rate), as ejabberd's shapers and
// Prosody's mod_limits do it: a connection that has read more than its
// rate allows (a burst aside) waits before its next read. Meanwhile its
// bytes stay in the socket's receive buffer, whose window closes, so the
// client's own writes block: the push-back reaches the flooder and nobody
// else, and the reader time it no longer takes goes to the other
// connections.

// shapedListener gives every connection it accepts its own read rate.
type shapedListener struct {
	net.Listener
	rate  int // bytes per second; 0: unlimited
	burst int // bytes; 0: one second's worth
}

func (l *shapedListener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return newShapedConn(nc, l.rate, l.burst, time.Now()), nil
}

// bucket is a token bucket of bytes. Reads are paid after the fact (their
// size is only known then), so the tokens may go negative: the debt is
// waited out before the next read.
type bucket struct {
	rate   float64 // tokens per second
	burst  float64 // most tokens kept
	tokens float64
	last   time.Time // of the last refill
}

func newBucket(rate, burst int, now time.Time) bucket {
	if rate <= 0 {
		// No limit: the tokens never run out.
		return bucket{rate: 1, burst: math.Inf(1), tokens: math.Inf(1), last: now}
	}
	if burst <= 0 {
		burst = rate
	}
	return bucket{rate: float64(rate), burst: float64(burst), tokens: float64(burst), last: now}
}

func (b *bucket) refill(now time.Time) {
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(b.burst, b.tokens+d.Seconds()*b.rate)
		b.last = now
	}
}

// wait returns how long from now the bucket stays in debt.
func (b *bucket) wait(now time.Time) time.Duration {
	b.refill(now)
	if b.tokens >= 0 {
		return 0
	}
	return time.Duration(-b.tokens / b.rate * float64(time.Second))
}

// charge takes n tokens. Only a read that runs into debt needs the time,
// to refill first: within its rate, a connection reads no clock.
func (b *bucket) charge(n int, now func() time.Time) {
	if b.tokens < float64(n) {
		b.refill(now())
	}
	b.tokens -= float64(n)
}

// shapedConn is a connection whose reads keep to a rate. Only the reader
// (one goroutine at a time) calls Read; deadlines and Close may come from
// anywhere, and they cut a pause short, so that Close still wakes a reader
// at once and a read deadline still ends a read on time.
type shapedConn struct {
	net.Conn
	b        bucket        // the reader's
	timer    *time.Timer   // the reader's, for pauses
	behind   bool          // the reader's: the last read filled its buffer
	deadline atomic.Int64  // read deadline, unix ns; 0: none
	closed   atomic.Bool   //
	wake     chan struct{} // 1-buffered: a deadline was set, or Close
}

func newShapedConn(nc net.Conn, rate, burst int, now time.Time) *shapedConn {
	return &shapedConn{Conn: nc, b: newBucket(rate, burst, now), wake: make(chan struct{}, 1)}
}

func (c *shapedConn) Read(p []byte) (int, error) {
	if c.behind {
		// The last read filled the buffer: the client sends faster than
		// this reader routes. Let the goroutines that are ready run first
		// (the writers of the sessions it routed to, the other readers)
		// instead of reading on for the rest of the time slice: a reader
		// that never waits for input would otherwise fill outbound
		// queues faster than one core drains them.
		runtime.Gosched()
	}
	if c.b.tokens < 0 {
		if d := c.b.wait(time.Now()); d > 0 {
			c.pause(d)
		}
	}
	n, err := c.Conn.Read(p)
	c.behind = n == len(p)
	if n > 0 {
		c.b.charge(n, time.Now)
	}
	return n, err
}

// pause waits d, or less when the read deadline comes first, a deadline
// is set or the connection is closed meanwhile.
func (c *shapedConn) pause(d time.Duration) {
	select {
	case <-c.wake: // from before this pause: the deadline below is current
	default:
	}
	if c.closed.Load() {
		return
	}
	if dl := c.deadline.Load(); dl != 0 {
		d = min(d, time.Until(time.Unix(0, dl)))
	}
	if d <= 0 {
		return
	}
	if c.timer == nil {
		c.timer = time.NewTimer(d)
	} else {
		c.timer.Reset(d)
	}
	select {
	case <-c.timer.C:
	case <-c.wake:
		c.timer.Stop()
	}
}

func (c *shapedConn) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *shapedConn) setDeadline(t time.Time) {
	var ns int64
	if !t.IsZero() {
		ns = t.UnixNano()
	}
	c.deadline.Store(ns)
	c.signal()
}

func (c *shapedConn) SetDeadline(t time.Time) error {
	c.setDeadline(t)
	return c.Conn.SetDeadline(t)
}

func (c *shapedConn) SetReadDeadline(t time.Time) error {
	c.setDeadline(t)
	return c.Conn.SetReadDeadline(t)
}

func (c *shapedConn) Close() error {
	c.closed.Store(true)
	c.signal()
	return c.Conn.Close()
}

// SyscallConn gives the socket beneath, for what waits on it directly
// (parked sessions, park.go): reads still go through Read.
func (c *shapedConn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, errors.ErrUnsupported
	}
	return sc.SyscallConn()
}
