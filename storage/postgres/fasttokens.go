package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"parley.im/parley/storage"
)

// FastTokens implements storage.FastTokens.
func (s *Store) FastTokens(ctx context.Context, host, username, agentID string) ([]storage.FastToken, error) {
	rows, err := s.pool.Query(ctx,
		`SELECT key, mechanism, expires, used, count FROM fast_tokens
		 WHERE host = $1 AND username = $2 AND agent_id = $3 ORDER BY expires DESC, key`,
		host, username, agentID)
	if err != nil {
		return nil, wrap("fast tokens", err)
	}
	defer rows.Close()
	var out []storage.FastToken
	for rows.Next() {
		t := storage.FastToken{Host: host, Username: username, AgentID: agentID}
		var count int64
		if err := rows.Scan(&t.Key, &t.Mechanism, &t.Expires, &t.Used, &count); err != nil {
			return nil, wrap("fast tokens", err)
		}
		t.Expires, t.Count = t.Expires.UTC(), uint64(count)
		out = append(out, t)
	}
	return out, wrap("fast tokens", rows.Err())
}

// AddFastToken implements storage.FastTokens. The account row is
// share-locked against deletion while the token goes in.
func (s *Store) AddFastToken(ctx context.Context, t storage.FastToken) error {
	if t.Count > 1<<63-1 {
		return storage.ErrConflict
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var one int
		if err := tx.QueryRow(ctx,
			`SELECT 1 FROM accounts WHERE host = $1 AND username = $2 FOR KEY SHARE`,
			t.Host, t.Username).Scan(&one); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx,
			`DELETE FROM fast_tokens WHERE host = $1 AND username = $2 AND agent_id = $3 AND (NOT used OR expires <= now())`,
			t.Host, t.Username, t.AgentID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx,
			`INSERT INTO fast_tokens (host, username, agent_id, key, mechanism, expires, used, count)
			 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			t.Host, t.Username, t.AgentID, t.Key, t.Mechanism, t.Expires, t.Used, int64(t.Count))
		switch {
		case isUniqueViolation(err):
			return storage.ErrConflict
		case isForeignKeyViolation(err):
			return storage.ErrNotFound
		}
		return err
	})
	return wrap("add fast token", err)
}

// UseFastToken implements storage.FastTokens. The conditional UPDATE is the
// replay check: of two uses with one counter value, the second waits for
// the first's row lock and then finds the counter no longer smaller.
func (s *Store) UseFastToken(ctx context.Context, host, username, agentID string, key []byte, count uint64) error {
	if count > 1<<63-1 {
		return storage.ErrConflict
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var expires time.Time
		err := tx.QueryRow(ctx,
			`UPDATE fast_tokens SET used = true, count = CASE WHEN $5::bigint > 0 THEN $5::bigint ELSE count END
			 WHERE host = $1 AND username = $2 AND agent_id = $3 AND key = $4 AND ($5::bigint = 0 OR count < $5::bigint)
			 RETURNING expires`,
			host, username, agentID, key, int64(count)).Scan(&expires)
		if errors.Is(err, pgx.ErrNoRows) {
			var one int
			err := tx.QueryRow(ctx,
				`SELECT 1 FROM fast_tokens WHERE host = $1 AND username = $2 AND agent_id = $3 AND key = $4`,
				host, username, agentID, key).Scan(&one)
			if err != nil {
				return err // ErrNoRows: the token is gone
			}
			return storage.ErrConflict
		}
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx,
			`DELETE FROM fast_tokens WHERE host = $1 AND username = $2 AND agent_id = $3 AND expires < $4`,
			host, username, agentID, expires)
		return err
	})
	return wrap("use fast token", err)
}

// DeleteFastTokens implements storage.FastTokens.
func (s *Store) DeleteFastTokens(ctx context.Context, host, username, agentID string) error {
	var err error
	if agentID == "" {
		_, err = s.pool.Exec(ctx, `DELETE FROM fast_tokens WHERE host = $1 AND username = $2`, host, username)
	} else {
		_, err = s.pool.Exec(ctx, `DELETE FROM fast_tokens WHERE host = $1 AND username = $2 AND agent_id = $3`,
			host, username, agentID)
	}
	return wrap("delete fast tokens", err)
}
