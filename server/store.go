package server

import (
	"context"
	"fmt"

	"parley.im/parley/config"
	"parley.im/parley/storage"
	"parley.im/parley/storage/postgres"
	"parley.im/parley/storage/sqlite"
)

// OpenStore opens the configured storage backend. With migrate, the schema
// is brought up to date (the embedded SQLite backend always migrates on
// open: it is its own single user).
func OpenStore(ctx context.Context, cfg *config.Config, migrate bool) (storage.Store, error) {
	switch cfg.Storage.Backend {
	case "postgres":
		st, err := postgres.Open(ctx, postgres.Config{
			DSN:           cfg.Storage.Postgres.DSN,
			MaxConns:      int32(cfg.Storage.Postgres.MaxConns),
			MigrateOnOpen: migrate,
		})
		if err != nil {
			return nil, fmt.Errorf("open postgres storage: %w", err)
		}
		return st, nil
	case "sqlite", "":
		st, err := sqlite.Open(ctx, cfg.SQLitePath())
		if err != nil {
			return nil, fmt.Errorf("open sqlite storage %s: %w", cfg.SQLitePath(), err)
		}
		return st, nil
	}
	return nil, fmt.Errorf("unknown storage backend %q", cfg.Storage.Backend)
}
