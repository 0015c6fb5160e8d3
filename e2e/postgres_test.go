package e2e_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"parley.im/parley/config"
)

// postgresDSN is the server the PostgreSQL tests use, as in
// storage/postgres: PARLEY_TEST_POSTGRES_DSN, or a local server with trust
// authentication.
func postgresDSN() string {
	if dsn := os.Getenv("PARLEY_TEST_POSTGRES_DSN"); dsn != "" {
		return dsn
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// withPostgres creates an empty schema, dropped when the test ends, and
// returns a configuration function that points the server's storage at
// it: the schema goes on the search_path through the DSN's libpq options
// (-c search_path=...), since the server's configuration has no schema
// setting. Without a reachable server the test is skipped, except under
// CI=true, where it fails.
func withPostgres(t *testing.T) func(*config.Config) {
	t.Helper()
	base := postgresDSN()
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(c, base)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL unreachable (CI=true, so this fails instead of skipping): %v", err)
		}
		t.Skipf("PostgreSQL unreachable, set PARLEY_TEST_POSTGRES_DSN: %v", err)
	}
	defer conn.Close(context.Background())
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	schema := "parley_e2e_" + hex.EncodeToString(b)
	ident := pgx.Identifier{schema}.Sanitize()
	if _, err := conn.Exec(c, "CREATE SCHEMA "+ident); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(c, base)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(c, "DROP SCHEMA "+ident+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	dsn := withSearchPath(t, base, schema)
	return func(cfg *config.Config) {
		cfg.Storage.Backend = "postgres"
		cfg.Storage.Postgres.DSN = dsn
	}
}

// withSearchPath adds options=-csearch_path=schema to a postgres:// URL or
// a key=value DSN.
func withSearchPath(t *testing.T, dsn, schema string) string {
	t.Helper()
	opt := "-csearch_path=" + schema
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatalf("PARLEY_TEST_POSTGRES_DSN is not a valid URL")
		}
		q := u.Query()
		q.Set("options", opt)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return dsn + " options='" + opt + "'"
}
