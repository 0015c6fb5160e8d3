package auth

import (
	"context"
	"strings"
	"unicode/utf8"

	"parley.im/parley/storage"
)

// plain handles the single PLAIN message (RFC 4616 §2):
// [authzid] NUL authcid NUL passwd, each UTF-8 without NUL, authcid and
// passwd non-empty.
func (e *Exchange) plain(ctx context.Context, in []byte) ([]byte, bool, *Failure) {
	if !utf8.Valid(in) {
		return nil, false, malformed("auth: PLAIN message is not UTF-8")
	}
	fields := strings.Split(string(in), "\x00")
	if len(fields) != 3 {
		return nil, false, malformed("auth: PLAIN message needs exactly two NULs")
	}
	authzid, authcid, password := fields[0], fields[1], fields[2]
	if authcid == "" || password == "" {
		return nil, false, malformed("auth: PLAIN authcid or password empty")
	}
	e.claimed = authcid
	if !e.authzidAllowed(authzid, authcid) {
		return nil, false, invalidAuthzid()
	}
	creds, found, f := e.lookup(ctx, authcid)
	if f != nil {
		return nil, false, f
	}
	cred, ok := strongestUsable(creds)
	if !found || !ok {
		// Spend the same PBKDF2 work as for a real account so that timing
		// does not tell unknown users apart.
		VerifyPassword(e.fakeCredential(plainPreference[0], authcid), password)
		if !found {
			return nil, false, notAuthorized("auth: PLAIN: unknown user")
		}
		return nil, false, notAuthorized("auth: PLAIN: user has no usable credential")
	}
	if !VerifyPassword(cred, password) {
		return nil, false, notAuthorized("auth: PLAIN: wrong password")
	}
	e.username = authcid
	return nil, true, nil
}

// plainPreference is the order in which PLAIN picks a credential to
// check. SHA-256 comes first: PBKDF2 over it is as sound as over SHA-512
// and about three times cheaper in Go, and PLAIN pays it on every login.
var plainPreference = []scramHash{hashSHA256, hashSHA512, hashSHA1}

// strongestUsable picks the credential PLAIN checks: the first hash of
// plainPreference that has a well-formed credential.
func strongestUsable(creds []storage.Credential) (storage.Credential, bool) {
	for _, h := range plainPreference {
		for _, c := range creds {
			if usable(c, h) {
				return c, true
			}
		}
	}
	return storage.Credential{}, false
}
