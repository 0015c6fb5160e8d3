package storage

import "context"

// Blocklist stores XEP-0191 block lists: JIDs in any of the forms the XEP
// allows (domain, domain/resource, bare, full), normalized by the caller and
// compared byte for byte. Reads for an account that does not exist see an
// empty list.
type Blocklist interface {
	// BlockedJIDs returns the list in ascending byte order.
	BlockedJIDs(ctx context.Context, host, username string) ([]string, error)
	// Block adds JIDs; adding one already present is not an error. It
	// returns the JIDs that were newly added, each once, in ascending byte
	// order. It returns ErrNotFound if the account does not exist.
	Block(ctx context.Context, host, username string, jids []string) (added []string, err error)
	// Unblock removes JIDs; an empty list removes all. It returns the JIDs
	// that were removed, each once, in ascending byte order; JIDs that were
	// not blocked, and an account that does not exist, are not an error.
	Unblock(ctx context.Context, host, username string, jids []string) (removed []string, err error)
}
