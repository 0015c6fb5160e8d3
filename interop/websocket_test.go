//go:build unix

package interop_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"mellium.im/sasl"

	"parley.im/parley/internal/xmpptest"
	"parley.im/parley/web"
)

// nodeModules is where scripts/deps.sh (npm ci in web/chat) installs the
// pinned node packages: @xmpp/client, playwright-core, Converse.js.
func nodeModules(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "web", "chat", "node_modules"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// requireNode checks for node and the npm package pkg under web/chat and
// returns node's flags: Node 20 has WebSocket only behind
// --experimental-websocket.
func requireNode(t *testing.T, pkg string) []string {
	t.Helper()
	var flags []string
	requireClient(t, "node with "+pkg+" (npm ci in web/chat)", func() error {
		if _, err := exec.LookPath("node"); err != nil {
			return err
		}
		if _, err := os.Stat(filepath.Join(nodeModules(t), pkg, "package.json")); err != nil {
			return err
		}
		probe := func(flags ...string) error {
			return exec.Command("node", append(flags, "-e", "process.exit(typeof WebSocket === 'undefined' ? 1 : 0)")...).Run()
		}
		if probe() == nil {
			return nil
		}
		flags = []string{"--experimental-websocket"}
		if err := probe(flags...); err != nil {
			return fmt.Errorf("node has no WebSocket, even with --experimental-websocket: %w", err)
		}
		return nil
	})
	return flags
}

// TestXmppJSWebSocket: @xmpp/client logs in over WebSocket and exchanges a
// message with a user logged in over TCP.
func TestXmppJSWebSocket(t *testing.T) {
	flags := requireNode(t, "@xmpp/client")
	ctx := testContext(t)
	bob, addr := webPeers(t)
	service := "ws://" + addr + web.WebSocketPath
	p := startProcess(t, ctx, "xmpp.js", nil, []string{
		"NODE_MODULES=" + nodeModules(t), "XMPP_SERVICE=" + service, "XMPP_USER=alice",
		"XMPP_PASSWORD=alice-secret", "XMPP_PEER=bob@localhost", "CLIENT_TIMEOUT=" + clientTimeout,
	}, append(append([]string{"node"}, flags...), script(t, "xmppjs_ws.mjs"))...)

	// Over a secure WebSocket xmpp.js logs in with SASL2 and Bind2: the
	// resource is its tag "xmppjs" and the server's id (XEP-0386).
	from := expectChat(t, bob, "alice@localhost", "", "ping from xmpp.js")
	if !strings.HasPrefix(from, "alice@localhost/xmppjs/") {
		t.Errorf("message from %q, want the Bind2 resource alice@localhost/xmppjs/<id>", from)
	}
	pong(t, ctx, bob, from, p)
}

// webPeers starts a server with the accounts alice (password alice-secret)
// and bob (bob-secret), logs bob in over TCP (resource tcp), and returns
// bob's client and the address of the server's plain HTTP listener: plain
// HTTP from loopback counts as secure, as for the local web chat.
func webPeers(t *testing.T) (bob *xmpptest.Client, addr string) {
	t.Helper()
	srv, _ := startServer(t)
	srv.AddUser(t, "alice", "alice-secret")
	srv.AddUser(t, "bob", "bob-secret")
	bob, _ = rawLogin(t, srv, false, sasl.ScramSha256, "bob", "bob-secret", "tcp")
	plain, _ := srv.WebAddrs()
	return bob, plain[0].String()
}

// pong has bob answer the web client p's message from from, and fails the
// test unless p then exits 0 and says ok.
func pong(t *testing.T, ctx context.Context, bob *xmpptest.Client, from string, p *process) {
	t.Helper()
	bob.Send(`<message to='` + from + `' type='chat'><body>pong from tcp</body></message>`)
	p.mustSucceed(t, ctx)
	if !strings.Contains(p.stdout.String(), "ok") {
		t.Fatalf("%s did not finish: %s", p.name, p.stdout)
	}
}
