package blocking

import (
	"context"
	"sync"
	"testing"

	"parley.im/parley/internal/storetest"
	"parley.im/parley/storage"
	"parley.im/parley/storage/sqlite"
)

// openStore opens a SQLite store in a temporary directory with accounts
// for users on example.org.
func openStore(t *testing.T, users ...string) *sqlite.Store {
	return storetest.Open(t, "example.org", users...)
}

// faulty is the real store with failures injected on demand and the
// reads of block lists counted.
type faulty struct {
	*sqlite.Store

	mu    sync.Mutex
	err   error
	reads int
}

func (f *faulty) setErr(err error) {
	f.mu.Lock()
	f.err = err
	f.mu.Unlock()
}

func (f *faulty) readCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reads
}

func (f *faulty) check() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

func (f *faulty) BlockedJIDs(ctx context.Context, host, username string) ([]string, error) {
	f.mu.Lock()
	f.reads++
	err := f.err
	f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return f.Store.BlockedJIDs(ctx, host, username)
}

func (f *faulty) Block(ctx context.Context, host, username string, jids []string) ([]string, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	return f.Store.Block(ctx, host, username, jids)
}

func (f *faulty) Unblock(ctx context.Context, host, username string, jids []string) ([]string, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	return f.Store.Unblock(ctx, host, username, jids)
}

// subscribe puts contact in user's roster with the given subscription.
func subscribe(t *testing.T, st *sqlite.Store, user, contact, sub string) {
	t.Helper()
	_, _, err := st.UpdateRosterItem(t.Context(), "example.org", user, contact, func(*storage.RosterItem) (*storage.RosterItem, error) {
		return &storage.RosterItem{JID: contact, Subscription: sub}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
