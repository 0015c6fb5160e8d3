package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"parley.im/parley/storage"
)

// Config says how to reach the database.
type Config struct {
	// DSN is a libpq connection string or postgres:// URL.
	DSN string
	// MaxConns caps the pool; zero keeps pgxpool's default, the larger of 4
	// and the number of CPUs.
	MaxConns int32
	// Schema, if set, is the only schema on the search_path: the tables are
	// created and used there. It must already exist. Tests use it to give
	// each store its own empty schema.
	Schema string
	// MigrateOnOpen runs Migrate before Open returns. Leave it off where
	// migrations are applied by a separate `parley migrate` step.
	MigrateOnOpen bool
}

// Store is a storage.Store in PostgreSQL, through a pgx connection pool.
type Store struct {
	pool *pgxpool.Pool

	// keepTombstones is how many tombstones, the newest, each roster
	// keeps; tests lower it.
	keepTombstones int
}

var _ storage.Store = (*Store)(nil)

// Open connects to the database and checks that it answers. It does not
// keep the DSN, and its errors never quote it, since it may hold a password.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	pc, err := poolConfig(cfg)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	s := &Store{pool: pool, keepTombstones: storage.MinRosterTombstones}
	if err := s.Ping(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	if cfg.MigrateOnOpen {
		if err := s.Migrate(ctx); err != nil {
			pool.Close()
			return nil, err
		}
	}
	return s, nil
}

func poolConfig(cfg Config) (*pgxpool.Config, error) {
	pc, err := pgxpool.ParseConfig(cfg.DSN)
	if err != nil {
		// pgx redacts passwords from parse errors only on a best-effort
		// basis, so its text stays out of the error.
		return nil, errors.New("postgres: cannot parse the DSN (details withheld: it may contain a password)")
	}
	if cfg.MaxConns > 0 {
		pc.MaxConns = cfg.MaxConns
	}
	if cfg.Schema != "" {
		// Sent in the startup message, so every pooled connection has it
		// before its first statement.
		pc.ConnConfig.RuntimeParams["search_path"] = pgx.Identifier{cfg.Schema}.Sanitize()
	}
	if pc.ConnConfig.RuntimeParams["application_name"] == "" {
		pc.ConnConfig.RuntimeParams["application_name"] = "parley"
	}
	return pc, nil
}

// Ping implements storage.Store.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

// Close implements storage.Store. It waits for connections in use to be
// returned to the pool.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}
