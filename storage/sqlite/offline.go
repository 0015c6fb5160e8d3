package sqlite

import (
	"context"
	"time"

	"parley.im/parley/storage"
)

// PushOffline implements storage.Offline. The account check, the count and
// the insert run in one write transaction, so concurrent pushes cannot
// overshoot the limit. The count stops at limit: a user far over a lowered
// limit costs no more than one at it.
func (s *Store) PushOffline(ctx context.Context, host, username string, stanza []byte, stamp time.Time, limit int) error {
	if stanza == nil {
		stanza = []byte{} // nil would be NULL
	}
	err := s.inWriteTx(ctx, func(tx cachedTx) error {
		var n int
		err := tx.QueryRowContext(ctx, `
			SELECT (SELECT count(*) FROM (
				SELECT 1 FROM offline_messages WHERE host = ? AND username = ? LIMIT ?))
			FROM accounts WHERE host = ? AND username = ?`,
			host, username, max(limit, 0), host, username).Scan(&n)
		if err != nil {
			return err
		}
		if limit > 0 && n >= limit {
			return storage.ErrQuota
		}
		_, err = tx.ExecContext(ctx,
			`INSERT INTO offline_messages (host, username, stamp, stanza) VALUES (?, ?, ?, ?)`,
			host, username, stamp.UnixMicro(), stanza)
		return err
	})
	return wrap("push offline", err)
}

// OfflineMessages implements storage.Offline.
func (s *Store) OfflineMessages(ctx context.Context, host, username string) ([]storage.OfflineMessage, error) {
	rows, err := s.read.QueryContext(ctx, `
		SELECT id, stamp, stanza FROM offline_messages
		WHERE host = ? AND username = ? ORDER BY id`,
		host, username)
	if err != nil {
		return nil, wrap("offline messages", err)
	}
	defer rows.Close()
	var ms []storage.OfflineMessage
	for rows.Next() {
		var (
			m     storage.OfflineMessage
			stamp int64
		)
		if err := rows.Scan(&m.ID, &stamp, &m.Stanza); err != nil {
			return nil, wrap("offline messages", err)
		}
		m.Stamp = time.UnixMicro(stamp).UTC()
		ms = append(ms, m)
	}
	return ms, wrap("offline messages", rows.Err())
}

// DeleteOffline implements storage.Offline.
func (s *Store) DeleteOffline(ctx context.Context, host, username string, upTo int64) error {
	_, err := s.write.ExecContext(ctx,
		`DELETE FROM offline_messages WHERE host = ? AND username = ? AND id <= ?`,
		host, username, upTo)
	return wrap("delete offline", err)
}

// CountOffline implements storage.Offline.
func (s *Store) CountOffline(ctx context.Context, host, username string) (int, error) {
	var n int
	err := s.read.QueryRowContext(ctx,
		`SELECT count(*) FROM offline_messages WHERE host = ? AND username = ?`,
		host, username).Scan(&n)
	if err != nil {
		return 0, wrap("count offline", err)
	}
	return n, nil
}
