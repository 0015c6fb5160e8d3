package c2s_test

import (
	"errors"
	"io"
	"net"
	"strconv"
	"testing"
	"time"

	"parley.im/parley/config"
	"parley.im/parley/internal/xmpptest"
)

// FuzzNegotiation sends arbitrary bytes to a real server, after a valid
// stream header or instead of one, and checks that the server ends the
// connection once the client stops sending (it must not hang), never
// panics (a panic in any server goroutine fails the run), and keeps
// serving a well-behaved client, checked every so often.
//
// One server runs per fuzz process, not per input.
func FuzzNegotiation(f *testing.F) {
	for _, s := range []string{
		"",
		"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>",
		"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>\n<stream:stream>",
		"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-256'>biwsbj1hbGljZSxyPWFiY2RlZmdo</auth>",
		"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGFsaWNlAHg=</auth>",
		"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'/><response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>=</response>",
		"<abort xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>",
		"<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>",
		"<message to='bob@localhost'><body>hi</body></message>",
		"</stream:stream>",
		"<!-- c --><?pi?><!DOCTYPE x>",
		"<a xmlns:p='urn:x'><p:b p:c='1' c='2'/></a>",
		"\xff\xfe<\x00>",
		"<x>&amp;&lt;&#x1F600;&#0;&bogus;</x>",
		"<x><![CDATA[ ]]></x>",
		header,
	} {
		f.Add(true, []byte(s))
		f.Add(false, []byte(s))
	}
	srv := xmpptest.Start(f, func(cfg *config.Config) {
		cfg.C2S.NegotiationTimeout = 3 * time.Second
		cfg.Limits.MaxStanzaSize = 4096
		// Inputs fail logins from 127.0.0.1 all the time: no throttling,
		// or the well-behaved client would be locked out.
		cfg.Auth.IPFailures = -1
		cfg.Auth.AccountFailures = -1
	})
	srv.AddUser(f, "alice", password)
	var n int
	f.Fuzz(func(t *testing.T, afterHeader bool, data []byte) {
		n++
		if n%200 == 1 {
			c, _ := xmpptest.Login(t, srv, "alice", password, "fuzz"+strconv.Itoa(n))
			roundTrip(t, c, "healthy")
		}
		conn, err := net.DialTimeout("tcp", srv.StartTLSAddr, xmpptest.Timeout)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(xmpptest.Timeout))
		if afterHeader {
			if _, err := io.WriteString(conn, header); err != nil {
				t.Fatal(err)
			}
		}
		// The server may close early and reset the connection: write
		// errors are expected.
		_, _ = conn.Write(data)
		_ = conn.(*net.TCPConn).CloseWrite()
		_, err = io.Copy(io.Discard, conn)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("the server did not end the connection after the client's end of input")
		}
	})
}
