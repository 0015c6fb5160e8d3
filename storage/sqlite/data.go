package sqlite

import (
	"context"
	"time"

	"parley.im/parley/storage"
)

// GetData implements storage.AccountData.
func (s *Store) GetData(ctx context.Context, host, username, kind, key string) ([]byte, error) {
	var v []byte
	err := s.read.QueryRowContext(ctx, `
		SELECT value FROM account_data
		WHERE host = ? AND username = ? AND kind = ? AND key = ?`,
		host, username, kind, key).Scan(&v)
	if err != nil {
		return nil, wrap("get data", err)
	}
	return v, nil
}

// PutData implements storage.AccountData. Selecting the values from the
// account row makes the insert a no-op for a missing account, which is how
// ErrNotFound is told apart, in one statement.
func (s *Store) PutData(ctx context.Context, host, username, kind, key string, value []byte) error {
	if value == nil {
		value = []byte{} // nil would be NULL
	}
	res, err := s.write.ExecContext(ctx, `
		INSERT INTO account_data (host, username, kind, key, value, updated_at)
		SELECT host, username, ?, ?, ?, ? FROM accounts WHERE host = ? AND username = ?
		ON CONFLICT (host, username, kind, key) DO UPDATE SET
			value = excluded.value, updated_at = excluded.updated_at`,
		kind, key, value, time.Now().UnixMicro(), host, username)
	if err != nil {
		return wrap("put data", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return wrap("put data", err)
	}
	if n == 0 {
		return storage.ErrNotFound
	}
	return nil
}

// DeleteData implements storage.AccountData.
func (s *Store) DeleteData(ctx context.Context, host, username, kind, key string) error {
	res, err := s.write.ExecContext(ctx, `
		DELETE FROM account_data
		WHERE host = ? AND username = ? AND kind = ? AND key = ?`,
		host, username, kind, key)
	if err != nil {
		return wrap("delete data", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return wrap("delete data", err)
	}
	if n == 0 {
		return storage.ErrNotFound
	}
	return nil
}

// ListData implements storage.AccountData. The primary key holds a kind's
// keys in byte order.
func (s *Store) ListData(ctx context.Context, host, username, kind string) ([]storage.DataItem, error) {
	rows, err := s.read.QueryContext(ctx, `
		SELECT key, value, updated_at FROM account_data
		WHERE host = ? AND username = ? AND kind = ?
		ORDER BY key`,
		host, username, kind)
	if err != nil {
		return nil, wrap("list data", err)
	}
	defer rows.Close()
	var items []storage.DataItem
	for rows.Next() {
		var (
			it      storage.DataItem
			updated int64
		)
		if err := rows.Scan(&it.Key, &it.Value, &updated); err != nil {
			return nil, wrap("list data", err)
		}
		it.Updated = time.UnixMicro(updated).UTC()
		items = append(items, it)
	}
	return items, wrap("list data", rows.Err())
}
