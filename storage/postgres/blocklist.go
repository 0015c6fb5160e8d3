package postgres

import (
	"cmp"
	"context"
	"slices"

	"github.com/jackc/pgx/v5"

	"parley.im/parley/storage"
)

// BlockedJIDs implements storage.Blocklist.
func (s *Store) BlockedJIDs(ctx context.Context, host, username string) ([]string, error) {
	rows, err := s.pool.Query(ctx,
		`SELECT jid FROM blocklist WHERE host = $1 AND username = $2 ORDER BY jid`,
		host, username)
	if err != nil {
		return nil, wrap("blocked jids", err)
	}
	jids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(jids) == 0 {
		return nil, wrap("blocked jids", err)
	}
	return jids, nil
}

// Block implements storage.Blocklist, in one statement: the account row is
// share-locked against deletion, the JIDs are inserted from it (none for a
// missing account), and ON CONFLICT DO NOTHING leaves out those already
// blocked, also by a concurrent Block, which it waits for. The JIDs go in
// in byte order: two Blocks of overlapping lists in different orders would
// otherwise each wait for a JID the other inserted first, a deadlock.
func (s *Store) Block(ctx context.Context, host, username string, jids []string) ([]string, error) {
	var (
		exists bool
		added  []string
	)
	err := s.pool.QueryRow(ctx, `
		WITH a AS (
			SELECT host, username FROM accounts WHERE host = $1 AND username = $2 FOR KEY SHARE
		), ins AS (
			INSERT INTO blocklist (host, username, jid)
			SELECT a.host, a.username, j.jid FROM a, (SELECT DISTINCT unnest($3::text[]) AS jid) AS j
			ORDER BY j.jid
			ON CONFLICT DO NOTHING
			RETURNING jid
		)
		SELECT EXISTS (SELECT 1 FROM a), array(SELECT jid FROM ins)`,
		host, username, jids).Scan(&exists, &added)
	switch {
	case isForeignKeyViolation(err):
		return nil, storage.ErrNotFound
	case err != nil:
		return nil, wrap("block", err)
	case !exists:
		return nil, storage.ErrNotFound
	case len(added) == 0:
		return nil, nil
	}
	slices.SortFunc(added, cmp.Compare[string])
	return added, nil
}

// Unblock implements storage.Blocklist.
func (s *Store) Unblock(ctx context.Context, host, username string, jids []string) ([]string, error) {
	var (
		rows pgx.Rows
		err  error
	)
	if len(jids) == 0 {
		rows, err = s.pool.Query(ctx,
			`DELETE FROM blocklist WHERE host = $1 AND username = $2 RETURNING jid`,
			host, username)
	} else {
		rows, err = s.pool.Query(ctx,
			`DELETE FROM blocklist WHERE host = $1 AND username = $2 AND jid = ANY ($3::text[]) RETURNING jid`,
			host, username, jids)
	}
	if err != nil {
		return nil, wrap("unblock", err)
	}
	removed, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(removed) == 0 {
		return nil, wrap("unblock", err)
	}
	slices.SortFunc(removed, cmp.Compare[string])
	return removed, nil
}
