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
	// Groups are kept as given, in order; the store neither sorts nor
	// deduplicates them.
	Groups []string
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

// MinRosterTombstones is how many tombstones of a roster, the newest, a
// backend keeps at least. It may forget older ones; RosterChangesSince
// then answers ok=false for a version older than the newest one forgotten.
const MinRosterTombstones = 1000

// Roster stores rosters with XEP-0237 versions: every change gets a
// version strictly greater than all before it in that roster, and removals
// leave tombstones so a client can be sent only what changed.
//
// Versions are opaque positive numbers, not consecutive within a roster.
// They never go back and are never reused for an account's JID: not when
// all items are removed, nor when the account is deleted and created again.
// A version handed out before the account was last re-created is unknown
// to the new roster (ok=false from RosterChangesSince), so a client's cache
// of the deleted account's roster is never merged into the new one.
//
// Reads for an account that does not exist see an empty roster at version
// 0. Contacts are compared byte for byte.
type Roster interface {
	// RosterItems returns the whole roster (items with only PendingIn
	// included; the caller filters) in ascending byte order of JID, and its
	// current version (0 for an empty roster never changed), both from one
	// snapshot.
	RosterItems(ctx context.Context, host, username string) (items []RosterItem, version int64, err error)
	// RosterItem returns one item, or ErrNotFound.
	RosterItem(ctx context.Context, host, username, contact string) (RosterItem, error)
	// UpdateRosterItem atomically reads the item for contact (nil when
	// absent) and passes it to f. What f returns is stored, with a new
	// version; nil removes the item, leaving a tombstone. If f returns
	// ErrUnchanged nothing is written. It returns the item as stored (nil
	// when removed or absent) and the roster's version afterwards. Any
	// other error from f is returned as is.
	//
	// f is called once, with the roster locked against other updates, and
	// gets a copy it may modify and return: it must be quick and must not
	// use the store. The stored item's JID is contact and its Version the
	// new version, whatever f set. A Subscription other than the Sub
	// constants is an error and nothing is written. If f returns nil for an
	// absent item nothing is written either, as with ErrUnchanged. If the
	// account does not exist it returns ErrNotFound without calling f.
	UpdateRosterItem(ctx context.Context, host, username, contact string,
		f func(cur *RosterItem) (*RosterItem, error)) (*RosterItem, int64, error)
	// RosterChangesSince returns the changes after version, oldest first,
	// and the current version. Each contact appears at most once, in its
	// latest state. ok is false when the store can no longer tell
	// (tombstones pruned, a version from before the account was
	// re-created, or an unknown version from the future): the caller then
	// sends the full roster. Version 0 is always answered, with every item
	// and the tombstones still kept, since a client at 0 holds nothing.
	RosterChangesSince(ctx context.Context, host, username string, version int64) (changes []RosterChange, current int64, ok bool, err error)
}
