package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"parley.im/parley/storage"
)

const inviteColumns = `host, token_hash, inviter, username, register, created_at, expires_at`

func scanInvite(row pgx.Row) (storage.Invite, error) {
	var inv storage.Invite
	if err := row.Scan(&inv.Host, &inv.TokenHash, &inv.Inviter, &inv.Username, &inv.Register, &inv.Created, &inv.Expires); err != nil {
		return storage.Invite{}, err
	}
	inv.Created, inv.Expires = inv.Created.UTC(), inv.Expires.UTC()
	return inv, nil
}

// CreateInvite implements storage.Invites. ON CONFLICT DO NOTHING reports
// a taken hash as no row rather than an error the server would log.
func (s *Store) CreateInvite(ctx context.Context, inv storage.Invite) error {
	created := inv.Created
	if created.IsZero() {
		created = time.Now()
	}
	tag, err := s.pool.Exec(ctx, `
		INSERT INTO invites (`+inviteColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT DO NOTHING`,
		inv.Host, inv.TokenHash, inv.Inviter, inv.Username, inv.Register, created.UTC(), inv.Expires.UTC())
	if err != nil {
		return wrap("create invite", err)
	}
	if tag.RowsAffected() == 0 {
		return storage.ErrConflict
	}
	return nil
}

// Invite implements storage.Invites.
func (s *Store) Invite(ctx context.Context, host, tokenHash string, now time.Time) (storage.Invite, error) {
	inv, err := scanInvite(s.pool.QueryRow(ctx,
		`SELECT `+inviteColumns+` FROM invites WHERE host = $1 AND token_hash = $2 AND expires_at > $3`,
		host, tokenHash, now.UTC()))
	return inv, wrap("invite", err)
}

// TakeInvite implements storage.Invites: of two concurrent DELETEs of one
// row, the second waits for the first and then deletes nothing.
func (s *Store) TakeInvite(ctx context.Context, host, tokenHash string, now time.Time) (storage.Invite, error) {
	inv, err := scanInvite(s.pool.QueryRow(ctx,
		`DELETE FROM invites WHERE host = $1 AND token_hash = $2 AND expires_at > $3 RETURNING `+inviteColumns,
		host, tokenHash, now.UTC()))
	return inv, wrap("take invite", err)
}

// InviteReserves implements storage.Invites.
func (s *Store) InviteReserves(ctx context.Context, host, username string, now time.Time) (bool, error) {
	var ok bool
	err := s.pool.QueryRow(ctx, `
		SELECT EXISTS (SELECT 1 FROM invites WHERE host = $1 AND username = $2 AND username <> '' AND expires_at > $3)`,
		host, username, now.UTC()).Scan(&ok)
	return ok, wrap("invite reserves", err)
}

// PurgeInvites implements storage.Invites.
func (s *Store) PurgeInvites(ctx context.Context, now time.Time) (int, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM invites WHERE expires_at <= $1`, now.UTC())
	if err != nil {
		return 0, wrap("purge invites", err)
	}
	return int(tag.RowsAffected()), nil
}
