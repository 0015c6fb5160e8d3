package storage

import (
	"context"
	"time"
)

// PushRegistration is one device's XEP-0357 registration: the app server's
// push service and node to publish to, with the publish options the client
// gave (the serialized XEP-0004 form, nil when none), which may hold a
// secret shared with the app server.
type PushRegistration struct {
	Service string // the push service's JID, normalized by the caller
	Node    string
	Options []byte
	Created time.Time // set by the backend at each put
}

// Push stores the push registrations of accounts.
type Push interface {
	// PutPushRegistration stores a registration, replacing the one with
	// the same service and node (the options of the last enable win). A
	// new one over limit registrations (limit > 0) returns ErrQuota and
	// stores nothing. It returns ErrNotFound if the account does not exist.
	PutPushRegistration(ctx context.Context, host, username string, reg PushRegistration, limit int) error
	// PushRegistrations returns an account's registrations ordered by
	// service then node; none for an account that does not exist.
	PushRegistrations(ctx context.Context, host, username string) ([]PushRegistration, error)
	// DeletePushRegistrations removes the registration of service and
	// node, or with node "" every registration of service, and returns
	// how many it removed (0 is not an error).
	DeletePushRegistrations(ctx context.Context, host, username, service, node string) (int, error)
}
