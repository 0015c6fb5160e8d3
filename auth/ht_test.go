package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"slices"
	"testing"
)

// htClient computes the client's message the way the draft writes it:
// HMAC keyed with the token itself, not with its stored hash.
func htClient(user, token string, cbData []byte) []byte {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("Initiator"))
	m.Write(cbData)
	return append([]byte(user+"\x00"), m.Sum(nil)...)
}

func htResponder(token string, cbData []byte) []byte {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("Responder"))
	m.Write(cbData)
	return m.Sum(nil)
}

func TestNewTokenKeyIsHMACEquivalent(t *testing.T) {
	tok, key := NewToken()
	if len(tok) <= 64 {
		t.Fatalf("token is %d bytes; it must exceed SHA-256's block for the stored hash to work", len(tok))
	}
	if want := sha256.Sum256([]byte(tok)); !slices.Equal(key, want[:]) {
		t.Fatal("key is not SHA-256 of the token")
	}
	tok2, _ := NewToken()
	if tok == tok2 {
		t.Fatal("two tokens are equal")
	}
	h, err := ParseHT(HTSHA256None, &ChannelBinding{}, htClient("alice", tok, nil))
	if err != nil {
		t.Fatal(err)
	}
	if !h.Verify(key) {
		t.Fatal("the stored key does not verify the client's HMAC keyed with the token")
	}
	if h.Verify(TokenKey(tok2)) {
		t.Fatal("another token's key verifies")
	}
	if !slices.Equal(h.ServerProof(key), htResponder(tok, nil)) {
		t.Fatal("server proof differs from HMAC(token, Responder)")
	}
	if h.Username() != "alice" || h.Mechanism() != HTSHA256None {
		t.Errorf("Username, Mechanism = %q, %q", h.Username(), h.Mechanism())
	}
}

func TestHTChannelBinding(t *testing.T) {
	p := newTLSPair(t, tls.VersionTLS13)
	cb := NewChannelBinding(&p.server, p.leaf)
	if got := HTMechanisms(cb); !slices.Equal(got, []string{HTSHA256Expr, HTSHA256Endp, HTSHA256None}) {
		t.Errorf("HTMechanisms on TLS 1.3 = %v", got)
	}
	if got := HTMechanisms(nil); got != nil {
		t.Errorf("HTMechanisms without TLS = %v, want none", got)
	}
	tok, key := NewToken()
	exp, err := p.client.ExportKeyingMaterial("EXPORTER-Channel-Binding", nil, 32)
	if err != nil {
		t.Fatal(err)
	}
	h, err := ParseHT(HTSHA256Expr, cb, htClient("alice", tok, exp))
	if err != nil {
		t.Fatal(err)
	}
	if !h.Verify(key) || !slices.Equal(h.ServerProof(key), htResponder(tok, exp)) {
		t.Fatal("EXPR with the client's exporter value does not verify")
	}
	// The same token proved without the binding, or bound to another
	// connection, fails.
	h, _ = ParseHT(HTSHA256Expr, cb, htClient("alice", tok, nil))
	if h.Verify(key) {
		t.Fatal("EXPR verified without channel-binding data")
	}
	other := newTLSPair(t, tls.VersionTLS13)
	otherExp, _ := other.client.ExportKeyingMaterial("EXPORTER-Channel-Binding", nil, 32)
	h, _ = ParseHT(HTSHA256Expr, cb, htClient("alice", tok, otherExp))
	if h.Verify(key) {
		t.Fatal("EXPR verified with another connection's binding")
	}
	h, _ = ParseHT(HTSHA256Endp, cb, htClient("alice", tok, endPointFromClientSide(p.client)))
	if !h.Verify(key) {
		t.Fatal("ENDP with the certificate hash does not verify")
	}
	if _, err := ParseHT(HTSHA256Uniq, cb, htClient("alice", tok, nil)); err == nil {
		t.Fatal("UNIQ accepted on TLS 1.3")
	} else {
		wantCondition(t, err, ConditionInvalidMechanism, tok)
	}
}

func TestParseHTMalformed(t *testing.T) {
	cb := &ChannelBinding{}
	good := htClient("alice", "t", nil)
	for name, in := range map[string][]byte{
		"empty":      {},
		"no NUL":     []byte("alice"),
		"no user":    good[len("alice"):],
		"short hash": good[:len(good)-1],
		"long hash":  append(slices.Clone(good), 0),
		"bad UTF-8":  append([]byte{0xff, 0}, good[len("alice")+1:]...),
		"too long":   make([]byte, MaxMessageLen+1),
	} {
		_, err := ParseHT(HTSHA256None, cb, in)
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		wantCondition(t, err, ConditionMalformedRequest)
	}
	_, err := ParseHT("SCRAM-SHA-1", cb, good)
	wantCondition(t, err, ConditionInvalidMechanism)
	_, err = ParseHT(HTSHA256None, nil, good)
	wantCondition(t, err, ConditionInvalidMechanism)
}

// FuzzParseHT: any client message parses or fails with a *Failure, and
// verifies only with the right token.
func FuzzParseHT(f *testing.F) {
	f.Add(htClient("alice", "token", nil))
	f.Add([]byte("alice\x00"))
	f.Add([]byte{0})
	_, key := NewToken()
	f.Fuzz(func(t *testing.T, in []byte) {
		h, err := ParseHT(HTSHA256None, &ChannelBinding{}, in)
		if err != nil {
			var f *Failure
			if !errors.As(err, &f) {
				t.Fatalf("error %v is not a *Failure", err)
			}
			return
		}
		if h.Verify(key) {
			t.Fatal("a random message verified")
		}
	})
}

// BenchmarkHTLogin is the server's work for one FAST login: parse, verify
// against a stored key, compute the server's proof.
func BenchmarkHTLogin(b *testing.B) {
	tok, key := NewToken()
	msg := htClient("alice", tok, nil)
	cb := &ChannelBinding{}
	for b.Loop() {
		h, err := ParseHT(HTSHA256None, cb, msg)
		if err != nil || !h.Verify(key) {
			b.Fatal("verify failed")
		}
		_ = h.ServerProof(key)
	}
}
