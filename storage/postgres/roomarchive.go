package postgres

import (
	"context"
	"time"

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

// DeleteRoomArchive implements storage.RoomArchive, archivePurgeChunk
// entries per transaction.
func (s *Store) DeleteRoomArchive(ctx context.Context, service, room string) error {
	_, err := s.deleteArchiveChunks(ctx, `
		DELETE FROM room_archive WHERE seq IN (
			SELECT seq FROM room_archive WHERE host = $1 AND username = $2 LIMIT $3)`,
		[]any{service, room})
	return wrap("delete room archive", err)
}

// PurgeRoomArchive implements storage.RoomArchive, archivePurgeChunk
// entries per transaction.
func (s *Store) PurgeRoomArchive(ctx context.Context, service string, before time.Time) (int64, error) {
	q, args := `DELETE FROM room_archive WHERE seq IN (SELECT seq FROM room_archive WHERE stamp < $1 LIMIT $2)`, []any{before}
	if service != "" {
		q, args = `DELETE FROM room_archive WHERE seq IN (
			SELECT seq FROM room_archive WHERE stamp < $1 AND host = $2 LIMIT $3)`, []any{before, service}
	}
	n, err := s.deleteArchiveChunks(ctx, q, args)
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
