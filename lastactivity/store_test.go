package lastactivity

import (
	"context"
	"slices"
	"sync"

	"parley.im/parley/storage"
)

// memData stands in for the storage backend until storage/sqlite
// implements storage.AccountData; it follows the interface's contract.
type memData struct {
	mu   sync.Mutex
	data map[[4]string][]byte
	err  error
}

func newMemData() *memData { return &memData{data: make(map[[4]string][]byte)} }

func (m *memData) GetData(_ context.Context, host, username, kind, key string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return nil, m.err
	}
	v, ok := m.data[[4]string{host, username, kind, key}]
	if !ok {
		return nil, storage.ErrNotFound
	}
	return slices.Clone(v), nil
}

func (m *memData) PutData(_ context.Context, host, username, kind, key string, value []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return m.err
	}
	m.data[[4]string{host, username, kind, key}] = slices.Clone(value)
	return nil
}

func (m *memData) DeleteData(_ context.Context, host, username, kind, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return m.err
	}
	k := [4]string{host, username, kind, key}
	if _, ok := m.data[k]; !ok {
		return storage.ErrNotFound
	}
	delete(m.data, k)
	return nil
}

func (m *memData) ListData(_ context.Context, host, username, kind string) ([]storage.DataItem, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return nil, m.err
	}
	var out []storage.DataItem
	for k, v := range m.data {
		if k[0] == host && k[1] == username && k[2] == kind {
			out = append(out, storage.DataItem{Key: k[3], Value: slices.Clone(v)})
		}
	}
	slices.SortFunc(out, func(a, b storage.DataItem) int {
		if a.Key < b.Key {
			return -1
		}
		if a.Key > b.Key {
			return 1
		}
		return 0
	})
	return out, nil
}

var _ storage.AccountData = (*memData)(nil)
