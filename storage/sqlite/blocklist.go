package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"slices"
)

// BlockedJIDs implements storage.Blocklist.
func (s *Store) BlockedJIDs(ctx context.Context, host, username string) ([]string, error) {
	rows, err := s.read.QueryContext(ctx,
		`SELECT jid FROM blocklist WHERE host = ? AND username = ? ORDER BY jid`,
		host, username)
	if err != nil {
		return nil, wrap("blocked jids", err)
	}
	jids, err := scanStrings(rows)
	return jids, wrap("blocked jids", err)
}

// Block implements storage.Blocklist.
func (s *Store) Block(ctx context.Context, host, username string, jids []string) ([]string, error) {
	var added []string
	err := s.inWriteTx(ctx, func(tx cachedTx) error {
		var one int
		err := tx.QueryRowContext(ctx,
			`SELECT 1 FROM accounts WHERE host = ? AND username = ?`,
			host, username).Scan(&one)
		if err != nil {
			return err
		}
		for _, jid := range sortedSet(jids) {
			res, err := tx.ExecContext(ctx,
				`INSERT INTO blocklist (host, username, jid) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
				host, username, jid)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n == 1 {
				added = append(added, jid)
			}
		}
		return nil
	})
	if err != nil {
		return nil, wrap("block", err)
	}
	return added, nil
}

// Unblock implements storage.Blocklist.
func (s *Store) Unblock(ctx context.Context, host, username string, jids []string) ([]string, error) {
	var removed []string
	err := s.inWriteTx(ctx, func(tx cachedTx) error {
		if len(jids) == 0 {
			rows, err := tx.QueryContext(ctx,
				`DELETE FROM blocklist WHERE host = ? AND username = ? RETURNING jid`,
				host, username)
			if err != nil {
				return err
			}
			removed, err = scanStrings(rows)
			slices.Sort(removed)
			return err
		}
		for _, jid := range sortedSet(jids) {
			res, err := tx.ExecContext(ctx,
				`DELETE FROM blocklist WHERE host = ? AND username = ? AND jid = ?`,
				host, username, jid)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n == 1 {
				removed = append(removed, jid)
			}
		}
		return nil
	})
	if err != nil {
		return nil, wrap("unblock", err)
	}
	return removed, nil
}

// sortedSet returns the distinct strings of ss in ascending byte order.
func sortedSet(ss []string) []string {
	return slices.Compact(slices.SortedFunc(slices.Values(ss), cmp.Compare[string]))
}

func scanStrings(rows *sql.Rows) ([]string, error) {
	defer rows.Close()
	var ss []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		ss = append(ss, s)
	}
	return ss, rows.Err()
}
