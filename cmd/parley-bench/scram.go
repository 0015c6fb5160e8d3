package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"sync"

	"mellium.im/sasl"
)

// The client side of SCRAM (RFC 5802, RFC 7677) costs one PBKDF2 per login:
// about 2 ms for SCRAM-SHA-256 at 10,000 iterations here, more than a whole
// login costs a server that stores StoredKey/ServerKey. A load tool doing
// that would measure itself. Real clients avoid it too (they keep the salted
// password, or the client and server keys, after the first login), so the
// tool keeps the keys derived from (password, salt, iterations) in a
// keyCache: with bench accounts that share one salt (see provision), the
// whole run costs one PBKDF2. Accounts with their own salts each cost one,
// as they would with mellium's mechanisms, which -scram-cache=false selects.

// scramKeys are what a client derives from the password.
type scramKeys struct {
	clientKey, storedKey, serverKey []byte
}

type keyCacheKey struct {
	mech, password, salt string
	iterations           int
}

type keyCacheEntry struct {
	once sync.Once
	keys scramKeys
	err  error
}

// keyCache memoizes SCRAM key derivation; it is safe for concurrent use and
// derives each key set once even when many logins ask at the same time.
type keyCache struct {
	mu      sync.Mutex
	m       map[keyCacheKey]*keyCacheEntry
	derived int // PBKDF2 runs, for the report
}

func newKeyCache() *keyCache { return &keyCache{m: make(map[keyCacheKey]*keyCacheEntry)} }

// maxCacheEntries bounds the cache for servers that give every account its
// own salt: past it, keys are derived and not kept.
const maxCacheEntries = 1 << 16

func (c *keyCache) get(mech string, fn func() hash.Hash, password, salt []byte, iter int) (scramKeys, error) {
	k := keyCacheKey{mech, string(password), string(salt), iter}
	c.mu.Lock()
	e, ok := c.m[k]
	if !ok {
		e = &keyCacheEntry{}
		if len(c.m) < maxCacheEntries {
			c.m[k] = e
		}
	}
	c.mu.Unlock()
	e.once.Do(func() {
		e.keys, e.err = deriveKeys(fn, password, salt, iter)
		c.mu.Lock()
		c.derived++
		c.mu.Unlock()
	})
	return e.keys, e.err
}

// Derived returns how many PBKDF2 derivations the cache ran.
func (c *keyCache) Derived() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.derived
}

// maxIterations refuses a server that asks for absurd work.
const maxIterations = 10_000_000

func deriveKeys(fn func() hash.Hash, password, salt []byte, iter int) (scramKeys, error) {
	if iter < 1 || iter > maxIterations {
		return scramKeys{}, fmt.Errorf("scram: iteration count %d out of range", iter)
	}
	salted, err := pbkdf2.Key(fn, string(password), salt, iter, fn().Size())
	if err != nil {
		return scramKeys{}, err
	}
	clientKey := hmacSum(fn, salted, []byte("Client Key"))
	h := fn()
	h.Write(clientKey)
	return scramKeys{
		clientKey: clientKey,
		storedKey: h.Sum(nil),
		serverKey: hmacSum(fn, salted, []byte("Server Key")),
	}, nil
}

func hmacSum(fn func() hash.Hash, key, msg []byte) []byte {
	m := hmac.New(fn, key)
	m.Write(msg)
	return m.Sum(nil)
}

// scramHashes maps the mechanisms the tool speaks to their hash.
var scramHashes = map[string]func() hash.Hash{
	"SCRAM-SHA-1":   sha1.New,
	"SCRAM-SHA-256": sha256.New,
	"SCRAM-SHA-512": sha512.New,
}

// melliumMechanisms are mellium's client mechanisms, used for PLAIN always
// and for SCRAM with -scram-cache=false.
var melliumMechanisms = map[string]sasl.Mechanism{
	"PLAIN":              sasl.Plain,
	"SCRAM-SHA-1":        sasl.ScramSha1,
	"SCRAM-SHA-1-PLUS":   sasl.ScramSha1Plus,
	"SCRAM-SHA-256":      sasl.ScramSha256,
	"SCRAM-SHA-256-PLUS": sasl.ScramSha256Plus,
}

// knownMechanisms lists what -mech accepts.
func knownMechanisms() []string {
	return []string{"PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-256-PLUS", "SCRAM-SHA-512", "SCRAM-SHA-512-PLUS"}
}

// mechanism returns the sasl.Mechanism for name: with a cache, SCRAM
// mechanisms are cachedSCRAM; otherwise mellium's own.
func mechanism(name string, cache *keyCache) (sasl.Mechanism, error) {
	base := strings.TrimSuffix(name, "-PLUS")
	if fn, ok := scramHashes[base]; ok && cache != nil {
		return cachedSCRAM(name, fn, cache), nil
	}
	if m, ok := melliumMechanisms[name]; ok {
		return m, nil
	}
	if _, ok := scramHashes[base]; ok {
		return sasl.Mechanism{}, fmt.Errorf("%s needs -scram-cache (mellium has no SHA-512)", name)
	}
	return sasl.Mechanism{}, fmt.Errorf("unknown SASL mechanism %q (known: %s)", name, strings.Join(knownMechanisms(), ", "))
}

// scramState is what the mechanism keeps between steps.
type scramState struct {
	clientFirstBare []byte
	serverSignature []byte
}

// cachedSCRAM is the client side of SCRAM-<hash>[-PLUS] as a mellium
// sasl.Mechanism, with key derivation memoized in cache. Channel binding
// follows mellium's client: tls-exporter on TLS 1.3, tls-unique before.
func cachedSCRAM(name string, fn func() hash.Hash, cache *keyCache) sasl.Mechanism {
	plus := strings.HasSuffix(name, "-PLUS")
	return sasl.Mechanism{
		Name: name,
		Start: func(n *sasl.Negotiator) (bool, []byte, any, error) {
			user, _, _ := n.Credentials()
			gs2, err := gs2Header(plus, n.TLSState())
			if err != nil {
				return false, nil, nil, err
			}
			bare := clientFirstBare(user, n.Nonce())
			return true, append([]byte(gs2), bare...), &scramState{clientFirstBare: bare}, nil
		},
		Next: func(n *sasl.Negotiator, challenge []byte, data any) (bool, []byte, any, error) {
			st, ok := data.(*scramState)
			if !ok {
				return false, nil, nil, sasl.ErrInvalidState
			}
			switch n.State() & sasl.StepMask {
			case sasl.AuthTextSent:
				_, password, _ := n.Credentials()
				gs2, err := gs2Header(plus, n.TLSState())
				if err != nil {
					return false, nil, nil, err
				}
				cb, err := channelBindingData(plus, n.TLSState())
				if err != nil {
					return false, nil, nil, err
				}
				final, sig, err := clientFinal(name, fn, cache, password, n.Nonce(), st.clientFirstBare, challenge, append([]byte(gs2), cb...))
				if err != nil {
					return false, nil, nil, err
				}
				st.serverSignature = sig
				return true, final, st, nil
			case sasl.ResponseSent:
				return false, nil, nil, verifyServerFinal(challenge, st.serverSignature)
			}
			return false, nil, nil, sasl.ErrInvalidState
		},
	}
}

func gs2Header(plus bool, cs *tls.ConnectionState) (string, error) {
	switch {
	case !plus:
		return "n,,", nil
	case cs == nil:
		return "", errors.New("scram: -PLUS needs TLS")
	case cs.Version >= tls.VersionTLS13:
		return "p=tls-exporter,,", nil
	}
	return "p=tls-unique,,", nil
}

func channelBindingData(plus bool, cs *tls.ConnectionState) ([]byte, error) {
	if !plus {
		return nil, nil
	}
	if cs.Version >= tls.VersionTLS13 {
		return cs.ExportKeyingMaterial("EXPORTER-Channel-Binding", nil, 32)
	}
	if len(cs.TLSUnique) == 0 {
		return nil, errors.New("scram: no tls-unique on this connection")
	}
	return cs.TLSUnique, nil
}

// clientFirstBare is "n=<saslname>,r=<nonce>".
func clientFirstBare(user, nonce []byte) []byte {
	b := []byte("n=")
	for _, c := range user {
		switch c {
		case '=':
			b = append(b, "=3D"...)
		case ',':
			b = append(b, "=2C"...)
		default:
			b = append(b, c)
		}
	}
	b = append(b, ",r="...)
	return append(b, nonce...)
}

// clientFinal answers the server-first message: it returns the
// client-final message and the server signature to expect.
func clientFinal(mech string, fn func() hash.Hash, cache *keyCache, password, nonce, firstBare, serverFirst, cbInput []byte) (final, serverSig []byte, err error) {
	var salt, rnonce []byte
	iter := -1
	for _, f := range bytes.Split(serverFirst, []byte(",")) {
		if len(f) < 2 || f[1] != '=' {
			return nil, nil, fmt.Errorf("scram: malformed server-first-message")
		}
		v := f[2:]
		switch f[0] {
		case 'r':
			rnonce = v
		case 's':
			if salt, err = base64.StdEncoding.DecodeString(string(v)); err != nil {
				return nil, nil, fmt.Errorf("scram: bad salt: %w", err)
			}
		case 'i':
			if iter, err = strconv.Atoi(string(v)); err != nil {
				return nil, nil, fmt.Errorf("scram: bad iteration count: %w", err)
			}
		case 'm':
			return nil, nil, errors.New("scram: server sent the reserved 'm' attribute")
		case 'e':
			return nil, nil, fmt.Errorf("scram: server error %q", v)
		}
	}
	switch {
	case len(rnonce) <= len(nonce) || !bytes.HasPrefix(rnonce, nonce):
		return nil, nil, errors.New("scram: server nonce does not extend ours")
	case len(salt) == 0:
		return nil, nil, errors.New("scram: empty salt")
	}
	keys, err := cache.get(mech, fn, password, salt, iter)
	if err != nil {
		return nil, nil, err
	}
	final = append([]byte("c="), base64.StdEncoding.EncodeToString(cbInput)...)
	final = append(final, ",r="...)
	final = append(final, rnonce...)
	authMsg := make([]byte, 0, len(firstBare)+len(serverFirst)+len(final)+2)
	authMsg = append(append(append(authMsg, firstBare...), ','), serverFirst...)
	authMsg = append(append(authMsg, ','), final...)
	clientSig := hmacSum(fn, keys.storedKey, authMsg)
	proof := make([]byte, len(clientSig))
	subtle.XORBytes(proof, keys.clientKey, clientSig)
	final = append(final, ",p="...)
	final = append(final, base64.StdEncoding.EncodeToString(proof)...)
	return final, hmacSum(fn, keys.serverKey, authMsg), nil
}

// verifyServerFinal checks "v=<signature>" from the server.
func verifyServerFinal(msg, want []byte) error {
	if e, ok := bytes.CutPrefix(msg, []byte("e=")); ok {
		return fmt.Errorf("scram: server error %q", e)
	}
	v, ok := bytes.CutPrefix(msg, []byte("v="))
	if !ok {
		return errors.New("scram: malformed server-final-message")
	}
	got, err := base64.StdEncoding.DecodeString(string(v))
	if err != nil || !hmac.Equal(got, want) {
		return errors.New("scram: wrong server signature")
	}
	return nil
}
