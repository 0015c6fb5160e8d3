//go:build unix

package interop_test

import (
	"slices"
	"testing"

	"mellium.im/sasl"

	"parley.im/parley/config"
)

// TestNbxmppSCRAMSHA1: an nbxmpp client (Gajim's library) connects with
// XEP-0368 direct TLS (and, as a second case, with STARTTLS), accepting the
// server's self-signed certificate the way Gajim does once the user has
// accepted it, logs in with the server restricted to SCRAM-SHA-1 and
// SCRAM-SHA-1-PLUS, and exchanges chat messages with a raw Go client.
// nbxmpp 4.x leaves the -PLUS mechanisms out itself (GLib gives it no
// channel binding data), so the login must be plain SCRAM-SHA-1, which the
// server log must show.
func TestNbxmppSCRAMSHA1(t *testing.T) {
	t.Parallel()
	requireNbxmpp(t)
	for _, tc := range []struct {
		name, connection, want string
		direct                 bool
	}{
		{"DirectTLS", "direct-tls", "connection=DIRECT TLS", true},
		{"STARTTLS", "starttls", "connection=START TLS", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := testContext(t)
			srv, logs := startServer(t, func(c *config.Config) {
				c.Auth.Mechanisms = []string{"SCRAM-SHA-1-PLUS", "SCRAM-SHA-1"}
			})
			srv.AddUser(t, "alice", "alice secret")
			srv.AddUser(t, "bob", "bob secret")
			bob, bobJID := rawLogin(t, srv, tc.direct, sasl.ScramSha1, "bob", "bob secret", "raw")

			addr := srv.StartTLSAddr
			if tc.direct {
				addr = srv.DirectTLSAddr
			}
			const toBob, toAlice = "hello bob, from nbxmpp", "hello nbxmpp, from bob"
			p := startPython(t, ctx, srv, "nbxmpp", "nbxmpp_chat.py", addr,
				"--connection", tc.connection,
				"--jid", "alice@localhost", "--password", "alice secret", "--resource", "gajim",
				"--to", "bob@localhost", "--body", toBob,
				"--expect-from", bobJID.String(), "--expect-body", toAlice)

			from := expectChat(t, bob, "alice@localhost", "alice@localhost/gajim", toBob)
			bob.Send(`<message type='chat' to='` + from + `'><body>` + toAlice + `</body></message>`)
			p.mustSucceed(t, ctx)

			p.expectOutput(t, tc.want, "mechanism=SCRAM-SHA-1 ", "finish ok")
			if got := authMechanisms(logs.String(), "alice@localhost"); !slices.Equal(got, []string{"SCRAM-SHA-1"}) {
				t.Errorf("server log: alice logged in with %q, want [SCRAM-SHA-1]", got)
			}
		})
	}
}
