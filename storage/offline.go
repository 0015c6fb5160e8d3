package storage

import (
	"context"
	"errors"
	"time"
)

// ErrQuota is returned when a per-user limit would be exceeded.
var ErrQuota = errors.New("storage: quota exceeded")

// OfflineMessage is a message kept for a user who was offline (XEP-0160).
type OfflineMessage struct {
	ID     int64     // increasing in arrival order, never reused
	Stamp  time.Time // when the server received it, kept to the microsecond, in UTC
	Stanza []byte    // the serialized message, in the client namespace
}

// Offline stores messages for users with no available resource. IDs are
// shared by all users of a store, so one user's are not consecutive. Reads
// for an account that does not exist see no messages.
type Offline interface {
	// PushOffline appends a message. With limit > 0 and the user already
	// holding limit messages, it stores nothing and returns ErrQuota. It
	// returns ErrNotFound if the account does not exist. Pushes to one user
	// are serialized, so a message with a greater ID was stored later.
	PushOffline(ctx context.Context, host, username string, stanza []byte, stamp time.Time, limit int) error
	// OfflineMessages returns the stored messages, oldest first.
	OfflineMessages(ctx context.Context, host, username string) ([]OfflineMessage, error)
	// DeleteOffline removes the messages with ID <= upTo (those delivered).
	// Removing nothing is not an error.
	DeleteOffline(ctx context.Context, host, username string, upTo int64) error
	// CountOffline returns how many messages are stored.
	CountOffline(ctx context.Context, host, username string) (int, error)
}
