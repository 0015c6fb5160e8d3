package private

import (
	"context"
	"path/filepath"
	"sync"
	"testing"

	"parley.im/parley/storage"
	"parley.im/parley/storage/sqlite"
)

// openStore opens a SQLite store in a temporary directory with accounts
// for users on example.org.
func openStore(t *testing.T, users ...string) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "parley.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	// The module never authenticates anyone: any well-formed credential.
	creds := []storage.Credential{{Hash: storage.HashSHA256, Salt: []byte{1}, Iterations: 4096, StoredKey: []byte{2}, ServerKey: []byte{3}}}
	for _, u := range users {
		if err := st.CreateAccount(t.Context(), "example.org", u, creds); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

// faulty is the real store with failures injected on demand.
type faulty struct {
	*sqlite.Store

	mu  sync.Mutex
	err error
}

func (f *faulty) setErr(err error) {
	f.mu.Lock()
	f.err = err
	f.mu.Unlock()
}

func (f *faulty) check() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

func (f *faulty) GetData(ctx context.Context, host, username, kind, key string) ([]byte, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	return f.Store.GetData(ctx, host, username, kind, key)
}

func (f *faulty) PutData(ctx context.Context, host, username, kind, key string, value []byte) error {
	if err := f.check(); err != nil {
		return err
	}
	return f.Store.PutData(ctx, host, username, kind, key, value)
}

func (f *faulty) DeleteData(ctx context.Context, host, username, kind, key string) error {
	if err := f.check(); err != nil {
		return err
	}
	return f.Store.DeleteData(ctx, host, username, kind, key)
}

func (f *faulty) ListData(ctx context.Context, host, username, kind string) ([]storage.DataItem, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	return f.Store.ListData(ctx, host, username, kind)
}
