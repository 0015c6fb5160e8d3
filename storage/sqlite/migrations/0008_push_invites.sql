-- Push registrations (XEP-0357) and invitations (XEP-0401, XEP-0445).
--
-- push_registrations: one row per device registration, keyed by the push
-- service and node; options is the serialized publish-options form (NULL
-- when none). It hangs off accounts, so DeleteAccount removes it.
CREATE TABLE push_registrations (
	host       TEXT    NOT NULL,
	username   TEXT    NOT NULL,
	service    TEXT    NOT NULL,
	node       TEXT    NOT NULL,
	options    BLOB,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (host, username, service, node),
	FOREIGN KEY (host, username) REFERENCES accounts (host, username) ON DELETE CASCADE
) WITHOUT ROWID;

-- invites: one row per invitation, keyed by the SHA-256 of its token (the
-- token itself is never stored). inviter and username are '' when unset.
-- Not tied to accounts: an invitation names an account that does not
-- exist yet, and the server's own have no inviter.
--   invites_reserved: InviteReserves;
--   invites_by_expiry: PurgeInvites.
CREATE TABLE invites (
	host       TEXT    NOT NULL,
	token_hash TEXT    NOT NULL,
	inviter    TEXT    NOT NULL,
	username   TEXT    NOT NULL,
	register   INTEGER NOT NULL CHECK (register IN (0, 1)),
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	PRIMARY KEY (host, token_hash)
) WITHOUT ROWID;
CREATE INDEX invites_reserved ON invites (host, username) WHERE username <> '';
CREATE INDEX invites_by_expiry ON invites (expires_at);
CREATE INDEX invites_by_inviter ON invites (host, inviter) WHERE inviter <> '';

-- An account's invitations go with it: a name deleted and registered
-- again must not inherit its predecessor's contact invitations.
CREATE TRIGGER invites_inviter_deleted AFTER DELETE ON accounts
BEGIN
	DELETE FROM invites WHERE host = old.host AND inviter = old.username;
END;
