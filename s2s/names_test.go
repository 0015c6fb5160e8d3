package s2s

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"testing"
	"time"
)

func TestNameMatches(t *testing.T) {
	mustMarshal := func(v any, params string) []byte {
		b, err := asn1.MarshalWithParams(v, params)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// otherName ::= [0] IMPLICIT SEQUENCE { type-id OID, value [0] EXPLICIT ANY }
	type otherNameOut struct {
		ID    asn1.ObjectIdentifier
		Value asn1.RawValue
	}
	other := func(id asn1.ObjectIdentifier, value []byte) asn1.RawValue {
		wrapped := asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: value}
		return asn1.RawValue{FullBytes: mustMarshal(otherNameOut{ID: id, Value: wrapped}, "tag:0")}
	}
	san := mustMarshal([]asn1.RawValue{
		other(oidXmppAddr, mustMarshal("xmpp.example", "utf8")),
		other(oidSRVName, mustMarshal("_xmpp-server.srv.example", "ia5")),
		other(asn1.ObjectIdentifier{1, 2, 3}, mustMarshal("unrelated.example", "utf8")),
		{Class: asn1.ClassContextSpecific, Tag: 2, Bytes: []byte("dns.example")},
		{Class: asn1.ClassContextSpecific, Tag: 2, Bytes: []byte("*.wild.example")},
	}, "")
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "cn.example"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtraExtensions: []pkix.Extension{{Id: oidSAN, Value: san}}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	for domain, want := range map[string]bool{
		"xmpp.example": true, "srv.example": true, "dns.example": true, "a.wild.example": true,
		"wild.example": false, "a.b.wild.example": false, "cn.example": false, "unrelated.example": false,
		"sub.xmpp.example": false, "other.example": false,
	} {
		if got := nameMatches(cert, domain); got != want {
			t.Errorf("nameMatches(%s) = %v, want %v", domain, got, want)
		}
	}
}

// FuzzCertNames: the subjectAltName of a peer's certificate is untrusted
// input; decoding it must never panic.
func FuzzCertNames(f *testing.F) {
	f.Add([]byte{0x30, 0x1c, 0xa0, 0x1a, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x08, 0x05, 0xa0, 0x0e, 0x0c, 0x0c,
		'x', 'm', 'p', 'p', '.', 'e', 'x', 'a', 'm', 'p', 'l', 'e'})
	f.Add([]byte{0x30, 0x00})
	f.Fuzz(func(t *testing.T, san []byte) {
		cert := &x509.Certificate{Extensions: []pkix.Extension{{Id: oidSAN, Value: san}}}
		x, s := certNames(cert)
		for _, n := range append(x, s...) {
			_ = nameMatches(cert, n)
		}
	})
}
