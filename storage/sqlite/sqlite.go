package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"parley.im/parley/storage"
)

// busyTimeoutMillis is how long a connection waits for another connection
// or process holding the lock before failing with SQLITE_BUSY. Writes are
// short, so this is only reached when something is badly stuck.
const busyTimeoutMillis = 10_000

// Store is a storage.Store kept in one SQLite file.
//
// SQLite allows one writer at a time. Writes go through their own pool of a
// single connection, so writers within this process queue in Go rather than
// in SQLite's busy handler, which polls with growing sleeps. That connection
// begins every transaction with BEGIN IMMEDIATE: a deferred transaction that
// reads before it writes fails with SQLITE_BUSY at once, busy timeout or
// not, if another connection (here: another process) wrote in between; the
// concurrency tests fail that way with deferred transactions. Reads use a
// separate pool of read-only connections that, in WAL mode, run alongside
// the writer.
type Store struct {
	write *sql.DB
	read  *sql.DB

	// account is the query behind every login, prepared once per read
	// connection instead of once per call.
	account *sql.Stmt

	// writeStmts and readStmts are the statements that transactions on
	// each pool have run.
	writeStmts, readStmts *stmtCache

	// keepTombstones is how many tombstones, the newest, each roster
	// keeps; tests lower it.
	keepTombstones int
}

var _ storage.Store = (*Store)(nil)

// Open opens the database at path, creating the file (readable by its owner
// only) and its parent directory if they are missing, and migrates it.
func Open(ctx context.Context, path string) (*Store, error) {
	abs, err := prepareFile(path)
	if err != nil {
		return nil, err
	}
	s := &Store{keepTombstones: storage.MinRosterTombstones}
	if s.write, err = openPool(abs, writeParams(), 1); err != nil {
		return nil, err
	}
	if err := enableWAL(ctx, s.write); err != nil {
		s.write.Close()
		return nil, err
	}
	if s.read, err = openPool(abs, readParams(), max(4, runtime.NumCPU())); err != nil {
		s.write.Close()
		return nil, err
	}
	s.writeStmts, s.readStmts = newStmtCache(s.write), newStmtCache(s.read)
	if err := s.Migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if s.account, err = s.read.PrepareContext(ctx, accountQuery); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: prepare: %w", err)
	}
	return s, nil
}

// prepareFile creates the directory (0700) and an empty file (0600) so that
// SQLite, which would create the file with the umask's permissions, opens a
// file holding credentials that only the owner can read. SQLite gives its
// -wal and -shm files the permissions of the database file.
func prepareFile(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("sqlite: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return "", fmt.Errorf("sqlite: create directory: %w", err)
	}
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return "", fmt.Errorf("sqlite: create database file: %w", err)
	}
	return abs, f.Close()
}

// commonParams are set on every connection: both are per-connection
// settings in SQLite, and without foreign_keys ON DELETE CASCADE does nothing.
func commonParams() url.Values {
	return url.Values{"_pragma": {
		fmt.Sprintf("busy_timeout(%d)", busyTimeoutMillis),
		"foreign_keys(1)",
	}}
}

func writeParams() url.Values {
	p := commonParams()
	p.Set("_txlock", "immediate")
	return p
}

// readParams makes read connections refuse writes, so a write sent to the
// wrong pool fails in tests instead of racing the writer.
func readParams() url.Values {
	p := commonParams()
	p.Set("_query_only", "1")
	return p
}

// openPool opens a pool on a file: URI, so that characters such as '?' or
// '#' in the path are escaped rather than read as URI syntax.
func openPool(abs string, params url.Values, conns int) (*sql.DB, error) {
	uri := url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: params.Encode()}
	db, err := sql.Open("sqlite", uri.String())
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	return db, nil
}

// enableWAL switches the file to write-ahead logging, which lets readers run
// while a write is in progress. The mode is stored in the file; SQLite
// answers with the mode in force, which is not WAL on file systems that
// cannot share memory between processes. synchronous stays at its default,
// FULL, so a committed account survives a power loss.
func enableWAL(ctx context.Context, db *sql.DB) error {
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode); err != nil {
		return fmt.Errorf("sqlite: enable WAL: %w", err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("sqlite: enable WAL: journal mode is %q", mode)
	}
	return nil
}

// Ping checks that both pools can reach the file.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.write.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	if err := s.read.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	return nil
}

// Close closes both pools.
func (s *Store) Close() error {
	var errs []error
	if s.writeStmts != nil {
		errs = append(errs, s.writeStmts.close(), s.readStmts.close())
	}
	if s.account != nil {
		errs = append(errs, s.account.Close())
	}
	if s.read != nil {
		errs = append(errs, s.read.Close())
	}
	errs = append(errs, s.write.Close())
	return errors.Join(errs...)
}
