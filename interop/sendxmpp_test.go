//go:build unix

package interop_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"mellium.im/sasl"
	"mellium.im/xmpp/jid"

	"parley.im/parley/config"
	"parley.im/parley/internal/xmpptest"
)

// plainOnly restricts the server to PLAIN, the mechanism go-sendxmpp's
// XMPP library uses.
func plainOnly(c *config.Config) {
	c.Auth.Mechanisms = []string{"PLAIN"}
	c.Auth.AllowPlain = true
}

// sendxmppArgs are go-sendxmpp's account flags: no configuration file is
// read when user and password are given. -n skips certificate verification
// (the server's certificate is self-signed); -d writes the XML the server
// sent to stderr, printed if the test fails.
func sendxmppArgs(bin, addr string, direct bool, user, password string) []string {
	args := []string{bin, "-d", "-n", "--timeout", "10", "-u", user, "-p", password, "-j", addr}
	if direct {
		args = append(args, "-t")
	}
	return args
}

// sendxmppEnv keeps go-sendxmpp away from the user's own files.
func sendxmppEnv(t *testing.T) []string {
	home := t.TempDir()
	return []string{"HOME=" + home, "XDG_CONFIG_HOME=" + home, "XDG_DATA_HOME=" + home}
}

// TestSendxmppPLAIN: go-sendxmpp logs in with PLAIN and sends a message,
// read from its standard input, to a user's bare JID; the user (a raw Go
// client with an available resource) receives it from alice's resource.
// Once over STARTTLS, once over XEP-0368 direct TLS.
func TestSendxmppPLAIN(t *testing.T) {
	t.Parallel()
	bin := requireSendxmpp(t)
	for _, tc := range []struct {
		name   string
		direct bool
	}{{"STARTTLS", false}, {"DirectTLS", true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := testContext(t)
			srv, logs := startServer(t, plainOnly)
			srv.AddUser(t, "alice", "alice secret")
			srv.AddUser(t, "bob", "bob secret")
			bob, _ := rawLogin(t, srv, tc.direct, sasl.Plain, "bob", "bob secret", "raw")

			addr := srv.StartTLSAddr
			if tc.direct {
				addr = srv.DirectTLSAddr
			}
			body := "hello bob, from go-sendxmpp over " + tc.name
			p := startProcess(t, ctx, "go-sendxmpp", strings.NewReader(body+"\n"), sendxmppEnv(t),
				append(sendxmppArgs(bin, addr, tc.direct, "alice@localhost", "alice secret"), "bob@localhost")...)
			// go-sendxmpp writes "<starttls .../>\n" in one write: the
			// server must not take the newline for pipelined data.
			p.mustSucceed(t, ctx)
			expectChat(t, bob, "alice@localhost", "", body)
			if got := authMechanisms(logs.String(), "alice@localhost"); !slices.Equal(got, []string{"PLAIN"}) {
				t.Errorf("server log: alice logged in with %q, want [PLAIN]", got)
			}
		})
	}
}

// TestSendxmppListen: go-sendxmpp -l (listen mode) logs in with PLAIN over
// direct TLS and prints the messages it receives; a raw Go client sends it
// one to the bare JID once it is available.
func TestSendxmppListen(t *testing.T) {
	t.Parallel()
	bin := requireSendxmpp(t)
	ctx := testContext(t)
	srv, logs := startServer(t, plainOnly)
	srv.AddUser(t, "alice", "alice secret")
	srv.AddUser(t, "bob", "bob secret")

	p := startProcess(t, ctx, "go-sendxmpp -l", nil, sendxmppEnv(t),
		append(sendxmppArgs(bin, srv.DirectTLSAddr, true, "bob@localhost", "bob secret"), "-l")...)
	if err := waitAvailable(ctx, srv, "bob@localhost", p.done); err != nil {
		t.Fatalf("go-sendxmpp -l never became available: %v", err)
	}

	alice, aliceJID := rawLogin(t, srv, true, sasl.Plain, "alice", "alice secret", "raw")
	const body = "hello go-sendxmpp listener"
	alice.Send(`<message type='chat' to='bob@localhost'><body>` + body + `</body></message>`)
	if err := p.stdout.waitFor(ctx, aliceJID.Bare().String()+": "+body+"\n", p.done); err != nil {
		t.Fatalf("go-sendxmpp -l did not print the message: %v", err)
	}
	if got := authMechanisms(logs.String(), "bob@localhost"); !slices.Equal(got, []string{"PLAIN"}) {
		t.Errorf("server log: bob logged in with %q, want [PLAIN]", got)
	}
}

// waitAvailable polls the router until bare has an available resource,
// ctx ends, or stop is closed.
func waitAvailable(ctx context.Context, srv *xmpptest.Server, bare string, stop <-chan struct{}) error {
	j := jid.MustParse(bare)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		for _, r := range srv.Router().Resources(j) {
			if r.Available && r.Priority >= 0 {
				return nil
			}
		}
		select {
		case <-tick.C:
		case <-stop:
			return context.Canceled
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
