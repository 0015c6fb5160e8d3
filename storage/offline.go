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
	ID     int64     // increasing in arrival order
	Stamp  time.Time // when the server received it
	Stanza []byte    // the serialized message, in the client namespace
}

// Offline stores messages for users with no available resource.
type Offline interface {
	// PushOffline appends a message. With limit > 0 and the user already
	// holding limit messages, it stores nothing and returns ErrQuota.
	PushOffline(ctx context.Context, host, username string, stanza []byte, stamp time.Time, limit int) error
	// OfflineMessages returns the stored messages, oldest first.
	OfflineMessages(ctx context.Context, host, username string) ([]OfflineMessage, error)
	// DeleteOffline removes the messages with ID <= upTo (those delivered).
	DeleteOffline(ctx context.Context, host, username string, upTo int64) error
	// CountOffline returns how many messages are stored.
	CountOffline(ctx context.Context, host, username string) (int, error)
}
