package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"

	"parley.im/parley/storage"
)

// CreateMUCRoom implements storage.MUC.
func (s *Store) CreateMUCRoom(ctx context.Context, room storage.MUCRoom) error {
	affs, err := storage.MUCChanges(room.Affiliations)
	if err != nil {
		return err
	}
	config, err := json.Marshal(room.Config)
	if err != nil {
		return err
	}
	err = s.inWriteTx(ctx, func(tx cachedTx) error {
		_, err := tx.ExecContext(ctx, `
			INSERT INTO muc_rooms (service, name, config, subject, subject_by, subject_at, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`,
			room.Service, room.Name, string(config), room.Subject, room.SubjectBy,
			micros(room.SubjectAt), room.Created.UnixMicro())
		if isUniqueViolation(err) {
			return storage.ErrConflict
		}
		if err != nil {
			return err
		}
		return insertAffiliations(ctx, tx, room.Service, room.Name, affs)
	})
	return wrap("create room", err)
}

// insertAffiliations inserts the affiliations other than "none"; the JIDs
// have no row yet. A nickname registered twice violates the unique index.
func insertAffiliations(ctx context.Context, tx cachedTx, service, name string, affs []storage.MUCAffiliation) error {
	for _, a := range affs {
		if a.Affiliation == storage.AffNone {
			continue
		}
		_, err := tx.ExecContext(ctx, `
			INSERT INTO muc_affiliations (service, name, jid, affiliation, nick, reason)
			VALUES (?, ?, ?, ?, ?, ?)`,
			service, name, a.JID, a.Affiliation, a.Nick, a.Reason)
		if isUniqueViolation(err) {
			return storage.ErrConflict
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// micros is t in Unix microseconds, 0 for the zero time.
func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// fromMicros is the inverse of micros.
func fromMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

const mucRoomColumns = `name, config, subject, subject_by, subject_at, created_at`

func scanMUCRoom(sc interface{ Scan(...any) error }, service string) (storage.MUCRoom, error) {
	r := storage.MUCRoom{Service: service}
	var (
		config             string
		subjectAt, created int64
	)
	if err := sc.Scan(&r.Name, &config, &r.Subject, &r.SubjectBy, &subjectAt, &created); err != nil {
		return r, err
	}
	if err := json.Unmarshal([]byte(config), &r.Config); err != nil {
		return r, err
	}
	r.SubjectAt, r.Created = fromMicros(subjectAt), time.UnixMicro(created).UTC()
	return r, nil
}

// MUCRoom implements storage.MUC. The room and its affiliations are read
// in one transaction, so they come from one snapshot.
func (s *Store) MUCRoom(ctx context.Context, service, name string) (storage.MUCRoom, error) {
	var room storage.MUCRoom
	err := s.inReadTx(ctx, func(tx cachedTx) error {
		var err error
		room, err = scanMUCRoom(tx.QueryRowContext(ctx,
			`SELECT `+mucRoomColumns+` FROM muc_rooms WHERE service = ? AND name = ?`,
			service, name), service)
		if err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `
			SELECT jid, affiliation, nick, reason FROM muc_affiliations
			WHERE service = ? AND name = ? ORDER BY jid`,
			service, name)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var a storage.MUCAffiliation
			if err := rows.Scan(&a.JID, &a.Affiliation, &a.Nick, &a.Reason); err != nil {
				return err
			}
			room.Affiliations = append(room.Affiliations, a)
		}
		return rows.Err()
	})
	if err != nil {
		return storage.MUCRoom{}, wrap("room", err)
	}
	return room, nil
}

// UpdateMUCRoom implements storage.MUC.
func (s *Store) UpdateMUCRoom(ctx context.Context, room storage.MUCRoom) error {
	config, err := json.Marshal(room.Config)
	if err != nil {
		return err
	}
	res, err := s.write.ExecContext(ctx, `
		UPDATE muc_rooms SET config = ?, subject = ?, subject_by = ?, subject_at = ?
		WHERE service = ? AND name = ?`,
		string(config), room.Subject, room.SubjectBy, micros(room.SubjectAt), room.Service, room.Name)
	return wrap("update room", affectedOne(res, err))
}

// affectedOne turns an update or delete that touched no row into
// storage.ErrNotFound.
func affectedOne(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return storage.ErrNotFound
	}
	return nil
}

// DeleteMUCRoom implements storage.MUC; the affiliations go by cascade.
func (s *Store) DeleteMUCRoom(ctx context.Context, service, name string) error {
	res, err := s.write.ExecContext(ctx,
		`DELETE FROM muc_rooms WHERE service = ? AND name = ?`, service, name)
	return wrap("delete room", affectedOne(res, err))
}

// ListMUCRooms implements storage.MUC.
func (s *Store) ListMUCRooms(ctx context.Context, service string) ([]storage.MUCRoom, error) {
	rows, err := s.read.QueryContext(ctx,
		`SELECT `+mucRoomColumns+` FROM muc_rooms WHERE service = ? ORDER BY name`, service)
	if err != nil {
		return nil, wrap("list rooms", err)
	}
	defer rows.Close()
	var rooms []storage.MUCRoom
	for rows.Next() {
		r, err := scanMUCRoom(rows, service)
		if err != nil {
			return nil, wrap("list rooms", err)
		}
		rooms = append(rooms, r)
	}
	return rooms, wrap("list rooms", rows.Err())
}

// SetMUCAffiliations implements storage.MUC. The rows of every JID the
// changes name are deleted, then the final ones inserted, so that the
// nickname index judges the end state (two JIDs may swap nicknames) and
// the room row, checked first, is locked by the write transaction.
func (s *Store) SetMUCAffiliations(ctx context.Context, service, name string, changes []storage.MUCAffiliation) error {
	affs, err := storage.MUCChanges(changes)
	if err != nil {
		return err
	}
	err = s.inWriteTx(ctx, func(tx cachedTx) error {
		var one int
		err := tx.QueryRowContext(ctx,
			`SELECT 1 FROM muc_rooms WHERE service = ? AND name = ?`, service, name).Scan(&one)
		if err != nil {
			return err
		}
		for _, a := range affs {
			_, err := tx.ExecContext(ctx,
				`DELETE FROM muc_affiliations WHERE service = ? AND name = ? AND jid = ?`,
				service, name, a.JID)
			if err != nil {
				return err
			}
		}
		return insertAffiliations(ctx, tx, service, name, affs)
	})
	return wrap("set affiliations", err)
}

// MUCRoomsWithAffiliation implements storage.MUC.
func (s *Store) MUCRoomsWithAffiliation(ctx context.Context, service, jid, affiliation string) ([]string, error) {
	rows, err := s.read.QueryContext(ctx, `
		SELECT name FROM muc_affiliations
		WHERE service = ? AND jid = ? AND affiliation = ? ORDER BY name`,
		service, jid, affiliation)
	if err != nil {
		return nil, wrap("rooms with affiliation", err)
	}
	names, err := scanStrings(rows)
	return names, wrap("rooms with affiliation", err)
}

var _ storage.MUC = (*Store)(nil)
