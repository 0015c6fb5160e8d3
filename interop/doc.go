// Package interop holds interoperability tests: Parley, started in-process
// with internal/xmpptest (real sockets on 127.0.0.1, real TLS, SQLite) or
// built and run as the real binary, against XMPP clients nobody on this
// project wrote, run as subprocesses:
//
//   - slixmpp (python3-slixmpp), two clients chatting over STARTTLS;
//   - nbxmpp (python3-nbxmpp, Gajim's library) over XEP-0368 direct TLS;
//   - go-sendxmpp, sending over STARTTLS and direct TLS, and listening.
//
// Federation (s2s_*.go) runs two Parley servers with different domains,
// and Parley with Debian's Prosody (its own data directory, config and
// loopback ports, testdata/s2s-prosody), the domains mapped statically to
// 127.0.0.1 ports on both sides.
//
// The Python scripts are in testdata/ and run with /usr/bin/python3 (the
// Debian packages' interpreter). A missing client skips its test, except
// with CI=true in the environment, where it fails: CI installs them
// (scripts/deps.sh). Every test is bounded by a deadline and kills what it
// started; on failure it prints the clients' output and the server log.
//
// The package has no non-test code.
package interop
