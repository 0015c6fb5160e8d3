package offline

import (
	"context"
	"slices"
	"sync"
	"time"

	"parley.im/parley/storage"
)

// memStore is a stand-in for the storage backend until storage/sqlite
// implements storage.Offline; it follows the interface's contract.
type memStore struct {
	mu     sync.Mutex
	next   int64
	msgs   map[string][]storage.OfflineMessage
	err    error // returned by every call when set
	delErr error // returned by DeleteOffline when set
	limit  int   // the limit of the last PushOffline
}

func (m *memStore) lastLimit() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.limit
}

func newMemStore() *memStore { return &memStore{msgs: make(map[string][]storage.OfflineMessage)} }

func (m *memStore) PushOffline(_ context.Context, host, username string, stanza []byte, stamp time.Time, limit int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return m.err
	}
	m.limit = limit
	k := username + "@" + host
	if limit > 0 && len(m.msgs[k]) >= limit {
		return storage.ErrQuota
	}
	m.next++
	m.msgs[k] = append(m.msgs[k], storage.OfflineMessage{ID: m.next, Stamp: stamp, Stanza: slices.Clone(stanza)})
	return nil
}

func (m *memStore) OfflineMessages(_ context.Context, host, username string) ([]storage.OfflineMessage, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return nil, m.err
	}
	return slices.Clone(m.msgs[username+"@"+host]), nil
}

func (m *memStore) DeleteOffline(_ context.Context, host, username string, upTo int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return m.err
	}
	if m.delErr != nil {
		return m.delErr
	}
	k := username + "@" + host
	m.msgs[k] = slices.DeleteFunc(m.msgs[k], func(o storage.OfflineMessage) bool { return o.ID <= upTo })
	return nil
}

func (m *memStore) CountOffline(_ context.Context, host, username string) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.msgs[username+"@"+host]), nil
}

var _ storage.Offline = (*memStore)(nil)
