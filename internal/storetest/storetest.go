// Package storetest gives module tests a real store: SQLite in a temporary
// directory with accounts made up front, and a wrapper that injects
// storage failures on demand; and the settable clock those tests give a
// module as its Now. It is for tests only.
package storetest

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"parley.im/parley/storage"
	"parley.im/parley/storage/sqlite"
)

// Open opens a SQLite store in a temporary directory, closed when the test
// ends, with accounts for users on host.
func Open(t testing.TB, host string, users ...string) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "parley.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	// Modules never authenticate anyone: any well-formed credential.
	creds := []storage.Credential{{Hash: storage.HashSHA256, Salt: []byte{1}, Iterations: 4096, StoredKey: []byte{2}, ServerKey: []byte{3}}}
	for _, u := range users {
		if err := st.CreateAccount(context.Background(), host, u, creds); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

// Faulty is a real store whose account-data methods fail with the error
// set by SetErr, while it is not nil.
type Faulty struct {
	*sqlite.Store

	mu  sync.Mutex
	err error
}

// SetErr makes the account-data methods fail with err (nil: work again).
func (f *Faulty) SetErr(err error) {
	f.mu.Lock()
	f.err = err
	f.mu.Unlock()
}

func (f *Faulty) check() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// GetData implements storage.AccountData.
func (f *Faulty) GetData(ctx context.Context, host, username, kind, key string) ([]byte, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	return f.Store.GetData(ctx, host, username, kind, key)
}

// PutData implements storage.AccountData.
func (f *Faulty) PutData(ctx context.Context, host, username, kind, key string, value []byte) error {
	if err := f.check(); err != nil {
		return err
	}
	return f.Store.PutData(ctx, host, username, kind, key, value)
}

// DeleteData implements storage.AccountData.
func (f *Faulty) DeleteData(ctx context.Context, host, username, kind, key string) error {
	if err := f.check(); err != nil {
		return err
	}
	return f.Store.DeleteData(ctx, host, username, kind, key)
}

// ListData implements storage.AccountData.
func (f *Faulty) ListData(ctx context.Context, host, username, kind string) ([]storage.DataItem, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	return f.Store.ListData(ctx, host, username, kind)
}

// Clock is a settable time source for a module's Now option; it is safe for
// concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a Clock that reads t until advanced.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock by d (back when d is negative).
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}
