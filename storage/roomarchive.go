package storage

import (
	"context"
	"time"
)

// RoomArchive stores the message archives of multi-user chat rooms
// (XEP-0313 on a room's JID). Rooms are not accounts: an entry is kept
// whether or not an account of that name exists, and DeleteAccount leaves
// room archives alone. An entry is an ArchiveEntry whose Host is the MUC
// service's domain and Username the room's name; With is the sender's real
// bare JID (empty when unknown) and WithResource its nickname in the room.
// Ordering and query semantics are those of Archive; a query with
// WithResource and no With selects the messages sent under a nickname.
type RoomArchive interface {
	// AppendRoomArchive stores entries in order, all or none. Entries
	// whose ID their room's archive already holds are skipped.
	AppendRoomArchive(ctx context.Context, entries []ArchiveEntry) error
	// QueryRoomArchive returns one page of a room's archive, as
	// QueryArchive does.
	QueryRoomArchive(ctx context.Context, service, room string, q ArchiveQuery) (ArchivePage, error)
	// ReplaceRoomArchive replaces the stanza of an entry (with a tombstone,
	// XEP-0425), keeping its place and stamp, or returns ErrNotFound.
	ReplaceRoomArchive(ctx context.Context, service, room, id string, stanza []byte) error
	// DeleteRoomArchive deletes every entry of a room's archive. Deleting
	// an empty archive is not an error. It deletes in small transactions,
	// so a large archive does not hold up writers.
	DeleteRoomArchive(ctx context.Context, service, room string) error
	// PurgeRoomArchive deletes the entries stamped before t, of the rooms
	// of one service, or of every room when service is empty, in small
	// transactions. It returns how many it deleted.
	PurgeRoomArchive(ctx context.Context, service string, before time.Time) (int64, error)
}
