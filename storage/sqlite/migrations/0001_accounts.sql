-- Accounts and their SCRAM credentials.
--
-- Text columns use SQLite's default BINARY collation, which compares with
-- memcmp: usernames are matched and listed in byte order, as the storage
-- interface requires. WITHOUT ROWID clusters each table on its primary key,
-- so the key is the only index needed:
--   accounts (host, username)          serves Account, AccountExists,
--                                      DeleteAccount and ListAccounts (a
--                                      range scan on host, already in order);
--   credentials (host, username, hash) serves the credential join, the
--                                      delete in SetCredentials and the
--                                      ON DELETE CASCADE lookup.
-- created_at is Unix time in microseconds, the precision PostgreSQL keeps,
-- so both backends return the same value.

CREATE TABLE accounts (
	host       TEXT    NOT NULL,
	username   TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (host, username)
) WITHOUT ROWID;

CREATE TABLE credentials (
	host       TEXT    NOT NULL,
	username   TEXT    NOT NULL,
	hash       TEXT    NOT NULL,
	salt       BLOB    NOT NULL,
	iterations INTEGER NOT NULL CHECK (iterations > 0),
	stored_key BLOB    NOT NULL,
	server_key BLOB    NOT NULL,
	PRIMARY KEY (host, username, hash),
	FOREIGN KEY (host, username) REFERENCES accounts (host, username) ON DELETE CASCADE
) WITHOUT ROWID;
