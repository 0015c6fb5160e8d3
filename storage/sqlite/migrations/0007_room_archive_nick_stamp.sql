-- Room archives: queries by the sender's nickname (XEP-0313 'with' an
-- occupant JID), and the retention purge, which deletes by stamp across
-- every room.
CREATE INDEX room_archive_by_nick ON room_archive (host, username, with_resource, stamp, seq);
CREATE INDEX room_archive_by_stamp ON room_archive (stamp);
