//go:build unix

package interop_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mellium.im/sasl"

	"parley.im/parley/config"
	"parley.im/parley/xmppcore"
)

// chromium is Debian's browser; playwright-core drives it and never
// downloads one of its own.
const chromium = "/usr/bin/chromium"

// TestWebChatBrowser runs the built-in web chat (Converse.js, as served
// by the server) in headless Chromium: alice and bob log in over
// WebSocket, exchange messages, meet in a room and, once an HTTP upload
// service is offered, alice sends a file that bob downloads. The page must
// load nothing from another origin.
func TestWebChatBrowser(t *testing.T) {
	flags := requireNode(t, "playwright-core")
	requireNode(t, "converse.js")
	requireClient(t, "Debian's chromium ("+chromium+")", func() error { _, err := os.Stat(chromium); return err })
	ctx := testContext(t)
	web := freePort(t)
	srv, _ := startServer(t, func(c *config.Config) {
		c.Web.HTTP = []string{web}
		// Upload slots (and anything else announcing URLs) name the page's
		// own origin, which the page's CSP allows.
		c.Web.PublicURL = "http://" + web
		c.Web.Chat.Dir = filepath.Join(nodeModules(t), "converse.js", "dist")
	})
	srv.AddUser(t, "alice", "alice-secret")
	srv.AddUser(t, "bob", "bob-secret")
	srv.AddUser(t, "carol", "carol-secret")

	// The upload part runs once the server offers an upload service.
	carol, _ := rawLogin(t, srv, false, sasl.ScramSha256, "carol", "carol-secret", "probe")
	carol.Send(`<iq type='get' id='items' to='localhost'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`)
	items := carol.Expect(func(el *xmppcore.Element) bool { return el.Attr("id") == "items" })
	upload := "0"
	if q := items.Child("http://jabber.org/protocol/disco#items", "query"); q != nil {
		for it := range q.Children() {
			if strings.HasPrefix(it.Attr("jid"), "upload.") {
				upload = "1"
			}
		}
	}
	if upload == "0" {
		t.Log("no upload service in disco#items: the file transfer part is left out")
	}

	tmp := t.TempDir()
	p := startProcess(t, ctx, "webchat", nil, []string{
		"NODE_MODULES=" + nodeModules(t), "BASE_URL=http://" + web, "ROOM=webroom@conference.localhost",
		"ALICE_PASSWORD=alice-secret", "BOB_PASSWORD=bob-secret", "UPLOAD=" + upload,
		"TMP_DIR=" + tmp, "SHOTS_DIR=" + tmp, "CHROMIUM=" + chromium, "CLIENT_TIMEOUT=50",
	}, append(append([]string{"node"}, flags...), script(t, "webchat.mjs"))...)
	if err := p.wait(ctx); err != nil {
		t.Fatalf("web chat in Chromium failed: %v (screenshots were in %s)", err, tmp)
	}
	if !strings.Contains(p.stdout.String(), "\nok\n") && !strings.HasSuffix(p.stdout.String(), "ok\n") {
		t.Fatalf("web chat run did not finish: %s", p.stdout)
	}
}
