package blocking

import (
	"context"
	"slices"
	"sync"

	"parley.im/parley/storage"
)

// memStore stands in for the storage backend until storage/sqlite
// implements storage.Blocklist; it follows the interface's contract.
type memStore struct {
	mu    sync.Mutex
	lists map[string][]string
	reads int   // BlockedJIDs calls
	err   error // returned by every call when set
}

func newMemStore() *memStore { return &memStore{lists: make(map[string][]string)} }

func (m *memStore) BlockedJIDs(_ context.Context, host, username string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reads++
	if m.err != nil {
		return nil, m.err
	}
	l := slices.Clone(m.lists[username+"@"+host])
	slices.Sort(l)
	return l, nil
}

func (m *memStore) Block(_ context.Context, host, username string, jids []string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return nil, m.err
	}
	k := username + "@" + host
	var added []string
	for _, j := range jids {
		if !slices.Contains(m.lists[k], j) {
			m.lists[k] = append(m.lists[k], j)
			added = append(added, j)
		}
	}
	return added, nil
}

func (m *memStore) Unblock(_ context.Context, host, username string, jids []string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return nil, m.err
	}
	k := username + "@" + host
	if len(jids) == 0 {
		removed := m.lists[k]
		delete(m.lists, k)
		return removed, nil
	}
	var removed []string
	m.lists[k] = slices.DeleteFunc(m.lists[k], func(j string) bool {
		if slices.Contains(jids, j) {
			removed = append(removed, j)
			return true
		}
		return false
	})
	return removed, nil
}

func (m *memStore) readCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.reads
}

func (m *memStore) setErr(err error) {
	m.mu.Lock()
	m.err = err
	m.mu.Unlock()
}

var _ storage.Blocklist = (*memStore)(nil)

// roster is a fixed roster per user.
type roster map[string][]storage.RosterItem

func (r roster) RosterItems(_ context.Context, host, username string) ([]storage.RosterItem, int64, error) {
	return r[username+"@"+host], 1, nil
}
