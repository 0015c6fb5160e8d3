// Package c2s is the client-to-server listener: it accepts TCP connections
// (STARTTLS on one set of addresses, XEP-0368 direct TLS on another),
// negotiates each stream itself — header checks, TLS, SASL with SCRAM
// (channel binding included) and PLAIN, resource binding — and then runs
// the session: one goroutine reads and parses stanzas, stamps 'from' and
// hands them to the router; another drains the session's bounded outbound
// queue to the socket in batches, and exists only while there is work.
// An idle TCP session parks (park.go): after a silence of parkAfter between
// two stanzas its reader goroutine exits and its read buffer is dropped;
// one epoll poller per Server resumes the read loop on a new
// goroutine when the socket is readable or something must wake the reader
// (Close, the transport closed, the idle ping due). Linux only; elsewhere
// readers never park.
//
// Framed transports (RFC 7395 WebSocket, XEP-0206 BOSH) hand their
// sessions to Server.ServeFramed through the FramedConn interface: one
// complete element per frame. The negotiation, the limits, the session and
// stream management are the same code as for TCP; only the framing differs
// (an RFC 7395 <open/> and <close/> instead of the stream's tags, each frame
// parsed on its own, no STARTTLS). An optional Observer (Deps.Observer)
// counts sessions, stanzas, logins and queue overflows for metrics.
//
// XEP-0198 stream management (sm.go) counts what each side handled; a
// resumable session whose transport is lost is detached: it stays bound in
// the router, holding what is routed to it, with no goroutine and no
// transport, until <resume/> on a new stream moves that transport into it
// or the timeout ends it, its undelivered messages then going to offline
// storage through the router. XEP-0352 client state indication (csi.go)
// holds back presence and chat states while the client is inactive.
//
// Under overload it pushes back instead of queueing (listen.go,
// ratelimit.go): the TCP listeners' sockets have a fixed receive buffer, so
// what a client sends faster than the server reads stays short and then
// blocks the client's writes, and each connection is read at most at its
// read rate, so that one flooding client cannot take everyone's reader time.
//
// It does not use mellium's negotiator, SASL server, bind feature or Serve
// loop (see shared/research/mellium.md for their defects); it uses mellium's
// jid for addresses and its stream and stanza error values.
//
// Beside RFC 6120 SASL and bind it offers, over TLS, XEP-0388 SASL2 with
// XEP-0386 Bind2 and XEP-0484 FAST tokens (sasl2.go, bind2.go, fast.go);
// the tokens are kept by storage.FastTokens, the HT mechanisms and the
// XEP-0474 downgrade protection are auth's.
//
// It must not make routing decisions (that is the router's job) nor know any
// IQ payload other than bind and the legacy session, with one exception:
// for Bind2 it routes, from the new session before it is bound, the IQs
// the client would have sent (XEP-0280 <enable/>, XEP-0313 <metadata/>),
// so that the carbons and archive modules (which c2s may not import) act
// as for any client; their answers are not written.
package c2s
