package c2s_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"parley.im/parley/config"
)

// A client flooding the server is read at its c2s.read_rate, while another
// client is served as usual meanwhile.
func TestReadRateHoldsBackFlood(t *testing.T) {
	const rate, burst = 32 << 10, 4096
	srv := start(t, func(c *config.Config) {
		c.C2S.ReadRate, c.C2S.ReadBurst = rate, burst
		c.C2S.ReceiveBuffer = 4096
	})
	alice, _ := login(t, srv, "alice", "flood")
	bob, _ := login(t, srv, "bob", "calm")

	var flood []byte
	for n := 0; len(flood) < 96<<10; n++ {
		flood = fmt.Appendf(flood, `<iq type='get' id='f%d' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`, n)
	}
	flood = append(flood, `<iq type='get' id='last' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`...)

	begin := time.Now()
	go func() {
		_ = alice.Conn.SetWriteDeadline(time.Now().Add(time.Minute))
		_, _ = alice.Conn.Write(flood)
	}()
	var answers atomic.Int64
	last := make(chan time.Duration, 1) // when alice's last ping was answered; -1: never
	go func() {
		for {
			el, err := alice.NextErr()
			if err != nil {
				last <- -1
				return
			}
			answers.Add(1)
			if el.Attr("id") == "last" {
				last <- time.Since(begin)
				return
			}
		}
	}()

	eventually(t, "the flood is being read", func() bool { return answers.Load() > 0 })
	roundTrip(t, bob, "calm")
	select {
	case d := <-last:
		t.Fatalf("alice's whole flood was read (in %v, %d answers) before bob's one ping", d, answers.Load())
	default:
	}

	var took time.Duration
	select {
	case took = <-last:
	case <-time.After(time.Minute):
		t.Fatalf("the flood was not read within a minute (%d answers)", answers.Load())
	}
	if took < 0 {
		t.Fatalf("alice's stream ended after %d answers", answers.Load())
	}
	// At rate bytes per second after one burst (TLS adds to what is read),
	// the flood cannot be read faster than this.
	floor := time.Duration(float64(len(flood)-burst) / rate * float64(time.Second))
	if took < floor*9/10 {
		t.Fatalf("%d bytes read in %v: faster than %d bytes/s allows (%v)", len(flood), took, rate, floor)
	}
}
