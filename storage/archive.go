package storage

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// ArchiveDirection tells whether the archive's owner sent or received an
// archived message.
type ArchiveDirection int8

// Directions of archived messages.
const (
	ArchiveIncoming ArchiveDirection = 1 // the owner received it
	ArchiveOutgoing ArchiveDirection = 2 // the owner sent it
)

// ArchiveEntry is one message in a user's archive (XEP-0313).
type ArchiveEntry struct {
	// Host and Username name the archive's owner.
	Host, Username string
	// ID is the archive UID, chosen by the caller: unique within the
	// owner's archive, opaque, and never reused (XEP-0313 §5.3).
	ID string
	// With is the bare JID of the other party (the 'to' of an outgoing
	// message, the 'from' of an incoming one), and WithResource its
	// resource, empty when the address had none.
	With         string
	WithResource string
	Direction    ArchiveDirection
	// OriginID is the XEP-0359 origin-id the sender gave, empty if none.
	OriginID string
	// Stamp is when the server sent or received the message; kept to the
	// microsecond, read back in UTC.
	Stamp time.Time
	// Stanza is the serialized message, in the client namespace.
	Stanza []byte
}

// ArchiveQuery selects archive entries. The filters (With to IDs) define
// the result set; the paging fields (Max to Index) pick one page of it, as
// XEP-0059 does. An empty query with Max > 0 returns the first Max entries.
type ArchiveQuery struct {
	// With restricts the set to messages with this bare JID; with
	// WithResource also set, to messages with exactly that full JID
	// (XEP-0313 §4.1.1). WithResource alone restricts it to that
	// resource, whatever the bare JID: in a room archive, a nickname.
	With         string
	WithResource string
	// Start and End bound Stamp, both inclusive; zero means unbounded.
	Start, End time.Time
	// AfterID and BeforeID keep only the entries after (before) the entry
	// with that ID, exclusive. The entry must exist, or the query fails
	// with ErrNotFound.
	AfterID, BeforeID string
	// IDs, when not empty, keeps only the entries with these IDs. Each
	// must exist in the archive, or the query fails with ErrNotFound.
	IDs []string

	// Max is the most entries to return. With Max <= 0 none are returned,
	// and Count and Complete still answer.
	Max int
	// After and Before bound the page: it holds entries after (before) the
	// entry with that ID. The entry must exist in the archive, or the
	// query fails with ErrNotFound; it need not be in the result set.
	After, Before string
	// Backward takes the last Max entries of the range instead of the
	// first: an RSM <before/>, empty (the last page) or not.
	Backward bool
	// Index skips this many entries of the range first (RSM <index/>);
	// ignored when Backward is set.
	Index int
}

// ArchivePage is the answer to a query.
type ArchivePage struct {
	// Entries are in archive order: oldest first, and for equal stamps in
	// the order appended.
	Entries []ArchiveEntry
	// Count is how many entries the result set holds (the filters only,
	// not the paging), and Index the position of Entries[0] in it.
	Count, Index int
	// Complete is true when the page reaches the end of the range in the
	// direction of paging: no entry of the range comes after the page, or
	// before it when Backward.
	Complete bool
}

// ArchiveRef locates an entry.
type ArchiveRef struct {
	ID    string
	Stamp time.Time
}

// ArchiveMetadata is what XEP-0313 §6 tells about an archive: its first
// and last entries, both zero when it is empty.
type ArchiveMetadata struct {
	First, Last ArchiveRef
}

// Empty reports whether the archive holds no entry.
func (m ArchiveMetadata) Empty() bool { return m.First.ID == "" }

// ArchiveDefault is the default archiving policy of a user (XEP-0441).
type ArchiveDefault string

// Archiving policies.
const (
	ArchiveAlways ArchiveDefault = "always"
	ArchiveNever  ArchiveDefault = "never"
	ArchiveRoster ArchiveDefault = "roster" // contacts in the roster only
)

// ArchivePrefs are a user's XEP-0441 archiving preferences. Always and
// Never hold JIDs (bare or full), normalized by the caller and compared
// byte for byte.
type ArchivePrefs struct {
	Default ArchiveDefault
	Always  []string
	Never   []string
}

// Validate reports a Default other than the constants, or a JID in both
// lists.
func (p ArchivePrefs) Validate() error {
	switch p.Default {
	case ArchiveAlways, ArchiveNever, ArchiveRoster:
	default:
		return fmt.Errorf("storage: archive default %q is not always, never or roster", p.Default)
	}
	for _, j := range p.Always {
		if slices.Contains(p.Never, j) {
			return fmt.Errorf("storage: archive preferences list %q as both always and never", j)
		}
	}
	return nil
}

// Archive stores per-user message archives (XEP-0313) and archiving
// preferences (XEP-0441). Entries are ordered by Stamp, then by the order
// they were appended. Reads for an account that does not exist see an
// empty archive. An account's archive and preferences go with it.
type Archive interface {
	// AppendArchive stores entries in order, all or none. Entries of
	// accounts that do not exist, and entries whose ID their owner's
	// archive already holds, are skipped without error.
	AppendArchive(ctx context.Context, entries []ArchiveEntry) error
	// QueryArchive returns one page of a user's archive. A missing entry
	// named by AfterID, BeforeID, IDs, After or Before is ErrNotFound.
	QueryArchive(ctx context.Context, host, username string, q ArchiveQuery) (ArchivePage, error)
	// ArchiveMetadata returns the first and last entries of an archive.
	ArchiveMetadata(ctx context.Context, host, username string) (ArchiveMetadata, error)
	// PurgeArchive deletes the entries stamped before t: of one user, of
	// every user of host when username is empty, or of every archive when
	// host is empty too. It returns how many it deleted. It deletes in
	// small transactions, so a large purge does not hold up writers.
	PurgeArchive(ctx context.Context, host, username string, before time.Time) (int64, error)
	// DeleteArchive deletes every entry of a user's archive (not the
	// preferences). Deleting an empty archive is not an error.
	DeleteArchive(ctx context.Context, host, username string) error
	// ArchivePrefs returns a user's preferences, with Always and Never in
	// ascending byte order, or ErrNotFound if they were never set.
	ArchivePrefs(ctx context.Context, host, username string) (ArchivePrefs, error)
	// SetArchivePrefs replaces a user's preferences. Duplicate JIDs in a
	// list are stored once. Preferences that fail Validate are an error
	// (not a sentinel) and change nothing. It returns ErrNotFound if the
	// account does not exist.
	SetArchivePrefs(ctx context.Context, host, username string, p ArchivePrefs) error
}
