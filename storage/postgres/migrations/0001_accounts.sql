-- Accounts and their SCRAM credentials.
--
-- Every text key column uses the "C" collation: it compares bytes, so
-- usernames are matched exactly and listed in byte order, as the storage
-- interface requires, whatever the database's default collation is. It is
-- also what lets ListAccounts' ORDER BY read the primary key index in order
-- instead of sorting. The primary keys are the only indexes needed:
--   accounts (host, username)          serves Account, AccountExists,
--                                      DeleteAccount, the row lock in
--                                      SetCredentials and ListAccounts;
--   credentials (host, username, hash) serves the credential join, the
--                                      delete in SetCredentials and the
--                                      ON DELETE CASCADE lookup.

CREATE TABLE accounts (
	host       text COLLATE "C" NOT NULL,
	username   text COLLATE "C" NOT NULL,
	created_at timestamptz      NOT NULL,
	PRIMARY KEY (host, username)
);

CREATE TABLE credentials (
	host       text COLLATE "C" NOT NULL,
	username   text COLLATE "C" NOT NULL,
	hash       text COLLATE "C" NOT NULL,
	salt       bytea            NOT NULL,
	iterations integer          NOT NULL CHECK (iterations > 0),
	stored_key bytea            NOT NULL,
	server_key bytea            NOT NULL,
	PRIMARY KEY (host, username, hash),
	FOREIGN KEY (host, username) REFERENCES accounts (host, username) ON DELETE CASCADE
);
