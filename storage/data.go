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
	Updated time.Time
}

// AccountData is a small per-account key-value store for XML blobs and
// the like, grouped by kind. It is deleted with the account.
type AccountData interface {
	// GetData returns a value, or ErrNotFound.
	GetData(ctx context.Context, host, username, kind, key string) ([]byte, error)
	// PutData stores a value, replacing any previous one.
	PutData(ctx context.Context, host, username, kind, key string, value []byte) error
	// DeleteData removes a value, or returns ErrNotFound.
	DeleteData(ctx context.Context, host, username, kind, key string) error
	// ListData returns every value of a kind, by ascending key.
	ListData(ctx context.Context, host, username, kind string) ([]DataItem, error)
}
