package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"parley.im/parley/storage"
)

// GetData implements storage.AccountData.
func (s *Store) GetData(ctx context.Context, host, username, kind, key string) ([]byte, error) {
	var v []byte
	err := s.pool.QueryRow(ctx, `
		SELECT value FROM account_data
		WHERE host = $1 AND username = $2 AND kind = $3 AND key = $4`,
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
	tag, err := s.pool.Exec(ctx, `
		INSERT INTO account_data (host, username, kind, key, value, updated_at)
		SELECT host, username, $3, $4, $5, $6 FROM accounts WHERE host = $1 AND username = $2
		ON CONFLICT (host, username, kind, key) DO UPDATE SET
			value = excluded.value, updated_at = excluded.updated_at`,
		host, username, kind, key, value, time.Now().UTC())
	switch {
	case isForeignKeyViolation(err):
		return storage.ErrNotFound
	case err != nil:
		return wrap("put data", err)
	case tag.RowsAffected() == 0:
		return storage.ErrNotFound
	}
	return nil
}

// DeleteData implements storage.AccountData.
func (s *Store) DeleteData(ctx context.Context, host, username, kind, key string) error {
	tag, err := s.pool.Exec(ctx, `
		DELETE FROM account_data
		WHERE host = $1 AND username = $2 AND kind = $3 AND key = $4`,
		host, username, kind, key)
	if err != nil {
		return wrap("delete data", err)
	}
	if tag.RowsAffected() == 0 {
		return storage.ErrNotFound
	}
	return nil
}

// ListData implements storage.AccountData. The primary key holds a kind's
// keys in byte order.
func (s *Store) ListData(ctx context.Context, host, username, kind string) ([]storage.DataItem, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT key, value, updated_at FROM account_data
		WHERE host = $1 AND username = $2 AND kind = $3
		ORDER BY key`,
		host, username, kind)
	if err != nil {
		return nil, wrap("list data", err)
	}
	items, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (storage.DataItem, error) {
		var it storage.DataItem
		err := row.Scan(&it.Key, &it.Value, &it.Updated)
		it.Updated = it.Updated.UTC()
		return it, err
	})
	if err != nil || len(items) == 0 {
		return nil, wrap("list data", err)
	}
	return items, nil
}
