package lastactivity

import (
	"testing"

	"parley.im/parley/internal/storetest"
	"parley.im/parley/storage/sqlite"
)

// openStore opens a SQLite store with accounts for users on example.org.
func openStore(t *testing.T, users ...string) *sqlite.Store {
	return storetest.Open(t, "example.org", users...)
}

// faulty is the real store with failures injected on demand.
type faulty = storetest.Faulty
