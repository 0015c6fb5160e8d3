//go:build unix

package c2s

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

// accepted listens with cfg, connects once and returns the server's end.
func accepted(t *testing.T, cfg Config) net.Conn {
	t.Helper()
	s := New(cfg, Deps{})
	l, err := s.listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	cc, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	nc, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return nc
}

func TestListenReceiveBuffer(t *testing.T) {
	def, err := receiveBuffer(accepted(t, Config{}))
	if err != nil {
		t.Fatal(err)
	}
	for _, cfg := range []Config{
		{ReceiveBuffer: 8192},
		{ReceiveBuffer: 8192, ReadRate: 1 << 20}, // through the shaped connection
	} {
		nc := accepted(t, cfg)
		if _, shaped := nc.(*shapedConn); !shaped {
			t.Errorf("ReadRate %d: accepted a %T", cfg.ReadRate, nc)
		}
		got, err := receiveBuffer(nc)
		if err != nil {
			t.Fatal(err)
		}
		if got != 8192 {
			t.Errorf("ReceiveBuffer %d, ReadRate %d: accepted socket's receive buffer is %d, want 8192 (without the option: %d)", cfg.ReceiveBuffer, cfg.ReadRate, got, def)
		}
	}
}

func TestBucket(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(d time.Duration) func() time.Time { return func() time.Time { return t0.Add(d) } }
	b := newBucket(1000, 0, t0) // burst: one second's worth
	b.charge(1000, at(0))
	if d := b.wait(t0); d != 0 {
		t.Fatalf("within the burst: wait %v", d)
	}
	b.charge(500, at(0))
	if d := b.wait(t0); d != 500*time.Millisecond {
		t.Fatalf("500 bytes over at 1000/s: wait %v, want 500ms", d)
	}
	if d := b.wait(t0.Add(500 * time.Millisecond)); d != 0 {
		t.Fatalf("debt paid: wait %v", d)
	}
	// Within the tokens left, no clock is read.
	b.charge(0, func() time.Time { t.Fatal("clock read within the rate"); return t0 })
	// Without a rate, reads never wait nor read the clock.
	u := newBucket(0, 0, t0)
	u.charge(1<<30, func() time.Time { t.Fatal("clock read without a rate"); return t0 })
	if u.tokens < 0 {
		t.Fatal("no rate, yet in debt")
	}
	// A long quiet spell refills no more than the burst.
	b.charge(2500, at(time.Hour))
	if d := b.wait(t0.Add(time.Hour)); d != 1500*time.Millisecond {
		t.Fatalf("after a quiet hour, 2500 bytes: wait %v, want 1.5s", d)
	}
}

// A pause for the read rate does not outlast the read deadline, and Close
// cuts it short.
func TestShapedPauseInterrupted(t *testing.T) {
	client, server := net.Pipe() // the client sends nothing: reads can only end by deadline or Close
	defer client.Close()
	sc := newShapedConn(server, 1024, 4096, time.Now())
	sc.b.charge(1<<20, time.Now) // some 17 minutes of debt
	read := func() <-chan error {
		done := make(chan error, 1)
		go func() { _, err := sc.Read(make([]byte, 10)); done <- err }()
		return done
	}
	_ = sc.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	select {
	case err := <-read():
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read in debt past its deadline: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the pause outlasted the read deadline")
	}
	_ = sc.SetReadDeadline(time.Time{})
	done := read()
	time.Sleep(20 * time.Millisecond)
	sc.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("read after Close succeeded")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not end the pause")
	}
}
