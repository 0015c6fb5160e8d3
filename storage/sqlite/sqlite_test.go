package sqlite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"parley.im/parley/storage"
	"parley.im/parley/storage/storagetest"
)

func openTemp(t testing.TB, path string) *Store {
	t.Helper()
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatalf("Open(%q): %v", path, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store {
		return openTemp(t, filepath.Join(t.TempDir(), "parley.db"))
	})
}

func TestReopenKeepsData(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "parley.db")
	creds := []storage.Credential{{Hash: storage.HashSHA256, Salt: []byte{0, 1, 2}, Iterations: 4096, StoredKey: []byte{3}, ServerKey: []byte{4}}}

	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateAccount(ctx, "example.org", "alice", creds); err != nil {
		t.Fatal(err)
	}
	created, err := s.Account(ctx, "example.org", "alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openTemp(t, path)
	a, err := s.Account(ctx, "example.org", "alice")
	if err != nil {
		t.Fatalf("Account after reopening: %v", err)
	}
	if !a.Created.Equal(created.Created) || len(a.Credentials) != 1 || a.Credentials[0].Iterations != 4096 {
		t.Errorf("after reopening got %+v, want %+v", a, created)
	}
}

func TestOpenCreatesPrivateFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state", "parley")
	path := filepath.Join(dir, "data?#%.db") // URI syntax characters in the name
	s := openTemp(t, path)
	if err := s.CreateAccount(t.Context(), "example.org", "alice", nil); err != nil {
		t.Fatal(err)
	}
	assertMode(t, dir, 0o700|os.ModeDir)
	assertMode(t, path, 0o600)
	assertMode(t, path+"-wal", 0o600)
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode() != want {
		t.Errorf("%s: mode %v, want %v", path, fi.Mode(), want)
	}
}

func TestOpenEnablesWAL(t *testing.T) {
	s := openTemp(t, filepath.Join(t.TempDir(), "parley.db"))
	var mode string
	if err := s.read.QueryRowContext(t.Context(), "PRAGMA journal_mode").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" {
		t.Errorf("journal_mode = %q, want wal", mode)
	}
	var fk int
	if err := s.write.QueryRowContext(t.Context(), "PRAGMA foreign_keys").Scan(&fk); err != nil {
		t.Fatal(err)
	}
	if fk != 1 {
		t.Errorf("foreign_keys = %d on the write connection, want 1", fk)
	}
}

// TestTwoStoresOneFile stands in for two processes sharing a file: each Store
// has its own write connection, so here SQLite's file lock, the busy timeout
// and BEGIN IMMEDIATE are what keep concurrent writes from failing.
func TestTwoStoresOneFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "parley.db")
	stores := []*Store{openTemp(t, path), openTemp(t, path)}
	const each = 50
	var wg sync.WaitGroup
	for i, s := range stores {
		wg.Go(func() {
			for j := range each {
				u := fmt.Sprintf("u%d-%d", i, j)
				if err := s.CreateAccount(t.Context(), "example.org", u, nil); err != nil {
					t.Errorf("CreateAccount(%q): %v", u, err)
				}
				if err := s.SetCredentials(t.Context(), "example.org", u, nil); err != nil {
					t.Errorf("SetCredentials(%q): %v", u, err)
				}
			}
		})
	}
	wg.Wait()
	names, err := stores[0].ListAccounts(t.Context(), "example.org")
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != len(stores)*each {
		t.Errorf("listed %d accounts, want %d", len(names), len(stores)*each)
	}
}

func TestReadPoolRefusesWrites(t *testing.T) {
	s := openTemp(t, filepath.Join(t.TempDir(), "parley.db"))
	_, err := s.read.ExecContext(t.Context(), `DELETE FROM accounts`)
	if err == nil {
		t.Error("a read connection accepted a write")
	}
}

func TestLoadMigrations(t *testing.T) {
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 || ms[0].version != 1 {
		t.Fatalf("embedded migrations: %+v", ms)
	}
	bad := map[string]fstest.MapFS{
		"gap":       {"migrations/0001_a.sql": {}, "migrations/0003_c.sql": {}},
		"duplicate": {"migrations/0001_a.sql": {}, "migrations/1_b.sql": {}},
		"no number": {"migrations/accounts.sql": {}},
		"zero":      {"migrations/0000_a.sql": {}},
	}
	for name, fsys := range bad {
		if _, err := loadMigrations(fsys); err == nil {
			t.Errorf("%s: loadMigrations accepted %v", name, fsys)
		}
	}
}

func TestOpenFailsOnDirectory(t *testing.T) {
	_, err := Open(t.Context(), t.TempDir())
	if err == nil {
		t.Fatal("Open on a directory succeeded")
	}
	if errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Open error is ErrNotFound: %v", err)
	}
}

func BenchmarkAccount(b *testing.B) {
	s := openTemp(b, filepath.Join(b.TempDir(), "parley.db"))
	creds := []storage.Credential{
		{Hash: storage.HashSHA1, Salt: make([]byte, 16), Iterations: 4096, StoredKey: make([]byte, 20), ServerKey: make([]byte, 20)},
		{Hash: storage.HashSHA256, Salt: make([]byte, 16), Iterations: 4096, StoredKey: make([]byte, 32), ServerKey: make([]byte, 32)},
		{Hash: storage.HashSHA512, Salt: make([]byte, 16), Iterations: 4096, StoredKey: make([]byte, 64), ServerKey: make([]byte, 64)},
	}
	ctx := context.Background()
	for i := range 1000 {
		if err := s.CreateAccount(ctx, "example.org", fmt.Sprint("user", i), creds); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("Serial", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.Account(ctx, "example.org", "user500"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.Account(ctx, "example.org", "user500"); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

func TestRosterPruning(t *testing.T) {
	const keep = 5
	storagetest.RunRosterPruning(t, keep, func(t *testing.T) storage.Store {
		s := openTemp(t, filepath.Join(t.TempDir(), "parley.db"))
		s.keepTombstones = keep
		return s
	})
}

// TestUpgradeFrom0001 opens a file that has only the first migration and
// an account in it, as a release before the roster had: the account comes
// through the upgrade and gets the new areas.
func TestUpgradeFrom0001(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "parley.db")
	db, err := openPool(path, writeParams(), 1)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := applyMigrations(ctx, tx, ms[:1]); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO accounts (host, username, created_at) VALUES ('example.org', 'alice', 0)`); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s := openTemp(t, path)
	_, v, err := s.UpdateRosterItem(ctx, "example.org", "alice", "bob@example.net",
		func(*storage.RosterItem) (*storage.RosterItem, error) {
			return &storage.RosterItem{Subscription: storage.SubBoth}, nil
		})
	if err != nil || v <= 0 {
		t.Fatalf("UpdateRosterItem after upgrade: %d, %v", v, err)
	}
	if err := s.PushOffline(ctx, "example.org", "alice", []byte("<message/>"), time.Now(), 10); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAccount(ctx, "example.org", "alice"); err != nil {
		t.Fatal(err)
	}
	var left int
	err = s.read.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM rosters) + (SELECT count(*) FROM roster_items) +
		(SELECT count(*) FROM offline_messages)`).Scan(&left)
	if err != nil || left != 0 {
		t.Errorf("rows left after DeleteAccount: %d, %v", left, err)
	}
}

func BenchmarkUpdateRosterItem(b *testing.B) {
	s := openTemp(b, filepath.Join(b.TempDir(), "parley.db"))
	storagetest.BenchmarkUpdateRosterItem(b, s)
}

func BenchmarkPushOffline(b *testing.B) {
	s := openTemp(b, filepath.Join(b.TempDir(), "parley.db"))
	storagetest.BenchmarkPushOffline(b, s)
}
