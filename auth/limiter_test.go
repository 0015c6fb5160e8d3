package auth

import (
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newTestLimiter(cfg LimiterConfig) (*Limiter, *fakeClock) {
	l := NewLimiter(cfg)
	clock := &fakeClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	l.now = clock.now
	return l, clock
}

var (
	ip1 = netip.MustParseAddr("192.0.2.1")
	ip2 = netip.MustParseAddr("192.0.2.2")
)

func TestLimiterAccount(t *testing.T) {
	l, clock := newTestLimiter(LimiterConfig{AccountFailures: 3, IPFailures: 100, Window: time.Minute})
	for i := range 3 {
		if !l.Allow(ip1, "alice") {
			t.Fatalf("refused after %d failures", i)
		}
		l.Failure(ip1, "alice")
	}
	if l.Allow(ip2, "alice") {
		t.Fatal("account over its limit allowed from another IP")
	}
	if l.Allow(ip2, "ALICE") {
		t.Fatal("case variant of the account escapes the limit")
	}
	if !l.Allow(ip1, "bob") || !l.Allow(ip1, "") {
		t.Fatal("other accounts, or the IP alone, should be allowed")
	}
	clock.advance(time.Minute)
	if !l.Allow(ip1, "alice") {
		t.Fatal("still refused after the window")
	}
	// A new window starts with the next failure.
	l.Failure(ip1, "alice")
	if !l.Allow(ip1, "alice") {
		t.Fatal("old failures counted in the new window")
	}
}

func TestLimiterIP(t *testing.T) {
	l, clock := newTestLimiter(LimiterConfig{AccountFailures: 100, IPFailures: 2, Window: time.Minute})
	l.Failure(ip1, "a")
	clock.advance(30 * time.Second)
	l.Failure(ip1, "b")
	if l.Allow(ip1, "c") || l.Allow(ip1, "") {
		t.Fatal("IP over its limit allowed")
	}
	if !l.Allow(ip2, "c") {
		t.Fatal("other IP refused")
	}
	// Success clears the account, not the IP.
	l.Success(ip1, "b")
	if l.Allow(ip1, "b") {
		t.Fatal("success laundered the IP")
	}
	// The window runs from the first failure.
	clock.advance(30 * time.Second)
	if !l.Allow(ip1, "c") {
		t.Fatal("IP still refused after the window")
	}
}

func TestLimiterSuccessClearsAccount(t *testing.T) {
	l, _ := newTestLimiter(LimiterConfig{AccountFailures: 2, IPFailures: 100, Window: time.Hour})
	l.Failure(ip1, "alice")
	l.Failure(ip1, "alice")
	if l.Allow(ip1, "alice") {
		t.Fatal("not limited")
	}
	l.Success(ip2, "Alice")
	if !l.Allow(ip1, "alice") {
		t.Fatal("success did not clear the account")
	}
}

func TestLimiterIPKeys(t *testing.T) {
	tests := []struct {
		a, b string
		same bool
	}{
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2:ffff::1", true},
		{"2001:db8:1:2::1", "2001:db8:1:3::1", false},
		{"fe80::1%eth0", "fe80::2%eth1", true},
		{"192.0.2.1", "::ffff:192.0.2.1", true},
		{"192.0.2.1", "192.0.2.2", false},
	}
	for _, tt := range tests {
		t.Run(tt.a+"/"+tt.b, func(t *testing.T) {
			l, _ := newTestLimiter(LimiterConfig{IPFailures: 1, AccountFailures: 100})
			l.Failure(netip.MustParseAddr(tt.a), "")
			if got := !l.Allow(netip.MustParseAddr(tt.b), ""); got != tt.same {
				t.Fatalf("share a counter: %v, want %v", got, tt.same)
			}
		})
	}
	// An invalid address is simply not tracked.
	l, _ := newTestLimiter(LimiterConfig{IPFailures: 1, AccountFailures: 100})
	l.Failure(netip.Addr{}, "")
	if !l.Allow(netip.Addr{}, "") || l.ips.len() != 0 {
		t.Fatal("invalid address tracked")
	}
}

func TestLimiterDisabledDimension(t *testing.T) {
	l, _ := newTestLimiter(LimiterConfig{AccountFailures: -1, IPFailures: 1})
	l.Failure(ip1, "alice")
	if !l.Allow(ip2, "alice") {
		t.Fatal("account limit should be disabled")
	}
	if l.Allow(ip1, "bob") {
		t.Fatal("IP limit should apply")
	}
}

func TestLimiterDefaults(t *testing.T) {
	l := NewLimiter(LimiterConfig{})
	if l.accountLimit != defaultAccountFailures || l.ipLimit != defaultIPFailures ||
		l.window != defaultWindow || l.accounts.max != defaultMaxKeys {
		t.Fatalf("defaults not applied: %+v", l)
	}
}

// TestLimiterBounded checks that memory stays bounded, evicting the least
// recently failed key, and that expired keys are dropped.
func TestLimiterBounded(t *testing.T) {
	l, clock := newTestLimiter(LimiterConfig{AccountFailures: 1, IPFailures: 1, Window: time.Minute, MaxKeys: 10})
	for i := range 25 {
		clock.advance(time.Second)
		l.Failure(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), fmt.Sprintf("user%d", i))
	}
	if l.accounts.len() != 10 || l.ips.len() != 10 || len(l.accounts.byKey) != 10 {
		t.Fatalf("tracking %d accounts, %d IPs; want 10 each", l.accounts.len(), l.ips.len())
	}
	if !l.Allow(netip.Addr{}, "user0") {
		t.Fatal("oldest account not evicted")
	}
	if l.Allow(netip.Addr{}, "user24") {
		t.Fatal("newest account evicted")
	}
	clock.advance(time.Minute)
	l.Failure(ip1, "fresh")
	if l.accounts.len() != 1 || l.ips.len() != 1 {
		t.Fatalf("expired entries kept: %d accounts, %d IPs", l.accounts.len(), l.ips.len())
	}
}

func TestLimiterConcurrent(t *testing.T) {
	l := NewLimiter(LimiterConfig{MaxKeys: 50})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				ip := netip.AddrFrom4([4]byte{10, byte(g), 0, byte(i)})
				account := fmt.Sprintf("u%d", i%70)
				l.Allow(ip, account)
				l.Failure(ip, account)
				if i%7 == 0 {
					l.Success(ip, account)
				}
			}
		})
	}
	wg.Wait()
	if l.accounts.len() > 50 || l.ips.len() > 50 {
		t.Fatal("bound exceeded")
	}
}
