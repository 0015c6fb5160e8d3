// Package postgres is the production storage backend: PostgreSQL through a
// pgx connection pool.
//
// It owns the PostgreSQL schema (migrations/, embedded and applied in order
// by Migrate under an advisory lock, recorded in schema_migrations; this is
// also what `parley migrate` runs) and the SQL behind every storage
// interface.
//
// It must keep the logical schema of storage/sqlite, so that data can move
// between the two, and pass storage/storagetest. It must not let a pgx or
// pgconn error type or a missing-row error escape as such: callers get
// storage.ErrNotFound, storage.ErrConflict or an error wrapped for the log,
// and no error may quote the DSN, which can hold a password. Schema changes
// go into a new numbered migration file, never into an applied one.
package postgres
