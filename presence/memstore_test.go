package presence

import (
	"context"
	"errors"
	"slices"
	"sort"
	"sync"

	"parley.im/parley/storage"
)

// memStore is an in-memory storage.Roster for tests, to be replaced by the
// SQLite backend once it implements rosters. It follows the interface's
// contract: a strictly increasing version per roster, tombstones for
// removed items, ok=false for versions it cannot answer.
type memStore struct {
	memData
	mu      sync.Mutex
	rosters map[string]*memRoster
}

type memRoster struct {
	version int64
	items   map[string]storage.RosterItem
	tombs   map[string]int64 // removed contact -> version of removal
	pruned  int64            // changes at or before this version are forgotten
}

func newMemStore() *memStore { return &memStore{rosters: make(map[string]*memRoster)} }

func (m *memStore) roster(host, user string) *memRoster {
	k := user + "@" + host
	r := m.rosters[k]
	if r == nil {
		r = &memRoster{items: make(map[string]storage.RosterItem), tombs: make(map[string]int64)}
		m.rosters[k] = r
	}
	return r
}

func cloneItem(it storage.RosterItem) storage.RosterItem {
	it.Groups = slices.Clone(it.Groups)
	return it
}

func (m *memStore) RosterItems(_ context.Context, host, user string) ([]storage.RosterItem, int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.roster(host, user)
	out := make([]storage.RosterItem, 0, len(r.items))
	for _, it := range r.items {
		out = append(out, cloneItem(it))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].JID < out[j].JID })
	return out, r.version, nil
}

func (m *memStore) RosterItem(_ context.Context, host, user, contact string) (storage.RosterItem, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	it, ok := m.roster(host, user).items[contact]
	if !ok {
		return storage.RosterItem{}, storage.ErrNotFound
	}
	return cloneItem(it), nil
}

func (m *memStore) UpdateRosterItem(_ context.Context, host, user, contact string,
	f func(cur *storage.RosterItem) (*storage.RosterItem, error)) (*storage.RosterItem, int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.roster(host, user)
	var cur *storage.RosterItem
	if it, ok := r.items[contact]; ok {
		c := cloneItem(it)
		cur = &c
	}
	next, err := f(cur)
	if errors.Is(err, storage.ErrUnchanged) {
		return cur, r.version, nil
	}
	if err != nil {
		return nil, 0, err
	}
	if next == nil && cur == nil {
		return nil, r.version, nil
	}
	r.version++
	if next == nil {
		delete(r.items, contact)
		r.tombs[contact] = r.version
		return nil, r.version, nil
	}
	n := cloneItem(*next)
	n.JID, n.Version = contact, r.version
	r.items[contact] = n
	delete(r.tombs, contact)
	out := cloneItem(n)
	return &out, r.version, nil
}

func (m *memStore) RosterChangesSince(_ context.Context, host, user string, version int64) ([]storage.RosterChange, int64, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.roster(host, user)
	if version > r.version || version < r.pruned {
		return nil, r.version, false, nil
	}
	var out []storage.RosterChange
	for _, it := range r.items {
		if it.Version > version {
			out = append(out, storage.RosterChange{Item: cloneItem(it)})
		}
	}
	for c, v := range r.tombs {
		if v > version {
			out = append(out, storage.RosterChange{Item: storage.RosterItem{JID: c, Version: v}, Removed: true})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Item.Version < out[j].Item.Version })
	return out, r.version, true, nil
}

// AccountData, for the pending subscription requests.

type dataKey struct{ account, kind, key string }

type memData struct {
	mu   sync.Mutex
	vals map[dataKey][]byte
}

func (m *memData) GetData(_ context.Context, host, user, kind, key string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.vals[dataKey{user + "@" + host, kind, key}]
	if !ok {
		return nil, storage.ErrNotFound
	}
	return slices.Clone(v), nil
}

func (m *memData) PutData(_ context.Context, host, user, kind, key string, value []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.vals == nil {
		m.vals = make(map[dataKey][]byte)
	}
	m.vals[dataKey{user + "@" + host, kind, key}] = slices.Clone(value)
	return nil
}

func (m *memData) DeleteData(_ context.Context, host, user, kind, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := dataKey{user + "@" + host, kind, key}
	if _, ok := m.vals[k]; !ok {
		return storage.ErrNotFound
	}
	delete(m.vals, k)
	return nil
}

func (m *memData) ListData(_ context.Context, host, user, kind string) ([]storage.DataItem, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []storage.DataItem
	for k, v := range m.vals {
		if k.account == user+"@"+host && k.kind == kind {
			out = append(out, storage.DataItem{Key: k.key, Value: slices.Clone(v)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}
