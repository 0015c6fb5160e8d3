//go:build unix

package interop_test

import (
	"strconv"
	"strings"
	"testing"

	"parley.im/parley/config"
)

// TestSlixmppUpload: slixmpp's XEP-0363 plugin finds upload.localhost
// through disco, uploads a file with a non-ASCII name over the slot's PUT
// URL, and another slixmpp client downloads it from the GET URL it was
// sent (whole and by range).
func TestSlixmppUpload(t *testing.T) {
	t.Parallel()
	requireSlixmpp(t)
	ctx := testContext(t)
	const max = 1 << 20
	srv, _ := startServer(t, func(c *config.Config) { c.Upload.MaxFileSize = max })
	srv.AddUser(t, "alice", "alice-secret")
	srv.AddUser(t, "bob", "bob-secret")

	p := startProcess(t, ctx, "slixmpp", nil, nil,
		python, script(t, "slixmpp_upload.py"),
		"--addr", srv.StartTLSAddr,
		"--cafile", certFile(srv),
		"--alice", "alice@localhost:alice-secret",
		"--bob", "bob@localhost:bob-secret",
		"--max", strconv.Itoa(max),
		"--timeout", clientTimeout, "--debug")
	p.mustSucceed(t, ctx)
	out := p.stdout.String()
	for _, want := range []string{"alice uploaded http://localhost:", "/tr%C3%A8s%20cool%20photo.png", "download-ok\n", "file-too-big refused\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("slixmpp output lacks %q", want)
		}
	}
}
