package offline

import (
	"context"
	"sync"
	"testing"
	"time"

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
// limit of the last PushOffline recorded.
type faulty struct {
	*sqlite.Store

	mu     sync.Mutex
	err    error // returned by every call when set
	delErr error // returned by DeleteOffline when set
	limit  int
}

func (f *faulty) fail(err, delErr error) {
	f.mu.Lock()
	f.err, f.delErr = err, delErr
	f.mu.Unlock()
}

func (f *faulty) lastLimit() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.limit
}

func (f *faulty) PushOffline(ctx context.Context, host, username string, stanza []byte, stamp time.Time, limit int) error {
	f.mu.Lock()
	err := f.err
	f.limit = limit
	f.mu.Unlock()
	if err != nil {
		return err
	}
	return f.Store.PushOffline(ctx, host, username, stanza, stamp, limit)
}

func (f *faulty) OfflineMessages(ctx context.Context, host, username string) ([]storage.OfflineMessage, error) {
	f.mu.Lock()
	err := f.err
	f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return f.Store.OfflineMessages(ctx, host, username)
}

func (f *faulty) DeleteOffline(ctx context.Context, host, username string, upTo int64) error {
	f.mu.Lock()
	err := f.err
	if err == nil {
		err = f.delErr
	}
	f.mu.Unlock()
	if err != nil {
		return err
	}
	return f.Store.DeleteOffline(ctx, host, username, upTo)
}
