package main

import (
	"errors"
	"fmt"
	"syscall"
)

// SocketOptions are the client sockets' kernel buffer settings (-sndbuf,
// -notsent-lowat). By default Linux lets a socket queue up to
// net.ipv4.tcp_wmem's maximum (MiBs) of written and unsent data: against
// a server that reads slower than the tool writes, the writes then never
// block, and every message waits behind megabytes in the tool's own
// kernel buffer, which no server can drain faster. A client that keeps
// little unsent data instead blocks in its write: the server's push-back
// reaches it, and what it wrote is what the server is about to read.
type SocketOptions struct {
	SndBuf       int // SO_SNDBUF in bytes; 0: the kernel's autotuning
	NotSentLowat int // TCP_NOTSENT_LOWAT in bytes; 0: the system's default
}

func (o SocketOptions) check() error {
	if o.SndBuf < 0 || o.NotSentLowat < 0 {
		return errors.New("-sndbuf and -notsent-lowat must not be negative")
	}
	if (o.SndBuf > 0 || o.NotSentLowat > 0) && !sockoptsSupported {
		return fmt.Errorf("-sndbuf and -notsent-lowat are not supported on this system")
	}
	return nil
}

// control is a net.Dialer's Control applying the options before connect,
// or nil when there are none.
func (o SocketOptions) control() func(network, address string, rc syscall.RawConn) error {
	if o.SndBuf == 0 && o.NotSentLowat == 0 {
		return nil
	}
	return func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			if o.SndBuf > 0 {
				if serr = setSndBuf(fd, o.SndBuf); serr != nil {
					serr = fmt.Errorf("SO_SNDBUF %d: %w", o.SndBuf, serr)
					return
				}
			}
			if o.NotSentLowat > 0 {
				if serr = setNotSentLowat(fd, o.NotSentLowat); serr != nil {
					serr = fmt.Errorf("TCP_NOTSENT_LOWAT %d: %w", o.NotSentLowat, serr)
				}
			}
		})
		if err != nil {
			return err
		}
		return serr
	}
}
