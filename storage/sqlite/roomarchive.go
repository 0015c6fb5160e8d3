package sqlite

import (
	"context"
	"time"

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

// DeleteRoomArchive implements storage.RoomArchive, archivePurgeChunk
// entries per transaction.
func (s *Store) DeleteRoomArchive(ctx context.Context, service, room string) error {
	_, err := s.deleteArchiveChunks(ctx, `
		DELETE FROM room_archive WHERE seq IN (
			SELECT seq FROM room_archive WHERE host = ? AND username = ? LIMIT ?)`,
		[]any{service, room})
	return wrap("delete room archive", err)
}

// PurgeRoomArchive implements storage.RoomArchive, archivePurgeChunk
// entries per transaction.
func (s *Store) PurgeRoomArchive(ctx context.Context, service string, before time.Time) (int64, error) {
	sel, args := `stamp < ?`, []any{before.UnixMicro()}
	if service != "" {
		sel, args = `stamp < ? AND host = ?`, []any{before.UnixMicro(), service}
	}
	n, err := s.deleteArchiveChunks(ctx, `
		DELETE FROM room_archive WHERE seq IN (SELECT seq FROM room_archive WHERE `+sel+` LIMIT ?)`, args)
	return n, wrap("purge room archive", err)
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
	return s.queryArchive(ctx, "room_archive", host, username, q)
}
