package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"

	"parley.im/parley/storage"
	"parley.im/parley/storage/storagetest"
)

// testDSN is the server the tests use: PARLEY_TEST_POSTGRES_DSN, or a local
// server with trust authentication.
func testDSN() string {
	if dsn := os.Getenv("PARLEY_TEST_POSTGRES_DSN"); dsn != "" {
		return dsn
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// unreachable skips the test when there is no server, except in CI, where a
// missing server must fail the run instead of passing it silently.
func unreachable(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("PostgreSQL unreachable (CI=true, so this fails instead of skipping): %v", err)
	}
	t.Skipf("PostgreSQL unreachable, set PARLEY_TEST_POSTGRES_DSN: %v", err)
}

// reachable connects once per test process, so that without a server the
// tests skip (or fail) at once instead of each waiting to time out.
var reachable = sync.OnceValue(func() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, testDSN())
	if err != nil {
		return err
	}
	return conn.Close(ctx)
})

func requirePostgres(t testing.TB) {
	t.Helper()
	if err := reachable(); err != nil {
		unreachable(t, err)
	}
}

// freshSchema creates an empty schema with a unique name and drops it when
// the test ends, so tests in this and other processes never share tables.
func freshSchema(t testing.TB) string {
	t.Helper()
	requirePostgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, testDSN())
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(context.Background())
	schema := "parley_test_" + randomHex(8)
	ident := pgx.Identifier{schema}.Sanitize()
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+ident); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() { dropSchema(t, ident) })
	return schema
}

func dropSchema(t testing.TB, ident string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, testDSN())
	if err != nil {
		t.Errorf("drop schema %s: %v", ident, err)
		return
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "DROP SCHEMA "+ident+" CASCADE"); err != nil {
		t.Errorf("drop schema %s: %v", ident, err)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// openStore opens a store on schema. Its cleanup is registered after the
// schema's, so it runs first: the pool is closed before the schema goes.
func openStore(t testing.TB, schema string, migrate bool) *Store {
	t.Helper()
	s, err := Open(context.Background(), Config{DSN: testDSN(), Schema: schema, MaxConns: 8, MigrateOnOpen: migrate})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	requirePostgres(t)
	storagetest.Run(t, func(t *testing.T) storage.Store {
		return openStore(t, freshSchema(t), true)
	})
}

// TestConcurrentMigrate starts four stores on one fresh schema, as four
// processes would, and migrates them at once.
func TestConcurrentMigrate(t *testing.T) {
	schema := freshSchema(t)
	stores := make([]*Store, 4)
	for i := range stores {
		stores[i] = openStore(t, schema, false)
	}
	var wg sync.WaitGroup
	for _, s := range stores {
		wg.Go(func() {
			if err := s.Migrate(t.Context()); err != nil {
				t.Errorf("Migrate: %v", err)
			}
		})
	}
	wg.Wait()

	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		t.Fatal(err)
	}
	var count, distinct, maxVersion int
	err = stores[0].pool.QueryRow(t.Context(),
		`SELECT count(*), count(DISTINCT version), max(version) FROM schema_migrations`).Scan(&count, &distinct, &maxVersion)
	if err != nil {
		t.Fatal(err)
	}
	if count != len(ms) || distinct != len(ms) || maxVersion != len(ms) {
		t.Errorf("schema_migrations: %d rows, %d versions, max %d; want %d of each", count, distinct, maxVersion, len(ms))
	}
	for i, s := range stores {
		if err := s.CreateAccount(t.Context(), "example.org", fmt.Sprint("user", i), nil); err != nil {
			t.Errorf("store %d after migration: %v", i, err)
		}
	}
}

// TestWithoutMigrate checks that MigrateOnOpen=false leaves the schema alone
// and that a missing table is an error, never "no such account".
func TestWithoutMigrate(t *testing.T) {
	s := openStore(t, freshSchema(t), false)
	_, err := s.Account(t.Context(), "example.org", "alice")
	if err == nil || errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Account on an unmigrated schema: %v, want a non-sentinel error", err)
	}
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	_, err = s.Account(t.Context(), "example.org", "alice")
	if !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Account after Migrate: %v, want ErrNotFound", err)
	}
}

// TestTablesInConfiguredSchema checks that Schema is honoured and that the
// key columns compare bytes whatever the database's default collation: the
// test database may well be created with a C-like default, which would hide
// a missing COLLATE "C" from the conformance suite.
func TestTablesInConfiguredSchema(t *testing.T) {
	schema := freshSchema(t)
	s := openStore(t, schema, true)
	rows, err := s.pool.Query(t.Context(), `
		SELECT table_name || '.' || column_name, coalesce(collation_name, '')
		FROM information_schema.columns
		WHERE table_schema = $1 AND data_type = 'text'
		ORDER BY 1`, schema)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for rows.Next() {
		var column, collation string
		if err := rows.Scan(&column, &collation); err != nil {
			t.Fatal(err)
		}
		got[column] = collation
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, column := range []string{"accounts.host", "accounts.username", "credentials.host", "credentials.username", "credentials.hash",
		"roster_items.contact", "blocklist.jid", "account_data.kind", "account_data.key"} {
		if _, ok := got[column]; !ok {
			t.Errorf("no text column %s in schema %s", column, schema)
		}
	}
	for column, collation := range got {
		if collation != "C" {
			t.Errorf("%s in schema %s: collation %q, want C", column, schema, collation)
		}
	}
}

// TestOpenErrorsHideThePassword feeds Open a DSN with a password, first
// unparsable, then pointing at a port where nothing listens.
func TestOpenErrorsHideThePassword(t *testing.T) {
	const secret = "s3cr3t-pw"
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for _, dsn := range []string{
		"postgres://parley:" + secret + "@127.0.0.1:notaport/db",
		"postgres://parley:" + secret + "@127.0.0.1:1/db?sslmode=disable&connect_timeout=2",
	} {
		_, err := Open(ctx, Config{DSN: dsn})
		if err == nil {
			t.Fatalf("Open(%q) succeeded", dsn)
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("Open error reveals the password: %v", err)
		}
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

func BenchmarkAccount(b *testing.B) {
	s := openStore(b, freshSchema(b), true)
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
	if _, err := s.pool.Exec(ctx, "ANALYZE"); err != nil {
		b.Fatal(err)
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
	requirePostgres(t)
	const keep = 5
	storagetest.RunRosterPruning(t, keep, func(t *testing.T) storage.Store {
		s := openStore(t, freshSchema(t), true)
		s.keepTombstones = keep
		return s
	})
}

// TestUpgradeFrom0001 migrates a schema that has only the first migration
// and an account in it, as a release before the roster had: the account
// comes through the upgrade and gets the new areas.
func TestUpgradeFrom0001(t *testing.T) {
	ctx := t.Context()
	s := openStore(t, freshSchema(t), false)
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		t.Fatal(err)
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := applyMigrations(ctx, tx, ms[:1]); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO accounts (host, username, created_at) VALUES ('example.org', 'alice', now())`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
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
	err = s.pool.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM rosters) + (SELECT count(*) FROM roster_items) +
		(SELECT count(*) FROM offline_messages)`).Scan(&left)
	if err != nil || left != 0 {
		t.Errorf("rows left after DeleteAccount: %d, %v", left, err)
	}
}

func BenchmarkUpdateRosterItem(b *testing.B) {
	s := openStore(b, freshSchema(b), true)
	storagetest.BenchmarkUpdateRosterItem(b, s)
}

func BenchmarkPushOffline(b *testing.B) {
	s := openStore(b, freshSchema(b), true)
	storagetest.BenchmarkPushOffline(b, s)
}
