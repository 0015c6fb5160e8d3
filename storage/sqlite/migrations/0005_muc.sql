-- Persistent multi-user chat rooms (XEP-0045): configuration, subject and
-- affiliations. Rooms are not tied to accounts: no foreign key to accounts,
-- so DeleteAccount leaves them. Text columns use the BINARY collation:
-- services, room names, JIDs and nicknames match and sort by bytes. Times
-- are Unix microseconds, as elsewhere; subject_at 0 means "never set".
--
-- config is the storage.MUCConfig as a JSON document, so that a room
-- option added later needs no migration.
--   primary key (service, name): MUCRoom, UpdateMUCRoom, DeleteMUCRoom and
--                                ListMUCRooms (a range on service, in order).
CREATE TABLE muc_rooms (
	service    TEXT    NOT NULL,
	name       TEXT    NOT NULL,
	config     TEXT    NOT NULL,
	subject    TEXT    NOT NULL,
	subject_by TEXT    NOT NULL,
	subject_at INTEGER NOT NULL,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (service, name)
) WITHOUT ROWID;

-- One row per affiliated JID (or domain, for bans).
--   primary key (service, name, jid):  reading a room's list in JID order,
--                                      SetMUCAffiliations, the cascade;
--   muc_affiliation_nicks, partial:    a registered nickname belongs to
--                                      one JID per room;
--   muc_affiliations_by_jid:           MUCRoomsWithAffiliation.
CREATE TABLE muc_affiliations (
	service     TEXT NOT NULL,
	name        TEXT NOT NULL,
	jid         TEXT NOT NULL,
	affiliation TEXT NOT NULL CHECK (affiliation IN ('owner', 'admin', 'member', 'outcast')),
	nick        TEXT NOT NULL,
	reason      TEXT NOT NULL,
	PRIMARY KEY (service, name, jid),
	FOREIGN KEY (service, name) REFERENCES muc_rooms (service, name) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE UNIQUE INDEX muc_affiliation_nicks ON muc_affiliations (service, name, nick) WHERE nick <> '';
CREATE INDEX muc_affiliations_by_jid ON muc_affiliations (service, jid, affiliation, name);
