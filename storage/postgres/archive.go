package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"parley.im/parley/storage"
)

// archivePurgeChunk is how many entries one statement of a purge deletes,
// so that no transaction holds many row locks for long.
const archivePurgeChunk = 1000

// AppendArchive implements storage.Archive: one transaction, one insert
// per entry in order (sent as one batch), so that seq follows the order of
// entries. Each insert takes its rows from the owner's account row, locked
// FOR KEY SHARE: a missing account inserts nothing, and one cannot be
// deleted under the insert.
func (s *Store) AppendArchive(ctx context.Context, entries []storage.ArchiveEntry) error {
	if len(entries) == 0 {
		return nil
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var b pgx.Batch
		for _, e := range entries {
			stanza := e.Stanza
			if stanza == nil {
				stanza = []byte{}
			}
			b.Queue(`
				WITH a AS (
					SELECT host, username FROM accounts WHERE host = $1 AND username = $2 FOR KEY SHARE
				)
				INSERT INTO archive (host, username, id, with_jid, with_resource, direction, origin_id, stamp, stanza)
				SELECT a.host, a.username, $3, $4, $5, $6, $7, $8, $9 FROM a
				ON CONFLICT (host, username, id) DO NOTHING`,
				e.Host, e.Username, e.ID, e.With, e.WithResource, int16(e.Direction), e.OriginID, e.Stamp, stanza)
		}
		return tx.SendBatch(ctx, &b).Close()
	})
	return wrap("append archive", err)
}

// archivePos is where an entry sits in archive order.
type archivePos struct {
	stamp time.Time
	seq   int64
}

// archiveWhere accumulates the conditions of an archive query.
type archiveWhere struct {
	conds []string
	args  []any
}

// and adds a condition whose parameters are written $?, in order.
func (w *archiveWhere) and(cond string, args ...any) {
	for _, a := range args {
		w.args = append(w.args, a)
		cond = strings.Replace(cond, "$?", "$"+strconv.Itoa(len(w.args)), 1)
	}
	w.conds = append(w.conds, cond)
}

func (w *archiveWhere) String() string { return strings.Join(w.conds, " AND ") }

func (w *archiveWhere) clone() *archiveWhere {
	return &archiveWhere{conds: slices.Clone(w.conds), args: slices.Clone(w.args)}
}

// QueryArchive implements storage.Archive, in a read-only repeatable-read
// transaction so that the page, the count and the index agree.
// QueryArchive implements storage.Archive.
func (s *Store) QueryArchive(ctx context.Context, host, username string, q storage.ArchiveQuery) (storage.ArchivePage, error) {
	return s.queryArchive(ctx, "archive", host, username, q)
}

// queryArchive answers an archive query on table, archive or room_archive
// (a constant of this package, never input: it is written into the SQL).
func (s *Store) queryArchive(ctx context.Context, table, host, username string, q storage.ArchiveQuery) (storage.ArchivePage, error) {
	var page storage.ArchivePage
	opts := pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}
	err := pgx.BeginTxFunc(ctx, s.pool, opts, func(tx pgx.Tx) error {
		find := func(id string) (archivePos, error) {
			var p archivePos
			err := tx.QueryRow(ctx,
				`SELECT stamp, seq FROM `+table+` WHERE host = $1 AND username = $2 AND id = $3`,
				host, username, id).Scan(&p.stamp, &p.seq)
			return p, err
		}
		f := &archiveWhere{}
		f.and("host = $? AND username = $?", host, username)
		if q.With != "" {
			f.and("with_jid = $?", q.With)
		}
		if q.WithResource != "" {
			f.and("with_resource = $?", q.WithResource)
		}
		if !q.Start.IsZero() {
			f.and("stamp >= $?", q.Start)
		}
		if !q.End.IsZero() {
			f.and("stamp <= $?", q.End)
		}
		if q.AfterID != "" {
			p, err := find(q.AfterID)
			if err != nil {
				return err
			}
			f.and("(stamp, seq) > ($?, $?)", p.stamp, p.seq)
		}
		if q.BeforeID != "" {
			p, err := find(q.BeforeID)
			if err != nil {
				return err
			}
			f.and("(stamp, seq) < ($?, $?)", p.stamp, p.seq)
		}
		if len(q.IDs) > 0 {
			ids := slices.Compact(slices.SortedFunc(slices.Values(q.IDs), cmp.Compare[string]))
			var n int
			err := tx.QueryRow(ctx,
				`SELECT count(*) FROM `+table+` WHERE host = $1 AND username = $2 AND id = ANY($3::text[])`,
				host, username, ids).Scan(&n)
			if err != nil {
				return err
			}
			if n != len(ids) {
				return storage.ErrNotFound
			}
			f.and("id = ANY($?::text[])", ids)
		}
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM "+table+" WHERE "+f.String(), f.args...).Scan(&page.Count); err != nil {
			return err
		}

		r := f.clone()
		if q.After != "" {
			p, err := find(q.After)
			if err != nil {
				return err
			}
			r.and("(stamp, seq) > ($?, $?)", p.stamp, p.seq)
		}
		if q.Before != "" {
			p, err := find(q.Before)
			if err != nil {
				return err
			}
			r.and("(stamp, seq) < ($?, $?)", p.stamp, p.seq)
		}
		limit := max(q.Max, 0)
		order, offset := "stamp, seq", 0
		if q.Backward {
			order = "stamp DESC, seq DESC"
		} else {
			offset = max(q.Index, 0)
		}
		args := append(slices.Clip(r.args), limit+1, offset)
		rows, err := tx.Query(ctx, fmt.Sprintf(`
			SELECT id, with_jid, with_resource, direction, origin_id, stamp, stanza, seq
			FROM %s WHERE %s ORDER BY %s LIMIT $%d OFFSET $%d`,
			table, r, order, len(args)-1, len(args)), args...)
		if err != nil {
			return err
		}
		var seqs []int64
		entries, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (storage.ArchiveEntry, error) {
			e := storage.ArchiveEntry{Host: host, Username: username}
			var (
				dir int16
				seq int64
			)
			err := row.Scan(&e.ID, &e.With, &e.WithResource, &dir, &e.OriginID, &e.Stamp, &e.Stanza, &seq)
			e.Direction = storage.ArchiveDirection(dir)
			e.Stamp = e.Stamp.UTC()
			seqs = append(seqs, seq)
			return e, err
		})
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
		before := f.clone()
		before.and("(stamp, seq) < ($?, $?)", entries[0].Stamp, seqs[0])
		return tx.QueryRow(ctx, "SELECT count(*) FROM "+table+" WHERE "+before.String(), before.args...).Scan(&page.Index)
	})
	if err != nil {
		return storage.ArchivePage{}, wrap("query "+table, err)
	}
	return page, nil
}

// ArchiveMetadata implements storage.Archive.
func (s *Store) ArchiveMetadata(ctx context.Context, host, username string) (storage.ArchiveMetadata, error) {
	var m storage.ArchiveMetadata
	opts := pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}
	err := pgx.BeginTxFunc(ctx, s.pool, opts, func(tx pgx.Tx) error {
		for _, q := range []struct {
			order string
			ref   *storage.ArchiveRef
		}{{"stamp, seq", &m.First}, {"stamp DESC, seq DESC", &m.Last}} {
			err := tx.QueryRow(ctx, `
				SELECT id, stamp FROM archive WHERE host = $1 AND username = $2
				ORDER BY `+q.order+` LIMIT 1`,
				host, username).Scan(&q.ref.ID, &q.ref.Stamp)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			if err != nil {
				return err
			}
			q.ref.Stamp = q.ref.Stamp.UTC()
		}
		return nil
	})
	if err != nil {
		return storage.ArchiveMetadata{}, wrap("archive metadata", err)
	}
	return m, nil
}

// PurgeArchive implements storage.Archive, archivePurgeChunk entries per
// statement.
func (s *Store) PurgeArchive(ctx context.Context, host, username string, before time.Time) (int64, error) {
	var (
		sel  string
		args []any
	)
	switch {
	case host == "":
		sel, args = `stamp < $1`, []any{before}
	case username == "":
		sel, args = `stamp < $1 AND host = $2`, []any{before, host}
	default:
		sel, args = `host = $1 AND username = $2 AND stamp < $3`, []any{host, username, before}
	}
	n, err := s.deleteArchiveChunks(ctx, fmt.Sprintf(`
		DELETE FROM archive WHERE seq IN (SELECT seq FROM archive WHERE %s LIMIT $%d)`, sel, len(args)+1), args)
	return n, wrap("purge archive", err)
}

// DeleteArchive implements storage.Archive.
func (s *Store) DeleteArchive(ctx context.Context, host, username string) error {
	_, err := s.deleteArchiveChunks(ctx, `
		DELETE FROM archive WHERE seq IN (
			SELECT seq FROM archive WHERE host = $1 AND username = $2 LIMIT $3)`,
		[]any{host, username})
	return wrap("delete archive", err)
}

// deleteArchiveChunks runs a DELETE whose last parameter is the chunk size
// until it deletes less than a chunk.
func (s *Store) deleteArchiveChunks(ctx context.Context, query string, args []any) (int64, error) {
	var total int64
	args = append(slices.Clip(args), archivePurgeChunk)
	for {
		tag, err := s.pool.Exec(ctx, query, args...)
		if err != nil {
			return total, err
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < archivePurgeChunk {
			return total, nil
		}
	}
}

// ArchivePrefs implements storage.Archive.
func (s *Store) ArchivePrefs(ctx context.Context, host, username string) (storage.ArchivePrefs, error) {
	var p storage.ArchivePrefs
	opts := pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}
	err := pgx.BeginTxFunc(ctx, s.pool, opts, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx,
			`SELECT default_mode FROM archive_prefs WHERE host = $1 AND username = $2`,
			host, username).Scan(&p.Default)
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx,
			`SELECT jid, always FROM archive_pref_jids WHERE host = $1 AND username = $2 ORDER BY jid`,
			host, username)
		if err != nil {
			return err
		}
		var (
			jid    string
			always bool
		)
		_, err = pgx.ForEachRow(rows, []any{&jid, &always}, func() error {
			if always {
				p.Always = append(p.Always, jid)
			} else {
				p.Never = append(p.Never, jid)
			}
			return nil
		})
		return err
	})
	if err != nil {
		return storage.ArchivePrefs{}, wrap("archive prefs", err)
	}
	return p, nil
}

// SetArchivePrefs implements storage.Archive. The upsert takes its row
// from the account, locked FOR KEY SHARE: none for a missing account.
func (s *Store) SetArchivePrefs(ctx context.Context, host, username string, p storage.ArchivePrefs) error {
	if err := p.Validate(); err != nil {
		return err
	}
	set := func(l []string) []string {
		return slices.Compact(slices.SortedFunc(slices.Values(l), cmp.Compare[string]))
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			WITH a AS (
				SELECT host, username FROM accounts WHERE host = $1 AND username = $2 FOR KEY SHARE
			)
			INSERT INTO archive_prefs (host, username, default_mode)
			SELECT a.host, a.username, $3 FROM a
			ON CONFLICT (host, username) DO UPDATE SET default_mode = EXCLUDED.default_mode`,
			host, username, string(p.Default))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return storage.ErrNotFound
		}
		_, err = tx.Exec(ctx, `DELETE FROM archive_pref_jids WHERE host = $1 AND username = $2`, host, username)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `
			INSERT INTO archive_pref_jids (host, username, jid, always)
			SELECT $1, $2, j, true FROM unnest($3::text[]) AS j
			UNION ALL
			SELECT $1, $2, j, false FROM unnest($4::text[]) AS j`,
			host, username, set(p.Always), set(p.Never))
		return err
	})
	if isForeignKeyViolation(err) {
		return storage.ErrNotFound
	}
	return wrap("set archive prefs", err)
}
