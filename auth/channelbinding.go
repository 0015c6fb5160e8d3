package auth

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"strings"

	_ "crypto/sha256" // register SHA-256 for crypto.Hash.New
	_ "crypto/sha512" // register SHA-384 and SHA-512
)

// Channel binding type names (RFC 9266, RFC 5929).
const (
	CBTLSExporter       = "tls-exporter"
	CBTLSServerEndPoint = "tls-server-end-point"
	// CBTLSUnique is RFC 5929's first binding, defined for TLS 1.2 and
	// older only (RFC 9266 forbids it on TLS 1.3). Older clients such as
	// slixmpp know no other.
	CBTLSUnique = "tls-unique"
)

// exporterLabel and exporterLen are fixed by RFC 9266 §2.
const (
	exporterLabel = "EXPORTER-Channel-Binding"
	exporterLen   = 32
)

// ChannelBinding describes what one TLS connection can bind a SCRAM -PLUS
// exchange to. The binding data is computed once, when it is built.
type ChannelBinding struct {
	exporter  []byte // nil when tls-exporter is unavailable
	endPoint  []byte // nil when tls-server-end-point is undefined
	unique    []byte // nil on TLS 1.3 and when crypto/tls does not provide it
	preferred []string
}

// NewChannelBinding describes the channel bindings of the TLS connection
// whose state is cs and on which the server presented serverLeaf (nil if
// unknown). It returns nil when cs is nil, that is without TLS.
func NewChannelBinding(cs *tls.ConnectionState, serverLeaf *x509.Certificate) *ChannelBinding {
	if cs == nil {
		return nil
	}
	cb := &ChannelBinding{}
	if exporterSafe(cs) {
		if data, err := exportKeyingMaterial(cs); err == nil && len(data) == exporterLen {
			cb.exporter = data
			cb.preferred = append(cb.preferred, CBTLSExporter)
		}
	}
	if serverLeaf != nil {
		if h, ok := endPointHash(serverLeaf.SignatureAlgorithm); ok {
			d := h.New()
			d.Write(serverLeaf.Raw)
			cb.endPoint = d.Sum(nil)
			cb.preferred = append(cb.preferred, CBTLSServerEndPoint)
		}
	}
	// tls-unique only with the extended master secret (proven by the
	// exporter working on TLS 1.2): without it the triple-handshake attack
	// makes the value shareable between two connections.
	if cs.Version == tls.VersionTLS12 && cb.exporter != nil && len(cs.TLSUnique) > 0 {
		cb.unique = append([]byte(nil), cs.TLSUnique...)
		cb.preferred = append(cb.preferred, CBTLSUnique)
	}
	return cb
}

// exporterSafe reports whether tls-exporter may be used: always on TLS 1.3;
// on TLS 1.2 only with the extended master secret (RFC 9266 §3). crypto/tls
// refuses to export keying material on TLS 1.2 without it, so success means
// it was negotiated, unless the operator forced the unsafe behaviour with
// GODEBUG=tlsunsafeekm=1, in which case TLS 1.2 is not trusted at all.
// (A //go:debug directive in package main would escape this check; Parley
// has none.)
func exporterSafe(cs *tls.ConnectionState) bool {
	switch {
	case cs.Version >= tls.VersionTLS13:
		return true
	case cs.Version == tls.VersionTLS12:
		return !strings.Contains(os.Getenv("GODEBUG"), "tlsunsafeekm=1")
	default:
		return false
	}
}

// exportKeyingMaterial guards against a ConnectionState that was not
// produced by crypto/tls (its exporter is then nil and calling it panics).
func exportKeyingMaterial(cs *tls.ConnectionState) (data []byte, err error) {
	defer func() {
		if recover() != nil {
			data, err = nil, errors.New("auth: connection state has no exporter")
		}
	}()
	return cs.ExportKeyingMaterial(exporterLabel, nil, exporterLen)
}

// endPointHash picks the hash of RFC 5929 §4.1: the certificate's signature
// hash, upgraded to SHA-256 for MD5 and SHA-1. Signatures with no single
// hash (Ed25519) or an unavailable one leave the binding undefined.
func endPointHash(alg x509.SignatureAlgorithm) (crypto.Hash, bool) {
	switch alg {
	case x509.MD5WithRSA, x509.SHA1WithRSA, x509.DSAWithSHA1, x509.ECDSAWithSHA1,
		x509.SHA256WithRSA, x509.SHA256WithRSAPSS, x509.DSAWithSHA256, x509.ECDSAWithSHA256:
		return crypto.SHA256, true
	case x509.SHA384WithRSA, x509.SHA384WithRSAPSS, x509.ECDSAWithSHA384:
		return crypto.SHA384, true
	case x509.SHA512WithRSA, x509.SHA512WithRSAPSS, x509.ECDSAWithSHA512:
		return crypto.SHA512, true
	default:
		return 0, false
	}
}

// Types returns the channel binding types to advertise (XEP-0440), most
// preferred first. It returns nil for a nil receiver.
func (cb *ChannelBinding) Types() []string {
	if cb == nil || len(cb.preferred) == 0 {
		return nil
	}
	return append([]string(nil), cb.preferred...)
}

// Data returns the channel binding data for typ, or an error if typ is not
// one of Types().
func (cb *ChannelBinding) Data(typ string) ([]byte, error) {
	var data []byte
	if cb != nil {
		switch typ {
		case CBTLSExporter:
			data = cb.exporter
		case CBTLSServerEndPoint:
			data = cb.endPoint
		case CBTLSUnique:
			data = cb.unique
		}
	}
	if data == nil {
		return nil, errors.New("auth: channel binding type not available on this connection")
	}
	return append([]byte(nil), data...), nil
}

func (cb *ChannelBinding) has(typ string) bool {
	_, err := cb.Data(typ)
	return err == nil
}
