-- Archives of multi-user chat rooms (XEP-0313 on a room's JID). The same
-- columns and indexes as archive, keyed by (host, username) = (service,
-- room), without the foreign key to accounts: rooms are not accounts.
CREATE TABLE room_archive (
	seq           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	host          text COLLATE "C" NOT NULL,
	username      text COLLATE "C" NOT NULL,
	id            text COLLATE "C" NOT NULL,
	with_jid      text COLLATE "C" NOT NULL,
	with_resource text COLLATE "C" NOT NULL,
	direction     smallint         NOT NULL CHECK (direction IN (1, 2)),
	origin_id     text COLLATE "C" NOT NULL,
	stamp         timestamptz      NOT NULL,
	stanza        bytea            NOT NULL
);
CREATE UNIQUE INDEX room_archive_by_id ON room_archive (host, username, id);
CREATE INDEX room_archive_by_time ON room_archive (host, username, stamp, seq);
CREATE INDEX room_archive_by_with ON room_archive (host, username, with_jid, stamp, seq);
