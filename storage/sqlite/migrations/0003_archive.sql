-- Message archives (XEP-0313) and archiving preferences (XEP-0441).
--
-- archive: one row per archived message of one owner. seq is the rowid:
-- it orders entries of equal stamp in the order they were appended, and is
-- never shown; id is the archive UID the caller chose, unique per owner.
-- with_jid is the other party's bare JID and with_resource its resource
-- ('' when none). stamp is Unix microseconds, as elsewhere.
--   archive_by_id (unique):   the UID lookups of after/before/ids, and
--                             the duplicate check of appends;
--   archive_by_time:          queries without 'with', in archive order
--                             (owner, stamp, seq), and the metadata;
--   archive_by_with:          queries with 'with';
--   archive_by_stamp:         retention purges across every archive.
-- The foreign key removes the archive with the account.
CREATE TABLE archive (
	seq           INTEGER PRIMARY KEY,
	host          TEXT    NOT NULL,
	username      TEXT    NOT NULL,
	id            TEXT    NOT NULL,
	with_jid      TEXT    NOT NULL,
	with_resource TEXT    NOT NULL,
	direction     INTEGER NOT NULL CHECK (direction IN (1, 2)),
	origin_id     TEXT    NOT NULL,
	stamp         INTEGER NOT NULL,
	stanza        BLOB    NOT NULL,
	FOREIGN KEY (host, username) REFERENCES accounts (host, username) ON DELETE CASCADE
);
CREATE UNIQUE INDEX archive_by_id ON archive (host, username, id);
CREATE INDEX archive_by_time ON archive (host, username, stamp, seq);
CREATE INDEX archive_by_with ON archive (host, username, with_jid, stamp, seq);
CREATE INDEX archive_by_stamp ON archive (stamp);

-- A user's preferences, once set: the default, and the JIDs always
-- (always = 1) or never (always = 0) archived.
CREATE TABLE archive_prefs (
	host         TEXT NOT NULL,
	username     TEXT NOT NULL,
	default_mode TEXT NOT NULL CHECK (default_mode IN ('always', 'never', 'roster')),
	PRIMARY KEY (host, username),
	FOREIGN KEY (host, username) REFERENCES accounts (host, username) ON DELETE CASCADE
) WITHOUT ROWID;

CREATE TABLE archive_pref_jids (
	host     TEXT    NOT NULL,
	username TEXT    NOT NULL,
	jid      TEXT    NOT NULL,
	always   INTEGER NOT NULL CHECK (always IN (0, 1)),
	PRIMARY KEY (host, username, jid),
	FOREIGN KEY (host, username) REFERENCES archive_prefs (host, username) ON DELETE CASCADE
) WITHOUT ROWID;
