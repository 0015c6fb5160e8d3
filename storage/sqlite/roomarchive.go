package sqlite

import (
	"context"
	"encoding/json"
	"slices"

	"parley.im/parley/storage"
)

// AppendRoomArchive implements storage.RoomArchive: one transaction, one
// insert per entry in order, so that seq follows the order of entries.
func (s *Store) AppendRoomArchive(ctx context.Context, entries []storage.ArchiveEntry) error {
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
				INSERT INTO room_archive (host, username, id, with_jid, with_resource, direction, origin_id, stamp, stanza)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (host, username, id) DO NOTHING`,
				e.Host, e.Username, e.ID, e.With, e.WithResource, roomDirection(e.Direction), e.OriginID,
				e.Stamp.UnixMicro(), stanza)
			if err != nil {
				return err
			}
		}
		return nil
	})
	return wrap("append room archive", err)
}

// ReplaceRoomArchive implements storage.RoomArchive.
func (s *Store) ReplaceRoomArchive(ctx context.Context, service, room, id string, stanza []byte) error {
	if stanza == nil {
		stanza = []byte{}
	}
	var n int64
	err := s.inWriteTx(ctx, func(tx cachedTx) error {
		res, err := tx.ExecContext(ctx,
			`UPDATE room_archive SET stanza = ? WHERE host = ? AND username = ? AND id = ?`,
			stanza, service, room, id)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err == nil && n == 0 {
		return storage.ErrNotFound
	}
	return wrap("replace room archive", err)
}

// DeleteRoomArchive implements storage.RoomArchive.
func (s *Store) DeleteRoomArchive(ctx context.Context, service, room string) error {
	err := s.inWriteTx(ctx, func(tx cachedTx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM room_archive WHERE host = ? AND username = ?`, service, room)
		return err
	})
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
	err := s.inReadTx(ctx, func(ctx2 cachedTx) error {
		tx := ctx2.tx // queries vary with the filters: not worth caching
		find := func(id string) (archivePos, error) {
			var p archivePos
			err := tx.QueryRowContext(ctx,
				`SELECT stamp, seq FROM room_archive WHERE host = ? AND username = ? AND id = ?`,
				host, username, id).Scan(&p.stamp, &p.seq)
			return p, err
		}
		f := &archiveWhere{args: []any{host, username}}
		f.b.WriteString("host = ? AND username = ?")
		if q.With != "" {
			f.and("with_jid = ?", q.With)
			if q.WithResource != "" {
				f.and("with_resource = ?", q.WithResource)
			}
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
				SELECT count(*) FROM room_archive
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
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM room_archive WHERE "+f.b.String(), f.args...).Scan(&page.Count); err != nil {
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
			FROM room_archive WHERE `+r.b.String()+` ORDER BY `+order+` LIMIT ? OFFSET ?`,
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
		return tx.QueryRowContext(ctx, "SELECT count(*) FROM room_archive WHERE "+before.b.String(), before.args...).Scan(&page.Index)
	})
	if err != nil {
		return storage.ArchivePage{}, wrap("query room archive", err)
	}
	return page, nil
}
