package postgres

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"parley.im/parley/storage"
)

// AppendRoomArchive implements storage.RoomArchive: one transaction, one
// insert per entry in order, so that seq follows the order of entries.
func (s *Store) AppendRoomArchive(ctx context.Context, entries []storage.ArchiveEntry) error {
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
				INSERT INTO room_archive (host, username, id, with_jid, with_resource, direction, origin_id, stamp, stanza)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
				ON CONFLICT (host, username, id) DO NOTHING`,
				e.Host, e.Username, e.ID, e.With, e.WithResource, int16(roomDirection(e.Direction)), e.OriginID, e.Stamp, stanza)
		}
		return tx.SendBatch(ctx, &b).Close()
	})
	return wrap("append room archive", err)
}

// ReplaceRoomArchive implements storage.RoomArchive.
func (s *Store) ReplaceRoomArchive(ctx context.Context, service, room, id string, stanza []byte) error {
	if stanza == nil {
		stanza = []byte{}
	}
	tag, err := s.pool.Exec(ctx,
		`UPDATE room_archive SET stanza = $1 WHERE host = $2 AND username = $3 AND id = $4`,
		stanza, service, room, id)
	if err != nil {
		return wrap("replace room archive", err)
	}
	if tag.RowsAffected() == 0 {
		return storage.ErrNotFound
	}
	return nil
}

// DeleteRoomArchive implements storage.RoomArchive.
func (s *Store) DeleteRoomArchive(ctx context.Context, service, room string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM room_archive WHERE host = $1 AND username = $2`, service, room)
	return wrap("delete room archive", err)
}

// roomDirection is d, or incoming when unset.
func roomDirection(d storage.ArchiveDirection) int {
	if d == 0 {
		return int(storage.ArchiveIncoming)
	}
	return int(d)
}

// QueryRoomArchive implements storage.RoomArchive: QueryArchive on the
// room_archive table.
func (s *Store) QueryRoomArchive(ctx context.Context, host, username string, q storage.ArchiveQuery) (storage.ArchivePage, error) {
	var page storage.ArchivePage
	opts := pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}
	err := pgx.BeginTxFunc(ctx, s.pool, opts, func(tx pgx.Tx) error {
		find := func(id string) (archivePos, error) {
			var p archivePos
			err := tx.QueryRow(ctx,
				`SELECT stamp, seq FROM room_archive WHERE host = $1 AND username = $2 AND id = $3`,
				host, username, id).Scan(&p.stamp, &p.seq)
			return p, err
		}
		f := &archiveWhere{}
		f.and("host = $? AND username = $?", host, username)
		if q.With != "" {
			f.and("with_jid = $?", q.With)
			if q.WithResource != "" {
				f.and("with_resource = $?", q.WithResource)
			}
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
				`SELECT count(*) FROM room_archive WHERE host = $1 AND username = $2 AND id = ANY($3::text[])`,
				host, username, ids).Scan(&n)
			if err != nil {
				return err
			}
			if n != len(ids) {
				return storage.ErrNotFound
			}
			f.and("id = ANY($?::text[])", ids)
		}
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM room_archive WHERE "+f.String(), f.args...).Scan(&page.Count); err != nil {
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
			FROM room_archive WHERE %s ORDER BY %s LIMIT $%d OFFSET $%d`,
			r, order, len(args)-1, len(args)), args...)
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
		return tx.QueryRow(ctx, "SELECT count(*) FROM room_archive WHERE "+before.String(), before.args...).Scan(&page.Index)
	})
	if err != nil {
		return storage.ArchivePage{}, wrap("query room archive", err)
	}
	return page, nil
}
