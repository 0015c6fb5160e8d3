package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"parley.im/parley/storage"
)

// CreateAccount implements storage.Accounts. ON CONFLICT DO NOTHING turns a
// taken username into zero inserted rows rather than an error, which would
// abort the transaction and be logged by the server at every failed
// registration. A concurrent insert of the same key waits for the other
// transaction and then inserts nothing if that one committed.
func (s *Store) CreateAccount(ctx context.Context, host, username string, creds []storage.Credential) error {
	if err := checkCredentials(creds); err != nil {
		return err
	}
	created := time.Now().UTC()
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			INSERT INTO accounts (host, username, created_at) VALUES ($1, $2, $3)
			ON CONFLICT DO NOTHING`,
			host, username, created)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return storage.ErrConflict
		}
		return insertCredentials(ctx, tx, host, username, creds)
	})
	if isUniqueViolation(err) {
		return storage.ErrConflict
	}
	return wrap("create account", err)
}

// Account implements storage.Accounts. One query returns the account and
// its credentials together: one round trip per login, and one snapshot, so
// a concurrent SetCredentials is seen wholly or not at all.
func (s *Store) Account(ctx context.Context, host, username string) (storage.Account, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT a.created_at, c.hash, c.salt, c.iterations, c.stored_key, c.server_key
		FROM accounts AS a
		LEFT JOIN credentials AS c ON c.host = a.host AND c.username = a.username
		WHERE a.host = $1 AND a.username = $2
		ORDER BY c.hash`,
		host, username)
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
func scanAccount(rows pgx.Rows) (storage.Account, error) {
	defer rows.Close()
	var a storage.Account
	found := false
	for rows.Next() {
		var (
			hash       *string
			iterations *int32
			c          storage.Credential
		)
		if err := rows.Scan(&a.Created, &hash, &c.Salt, &iterations, &c.StoredKey, &c.ServerKey); err != nil {
			return storage.Account{}, err
		}
		found = true
		if hash != nil && iterations != nil {
			c.Hash, c.Iterations = *hash, int(*iterations)
			a.Credentials = append(a.Credentials, c)
		}
	}
	if err := rows.Err(); err != nil {
		return storage.Account{}, err
	}
	if !found {
		return storage.Account{}, storage.ErrNotFound
	}
	a.Created = a.Created.UTC()
	return a, nil
}

// AccountExists implements storage.Accounts.
func (s *Store) AccountExists(ctx context.Context, host, username string) (bool, error) {
	var exists bool
	err := s.pool.QueryRow(ctx,
		`SELECT EXISTS (SELECT 1 FROM accounts WHERE host = $1 AND username = $2)`,
		host, username).Scan(&exists)
	return exists, wrap("account exists", err)
}

// SetCredentials implements storage.Accounts. The account row is locked
// first: two password changes then run one after the other (under READ
// COMMITTED, the second's delete would otherwise miss the first's new rows
// and its insert collide with them), and a concurrent DeleteAccount either
// waits for the change or makes it report ErrNotFound. FOR NO KEY UPDATE is
// enough for both and, unlike FOR UPDATE, does not block inserts elsewhere
// that merely reference the account.
func (s *Store) SetCredentials(ctx context.Context, host, username string, creds []storage.Credential) error {
	if err := checkCredentials(creds); err != nil {
		return err
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var one int32
		err := tx.QueryRow(ctx, `
			SELECT 1 FROM accounts WHERE host = $1 AND username = $2
			FOR NO KEY UPDATE`,
			host, username).Scan(&one)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx,
			`DELETE FROM credentials WHERE host = $1 AND username = $2`,
			host, username); err != nil {
			return err
		}
		// A FAST token must not outlive the password it was got with.
		if _, err := tx.Exec(ctx,
			`DELETE FROM fast_tokens WHERE host = $1 AND username = $2`,
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
	tag, err := s.pool.Exec(ctx,
		`DELETE FROM accounts WHERE host = $1 AND username = $2`,
		host, username)
	if err != nil {
		return wrap("delete account", err)
	}
	if tag.RowsAffected() == 0 {
		return storage.ErrNotFound
	}
	return nil
}

// ListAccounts implements storage.Accounts. The columns' "C" collation
// orders usernames byte by byte, the order of the primary key index.
func (s *Store) ListAccounts(ctx context.Context, host string) ([]string, error) {
	rows, err := s.pool.Query(ctx,
		`SELECT username FROM accounts WHERE host = $1 ORDER BY username`, host)
	if err != nil {
		return nil, wrap("list accounts", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return names, wrap("list accounts", err)
}

// insertCredentials inserts a whole set in one statement, passing each
// field as an array that unnest turns back into rows.
func insertCredentials(ctx context.Context, tx pgx.Tx, host, username string, creds []storage.Credential) error {
	if len(creds) == 0 {
		return nil
	}
	var (
		hashes     = make([]string, len(creds))
		salts      = make([][]byte, len(creds))
		iterations = make([]int32, len(creds))
		storedKeys = make([][]byte, len(creds))
		serverKeys = make([][]byte, len(creds))
	)
	for i, c := range creds {
		// checkCredentials bounds Iterations to int32.
		hashes[i], salts[i], iterations[i] = c.Hash, c.Salt, int32(c.Iterations)
		storedKeys[i], serverKeys[i] = c.StoredKey, c.ServerKey
	}
	_, err := tx.Exec(ctx, `
		INSERT INTO credentials (host, username, hash, salt, iterations, stored_key, server_key)
		SELECT $1, $2, c.hash, c.salt, c.iterations, c.stored_key, c.server_key
		FROM unnest($3::text[], $4::bytea[], $5::integer[], $6::bytea[], $7::bytea[])
			AS c (hash, salt, iterations, stored_key, server_key)`,
		host, username, hashes, salts, iterations, storedKeys, serverKeys)
	return err
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
	case errors.Is(err, pgx.ErrNoRows):
		return storage.ErrNotFound
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

// isUniqueViolation reports SQLSTATE 23505. CreateAccount's insert cannot
// raise it (ON CONFLICT DO NOTHING) and checkCredentials keeps duplicate
// hashes out, so this is a safety net that keeps a duplicate key reported
// as storage.ErrConflict should either ever change.
func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}

// isForeignKeyViolation reports SQLSTATE 23503. The writes that add data
// to an account check for the account in the same statement; this catches
// an account deleted by a transaction that committed after that check but
// before the foreign key's, so that it too is reported as ErrNotFound.
func isForeignKeyViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23503"
}
