-- Rosters (XEP-0237 versions and tombstones), offline messages (XEP-0160),
-- block lists (XEP-0191) and per-account data.
--
-- Every table hangs off accounts through a foreign key with ON DELETE
-- CASCADE, directly or through rosters and roster_items, so DeleteAccount's
-- single DELETE removes everything an account had. Every text column uses
-- the "C" collation: contacts, JIDs, kinds and keys match and sort by bytes,
-- and ORDER BY reads the indexes in order.

-- All roster versions come from this sequence. It only ever grows, so a
-- version is never handed out twice, not even to an account deleted and
-- created again. UpdateRosterItem takes a value while holding its roster's
-- row lock, so within a roster versions also grow in commit order.
CREATE SEQUENCE roster_versions AS bigint;

-- One row per roster that was ever written, created by its first update.
-- version is the roster's current version. min_version is the oldest
-- version RosterChangesSince can answer from: first the roster's first
-- version (anything older belongs to a deleted account of the same name),
-- then the newest tombstone pruned. Both are 0 only inside the transaction
-- that creates the row, which commits only with a change.
-- Holding the version here, not in the items, keeps it when every item is
-- removed, and the row is what UpdateRosterItem locks.
CREATE TABLE rosters (
	host        text COLLATE "C" NOT NULL,
	username    text COLLATE "C" NOT NULL,
	version     bigint           NOT NULL,
	min_version bigint           NOT NULL,
	PRIMARY KEY (host, username),
	FOREIGN KEY (host, username) REFERENCES accounts (host, username) ON DELETE CASCADE
);

-- One row per contact: the item, or its tombstone (removed, the other
-- fields blank) once it is removed. version is the roster version of the
-- row's last change.
--   primary key (host, username, contact): RosterItem, UpdateRosterItem,
--                                          RosterItems in contact order;
--   roster_items_by_version:               RosterChangesSince;
--   roster_tombstones, partial:            finding the tombstones to prune.
CREATE TABLE roster_items (
	host         text COLLATE "C" NOT NULL,
	username     text COLLATE "C" NOT NULL,
	contact      text COLLATE "C" NOT NULL,
	name         text COLLATE "C" NOT NULL,
	subscription text COLLATE "C" NOT NULL CHECK (subscription IN ('none', 'to', 'from', 'both')),
	pending_out  boolean          NOT NULL,
	pending_in   boolean          NOT NULL,
	approved     boolean          NOT NULL,
	removed      boolean          NOT NULL,
	version      bigint           NOT NULL,
	PRIMARY KEY (host, username, contact),
	FOREIGN KEY (host, username) REFERENCES rosters (host, username) ON DELETE CASCADE
);
CREATE INDEX roster_items_by_version ON roster_items (host, username, version);
CREATE INDEX roster_tombstones ON roster_items (host, username, version) WHERE removed;

-- An item's groups, in the order given.
CREATE TABLE roster_groups (
	host     text COLLATE "C" NOT NULL,
	username text COLLATE "C" NOT NULL,
	contact  text COLLATE "C" NOT NULL,
	position integer          NOT NULL,
	name     text COLLATE "C" NOT NULL,
	PRIMARY KEY (host, username, contact, position),
	FOREIGN KEY (host, username, contact) REFERENCES roster_items (host, username, contact) ON DELETE CASCADE
);

-- Ids come from an identity sequence, so they are never reused. The
-- primary key, led by the user, serves every query (all of a user's
-- messages in id order, the count, the delete up to an id) and the cascade.
CREATE TABLE offline_messages (
	id       bigint GENERATED ALWAYS AS IDENTITY,
	host     text COLLATE "C" NOT NULL,
	username text COLLATE "C" NOT NULL,
	stamp    timestamptz      NOT NULL,
	stanza   bytea            NOT NULL,
	PRIMARY KEY (host, username, id),
	FOREIGN KEY (host, username) REFERENCES accounts (host, username) ON DELETE CASCADE
);

CREATE TABLE blocklist (
	host     text COLLATE "C" NOT NULL,
	username text COLLATE "C" NOT NULL,
	jid      text COLLATE "C" NOT NULL,
	PRIMARY KEY (host, username, jid),
	FOREIGN KEY (host, username) REFERENCES accounts (host, username) ON DELETE CASCADE
);

CREATE TABLE account_data (
	host       text COLLATE "C" NOT NULL,
	username   text COLLATE "C" NOT NULL,
	kind       text COLLATE "C" NOT NULL,
	key        text COLLATE "C" NOT NULL,
	value      bytea            NOT NULL,
	updated_at timestamptz      NOT NULL,
	PRIMARY KEY (host, username, kind, key),
	FOREIGN KEY (host, username) REFERENCES accounts (host, username) ON DELETE CASCADE
);
