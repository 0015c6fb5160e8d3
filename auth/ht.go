package auth

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"unicode/utf8"
)

// The HT-SHA-256-* mechanisms (draft-schmaus-kitten-sasl-ht-09, used by
// XEP-0484 FAST): one message from the client, authcid NUL
// HMAC-SHA-256(token, "Initiator" || cb-data), and the server's proof
// HMAC-SHA-256(token, "Responder" || cb-data) as the additional data of
// its success. The suffix names the channel binding: NONE (none), ENDP
// (tls-server-end-point), EXPR (tls-exporter), UNIQ (tls-unique).
const (
	HTSHA256None = "HT-SHA-256-NONE"
	HTSHA256Endp = "HT-SHA-256-ENDP"
	HTSHA256Expr = "HT-SHA-256-EXPR"
	HTSHA256Uniq = "HT-SHA-256-UNIQ"
)

// htMechanisms in order of preference: channel binding first.
var htMechanisms = []struct{ mech, cb string }{
	{HTSHA256Expr, CBTLSExporter},
	{HTSHA256Endp, CBTLSServerEndPoint},
	{HTSHA256Uniq, CBTLSUnique},
	{HTSHA256None, ""},
}

// HTMechanisms returns the HT mechanisms a connection can offer: the
// channel-binding ones whose binding cb provides, and HT-SHA-256-NONE.
// Without TLS (cb nil) there are none: a token sent in the clear is
// replayable by anyone who sees it (XEP-0484 §Security Considerations).
func HTMechanisms(cb *ChannelBinding) []string {
	if cb == nil {
		return nil
	}
	var out []string
	for _, m := range htMechanisms {
		if m.cb == "" || cb.has(m.cb) {
			out = append(out, m.mech)
		}
	}
	return out
}

// IsHT reports whether mech is one of the HT-SHA-256-* mechanisms.
func IsHT(mech string) bool {
	_, ok := htBinding(mech)
	return ok
}

func htBinding(mech string) (string, bool) {
	for _, m := range htMechanisms {
		if m.mech == mech {
			return m.cb, true
		}
	}
	return "", false
}

// tokenBytes is the randomness of a token. Its text (base64url, 72
// characters) is longer than SHA-256's 64-byte block, so HMAC keyed with
// the token first hashes it (RFC 2104 §2): HMAC(token, m) equals
// HMAC(SHA-256(token), m), which is why the server needs to keep only the
// hash (TokenKey).
const tokenBytes = 54

// NewToken returns a new FAST token and the key to store for it.
func NewToken() (token string, key []byte) {
	b := make([]byte, tokenBytes)
	rand.Read(b)
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, TokenKey(token)
}

// TokenKey returns the SHA-256 hash of a token: what is stored, and the
// HMAC key the HT mechanisms use for a token longer than 64 bytes.
func TokenKey(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// HT is one HT-SHA-256-* authentication: the client's single message,
// parsed, and the channel binding it must prove.
type HT struct {
	mech    string
	authcid string
	proof   []byte
	cbData  []byte
}

// ParseHT checks that mech is an HT mechanism this connection offers
// (its channel binding available on cb) and parses the client's initial
// response. Errors are *Failure values.
func ParseHT(mech string, cb *ChannelBinding, in []byte) (*HT, error) {
	cbType, ok := htBinding(mech)
	if !ok || cb == nil {
		return nil, &Failure{Condition: ConditionInvalidMechanism, Text: textBadMechanism, Err: errors.New("auth: not an HT mechanism offered here")}
	}
	h := &HT{mech: mech}
	if cbType != "" {
		data, err := cb.Data(cbType)
		if err != nil {
			return nil, &Failure{Condition: ConditionInvalidMechanism, Text: textBadMechanism, Err: errors.New("auth: HT channel binding not available on this connection")}
		}
		h.cbData = data
	}
	if len(in) > MaxMessageLen {
		return nil, &Failure{Condition: ConditionMalformedRequest, Text: textTooLong, Err: errors.New("auth: client message over size limit")}
	}
	authcid, proof, ok := bytes.Cut(in, []byte{0})
	if !ok || len(authcid) == 0 || !utf8.Valid(authcid) || len(proof) != sha256.Size {
		return nil, malformed("auth: HT message is not authcid NUL 32-byte hash")
	}
	h.authcid, h.proof = string(authcid), proof
	return h, nil
}

// Username returns the authcid the client claimed. It is not
// authenticated until Verify succeeds.
func (h *HT) Username() string { return h.authcid }

// Mechanism returns the mechanism name.
func (h *HT) Mechanism() string { return h.mech }

// Verify reports whether the client proved possession of the token whose
// key (TokenKey) is given, in constant time.
func (h *HT) Verify(key []byte) bool {
	return hmac.Equal(h.proof, htHMAC(key, "Initiator", h.cbData))
}

// ServerProof returns the additional data of the server's success:
// HMAC(token, "Responder" || cb-data), by which the client knows the
// server held the token too.
func (h *HT) ServerProof(key []byte) []byte {
	return htHMAC(key, "Responder", h.cbData)
}

func htHMAC(key []byte, label string, cbData []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(label))
	m.Write(cbData)
	return m.Sum(nil)
}
