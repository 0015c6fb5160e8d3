package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"parley.im/parley/storage"
)

// PushOffline implements storage.Offline. The account row is locked first
// (FOR NO KEY UPDATE, which leaves logins, roster updates and block list
// changes alone): pushes to one user then run one after another, so two of
// them cannot both pass the limit, and ids grow in commit order. The
// insert counts in the same statement, and stops counting at limit. Lock
// and insert go in one batch.
func (s *Store) PushOffline(ctx context.Context, host, username string, stanza []byte, stamp time.Time, limit int) error {
	if stanza == nil {
		stanza = []byte{} // nil would be NULL
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var b pgx.Batch
		b.Queue(`SELECT 1 FROM accounts WHERE host = $1 AND username = $2 FOR NO KEY UPDATE`,
			host, username).QueryRow(func(row pgx.Row) error {
			var one int32
			return row.Scan(&one)
		})
		b.Queue(`
			INSERT INTO offline_messages (host, username, stamp, stanza)
			SELECT $1, $2, $3, $4
			WHERE $5 <= 0 OR (SELECT count(*) FROM (
				SELECT 1 FROM offline_messages WHERE host = $1 AND username = $2 LIMIT $5) AS m) < $5`,
			host, username, stamp, stanza, max(limit, 0)).Exec(func(tag pgconn.CommandTag) error {
			if tag.RowsAffected() == 0 {
				return storage.ErrQuota
			}
			return nil
		})
		return tx.SendBatch(ctx, &b).Close()
	})
	if errors.Is(err, pgx.ErrNoRows) || isForeignKeyViolation(err) {
		return storage.ErrNotFound
	}
	return wrap("push offline", err)
}

// OfflineMessages implements storage.Offline.
func (s *Store) OfflineMessages(ctx context.Context, host, username string) ([]storage.OfflineMessage, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT id, stamp, stanza FROM offline_messages
		WHERE host = $1 AND username = $2 ORDER BY id`,
		host, username)
	if err != nil {
		return nil, wrap("offline messages", err)
	}
	ms, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (storage.OfflineMessage, error) {
		var m storage.OfflineMessage
		err := row.Scan(&m.ID, &m.Stamp, &m.Stanza)
		m.Stamp = m.Stamp.UTC()
		return m, err
	})
	if err != nil {
		return nil, wrap("offline messages", err)
	}
	if len(ms) == 0 {
		return nil, nil
	}
	return ms, nil
}

// DeleteOffline implements storage.Offline.
func (s *Store) DeleteOffline(ctx context.Context, host, username string, upTo int64) error {
	_, err := s.pool.Exec(ctx,
		`DELETE FROM offline_messages WHERE host = $1 AND username = $2 AND id <= $3`,
		host, username, upTo)
	return wrap("delete offline", err)
}

// CountOffline implements storage.Offline.
func (s *Store) CountOffline(ctx context.Context, host, username string) (int, error) {
	var n int64
	err := s.pool.QueryRow(ctx,
		`SELECT count(*) FROM offline_messages WHERE host = $1 AND username = $2`,
		host, username).Scan(&n)
	if err != nil {
		return 0, wrap("count offline", err)
	}
	return int(n), nil
}
