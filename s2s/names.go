package s2s

import (
	"crypto/x509"
	"encoding/asn1"
	"strings"
)

var (
	oidSAN      = asn1.ObjectIdentifier{2, 5, 29, 17}
	oidXmppAddr = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 8, 5} // id-on-xmppAddr (RFC 6120 §13.7.1.4)
	oidSRVName  = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 8, 7} // id-on-dnsSRV (RFC 4985)
)

// otherName is the subjectAltName form crypto/x509 does not decode.
type otherName struct {
	ID    asn1.ObjectIdentifier
	Value asn1.RawValue `asn1:"explicit,tag:0"`
}

// certNames returns the XmppAddr and SRV-ID identifiers of a certificate
// (the DNS-IDs are checked by x509.Certificate.VerifyHostname).
func certNames(cert *x509.Certificate) (xmppAddrs, srvIDs []string) {
	for _, ext := range cert.Extensions {
		if !ext.Id.Equal(oidSAN) {
			continue
		}
		var seq asn1.RawValue
		if rest, err := asn1.Unmarshal(ext.Value, &seq); err != nil || len(rest) != 0 || !seq.IsCompound {
			return nil, nil
		}
		for rest := seq.Bytes; len(rest) > 0; {
			var gn asn1.RawValue
			var err error
			if rest, err = asn1.Unmarshal(rest, &gn); err != nil {
				return xmppAddrs, srvIDs
			}
			if gn.Class != asn1.ClassContextSpecific || gn.Tag != 0 {
				continue // not an otherName
			}
			var on otherName
			if _, err := asn1.UnmarshalWithParams(gn.FullBytes, &on, "tag:0"); err != nil {
				continue
			}
			var s string
			if _, err := asn1.Unmarshal(on.Value.Bytes, &s); err != nil {
				continue
			}
			switch {
			case on.ID.Equal(oidXmppAddr):
				xmppAddrs = append(xmppAddrs, s)
			case on.ID.Equal(oidSRVName):
				srvIDs = append(srvIDs, s)
			}
		}
	}
	return xmppAddrs, srvIDs
}

// nameMatches applies RFC 6125 §6 to a certificate for an XMPP server
// domain (RFC 6120 §13.7.2.1): a DNS-ID (with the one-label wildcard
// rule), an SRV-ID for _xmpp-server or _xmpps-server, or an XmppAddr
// equal to the domain. The common name is never used.
func nameMatches(cert *x509.Certificate, domain string) bool {
	if cert.VerifyHostname(domain) == nil {
		return true
	}
	xmppAddrs, srvIDs := certNames(cert)
	for _, a := range xmppAddrs {
		if strings.EqualFold(a, domain) {
			return true
		}
	}
	for _, s := range srvIDs {
		svc, name, ok := strings.Cut(s, ".")
		if ok && (svc == "_xmpp-server" || svc == "_xmpps-server") && strings.EqualFold(strings.TrimSuffix(name, "."), domain) {
			return true
		}
	}
	return false
}
