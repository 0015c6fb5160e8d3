package auth

import (
	"context"
	"crypto/hmac"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"parley.im/parley/storage"
)

// The SCRAM grammar is RFC 5802 §7. Messages are parsed strictly: any
// deviation is malformed-request, except where the RFC makes it an
// authentication failure (channel binding, nonce, proof).

// strictBase64 rejects non-canonical encodings (stray padding bits), so
// there is exactly one accepted spelling of every value.
var strictBase64 = base64.StdEncoding.Strict()

// knownAttributes are the letters RFC 5802 gives a fixed place. Seen where
// an extension is allowed they are a duplicate or out of order.
const knownAttributes = "acimnprsve"

// serverNonceLen is the entropy of the server's nonce part, in bytes.
const serverNonceLen = 18

func randomNonce() string {
	return base64.RawStdEncoding.EncodeToString(randomBytes(serverNonceLen))
}

// scramClientFirst parses
//
//	gs2-header client-first-message-bare
//	gs2-header = gs2-cbind-flag "," [authzid] ","
//	client-first-message-bare = [reserved-mext ","] username "," nonce ["," extensions]
//
// checks the channel binding and authzid policy, looks the user up and
// returns server-first-message.
func (e *Exchange) scramClientFirst(ctx context.Context, in []byte) ([]byte, bool, *Failure) {
	if !utf8.Valid(in) {
		return nil, false, malformed("auth: SCRAM client-first is not UTF-8")
	}
	msg := string(in)
	flag, rest, ok := strings.Cut(msg, ",")
	if !ok {
		return nil, false, malformed("auth: SCRAM gs2 header incomplete")
	}
	authzidField, bare, ok := strings.Cut(rest, ",")
	if !ok {
		return nil, false, malformed("auth: SCRAM gs2 header incomplete")
	}
	gs2Header := msg[:len(msg)-len(bare)]

	var cbType string
	switch {
	case flag == "n", flag == "y":
	case strings.HasPrefix(flag, "p="):
		cbType = flag[2:]
		if !validCBName(cbType) {
			return nil, false, malformed("auth: SCRAM invalid channel binding name")
		}
	default:
		return nil, false, malformed("auth: SCRAM invalid gs2-cbind-flag")
	}

	var authzid string
	if authzidField != "" {
		if !strings.HasPrefix(authzidField, "a=") {
			return nil, false, malformed("auth: SCRAM invalid authzid field")
		}
		if authzid, ok = unescapeSaslname(authzidField[2:]); !ok {
			return nil, false, malformed("auth: SCRAM invalid authzid encoding")
		}
	}

	attrs := strings.Split(bare, ",")
	if strings.HasPrefix(attrs[0], "m=") {
		// RFC 5802 §5.1: a mandatory extension we do not know must fail.
		return nil, false, malformed("auth: SCRAM mandatory extension not supported")
	}
	if len(attrs) < 2 || !strings.HasPrefix(attrs[0], "n=") || !strings.HasPrefix(attrs[1], "r=") {
		return nil, false, malformed("auth: SCRAM client-first lacks n= and r= in order")
	}
	username, ok := unescapeSaslname(attrs[0][2:])
	if !ok {
		return nil, false, malformed("auth: SCRAM invalid username encoding")
	}
	clientNonce := attrs[1][2:]
	if !validNonce(clientNonce) {
		return nil, false, malformed("auth: SCRAM invalid client nonce")
	}
	if !validExtensions(attrs[2:]) {
		return nil, false, malformed("auth: SCRAM invalid extension")
	}
	e.claimed = username

	if f := e.checkChannelBindingFlag(flag[0], cbType); f != nil {
		return nil, false, f
	}
	if !e.authzidAllowed(authzid, username) {
		return nil, false, invalidAuthzid()
	}

	creds, found, f := e.lookup(ctx, username)
	if f != nil {
		return nil, false, f
	}
	i := slices.IndexFunc(creds, func(c storage.Credential) bool { return usable(c, e.hash) })
	switch {
	case !found:
		e.cred, e.fakeReason = e.fakeCredential(e.hash, username), "auth: SCRAM: unknown user"
	case i < 0:
		// Indistinguishable from an unknown user, and failing only at the
		// end, like a wrong password.
		e.cred, e.fakeReason = e.fakeCredential(e.hash, username), "auth: SCRAM: user has no usable credential for "+e.hash.name
	default:
		e.cred = creds[i]
	}

	e.cbType = cbType
	e.gs2Header = gs2Header
	e.clientFirstBare = bare
	e.nonce = clientNonce + e.newNonce()
	e.serverFirst = "r=" + e.nonce +
		",s=" + base64.StdEncoding.EncodeToString(e.cred.Salt) +
		",i=" + strconv.Itoa(e.cred.Iterations)
	if d := e.cfg.Downgrade; d != nil {
		// XEP-0474: an optional attribute (RFC 5802 §5.1), which the
		// client's proof covers through AuthMessage.
		e.serverFirst += ",h=" + d.SSDP(e.mech)
	}
	e.state = stateAwaitFinal
	return []byte(e.serverFirst), false, nil
}

// ErrChannelBindingType is the cause (Failure.Err) when a client asks for a
// channel binding type this connection cannot give, as slixmpp does with
// tls-unique on TLS 1.3. Such a client saw the -PLUS mechanisms, so its
// next attempt with "y" is no downgrade (see Config.AdvertisedPlus), and
// the failure says nothing about its password.
var ErrChannelBindingType = errors.New("auth: SCRAM channel binding type not supported on this connection")

// checkChannelBindingFlag applies RFC 5802 §6 to the gs2-cbind-flag.
//
// A flag that contradicts the mechanism name (binding with a non-PLUS
// mechanism, not binding with a -PLUS one) violates the mechanism's syntax:
// malformed-request. A well-formed request we must refuse for security is
// not-authorized: a channel binding type this connection does not offer
// (the RFC says the server MUST fail authentication; it is not a syntax
// error, and XEP-0440 lets the client know the types beforehand), and "y"
// after -PLUS was advertised (a downgrade by a man in the middle).
func (e *Exchange) checkChannelBindingFlag(flag byte, cbType string) *Failure {
	plus := isPlus(e.mech)
	switch flag {
	case 'p':
		if !plus {
			return malformed("auth: SCRAM channel binding requested with a non-PLUS mechanism")
		}
		if !e.cfg.CB.has(cbType) {
			return &Failure{Condition: ConditionNotAuthorized, Text: textChannelBinding, Err: ErrChannelBindingType}
		}
	case 'y':
		if plus {
			return malformed("auth: SCRAM -PLUS mechanism without channel binding")
		}
		if e.advertisedPlus() {
			return &Failure{Condition: ConditionNotAuthorized, Text: textChannelBinding, Err: errors.New("auth: SCRAM client saw no -PLUS mechanism that was advertised (downgrade)")}
		}
	case 'n':
		if plus {
			return malformed("auth: SCRAM -PLUS mechanism without channel binding")
		}
	}
	return nil
}

func (e *Exchange) advertisedPlus() bool {
	return e.cfg.AdvertisedPlus
}

// scramClientFinal parses
//
//	client-final-message = channel-binding "," nonce ["," extensions] "," proof
//
// and verifies, in order, channel binding, nonce and proof.
func (e *Exchange) scramClientFinal(in []byte) ([]byte, bool, *Failure) {
	if !utf8.Valid(in) {
		return nil, false, malformed("auth: SCRAM client-final is not UTF-8")
	}
	msg := string(in)
	attrs := strings.Split(msg, ",")
	if len(attrs) < 3 || !strings.HasPrefix(attrs[0], "c=") || !strings.HasPrefix(attrs[1], "r=") ||
		!strings.HasPrefix(attrs[len(attrs)-1], "p=") {
		return nil, false, malformed("auth: SCRAM client-final lacks c=, r= and p= in order")
	}
	if !validExtensions(attrs[2 : len(attrs)-1]) {
		return nil, false, malformed("auth: SCRAM invalid extension")
	}
	proofAttr := attrs[len(attrs)-1]
	withoutProof := msg[:len(msg)-len(proofAttr)-1]

	cbEncoded := attrs[0][2:]
	if _, err := strictBase64.DecodeString(cbEncoded); err != nil {
		return nil, false, malformed("auth: SCRAM channel binding is not base64")
	}
	nonce := attrs[1][2:]
	if !validNonce(nonce) {
		return nil, false, malformed("auth: SCRAM invalid nonce")
	}
	proof, err := strictBase64.DecodeString(proofAttr[2:])
	if err != nil || len(proof) != e.hash.size {
		return nil, false, malformed("auth: SCRAM invalid proof encoding")
	}

	// c= must repeat the gs2 header, followed for -PLUS by the binding data
	// of the type named in it, byte for byte.
	cbInput := []byte(e.gs2Header)
	if e.cbType != "" {
		data, err := e.cfg.CB.Data(e.cbType)
		if err != nil {
			return nil, false, notAuthorized("auth: SCRAM channel binding data unavailable")
		}
		cbInput = append(cbInput, data...)
	}
	if subtle.ConstantTimeCompare([]byte(cbEncoded), []byte(base64.StdEncoding.EncodeToString(cbInput))) != 1 {
		return nil, false, &Failure{Condition: ConditionNotAuthorized, Text: textChannelBinding, Err: errors.New("auth: SCRAM channel binding mismatch")}
	}
	if nonce != e.nonce {
		return nil, false, notAuthorized("auth: SCRAM nonce mismatch")
	}

	authMessage := []byte(e.clientFirstBare + "," + e.serverFirst + "," + withoutProof)
	clientSignature := hmacSum(e.hash, e.cred.StoredKey, authMessage)
	clientKey := make([]byte, len(proof))
	subtle.XORBytes(clientKey, proof, clientSignature)
	proofOK := hmac.Equal(hashSum(e.hash, clientKey), e.cred.StoredKey)
	switch {
	case e.fakeReason != "":
		return nil, false, notAuthorized(e.fakeReason)
	case !proofOK:
		return nil, false, notAuthorized("auth: SCRAM: wrong proof")
	}
	serverSignature := hmacSum(e.hash, e.cred.ServerKey, authMessage)
	e.username = e.claimed
	return []byte("v=" + base64.StdEncoding.EncodeToString(serverSignature)), true, nil
}

// unescapeSaslname decodes RFC 5802's saslname: "=2C" is ',', "=3D" is '=',
// any other '=' is an error, and so are NUL and the empty name.
func unescapeSaslname(s string) (string, bool) {
	if s == "" || strings.ContainsRune(s, 0) {
		return "", false
	}
	if !strings.Contains(s, "=") {
		return s, true
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '=' {
			b.WriteByte(s[i])
			continue
		}
		switch {
		case strings.HasPrefix(s[i:], "=2C"):
			b.WriteByte(',')
		case strings.HasPrefix(s[i:], "=3D"):
			b.WriteByte('=')
		default:
			return "", false
		}
		i += 2
	}
	return b.String(), true
}

// validNonce checks 1*printable, printable being %x21-2B / %x2D-7E.
func validNonce(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e || c == ',' {
			return false
		}
	}
	return true
}

// validCBName checks 1*(ALPHA / DIGIT / "." / "-").
func validCBName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlpha(c) && !('0' <= c && c <= '9') && c != '.' && c != '-' {
			return false
		}
	}
	return true
}

func isAlpha(c byte) bool { return 'A' <= c&^0x20 && c&^0x20 <= 'Z' }

// validExtensions checks optional extensions (attr-val = ALPHA "=" value,
// value = 1*value-char, i.e. UTF-8 without NUL and ','). Unknown
// extensions are ignored, as RFC 5802 §7 requires; a known letter here is
// a duplicate or misplaced attribute, and "m" is reserved.
func validExtensions(attrs []string) bool {
	for _, a := range attrs {
		if len(a) < 3 || !isAlpha(a[0]) || a[1] != '=' ||
			strings.IndexByte(knownAttributes, a[0]) >= 0 || strings.ContainsRune(a, 0) {
			return false
		}
	}
	return true
}
