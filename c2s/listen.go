package c2s

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"syscall"
)

// Overload. A server that reads no faster than it routes (the reader
// routes each stanza before it reads the next) still queues without bound
// when the kernel does the queueing: Linux grows a socket's receive buffer
// up to net.ipv4.tcp_rmem's maximum (tens of MiB), so a client sending
// faster than the server keeps up fills megabytes per connection, and
// every stanza behind them waits seconds. A fixed receive buffer
// (Config.ReceiveBuffer) bounds that backlog: once it is full, TCP's window
// closes and the client's writes block, which is the push-back. The
// per-connection read rate (Config.ReadRate, ratelimit.go) is the other
// half: one flooding client is read no faster than its share, so that it
// cannot take the reader time of everyone else; and a reader that is
// behind its client yields between reads, so that on a busy core the
// writers it feeds keep up with it.

// listen binds addr for client streams with the socket options of the
// configuration.
func (s *Server) listen(addr string) (net.Listener, error) {
	lc := net.ListenConfig{}
	if n := s.cfg.ReceiveBuffer; n > 0 {
		// Set on the listening socket, before listen(2): accepted sockets
		// inherit it, and the window scale offered in the SYN-ACK is
		// chosen from it (set later, the window could not shrink to it).
		lc.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			if err := rc.Control(func(fd uintptr) {
				serr = setReceiveBuffer(fd, n)
			}); err != nil {
				return err
			}
			if serr != nil {
				return fmt.Errorf("receive buffer of %d bytes: %w", n, serr)
			}
			return nil
		}
	}
	l, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		return nil, err
	}
	if n := s.cfg.ReceiveBuffer; n > 0 {
		// The kernel caps the size at net.core.rmem_max without an error:
		// say so, since the backlog is then not what was configured.
		if got, err := receiveBuffer(l); err == nil && got < n {
			s.log.Warn("receive buffer smaller than configured: raise net.core.rmem_max",
				"addr", l.Addr().String(), "configured", n, "got", got)
		}
	}
	// Always: the reads also yield when the client is ahead (ratelimit.go).
	return &shapedListener{Listener: l, rate: s.cfg.ReadRate, burst: s.cfg.ReadBurst}, nil
}

// receiveBuffer reads back the receive buffer size of a listener's or a
// connection's socket, as the size usable for data: Linux reports twice
// what was set (the other half is its bookkeeping).
func receiveBuffer(x any) (int, error) {
	sc, ok := x.(syscall.Conn)
	if !ok {
		return 0, fmt.Errorf("c2s: %T has no socket", x)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0, err
	}
	var n int
	var gerr error
	if err := rc.Control(func(fd uintptr) { n, gerr = getReceiveBuffer(fd) }); err != nil {
		return 0, err
	}
	return n / receiveBufferFactor(), gerr
}

// receiveBufferFactor is how much more than the size set getsockopt
// reports.
func receiveBufferFactor() int {
	if runtime.GOOS == "linux" {
		return 2
	}
	return 1
}
