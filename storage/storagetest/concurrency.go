package storagetest

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"parley.im/parley/storage"
)

func runConcurrency(t *testing.T, open func(t *testing.T) storage.Store) {
	t.Run("CreateSame", func(t *testing.T) { testConcurrentCreateSame(t, open(t)) })
	t.Run("CreateDistinct", func(t *testing.T) { testConcurrentCreateDistinct(t, open(t)) })
	t.Run("SetCredentialsAtomic", func(t *testing.T) { testConcurrentSetCredentials(t, open(t)) })
	t.Run("DeleteWhileSetting", func(t *testing.T) { testDeleteWhileSetting(t, open(t)) })
}

// together runs fn(0) … fn(n-1) in n goroutines released at the same
// moment, to make their calls overlap as much as possible.
func together(n int, fn func(i int)) {
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			fn(i)
		})
	}
	close(start)
	wg.Wait()
}

// testConcurrentCreateSame is the registration race: many clients ask for
// one username at once. Exactly one must win, the others must be told the
// name is taken, and the stored credentials must be the winner's, whole.
func testConcurrentCreateSame(t *testing.T, s storage.Store) {
	const n = 16
	const host, user = "example.org", "alice"
	errs := make([]error, n)
	together(n, func(i int) {
		errs[i] = s.CreateAccount(t.Context(), host, user, credentials(fmt.Sprint("racer-", i)))
	})

	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("goroutines %d and %d both created the account", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, storage.ErrConflict):
			t.Errorf("goroutine %d: got %v, want nil or ErrConflict", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no goroutine created the account")
	}
	assertCredentials(t, mustAccount(t, s, host, user).Credentials, credentials(fmt.Sprint("racer-", winner)))
}

func testConcurrentCreateDistinct(t *testing.T, s storage.Store) {
	const goroutines, each = 16, 8
	const host = "example.org"
	together(goroutines, func(g int) {
		for i := range each {
			u := fmt.Sprintf("user-%02d-%d", g, i)
			if err := s.CreateAccount(t.Context(), host, u, credentials(u)); err != nil {
				t.Errorf("CreateAccount(%q): %v", u, err)
			}
		}
	})

	var want []string
	for g := range goroutines {
		for i := range each {
			u := fmt.Sprintf("user-%02d-%d", g, i)
			want = append(want, u)
			assertCredentials(t, mustAccount(t, s, host, u).Credentials, credentials(u))
		}
	}
	mustList(t, s, host, byteOrder(want))
}

// testConcurrentSetCredentials has writers replace an account's credentials
// while readers log in. Every read must see one complete set from a single
// SetCredentials call: never a mix of two, never a partial or empty set.
func testConcurrentSetCredentials(t *testing.T, s storage.Store) {
	const writers, readers, rounds = 4, 4, 20
	const host, user = "example.org", "alice"
	mustCreate(t, s, host, user, credentials("initial"))

	var writing atomic.Int32
	writing.Store(writers)
	together(writers+readers, func(g int) {
		if g < writers {
			defer writing.Add(-1)
			for i := range rounds {
				if err := s.SetCredentials(t.Context(), host, user, credentials(fmt.Sprintf("w%d-%d", g, i))); err != nil {
					t.Errorf("SetCredentials: %v", err)
					return
				}
			}
			return
		}
		for reads := 0; writing.Load() > 0 || reads == 0; reads++ {
			if !readsOneCompleteSet(t, s, host, user) {
				return
			}
		}
	})
}

func readsOneCompleteSet(t *testing.T, s storage.Store, host, user string) bool {
	a, err := s.Account(t.Context(), host, user)
	if err != nil {
		t.Errorf("Account during SetCredentials: %v", err)
		return false
	}
	seed, ok := seedOf(a.Credentials)
	if !ok || !equalCredentials(a.Credentials, credentials(seed)) {
		t.Errorf("Account during SetCredentials read a torn credential set: %+v", a.Credentials)
		return false
	}
	return true
}

// testDeleteWhileSetting races a password change with the account's
// deletion. The change must either happen before the delete or report
// ErrNotFound; it must never fail otherwise nor leave credentials behind
// that a re-created account would inherit.
func testDeleteWhileSetting(t *testing.T, s storage.Store) {
	const rounds = 20
	const host = "example.org"
	for r := range rounds {
		user := fmt.Sprint("victim-", r)
		mustCreate(t, s, host, user, credentials("old"))
		var setErr, delErr error
		together(2, func(i int) {
			if i == 0 {
				setErr = s.SetCredentials(t.Context(), host, user, credentials("new"))
			} else {
				delErr = s.DeleteAccount(t.Context(), host, user)
			}
		})
		if setErr != nil && !errors.Is(setErr, storage.ErrNotFound) {
			t.Errorf("round %d: SetCredentials racing DeleteAccount: %v", r, setErr)
		}
		if delErr != nil {
			t.Errorf("round %d: DeleteAccount: %v", r, delErr)
		}
		mustExist(t, s, host, user, false)
		mustCreate(t, s, host, user, nil)
		assertCredentials(t, mustAccount(t, s, host, user).Credentials, nil)
	}
}
