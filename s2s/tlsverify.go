package s2s

import (
	"crypto/tls"
	"crypto/x509"
)

// verifyChain reports whether the peer's certificate chains to a trusted
// root (the names are checked separately, per domain, by nameOK).
func (s *Service) verifyChain(cs *tls.ConnectionState) (*x509.Certificate, bool) {
	if cs == nil || len(cs.PeerCertificates) == 0 {
		return nil, false
	}
	leaf := cs.PeerCertificates[0]
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	// Servers authenticate as clients with their server certificates,
	// which often carry only serverAuth: accept any extended key usage.
	_, err := leaf.Verify(x509.VerifyOptions{Roots: s.cfg.Roots, Intermediates: inter,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	return leaf, err == nil
}

// nameOK applies the RFC 6125 name checks (nameMatches) to a verified
// certificate.
func nameOK(leaf *x509.Certificate, chained bool, domain string) bool {
	return chained && leaf != nil && domain != "" && nameMatches(leaf, domain)
}

func (c *conn) setTLS(tc *tls.Conn) {
	cs := tc.ConnectionState()
	c.tlsState = &cs
	c.c = tc
	c.peerLeaf, c.peerChain = c.svc.verifyChain(&cs)
}

func (c *conn) certFor(domain string) bool { return nameOK(c.peerLeaf, c.peerChain, domain) }
