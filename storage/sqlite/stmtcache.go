package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"sync"
)

// stmtCache keeps the statements that transactions on one pool run, so
// that SQLite parses each query once per connection instead of once per
// call: parsing was a third of UpdateRosterItem's CPU time.
//
// A query is prepared only after the transaction that first ran it has
// ended. Preparing takes a connection, and the write pool has only one,
// held by the transaction: preparing from inside it would wait forever. The
// read pool could deadlock the same way with every connection in a
// transaction. The queries are the constant strings of this package, so
// the cache stays small.
type stmtCache struct {
	db *sql.DB

	mu      sync.Mutex
	stmts   map[string]*sql.Stmt
	missing map[string]bool
}

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, stmts: map[string]*sql.Stmt{}, missing: map[string]bool{}}
}

// lookup returns the prepared statement for query, or nil after noting
// that it is wanted.
func (c *stmtCache) lookup(query string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.stmts[query]
	if st == nil {
		c.missing[query] = true
	}
	return st
}

// prepareMissing prepares the queries noted since the last call. It must
// be called with no connection of the pool held. A query that fails to
// prepare (the context ended, or the query is wrong and fails when run
// too) is tried again next time.
func (c *stmtCache) prepareMissing(ctx context.Context) {
	c.mu.Lock()
	var queries []string
	for q := range c.missing {
		queries = append(queries, q)
	}
	clear(c.missing)
	c.mu.Unlock()
	for _, q := range queries {
		st, err := c.db.PrepareContext(ctx, q)
		c.mu.Lock()
		switch {
		case err != nil:
			c.missing[q] = true
		case c.stmts[q] == nil:
			c.stmts[q] = st
			st = nil
		}
		c.mu.Unlock()
		if st != nil {
			st.Close() // prepared by a concurrent call too
		}
	}
}

func (c *stmtCache) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for _, st := range c.stmts {
		errs = append(errs, st.Close())
	}
	clear(c.stmts)
	return errors.Join(errs...)
}

// cachedTx is a transaction that runs queries through a stmtCache.
type cachedTx struct {
	tx    *sql.Tx
	cache *stmtCache
}

func (t cachedTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := t.cache.lookup(query); st != nil {
		return t.tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return t.tx.ExecContext(ctx, query, args...)
}

func (t cachedTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := t.cache.lookup(query); st != nil {
		return t.tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return t.tx.QueryContext(ctx, query, args...)
}

func (t cachedTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := t.cache.lookup(query); st != nil {
		return t.tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return t.tx.QueryRowContext(ctx, query, args...)
}
