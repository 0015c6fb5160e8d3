package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"parley.im/parley/storage"
)

// querier is what *sql.DB and cachedTx have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// itemQuery selects roster rows with their groups, one row per group (or
// one with a NULL group for an item without any). The caller appends the
// WHERE and an ORDER BY that keeps each item's rows together, by position.
const itemQuery = `
	SELECT i.contact, i.name, i.subscription, i.pending_out, i.pending_in, i.approved,
		i.removed, i.version, g.name
	FROM roster_items AS i
	LEFT JOIN roster_groups AS g
		ON g.host = i.host AND g.username = i.username AND g.contact = i.contact`

// scanItems reads the rows of an itemQuery. A tombstone comes back with
// only its JID and version.
func scanItems(rows *sql.Rows) ([]storage.RosterChange, error) {
	defer rows.Close()
	var cs []storage.RosterChange
	for rows.Next() {
		var (
			c     storage.RosterChange
			it    = &c.Item
			group sql.NullString
		)
		err := rows.Scan(&it.JID, &it.Name, &it.Subscription, &it.PendingOut, &it.PendingIn, &it.Approved,
			&c.Removed, &it.Version, &group)
		if err != nil {
			return nil, err
		}
		if n := len(cs); n > 0 && cs[n-1].Item.JID == it.JID {
			cs[n-1].Item.Groups = append(cs[n-1].Item.Groups, group.String)
			continue
		}
		if group.Valid {
			it.Groups = []string{group.String}
		}
		if c.Removed {
			c.Item = storage.RosterItem{JID: it.JID, Version: it.Version}
		}
		cs = append(cs, c)
	}
	return cs, rows.Err()
}

// rosterVersion returns a roster's current version and the oldest version
// RosterChangesSince answers from; both are 0 for a roster never written.
func rosterVersion(ctx context.Context, q querier, host, username string) (version, minVersion int64, err error) {
	err = q.QueryRowContext(ctx,
		`SELECT version, min_version FROM rosters WHERE host = ? AND username = ?`,
		host, username).Scan(&version, &minVersion)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, nil
	}
	return version, minVersion, err
}

// RosterItems implements storage.Roster. The version and the items are read
// in one transaction, so they come from one snapshot.
func (s *Store) RosterItems(ctx context.Context, host, username string) ([]storage.RosterItem, int64, error) {
	var (
		items   []storage.RosterItem
		version int64
	)
	err := s.inReadTx(ctx, func(tx cachedTx) error {
		var err error
		if version, _, err = rosterVersion(ctx, tx, host, username); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, itemQuery+`
			WHERE i.host = ? AND i.username = ? AND NOT i.removed
			ORDER BY i.contact, g.position`,
			host, username)
		if err != nil {
			return err
		}
		cs, err := scanItems(rows)
		for _, c := range cs {
			items = append(items, c.Item)
		}
		return err
	})
	if err != nil {
		return nil, 0, wrap("roster items", err)
	}
	return items, version, nil
}

// RosterItem implements storage.Roster.
func (s *Store) RosterItem(ctx context.Context, host, username, contact string) (storage.RosterItem, error) {
	it, err := readItem(ctx, s.read, host, username, contact)
	if err != nil {
		return storage.RosterItem{}, wrap("roster item", err)
	}
	if it == nil {
		return storage.RosterItem{}, storage.ErrNotFound
	}
	return *it, nil
}

// readItem returns the item for contact, or nil if there is none or only a
// tombstone.
func readItem(ctx context.Context, q querier, host, username, contact string) (*storage.RosterItem, error) {
	rows, err := q.QueryContext(ctx, itemQuery+`
		WHERE i.host = ? AND i.username = ? AND i.contact = ?
		ORDER BY g.position`,
		host, username, contact)
	if err != nil {
		return nil, err
	}
	cs, err := scanItems(rows)
	if err != nil || len(cs) == 0 || cs[0].Removed {
		return nil, err
	}
	return &cs[0].Item, nil
}

// errRollback makes inWriteTx roll back a transaction that turned out to
// have nothing to write.
var errRollback = errors.New("sqlite: nothing to write")

// UpdateRosterItem implements storage.Roster. The write connection is
// SQLite's only writer and its transaction takes the write lock at BEGIN,
// so the read, f and the write happen with no other write in between, in
// this process or another.
func (s *Store) UpdateRosterItem(ctx context.Context, host, username, contact string,
	f func(cur *storage.RosterItem) (*storage.RosterItem, error)) (*storage.RosterItem, int64, error) {
	var (
		result  *storage.RosterItem
		version int64
		fErr    error
	)
	err := s.inWriteTx(ctx, func(tx cachedTx) error {
		// The account must exist; its roster row need not yet.
		var cur sql.NullInt64
		err := tx.QueryRowContext(ctx, `
			SELECT r.version
			FROM accounts AS a
			LEFT JOIN rosters AS r ON r.host = a.host AND r.username = a.username
			WHERE a.host = ? AND a.username = ?`,
			host, username).Scan(&cur)
		if err != nil {
			return err
		}
		version = cur.Int64
		old, err := readItem(ctx, tx, host, username, contact)
		if err != nil {
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
		if next != nil {
			if err := checkItem(next); err != nil {
				return err
			}
		}

		var v int64
		if err := tx.QueryRowContext(ctx,
			`UPDATE roster_version_counter SET last = last + 1 WHERE id = 1 RETURNING last`).Scan(&v); err != nil {
			return err
		}
		// min_version is set only when the row is created, by the roster's
		// first change: older versions were another account's.
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO rosters (host, username, version, min_version) VALUES (?, ?, ?, ?)
			ON CONFLICT (host, username) DO UPDATE SET version = excluded.version`,
			host, username, v, v); err != nil {
			return err
		}
		if next == nil {
			if err := s.writeTombstone(ctx, tx, host, username, contact, v, len(old.Groups) > 0); err != nil {
				return err
			}
		} else {
			it := cloneItem(next)
			it.JID, it.Version = contact, v
			var oldGroups []string
			if old != nil {
				oldGroups = old.Groups
			}
			if err := writeItem(ctx, tx, host, username, it, oldGroups); err != nil {
				return err
			}
			result = it
		}
		version = v
		return nil
	})
	switch {
	case fErr != nil:
		return nil, 0, fErr
	case errors.Is(err, errRollback):
		return result, version, nil
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
	return fmt.Errorf("sqlite: update roster item: invalid subscription %q", it.Subscription)
}

func cloneItem(it *storage.RosterItem) *storage.RosterItem {
	if it == nil {
		return nil
	}
	cp := *it
	cp.Groups = slices.Clone(it.Groups)
	return &cp
}

// writeItem stores it over whatever row contact had, and replaces its
// groups unless they are the ones it had.
func writeItem(ctx context.Context, tx cachedTx, host, username string, it *storage.RosterItem, oldGroups []string) error {
	_, err := tx.ExecContext(ctx, `
		INSERT INTO roster_items (host, username, contact, name, subscription,
			pending_out, pending_in, approved, removed, version)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?)
		ON CONFLICT (host, username, contact) DO UPDATE SET
			name = excluded.name, subscription = excluded.subscription,
			pending_out = excluded.pending_out, pending_in = excluded.pending_in,
			approved = excluded.approved, removed = 0, version = excluded.version`,
		host, username, it.JID, it.Name, it.Subscription, it.PendingOut, it.PendingIn, it.Approved, it.Version)
	if err != nil || slices.Equal(it.Groups, oldGroups) {
		return err
	}
	if len(oldGroups) > 0 {
		if _, err := tx.ExecContext(ctx,
			`DELETE FROM roster_groups WHERE host = ? AND username = ? AND contact = ?`,
			host, username, it.JID); err != nil {
			return err
		}
	}
	for i, g := range it.Groups {
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO roster_groups (host, username, contact, position, name) VALUES (?, ?, ?, ?, ?)`,
			host, username, it.JID, i, g); err != nil {
			return err
		}
	}
	return nil
}

// writeTombstone turns contact's item into a tombstone at version and
// prunes the roster's oldest tombstones beyond keepTombstones.
func (s *Store) writeTombstone(ctx context.Context, tx cachedTx, host, username, contact string, version int64, hadGroups bool) error {
	if hadGroups {
		if _, err := tx.ExecContext(ctx,
			`DELETE FROM roster_groups WHERE host = ? AND username = ? AND contact = ?`,
			host, username, contact); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `
		UPDATE roster_items
		SET name = '', subscription = 'none', pending_out = 0, pending_in = 0, approved = 0,
			removed = 1, version = ?
		WHERE host = ? AND username = ? AND contact = ?`,
		version, host, username, contact); err != nil {
		return err
	}
	// The newest tombstone to forget, if there are more than keepTombstones;
	// the partial index roster_tombstones holds only tombstones, so this
	// reads at most keepTombstones+1 index entries.
	var forget int64
	err := tx.QueryRowContext(ctx, `
		SELECT version FROM roster_items
		WHERE host = ? AND username = ? AND removed
		ORDER BY version DESC LIMIT 1 OFFSET ?`,
		host, username, s.keepTombstones).Scan(&forget)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `
		DELETE FROM roster_items
		WHERE host = ? AND username = ? AND removed AND version <= ?`,
		host, username, forget); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `
		UPDATE rosters SET min_version = max(min_version, ?) WHERE host = ? AND username = ?`,
		forget, host, username)
	return err
}

// RosterChangesSince implements storage.Roster. Each contact has one row,
// its item or its tombstone at the version of its last change, so the rows
// above a version are exactly the changes since.
func (s *Store) RosterChangesSince(ctx context.Context, host, username string, since int64) ([]storage.RosterChange, int64, bool, error) {
	var (
		changes []storage.RosterChange
		current int64
		ok      bool
	)
	err := s.inReadTx(ctx, func(tx cachedTx) error {
		var floor int64
		var err error
		if current, floor, err = rosterVersion(ctx, tx, host, username); err != nil {
			return err
		}
		if since < 0 || since > current || since > 0 && since < floor {
			return nil
		}
		ok = true
		rows, err := tx.QueryContext(ctx, itemQuery+`
			WHERE i.host = ? AND i.username = ? AND i.version > ?
			ORDER BY i.version, g.position`,
			host, username, since)
		if err != nil {
			return err
		}
		changes, err = scanItems(rows)
		return err
	})
	if err != nil {
		return nil, 0, false, wrap("roster changes", err)
	}
	return changes, current, ok, nil
}
