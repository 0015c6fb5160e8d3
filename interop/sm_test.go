//go:build unix

package interop_test

import (
	"strings"
	"testing"
)

// TestSlixmppStreamResumption: slixmpp's xep_0198 plugin enables stream
// management with resumption, acknowledges a message, loses its TCP
// connection (the socket under TLS shut down, no stream end), and
// resumes on a new connection: it gets the two messages sent meanwhile,
// once each, and the acknowledged one is not resent. The server log shows
// the session detached and resumed rather than ended. (slixmpp 1.8 logs
// "Inconsistent sequence numbers" at <resumed/>: it empties its own queue
// of unacknowledged stanzas when it sends <resume/>, then compares the
// server's h with that empty queue.)
func TestSlixmppStreamResumption(t *testing.T) {
	ctx, srv, logs := clientTest(t, requireSlixmpp)
	p := runSlixmpp(t, ctx, srv, "slixmpp_sm.py",
		"--alice", account(t, srv, "alice", "alice password"),
		"--bob", account(t, srv, "bob", "bob password"))
	p.expectOutput(t, "bob sm-enabled resume=True id-set=True\n", "acked-ok handled=", "cut-ok\n", "resumed-ok\n")
	log := logs.String()
	for _, want := range []string{`msg="session detached; waiting for resumption"`, `msg="stream resumed"`} {
		if !strings.Contains(log, want) {
			t.Errorf("server log lacks %s", want)
		}
	}
	if strings.Contains(log, `msg="detached session ended"`) {
		t.Error("the detached session ended instead of being resumed")
	}
}
