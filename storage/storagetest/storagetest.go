package storagetest

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"parley.im/parley/storage"
)

// Run runs the conformance suite against a backend. open must return a new,
// empty store with its schema migrated, and must register with t.Cleanup
// whatever closes and removes it. Every subtest calls open once, so subtests
// never see each other's data.
func Run(t *testing.T, open func(t *testing.T) storage.Store) {
	t.Run("Accounts", func(t *testing.T) { runAccounts(t, open) })
	t.Run("Store", func(t *testing.T) { runStore(t, open) })
	t.Run("Concurrency", func(t *testing.T) { runConcurrency(t, open) })
	t.Run("Roster", func(t *testing.T) { runRoster(t, open) })
	t.Run("Offline", func(t *testing.T) { runOffline(t, open) })
	t.Run("Blocklist", func(t *testing.T) { runBlocklist(t, open) })
	t.Run("AccountData", func(t *testing.T) { runAccountData(t, open) })
	t.Run("Areas", func(t *testing.T) { runAreas(t, open) })
	t.Run("AreaConcurrency", func(t *testing.T) { runAreaConcurrency(t, open) })
	t.Run("Archive", func(t *testing.T) { RunArchive(t, open) })
	t.Run("PubSub", func(t *testing.T) { RunPubSub(t, open) })
	t.Run("MUC", func(t *testing.T) { RunMUC(t, open) })
	t.Run("RoomArchive", func(t *testing.T) { RunRoomArchive(t, open) })
	t.Run("Push", func(t *testing.T) { RunPush(t, open) })
	t.Run("Invites", func(t *testing.T) { RunInvites(t, open) })
	t.Run("FastTokens", func(t *testing.T) { RunFastTokens(t, open) })
}

// subtests runs each test with a store of its own.
func subtests(t *testing.T, open func(t *testing.T) storage.Store, tests []namedTest) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

type namedTest struct {
	name string
	fn   func(t *testing.T, s storage.Store)
}

func runStore(t *testing.T, open func(t *testing.T) storage.Store) {
	t.Run("MigrateTwice", func(t *testing.T) { testMigrateTwice(t, open(t)) })
	t.Run("Ping", func(t *testing.T) { testPing(t, open(t)) })
	t.Run("CanceledContext", func(t *testing.T) { testCanceledContext(t, open(t)) })
}

// saltPrefix starts every salt the suite stores. The NUL, the bytes that
// are invalid UTF-8 and the quote catch a backend that stores binary data
// as text or splices it into SQL.
var saltPrefix = []byte{0x00, 0xff, 0xfe, '\'', '\\', 0x80}

// credentials returns one credential per SCRAM hash, all derived from seed
// so that two sets made from different seeds differ in every byte field and
// so that a set read back can be checked for coming from a single write.
// Iterations differ per hash to catch a backend that mixes up rows.
func credentials(seed string) []storage.Credential {
	salt := append(slices.Clip(saltPrefix), seed...)
	s1 := sha1.Sum([]byte("stored/" + seed))
	k1 := sha1.Sum([]byte("server/" + seed))
	s256 := sha256.Sum256([]byte("stored/" + seed))
	k256 := sha256.Sum256([]byte("server/" + seed))
	s512 := sha512.Sum512([]byte("stored/" + seed))
	k512 := sha512.Sum512([]byte("server/" + seed))
	return []storage.Credential{
		{Hash: storage.HashSHA1, Salt: salt, Iterations: 4096, StoredKey: s1[:], ServerKey: k1[:]},
		{Hash: storage.HashSHA256, Salt: salt, Iterations: 5000, StoredKey: s256[:], ServerKey: k256[:]},
		{Hash: storage.HashSHA512, Salt: salt, Iterations: 10000, StoredKey: s512[:], ServerKey: k512[:]},
	}
}

// seedOf returns the seed a credential set read back was made from.
func seedOf(creds []storage.Credential) (string, bool) {
	if len(creds) == 0 {
		return "", false
	}
	seed, ok := bytes.CutPrefix(creds[0].Salt, saltPrefix)
	return string(seed), ok
}

// equalCredentials compares two credential sets byte for byte, ignoring
// order: the interface does not promise one.
func equalCredentials(got, want []storage.Credential) bool {
	if len(got) != len(want) {
		return false
	}
	got, want = sortedByHash(got), sortedByHash(want)
	for i := range got {
		g, w := got[i], want[i]
		if g.Hash != w.Hash || g.Iterations != w.Iterations ||
			!bytes.Equal(g.Salt, w.Salt) || !bytes.Equal(g.StoredKey, w.StoredKey) ||
			!bytes.Equal(g.ServerKey, w.ServerKey) {
			return false
		}
	}
	return true
}

func sortedByHash(creds []storage.Credential) []storage.Credential {
	return slices.SortedFunc(slices.Values(creds), func(a, b storage.Credential) int {
		return strings.Compare(a.Hash, b.Hash)
	})
}

func assertCredentials(t *testing.T, got, want []storage.Credential) {
	t.Helper()
	if !equalCredentials(got, want) {
		t.Errorf("credentials:\n got %+v\nwant %+v", sortedByHash(got), sortedByHash(want))
	}
}

func mustCreate(t *testing.T, s storage.Store, host, username string, creds []storage.Credential) {
	t.Helper()
	if err := s.CreateAccount(t.Context(), host, username, creds); err != nil {
		t.Fatalf("CreateAccount(%q, %q): %v", host, username, err)
	}
}

func mustAccount(t *testing.T, s storage.Store, host, username string) storage.Account {
	t.Helper()
	a, err := s.Account(t.Context(), host, username)
	if err != nil {
		t.Fatalf("Account(%q, %q): %v", host, username, err)
	}
	if a.Host != host || a.Username != username {
		t.Fatalf("Account(%q, %q) returned %q, %q", host, username, a.Host, a.Username)
	}
	return a
}

func mustExist(t *testing.T, s storage.Store, host, username string, want bool) {
	t.Helper()
	got, err := s.AccountExists(t.Context(), host, username)
	if err != nil {
		t.Fatalf("AccountExists(%q, %q): %v", host, username, err)
	}
	if got != want {
		t.Errorf("AccountExists(%q, %q) = %v, want %v", host, username, got, want)
	}
}

func mustList(t *testing.T, s storage.Store, host string, want []string) {
	t.Helper()
	got, err := s.ListAccounts(t.Context(), host)
	if err != nil {
		t.Fatalf("ListAccounts(%q): %v", host, err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("ListAccounts(%q):\n got %q\nwant %q", host, got, want)
	}
}

// wantErr fails unless err matches target with errors.Is.
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: got error %v, want %v", what, err, target)
	}
}

// wantOtherErr fails unless err is non-nil and none of the sentinels: a
// caller must not mistake a rejected input for a missing or existing account.
func wantOtherErr(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil || errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrConflict) {
		t.Errorf("%s: got error %v, want a non-sentinel error", what, err)
	}
}

// byteOrder sorts a copy of names the way ListAccounts must.
func byteOrder(names []string) []string {
	return slices.SortedFunc(slices.Values(names), cmp.Compare[string])
}

// assertCreatedNear checks that a creation time was set by the backend at
// about the time of the call. The slack covers timestamp truncation and a
// backend that takes the time from its own clock.
func assertCreatedNear(t *testing.T, created, before, after time.Time) {
	t.Helper()
	const slack = 2 * time.Second
	if created.IsZero() {
		t.Fatal("Created is zero")
	}
	if created.Before(before.Add(-slack)) || created.After(after.Add(slack)) {
		t.Errorf("Created = %v, want between %v and %v", created, before, after)
	}
}

func testMigrateTwice(t *testing.T, s storage.Store) {
	ctx := t.Context()
	mustCreate(t, s, "example.org", "alice", credentials("alice"))
	for i := range 2 {
		if err := s.Migrate(ctx); err != nil {
			t.Fatalf("Migrate #%d on a migrated store: %v", i+1, err)
		}
	}
	assertCredentials(t, mustAccount(t, s, "example.org", "alice").Credentials, credentials("alice"))
}

func testPing(t *testing.T, s storage.Store) {
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

// testCanceledContext checks that a canceled context is reported as such and
// never as ErrNotFound: a login must not answer "no such user" because the
// client went away or a deadline passed.
func testCanceledContext(t *testing.T, s storage.Store) {
	const host, user = "example.org", "alice"
	mustCreate(t, s, host, user, credentials("alice"))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()

	_, err := s.Account(ctx, host, user)
	wantErr(t, "Account", err, context.Canceled)
	_, err = s.AccountExists(ctx, host, user)
	wantErr(t, "AccountExists", err, context.Canceled)
	_, err = s.ListAccounts(ctx, host)
	wantErr(t, "ListAccounts", err, context.Canceled)
	wantErr(t, "CreateAccount", s.CreateAccount(ctx, host, "bob", nil), context.Canceled)
	wantErr(t, "SetCredentials", s.SetCredentials(ctx, host, user, nil), context.Canceled)
	wantErr(t, "DeleteAccount", s.DeleteAccount(ctx, host, user), context.Canceled)

	mustExist(t, s, host, "bob", false)
	assertCredentials(t, mustAccount(t, s, host, user).Credentials, credentials("alice"))
}
