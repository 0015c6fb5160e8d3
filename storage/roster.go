package storage

import (
	"context"
	"errors"
)

// ErrUnchanged is returned by an update function to say that nothing is to
// be written; the update then returns the current state and no error.
var ErrUnchanged = errors.New("storage: unchanged")

// Subscription states of a roster item (RFC 6121 §2.1.2.5).
const (
	SubNone = "none"
	SubTo   = "to"
	SubFrom = "from"
	SubBoth = "both"
)

// RosterItem is one contact in a user's roster, with the subscription
// state of RFC 6121 Appendix A: Subscription plus the two pending flags.
type RosterItem struct {
	JID          string // the contact's bare JID, normalized
	Name         string
	Subscription string // SubNone, SubTo, SubFrom or SubBoth
	// PendingOut: the user asked for the contact's presence and awaits an
	// answer (shown as ask='subscribe').
	PendingOut bool
	// PendingIn: the contact asked for the user's presence and awaits an
	// answer. An item that exists only for this is not shown in the roster.
	PendingIn bool
	// Approved: the user pre-approved a subscription request from the
	// contact (RFC 6121 §3.4).
	Approved bool
	Groups   []string
	// Version is the roster version at which this item last changed (set by
	// the store).
	Version int64
}

// RosterChange is an item that changed since a version; Removed items
// carry only JID and Version.
type RosterChange struct {
	Item    RosterItem
	Removed bool
}

// Roster stores rosters with XEP-0237 versions: every change gets a
// version strictly greater than all before it in that roster, and removals
// leave tombstones so a client can be sent only what changed.
type Roster interface {
	// RosterItems returns the whole roster (items with only PendingIn
	// included; the caller filters) and its current version (0 for an
	// empty roster never changed).
	RosterItems(ctx context.Context, host, username string) (items []RosterItem, version int64, err error)
	// RosterItem returns one item, or ErrNotFound.
	RosterItem(ctx context.Context, host, username, contact string) (RosterItem, error)
	// UpdateRosterItem atomically reads the item for contact (nil when
	// absent) and passes it to f. What f returns is stored, with a new
	// version; nil removes the item, leaving a tombstone. If f returns
	// ErrUnchanged nothing is written. It returns the item as stored (nil
	// when removed or absent) and the roster's version afterwards. Any
	// other error from f is returned as is.
	UpdateRosterItem(ctx context.Context, host, username, contact string,
		f func(cur *RosterItem) (*RosterItem, error)) (*RosterItem, int64, error)
	// RosterChangesSince returns the changes after version, oldest first,
	// and the current version. ok is false when the store can no longer
	// tell (tombstones pruned, or an unknown version from the future): the
	// caller then sends the full roster.
	RosterChangesSince(ctx context.Context, host, username string, version int64) (changes []RosterChange, current int64, ok bool, err error)
}
