-- Archives of multi-user chat rooms (XEP-0313 on a room's JID). The same
-- columns and indexes as archive, keyed by (host, username) = (service,
-- room), without the foreign key to accounts: rooms are not accounts.
CREATE TABLE room_archive (
	seq           INTEGER PRIMARY KEY,
	host          TEXT    NOT NULL,
	username      TEXT    NOT NULL,
	id            TEXT    NOT NULL,
	with_jid      TEXT    NOT NULL,
	with_resource TEXT    NOT NULL,
	direction     INTEGER NOT NULL CHECK (direction IN (1, 2)),
	origin_id     TEXT    NOT NULL,
	stamp         INTEGER NOT NULL,
	stanza        BLOB    NOT NULL
);
CREATE UNIQUE INDEX room_archive_by_id ON room_archive (host, username, id);
CREATE INDEX room_archive_by_time ON room_archive (host, username, stamp, seq);
CREATE INDEX room_archive_by_with ON room_archive (host, username, with_jid, stamp, seq);
