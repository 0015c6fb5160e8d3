// Package storage defines what Parley keeps between restarts: small
// interfaces per area (accounts and credentials first; roster, offline
// messages, archive, rooms and the rest join as their features land), the
// models they exchange, and the sentinel errors every backend maps its driver
// errors to.
//
// It owns no SQL and no driver. Backends live in sub-packages
// (storage/postgres for production, storage/sqlite as the embedded default)
// and must pass storage/storagetest, the one conformance suite. Callers
// compare errors with errors.Is against ErrNotFound and ErrConflict and never
// see a driver error type.
//
// This package must not import any other Parley package except jid-free
// helpers: it sits at the bottom tier so every other package may use it.
package storage
