//go:build linux

package main

import (
	"context"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestSocketOptions(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	get := func(o SocketOptions) (sndbuf, lowat int) {
		t.Helper()
		env := newEnv(&Options{Sockets: o}, &ClientConfig{}, io.Discard)
		nc, err := env.dialers[0].Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		rc, err := nc.(syscall.Conn).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		_ = rc.Control(func(fd uintptr) {
			sndbuf, _ = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF)
			lowat, _ = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_NOTSENT_LOWAT)
		})
		return sndbuf, lowat
	}
	defSnd, defLowat := get(SocketOptions{})
	snd, lowat := get(SocketOptions{SndBuf: 32768, NotSentLowat: 16384})
	if snd != 2*32768 || lowat != 16384 {
		t.Errorf("-sndbuf 32768 -notsent-lowat 16384: SO_SNDBUF %d (want 65536), TCP_NOTSENT_LOWAT %d (default %d, %d)", snd, lowat, defSnd, defLowat)
	}
	if err := (SocketOptions{NotSentLowat: -1}).check(); err == nil {
		t.Error("a negative -notsent-lowat passed")
	}
}

// The open-loop pacer stops at the end of the run: what a blocked write
// kept from being sent by then is held back, not sent late.
func TestPacerHoldsBack(t *testing.T) {
	l := newLoadRun()
	start := time.Now()
	const rate, dur = 1000, 300 * time.Millisecond
	first := true
	pacer(context.Background(), l, rate, 1, start, start.Add(dur), func(w, k int, sched time.Time) error {
		if first {
			first = false
			time.Sleep(2 * dur) // the server pushes back past the end
		}
		return nil
	})
	lr := &LoadResult{Mode: "open"}
	l.fill(lr, start, time.Since(start), LoadCPU{})
	if lr.HeldBack < 250 || lr.Sent > 50 {
		t.Errorf("blocked for the whole run: %d sent, %d held back", lr.Sent, lr.HeldBack)
	}
	if lr.Scheduled != 300 {
		t.Errorf("scheduled %d, want 300 (%d sent, %d held back)", lr.Scheduled, lr.Sent, lr.HeldBack)
	}
}
