package storagetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"parley.im/parley/storage"
)

// RunInvites runs the subtests of the Invites area; Run calls it.
func RunInvites(t *testing.T, open func(t *testing.T) storage.Store) {
	subtests(t, open, []namedTest{
		{"CreateGetTake", testInviteCreateGetTake},
		{"Conflict", testInviteConflict},
		{"Expiry", testInviteExpiry},
		{"TakeOnce", testInviteTakeOnce},
		{"Reserves", testInviteReserves},
		{"Purge", testInvitePurge},
		{"HostsApart", testInviteHosts},
		{"InviterDeleted", testInviteInviterDeleted},
	})
}

var inviteNow = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func testInvite(host, token string) storage.Invite {
	return storage.Invite{Host: host, TokenHash: storage.InviteTokenHash(token), Inviter: "alice", Username: "",
		Register: true, Created: inviteNow, Expires: inviteNow.Add(time.Hour)}
}

func mustCreateInvite(t *testing.T, s storage.Invites, inv storage.Invite) {
	t.Helper()
	if err := s.CreateInvite(t.Context(), inv); err != nil {
		t.Fatalf("CreateInvite(%+v): %v", inv, err)
	}
}

func sameInvite(t *testing.T, what string, got, want storage.Invite) {
	t.Helper()
	if got.Host != want.Host || got.TokenHash != want.TokenHash || got.Inviter != want.Inviter ||
		got.Username != want.Username || got.Register != want.Register ||
		!got.Created.Equal(want.Created) || !got.Expires.Equal(want.Expires) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

func testInviteCreateGetTake(t *testing.T, s storage.Store) {
	if h := storage.InviteTokenHash("abc"); h != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Errorf("InviteTokenHash(abc) = %s, not the SHA-256", h)
	}
	a := testInvite("example.org", "token-a")
	b := storage.Invite{Host: "example.org", TokenHash: storage.InviteTokenHash("token-b"), Username: "juliet",
		Created: inviteNow, Expires: inviteNow.Add(time.Minute)}
	mustCreateInvite(t, s, a)
	mustCreateInvite(t, s, b)
	got, err := s.Invite(t.Context(), "example.org", a.TokenHash, inviteNow)
	if err != nil {
		t.Fatal(err)
	}
	sameInvite(t, "Invite(a)", got, a)
	got, err = s.Invite(t.Context(), "example.org", b.TokenHash, inviteNow)
	if err != nil {
		t.Fatal(err)
	}
	sameInvite(t, "Invite(b)", got, b)
	got, err = s.TakeInvite(t.Context(), "example.org", a.TokenHash, inviteNow)
	if err != nil {
		t.Fatal(err)
	}
	sameInvite(t, "TakeInvite(a)", got, a)
	if _, err := s.Invite(t.Context(), "example.org", a.TokenHash, inviteNow); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Invite after TakeInvite: %v, want ErrNotFound", err)
	}
	if _, err := s.TakeInvite(t.Context(), "example.org", a.TokenHash, inviteNow); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("TakeInvite twice: %v, want ErrNotFound", err)
	}
	if _, err := s.Invite(t.Context(), "example.org", storage.InviteTokenHash("unknown"), inviteNow); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("unknown token: %v, want ErrNotFound", err)
	}
}

func testInviteConflict(t *testing.T, s storage.Store) {
	a := testInvite("example.org", "same")
	mustCreateInvite(t, s, a)
	b := a
	b.Inviter = "mallory"
	if err := s.CreateInvite(t.Context(), b); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("second invite with the same hash: %v, want ErrConflict", err)
	}
	got, err := s.Invite(t.Context(), "example.org", a.TokenHash, inviteNow)
	if err != nil {
		t.Fatal(err)
	}
	sameInvite(t, "the first invite after a conflict", got, a)
}

func testInviteExpiry(t *testing.T, s storage.Store) {
	a := testInvite("example.org", "expiring")
	mustCreateInvite(t, s, a)
	for _, at := range []time.Time{a.Expires, a.Expires.Add(time.Second)} {
		if _, err := s.Invite(t.Context(), "example.org", a.TokenHash, at); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Invite at %s (expires %s): %v, want ErrNotFound", at, a.Expires, err)
		}
		if _, err := s.TakeInvite(t.Context(), "example.org", a.TokenHash, at); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("TakeInvite at %s (expires %s): %v, want ErrNotFound", at, a.Expires, err)
		}
	}
	if _, err := s.TakeInvite(t.Context(), "example.org", a.TokenHash, a.Expires.Add(-time.Microsecond)); err != nil {
		t.Errorf("TakeInvite just before expiry: %v", err)
	}
}

// Of many concurrent takes of one token, exactly one gets it.
func testInviteTakeOnce(t *testing.T, s storage.Store) {
	a := testInvite("example.org", "race")
	mustCreateInvite(t, s, a)
	const n = 8
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		wins   int
		others []error
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.TakeInvite(t.Context(), "example.org", a.TokenHash, inviteNow)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				wins++
			} else if !errors.Is(err, storage.ErrNotFound) {
				others = append(others, err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 || len(others) != 0 {
		t.Errorf("%d concurrent takes: %d got the invite, other errors %v; want exactly 1", n, wins, others)
	}
}

func testInviteReserves(t *testing.T, s storage.Store) {
	a := testInvite("example.org", "reserve")
	a.Username = "juliet"
	mustCreateInvite(t, s, a)
	mustCreateInvite(t, s, testInvite("example.org", "no name"))
	for _, tc := range []struct {
		host, user string
		at         time.Time
		want       bool
	}{
		{"example.org", "juliet", inviteNow, true},
		{"example.org", "romeo", inviteNow, false},
		{"example.org", "", inviteNow, false},
		{"example.net", "juliet", inviteNow, false},
		{"example.org", "juliet", a.Expires, false},
	} {
		got, err := s.InviteReserves(t.Context(), tc.host, tc.user, tc.at)
		if err != nil || got != tc.want {
			t.Errorf("InviteReserves(%q, %q, %s) = %v, %v; want %v", tc.host, tc.user, tc.at, got, err, tc.want)
		}
	}
}

func testInvitePurge(t *testing.T, s storage.Store) {
	a := testInvite("example.org", "short")
	b := testInvite("example.org", "long")
	b.Expires = inviteNow.Add(48 * time.Hour)
	mustCreateInvite(t, s, a)
	mustCreateInvite(t, s, b)
	if n, err := s.PurgeInvites(t.Context(), inviteNow.Add(2*time.Hour)); n != 1 || err != nil {
		t.Errorf("PurgeInvites: %d, %v; want 1", n, err)
	}
	// Purged, so gone even for a clock that goes back.
	if _, err := s.Invite(t.Context(), "example.org", a.TokenHash, inviteNow); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("purged invite: %v, want ErrNotFound", err)
	}
	if _, err := s.Invite(t.Context(), "example.org", b.TokenHash, inviteNow); err != nil {
		t.Errorf("the unexpired invite after a purge: %v", err)
	}
}

func testInviteHosts(t *testing.T, s storage.Store) {
	a := testInvite("example.org", "tok")
	mustCreateInvite(t, s, a)
	if _, err := s.Invite(t.Context(), "example.net", a.TokenHash, inviteNow); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("an invite of example.org found on example.net: %v", err)
	}
	if _, err := s.TakeInvite(t.Context(), "example.net", a.TokenHash, inviteNow); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("an invite of example.org taken on example.net: %v", err)
	}
}

// Deleting an account deletes the invitations it created, and only those.
func testInviteInviterDeleted(t *testing.T, s storage.Store) {
	mustCreate(t, s, "example.org", "alice", nil)
	mustCreate(t, s, "example.net", "alice", nil)
	mine := testInvite("example.org", "mine")
	other := testInvite("example.net", "same name, other host")
	server := testInvite("example.org", "the server's")
	server.Inviter = ""
	for _, inv := range []storage.Invite{mine, other, server} {
		mustCreateInvite(t, s, inv)
	}
	if err := s.DeleteAccount(t.Context(), "example.org", "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Invite(t.Context(), "example.org", mine.TokenHash, inviteNow); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("the deleted inviter's invitation: %v, want ErrNotFound", err)
	}
	for _, inv := range []storage.Invite{other, server} {
		if _, err := s.Invite(t.Context(), inv.Host, inv.TokenHash, inviteNow); err != nil {
			t.Errorf("invitation of %s by %q after deleting alice@example.org: %v", inv.Host, inv.Inviter, err)
		}
	}
}
