package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/text/secure/precis"

	"parley.im/parley/storage"
)

// MaxMessageLen caps every client message (after base64 decoding). Real
// SASL messages are a few hundred bytes; the cap bounds the work an
// unauthenticated peer can cause.
const MaxMessageLen = 8 << 10

// CredentialLookup returns the credentials of a local username. username is
// the authcid exactly as the client sent it (after SCRAM unescaping): the
// lookup normalizes it (PRECIS UsernameCaseMapped) and returns
// storage.ErrNotFound for an unknown or invalid username. Any other error
// fails the exchange with temporary-auth-failure. It must be safe to call
// from any goroutine.
type CredentialLookup func(ctx context.Context, username string) ([]storage.Credential, error)

// Config is what an Exchange needs to know about the stream it runs on.
type Config struct {
	Lookup CredentialLookup
	// Host is the virtual host. An authzid is accepted only when empty or
	// the bare JID of the authenticating user on Host.
	Host string
	// CB is the channel binding of the stream's TLS connection, nil
	// without TLS.
	CB        *ChannelBinding
	TLSActive bool
	// AdvertisedPlus is true when -PLUS mechanisms were offered on this
	// stream: a client saying (gs2 flag "y") that it could bind but saw no
	// -PLUS mechanism is then the victim of a downgrade and is refused
	// (RFC 5802 §6).
	AdvertisedPlus bool
	// FakeSaltKey is a secret from which unknown users get a deterministic
	// salt, so SCRAM's first answer does not reveal whether a user exists.
	// It should be persistent and the same on every server of a cluster.
	// Empty means a random key per process: still secret, but the fake
	// salts then change on restart, which an observer could notice.
	FakeSaltKey []byte
	// FakeIterations is the iteration count shown for unknown users and
	// spent on them by PLAIN. Set it to the count new accounts get, so
	// unknown users look like real ones; 0 means MinIterations.
	FakeIterations int
	// Offered, if not nil, is the list of mechanisms advertised on this
	// stream (Mechanisms' result); any other mechanism is then refused
	// with invalid-mechanism. When nil, only unknown mechanisms and -PLUS
	// without channel binding are refused, and the caller must itself
	// refuse mechanisms it did not advertise (PLAIN when not allowed, names
	// filtered out by configuration).
	Offered []string
	// Downgrade, when not nil, makes SCRAM send XEP-0474's "h" attribute
	// in its server-first-message, computed from what it lists.
	Downgrade *DowngradeProtection
}

// processFakeSaltKey is used when Config.FakeSaltKey is empty.
var processFakeSaltKey = func() []byte {
	k := make([]byte, 32)
	rand.Read(k) // never fails since Go 1.24
	return k
}()

type exchangeState int

const (
	stateInitial      exchangeState = iota
	stateAwaitInitial               // empty challenge sent, waiting for the first real message
	stateAwaitFinal                 // SCRAM server-first sent
	stateFinished                   // succeeded or failed; no more steps
)

// Exchange is one SASL authentication attempt. Not safe for concurrent use.
type Exchange struct {
	mech  string
	cfg   Config
	hash  scramHash // SCRAM only
	state exchangeState

	// newNonce makes the server's part of the SCRAM nonce; tests replace it
	// to replay published test vectors.
	newNonce func() string

	claimed  string // authcid as sent, once parsed
	username string // set only on success
	cbType   string

	// SCRAM state between client-first and client-final.
	gs2Header       string
	clientFirstBare string
	serverFirst     string
	nonce           string
	cred            storage.Credential
	fakeReason      string // non-empty when cred is a fake: the exchange must fail
}

// NewExchange starts an authentication attempt with mech. An unknown or
// not-offered mechanism gives a *Failure with invalid-mechanism, PLAIN
// without TLS gives encryption-required.
func NewExchange(mech string, cfg Config) (*Exchange, error) {
	if mech != PLAIN {
		if _, ok := scramHashFor(mech); !ok {
			return nil, &Failure{Condition: ConditionInvalidMechanism, Text: textBadMechanism, Err: errors.New("auth: unknown mechanism")}
		}
	}
	if mech == PLAIN && !cfg.TLSActive {
		return nil, &Failure{Condition: ConditionEncryptionRequired, Text: textNeedTLS, Err: errors.New("auth: PLAIN without TLS")}
	}
	if isPlus(mech) && len(cfg.CB.Types()) == 0 {
		return nil, &Failure{Condition: ConditionInvalidMechanism, Text: textBadMechanism, Err: errors.New("auth: -PLUS mechanism without channel binding")}
	}
	if cfg.Offered != nil && !slices.Contains(cfg.Offered, mech) {
		return nil, &Failure{Condition: ConditionInvalidMechanism, Text: textBadMechanism, Err: errors.New("auth: mechanism not offered")}
	}
	if cfg.Lookup == nil {
		return nil, &Failure{Condition: ConditionTemporaryAuthFailure, Text: textTryLater, Err: errors.New("auth: no credential lookup configured")}
	}
	e := &Exchange{mech: mech, cfg: cfg, newNonce: randomNonce}
	e.hash, _ = scramHashFor(mech)
	return e, nil
}

// Step consumes the client's message (already base64-decoded) and returns
// the server's next one.
//
// in is nil only for an <auth/> without initial response, which is
// answered with an empty challenge; an empty but non-nil in is an empty
// message (the "=" initial response) and is malformed for every mechanism
// here. When done is true the exchange succeeded and out is the additional
// data for <success/> (SCRAM's "v=..."; nil for PLAIN). Every error is a
// *Failure, after which the Exchange is finished.
func (e *Exchange) Step(ctx context.Context, in []byte) (out []byte, done bool, err error) {
	if e.state == stateFinished {
		return nil, false, &Failure{Condition: ConditionMalformedRequest, Text: textFinished, Err: errors.New("auth: step after the exchange finished")}
	}
	out, done, f := e.step(ctx, in)
	if f != nil {
		e.finish()
		return nil, false, f
	}
	if done {
		e.finish()
	}
	return out, done, nil
}

func (e *Exchange) step(ctx context.Context, in []byte) ([]byte, bool, *Failure) {
	if len(in) > MaxMessageLen {
		return nil, false, &Failure{Condition: ConditionMalformedRequest, Text: textTooLong, Err: errors.New("auth: client message over size limit")}
	}
	switch e.state {
	case stateInitial:
		if in == nil {
			e.state = stateAwaitInitial
			return []byte{}, false, nil
		}
		fallthrough
	case stateAwaitInitial:
		if e.mech == PLAIN {
			return e.plain(ctx, in)
		}
		return e.scramClientFirst(ctx, in)
	case stateAwaitFinal:
		return e.scramClientFinal(in)
	}
	return nil, false, malformed("auth: unexpected exchange state")
}

// finish ends the exchange and drops key material early.
func (e *Exchange) finish() {
	e.state = stateFinished
	e.cred = storage.Credential{}
}

// Username returns the authenticated username: the authcid as the client
// sent it (after SCRAM unescaping), not normalized. It is "" until Step has
// returned done.
func (e *Exchange) Username() string { return e.username }

// ClaimedUsername returns the authcid the client claimed, as soon as it has
// been parsed, whether or not authentication succeeds. It is NOT
// authenticated: use it only for throttling and logs.
func (e *Exchange) ClaimedUsername() string { return e.claimed }

// Mechanism returns the mechanism name of the exchange.
func (e *Exchange) Mechanism() string { return e.mech }

// ChannelBindingType returns the channel binding type the client asked for
// ("p=" in SCRAM's gs2 header), or "" when none is used.
func (e *Exchange) ChannelBindingType() string { return e.cbType }

// lookup fetches the credentials and turns storage errors into failures.
// found is false for an unknown user.
func (e *Exchange) lookup(ctx context.Context, username string) (creds []storage.Credential, found bool, f *Failure) {
	creds, err := e.cfg.Lookup(ctx, username)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return nil, false, nil
	case err != nil:
		return nil, false, &Failure{Condition: ConditionTemporaryAuthFailure, Text: textTryLater, Err: fmt.Errorf("auth: credential lookup: %w", err)}
	}
	return creds, true, nil
}

// authzidAllowed reports whether authcid may act as authzid: only as
// itself, named either by nothing or by its bare JID on the host. The
// localpart is compared after the normalization the lookup applies, the
// domain case-insensitively.
func (e *Exchange) authzidAllowed(authzid, authcid string) bool {
	if authzid == "" {
		return true
	}
	local, domain, ok := strings.Cut(authzid, "@")
	if !ok || local == "" || domain == "" || strings.ContainsAny(domain, "@/") {
		return false
	}
	if !strings.EqualFold(domain, e.cfg.Host) {
		return false
	}
	if local == authcid {
		return true
	}
	a, errA := precis.UsernameCaseMapped.String(local)
	b, errB := precis.UsernameCaseMapped.String(authcid)
	return errA == nil && errB == nil && a != "" && a == b
}

func invalidAuthzid() *Failure {
	return &Failure{Condition: ConditionInvalidAuthzid, Text: textBadAuthzid, Err: errors.New("auth: authzid is not the authenticating user")}
}

// fakeCredential stands in for a missing one. Its salt is deterministic per
// (hash, normalized username) so that asking twice, or with another case,
// gives the same answer as for a real user; its keys are random so that no
// proof or password can match.
func (e *Exchange) fakeCredential(h scramHash, username string) storage.Credential {
	if n, err := precis.UsernameCaseMapped.String(username); err == nil && n != "" {
		username = n
	}
	key := e.cfg.FakeSaltKey
	if len(key) == 0 {
		key = processFakeSaltKey
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte("parley fake salt\x00" + h.name + "\x00" + username))
	iterations := e.cfg.FakeIterations
	if iterations <= 0 {
		iterations = MinIterations
	}
	return storage.Credential{
		Hash:       h.name,
		Salt:       m.Sum(nil)[:saltLen],
		Iterations: iterations,
		StoredKey:  randomBytes(h.size),
		ServerKey:  randomBytes(h.size),
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}
