package auth

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"hash"
	"unicode/utf8"

	"golang.org/x/text/secure/precis"

	"parley.im/parley/storage"
)

// MinIterations is the lowest PBKDF2 iteration count DeriveCredentials
// accepts: the minimum RFC 7677 §4 allows for SCRAM-SHA-256.
const MinIterations = 4096

// saltLen is the salt size for new credentials and for the fake salts of
// unknown users, so that both look alike.
const saltLen = 16

// scramHash ties a storage hash name to its implementation.
type scramHash struct {
	name string // storage.Hash*
	new  func() hash.Hash
	size int
}

var (
	hashSHA1   = scramHash{storage.HashSHA1, sha1.New, sha1.Size}
	hashSHA256 = scramHash{storage.HashSHA256, sha256.New, sha256.Size}
	hashSHA512 = scramHash{storage.HashSHA512, sha512.New, sha512.Size}
)

// hashesStrongestFirst is also the order of DeriveCredentials' result.
var hashesStrongestFirst = []scramHash{hashSHA512, hashSHA256, hashSHA1}

func hashByName(name string) (scramHash, bool) {
	for _, h := range hashesStrongestFirst {
		if h.name == name {
			return h, true
		}
	}
	return scramHash{}, false
}

var (
	errBadIterations = errors.New("auth: iteration count below minimum")
	errBadPassword   = errors.New("auth: empty or invalid password")
)

// normalizePassword applies PRECIS OpaqueString (RFC 8265), the successor of
// SASLprep that RFC 7677 clients are expected to use. It rejects the empty
// password and invalid UTF-8, which precis would otherwise let through.
func normalizePassword(password string) (string, error) {
	if !utf8.ValidString(password) {
		return "", errBadPassword
	}
	p, err := precis.OpaqueString.String(password)
	if err != nil || p == "" {
		return "", errBadPassword
	}
	return p, nil
}

// DeriveCredentials computes the SCRAM credentials (RFC 5802 §3) for
// password, one per supported hash, each with its own random salt.
// iterations below MinIterations, and an empty or PRECIS-invalid password,
// are errors. The error never contains the password.
func DeriveCredentials(password string, iterations int) ([]storage.Credential, error) {
	if iterations < MinIterations {
		return nil, errBadIterations
	}
	normalized, err := normalizePassword(password)
	if err != nil {
		return nil, err
	}
	creds := make([]storage.Credential, 0, len(hashesStrongestFirst))
	for _, h := range hashesStrongestFirst {
		salt := make([]byte, saltLen)
		if _, err := rand.Read(salt); err != nil {
			return nil, err
		}
		c, err := deriveCredential(h, normalized, salt, iterations)
		if err != nil {
			return nil, err
		}
		creds = append(creds, c)
	}
	return creds, nil
}

// deriveCredential computes StoredKey and ServerKey from an already
// normalized password.
func deriveCredential(h scramHash, normalizedPassword string, salt []byte, iterations int) (storage.Credential, error) {
	salted, err := pbkdf2.Key(h.new, normalizedPassword, salt, iterations, h.size)
	if err != nil {
		return storage.Credential{}, errors.New("auth: pbkdf2 failed")
	}
	clientKey := hmacSum(h, salted, clientKeyLabel)
	return storage.Credential{
		Hash:       h.name,
		Salt:       append([]byte(nil), salt...),
		Iterations: iterations,
		StoredKey:  hashSum(h, clientKey),
		ServerKey:  hmacSum(h, salted, serverKeyLabel),
	}, nil
}

var (
	clientKeyLabel = []byte("Client Key")
	serverKeyLabel = []byte("Server Key")
)

func hmacSum(h scramHash, key []byte, parts ...[]byte) []byte {
	m := hmac.New(h.new, key)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

func hashSum(h scramHash, data []byte) []byte {
	d := h.new()
	d.Write(data)
	return d.Sum(nil)
}

// usable reports whether c has the shape a SCRAM exchange with h needs, so
// that a damaged record fails authentication instead of crashing it.
func usable(c storage.Credential, h scramHash) bool {
	return c.Hash == h.name && len(c.Salt) > 0 && c.Iterations > 0 &&
		len(c.StoredKey) == h.size && len(c.ServerKey) == h.size
}

// VerifyPassword reports whether password matches the stored credential c.
// It runs PBKDF2 with c's iteration count and compares in constant time.
func VerifyPassword(c storage.Credential, password string) bool {
	h, ok := hashByName(c.Hash)
	if !ok || !usable(c, h) {
		return false
	}
	normalized, err := normalizePassword(password)
	if err != nil {
		return false
	}
	got, err := deriveCredential(h, normalized, c.Salt, c.Iterations)
	if err != nil {
		return false
	}
	return hmac.Equal(got.StoredKey, c.StoredKey)
}
