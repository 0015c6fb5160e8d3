package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"parley.im/parley/storage"
)

// PutPushRegistration implements storage.Push. The account row is
// share-locked so that the count and the upsert see it still there, and
// concurrent puts for one account serialize on it (FOR NO KEY UPDATE), so
// two new registrations cannot both pass the quota.
func (s *Store) PutPushRegistration(ctx context.Context, host, username string, reg storage.PushRegistration, limit int) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var one int
		if err := tx.QueryRow(ctx,
			`SELECT 1 FROM accounts WHERE host = $1 AND username = $2 FOR NO KEY UPDATE`,
			host, username).Scan(&one); err != nil {
			return err
		}
		if limit > 0 {
			var n int
			if err := tx.QueryRow(ctx, `
				SELECT count(*) FROM push_registrations
				WHERE host = $1 AND username = $2 AND NOT (service = $3 AND node = $4)`,
				host, username, reg.Service, reg.Node).Scan(&n); err != nil {
				return err
			}
			if n >= limit {
				return storage.ErrQuota
			}
		}
		_, err := tx.Exec(ctx, `
			INSERT INTO push_registrations (host, username, service, node, options, created_at)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (host, username, service, node)
			DO UPDATE SET options = excluded.options, created_at = excluded.created_at`,
			host, username, reg.Service, reg.Node, reg.Options, time.Now().UTC())
		return err
	})
	if isForeignKeyViolation(err) {
		return storage.ErrNotFound
	}
	return wrap("put push registration", err)
}

// PushRegistrations implements storage.Push.
func (s *Store) PushRegistrations(ctx context.Context, host, username string) ([]storage.PushRegistration, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT service, node, options, created_at FROM push_registrations
		WHERE host = $1 AND username = $2 ORDER BY service, node`,
		host, username)
	if err != nil {
		return nil, wrap("push registrations", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (storage.PushRegistration, error) {
		var r storage.PushRegistration
		err := row.Scan(&r.Service, &r.Node, &r.Options, &r.Created)
		r.Created = r.Created.UTC()
		return r, err
	})
	if err != nil || len(out) == 0 {
		return nil, wrap("push registrations", err)
	}
	return out, nil
}

// DeletePushRegistrations implements storage.Push.
func (s *Store) DeletePushRegistrations(ctx context.Context, host, username, service, node string) (int, error) {
	tag, err := s.pool.Exec(ctx, `
		DELETE FROM push_registrations
		WHERE host = $1 AND username = $2 AND service = $3 AND ($4 = '' OR node = $4)`,
		host, username, service, node)
	if err != nil {
		return 0, wrap("delete push registrations", err)
	}
	return int(tag.RowsAffected()), nil
}
