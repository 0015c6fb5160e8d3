package c2s_test

import (
	"crypto/tls"
	"testing"

	"parley.im/parley/internal/xmpptest"
)

// A client that reconnects resumes its TLS session: every connection clones
// one base configuration whose ticket keys are shared.
func TestTLSSessionResumption(t *testing.T) {
	s := xmpptest.Start(t)
	cache := tls.NewLRUClientSessionCache(4)
	for i, wantResumed := range []bool{false, true, true} {
		cfg := &tls.Config{InsecureSkipVerify: true, ServerName: "localhost", //nolint:gosec // test certificate
			NextProtos: []string{"xmpp-client"}, ClientSessionCache: cache}
		c := xmpptest.DialTLS(t, s.DirectTLSAddr, cfg)
		// Reading the stream makes the client process the TLS 1.3 tickets
		// the server sent after the handshake.
		c.OpenStream("localhost")
		if got := c.Conn.(*tls.Conn).ConnectionState().DidResume; got != wantResumed {
			t.Fatalf("connection %d: resumed = %v, want %v", i, got, wantResumed)
		}
		c.Conn.Close()
	}
}
