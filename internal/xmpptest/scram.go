package xmpptest

import (
	"crypto"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha1" //nolint:gosec // SCRAM-SHA-1 is a real mechanism
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"testing"

	"parley.im/parley/xmppcore"
)

// SCRAM is a small hand-written SCRAM client (RFC 5802, RFC 7677) for what
// mellium's client cannot do: SCRAM-SHA-512, tls-server-end-point, and
// deliberately odd gs2 headers and binding data. It is written from the
// RFCs, independently of the server's implementation.
type SCRAM struct {
	Mechanism string // "SCRAM-SHA-1", "SCRAM-SHA-256-PLUS", ...
	User      string // sent as is (no saslname escaping: keep it plain)
	Password  string
	// GS2 is the gs2 header, "n,," when empty; for -PLUS it is
	// "p=<type>,,", for a client that could bind but saw no -PLUS "y,,".
	GS2 string
	// CBData is the channel binding data put after the gs2 header in c=.
	CBData []byte
	// Nonce is the client nonce; a fixed test value when empty.
	Nonce string

	clientFirstBare string
	clientNonce     string
	serverSignature []byte
}

func (s *SCRAM) hash() func() hash.Hash {
	switch strings.TrimSuffix(s.Mechanism, "-PLUS") {
	case "SCRAM-SHA-1":
		return sha1.New
	case "SCRAM-SHA-512":
		return sha512.New
	default:
		return sha256.New
	}
}

func (s *SCRAM) gs2() string {
	if s.GS2 == "" {
		return "n,,"
	}
	return s.GS2
}

// First returns client-first-message.
func (s *SCRAM) First() []byte {
	nonce := s.Nonce
	if nonce == "" {
		nonce = "xmpptestnonce0123456789"
	}
	s.clientNonce = nonce
	s.clientFirstBare = "n=" + s.User + ",r=" + nonce
	return []byte(s.gs2() + s.clientFirstBare)
}

// Final returns client-final-message for server-first-message.
func (s *SCRAM) Final(serverFirst []byte) ([]byte, error) {
	var nonce, salt string
	iter := -1
	for _, a := range strings.Split(string(serverFirst), ",") {
		switch {
		case strings.HasPrefix(a, "r="):
			nonce = a[2:]
		case strings.HasPrefix(a, "s="):
			salt = a[2:]
		case strings.HasPrefix(a, "i="):
			iter, _ = strconv.Atoi(a[2:])
		}
	}
	if !strings.HasPrefix(nonce, s.clientNonce) || len(nonce) == len(s.clientNonce) || iter < 1 {
		return nil, fmt.Errorf("xmpptest: bad server-first %q", serverFirst)
	}
	saltBytes, err := base64.StdEncoding.DecodeString(salt)
	if err != nil {
		return nil, fmt.Errorf("xmpptest: bad salt: %w", err)
	}
	h := s.hash()
	size := h().Size()
	salted, err := pbkdf2.Key(h, s.Password, saltBytes, iter, size)
	if err != nil {
		return nil, err
	}
	withoutProof := "c=" + base64.StdEncoding.EncodeToString(append([]byte(s.gs2()), s.CBData...)) + ",r=" + nonce
	authMessage := []byte(s.clientFirstBare + "," + string(serverFirst) + "," + withoutProof)
	clientKey := mac(h, salted, []byte("Client Key"))
	stored := h()
	stored.Write(clientKey)
	clientSignature := mac(h, stored.Sum(nil), authMessage)
	proof := make([]byte, size)
	subtle.XORBytes(proof, clientKey, clientSignature)
	s.serverSignature = mac(h, mac(h, salted, []byte("Server Key")), authMessage)
	return []byte(withoutProof + ",p=" + base64.StdEncoding.EncodeToString(proof)), nil
}

// Verify checks server-final-message ("v=" and the server signature).
func (s *SCRAM) Verify(serverFinal []byte) error {
	v, ok := strings.CutPrefix(string(serverFinal), "v=")
	if !ok {
		return fmt.Errorf("xmpptest: server-final %q has no verifier", serverFinal)
	}
	got, err := base64.StdEncoding.DecodeString(v)
	if err != nil || s.serverSignature == nil || !hmac.Equal(got, s.serverSignature) {
		return errors.New("xmpptest: the server signature does not verify")
	}
	return nil
}

func mac(h func() hash.Hash, key, msg []byte) []byte {
	m := hmac.New(h, key)
	m.Write(msg)
	return m.Sum(nil)
}

// AuthSCRAM runs a SCRAM exchange with s and returns the final element
// (<success/> after checking the server signature, or <failure/>).
func (c *Client) AuthSCRAM(s *SCRAM) *xmppcore.Element {
	c.t.Helper()
	return SCRAMExchange(c.t, s, c.Send, c.Next)
}

// SCRAMExchange runs a SCRAM exchange with s over any transport: send sends
// one element, next reads the next one. It returns the final element
// (<success/> after checking the server signature, or <failure/>), or the
// first answer when that is not a challenge.
func SCRAMExchange(t testing.TB, s *SCRAM, send func(string), next func() *xmppcore.Element) *xmppcore.Element {
	t.Helper()
	send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='` + s.Mechanism + `'>` + b64(s.First()) + `</auth>`)
	el := next()
	if !el.Is(xmppcore.NSSASL, "challenge") {
		return el
	}
	first, err := base64.StdEncoding.DecodeString(el.Text())
	if err != nil {
		t.Fatalf("xmpptest: bad challenge: %v", err)
	}
	final, err := s.Final(first)
	if err != nil {
		t.Fatal(err)
	}
	send(`<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>` + b64(final) + `</response>`)
	el = next()
	if el.Is(xmppcore.NSSASL, "success") {
		add, err := base64.StdEncoding.DecodeString(el.Text())
		if err != nil {
			t.Fatalf("xmpptest: bad success data: %v", err)
		}
		if err := s.Verify(add); err != nil {
			t.Fatal(err)
		}
	}
	return el
}

// ChannelBinding returns the binding data of type typ ("tls-exporter",
// "tls-server-end-point", "tls-unique") for the client's TLS connection,
// computed from the client's side (RFC 9266, RFC 5929).
func (c *Client) ChannelBinding(typ string) []byte {
	c.t.Helper()
	tc, ok := c.Conn.(*tls.Conn)
	if !ok {
		c.t.Fatal("xmpptest: no TLS connection")
	}
	cs := tc.ConnectionState()
	switch typ {
	case "tls-exporter":
		b, err := cs.ExportKeyingMaterial("EXPORTER-Channel-Binding", nil, 32)
		if err != nil {
			c.t.Fatalf("xmpptest: exporter: %v", err)
		}
		return b
	case "tls-unique":
		return cs.TLSUnique
	case "tls-server-end-point":
		leaf := cs.PeerCertificates[0]
		var h crypto.Hash
		switch leaf.SignatureAlgorithm {
		case x509.SHA384WithRSA, x509.SHA384WithRSAPSS, x509.ECDSAWithSHA384:
			h = crypto.SHA384
		case x509.SHA512WithRSA, x509.SHA512WithRSAPSS, x509.ECDSAWithSHA512:
			h = crypto.SHA512
		default:
			h = crypto.SHA256
		}
		d := h.New()
		d.Write(leaf.Raw)
		return d.Sum(nil)
	}
	c.t.Fatalf("xmpptest: unknown channel binding type %q", typ)
	return nil
}
