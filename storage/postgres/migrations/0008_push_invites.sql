-- Push registrations (XEP-0357) and invitations (XEP-0401, XEP-0445).
--
-- push_registrations: one row per device registration, keyed by the push
-- service and node; options is the serialized publish-options form (NULL
-- when none). It hangs off accounts, so DeleteAccount removes it.
CREATE TABLE push_registrations (
	host       text COLLATE "C" NOT NULL,
	username   text COLLATE "C" NOT NULL,
	service    text COLLATE "C" NOT NULL,
	node       text COLLATE "C" NOT NULL,
	options    bytea,
	created_at timestamptz      NOT NULL,
	PRIMARY KEY (host, username, service, node),
	FOREIGN KEY (host, username) REFERENCES accounts (host, username) ON DELETE CASCADE
);

-- invites: one row per invitation, keyed by the SHA-256 of its token (the
-- token itself is never stored). inviter and username are '' when unset.
-- Not tied to accounts: an invitation names an account that does not
-- exist yet, and the server's own have no inviter.
CREATE TABLE invites (
	host       text COLLATE "C" NOT NULL,
	token_hash text COLLATE "C" NOT NULL,
	inviter    text COLLATE "C" NOT NULL,
	username   text COLLATE "C" NOT NULL,
	register   boolean          NOT NULL,
	created_at timestamptz      NOT NULL,
	expires_at timestamptz      NOT NULL,
	PRIMARY KEY (host, token_hash)
);
CREATE INDEX invites_reserved ON invites (host, username) WHERE username <> '';
CREATE INDEX invites_by_expiry ON invites (expires_at);
CREATE INDEX invites_by_inviter ON invites (host, inviter) WHERE inviter <> '';

-- An account's invitations go with it: a name deleted and registered
-- again must not inherit its predecessor's contact invitations.
CREATE FUNCTION invites_inviter_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	DELETE FROM invites WHERE host = OLD.host AND inviter = OLD.username;
	RETURN NULL;
END;
$$;
CREATE TRIGGER invites_inviter_deleted AFTER DELETE ON accounts
	FOR EACH ROW EXECUTE FUNCTION invites_inviter_deleted();
