package storage

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors. Backends wrap driver errors so that errors.Is works with
// these and the driver's own text never reaches a client.
var (
	// ErrNotFound is returned when the addressed record does not exist.
	ErrNotFound = errors.New("storage: not found")
	// ErrConflict is returned when a create would overwrite an existing record.
	ErrConflict = errors.New("storage: already exists")
)

// Store is everything a backend provides. New areas are added as new embedded
// interfaces; every backend must implement all of them and pass
// storagetest.Run.
type Store interface {
	Accounts
	Roster
	Offline
	Blocklist
	AccountData
	Archive
	RoomArchive
	PubSub
	MUC
	Push
	Invites
	FastTokens

	// Migrate brings the schema to the version this binary expects. It is
	// safe to call concurrently from several processes and on an up-to-date
	// schema, where it does nothing.
	Migrate(ctx context.Context) error
	// Ping reports whether the backend is reachable.
	Ping(ctx context.Context) error
	// Close releases the backend's resources.
	Close() error
}

// Hash names used in Credential.Hash, spelled as in the SCRAM mechanism names.
const (
	HashSHA1   = "SHA-1"
	HashSHA256 = "SHA-256"
	HashSHA512 = "SHA-512"
)

// Credential is what is kept of a password for one SCRAM hash (RFC 5802 §3):
// never the password and never the salted password, which are
// password-equivalent.
type Credential struct {
	Hash       string // HashSHA1, HashSHA256 or HashSHA512
	Salt       []byte
	Iterations int
	StoredKey  []byte // H(ClientKey)
	ServerKey  []byte // HMAC(SaltedPassword, "Server Key")
}

// Account is a local user of one virtual host. Username is the JID's
// localpart as already normalized by the caller (PRECIS UsernameCaseMapped);
// backends compare it byte for byte.
type Account struct {
	Host        string
	Username    string
	Created     time.Time
	Credentials []Credential
}

// Accounts stores local accounts and their credentials.
type Accounts interface {
	// CreateAccount stores a new account with its credentials. It returns
	// ErrConflict if the account already exists.
	CreateAccount(ctx context.Context, host, username string, creds []Credential) error
	// Account returns the account with its credentials, or ErrNotFound.
	Account(ctx context.Context, host, username string) (Account, error)
	// AccountExists reports whether the account exists.
	AccountExists(ctx context.Context, host, username string) (bool, error)
	// SetCredentials replaces all credentials of an account at once (a
	// password change) and deletes its FAST tokens, or returns ErrNotFound.
	SetCredentials(ctx context.Context, host, username string, creds []Credential) error
	// DeleteAccount removes the account and everything stored for it in
	// every area (roster, offline messages, block list, account data...),
	// or returns ErrNotFound.
	DeleteAccount(ctx context.Context, host, username string) error
	// ListAccounts returns the usernames of a host in ascending byte order.
	ListAccounts(ctx context.Context, host string) ([]string, error)
}
