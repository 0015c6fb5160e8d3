// Package storagetest is the conformance suite every storage backend runs:
// one Run function, called from each backend's own tests with a function that
// opens a fresh, empty, migrated store.
//
// It owns the behaviour the storage interfaces promise and that a caller may
// rely on whatever backend is configured: sentinel errors (matched with
// errors.Is), byte-exact round trips, byte-order listing, atomic credential
// replacement, roster versions and tombstones, atomic roster updates, the
// offline limit, DeleteAccount wiping every area, and correct results under
// concurrent use. A backend that passes Run may be swapped for another
// without the rest of Parley noticing. RunRosterPruning checks tombstone
// pruning on a store configured to keep only a few.
//
// It must not know about any particular backend, must not depend on a
// backend's SQL or driver, and must not leave state behind that a later test
// could see: every subtest asks open for its own store. It is imported only
// from _test.go files.
package storagetest
