// Package sqlite is the embedded storage backend, the default when no
// database server is configured: one SQLite file, opened through
// database/sql with the pure-Go modernc.org/sqlite driver, so Parley builds
// without cgo.
//
// It owns the SQLite schema (migrations/, applied in order by Migrate and
// recorded in schema_migrations), the connection settings every connection
// needs (WAL, foreign keys, busy timeout) and the split into one write
// connection and a pool of read-only ones that makes concurrent use safe.
//
// It must keep the logical schema of storage/postgres, so that data can move
// between the two, and pass storage/storagetest. It must not let a driver
// error type or a missing-row error escape: callers get storage.ErrNotFound,
// storage.ErrConflict or an error wrapped for the log. It must not be used
// by two hosts over a network file system, where SQLite's locks do not hold.
package sqlite
