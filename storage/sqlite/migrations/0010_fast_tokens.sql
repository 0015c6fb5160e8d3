-- XEP-0484 (FAST) tokens, kept as SHA-256 hashes (key), never in the
-- clear. A client (agent_id: its XEP-0388 user-agent id) holds at most one
-- used and one unused token, plus older ones about to be deleted. Times are
-- Unix microseconds, as in accounts; used is 0 or 1.
CREATE TABLE fast_tokens (
	host      TEXT    NOT NULL,
	username  TEXT    NOT NULL,
	agent_id  TEXT    NOT NULL,
	key       BLOB    NOT NULL,
	mechanism TEXT    NOT NULL,
	expires   INTEGER NOT NULL,
	used      INTEGER NOT NULL CHECK (used IN (0, 1)),
	count     INTEGER NOT NULL CHECK (count >= 0),
	PRIMARY KEY (host, username, agent_id, key),
	FOREIGN KEY (host, username) REFERENCES accounts (host, username) ON DELETE CASCADE
);
