package storagetest

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"parley.im/parley/storage"
)

// RunFastTokens checks the FastTokens area (XEP-0484 tokens).
func RunFastTokens(t *testing.T, open func(t *testing.T) storage.Store) {
	subtests(t, open, []namedTest{
		{"AddAndList", testFastAddAndList},
		{"UnknownAccount", testFastUnknownAccount},
		{"Rotation", testFastRotation},
		{"Counter", testFastCounter},
		{"CounterRace", testFastCounterRace},
		{"Delete", testFastDelete},
		{"DeleteAccount", testFastDeleteAccount},
		{"PasswordChange", testFastPasswordChange},
	})
}

func fastKey(s string) []byte {
	// Binary with the bytes a text column would mangle.
	return append([]byte{0x00, 0xff, '\''}, s...)
}

func fastToken(user, agent, key string, expires time.Time) storage.FastToken {
	return storage.FastToken{Host: "example.org", Username: user, AgentID: agent, Key: fastKey(key),
		Mechanism: "HT-SHA-256-NONE", Expires: expires.UTC().Truncate(time.Microsecond)}
}

func mustAddFast(t *testing.T, s storage.Store, tok storage.FastToken) {
	t.Helper()
	if err := s.AddFastToken(t.Context(), tok); err != nil {
		t.Fatalf("AddFastToken(%s): %v", tok.Key, err)
	}
}

// mustFastKeys checks the client's tokens, by key, in the order returned
// (latest expiry first), and returns them.
func mustFastKeys(t *testing.T, s storage.Store, user, agent string, want ...string) []storage.FastToken {
	t.Helper()
	got, err := s.FastTokens(t.Context(), "example.org", user, agent)
	if err != nil {
		t.Fatalf("FastTokens(%s, %s): %v", user, agent, err)
	}
	var keys []string
	for _, tok := range got {
		keys = append(keys, string(bytes.TrimPrefix(tok.Key, fastKey(""))))
	}
	if fmt.Sprint(keys) != fmt.Sprint(want) {
		t.Fatalf("FastTokens(%s, %s) keys = %q, want %q", user, agent, keys, want)
	}
	return got
}

func testFastAddAndList(t *testing.T, s storage.Store) {
	mustCreate(t, s, "example.org", "alice", credentials("a"))
	exp := time.Now().Add(time.Hour)
	tok := fastToken("alice", "agent-1", "k1", exp)
	tok.Mechanism = "HT-SHA-256-EXPR"
	mustAddFast(t, s, tok)
	mustFastKeys(t, s, "alice", "agent-2")
	got := mustFastKeys(t, s, "alice", "agent-1", "k1")[0]
	if got.Mechanism != "HT-SHA-256-EXPR" || !got.Expires.Equal(tok.Expires) || got.Used || got.Count != 0 ||
		got.Host != "example.org" || got.Username != "alice" || got.AgentID != "agent-1" || !bytes.Equal(got.Key, tok.Key) {
		t.Errorf("token read back = %+v, want %+v", got, tok)
	}
	// The first is unused, so it is replaced: the same key goes in again.
	if err := s.AddFastToken(t.Context(), tok); err != nil {
		t.Errorf("AddFastToken of an unused token's key again: %v", err)
	}
	mustFastKeys(t, s, "alice", "agent-1", "k1")
	// A used token's key cannot be added again.
	if err := s.UseFastToken(t.Context(), "example.org", "alice", "agent-1", tok.Key, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.AddFastToken(t.Context(), tok); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("AddFastToken with a used token's key = %v, want ErrConflict", err)
	}
	mustFastKeys(t, s, "alice", "nobody")
	if got, err := s.FastTokens(t.Context(), "example.org", "nobody", "agent-1"); err != nil || len(got) != 0 {
		t.Errorf("FastTokens of an unknown account = %v, %v; want none", got, err)
	}
}

func testFastUnknownAccount(t *testing.T, s storage.Store) {
	if err := s.AddFastToken(t.Context(), fastToken("ghost", "a", "k", time.Now().Add(time.Hour))); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("AddFastToken for an unknown account = %v, want ErrNotFound", err)
	}
	if err := s.UseFastToken(t.Context(), "example.org", "ghost", "a", fastKey("k"), 0); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("UseFastToken for an unknown account = %v, want ErrNotFound", err)
	}
	if err := s.DeleteFastTokens(t.Context(), "example.org", "ghost", ""); err != nil {
		t.Errorf("DeleteFastTokens for an unknown account = %v", err)
	}
}

// testFastRotation walks the XEP's two slots: a new token is added while
// the current one stays; using the new one deletes the older one; adding
// another unused one replaces the unused one.
func testFastRotation(t *testing.T, s storage.Store) {
	mustCreate(t, s, "example.org", "alice", credentials("a"))
	now := time.Now()
	mustAddFast(t, s, fastToken("alice", "a", "old", now.Add(time.Hour)))
	mustAddFast(t, s, fastToken("alice", "other", "x", now.Add(time.Hour)))
	if err := s.UseFastToken(t.Context(), "example.org", "alice", "a", fastKey("old"), 0); err != nil {
		t.Fatal(err)
	}
	if !mustFastKeys(t, s, "alice", "a", "old")[0].Used {
		t.Error("a used token is not marked used")
	}
	mustAddFast(t, s, fastToken("alice", "a", "new1", now.Add(2*time.Hour)))
	mustAddFast(t, s, fastToken("alice", "a", "new2", now.Add(3*time.Hour)))
	mustFastKeys(t, s, "alice", "a", "new2", "old") // new1 was unused: replaced
	// Using the current token again keeps the new one (the client may not
	// have received it).
	if err := s.UseFastToken(t.Context(), "example.org", "alice", "a", fastKey("old"), 0); err != nil {
		t.Fatal(err)
	}
	mustFastKeys(t, s, "alice", "a", "new2", "old")
	// Using the new one deletes the older.
	if err := s.UseFastToken(t.Context(), "example.org", "alice", "a", fastKey("new2"), 0); err != nil {
		t.Fatal(err)
	}
	mustFastKeys(t, s, "alice", "a", "new2")
	if err := s.UseFastToken(t.Context(), "example.org", "alice", "a", fastKey("old"), 0); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("UseFastToken of a rotated-out token = %v, want ErrNotFound", err)
	}
	mustFastKeys(t, s, "alice", "other", "x") // another client's token untouched
	// Expired tokens go when a new one is added.
	mustAddFast(t, s, fastToken("alice", "b", "gone", now.Add(-time.Minute)))
	if err := s.UseFastToken(t.Context(), "example.org", "alice", "b", fastKey("gone"), 0); err != nil {
		t.Fatal(err)
	}
	mustAddFast(t, s, fastToken("alice", "b", "fresh", now.Add(time.Hour)))
	mustFastKeys(t, s, "alice", "b", "fresh")
}

func testFastCounter(t *testing.T, s storage.Store) {
	mustCreate(t, s, "example.org", "alice", credentials("a"))
	mustAddFast(t, s, fastToken("alice", "a", "k", time.Now().Add(time.Hour)))
	use := func(count uint64) error {
		return s.UseFastToken(t.Context(), "example.org", "alice", "a", fastKey("k"), count)
	}
	for _, c := range []uint64{1, 2, 5} {
		if err := use(c); err != nil {
			t.Fatalf("UseFastToken(count %d): %v", c, err)
		}
	}
	for _, c := range []uint64{5, 4, 1} {
		if err := use(c); !errors.Is(err, storage.ErrConflict) {
			t.Errorf("UseFastToken(replayed count %d) = %v, want ErrConflict", c, err)
		}
	}
	if err := use(0); err != nil {
		t.Errorf("UseFastToken without a count: %v", err)
	}
	if got := mustFastKeys(t, s, "alice", "a", "k")[0].Count; got != 5 {
		t.Errorf("Count = %d, want 5", got)
	}
	if err := use(1 << 63); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("UseFastToken(count 2^63) = %v, want ErrConflict", err)
	}
	if err := use(1<<63 - 1); err != nil {
		t.Errorf("UseFastToken(count 2^63-1): %v", err)
	}
}

// testFastCounterRace: of many uses with one counter value at once,
// exactly one succeeds.
func testFastCounterRace(t *testing.T, s storage.Store) {
	mustCreate(t, s, "example.org", "alice", credentials("a"))
	mustAddFast(t, s, fastToken("alice", "a", "k", time.Now().Add(time.Hour)))
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { errs[i] = s.UseFastToken(t.Context(), "example.org", "alice", "a", fastKey("k"), 7) })
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, storage.ErrConflict):
			t.Errorf("UseFastToken: %v", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d of %d concurrent uses with one counter succeeded, want 1", ok, n)
	}
}

func testFastDelete(t *testing.T, s storage.Store) {
	mustCreate(t, s, "example.org", "alice", credentials("a"))
	mustCreate(t, s, "example.org", "bob", credentials("b"))
	exp := time.Now().Add(time.Hour)
	for _, a := range []string{"a", "b"} {
		mustAddFast(t, s, fastToken("alice", a, "k"+a, exp))
		mustAddFast(t, s, fastToken("bob", a, "k"+a, exp))
	}
	if err := s.DeleteFastTokens(t.Context(), "example.org", "alice", "a"); err != nil {
		t.Fatal(err)
	}
	mustFastKeys(t, s, "alice", "a")
	mustFastKeys(t, s, "alice", "b", "kb")
	if err := s.DeleteFastTokens(t.Context(), "example.org", "alice", ""); err != nil {
		t.Fatal(err)
	}
	mustFastKeys(t, s, "alice", "b")
	mustFastKeys(t, s, "bob", "a", "ka")
	mustFastKeys(t, s, "bob", "b", "kb")
}

func testFastDeleteAccount(t *testing.T, s storage.Store) {
	mustCreate(t, s, "example.org", "alice", credentials("a"))
	mustAddFast(t, s, fastToken("alice", "a", "k", time.Now().Add(time.Hour)))
	if err := s.DeleteAccount(t.Context(), "example.org", "alice"); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, "example.org", "alice", credentials("a2"))
	mustFastKeys(t, s, "alice", "a")
}

// testFastPasswordChange: a new password ends every token of the account,
// and only of that account.
func testFastPasswordChange(t *testing.T, s storage.Store) {
	mustCreate(t, s, "example.org", "alice", credentials("a"))
	mustCreate(t, s, "example.org", "bob", credentials("b"))
	exp := time.Now().Add(time.Hour)
	mustAddFast(t, s, fastToken("alice", "a", "k1", exp))
	mustAddFast(t, s, fastToken("alice", "b", "k2", exp))
	mustAddFast(t, s, fastToken("bob", "a", "k3", exp))
	if err := s.SetCredentials(t.Context(), "example.org", "alice", credentials("a2")); err != nil {
		t.Fatal(err)
	}
	mustFastKeys(t, s, "alice", "a")
	mustFastKeys(t, s, "alice", "b")
	mustFastKeys(t, s, "bob", "a", "k3")
}
