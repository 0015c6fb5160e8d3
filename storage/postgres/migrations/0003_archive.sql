-- Message archives (XEP-0313) and archiving preferences (XEP-0441).
--
-- archive: one row per archived message of one owner. seq comes from an
-- identity sequence: it orders entries of equal stamp in the order they
-- were appended, and is never shown; id is the archive UID the caller
-- chose, unique per owner. with_jid is the other party's bare JID and
-- with_resource its resource ('' when none). Text columns use the "C"
-- collation, as elsewhere.
--   archive_by_id (unique):   the UID lookups of after/before/ids, and
--                             ON CONFLICT of appends;
--   archive_by_time:          queries without 'with', in archive order
--                             (owner, stamp, seq), and the metadata;
--   archive_by_with:          queries with 'with';
--   archive_by_stamp:         retention purges across every archive.
-- The foreign key removes the archive with the account.
CREATE TABLE archive (
	seq           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	host          text COLLATE "C" NOT NULL,
	username      text COLLATE "C" NOT NULL,
	id            text COLLATE "C" NOT NULL,
	with_jid      text COLLATE "C" NOT NULL,
	with_resource text COLLATE "C" NOT NULL,
	direction     smallint         NOT NULL CHECK (direction IN (1, 2)),
	origin_id     text COLLATE "C" NOT NULL,
	stamp         timestamptz      NOT NULL,
	stanza        bytea            NOT NULL,
	FOREIGN KEY (host, username) REFERENCES accounts (host, username) ON DELETE CASCADE
);
CREATE UNIQUE INDEX archive_by_id ON archive (host, username, id);
CREATE INDEX archive_by_time ON archive (host, username, stamp, seq);
CREATE INDEX archive_by_with ON archive (host, username, with_jid, stamp, seq);
CREATE INDEX archive_by_stamp ON archive (stamp);

-- A user's preferences, once set: the default, and the JIDs always
-- (always = true) or never (always = false) archived.
CREATE TABLE archive_prefs (
	host         text COLLATE "C" NOT NULL,
	username     text COLLATE "C" NOT NULL,
	default_mode text COLLATE "C" NOT NULL CHECK (default_mode IN ('always', 'never', 'roster')),
	PRIMARY KEY (host, username),
	FOREIGN KEY (host, username) REFERENCES accounts (host, username) ON DELETE CASCADE
);

CREATE TABLE archive_pref_jids (
	host     text COLLATE "C" NOT NULL,
	username text COLLATE "C" NOT NULL,
	jid      text COLLATE "C" NOT NULL,
	always   boolean          NOT NULL,
	PRIMARY KEY (host, username, jid),
	FOREIGN KEY (host, username) REFERENCES archive_prefs (host, username) ON DELETE CASCADE
);
