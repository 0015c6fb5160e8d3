package storage

import (
	"context"
	"time"
)

// Kinds of AccountData in use, so that no two modules pick the same one.
const (
	DataVCard            = "vcard"        // key "": the vcard-temp XML (XEP-0054)
	DataPrivate          = "private"      // key: namespace of the private XML (XEP-0049)
	DataLastActivity     = "last"         // key "": last logout time and status (XEP-0012)
	DataSubscribeRequest = "subscription" // key: contact bare JID; the pending subscribe stanza
)

// DataItem is one stored value.
type DataItem struct {
	Key     string
	Value   []byte
	Updated time.Time // when it was last put, set by the store, to the microsecond, in UTC
}

// AccountData is a small per-account key-value store for XML blobs and
// the like, grouped by kind. It is deleted with the account. Kinds and keys
// are compared byte for byte; the empty key is a key like any other. Reads
// for an account that does not exist find nothing.
type AccountData interface {
	// GetData returns a value, or ErrNotFound.
	GetData(ctx context.Context, host, username, kind, key string) ([]byte, error)
	// PutData stores a value, replacing any previous one; a nil value is
	// stored as an empty one. It returns ErrNotFound if the account does
	// not exist.
	PutData(ctx context.Context, host, username, kind, key string, value []byte) error
	// DeleteData removes a value, or returns ErrNotFound.
	DeleteData(ctx context.Context, host, username, kind, key string) error
	// ListData returns every value of a kind, by ascending key.
	ListData(ctx context.Context, host, username, kind string) ([]DataItem, error)
}
