package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

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
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			INSERT INTO muc_rooms (service, name, config, subject, subject_by, subject_at, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT DO NOTHING`,
			room.Service, room.Name, string(config), room.Subject, room.SubjectBy,
			nullTime(room.SubjectAt), room.Created.UTC())
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return storage.ErrConflict
		}
		return insertAffiliations(ctx, tx, room.Service, room.Name, affs)
	})
	return wrap("create room", err)
}

// insertAffiliations inserts the affiliations other than "none", whose
// JIDs have no row, in one statement. A nickname registered twice violates
// the unique index.
func insertAffiliations(ctx context.Context, tx pgx.Tx, service, name string, affs []storage.MUCAffiliation) error {
	var jids, roles, nicks, reasons []string
	for _, a := range affs {
		if a.Affiliation == storage.AffNone {
			continue
		}
		jids, roles = append(jids, a.JID), append(roles, a.Affiliation)
		nicks, reasons = append(nicks, a.Nick), append(reasons, a.Reason)
	}
	if len(jids) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, `
		INSERT INTO muc_affiliations (service, name, jid, affiliation, nick, reason)
		SELECT $1, $2, a.jid, a.affiliation, a.nick, a.reason
		FROM unnest($3::text[], $4::text[], $5::text[], $6::text[]) AS a (jid, affiliation, nick, reason)`,
		service, name, jids, roles, nicks, reasons)
	if isUniqueViolation(err) {
		return storage.ErrConflict
	}
	return err
}

// nullTime is t, or NULL for the zero time.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

const mucRoomColumns = `name, config, subject, subject_by, subject_at, created_at`

func scanMUCRoom(row pgx.Row, service string) (storage.MUCRoom, error) {
	r := storage.MUCRoom{Service: service}
	var (
		config    []byte
		subjectAt *time.Time
	)
	if err := row.Scan(&r.Name, &config, &r.Subject, &r.SubjectBy, &subjectAt, &r.Created); err != nil {
		return r, err
	}
	if err := json.Unmarshal(config, &r.Config); err != nil {
		return r, err
	}
	if subjectAt != nil {
		r.SubjectAt = subjectAt.UTC()
	}
	r.Created = r.Created.UTC()
	return r, nil
}

// MUCRoom implements storage.MUC. The room and its affiliations are read
// in one repeatable-read transaction, so they come from one snapshot.
func (s *Store) MUCRoom(ctx context.Context, service, name string) (storage.MUCRoom, error) {
	var room storage.MUCRoom
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly},
		func(tx pgx.Tx) error {
			var err error
			room, err = scanMUCRoom(tx.QueryRow(ctx,
				`SELECT `+mucRoomColumns+` FROM muc_rooms WHERE service = $1 AND name = $2`,
				service, name), service)
			if err != nil {
				return err
			}
			rows, err := tx.Query(ctx, `
				SELECT jid, affiliation, nick, reason FROM muc_affiliations
				WHERE service = $1 AND name = $2 ORDER BY jid`,
				service, name)
			if err != nil {
				return err
			}
			room.Affiliations, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (storage.MUCAffiliation, error) {
				var a storage.MUCAffiliation
				err := row.Scan(&a.JID, &a.Affiliation, &a.Nick, &a.Reason)
				return a, err
			})
			if len(room.Affiliations) == 0 {
				room.Affiliations = nil
			}
			return err
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
	tag, err := s.pool.Exec(ctx, `
		UPDATE muc_rooms SET config = $3, subject = $4, subject_by = $5, subject_at = $6
		WHERE service = $1 AND name = $2`,
		room.Service, room.Name, string(config), room.Subject, room.SubjectBy, nullTime(room.SubjectAt))
	if err == nil && tag.RowsAffected() == 0 {
		return storage.ErrNotFound
	}
	return wrap("update room", err)
}

// DeleteMUCRoom implements storage.MUC; the affiliations go by cascade.
func (s *Store) DeleteMUCRoom(ctx context.Context, service, name string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM muc_rooms WHERE service = $1 AND name = $2`, service, name)
	if err == nil && tag.RowsAffected() == 0 {
		return storage.ErrNotFound
	}
	return wrap("delete room", err)
}

// ListMUCRooms implements storage.MUC.
func (s *Store) ListMUCRooms(ctx context.Context, service string) ([]storage.MUCRoom, error) {
	rows, err := s.pool.Query(ctx,
		`SELECT `+mucRoomColumns+` FROM muc_rooms WHERE service = $1 ORDER BY name`, service)
	if err != nil {
		return nil, wrap("list rooms", err)
	}
	rooms, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (storage.MUCRoom, error) {
		return scanMUCRoom(row, service)
	})
	if err != nil || len(rooms) == 0 {
		return nil, wrap("list rooms", err)
	}
	return rooms, nil
}

// SetMUCAffiliations implements storage.MUC. The room row is locked first
// (FOR NO KEY UPDATE), so changes to one room's list run one after
// another and a concurrent DeleteMUCRoom waits. The rows of every JID the
// changes name are deleted, then the final ones inserted, so that the
// nickname index judges the end state (two JIDs may swap nicknames).
func (s *Store) SetMUCAffiliations(ctx context.Context, service, name string, changes []storage.MUCAffiliation) error {
	affs, err := storage.MUCChanges(changes)
	if err != nil {
		return err
	}
	jids := make([]string, len(affs))
	for i, a := range affs {
		jids[i] = a.JID
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var one int32
		err := tx.QueryRow(ctx,
			`SELECT 1 FROM muc_rooms WHERE service = $1 AND name = $2 FOR NO KEY UPDATE`,
			service, name).Scan(&one)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx,
			`DELETE FROM muc_affiliations WHERE service = $1 AND name = $2 AND jid = ANY ($3::text[])`,
			service, name, jids)
		if err != nil {
			return err
		}
		return insertAffiliations(ctx, tx, service, name, affs)
	})
	if errors.Is(err, pgx.ErrNoRows) || isForeignKeyViolation(err) {
		return storage.ErrNotFound
	}
	return wrap("set affiliations", err)
}

// MUCRoomsWithAffiliation implements storage.MUC.
func (s *Store) MUCRoomsWithAffiliation(ctx context.Context, service, jid, affiliation string) ([]string, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT name FROM muc_affiliations
		WHERE service = $1 AND jid = $2 AND affiliation = $3 ORDER BY name`,
		service, jid, affiliation)
	if err != nil {
		return nil, wrap("rooms with affiliation", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(names) == 0 {
		return nil, wrap("rooms with affiliation", err)
	}
	return names, nil
}

var _ storage.MUC = (*Store)(nil)
