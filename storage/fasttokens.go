package storage

import (
	"context"
	"time"
)

// FastToken is a XEP-0484 (FAST) token as the server keeps it: never the
// token itself, only its SHA-256 hash (Key), which is what the HT-SHA-256-*
// mechanisms need (HMAC hashes a key longer than its block size, and
// Parley's tokens are). A token belongs to one client of one account: the
// XEP-0388 user-agent id (AgentID) the client authenticated with.
type FastToken struct {
	Host     string
	Username string
	AgentID  string
	// Key is SHA-256 of the token. It identifies the token within its
	// client.
	Key []byte
	// Mechanism is the HT-* mechanism the token was issued for; it may be
	// used with no other.
	Mechanism string
	Expires   time.Time
	// Used is true once the token authenticated a client (the XEP's
	// "current" slot); a token never used is the "new" one.
	Used bool
	// Count is the highest XEP-0484 replay counter accepted for the token
	// (0: none yet).
	Count uint64
}

// FastTokens stores FAST tokens. Tokens go with their account: deleting the
// account deletes them.
type FastTokens interface {
	// FastTokens returns the tokens of one client, latest expiry first.
	// An account that does not exist has none.
	FastTokens(ctx context.Context, host, username, agentID string) ([]FastToken, error)
	// AddFastToken stores a new, unused token. The client's other unused
	// tokens and its expired ones are deleted (a client holds at most one
	// token it has not used yet). It returns ErrNotFound if the account
	// does not exist and ErrConflict if the client already has a token
	// with this key.
	AddFastToken(ctx context.Context, t FastToken) error
	// UseFastToken records that the token with key authenticated its
	// client: the token is marked used and the client's tokens expiring
	// before it are deleted (XEP-0484 §Token rotation). count, when not
	// 0, must be greater than the token's Count, which it becomes;
	// otherwise (a replay) nothing changes and ErrConflict is returned.
	// The check and the update are one atomic step, so two logins racing
	// with one counter value cannot both succeed. It returns ErrNotFound
	// if the token no longer exists.
	UseFastToken(ctx context.Context, host, username, agentID string, key []byte, count uint64) error
	// DeleteFastTokens deletes every token of a client; agentID "" deletes
	// those of every client of the account. Deleting nothing is not an
	// error.
	DeleteFastTokens(ctx context.Context, host, username, agentID string) error
}
