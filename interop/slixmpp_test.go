//go:build unix

package interop_test

import (
	"slices"
	"testing"

	"parley.im/parley/config"
)

// TestSlixmppSCRAMSHA256OverSTARTTLS: two slixmpp clients log in over
// STARTTLS and chat both ways. The server offers only SCRAM-SHA-256-PLUS
// and SCRAM-SHA-256; slixmpp 1.8 knows only tls-unique, which TLS 1.3 does
// not have, so its -PLUS attempt is refused with not-authorized and it
// falls back to SCRAM-SHA-256 with gs2 flag 'y', which the server must
// accept after such a failure. The server log must show SCRAM-SHA-256 for
// both users.
func TestSlixmppSCRAMSHA256OverSTARTTLS(t *testing.T) {
	ctx, srv, logs := clientTest(t, requireSlixmpp, func(c *config.Config) {
		c.Auth.Mechanisms = []string{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"}
	})
	p := runSlixmpp(t, ctx, srv, "slixmpp_chat.py",
		"--alice", account(t, srv, "alice", "alice-Pässword"),
		"--bob", account(t, srv, "bob", "bob password"))
	p.expectOutput(t, "alice auth-success SCRAM-SHA-256\n", "bob auth-success SCRAM-SHA-256\n", "chat-ok\n")
	for _, user := range []string{"alice@localhost", "bob@localhost"} {
		if got := authMechanisms(logs.String(), user); !slices.Equal(got, []string{"SCRAM-SHA-256"}) {
			t.Errorf("server log: %s logged in with %q, want [SCRAM-SHA-256]", user, got)
		}
	}
}
