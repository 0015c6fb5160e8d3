package auth

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"math/big"
	"slices"
	"testing"
	"time"
)

func TestChannelBindingNil(t *testing.T) {
	if cb := NewChannelBinding(nil, nil); cb != nil {
		t.Fatalf("NewChannelBinding(nil) = %v, want nil", cb)
	}
	var cb *ChannelBinding
	if cb.Types() != nil {
		t.Fatal("nil receiver has types")
	}
	if _, err := cb.Data(CBTLSExporter); err == nil {
		t.Fatal("nil receiver has data")
	}
}

func TestChannelBindingTLS13(t *testing.T) {
	p := newTLSPair(t, tls.VersionTLS13)
	cb := NewChannelBinding(&p.server, p.leaf)
	if got, want := cb.Types(), []string{CBTLSExporter, CBTLSServerEndPoint}; !slices.Equal(got, want) {
		t.Fatalf("Types() = %v, want %v", got, want)
	}
	exporter, err := cb.Data(CBTLSExporter)
	if err != nil {
		t.Fatal(err)
	}
	clientExporter, err := p.client.ExportKeyingMaterial("EXPORTER-Channel-Binding", nil, 32)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(exporter, clientExporter) {
		t.Fatal("server and client tls-exporter data differ")
	}
	endPoint, err := cb.Data(CBTLSServerEndPoint)
	if err != nil {
		t.Fatal(err)
	}
	// The client sees the same certificate; the test key signs with
	// ECDSA-SHA256, so RFC 5929 says SHA-256.
	want := sha256.Sum256(p.client.PeerCertificates[0].Raw)
	if !bytes.Equal(endPoint, want[:]) {
		t.Fatal("tls-server-end-point data is not SHA-256 of the certificate")
	}
	if _, err := cb.Data("tls-unique"); err == nil {
		t.Fatal("tls-unique should not be available")
	}
	// Data must hand out copies: callers cannot corrupt the binding.
	exporter[0] ^= 0xff
	if again, _ := cb.Data(CBTLSExporter); !bytes.Equal(again, clientExporter) {
		t.Fatal("Data returned internal storage")
	}
}

// TestChannelBindingTLS12 relies on crypto/tls negotiating the extended
// master secret, which it always does between Go peers; RFC 9266 then
// allows tls-exporter.
func TestChannelBindingTLS12(t *testing.T) {
	p := newTLSPair(t, tls.VersionTLS12)
	cb := NewChannelBinding(&p.server, nil)
	if got, want := cb.Types(), []string{CBTLSExporter, CBTLSUnique}; !slices.Equal(got, want) {
		t.Fatalf("Types() = %v, want %v", got, want)
	}
	// tls-unique is the client's first Finished message (RFC 5929 §3.1),
	// which both ends see alike.
	unique, err := cb.Data(CBTLSUnique)
	if err != nil || len(unique) == 0 || !bytes.Equal(unique, p.client.TLSUnique) {
		t.Fatalf("tls-unique = %x, %v; client has %x", unique, err, p.client.TLSUnique)
	}
}

func TestChannelBindingHandMadeState(t *testing.T) {
	// A ConnectionState not made by crypto/tls has no exporter; it must not
	// panic and must not offer tls-exporter.
	for _, v := range []uint16{tls.VersionTLS13, tls.VersionTLS12, tls.VersionTLS11} {
		cb := NewChannelBinding(&tls.ConnectionState{Version: v}, nil)
		if cb == nil || cb.Types() != nil {
			t.Fatalf("version %x: Types() = %v, want none", v, cb.Types())
		}
	}
}

func TestEndPointHash(t *testing.T) {
	raw := []byte("not really a certificate")
	sum256 := sha256.Sum256(raw)
	sum384 := sha512.Sum384(raw)
	sum512 := sha512.Sum512(raw)
	tests := []struct {
		alg  x509.SignatureAlgorithm
		want []byte // nil: binding undefined
	}{
		{x509.MD5WithRSA, sum256[:]},
		{x509.SHA1WithRSA, sum256[:]},
		{x509.ECDSAWithSHA1, sum256[:]},
		{x509.SHA256WithRSA, sum256[:]},
		{x509.SHA256WithRSAPSS, sum256[:]},
		{x509.ECDSAWithSHA256, sum256[:]},
		{x509.SHA384WithRSA, sum384[:]},
		{x509.ECDSAWithSHA384, sum384[:]},
		{x509.SHA512WithRSAPSS, sum512[:]},
		{x509.ECDSAWithSHA512, sum512[:]},
		{x509.PureEd25519, nil},
		{x509.MD2WithRSA, nil},
		{x509.UnknownSignatureAlgorithm, nil},
	}
	for _, tt := range tests {
		t.Run(tt.alg.String(), func(t *testing.T) {
			cb := NewChannelBinding(&tls.ConnectionState{Version: tls.VersionTLS13}, &x509.Certificate{Raw: raw, SignatureAlgorithm: tt.alg})
			got, err := cb.Data(CBTLSServerEndPoint)
			if tt.want == nil {
				if err == nil || len(cb.Types()) != 0 {
					t.Fatalf("binding should be undefined, got %x", got)
				}
				return
			}
			if err != nil || !bytes.Equal(got, tt.want) {
				t.Fatalf("got %x, %v; want %x", got, err, tt.want)
			}
		})
	}
}

func TestChannelBindingEd25519Certificate(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	cb := NewChannelBinding(&tls.ConnectionState{Version: tls.VersionTLS12}, leaf)
	if cb.Types() != nil {
		t.Fatalf("Ed25519 certificate: Types() = %v, want none", cb.Types())
	}
}

func TestMechanisms(t *testing.T) {
	both := &ChannelBinding{exporter: make([]byte, 32), endPoint: make([]byte, 32), preferred: []string{CBTLSExporter, CBTLSServerEndPoint}}
	empty := &ChannelBinding{}
	all := []string{SCRAMSHA512Plus, SCRAMSHA256Plus, SCRAMSHA1Plus, SCRAMSHA512, SCRAMSHA256, SCRAMSHA1, PLAIN}
	noPlus := []string{SCRAMSHA512, SCRAMSHA256, SCRAMSHA1}
	tests := []struct {
		name                  string
		cb                    *ChannelBinding
		tlsActive, allowPlain bool
		enabled               []string
		want                  []string
	}{
		{"everything", both, true, true, nil, all},
		{"no PLAIN allowed", both, true, false, nil, all[:6]},
		{"no TLS", nil, false, true, nil, noPlus},
		{"TLS without bindings", empty, true, true, nil, append(noPlus, PLAIN)},
		{"TLS, no binding, no PLAIN", empty, true, false, nil, noPlus},
		{"filtered", both, true, true, []string{PLAIN, SCRAMSHA256Plus, SCRAMSHA256, "X-UNKNOWN"}, []string{SCRAMSHA256Plus, SCRAMSHA256, PLAIN}},
		{"filter cannot add PLUS", nil, false, false, []string{SCRAMSHA256Plus, PLAIN}, nil},
		{"empty filter", both, true, true, []string{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Mechanisms(tt.cb, tt.tlsActive, tt.allowPlain, tt.enabled); !slices.Equal(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}
