package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"parley.im/parley/storage"
)

// CreateAccount implements storage.Accounts.
func (s *Store) CreateAccount(ctx context.Context, host, username string, creds []storage.Credential) error {
	if err := checkCredentials(creds); err != nil {
		return err
	}
	created := time.Now().UnixMicro()
	err := s.inWriteTx(ctx, func(tx cachedTx) error {
		_, err := tx.ExecContext(ctx,
			`INSERT INTO accounts (host, username, created_at) VALUES (?, ?, ?)`,
			host, username, created)
		if isUniqueViolation(err) {
			return storage.ErrConflict
		}
		if err != nil {
			return err
		}
		return insertCredentials(ctx, tx, host, username, creds)
	})
	return wrap("create account", err)
}

// accountQuery returns the account and its credentials together, so the
// credentials come from one snapshot even while SetCredentials replaces them.
const accountQuery = `
	SELECT a.created_at, c.hash, c.salt, c.iterations, c.stored_key, c.server_key
	FROM accounts AS a
	LEFT JOIN credentials AS c ON c.host = a.host AND c.username = a.username
	WHERE a.host = ? AND a.username = ?
	ORDER BY c.hash`

// Account implements storage.Accounts.
func (s *Store) Account(ctx context.Context, host, username string) (storage.Account, error) {
	rows, err := s.account.QueryContext(ctx, host, username)
	if err != nil {
		return storage.Account{}, wrap("account", err)
	}
	a, err := scanAccount(rows)
	if err != nil {
		return storage.Account{}, wrap("account", err)
	}
	a.Host, a.Username = host, username
	return a, nil
}

// scanAccount reads the rows of the account query: one per credential, or
// a single row of NULL credential columns for an account without any.
func scanAccount(rows *sql.Rows) (storage.Account, error) {
	defer rows.Close()
	var a storage.Account
	found := false
	for rows.Next() {
		var (
			created    int64
			hash       sql.NullString
			iterations sql.NullInt64
			c          storage.Credential
		)
		if err := rows.Scan(&created, &hash, &c.Salt, &iterations, &c.StoredKey, &c.ServerKey); err != nil {
			return storage.Account{}, err
		}
		found = true
		a.Created = time.UnixMicro(created).UTC()
		if hash.Valid {
			c.Hash, c.Iterations = hash.String, int(iterations.Int64)
			a.Credentials = append(a.Credentials, c)
		}
	}
	if err := rows.Err(); err != nil {
		return storage.Account{}, err
	}
	if !found {
		return storage.Account{}, storage.ErrNotFound
	}
	return a, nil
}

// AccountExists implements storage.Accounts.
func (s *Store) AccountExists(ctx context.Context, host, username string) (bool, error) {
	var exists bool
	err := s.read.QueryRowContext(ctx,
		`SELECT EXISTS (SELECT 1 FROM accounts WHERE host = ? AND username = ?)`,
		host, username).Scan(&exists)
	return exists, wrap("account exists", err)
}

// SetCredentials implements storage.Accounts. Deleting and inserting in one
// transaction replaces the whole set at once for every reader.
func (s *Store) SetCredentials(ctx context.Context, host, username string, creds []storage.Credential) error {
	if err := checkCredentials(creds); err != nil {
		return err
	}
	err := s.inWriteTx(ctx, func(tx cachedTx) error {
		var one int
		err := tx.QueryRowContext(ctx,
			`SELECT 1 FROM accounts WHERE host = ? AND username = ?`,
			host, username).Scan(&one)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx,
			`DELETE FROM credentials WHERE host = ? AND username = ?`,
			host, username); err != nil {
			return err
		}
		// A FAST token must not outlive the password it was got with.
		if _, err := tx.ExecContext(ctx,
			`DELETE FROM fast_tokens WHERE host = ? AND username = ?`,
			host, username); err != nil {
			return err
		}
		return insertCredentials(ctx, tx, host, username, creds)
	})
	return wrap("set credentials", err)
}

// DeleteAccount implements storage.Accounts. ON DELETE CASCADE removes the
// credentials in the same statement.
func (s *Store) DeleteAccount(ctx context.Context, host, username string) error {
	res, err := s.write.ExecContext(ctx,
		`DELETE FROM accounts WHERE host = ? AND username = ?`,
		host, username)
	if err != nil {
		return wrap("delete account", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return wrap("delete account", err)
	}
	if n == 0 {
		return storage.ErrNotFound
	}
	return nil
}

// ListAccounts implements storage.Accounts. The BINARY collation orders
// usernames byte by byte, and the primary key already holds them in that
// order.
func (s *Store) ListAccounts(ctx context.Context, host string) ([]string, error) {
	rows, err := s.read.QueryContext(ctx,
		`SELECT username FROM accounts WHERE host = ? ORDER BY username`, host)
	if err != nil {
		return nil, wrap("list accounts", err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var u string
		if err := rows.Scan(&u); err != nil {
			return nil, wrap("list accounts", err)
		}
		names = append(names, u)
	}
	return names, wrap("list accounts", rows.Err())
}

func insertCredentials(ctx context.Context, tx cachedTx, host, username string, creds []storage.Credential) error {
	for _, c := range creds {
		_, err := tx.ExecContext(ctx, `
			INSERT INTO credentials (host, username, hash, salt, iterations, stored_key, server_key)
			VALUES (?, ?, ?, ?, ?, ?, ?)`,
			host, username, c.Hash, c.Salt, c.Iterations, c.StoredKey, c.ServerKey)
		if err != nil {
			return err
		}
	}
	return nil
}

// inWriteTx runs fn in a transaction on the write connection and commits it
// if fn returns nil. The transaction is rolled back however fn ends, a panic
// included: left open, it would hold the only write connection for good.
// Its queries go through the write pool's statement cache.
func (s *Store) inWriteTx(ctx context.Context, fn func(tx cachedTx) error) error {
	defer s.writeStmts.prepareMissing(ctx)
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(cachedTx{tx, s.writeStmts}); err != nil {
		return err
	}
	return tx.Commit()
}

// inReadTx runs fn in a transaction on a read connection, so that its
// queries all see one snapshot of the file.
func (s *Store) inReadTx(ctx context.Context, fn func(tx cachedTx) error) error {
	defer s.readStmts.prepareMissing(ctx)
	tx, err := s.read.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	return fn(cachedTx{tx, s.readStmts})
}

// wrap turns what the driver returned into what callers may see: the
// storage sentinels unchanged, a missing row as storage.ErrNotFound, and
// anything else wrapped with the operation for the log.
func wrap(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, storage.ErrNotFound), errors.Is(err, storage.ErrConflict), errors.Is(err, storage.ErrQuota):
		return err
	case errors.Is(err, sql.ErrNoRows):
		return storage.ErrNotFound
	}
	return fmt.Errorf("sqlite: %s: %w", op, err)
}

func isUniqueViolation(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	code := e.Code()
	return code == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY || code == sqlite3.SQLITE_CONSTRAINT_UNIQUE
}
