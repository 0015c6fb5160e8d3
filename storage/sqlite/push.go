package sqlite

import (
	"context"
	"time"

	"parley.im/parley/storage"
)

// PutPushRegistration implements storage.Push: in one write transaction,
// the account is checked, the quota counted without the row being
// replaced, and the row upserted.
func (s *Store) PutPushRegistration(ctx context.Context, host, username string, reg storage.PushRegistration, limit int) error {
	now := micros(time.Now())
	err := s.inWriteTx(ctx, func(tx cachedTx) error {
		var one int
		if err := tx.QueryRowContext(ctx,
			`SELECT 1 FROM accounts WHERE host = ? AND username = ?`, host, username).Scan(&one); err != nil {
			return err
		}
		if limit > 0 {
			var n int
			if err := tx.QueryRowContext(ctx, `
				SELECT count(*) FROM push_registrations
				WHERE host = ? AND username = ? AND NOT (service = ? AND node = ?)`,
				host, username, reg.Service, reg.Node).Scan(&n); err != nil {
				return err
			}
			if n >= limit {
				return storage.ErrQuota
			}
		}
		_, err := tx.ExecContext(ctx, `
			INSERT INTO push_registrations (host, username, service, node, options, created_at)
			VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (host, username, service, node)
			DO UPDATE SET options = excluded.options, created_at = excluded.created_at`,
			host, username, reg.Service, reg.Node, nullBytes(reg.Options), now)
		return err
	})
	return wrap("put push registration", err)
}

// PushRegistrations implements storage.Push.
func (s *Store) PushRegistrations(ctx context.Context, host, username string) ([]storage.PushRegistration, error) {
	rows, err := s.read.QueryContext(ctx, `
		SELECT service, node, options, created_at FROM push_registrations
		WHERE host = ? AND username = ? ORDER BY service, node`,
		host, username)
	if err != nil {
		return nil, wrap("push registrations", err)
	}
	defer rows.Close()
	var out []storage.PushRegistration
	for rows.Next() {
		var (
			r       storage.PushRegistration
			created int64
		)
		if err := rows.Scan(&r.Service, &r.Node, &r.Options, &created); err != nil {
			return nil, wrap("push registrations", err)
		}
		r.Created = fromMicros(created)
		out = append(out, r)
	}
	return out, wrap("push registrations", rows.Err())
}

// DeletePushRegistrations implements storage.Push.
func (s *Store) DeletePushRegistrations(ctx context.Context, host, username, service, node string) (int, error) {
	q, args := `DELETE FROM push_registrations WHERE host = ? AND username = ? AND service = ?`, []any{host, username, service}
	if node != "" {
		q += ` AND node = ?`
		args = append(args, node)
	}
	res, err := s.write.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, wrap("delete push registrations", err)
	}
	n, err := res.RowsAffected()
	return int(n), wrap("delete push registrations", err)
}

// nullBytes stores nil as NULL and anything else, empty included, as is.
func nullBytes(b []byte) any {
	if b == nil {
		return nil
	}
	return b
}
