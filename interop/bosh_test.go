//go:build unix

package interop_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"parley.im/parley/web"
)

// TestStropheBOSH: strophe.js (the XMPP library of Converse.js) logs in over
// BOSH (XEP-0124/XEP-0206, /http-bind) and exchanges a message with a user
// logged in over TCP. Its packages are pinned in testdata/bosh (npm ci there,
// which scripts/deps.sh runs).
func TestStropheBOSH(t *testing.T) {
	dir := script(t, "bosh")
	requireClient(t, "node with strophe.js (npm ci in interop/testdata/bosh)", func() error {
		if _, err := exec.LookPath("node"); err != nil {
			return err
		}
		_, err := os.Stat(filepath.Join(dir, "node_modules", "strophe.js", "package.json"))
		return err
	})
	ctx := testContext(t)
	bob, addr := webPeers(t)
	service := "http://" + addr + web.BOSHPath
	p := startProcess(t, ctx, "strophe.js", nil, []string{
		"XMPP_SERVICE=" + service, "XMPP_USER=alice@localhost", "XMPP_PASSWORD=alice-secret",
		"XMPP_PEER=bob@localhost", "CLIENT_TIMEOUT=" + clientTimeout,
	}, "node", filepath.Join(dir, "strophe_bosh.mjs"))

	from := expectChat(t, bob, "alice@localhost", "", "ping from strophe")
	pong(t, ctx, bob, from, p)
}
