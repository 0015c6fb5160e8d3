-- Rosters (XEP-0237 versions and tombstones), offline messages (XEP-0160),
-- block lists (XEP-0191) and per-account data.
--
-- Every table hangs off accounts through a foreign key with ON DELETE
-- CASCADE, directly or through rosters and roster_items, so DeleteAccount's
-- single DELETE removes everything an account had. Text columns use the
-- BINARY collation: contacts, JIDs, kinds and keys match and sort by bytes.
-- Booleans are 0 or 1; times are Unix microseconds, as in accounts.

-- The one counter all roster versions come from. It only ever grows, so a
-- version is never handed out twice, not even to an account deleted and
-- created again.
CREATE TABLE roster_version_counter (
	id   INTEGER PRIMARY KEY CHECK (id = 1),
	last INTEGER NOT NULL
);
INSERT INTO roster_version_counter (id, last) VALUES (1, 0);

-- One row per roster that was ever written, created by its first change.
-- version is the roster's current version. min_version is the oldest
-- version RosterChangesSince can answer from: first the roster's first
-- version (anything older belongs to a deleted account of the same name),
-- then the newest tombstone pruned. Holding the version here, not in the
-- items, keeps it when every item is removed.
CREATE TABLE rosters (
	host        TEXT    NOT NULL,
	username    TEXT    NOT NULL,
	version     INTEGER NOT NULL,
	min_version INTEGER NOT NULL,
	PRIMARY KEY (host, username),
	FOREIGN KEY (host, username) REFERENCES accounts (host, username) ON DELETE CASCADE
) WITHOUT ROWID;

-- One row per contact: the item, or its tombstone (removed = 1, the other
-- fields blank) once it is removed. version is the roster version of the
-- row's last change.
--   primary key (host, username, contact): RosterItem, UpdateRosterItem;
--   roster_items_by_version: RosterChangesSince (a range from a version);
--   roster_tombstones, partial: finding the tombstones to prune.
CREATE TABLE roster_items (
	host         TEXT    NOT NULL,
	username     TEXT    NOT NULL,
	contact      TEXT    NOT NULL,
	name         TEXT    NOT NULL,
	subscription TEXT    NOT NULL CHECK (subscription IN ('none', 'to', 'from', 'both')),
	pending_out  INTEGER NOT NULL CHECK (pending_out IN (0, 1)),
	pending_in   INTEGER NOT NULL CHECK (pending_in IN (0, 1)),
	approved     INTEGER NOT NULL CHECK (approved IN (0, 1)),
	removed      INTEGER NOT NULL CHECK (removed IN (0, 1)),
	version      INTEGER NOT NULL,
	PRIMARY KEY (host, username, contact),
	FOREIGN KEY (host, username) REFERENCES rosters (host, username) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX roster_items_by_version ON roster_items (host, username, version);
CREATE INDEX roster_tombstones ON roster_items (host, username, version) WHERE removed;

-- An item's groups, in the order given.
CREATE TABLE roster_groups (
	host     TEXT    NOT NULL,
	username TEXT    NOT NULL,
	contact  TEXT    NOT NULL,
	position INTEGER NOT NULL,
	name     TEXT    NOT NULL,
	PRIMARY KEY (host, username, contact, position),
	FOREIGN KEY (host, username, contact) REFERENCES roster_items (host, username, contact) ON DELETE CASCADE
) WITHOUT ROWID;

-- AUTOINCREMENT keeps an id from ever being reused, even after the
-- messages with the highest ids are deleted: a DeleteOffline up to an id
-- must not reach a message stored after it. The index serves every query
-- (all by user, in id order, or up to an id) and the cascade.
CREATE TABLE offline_messages (
	id       INTEGER PRIMARY KEY AUTOINCREMENT,
	host     TEXT    NOT NULL,
	username TEXT    NOT NULL,
	stamp    INTEGER NOT NULL,
	stanza   BLOB    NOT NULL,
	FOREIGN KEY (host, username) REFERENCES accounts (host, username) ON DELETE CASCADE
);
CREATE INDEX offline_messages_by_user ON offline_messages (host, username, id);

CREATE TABLE blocklist (
	host     TEXT NOT NULL,
	username TEXT NOT NULL,
	jid      TEXT NOT NULL,
	PRIMARY KEY (host, username, jid),
	FOREIGN KEY (host, username) REFERENCES accounts (host, username) ON DELETE CASCADE
) WITHOUT ROWID;

CREATE TABLE account_data (
	host       TEXT    NOT NULL,
	username   TEXT    NOT NULL,
	kind       TEXT    NOT NULL,
	key        TEXT    NOT NULL,
	value      BLOB    NOT NULL,
	updated_at INTEGER NOT NULL,
	PRIMARY KEY (host, username, kind, key),
	FOREIGN KEY (host, username) REFERENCES accounts (host, username) ON DELETE CASCADE
) WITHOUT ROWID;
