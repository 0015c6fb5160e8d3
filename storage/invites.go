package storage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// Invite is an invitation (XEP-0401): a token, kept only as its hash,
// that lets its holder register an account on Host (even with open
// registration off) and, with Inviter set, become a mutual contact of the
// inviter (XEP-0379).
type Invite struct {
	Host      string
	TokenHash string // InviteTokenHash of the token
	// Inviter is the username on Host of the account that created the
	// invitation, "" when the server did (an admin command, the CLI) with
	// no roster subscription. Deleting that account deletes the
	// invitation.
	Inviter string
	// Username, when set, is the only account the token registers; it is
	// reserved until the invitation expires.
	Username string
	// Register allows registering an account with the token; a contact
	// invitation without it only pre-authorizes a subscription.
	Register bool
	Created  time.Time
	Expires  time.Time
}

// InviteTokenHash is how tokens are stored: the hex SHA-256 of the token.
// Tokens are long random strings, so an unsalted fast hash is enough to
// keep a copy of the database from being a list of usable tokens.
func InviteTokenHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// Invites stores invitations. Expired invitations are never returned and
// never taken; PurgeInvites deletes them.
type Invites interface {
	// CreateInvite stores an invitation; ErrConflict if its hash is taken.
	CreateInvite(ctx context.Context, inv Invite) error
	// Invite returns the invitation of a token hash on host that has not
	// expired at now, or ErrNotFound.
	Invite(ctx context.Context, host, tokenHash string, now time.Time) (Invite, error)
	// TakeInvite removes and returns the invitation, as Invite finds it:
	// of two concurrent takes of one token, only one gets it (single use).
	TakeInvite(ctx context.Context, host, tokenHash string, now time.Time) (Invite, error)
	// InviteReserves reports whether an invitation not expired at now
	// reserves username on host.
	InviteReserves(ctx context.Context, host, username string, now time.Time) (bool, error)
	// PurgeInvites deletes the invitations expired at now and returns how
	// many.
	PurgeInvites(ctx context.Context, now time.Time) (int, error)
}
