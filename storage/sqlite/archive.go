package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"parley.im/parley/storage"
)

// archivePurgeChunk is how many entries one transaction of a purge deletes, so
// that the single writer is not held for long.
const archivePurgeChunk = 1000

// AppendArchive implements storage.Archive: one write transaction, one
// insert per entry in order, so that seq follows the order of entries.
func (s *Store) AppendArchive(ctx context.Context, entries []storage.ArchiveEntry) error {
	if len(entries) == 0 {
		return nil
	}
	err := s.inWriteTx(ctx, func(tx cachedTx) error {
		for _, e := range entries {
			stanza := e.Stanza
			if stanza == nil {
				stanza = []byte{}
			}
			_, err := tx.ExecContext(ctx, `
				INSERT INTO archive (host, username, id, with_jid, with_resource, direction, origin_id, stamp, stanza)
				SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?
				WHERE EXISTS (SELECT 1 FROM accounts WHERE host = ? AND username = ?)
				ON CONFLICT (host, username, id) DO NOTHING`,
				e.Host, e.Username, e.ID, e.With, e.WithResource, int(e.Direction), e.OriginID,
				e.Stamp.UnixMicro(), stanza, e.Host, e.Username)
			if err != nil {
				return err
			}
		}
		return nil
	})
	return wrap("append archive", err)
}

// archivePos is where an entry sits in archive order.
type archivePos struct {
	stamp, seq int64
}

// archiveWhere accumulates the conditions of an archive query.
type archiveWhere struct {
	b    strings.Builder
	args []any
}

func (w *archiveWhere) and(cond string, args ...any) {
	w.b.WriteString(" AND ")
	w.b.WriteString(cond)
	w.args = append(w.args, args...)
}

func (w *archiveWhere) clone() *archiveWhere {
	c := &archiveWhere{args: slices.Clone(w.args)}
	c.b.WriteString(w.b.String())
	return c
}

// QueryArchive implements storage.Archive. Every query of one call runs
// in a read transaction, so the page, the count and the index agree.
// QueryArchive implements storage.Archive.
func (s *Store) QueryArchive(ctx context.Context, host, username string, q storage.ArchiveQuery) (storage.ArchivePage, error) {
	return s.queryArchive(ctx, "archive", host, username, q)
}

// queryArchive answers an archive query on table, archive or room_archive
// (a constant of this package, never input: it is written into the SQL).
func (s *Store) queryArchive(ctx context.Context, table, host, username string, q storage.ArchiveQuery) (storage.ArchivePage, error) {
	var page storage.ArchivePage
	err := s.inReadTx(ctx, func(ctx2 cachedTx) error {
		tx := ctx2.tx // queries vary with the filters: not worth caching
		find := func(id string) (archivePos, error) {
			var p archivePos
			err := tx.QueryRowContext(ctx,
				`SELECT stamp, seq FROM `+table+` WHERE host = ? AND username = ? AND id = ?`,
				host, username, id).Scan(&p.stamp, &p.seq)
			return p, err
		}
		f := &archiveWhere{args: []any{host, username}}
		f.b.WriteString("host = ? AND username = ?")
		if q.With != "" {
			f.and("with_jid = ?", q.With)
		}
		if q.WithResource != "" {
			f.and("with_resource = ?", q.WithResource)
		}
		if !q.Start.IsZero() {
			f.and("stamp >= ?", q.Start.UnixMicro())
		}
		if !q.End.IsZero() {
			f.and("stamp <= ?", q.End.UnixMicro())
		}
		if q.AfterID != "" {
			p, err := find(q.AfterID)
			if err != nil {
				return err
			}
			f.and("(stamp, seq) > (?, ?)", p.stamp, p.seq)
		}
		if q.BeforeID != "" {
			p, err := find(q.BeforeID)
			if err != nil {
				return err
			}
			f.and("(stamp, seq) < (?, ?)", p.stamp, p.seq)
		}
		if len(q.IDs) > 0 {
			ids := sortedSet(q.IDs)
			list, err := json.Marshal(ids)
			if err != nil {
				return err
			}
			var n int
			err = tx.QueryRowContext(ctx, `
				SELECT count(*) FROM `+table+`
				WHERE host = ? AND username = ? AND id IN (SELECT value FROM json_each(?))`,
				host, username, string(list)).Scan(&n)
			if err != nil {
				return err
			}
			if n != len(ids) {
				return storage.ErrNotFound
			}
			f.and("id IN (SELECT value FROM json_each(?))", string(list))
		}
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM "+table+" WHERE "+f.b.String(), f.args...).Scan(&page.Count); err != nil {
			return err
		}

		r := f.clone()
		if q.After != "" {
			p, err := find(q.After)
			if err != nil {
				return err
			}
			r.and("(stamp, seq) > (?, ?)", p.stamp, p.seq)
		}
		if q.Before != "" {
			p, err := find(q.Before)
			if err != nil {
				return err
			}
			r.and("(stamp, seq) < (?, ?)", p.stamp, p.seq)
		}
		limit := max(q.Max, 0)
		order, offset := "stamp, seq", 0
		if q.Backward {
			order = "stamp DESC, seq DESC"
		} else {
			offset = max(q.Index, 0)
		}
		rows, err := tx.QueryContext(ctx, `
			SELECT id, with_jid, with_resource, direction, origin_id, stamp, stanza, seq
			FROM `+table+` WHERE `+r.b.String()+` ORDER BY `+order+` LIMIT ? OFFSET ?`,
			append(r.args, limit+1, offset)...)
		if err != nil {
			return err
		}
		entries, seqs, err := scanArchive(rows, host, username)
		if err != nil {
			return err
		}
		page.Complete = len(entries) <= limit
		if !page.Complete {
			entries, seqs = entries[:limit], seqs[:limit]
		}
		if q.Backward {
			slices.Reverse(entries)
			slices.Reverse(seqs)
		}
		if len(entries) == 0 {
			return nil
		}
		page.Entries = entries
		first := archivePos{entries[0].Stamp.UnixMicro(), seqs[0]}
		before := f.clone()
		before.and("(stamp, seq) < (?, ?)", first.stamp, first.seq)
		return tx.QueryRowContext(ctx, "SELECT count(*) FROM "+table+" WHERE "+before.b.String(), before.args...).Scan(&page.Index)
	})
	if err != nil {
		return storage.ArchivePage{}, wrap("query "+table, err)
	}
	return page, nil
}

func scanArchive(rows *sql.Rows, host, username string) ([]storage.ArchiveEntry, []int64, error) {
	defer rows.Close()
	var (
		entries []storage.ArchiveEntry
		seqs    []int64
	)
	for rows.Next() {
		e := storage.ArchiveEntry{Host: host, Username: username}
		var (
			dir        int
			stamp, seq int64
		)
		if err := rows.Scan(&e.ID, &e.With, &e.WithResource, &dir, &e.OriginID, &stamp, &e.Stanza, &seq); err != nil {
			return nil, nil, err
		}
		e.Direction = storage.ArchiveDirection(dir)
		e.Stamp = time.UnixMicro(stamp).UTC()
		entries = append(entries, e)
		seqs = append(seqs, seq)
	}
	return entries, seqs, rows.Err()
}

// ArchiveMetadata implements storage.Archive.
func (s *Store) ArchiveMetadata(ctx context.Context, host, username string) (storage.ArchiveMetadata, error) {
	var m storage.ArchiveMetadata
	err := s.inReadTx(ctx, func(tx cachedTx) error {
		for _, q := range []struct {
			order string
			ref   *storage.ArchiveRef
		}{{"stamp, seq", &m.First}, {"stamp DESC, seq DESC", &m.Last}} {
			var stamp int64
			err := tx.QueryRowContext(ctx, `
				SELECT id, stamp FROM archive WHERE host = ? AND username = ?
				ORDER BY `+q.order+` LIMIT 1`,
				host, username).Scan(&q.ref.ID, &stamp)
			if errors.Is(err, sql.ErrNoRows) {
				return nil
			}
			if err != nil {
				return err
			}
			q.ref.Stamp = time.UnixMicro(stamp).UTC()
		}
		return nil
	})
	if err != nil {
		return storage.ArchiveMetadata{}, wrap("archive metadata", err)
	}
	return m, nil
}

// PurgeArchive implements storage.Archive, archivePurgeChunk entries per
// transaction.
func (s *Store) PurgeArchive(ctx context.Context, host, username string, before time.Time) (int64, error) {
	var (
		sel  string
		args []any
	)
	switch {
	case host == "":
		sel, args = `stamp < ?`, []any{before.UnixMicro()}
	case username == "":
		sel, args = `stamp < ? AND host = ?`, []any{before.UnixMicro(), host}
	default:
		sel, args = `host = ? AND username = ? AND stamp < ?`, []any{host, username, before.UnixMicro()}
	}
	n, err := s.deleteArchiveChunks(ctx, `
		DELETE FROM archive WHERE seq IN (SELECT seq FROM archive WHERE `+sel+` LIMIT ?)`, args)
	return n, wrap("purge archive", err)
}

// DeleteArchive implements storage.Archive.
func (s *Store) DeleteArchive(ctx context.Context, host, username string) error {
	_, err := s.deleteArchiveChunks(ctx, `
		DELETE FROM archive WHERE seq IN (
			SELECT seq FROM archive WHERE host = ? AND username = ? LIMIT ?)`,
		[]any{host, username})
	return wrap("delete archive", err)
}

// deleteArchiveChunks runs a DELETE whose last parameter is the chunk size until
// it deletes less than a chunk.
func (s *Store) deleteArchiveChunks(ctx context.Context, query string, args []any) (int64, error) {
	var total int64
	args = append(slices.Clip(args), archivePurgeChunk)
	for {
		res, err := s.write.ExecContext(ctx, query, args...)
		if err != nil {
			return total, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, err
		}
		total += n
		if n < archivePurgeChunk {
			return total, nil
		}
	}
}

// ArchivePrefs implements storage.Archive.
func (s *Store) ArchivePrefs(ctx context.Context, host, username string) (storage.ArchivePrefs, error) {
	var p storage.ArchivePrefs
	err := s.inReadTx(ctx, func(tx cachedTx) error {
		err := tx.QueryRowContext(ctx,
			`SELECT default_mode FROM archive_prefs WHERE host = ? AND username = ?`,
			host, username).Scan(&p.Default)
		if err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx,
			`SELECT jid, always FROM archive_pref_jids WHERE host = ? AND username = ? ORDER BY jid`,
			host, username)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				jid    string
				always bool
			)
			if err := rows.Scan(&jid, &always); err != nil {
				return err
			}
			if always {
				p.Always = append(p.Always, jid)
			} else {
				p.Never = append(p.Never, jid)
			}
		}
		return rows.Err()
	})
	if err != nil {
		return storage.ArchivePrefs{}, wrap("archive prefs", err)
	}
	return p, nil
}

// SetArchivePrefs implements storage.Archive.
func (s *Store) SetArchivePrefs(ctx context.Context, host, username string, p storage.ArchivePrefs) error {
	if err := p.Validate(); err != nil {
		return err
	}
	err := s.inWriteTx(ctx, func(tx cachedTx) error {
		res, err := tx.ExecContext(ctx, `
			INSERT INTO archive_prefs (host, username, default_mode)
			SELECT ?, ?, ? WHERE EXISTS (SELECT 1 FROM accounts WHERE host = ? AND username = ?)
			ON CONFLICT (host, username) DO UPDATE SET default_mode = excluded.default_mode`,
			host, username, string(p.Default), host, username)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return storage.ErrNotFound
		}
		if _, err := tx.ExecContext(ctx,
			`DELETE FROM archive_pref_jids WHERE host = ? AND username = ?`, host, username); err != nil {
			return err
		}
		for _, l := range []struct {
			jids   []string
			always bool
		}{{p.Always, true}, {p.Never, false}} {
			for _, jid := range sortedSet(l.jids) {
				if _, err := tx.ExecContext(ctx,
					`INSERT INTO archive_pref_jids (host, username, jid, always) VALUES (?, ?, ?, ?)`,
					host, username, jid, l.always); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return wrap("set archive prefs", err)
}
