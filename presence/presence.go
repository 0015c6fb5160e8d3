package presence

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"parley.im/parley/module"
	"parley.im/parley/router"
	"parley.im/parley/storage"
	"parley.im/parley/xmppcore"
)

// Namespaces.
const (
	NSPreApproval = "urn:xmpp:features:pre-approval" // RFC 6121 §3.4 stream feature
	NSDelay       = "urn:xmpp:delay"                 // XEP-0203
)

// DefaultMaxRosterItems bounds the items presence processing creates in a
// roster (a subscription request from a stranger creates one).
const DefaultMaxRosterItems = 1000

// Store is what presence needs from storage.
type Store interface {
	storage.Roster
	storage.AccountData
}

// RosterPusher is the roster module as presence uses it: Push tells a
// user's interested resources that an item changed from before to after
// (nil: absent) at version; OnRemove registers what to do when the user
// removes an item with a roster set.
type RosterPusher interface {
	Push(ctx context.Context, host, username string, before, after *storage.RosterItem, version int64)
	OnRemove(h func(ctx context.Context, host, username string, old storage.RosterItem))
}

// Option configures the module.
type Option func(*Presence)

// WithFederation lets presence the server generates on a user's behalf
// (broadcasts, probes, unavailable at logout, auto-replies) go to contacts
// on other domains. Without it only local contacts get it: with s2s off
// the router would answer each such stanza with remote-server-not-found,
// an error for something the user never sent.
func WithFederation() Option { return func(p *Presence) { p.federated = true } }

// WithClock replaces time.Now (for the delay stamped on probe answers).
func WithClock(now func() time.Time) Option { return func(p *Presence) { p.now = now } }

// WithMaxRosterItems replaces DefaultMaxRosterItems.
func WithMaxRosterItems(n int) Option {
	return func(p *Presence) {
		if n > 0 {
			p.maxItems = n
		}
	}
}

// Presence is the presence module.
type Presence struct {
	store     Store
	roster    RosterPusher
	federated bool
	now       func() time.Time
	maxItems  int

	mu       sync.Mutex
	rt       *router.Router
	log      *slog.Logger
	sessions map[string]*session // by full JID
	lastSeen map[string]lastSeen // by bare JID: the last unavailable presence
}

// session is what presence remembers of a bound session.
type session struct {
	sess      router.Session
	available bool
	directed  map[string]jid.JID // targets of directed available presence
}

type lastSeen struct {
	el *xmppcore.Element // the unavailable presence, 'from' the resource
	at time.Time
}

var _ module.Module = (*Presence)(nil)

// New returns the presence module. It registers itself with roster to be
// told about items the user removes.
func New(store Store, roster RosterPusher, opts ...Option) *Presence {
	p := &Presence{store: store, roster: roster, now: time.Now, maxItems: DefaultMaxRosterItems,
		log: slog.Default(), sessions: make(map[string]*session), lastSeen: make(map[string]lastSeen)}
	for _, o := range opts {
		o(p)
	}
	roster.OnRemove(p.itemRemoved)
	return p
}

// Name implements module.Module.
func (*Presence) Name() string { return "presence" }

// Register hooks presence into routing.
func (p *Presence) Register(r *module.Registrar) error {
	p.mu.Lock()
	p.rt, p.log = r.Router, r.Logger
	p.mu.Unlock()
	r.Hook(router.EventPreRoute, router.PriorityDefault, p.handleOutbound)
	r.Hook(router.EventPresenceBroadcast, router.PriorityDefault, p.handleBroadcast)
	r.Hook(router.EventPresenceBare, router.PriorityDefault, p.handleInbound)
	r.Hook(router.EventPresenceFull, router.PriorityDefault, p.handleInbound)
	r.OnSessionBound(p.sessionBound)
	r.OnSessionEnded(p.sessionEnded)
	r.StreamFeature(func() *xmppcore.Element { return xmppcore.New(NSPreApproval, "sub") })
	return nil
}

func (p *Presence) router() *router.Router {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rt
}

func (p *Presence) logger() *slog.Logger {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log
}

// canRoute says whether server-generated presence may go to j.
func (p *Presence) canRoute(j jid.JID) bool {
	return p.federated || p.router().IsLocalHost(j.Domainpart())
}

// route sends el from 'from' to 'to' through the router, as the server.
func (p *Presence) route(ctx context.Context, el *xmppcore.Element, from, to jid.JID) {
	el.SetAttr("from", from.String())
	el.SetAttr("to", to.String())
	p.router().Route(ctx, &router.Stanza{El: el, From: from, To: to})
}

// generated routes server-generated presence on the user's behalf, unless
// it would leave for a domain the server cannot reach. The user's own
// policies (a block list) apply to it through EventOnBehalf.
func (p *Presence) generated(ctx context.Context, el *xmppcore.Element, from, to jid.JID) {
	if p.canRoute(to) {
		el.SetAttr("from", from.String())
		el.SetAttr("to", to.String())
		p.router().Route(ctx, &router.Stanza{El: el, From: from, To: to, OnBehalf: true})
	}
}

func newPresence(typ string) *xmppcore.Element {
	if typ == "" {
		return xmppcore.New("", xmppcore.Presence)
	}
	return xmppcore.New("", xmppcore.Presence, "type", typ)
}

func userOf(j jid.JID) (host, username string) { return j.Domainpart(), j.Localpart() }

var errRosterFull = xmppcore.NewError(stanza.PolicyViolation, "the roster is full")

// --- subscriptions ---

// handleOutbound sees the user's stanzas before routing: subscription
// stanzas are processed and routed anew from the user's bare JID; directed
// presence is remembered and left to the router.
func (p *Presence) handleOutbound(ctx context.Context, st *router.Stanza) bool {
	if st.Kind() != xmppcore.Presence || st.Origin == nil || st.To.Equal(jid.JID{}) {
		return false
	}
	switch typ := st.Type(); {
	case isSubscription(typ):
		p.outboundSubscription(ctx, st, typ)
		return true
	case typ == "" || typ == Unavailable:
		p.trackDirected(st, typ)
	}
	return false
}

// update runs a transition on the user's item for contact and pushes the
// change. It returns the outcome, or ok=false when nothing was done.
func (p *Presence) update(ctx context.Context, user, contact jid.JID, typ string,
	step func(string, state) outcome) (o outcome, before *storage.RosterItem, ok bool) {
	host, username := userOf(user)
	var changed bool
	after, version, err := p.store.UpdateRosterItem(ctx, host, username, contact.String(),
		func(cur *storage.RosterItem) (*storage.RosterItem, error) {
			before, changed = nil, false
			if cur != nil {
				c := *cur
				before = &c
			}
			o = step(typ, stateOf(cur))
			if o.next == stateOf(cur) {
				return nil, storage.ErrUnchanged
			}
			next := nextItem(contact.String(), cur, o.next)
			if next == nil && cur == nil {
				return nil, storage.ErrUnchanged
			}
			changed = true
			return next, nil
		})
	if err != nil {
		p.logger().Error("roster update failed", "user", user.String(), "contact", contact.String(), "err", err)
		return o, nil, false
	}
	if changed {
		p.roster.Push(ctx, host, username, before, after, version)
	}
	return o, before, true
}

// roomFor reports whether the user's roster may take an item for contact
// when a transition would create it.
func (p *Presence) roomFor(ctx context.Context, user, contact jid.JID) bool {
	host, username := userOf(user)
	_, err := p.store.RosterItem(ctx, host, username, contact.String())
	if !errors.Is(err, storage.ErrNotFound) {
		return true // present, or a storage error that the update will meet
	}
	items, _, err := p.store.RosterItems(ctx, host, username)
	return err != nil || len(items) < p.maxItems
}

func (p *Presence) outboundSubscription(ctx context.Context, st *router.Stanza, typ string) {
	user, contact := st.From.Bare(), st.To.Bare()
	if contact.Equal(user) {
		// RFC 6121 §4.2.2: a user is implicitly subscribed to itself, a
		// subscription that can neither be asked again nor cancelled. A
		// subscribe is answered as for any existing subscription (§3.1.3).
		if typ == Subscribe {
			reply := newPresence(Subscribed)
			reply.SetAttr("from", user.String())
			reply.SetAttr("to", st.From.String())
			st.Origin.Send(reply)
		}
		return
	}
	if (typ == Subscribe || typ == Subscribed) && !p.roomFor(ctx, user, contact) {
		p.router().Error(ctx, st, errRosterFull)
		return
	}
	o, before, ok := p.update(ctx, user, contact, typ, outbound)
	if !ok {
		return
	}
	if o.forward {
		// §3.1.2: stamped with the bare JIDs on both ends.
		p.route(ctx, st.El.ShallowClone(), user, contact)
	}
	p.effects(ctx, user, contact, o, before)
}

// effects sends what a transition implies besides the stanza itself.
func (p *Presence) effects(ctx context.Context, user, contact jid.JID, o outcome, before *storage.RosterItem) {
	if o.sendPresence {
		p.sendCurrentPresence(ctx, user, contact)
	}
	if o.sendUnavailable {
		p.sendUnavailable(ctx, user, contact)
	}
	if stateOf(before).in && !o.next.in {
		p.forgetRequest(ctx, user, contact)
	}
}

// handleInbound processes subscription stanzas and probes addressed to a
// local account (its bare JID, or a full JID: RFC 6121 §8.5.3). Other
// presence is left to the router.
func (p *Presence) handleInbound(ctx context.Context, st *router.Stanza) bool {
	if st.Kind() != xmppcore.Presence {
		return false
	}
	typ := st.Type()
	switch {
	case typ == Probe:
		if !st.From.Equal(jid.JID{}) {
			p.answerProbe(ctx, st.To.Bare(), st.From)
		}
		return true
	case isSubscription(typ):
		if !st.From.Equal(jid.JID{}) && !st.From.Bare().Equal(st.To.Bare()) {
			p.inboundSubscription(ctx, st, typ)
		}
		return true
	}
	return false
}

func (p *Presence) inboundSubscription(ctx context.Context, st *router.Stanza, typ string) {
	user, contact := st.To.Bare(), st.From.Bare()
	if typ == Subscribe && !p.roomFor(ctx, user, contact) {
		p.logger().Info("subscription request dropped: roster full", "user", user.String(), "contact", contact.String())
		return
	}
	o, before, ok := p.update(ctx, user, contact, typ, inbound)
	if !ok {
		return
	}
	if o.autoReply {
		p.generated(ctx, newPresence(Subscribed), user, contact)
	}
	if o.forward {
		el := st.El.ShallowClone()
		el.SetAttr("from", contact.String())
		el.SetAttr("to", user.String())
		if typ == Subscribe {
			p.keepRequest(ctx, user, contact, el)
		}
		for _, ri := range p.router().Resources(user) {
			if ri.Available {
				ri.Session.Send(el)
			}
		}
	}
	p.effects(ctx, user, contact, o, before)
}

// keepRequest stores a subscription request until the user answers it, to
// present it again at each initial presence (RFC 6121 §3.1.3).
func (p *Presence) keepRequest(ctx context.Context, user, contact jid.JID, el *xmppcore.Element) {
	host, username := userOf(user)
	if err := p.store.PutData(ctx, host, username, storage.DataSubscribeRequest, contact.String(),
		el.AppendXML(nil, xmppcore.NSClient)); err != nil {
		p.logger().Error("storing a subscription request failed", "user", user.String(), "err", err)
	}
}

func (p *Presence) forgetRequest(ctx context.Context, user, contact jid.JID) {
	host, username := userOf(user)
	err := p.store.DeleteData(ctx, host, username, storage.DataSubscribeRequest, contact.String())
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		p.logger().Error("deleting a subscription request failed", "user", user.String(), "err", err)
	}
}

// pendingRequests sends the stored requests still pending to a session
// that just became available.
func (p *Presence) pendingRequests(ctx context.Context, s router.Session) {
	user := s.JID().Bare()
	host, username := userOf(user)
	reqs, err := p.store.ListData(ctx, host, username, storage.DataSubscribeRequest)
	if err != nil {
		p.logger().Error("listing subscription requests failed", "user", user.String(), "err", err)
		return
	}
	for _, req := range reqs {
		it, err := p.store.RosterItem(ctx, host, username, req.Key)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			continue
		}
		el, perr := parseStanza(req.Value)
		if err != nil || !it.PendingIn || perr != nil {
			// Answered meanwhile (or unreadable): not pending any more.
			_ = p.store.DeleteData(ctx, host, username, storage.DataSubscribeRequest, req.Key)
			continue
		}
		s.Send(el)
	}
}

// parseStanza reads one stanza stored with AppendXML.
func parseStanza(b []byte) (*xmppcore.Element, error) {
	const header = `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`
	r := xmppcore.NewReader(bytes.NewReader(append([]byte(header), b...)), xmppcore.Limits{})
	if _, err := r.ReadHeader(); err != nil {
		return nil, err
	}
	return r.Next()
}

// itemRemoved is run by the roster module after the user removed an item:
// RFC 6121 §2.5.2 cancels both directions of the subscription.
func (p *Presence) itemRemoved(ctx context.Context, host, username string, old storage.RosterItem) {
	user, err := jid.New(username, host, "")
	if err != nil {
		return
	}
	contact, err := jid.Parse(old.JID)
	if err != nil || contact.Equal(user) {
		return
	}
	s := stateOf(&old)
	if s.to || s.out {
		p.generated(ctx, newPresence(Unsubscribe), user, contact)
	}
	if s.from || s.in {
		p.generated(ctx, newPresence(Unsubscribed), user, contact)
	}
	if s.from {
		p.sendUnavailable(ctx, user, contact)
	}
	if s.in {
		p.forgetRequest(ctx, user, contact)
	}
}

// sendCurrentPresence sends contact the last presence of each of the
// user's available resources.
func (p *Presence) sendCurrentPresence(ctx context.Context, user, contact jid.JID) {
	if !p.canRoute(contact) {
		return
	}
	for _, ri := range p.router().Resources(user) {
		if ri.Available && ri.Presence != nil {
			p.route(ctx, ri.Presence.ShallowClone(), ri.Session.JID(), contact)
		}
	}
}

// sendUnavailable sends contact unavailable presence from each of the
// user's available resources.
func (p *Presence) sendUnavailable(ctx context.Context, user, contact jid.JID) {
	if !p.canRoute(contact) {
		return
	}
	for _, ri := range p.router().Resources(user) {
		if ri.Available {
			p.route(ctx, newPresence(Unavailable), ri.Session.JID(), contact)
		}
	}
}
