package sqlite

import (
	"context"
	"time"

	"parley.im/parley/storage"
)

// FastTokens implements storage.FastTokens.
func (s *Store) FastTokens(ctx context.Context, host, username, agentID string) ([]storage.FastToken, error) {
	rows, err := s.read.QueryContext(ctx,
		`SELECT key, mechanism, expires, used, count FROM fast_tokens
		 WHERE host = ? AND username = ? AND agent_id = ? ORDER BY expires DESC, key`,
		host, username, agentID)
	if err != nil {
		return nil, wrap("fast tokens", err)
	}
	defer rows.Close()
	var out []storage.FastToken
	for rows.Next() {
		t := storage.FastToken{Host: host, Username: username, AgentID: agentID}
		var expires, count int64
		if err := rows.Scan(&t.Key, &t.Mechanism, &expires, &t.Used, &count); err != nil {
			return nil, wrap("fast tokens", err)
		}
		t.Expires, t.Count = time.UnixMicro(expires).UTC(), uint64(count)
		out = append(out, t)
	}
	return out, wrap("fast tokens", rows.Err())
}

// AddFastToken implements storage.FastTokens.
func (s *Store) AddFastToken(ctx context.Context, t storage.FastToken) error {
	if err := checkCount(t.Count); err != nil {
		return err
	}
	err := s.inWriteTx(ctx, func(tx cachedTx) error {
		var one int
		if err := tx.QueryRowContext(ctx,
			`SELECT 1 FROM accounts WHERE host = ? AND username = ?`,
			t.Host, t.Username).Scan(&one); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx,
			`DELETE FROM fast_tokens WHERE host = ? AND username = ? AND agent_id = ? AND (used = 0 OR expires <= ?)`,
			t.Host, t.Username, t.AgentID, time.Now().UnixMicro()); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx,
			`INSERT INTO fast_tokens (host, username, agent_id, key, mechanism, expires, used, count)
			 VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			t.Host, t.Username, t.AgentID, t.Key, t.Mechanism, t.Expires.UnixMicro(), t.Used, int64(t.Count))
		if isUniqueViolation(err) {
			return storage.ErrConflict
		}
		return err
	})
	return wrap("add fast token", err)
}

// UseFastToken implements storage.FastTokens.
func (s *Store) UseFastToken(ctx context.Context, host, username, agentID string, key []byte, count uint64) error {
	if err := checkCount(count); err != nil {
		return err
	}
	err := s.inWriteTx(ctx, func(tx cachedTx) error {
		var expires, stored int64
		if err := tx.QueryRowContext(ctx,
			`SELECT expires, count FROM fast_tokens WHERE host = ? AND username = ? AND agent_id = ? AND key = ?`,
			host, username, agentID, key).Scan(&expires, &stored); err != nil {
			return err
		}
		newCount := stored
		if count > 0 {
			if int64(count) <= stored {
				return storage.ErrConflict
			}
			newCount = int64(count)
		}
		if _, err := tx.ExecContext(ctx,
			`UPDATE fast_tokens SET used = 1, count = ? WHERE host = ? AND username = ? AND agent_id = ? AND key = ?`,
			newCount, host, username, agentID, key); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx,
			`DELETE FROM fast_tokens WHERE host = ? AND username = ? AND agent_id = ? AND expires < ?`,
			host, username, agentID, expires)
		return err
	})
	return wrap("use fast token", err)
}

// DeleteFastTokens implements storage.FastTokens.
func (s *Store) DeleteFastTokens(ctx context.Context, host, username, agentID string) error {
	var err error
	if agentID == "" {
		_, err = s.write.ExecContext(ctx,
			`DELETE FROM fast_tokens WHERE host = ? AND username = ?`, host, username)
	} else {
		_, err = s.write.ExecContext(ctx,
			`DELETE FROM fast_tokens WHERE host = ? AND username = ? AND agent_id = ?`, host, username, agentID)
	}
	return wrap("delete fast tokens", err)
}

// checkCount keeps counters within SQLite's signed 64-bit integers.
func checkCount(c uint64) error {
	if c > 1<<63-1 {
		return storage.ErrConflict
	}
	return nil
}
