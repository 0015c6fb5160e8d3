-- XEP-0484 (FAST) tokens, kept as SHA-256 hashes (key), never in the
-- clear. A client (agent_id: its XEP-0388 user-agent id) holds at most one
-- used and one unused token, plus older ones about to be deleted. The
-- primary key serves every query (all are per client) and the ON DELETE
-- CASCADE lookup.
CREATE TABLE fast_tokens (
	host      text COLLATE "C" NOT NULL,
	username  text COLLATE "C" NOT NULL,
	agent_id  text COLLATE "C" NOT NULL,
	key       bytea            NOT NULL,
	mechanism text COLLATE "C" NOT NULL,
	expires   timestamptz      NOT NULL,
	used      boolean          NOT NULL,
	count     bigint           NOT NULL CHECK (count >= 0),
	PRIMARY KEY (host, username, agent_id, key),
	FOREIGN KEY (host, username) REFERENCES accounts (host, username) ON DELETE CASCADE
);
