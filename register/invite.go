package register

import (
	"context"
	"errors"
	"net/netip"

	"mellium.im/xmpp/stanza"

	"parley.im/parley/storage"
	"parley.im/parley/xmppcore"
)

var (
	errBadPreAuth   = xmppcore.NewError(stanza.BadRequest, "a preauth is an IQ set with a token")
	errBadToken     = xmppcore.NewError(stanza.ItemNotFound, "The provided token is invalid or expired")
	errInviteGone   = xmppcore.NewError(stanza.ItemNotFound, "the invitation was used meanwhile")
	errOtherAccount = xmppcore.NewError(stanza.NotAcceptable, "the invitation is for another username")
)

// maxPreAuths bounds the accepted tokens remembered; beyond it, those
// older than PreAuthWindow are dropped, then the request is refused.
const maxPreAuths = 10000

// checkToken answers a <preauth/> (XEP-0445 §4): the token must name an
// invitation of host that has not expired and allows registering. The
// invitation is not used yet; it is remembered for registrations from ip
// on host during PreAuthWindow.
func (m *Register) checkToken(ctx context.Context, host string, ip netip.Addr, token string) error {
	if token == "" {
		return errBadPreAuth
	}
	// Token checks count as registration attempts: guesses are bounded
	// per address like account creations.
	if !m.lim.take(ip) {
		m.log.Info("invitation token refused: rate limit", "host", host, "ip", ip.String())
		return errTooMany
	}
	now := m.opts.Now()
	inv, err := m.store.Invite(ctx, host, storage.InviteTokenHash(token), now)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && !inv.Register) {
		m.log.Info("invitation token refused", "host", host, "ip", ip.String())
		return errBadToken
	}
	if err != nil {
		return err
	}
	m.paMu.Lock()
	defer m.paMu.Unlock()
	if len(m.preauths) >= maxPreAuths {
		for k, p := range m.preauths {
			if now.Sub(p.at) > PreAuthWindow {
				delete(m.preauths, k)
			}
		}
		if len(m.preauths) >= maxPreAuths {
			return xmppcore.NewError(stanza.ResourceConstraint, "try again later")
		}
	}
	m.preauths[preauthKey{host, ip}] = preauth{hash: inv.TokenHash, at: now}
	m.log.Info("invitation token accepted", "host", host, "ip", ip.String())
	return nil
}

// preauthFor returns the token accepted for registrations from ip on host.
func (m *Register) preauthFor(host string, ip netip.Addr) (preauth, bool) {
	m.paMu.Lock()
	defer m.paMu.Unlock()
	p, ok := m.preauths[preauthKey{host, ip}]
	if ok && m.opts.Now().Sub(p.at) > PreAuthWindow {
		delete(m.preauths, preauthKey{host, ip})
		return preauth{}, false
	}
	return p, ok
}

// createInvited registers local@host with the invitation pa accepted: the
// invitation is taken first (single use, even against a concurrent
// registration), put back if the account cannot be created, and the new
// account becomes a mutual contact of the inviter.
func (m *Register) createInvited(ctx context.Context, host, local string, ip netip.Addr, pa preauth, creds []storage.Credential) error {
	inv, err := m.store.TakeInvite(ctx, host, pa.hash, pa.at)
	if errors.Is(err, storage.ErrNotFound) {
		m.forgetPreAuth(host, ip)
		return errInviteGone
	}
	if err != nil {
		return err
	}
	restore := func() {
		if err := m.store.CreateInvite(context.WithoutCancel(ctx), inv); err != nil {
			m.log.Error("putting back an unused invitation", "host", host, "err", err)
		}
	}
	if inv.Username != "" && inv.Username != local {
		restore()
		return errOtherAccount
	}
	err = m.store.CreateAccount(ctx, host, local, creds)
	if err != nil {
		restore()
		if errors.Is(err, storage.ErrConflict) {
			return errConflict
		}
		return err
	}
	m.forgetPreAuth(host, ip)
	m.log.Info("account registered with an invitation", "user", local+"@"+host, "ip", ip.String(),
		"inviter", inv.Inviter)
	if inv.Inviter != "" {
		m.befriend(ctx, host, local, inv.Inviter)
	}
	return nil
}

func (m *Register) forgetPreAuth(host string, ip netip.Addr) {
	m.paMu.Lock()
	delete(m.preauths, preauthKey{host, ip})
	m.paMu.Unlock()
}

// befriend makes the new account and its inviter mutual contacts
// (XEP-0379 carried out by the server: both roster items with subscription
// both), and pushes the inviter's new item to the inviter's resources.
func (m *Register) befriend(ctx context.Context, host, newUser, inviter string) {
	ok, err := m.store.AccountExists(ctx, host, inviter)
	if err != nil || !ok {
		m.log.Info("the inviter's account is gone; no subscription", "user", newUser+"@"+host, "err", err)
		return
	}
	link := func(owner, contact string) {
		var before *storage.RosterItem
		after, version, err := m.store.UpdateRosterItem(ctx, host, owner, contact+"@"+host,
			func(cur *storage.RosterItem) (*storage.RosterItem, error) {
				next := storage.RosterItem{JID: contact + "@" + host}
				if cur != nil {
					c := *cur
					before, next = &c, c
				}
				next.Subscription, next.PendingIn, next.PendingOut = storage.SubBoth, false, false
				return &next, nil
			})
		if err != nil {
			m.log.Error("invitation: subscribing", "owner", owner+"@"+host, "contact", contact+"@"+host, "err", err)
			return
		}
		if m.opts.RosterPush != nil {
			m.opts.RosterPush(ctx, host, owner, before, after, version)
		}
	}
	link(inviter, newUser)
	link(newUser, inviter)
}
