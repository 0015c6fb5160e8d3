-- Persistent multi-user chat rooms (XEP-0045): configuration, subject and
-- affiliations. Rooms are not tied to accounts: no foreign key to accounts,
-- so DeleteAccount leaves them. Every text column uses the "C" collation:
-- services, room names, JIDs and nicknames match and sort by bytes.
--
-- config is the storage.MUCConfig as a JSON document, so that a room
-- option added later needs no migration. subject_at is NULL while the
-- subject was never set.
--   primary key (service, name): MUCRoom, UpdateMUCRoom, DeleteMUCRoom and
--                                ListMUCRooms (a range on service, in order).
CREATE TABLE muc_rooms (
	service    text COLLATE "C" NOT NULL,
	name       text COLLATE "C" NOT NULL,
	config     jsonb            NOT NULL,
	subject    text COLLATE "C" NOT NULL,
	subject_by text COLLATE "C" NOT NULL,
	subject_at timestamptz,
	created_at timestamptz      NOT NULL,
	PRIMARY KEY (service, name)
);

-- One row per affiliated JID (or domain, for bans).
--   primary key (service, name, jid):  reading a room's list in JID order,
--                                      SetMUCAffiliations, the cascade;
--   muc_affiliation_nicks, partial:    a registered nickname belongs to
--                                      one JID per room;
--   muc_affiliations_by_jid:           MUCRoomsWithAffiliation.
CREATE TABLE muc_affiliations (
	service     text COLLATE "C" NOT NULL,
	name        text COLLATE "C" NOT NULL,
	jid         text COLLATE "C" NOT NULL,
	affiliation text COLLATE "C" NOT NULL CHECK (affiliation IN ('owner', 'admin', 'member', 'outcast')),
	nick        text COLLATE "C" NOT NULL,
	reason      text COLLATE "C" NOT NULL,
	PRIMARY KEY (service, name, jid),
	FOREIGN KEY (service, name) REFERENCES muc_rooms (service, name) ON DELETE CASCADE
);
CREATE UNIQUE INDEX muc_affiliation_nicks ON muc_affiliations (service, name, nick) WHERE nick <> '';
CREATE INDEX muc_affiliations_by_jid ON muc_affiliations (service, jid, affiliation, name);
