package routertest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stream"

	"parley.im/parley/router"
	"parley.im/parley/xmppcore"
)

// WaitTimeout is how long WaitFor waits before failing the test: long
// enough for a loaded CI machine, short enough to fail before the test
// binary's own timeout hides which wait hung.
const WaitTimeout = 5 * time.Second

// Session is a router.Session that records what it is sent. It is safe for
// concurrent use.
type Session struct {
	jid jid.JID

	mu        sync.Mutex
	sent      []*xmppcore.Element
	changed   chan struct{} // closed and replaced on every Send
	refuse    bool
	closed    bool
	closeErr  stream.Error
	closeText string
}

var _ router.Session = (*Session)(nil)

// NewSession returns a session for the full JID j.
func NewSession(j jid.JID) *Session {
	return &Session{jid: j, changed: make(chan struct{})}
}

// Bind creates a session for the full JID full, binds it to r and fails
// the test if the router refuses it.
func Bind(t testing.TB, r *router.Router, full string) *Session {
	t.Helper()
	j, err := jid.Parse(full)
	if err != nil {
		t.Fatalf("routertest.Bind: %v", err)
	}
	s := NewSession(j)
	if _, err := r.Bind(s); err != nil {
		t.Fatalf("routertest.Bind %s: %v", full, err)
	}
	return s
}

// JID returns the session's full JID.
func (s *Session) JID() jid.JID { return s.jid }

// Send records el. After Refuse(true) or Close it records nothing and
// returns false, like a session whose queue overflowed or that is closing.
func (s *Session) Send(el *xmppcore.Element) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refuse || s.closed {
		return false
	}
	s.sent = append(s.sent, el)
	close(s.changed)
	s.changed = make(chan struct{})
	return true
}

// Close records the stream error; later sends are refused.
func (s *Session) Close(se stream.Error, text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed, s.closeErr, s.closeText = true, se, text
	}
}

// Closed reports whether Close was called, and with what.
func (s *Session) Closed() (se stream.Error, text string, closed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closeErr, s.closeText, s.closed
}

// Refuse makes Send return false (without recording) while on is true.
func (s *Session) Refuse(on bool) {
	s.mu.Lock()
	s.refuse = on
	s.mu.Unlock()
}

// Sent returns what the session was sent so far, oldest first.
func (s *Session) Sent() []*xmppcore.Element {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.sent)
}

// Take returns what the session was sent so far and forgets it, so that a
// test can check one exchange at a time.
func (s *Session) Take() []*xmppcore.Element {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.sent
	s.sent = nil
	return out
}

// TakeOne returns the one element the session was sent since the last
// Take and forgets it; it fails the test if there is not exactly one.
func (s *Session) TakeOne(t testing.TB) *xmppcore.Element {
	t.Helper()
	got := s.Take()
	if len(got) != 1 {
		t.Fatalf("%s was sent %d elements, want 1:%s", s.jid, len(got), list(got))
	}
	return got[0]
}

// WaitFor returns the first element sent (already or within WaitTimeout)
// that match accepts, and fails the test if none comes.
func (s *Session) WaitFor(t testing.TB, match func(*xmppcore.Element) bool) *xmppcore.Element {
	t.Helper()
	deadline := time.NewTimer(WaitTimeout)
	defer deadline.Stop()
	for {
		// Rescan everything each time: cheap in tests, and right even when
		// Take emptied the list meanwhile.
		// match runs without the lock, so it may call back into s.
		s.mu.Lock()
		sent, changed := slices.Clone(s.sent), s.changed
		s.mu.Unlock()
		for _, el := range sent {
			if match(el) {
				return el
			}
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("%s: no matching element within %v; sent:%s", s.jid, WaitTimeout, list(s.Sent()))
			return nil
		}
	}
}

// ByID matches stanzas with the given id.
func ByID(id string) func(*xmppcore.Element) bool {
	return func(el *xmppcore.Element) bool { return el.Attr("id") == id }
}

func list(els []*xmppcore.Element) string {
	if len(els) == 0 {
		return " (nothing)"
	}
	var b strings.Builder
	for _, el := range els {
		b.WriteString("\n\t")
		b.WriteString(el.String())
	}
	return b.String()
}

// Accounts returns an AccountExists function for router.Config that knows
// the given bare JIDs.
func Accounts(bare ...string) func(ctx context.Context, host, username string) (bool, error) {
	known := make(map[string]bool, len(bare))
	for _, b := range bare {
		j, err := jid.Parse(b)
		if err != nil {
			panic(fmt.Sprintf("routertest.Accounts: %v", err))
		}
		known[j.Bare().String()] = true
	}
	return func(_ context.Context, host, username string) (bool, error) {
		j, err := jid.New(username, host, "")
		if err != nil {
			return false, nil
		}
		return known[j.String()], nil
	}
}

// Counting is a bound session that only counts what it is sent, for
// benchmarks that measure routing and the modules, not a recorder or a
// queue. It is safe for concurrent use.
type Counting struct {
	J jid.JID
	n atomic.Int64
}

// JID implements router.Session.
func (s *Counting) JID() jid.JID { return s.J }

// Send implements router.Session: it counts el.
func (s *Counting) Send(*xmppcore.Element) bool { s.n.Add(1); return true }

// Close implements router.Session: it does nothing.
func (s *Counting) Close(stream.Error, string) {}

// Sent returns how many stanzas were sent to the session.
func (s *Counting) Sent() int64 { return s.n.Load() }
