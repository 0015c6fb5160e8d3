package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"parley.im/parley/storage"
)

// itemColumns are a roster row's columns with its groups gathered, in
// order, into an array: one result row per item.
const itemColumns = `i.contact, i.name, i.subscription, i.pending_out, i.pending_in, i.approved,
	i.removed, i.version,
	array(SELECT g.name FROM roster_groups AS g
		WHERE g.host = i.host AND g.username = i.username AND g.contact = i.contact
		ORDER BY g.position)`

// rosterQuery reads a roster's version, the oldest version changes can be
// computed from, and a set of its rows, all in one statement and so from
// one snapshot. The one-row subquery makes a roster without rows (or
// without a rosters row at all) still return its version, with NULL item
// columns. The caller appends the join condition and the ORDER BY.
const rosterQuery = `
	SELECT r.version, r.min_version, ` + itemColumns + `
	FROM (SELECT coalesce(max(version), 0) AS version, coalesce(max(min_version), 0) AS min_version
		FROM rosters WHERE host = $1 AND username = $2) AS r
	LEFT JOIN roster_items AS i ON i.host = $1 AND i.username = $2`

// nullableItem receives itemColumns from the outer join of rosterQuery.
type nullableItem struct {
	contact, name, subscription *string
	pendingOut, pendingIn       *bool
	approved, removed           *bool
	version                     *int64
	groups                      []string
}

func (n *nullableItem) dest() []any {
	return []any{&n.contact, &n.name, &n.subscription, &n.pendingOut, &n.pendingIn, &n.approved,
		&n.removed, &n.version, &n.groups}
}

// change returns the row as a change, and false for the NULL row of a
// roster without matching rows.
func (n *nullableItem) change() (storage.RosterChange, bool) {
	if n.contact == nil {
		return storage.RosterChange{}, false
	}
	if *n.removed {
		return storage.RosterChange{Item: storage.RosterItem{JID: *n.contact, Version: *n.version}, Removed: true}, true
	}
	return storage.RosterChange{Item: storage.RosterItem{
		JID: *n.contact, Name: *n.name, Subscription: *n.subscription,
		PendingOut: *n.pendingOut, PendingIn: *n.pendingIn, Approved: *n.approved,
		Groups: n.groups, Version: *n.version,
	}}, true
}

// queryRoster runs a rosterQuery and returns the version, the oldest
// version answerable and the rows as changes.
func (s *Store) queryRoster(ctx context.Context, sql string, args ...any) (version, minVersion int64, cs []storage.RosterChange, err error) {
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return 0, 0, nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var n nullableItem
		if err := rows.Scan(append([]any{&version, &minVersion}, n.dest()...)...); err != nil {
			return 0, 0, nil, err
		}
		if c, ok := n.change(); ok {
			cs = append(cs, c)
		}
	}
	return version, minVersion, cs, rows.Err()
}

// RosterItems implements storage.Roster.
func (s *Store) RosterItems(ctx context.Context, host, username string) ([]storage.RosterItem, int64, error) {
	version, _, cs, err := s.queryRoster(ctx, rosterQuery+` AND NOT i.removed ORDER BY i.contact`, host, username)
	if err != nil {
		return nil, 0, wrap("roster items", err)
	}
	var items []storage.RosterItem
	for _, c := range cs {
		items = append(items, c.Item)
	}
	return items, version, nil
}

// RosterItem implements storage.Roster.
func (s *Store) RosterItem(ctx context.Context, host, username, contact string) (storage.RosterItem, error) {
	it, err := readItem(s.pool.QueryRow(ctx, `SELECT `+itemColumns+`
		FROM roster_items AS i WHERE i.host = $1 AND i.username = $2 AND i.contact = $3`,
		host, username, contact))
	if err != nil {
		return storage.RosterItem{}, wrap("roster item", err)
	}
	if it == nil {
		return storage.RosterItem{}, storage.ErrNotFound
	}
	return *it, nil
}

// readItem scans one row of itemColumns: nil if there is none or it is a
// tombstone.
func readItem(row pgx.Row) (*storage.RosterItem, error) {
	var n nullableItem
	err := row.Scan(n.dest()...)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	c, _ := n.change()
	if c.Removed {
		return nil, nil
	}
	return &c.Item, nil
}

// errRollback ends a transaction that turned out to have nothing to write.
var errRollback = errors.New("postgres: nothing to write")

// UpdateRosterItem implements storage.Roster.
//
// The roster's row in rosters is the lock: it is created if missing (from
// the account row, so not for a missing account) and then locked FOR
// UPDATE, so updates of one roster run one after another, each reading the
// item only once it holds the lock. The version comes from the sequence
// while the lock is held, so versions grow in commit order. The reads and
// the lock go in one batch, the writes in another: four round trips with
// BEGIN and COMMIT. A concurrent DeleteAccount either waits for the update
// or makes it see no roster row (ErrNotFound); the lock order, accounts
// then rosters, is the cascade's, so the two cannot deadlock.
func (s *Store) UpdateRosterItem(ctx context.Context, host, username, contact string,
	f func(cur *storage.RosterItem) (*storage.RosterItem, error)) (*storage.RosterItem, int64, error) {
	var (
		result  *storage.RosterItem
		version int64
		fErr    error
	)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var (
			b   pgx.Batch
			old *storage.RosterItem
			v   int64
		)
		b.Queue(`
			INSERT INTO rosters (host, username, version, min_version)
			SELECT host, username, 0, 0 FROM accounts WHERE host = $1 AND username = $2
			ON CONFLICT DO NOTHING`, host, username)
		b.Queue(`SELECT version FROM rosters WHERE host = $1 AND username = $2 FOR UPDATE`,
			host, username).QueryRow(func(row pgx.Row) error { return row.Scan(&version) })
		b.Queue(`SELECT `+itemColumns+`
			FROM roster_items AS i WHERE i.host = $1 AND i.username = $2 AND i.contact = $3`,
			host, username, contact).QueryRow(func(row pgx.Row) (err error) {
			old, err = readItem(row)
			return err
		})
		b.Queue(`SELECT nextval('roster_versions')`).QueryRow(func(row pgx.Row) error { return row.Scan(&v) })
		if err := tx.SendBatch(ctx, &b).Close(); err != nil {
			return err
		}

		next, err := f(cloneItem(old))
		if err != nil {
			if errors.Is(err, storage.ErrUnchanged) {
				result = old
				return errRollback
			}
			fErr = err
			return err
		}
		if next == nil && old == nil {
			return errRollback
		}

		b = pgx.Batch{}
		b.Queue(`
			UPDATE rosters SET version = $3,
				min_version = CASE WHEN min_version = 0 THEN $3 ELSE min_version END
			WHERE host = $1 AND username = $2`,
			host, username, v)
		var oldGroups []string
		if old != nil {
			oldGroups = old.Groups
		}
		if next == nil {
			queueTombstone(&b, host, username, contact, v, s.keepTombstones, len(oldGroups) > 0)
		} else {
			if err := checkItem(next); err != nil {
				return err
			}
			it := cloneItem(next)
			it.JID, it.Version = contact, v
			queueItem(&b, host, username, it, oldGroups)
			result = it
		}
		version = v
		return tx.SendBatch(ctx, &b).Close()
	})
	switch {
	case fErr != nil:
		return nil, 0, fErr
	case errors.Is(err, errRollback):
		return result, version, nil
	case errors.Is(err, pgx.ErrNoRows), isForeignKeyViolation(err):
		// No roster row to lock: the account does not exist, or was
		// deleted as the row was being created.
		return nil, 0, storage.ErrNotFound
	case err != nil:
		return nil, 0, wrap("update roster item", err)
	}
	return result, version, nil
}

func checkItem(it *storage.RosterItem) error {
	switch it.Subscription {
	case storage.SubNone, storage.SubTo, storage.SubFrom, storage.SubBoth:
		return nil
	}
	return fmt.Errorf("postgres: update roster item: invalid subscription %q", it.Subscription)
}

func cloneItem(it *storage.RosterItem) *storage.RosterItem {
	if it == nil {
		return nil
	}
	cp := *it
	cp.Groups = slices.Clone(it.Groups)
	return &cp
}

// queueItem queues the statements that store it over whatever row its
// contact had, and replace its groups unless they are the ones it had.
func queueItem(b *pgx.Batch, host, username string, it *storage.RosterItem, oldGroups []string) {
	b.Queue(`
		INSERT INTO roster_items (host, username, contact, name, subscription,
			pending_out, pending_in, approved, removed, version)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, false, $9)
		ON CONFLICT (host, username, contact) DO UPDATE SET
			name = excluded.name, subscription = excluded.subscription,
			pending_out = excluded.pending_out, pending_in = excluded.pending_in,
			approved = excluded.approved, removed = false, version = excluded.version`,
		host, username, it.JID, it.Name, it.Subscription, it.PendingOut, it.PendingIn, it.Approved, it.Version)
	if slices.Equal(it.Groups, oldGroups) {
		return
	}
	if len(oldGroups) > 0 {
		b.Queue(`DELETE FROM roster_groups WHERE host = $1 AND username = $2 AND contact = $3`,
			host, username, it.JID)
	}
	if len(it.Groups) > 0 {
		b.Queue(`
			INSERT INTO roster_groups (host, username, contact, position, name)
			SELECT $1, $2, $3, g.position, g.name
			FROM unnest($4::text[]) WITH ORDINALITY AS g (name, position)`,
			host, username, it.JID, it.Groups)
	}
}

// queueTombstone queues the statements that turn contact's item into a
// tombstone at version and prune the roster's tombstones beyond the newest
// keep. Pruning moves min_version up to the newest tombstone forgotten;
// the partial index roster_tombstones holds only tombstones, so finding it
// reads at most keep+1 index entries.
func queueTombstone(b *pgx.Batch, host, username, contact string, version int64, keep int, hadGroups bool) {
	if hadGroups {
		b.Queue(`DELETE FROM roster_groups WHERE host = $1 AND username = $2 AND contact = $3`,
			host, username, contact)
	}
	b.Queue(`
		UPDATE roster_items
		SET name = '', subscription = 'none', pending_out = false, pending_in = false,
			approved = false, removed = true, version = $4
		WHERE host = $1 AND username = $2 AND contact = $3`,
		host, username, contact, version)
	b.Queue(`
		WITH forget AS (
			SELECT version FROM roster_items
			WHERE host = $1 AND username = $2 AND removed
			ORDER BY version DESC OFFSET $3 LIMIT 1
		), pruned AS (
			DELETE FROM roster_items AS i USING forget
			WHERE i.host = $1 AND i.username = $2 AND i.removed AND i.version <= forget.version
		)
		UPDATE rosters AS r SET min_version = greatest(r.min_version, forget.version)
		FROM forget WHERE r.host = $1 AND r.username = $2`,
		host, username, keep)
}

// RosterChangesSince implements storage.Roster. Each contact has one row,
// its item or its tombstone at the version of its last change, so the rows
// above a version are exactly the changes since. The join fetches them
// only when the answer is ok, which the same statement's version decides.
func (s *Store) RosterChangesSince(ctx context.Context, host, username string, since int64) ([]storage.RosterChange, int64, bool, error) {
	current, floor, cs, err := s.queryRoster(ctx, rosterQuery+`
			AND i.version > $3
			AND $3 >= 0 AND $3 <= r.version AND ($3 = 0 OR $3 >= r.min_version)
		ORDER BY i.version`,
		host, username, since)
	if err != nil {
		return nil, 0, false, wrap("roster changes", err)
	}
	if since < 0 || since > current || since > 0 && since < floor {
		return nil, current, false, nil
	}
	return cs, current, true, nil
}
