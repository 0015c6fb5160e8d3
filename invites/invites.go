package invites

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"sync"
	"time"

	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"parley.im/parley/module"
	"parley.im/parley/module/adhoc"
	"parley.im/parley/router"
	"parley.im/parley/storage"
	"parley.im/parley/xmppcore"
)

// Command nodes and the result form type of XEP-0401.
const (
	NodeInvite        = "urn:xmpp:invite#invite"
	NodeCreateAccount = "urn:xmpp:invite#create-account"
	FormType          = "urn:xmpp:invite#invitation"
	NSPreAuth         = "urn:xmpp:pars:0" // XEP-0379
)

// DefaultTTL is how long an invitation stays valid when Options.TTL is
// zero.
const DefaultTTL = 7 * 24 * time.Hour

// purgeInterval is how often expired invitations are deleted.
const purgeInterval = time.Hour

// Store is the part of storage the module and Create use.
type Store interface {
	CreateInvite(ctx context.Context, inv storage.Invite) error
	AccountExists(ctx context.Context, host, username string) (bool, error)
	InviteReserves(ctx context.Context, host, username string, now time.Time) (bool, error)
	PurgeInvites(ctx context.Context, now time.Time) (int, error)
}

// ModuleStore is what the module needs besides Store: redeeming contact
// invitations in subscription requests (XEP-0379).
type ModuleStore interface {
	Store
	Invite(ctx context.Context, host, tokenHash string, now time.Time) (storage.Invite, error)
	TakeInvite(ctx context.Context, host, tokenHash string, now time.Time) (storage.Invite, error)
	UpdateRosterItem(ctx context.Context, host, username, contact string,
		f func(cur *storage.RosterItem) (*storage.RosterItem, error)) (*storage.RosterItem, int64, error)
}

var (
	_ ModuleStore   = storage.Store(nil)
	_ module.Module = (*Invites)(nil)
)

// Options configure the module.
type Options struct {
	// Admins are the bare JIDs, per host, who may create account
	// invitations (and contact invitations when AllowUsers is false).
	Admins map[string][]string
	// AllowUsers lets every local user create contact invitations.
	AllowUsers bool
	// TTL is the lifetime of invitations (DefaultTTL when zero).
	TTL time.Duration
	// LandingURL, when set, is the https URL the token is appended to for
	// the invitation's web page.
	LandingURL string
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Invites is the XEP-0401 module: the two ad-hoc commands that create
// invitations, and the purge of expired ones.
type Invites struct {
	store ModuleStore
	rt    *router.Router
	cmds  *adhoc.Service
	opts  Options
	log   *slog.Logger

	mu     sync.Mutex
	undo   []func()
	cancel context.CancelFunc
	done   chan struct{}
}

// New returns the module, which adds its commands to cmds.
func New(store ModuleStore, cmds *adhoc.Service, opts Options) *Invites {
	if opts.TTL <= 0 {
		opts.TTL = DefaultTTL
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Invites{store: store, cmds: cmds, opts: opts, log: slog.Default()}
}

// Name implements module.Module.
func (*Invites) Name() string { return "invites" }

// Register adds the commands, and runs the command service: the command
// IQ, its disco feature and the discovery of commands.
func (m *Invites) Register(r *module.Registrar) error {
	m.log, m.rt = r.Logger, r.Router
	// Ahead of the presence module, which then finds the pre-approval.
	r.Hook(router.EventPresenceBare, router.PriorityDefault+10, m.onSubscribe)
	r.IQ("set", adhoc.NS, "command", module.Server, func(ctx context.Context, iq *module.IQ) (*xmppcore.Element, error) {
		el, err := m.cmds.Execute(ctx, adhoc.Exec{From: iq.From, To: iq.To, Local: iq.Origin != nil, Payload: iq.Payload})
		var ce *adhoc.Error
		if errors.As(err, &ce) {
			return nil, module.AppError{Err: ce.Err, App: ce.App}
		}
		return el, err
	})
	r.Feature(module.Server, adhoc.NS)
	r.Hook(router.EventIQHost, adhoc.DiscoPriority, func(ctx context.Context, st *router.Stanza) bool {
		return m.cmds.Disco(ctx, r.Router, st)
	})
	m.mu.Lock()
	defer m.mu.Unlock()
	m.undo = append(m.undo,
		m.cmds.Add(adhoc.Command{Node: NodeInvite, Name: "Invite user", Allowed: m.mayInvite, Run: m.invite}),
		m.cmds.Add(adhoc.Command{Node: NodeCreateAccount, Name: "Create account", Allowed: m.isAdmin, Run: m.createAccount}))
	return nil
}

// Start runs the purge of expired invitations.
func (m *Invites) Start(context.Context) error {
	ctx, cancel := context.WithCancel(context.Background())
	m.mu.Lock()
	m.cancel, m.done = cancel, make(chan struct{})
	m.mu.Unlock()
	go func() {
		defer close(m.done)
		t := time.NewTicker(purgeInterval)
		defer t.Stop()
		for {
			if n, err := m.store.PurgeInvites(ctx, m.opts.Now()); err != nil && ctx.Err() == nil {
				m.log.Error("purging expired invitations", "err", err)
			} else if n > 0 {
				m.log.Info("expired invitations purged", "count", n)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return nil
}

// Stop removes the commands and stops the purge.
func (m *Invites) Stop(ctx context.Context) error {
	m.mu.Lock()
	undo, cancel, done := m.undo, m.cancel, m.done
	m.undo, m.cancel = nil, nil
	m.mu.Unlock()
	for _, f := range undo {
		f()
	}
	if cancel == nil {
		return nil
	}
	cancel()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (m *Invites) isAdmin(host string, requester jid.JID) bool {
	return slices.Contains(m.opts.Admins[host], requester.Bare().String())
}

func (m *Invites) mayInvite(host string, requester jid.JID) bool {
	return m.opts.AllowUsers || m.isAdmin(host, requester)
}

// invite creates a contact invitation from the requester at once
// (XEP-0401 §4.1): the invitee may register with it and becomes a mutual
// contact.
func (m *Invites) invite(ctx context.Context, req *adhoc.Request) (*adhoc.Response, error) {
	link, err := Create(ctx, m.store, Spec{Host: req.Host, Inviter: req.From.Localpart(), Register: true,
		TTL: m.opts.TTL, LandingURL: m.opts.LandingURL, Now: m.opts.Now()})
	if err != nil {
		return nil, err
	}
	m.log.Info("invitation created", "by", req.From.Bare().String(), "kind", "contact", "expires", link.Expires)
	return &adhoc.Response{Form: link.form()}, nil
}

// createAccount asks for an optional username and whether the new account
// is to be subscribed to the admin, then creates an account invitation
// (§4.2).
func (m *Invites) createAccount(ctx context.Context, req *adhoc.Request) (*adhoc.Response, error) {
	if req.Form == nil || req.Form.Attr("type") != "submit" {
		return &adhoc.Response{Executing: true, State: true, Form: adhoc.Form("form", "",
			adhoc.Field{Var: "username", Type: "text-single", Label: "Username (empty: the invitee chooses)"},
			adhoc.Field{Var: "roster-subscription", Type: "boolean", Label: "Add the new user to your contacts", Values: []string{"0"}},
		)}, nil
	}
	username, _ := adhoc.Value(req.Form, "username")
	subscribe, ok := adhoc.Bool(req.Form, "roster-subscription", false)
	if !ok {
		return nil, adhoc.BadPayload("roster-subscription must be a boolean")
	}
	spec := Spec{Host: req.Host, Username: username, Register: true, TTL: m.opts.TTL,
		LandingURL: m.opts.LandingURL, Now: m.opts.Now()}
	if subscribe {
		spec.Inviter = req.From.Localpart()
	}
	link, err := Create(ctx, m.store, spec)
	switch {
	case errors.Is(err, ErrBadUsername):
		return nil, adhoc.BadPayload("the username is not valid")
	case errors.Is(err, ErrTaken):
		return nil, module.AppError{Err: xmppcore.NewError(stanza.Conflict, "the username is taken"),
			App: xmppcore.New(adhoc.NS, "bad-payload")}
	case err != nil:
		return nil, err
	}
	m.log.Info("invitation created", "by", req.From.Bare().String(), "kind", "account", "expires", link.Expires)
	return &adhoc.Response{Form: link.form()}, nil
}

// Spec describes an invitation to create.
type Spec struct {
	Host string
	// Inviter is the localpart of the account the invitee becomes a mutual
	// contact of ("" for none). With Username empty, the link is a contact
	// invitation (xmpp:inviter@host?roster;...).
	Inviter string
	// Username, when set, is the only account the invitation registers.
	Username string
	// Register lets the token register an account (ibr=y on contact
	// invitations).
	Register   bool
	TTL        time.Duration
	LandingURL string
	Now        time.Time
}

// Link is a created invitation: the token, shown once, and its URIs.
type Link struct {
	Token      string
	URI        string
	LandingURL string // "" when none is configured
	Expires    time.Time
}

// Errors of Create.
var (
	ErrBadUsername = errors.New("invites: the username is not a valid JID localpart")
	ErrTaken       = errors.New("invites: the username is taken or reserved")
)

// Create stores a new invitation and returns its link. The token is 32
// random letters and digits (about 190 bits); only its hash is stored.
func Create(ctx context.Context, store Store, s Spec) (Link, error) {
	if s.Now.IsZero() {
		s.Now = time.Now()
	}
	if s.TTL <= 0 {
		s.TTL = DefaultTTL
	}
	if s.Username != "" {
		j, err := jid.New(s.Username, s.Host, "")
		if err != nil || j.Localpart() == "" {
			return Link{}, ErrBadUsername
		}
		s.Username = j.Localpart()
		exists, err := store.AccountExists(ctx, s.Host, s.Username)
		if err != nil {
			return Link{}, err
		}
		reserved, err := store.InviteReserves(ctx, s.Host, s.Username, s.Now)
		if err != nil {
			return Link{}, err
		}
		if exists || reserved {
			return Link{}, ErrTaken
		}
	}
	token := newToken()
	inv := storage.Invite{Host: s.Host, TokenHash: storage.InviteTokenHash(token), Inviter: s.Inviter,
		Username: s.Username, Register: s.Register, Created: s.Now, Expires: s.Now.Add(s.TTL).UTC().Truncate(time.Second)}
	if err := store.CreateInvite(ctx, inv); err != nil {
		return Link{}, fmt.Errorf("invites: storing the invitation: %w", err)
	}
	l := Link{Token: token, Expires: inv.Expires}
	switch {
	case s.Inviter != "" && s.Username == "":
		l.URI = "xmpp:" + uriJID(s.Inviter, s.Host) + "?roster;preauth=" + token
		if s.Register {
			l.URI += ";ibr=y"
		}
	default:
		l.URI = "xmpp:" + uriJID(s.Username, s.Host) + "?register;preauth=" + token
	}
	if s.LandingURL != "" {
		l.LandingURL = s.LandingURL + token
	}
	return l, nil
}

// uriJID writes a JID for an xmpp: URI (RFC 5122), escaping what the URI
// syntax reserves.
func uriJID(local, host string) string {
	if local == "" {
		return host
	}
	return url.PathEscape(local) + "@" + host
}

// form is the result form of both commands (XEP-0401 §4.1).
func (l Link) form() *xmppcore.Element {
	fields := []adhoc.Field{{Var: "uri", Type: "text-single", Label: "Invitation link", Values: []string{l.URI}}}
	if l.LandingURL != "" {
		fields = append(fields, adhoc.Field{Var: "landing-url", Type: "text-single", Label: "Web page", Values: []string{l.LandingURL}})
	}
	fields = append(fields, adhoc.Field{Var: "expire", Type: "text-single", Label: "Expires", Values: []string{l.Expires.UTC().Format(time.RFC3339)}})
	return adhoc.Form("result", FormType, fields...)
}

const tokenAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// newToken returns 32 letters and digits drawn uniformly (rejection
// sampling: 62 does not divide 256).
func newToken() string {
	out := make([]byte, 0, 32)
	buf := make([]byte, 64)
	for len(out) < 32 {
		_, _ = rand.Read(buf)
		for _, b := range buf {
			if int(b) < 4*len(tokenAlphabet) && len(out) < 32 {
				out = append(out, tokenAlphabet[int(b)%len(tokenAlphabet)])
			}
		}
	}
	return string(out)
}

// onSubscribe redeems a contact invitation carried in a subscription
// request (XEP-0379 §3.4, done by the inviter's server): with a valid
// token of the addressed user's, the inviter pre-approves the requester
// (RFC 6121 §3.4), so that the presence module answers subscribed at
// once, and asks for the requester's presence in return. The token is
// used up. Anything else goes on unchanged: a bad token is an ordinary
// subscription request.
func (m *Invites) onSubscribe(ctx context.Context, st *router.Stanza) bool {
	if st.Kind() != xmppcore.Presence || st.Type() != "subscribe" || st.From.Localpart() == "" {
		return false
	}
	pa := st.El.Child(NSPreAuth, "preauth")
	if pa == nil || pa.Attr("token") == "" {
		return false
	}
	inviter, contact := st.To.Bare(), st.From.Bare()
	if contact.Equal(inviter) {
		return false
	}
	host, hash, now := inviter.Domainpart(), storage.InviteTokenHash(pa.Attr("token")), m.opts.Now()
	inv, err := m.store.Invite(ctx, host, hash, now)
	if err != nil || inv.Inviter != inviter.Localpart() || inv.Username != "" {
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			m.log.Error("reading an invitation", "err", err)
		}
		m.log.Info("subscription with an invalid invitation token", "from", contact.String(), "to", inviter.String())
		return false
	}
	if _, err := m.store.TakeInvite(ctx, host, hash, now); err != nil {
		return false // used meanwhile
	}
	_, _, err = m.store.UpdateRosterItem(ctx, host, inviter.Localpart(), contact.String(),
		func(cur *storage.RosterItem) (*storage.RosterItem, error) {
			next := storage.RosterItem{JID: contact.String(), Subscription: storage.SubNone}
			if cur != nil {
				next = *cur
			}
			if next.Subscription == storage.SubNone || next.Subscription == storage.SubTo {
				next.Approved = true
			}
			if next.Subscription == storage.SubNone || next.Subscription == storage.SubFrom {
				next.PendingOut = true
			}
			return &next, nil
		})
	if err != nil {
		m.log.Error("invitation: pre-approving", "inviter", inviter.String(), "contact", contact.String(), "err", err)
		return false
	}
	m.log.Info("contact invitation redeemed", "inviter", inviter.String(), "contact", contact.String())
	sub := xmppcore.New("", xmppcore.Presence, "type", "subscribe", "from", inviter.String(), "to", contact.String())
	m.rt.Route(ctx, &router.Stanza{El: sub, From: inviter, To: contact, OnBehalf: true})
	return false
}
