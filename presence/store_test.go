package presence

import (
	"path/filepath"
	"testing"

	"mellium.im/xmpp/jid"

	"parley.im/parley/storage/sqlite"
)

// openStore opens a fresh SQLite store with the given accounts (bare JIDs).
func openStore(t testing.TB, accounts ...string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "parley.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	for _, a := range accounts {
		j := jid.MustParse(a)
		if err := s.CreateAccount(t.Context(), j.Domainpart(), j.Localpart(), nil); err != nil {
			t.Fatal(err)
		}
	}
	return s
}
