package register

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"
	"mellium.im/xmpp/stream"

	"parley.im/parley/auth"
	"parley.im/parley/module"
	"parley.im/parley/router"
	"parley.im/parley/storage"
	"parley.im/parley/xmppcore"
)

// Namespaces of XEP-0077, and of the pre-authenticated registration of
// XEP-0445 (its stream feature and the <preauth/> IQ of XEP-0379).
const (
	NS             = "jabber:iq:register"
	NSFeature      = "http://jabber.org/features/iq-register"
	NSTokenFeature = "urn:xmpp:ibr-token:0"
	NSPreAuth      = "urn:xmpp:pars:0"
)

// PreAuthWindow is how long a token accepted by the <preauth/> IQ lets
// registrations from the same address and host proceed (the session layer
// gives the module no handle on the connection itself).
const PreAuthWindow = 10 * time.Minute

// Defaults for the zero values of Options.
const (
	DefaultMaxPerIP          = 5
	DefaultWindow            = time.Hour
	DefaultMaxPasswordLength = 1024
	DefaultIterations        = 10000
	DefaultInstructions      = "Choose a username and password to register with this server."
)

// Store is the part of storage the module uses.
type Store interface {
	CreateAccount(ctx context.Context, host, username string, creds []storage.Credential) error
	SetCredentials(ctx context.Context, host, username string, creds []storage.Credential) error
	DeleteAccount(ctx context.Context, host, username string) error
	RosterItems(ctx context.Context, host, username string) (items []storage.RosterItem, version int64, err error)
	UpdateRosterItem(ctx context.Context, host, username, contact string,
		f func(cur *storage.RosterItem) (*storage.RosterItem, error)) (*storage.RosterItem, int64, error)
	AccountExists(ctx context.Context, host, username string) (bool, error)
	Invite(ctx context.Context, host, tokenHash string, now time.Time) (storage.Invite, error)
	TakeInvite(ctx context.Context, host, tokenHash string, now time.Time) (storage.Invite, error)
	CreateInvite(ctx context.Context, inv storage.Invite) error
	InviteReserves(ctx context.Context, host, username string, now time.Time) (bool, error)
}

// Options configure the module.
type Options struct {
	// Enabled allows creating accounts before authentication.
	Enabled bool
	// Hosts, when not empty, are the only hosts where accounts may be
	// created.
	Hosts []string
	// MaxPerIP is the most creation attempts from one address (an IPv6
	// /64) per Window: 0 means DefaultMaxPerIP, a negative value no limit.
	MaxPerIP int
	// Window is the period of MaxPerIP (DefaultWindow when zero).
	Window time.Duration
	// MaxPasswordLength is the longest password accepted, in bytes
	// (DefaultMaxPasswordLength when zero).
	MaxPasswordLength int
	// Iterations is the SCRAM iteration count of new credentials
	// (DefaultIterations when zero; at least auth.MinIterations).
	Iterations int
	// Instructions are shown to a client asking how to register.
	Instructions string
	// Now is the clock of the rate limit and of invitations (time.Now
	// when nil).
	Now func() time.Time
	// Invites accepts invitation tokens (XEP-0445): after a valid
	// <preauth/>, a client may register on any host, Enabled or not.
	Invites bool
	// RosterPush tells an account's resources that a roster item changed
	// (the roster module's Push): the inviter learns of the new contact.
	RosterPush func(ctx context.Context, host, username string, before, after *storage.RosterItem, version int64)
}

// Register is the XEP-0077 module.
type Register struct {
	store Store
	opts  Options
	lim   *limiter

	rt  *router.Router
	log *slog.Logger

	paMu     sync.Mutex
	preauths map[preauthKey]preauth
}

// preauthKey is where a <preauth/> came from.
type preauthKey struct {
	host string
	ip   netip.Addr
}

// preauth is a token accepted by a <preauth/>: its hash, and when it was
// checked (XEP-0445: expiry is checked then, not at registration).
type preauth struct {
	hash string
	at   time.Time
}

var (
	_ module.Module = (*Register)(nil)
	_ Store         = storage.Store(nil)
)

// New returns the registration module over store.
func New(store Store, opts Options) *Register {
	if opts.MaxPerIP == 0 {
		opts.MaxPerIP = DefaultMaxPerIP
	}
	if opts.Window <= 0 {
		opts.Window = DefaultWindow
	}
	if opts.MaxPasswordLength <= 0 {
		opts.MaxPasswordLength = DefaultMaxPasswordLength
	}
	if opts.Iterations == 0 {
		opts.Iterations = DefaultIterations
	}
	if opts.Instructions == "" {
		opts.Instructions = DefaultInstructions
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Register{store: store, opts: opts, log: slog.Default(), preauths: make(map[preauthKey]preauth),
		lim: &limiter{max: opts.MaxPerIP, window: opts.Window, now: opts.Now, hits: make(map[netip.Addr][]time.Time)}}
}

// Name implements module.Module.
func (*Register) Name() string { return "register" }

// Register answers registration requests of logged-in users.
func (m *Register) Register(r *module.Registrar) error {
	if m.opts.Iterations < auth.MinIterations {
		return fmt.Errorf("register: %d SCRAM iterations is below the minimum %d", m.opts.Iterations, auth.MinIterations)
	}
	m.rt, m.log = r.Router, r.Logger
	for _, target := range []module.Target{module.Account, module.Server} {
		r.IQ("get", NS, "query", target, m.get)
		r.IQ("set", NS, "query", target, m.set)
	}
	r.Feature(module.Server, NS)
	return nil
}

var (
	errForbidden     = xmppcore.NewError(stanza.Forbidden, "only your own account")
	errNotAllowed    = xmppcore.NewError(stanza.NotAllowed, "registration is for this server's users")
	errRemoveAlone   = xmppcore.NewError(stanza.BadRequest, "remove must be the only child of query")
	errNoPassword    = xmppcore.NewError(stanza.BadRequest, "a password change needs a non-empty password")
	errNotYours      = xmppcore.NewError(stanza.BadRequest, "the username is not yours")
	errNotRegistered = xmppcore.NewError(stanza.RegistrationRequired, "")
	errBadPassword   = xmppcore.NewError(stanza.NotAcceptable, "the password is not acceptable")
	errDisabled      = xmppcore.NewError(stanza.ServiceUnavailable, "")
	errMissing       = xmppcore.NewError(stanza.NotAcceptable, "a username and a password are required")
	errBadUsername   = xmppcore.NewError(stanza.NotAcceptable, "the username is not valid")
	errConflict      = xmppcore.NewError(stanza.Conflict, "the username is taken")
	errNotYet        = xmppcore.NewError(stanza.UnexpectedRequest, "not registered")
	errTooMany       = stanza.Error{Type: stanza.Wait, Condition: stanza.NotAcceptable,
		Text: map[string]string{"en": "too many registrations from your address; try again later"}}
)

// requester returns the account a logged-in user's request is about:
// their own, whether they addressed it or the server.
func requester(iq *module.IQ) (jid.JID, error) {
	if iq.Self {
		return iq.From.Bare(), nil
	}
	if !iq.To.Equal(iq.To.Domain()) {
		return jid.JID{}, errForbidden // another user's account
	}
	if iq.Origin == nil || iq.From.Localpart() == "" || iq.From.Domainpart() != iq.To.Domainpart() {
		return jid.JID{}, errNotAllowed
	}
	return iq.From.Bare(), nil
}

func (m *Register) get(_ context.Context, iq *module.IQ) (*xmppcore.Element, error) {
	user, err := requester(iq)
	if err != nil {
		return nil, err
	}
	return xmppcore.New(NS, "query").Append(
		xmppcore.New(NS, "registered"),
		xmppcore.New(NS, "username").AppendText(user.Localpart()),
		xmppcore.New(NS, "password"),
	), nil
}

func (m *Register) set(ctx context.Context, iq *module.IQ) (*xmppcore.Element, error) {
	user, err := requester(iq)
	if err != nil {
		return nil, err
	}
	if iq.Payload.Child(NS, "remove") != nil {
		if iq.Payload.ChildCount() != 1 {
			return nil, errRemoveAlone
		}
		return nil, m.remove(ctx, iq, user)
	}
	return nil, m.changePassword(ctx, iq, user)
}

func (m *Register) changePassword(ctx context.Context, iq *module.IQ, user jid.JID) error {
	if u := iq.Payload.Child(NS, "username"); u != nil {
		if local, err := normalize(u.Text(), user.Domainpart()); err != nil || local != user.Localpart() {
			return errNotYours
		}
	}
	password := iq.Payload.ChildText(NS, "password")
	if password == "" {
		return errNoPassword
	}
	creds, err := m.credentials(password)
	if err != nil {
		return err
	}
	err = m.store.SetCredentials(ctx, user.Domainpart(), user.Localpart(), creds)
	if errors.Is(err, storage.ErrNotFound) {
		return errNotRegistered
	}
	if err != nil {
		return err
	}
	m.log.Info("password changed in band", "user", user.String())
	return nil
}

// remove deletes the account, answers the requester and closes every
// session of the account (§3.2). The registry's own result then finds a
// closing session and is dropped, so the requester gets exactly one.
func (m *Register) remove(ctx context.Context, iq *module.IQ, user jid.JID) error {
	// The roster is read first: once the account is gone, nobody could
	// tell the contacts.
	items, _, rerr := m.store.RosterItems(ctx, user.Domainpart(), user.Localpart())
	if rerr != nil && !errors.Is(rerr, storage.ErrNotFound) {
		return rerr
	}
	err := m.store.DeleteAccount(ctx, user.Domainpart(), user.Localpart())
	if errors.Is(err, storage.ErrNotFound) {
		return errNotRegistered
	}
	if err != nil {
		return err
	}
	m.log.Info("account removed in band", "user", user.String())
	m.tellContacts(ctx, user, items)
	reply := xmppcore.New("", xmppcore.IQ, "type", "result", "to", iq.From.String())
	if id := iq.Stanza.Attr("id"); id != "" {
		reply.SetAttr("id", id)
	}
	if iq.Stanza.Attr("to") != "" {
		reply.SetAttr("from", iq.To.String())
	}
	if iq.Origin != nil {
		iq.Origin.Send(reply)
	}
	for _, ri := range m.rt.Resources(user) {
		ri.Session.Close(stream.NotAuthorized, "the account was removed")
	}
	return nil
}

// tellContacts ends the removed account's subscriptions (XEP-0077 §3.2):
// contacts who saw the user's presence get unavailable from each available
// resource and then unsubscribed; those whose presence the user saw get
// unsubscribe. Their servers update their rosters as for any such stanza.
func (m *Register) tellContacts(ctx context.Context, user jid.JID, items []storage.RosterItem) {
	resources := m.rt.Resources(user)
	send := func(typ string, from, to jid.JID) {
		el := xmppcore.New("", xmppcore.Presence, "from", from.String(), "to", to.String())
		if typ != "" {
			el.SetAttr("type", typ)
		}
		m.rt.Route(ctx, &router.Stanza{El: el, From: from, To: to, OnBehalf: true})
	}
	for _, it := range items {
		contact, err := jid.Parse(it.JID)
		if err != nil {
			continue
		}
		if it.Subscription == storage.SubFrom || it.Subscription == storage.SubBoth {
			for _, ri := range resources {
				if ri.Available {
					send("unavailable", ri.Session.JID(), contact)
				}
			}
			send("unsubscribed", user, contact)
		}
		if it.Subscription == storage.SubTo || it.Subscription == storage.SubBoth || it.PendingOut {
			send("unsubscribe", user, contact)
		}
	}
}

// credentials checks a new password and derives its SCRAM credentials.
func (m *Register) credentials(password string) ([]storage.Credential, error) {
	if len(password) > m.opts.MaxPasswordLength {
		return nil, xmppcore.NewError(stanza.NotAcceptable,
			fmt.Sprintf("the password is longer than %d bytes", m.opts.MaxPasswordLength))
	}
	creds, err := auth.DeriveCredentials(password, m.opts.Iterations)
	if err != nil {
		return nil, errBadPassword
	}
	return creds, nil
}

// normalize applies the JID localpart rules (RFC 7622, PRECIS
// UsernameCaseMapped), as logins do.
func normalize(username, host string) (string, error) {
	j, err := jid.New(username, host, "")
	if err != nil {
		return "", err
	}
	if j.Localpart() == "" {
		return "", errors.New("register: empty username")
	}
	return j.Localpart(), nil
}

// creationAllowed reports whether accounts may be created on host.
func (m *Register) creationAllowed(host string) bool {
	return m.opts.Enabled && (len(m.opts.Hosts) == 0 || slices.Contains(m.opts.Hosts, host))
}

// PreAuthFeatures returns the stream features to offer on host before
// authentication: the XEP-0077 §6 feature when accounts may be created.
// The session layer calls it only where registration may happen (over
// TLS, or when TLS is not required).
func (m *Register) PreAuthFeatures(host string) []*xmppcore.Element {
	var out []*xmppcore.Element
	if m.creationAllowed(host) {
		out = append(out, xmppcore.New(NSFeature, "register"))
	}
	if m.opts.Invites {
		out = append(out, xmppcore.New(NSTokenFeature, "register"))
	}
	return out
}

// PreAuthIQ answers an IQ a client sent on host before authenticating,
// from remoteIP. It handles only registration requests (a get or set with
// one jabber:iq:register query, to host or without 'to') and reports
// false for anything else, which the session layer then refuses as
// before. The answer has no 'to': the client has no address yet.
func (m *Register) PreAuthIQ(ctx context.Context, host string, remoteIP netip.Addr, iq *xmppcore.Element) (*xmppcore.Element, bool) {
	if !iq.Is("", xmppcore.IQ) || !xmppcore.IsRequest(iq) || iq.ChildCount() != 1 {
		return nil, false
	}
	q := iq.Child(NS, "query")
	pa := iq.Child(NSPreAuth, "preauth")
	if q == nil && (pa == nil || !m.opts.Invites) {
		return nil, false
	}
	if to := iq.Attr("to"); to != "" {
		j, err := jid.Parse(to)
		if err != nil || j.String() != host {
			return nil, false
		}
	}
	answer := func(payload *xmppcore.Element, se *stanza.Error) (*xmppcore.Element, bool) {
		var reply *xmppcore.Element
		if se != nil {
			reply = xmppcore.ErrorReply(iq, *se)
			reply.RemoveAttr("to")
		} else {
			reply = xmppcore.New("", xmppcore.IQ, "type", "result")
			if id := iq.Attr("id"); id != "" {
				reply.SetAttr("id", id)
			}
			if payload != nil {
				reply.Append(payload)
			}
		}
		if iq.Attr("to") != "" {
			reply.SetAttr("from", host)
		}
		return reply, true
	}
	if pa != nil {
		if iq.Attr("type") != "set" {
			return answer(nil, &errBadPreAuth)
		}
		if err := m.checkToken(ctx, host, remoteIP, pa.Attr("token")); err != nil {
			var se stanza.Error
			if !errors.As(err, &se) {
				m.log.Error("checking an invitation token", "host", host, "err", err)
				se = xmppcore.NewError(stanza.InternalServerError, "")
			}
			return answer(nil, &se)
		}
		return answer(nil, nil)
	}
	if _, ok := m.preauthFor(host, remoteIP); !m.creationAllowed(host) && !ok {
		return answer(nil, &errDisabled)
	}
	if iq.Attr("type") == "get" {
		return answer(xmppcore.New(NS, "query").Append(
			xmppcore.New(NS, "instructions").AppendText(m.opts.Instructions),
			xmppcore.New(NS, "username"),
			xmppcore.New(NS, "password"),
		), nil)
	}
	if err := m.create(ctx, host, remoteIP, q); err != nil {
		var se stanza.Error
		if !errors.As(err, &se) {
			m.log.Error("registration failed", "host", host, "ip", remoteIP.String(), "err", err)
			se = xmppcore.NewError(stanza.InternalServerError, "")
		}
		return answer(nil, &se)
	}
	return answer(nil, nil)
}

// create registers a new account from a registration form.
func (m *Register) create(ctx context.Context, host string, ip netip.Addr, q *xmppcore.Element) error {
	if q.Child(NS, "remove") != nil {
		return errNotYet
	}
	username, password := q.ChildText(NS, "username"), q.ChildText(NS, "password")
	if username == "" || password == "" {
		return errMissing
	}
	local, err := normalize(username, host)
	if err != nil {
		return errBadUsername
	}
	if len(password) > m.opts.MaxPasswordLength {
		return xmppcore.NewError(stanza.NotAcceptable, fmt.Sprintf("the password is longer than %d bytes", m.opts.MaxPasswordLength))
	}
	pa, invited := m.preauthFor(host, ip)
	if !invited {
		if !m.creationAllowed(host) {
			return errDisabled
		}
		// XEP-0445 §5: a username an invitation names is reserved.
		reserved, err := m.store.InviteReserves(ctx, host, local, m.opts.Now())
		if err != nil {
			return err
		}
		if reserved {
			return errConflict
		}
	}
	if !m.lim.take(ip) {
		m.log.Info("registration refused: rate limit", "host", host, "ip", ip.String())
		return errTooMany
	}
	creds, err := m.credentials(password)
	if err != nil {
		return err
	}
	if invited {
		return m.createInvited(ctx, host, local, ip, pa, creds)
	}
	err = m.store.CreateAccount(ctx, host, local, creds)
	if errors.Is(err, storage.ErrConflict) {
		return errConflict
	}
	if err != nil {
		return err
	}
	m.log.Info("account registered in band", "user", local+"@"+host, "ip", ip.String())
	return nil
}

// limiter counts events per address (IPv6: per /64, what one host
// usually gets) in a sliding window.
type limiter struct {
	max    int
	window time.Duration
	now    func() time.Time

	mu   sync.Mutex
	hits map[netip.Addr][]time.Time
}

// maxTracked is how many addresses the limiter keeps before sweeping out
// those with no event left in the window.
const maxTracked = 10000

// take records an event for ip and reports whether it is within the limit;
// one over the limit is not recorded.
func (l *limiter) take(ip netip.Addr) bool {
	if l.max <= 0 {
		return true
	}
	if ip.Is6() && !ip.Is4In6() {
		if p, err := ip.Prefix(64); err == nil {
			ip = p.Addr()
		}
	}
	now := l.now()
	cut := now.Add(-l.window)
	l.mu.Lock()
	defer l.mu.Unlock()
	recent := func(ts []time.Time) []time.Time {
		i := 0
		for i < len(ts) && !ts[i].After(cut) {
			i++
		}
		return ts[i:]
	}
	if len(l.hits) >= maxTracked {
		for k, ts := range l.hits {
			if len(recent(ts)) == 0 {
				delete(l.hits, k)
			}
		}
	}
	ts := recent(l.hits[ip])
	if len(ts) >= l.max {
		l.hits[ip] = ts
		return false
	}
	l.hits[ip] = append(ts, now)
	return true
}
