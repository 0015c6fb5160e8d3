//go:build unix

package interop_test

import (
	"strconv"
	"testing"

	"parley.im/parley/config"
)

// TestSlixmppUpload: slixmpp's XEP-0363 plugin finds upload.localhost
// through disco, uploads a file with a non-ASCII name over the slot's PUT
// URL, and another slixmpp client downloads it from the GET URL it was
// sent (whole and by range).
func TestSlixmppUpload(t *testing.T) {
	const max = 1 << 20
	ctx, srv, _ := clientTest(t, requireSlixmpp, func(c *config.Config) { c.Upload.MaxFileSize = max })
	p := runSlixmpp(t, ctx, srv, "slixmpp_upload.py",
		"--alice", account(t, srv, "alice", "alice-secret"),
		"--bob", account(t, srv, "bob", "bob-secret"),
		"--max", strconv.Itoa(max))
	p.expectOutput(t, "alice uploaded http://localhost:", "/tr%C3%A8s%20cool%20photo.png", "download-ok\n", "file-too-big refused\n")
}
