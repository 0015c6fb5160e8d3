package web_test

import (
	"os"
	"testing"
)

// requireConverse skips a test when the pinned Converse.js is not
// installed (cd web/chat && npm ci), except under CI=true, where that is a
// failure: CI must run every test.
func requireConverse(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("chat/node_modules/converse.js/dist/converse.min.js"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Converse.js is not installed (run scripts/deps.sh or cd web/chat && npm ci): %v", err)
		}
		t.Skipf("Converse.js is not installed (cd web/chat && npm ci): %v", err)
	}
}
