package auth

import (
	"container/list"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/text/secure/precis"
)

// LimiterConfig configures a Limiter. Zero fields take the defaults below;
// a negative failure limit disables that dimension.
type LimiterConfig struct {
	AccountFailures int           // failures per account within Window (default 5)
	IPFailures      int           // failures per IP (IPv6: per /64) within Window (default 20)
	Window          time.Duration // how long failures count (default 15m)
	MaxKeys         int           // tracked accounts, and separately IPs (default 100000)
}

const (
	defaultAccountFailures = 5
	defaultIPFailures      = 20
	defaultWindow          = 15 * time.Minute
	defaultMaxKeys         = 100000
)

// Limiter throttles failed logins per account and per IP address. It counts
// failures in a fixed window that starts at the first failure. Memory is
// bounded: each dimension tracks at most MaxKeys keys, evicting the least
// recently failed first; expired entries are dropped as new failures come
// in. Safe for concurrent use.
//
// Typical use by a stream negotiator: refuse to start when
// !Allow(ip, ""); after each Step, once Exchange.ClaimedUsername is known,
// refuse to go on (temporary-auth-failure) when !Allow(ip, claimed); call
// Failure(ip, claimed) on not-authorized and Success(ip, claimed) on
// success. A refusal must look the same for existing and unknown accounts,
// which it does since failures are counted for any name.
//
// Eviction under pressure forgets the oldest counters, so a very large
// botnet could reset an account's counter by failing on MaxKeys other
// accounts first; the per-IP limit makes that expensive.
type Limiter struct {
	accountLimit, ipLimit int
	window                time.Duration
	now                   func() time.Time // replaced in tests

	mu       sync.Mutex
	accounts *failureTable
	ips      *failureTable
}

// NewLimiter returns a Limiter for cfg.
func NewLimiter(cfg LimiterConfig) *Limiter {
	if cfg.AccountFailures == 0 {
		cfg.AccountFailures = defaultAccountFailures
	}
	if cfg.IPFailures == 0 {
		cfg.IPFailures = defaultIPFailures
	}
	if cfg.Window <= 0 {
		cfg.Window = defaultWindow
	}
	if cfg.MaxKeys <= 0 {
		cfg.MaxKeys = defaultMaxKeys
	}
	return &Limiter{
		accountLimit: cfg.AccountFailures,
		ipLimit:      cfg.IPFailures,
		window:       cfg.Window,
		now:          time.Now,
		accounts:     newFailureTable(cfg.MaxKeys),
		ips:          newFailureTable(cfg.MaxKeys),
	}
}

// Allow reports whether a login attempt may proceed: false when the IP or
// the account has reached its failure limit within the window. An invalid
// ip or an empty account skips that dimension, so Allow(ip, "") can be
// asked before the client has named an account.
func (l *Limiter) Allow(ip netip.Addr, account string) bool {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if key, ok := ipKey(ip); ok && l.ipLimit > 0 && l.ips.count(key, now, l.window) >= l.ipLimit {
		return false
	}
	if key, ok := accountKey(account); ok && l.accountLimit > 0 && l.accounts.count(key, now, l.window) >= l.accountLimit {
		return false
	}
	return true
}

// Failure records a failed login for the IP and the account.
func (l *Limiter) Failure(ip netip.Addr, account string) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if key, ok := ipKey(ip); ok {
		l.ips.add(key, now, l.window)
	}
	if key, ok := accountKey(account); ok {
		l.accounts.add(key, now, l.window)
	}
}

// Success clears the account's failures. The IP's are kept: one valid
// account must not launder an address that is guessing others.
func (l *Limiter) Success(ip netip.Addr, account string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if key, ok := accountKey(account); ok {
		l.accounts.remove(key)
	}
}

// ipKey groups IPv6 addresses by /64, the usual allocation to one
// subscriber, so that one host cannot multiply its budget.
func ipKey(ip netip.Addr) (string, bool) {
	if !ip.IsValid() {
		return "", false
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.WithZone("").Prefix(64)
		return p.String(), true
	}
	return ip.String(), true
}

// accountKey folds case like the account lookup does, so "Alice" and
// "alice" share one budget. Names that cannot be normalized are kept
// verbatim: they match no account, but still count.
func accountKey(account string) (string, bool) {
	if account == "" {
		return "", false
	}
	if n, err := precis.UsernameCaseMapped.String(account); err == nil && n != "" {
		return n, true
	}
	return account, true
}

// failureTable counts failures per key in an LRU list, oldest first.
type failureTable struct {
	max   int
	byKey map[string]*list.Element
	lru   *list.List // of *failureEntry
}

type failureEntry struct {
	key   string
	start time.Time // first failure of the current window
	last  time.Time
	n     int
}

func newFailureTable(max int) *failureTable {
	return &failureTable{max: max, byKey: make(map[string]*list.Element), lru: list.New()}
}

func (t *failureTable) count(key string, now time.Time, window time.Duration) int {
	el, ok := t.byKey[key]
	if !ok {
		return 0
	}
	e := el.Value.(*failureEntry)
	if now.Sub(e.start) >= window {
		return 0
	}
	return e.n
}

func (t *failureTable) add(key string, now time.Time, window time.Duration) {
	t.expire(now, window)
	if el, ok := t.byKey[key]; ok {
		e := el.Value.(*failureEntry)
		if now.Sub(e.start) >= window {
			e.start, e.n = now, 0
		}
		e.n++
		e.last = now
		t.lru.MoveToBack(el)
		return
	}
	for t.lru.Len() >= t.max {
		t.remove(t.lru.Front().Value.(*failureEntry).key)
	}
	t.byKey[key] = t.lru.PushBack(&failureEntry{key: key, start: now, last: now, n: 1})
}

// expire drops entries whose last failure is older than the window: their
// window has ended too. The list is ordered by last failure, so this stops
// at the first live entry.
func (t *failureTable) expire(now time.Time, window time.Duration) {
	for el := t.lru.Front(); el != nil; el = t.lru.Front() {
		if now.Sub(el.Value.(*failureEntry).last) < window {
			return
		}
		t.remove(el.Value.(*failureEntry).key)
	}
}

func (t *failureTable) remove(key string) {
	if el, ok := t.byKey[key]; ok {
		t.lru.Remove(el)
		delete(t.byKey, key)
	}
}

func (t *failureTable) len() int { return t.lru.Len() }
