package server

import (
	"testing"

	"parley.im/parley/config"
)

// TestUploadBaseURL covers the choices that need no listener; those on the
// listeners are checked against a running server by the XEP-0363 row of
// docs/xeps.md (docs_httpext_test.go).
func TestUploadBaseURL(t *testing.T) {
	for i, tc := range []struct {
		url, public, want string
	}{
		{"https://files.example.org/up", "", "https://files.example.org/up/"},
		{"https://files.example.org/up/", "https://chat.example.org", "https://files.example.org/up/"},
		{"", "https://chat.example.org/", "https://chat.example.org/upload/"},
		{"", "https://chat.example.org/xmpp", "https://chat.example.org/xmpp/upload/"},
		{"", "", "http://example.org/upload/"}, // no web server bound
	} {
		cfg := config.Default()
		cfg.Upload.URL, cfg.Web.PublicURL = tc.url, tc.public
		s := &Server{cfg: cfg}
		if got := s.uploadBaseURL("example.org"); got != tc.want {
			t.Errorf("%d: %q, want %q", i, got, tc.want)
		}
	}
}
