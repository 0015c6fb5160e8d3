package sqlite

import (
	"context"
	"time"

	"parley.im/parley/storage"
)

const inviteColumns = `host, token_hash, inviter, username, register, created_at, expires_at`

func scanInvite(sc interface{ Scan(...any) error }) (storage.Invite, error) {
	var (
		inv              storage.Invite
		created, expires int64
	)
	if err := sc.Scan(&inv.Host, &inv.TokenHash, &inv.Inviter, &inv.Username, &inv.Register, &created, &expires); err != nil {
		return storage.Invite{}, err
	}
	inv.Created, inv.Expires = fromMicros(created), fromMicros(expires)
	return inv, nil
}

// CreateInvite implements storage.Invites.
func (s *Store) CreateInvite(ctx context.Context, inv storage.Invite) error {
	created := inv.Created
	if created.IsZero() {
		created = time.Now()
	}
	_, err := s.write.ExecContext(ctx, `INSERT INTO invites (`+inviteColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		inv.Host, inv.TokenHash, inv.Inviter, inv.Username, inv.Register, micros(created), micros(inv.Expires))
	if isUniqueViolation(err) {
		return storage.ErrConflict
	}
	return wrap("create invite", err)
}

// Invite implements storage.Invites.
func (s *Store) Invite(ctx context.Context, host, tokenHash string, now time.Time) (storage.Invite, error) {
	inv, err := scanInvite(s.read.QueryRowContext(ctx,
		`SELECT `+inviteColumns+` FROM invites WHERE host = ? AND token_hash = ? AND expires_at > ?`,
		host, tokenHash, micros(now)))
	return inv, wrap("invite", err)
}

// TakeInvite implements storage.Invites: DELETE … RETURNING on the single
// write connection, so that two takes cannot both see the row.
func (s *Store) TakeInvite(ctx context.Context, host, tokenHash string, now time.Time) (storage.Invite, error) {
	inv, err := scanInvite(s.write.QueryRowContext(ctx,
		`DELETE FROM invites WHERE host = ? AND token_hash = ? AND expires_at > ? RETURNING `+inviteColumns,
		host, tokenHash, micros(now)))
	return inv, wrap("take invite", err)
}

// InviteReserves implements storage.Invites.
func (s *Store) InviteReserves(ctx context.Context, host, username string, now time.Time) (bool, error) {
	var n int
	err := s.read.QueryRowContext(ctx,
		`SELECT count(*) FROM invites WHERE host = ? AND username = ? AND username <> '' AND expires_at > ?`,
		host, username, micros(now)).Scan(&n)
	return n > 0, wrap("invite reserves", err)
}

// PurgeInvites implements storage.Invites.
func (s *Store) PurgeInvites(ctx context.Context, now time.Time) (int, error) {
	res, err := s.write.ExecContext(ctx, `DELETE FROM invites WHERE expires_at <= ?`, micros(now))
	if err != nil {
		return 0, wrap("purge invites", err)
	}
	n, err := res.RowsAffected()
	return int(n), wrap("purge invites", err)
}
