package blocking

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"parley.im/parley/module"
	"parley.im/parley/router"
	"parley.im/parley/storage"
	"parley.im/parley/xmppcore"
)

// Namespaces of XEP-0191.
const (
	NS       = "urn:xmpp:blocking"
	NSErrors = "urn:xmpp:blocking:errors"
)

// DefaultMaxItems bounds a block list when Options.MaxItems is zero.
const DefaultMaxItems = 1000

// Store is the part of storage the module uses.
type Store interface {
	BlockedJIDs(ctx context.Context, host, username string) ([]string, error)
	Block(ctx context.Context, host, username string, jids []string) (added []string, err error)
	Unblock(ctx context.Context, host, username string, jids []string) (removed []string, err error)
}

// Contacts reads rosters, to tell who may receive a user's presence.
type Contacts interface {
	RosterItems(ctx context.Context, host, username string) (items []storage.RosterItem, version int64, err error)
}

// Options configure the module.
type Options struct {
	// MaxItems is the most JIDs one list may hold: 0 means
	// DefaultMaxItems, a negative value no limit.
	MaxItems int
	// Roster, when set, restricts the presence sent on block and unblock
	// to contacts subscribed to the user's presence.
	Roster Contacts
}

// Blocking is the XEP-0191 module.
type Blocking struct {
	store  Store
	roster Contacts
	max    int

	rt  *router.Router
	log *slog.Logger

	// lists holds the lists of users with sessions, by bare JID. Every
	// stanza to or from a local user looks here, so it is a plain map
	// read under a read lock with a key built on the stack: no allocation
	// per stanza, where a sync.Map's key would be boxed each time.
	listsMu sync.RWMutex
	lists   map[string]*list
	pushSeq atomic.Uint64
}

// list is the cached block list of a user with sessions.
type list struct {
	set atomic.Pointer[map[string]struct{}] // nil until loaded; replaced, never changed

	mu        sync.Mutex                  // serializes loading and changes
	requested map[router.Session]struct{} // sessions that retrieved the list
}

var (
	_ module.Module = (*Blocking)(nil)
	_ Store         = storage.Blocklist(nil)
	_ Contacts      = storage.Roster(nil)
)

// New returns the blocking module over store.
func New(store Store, opts Options) *Blocking {
	b := &Blocking{store: store, roster: opts.Roster, max: opts.MaxItems, lists: make(map[string]*list)}
	switch {
	case b.max == 0:
		b.max = DefaultMaxItems
	case b.max < 0:
		b.max = 0
	}
	return b
}

// Name implements module.Module.
func (*Blocking) Name() string { return "blocking" }

// Register adds the IQ handlers, the routing hooks and the feature.
func (b *Blocking) Register(r *module.Registrar) error {
	b.rt, b.log = r.Router, r.Logger
	r.IQ("get", NS, "blocklist", module.Account, b.get)
	r.IQ("set", NS, "block", module.Account, b.block)
	r.IQ("set", NS, "unblock", module.Account, b.unblock)
	r.Feature(module.Server, NS)
	r.Hook(router.EventPreRoute, router.PriorityEarly, b.outbound)
	r.Hook(router.EventOnBehalf, router.PriorityEarly, b.outbound)
	for _, ev := range []router.Event{router.EventMessageBare, router.EventMessageFull,
		router.EventPresenceBare, router.EventPresenceFull, router.EventIQBare, router.EventIQFull} {
		r.Hook(ev, router.PriorityEarly, b.inbound)
	}
	r.OnSessionEnded(b.sessionEnded)
	return nil
}

// matches applies XEP-0191 §3.4: the full JID, its bare JID, or its domain.
func matches(set map[string]struct{}, j jid.JID) bool {
	if len(set) == 0 {
		return false
	}
	if _, ok := set[j.String()]; ok {
		return true
	}
	if _, ok := set[j.Bare().String()]; ok {
		return true
	}
	_, ok := set[j.Domainpart()]
	return ok
}

// isBlocked reports whether user blocked other. Errors fail open: a
// storage outage must not silence every conversation.
func (b *Blocking) isBlocked(ctx context.Context, user, other jid.JID) bool {
	if other.Bare().Equal(user) || (other.Localpart() == "" && other.Resourcepart() == "" && b.rt.IsLocalHost(other.Domainpart())) {
		return false
	}
	_, set, err := b.lookup(ctx, user)
	if err != nil {
		b.log.Error("reading a block list failed; not blocking", "user", user.String(), "err", err)
		return false
	}
	return matches(set, other)
}

// lookup returns the user's list: from the cache (created and loaded when
// the user has sessions) or, for a user without any, from storage with a
// nil *list.
func (b *Blocking) lookup(ctx context.Context, user jid.JID) (*list, map[string]struct{}, error) {
	l := b.cached(user)
	if l == nil {
		if len(b.rt.Resources(user)) == 0 {
			set, err := b.fetch(ctx, user)
			return nil, set, err
		}
		l = b.cache(user)
	}
	if p := l.set.Load(); p != nil {
		return l, *p, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	set, err := b.loadLocked(ctx, l, user)
	return l, set, err
}

// cached returns the cached list of a user (a bare JID), or nil.
func (b *Blocking) cached(user jid.JID) *list {
	var buf [64]byte
	key := router.AppendBare(buf[:0], user)
	b.listsMu.RLock()
	l := b.lists[string(key)]
	b.listsMu.RUnlock()
	return l
}

// cache returns the cached list of a user, adding an empty one if there is
// none.
func (b *Blocking) cache(user jid.JID) *list {
	key := user.String()
	b.listsMu.Lock()
	defer b.listsMu.Unlock()
	l := b.lists[key]
	if l == nil {
		l = &list{}
		b.lists[key] = l
	}
	return l
}

// loadLocked fills l from storage if needed; l.mu is held.
func (b *Blocking) loadLocked(ctx context.Context, l *list, user jid.JID) (map[string]struct{}, error) {
	if p := l.set.Load(); p != nil {
		return *p, nil
	}
	set, err := b.fetch(ctx, user)
	if err != nil {
		return nil, err
	}
	l.set.Store(&set)
	return set, nil
}

func (b *Blocking) fetch(ctx context.Context, user jid.JID) (map[string]struct{}, error) {
	jids, err := b.store.BlockedJIDs(ctx, user.Domainpart(), user.Localpart())
	if err != nil {
		return nil, err
	}
	set := make(map[string]struct{}, len(jids))
	for _, j := range jids {
		set[j] = struct{}{}
	}
	return set, nil
}

func (b *Blocking) sessionEnded(_ context.Context, s router.Session, _ bool) {
	user := s.JID().Bare()
	if len(b.rt.Resources(user)) == 0 {
		b.listsMu.Lock()
		delete(b.lists, user.String())
		b.listsMu.Unlock()
		return
	}
	if l := b.cached(user); l != nil {
		l.mu.Lock()
		delete(l.requested, s)
		l.mu.Unlock()
	}
}

var (
	errForbidden = xmppcore.NewError(stanza.Forbidden, "only your own block list")
	errNoItems   = xmppcore.NewError(stanza.BadRequest, "block needs at least one item")
	errTooMany   = xmppcore.NewError(stanza.PolicyViolation, "too many blocked JIDs")
)

func (b *Blocking) get(ctx context.Context, iq *module.IQ) (*xmppcore.Element, error) {
	if !iq.Self {
		return nil, errForbidden
	}
	l, set, err := b.lookup(ctx, iq.To.Bare())
	if err != nil {
		return nil, err
	}
	if l != nil && iq.Origin != nil {
		l.mu.Lock()
		if l.requested == nil {
			l.requested = make(map[router.Session]struct{})
		}
		l.requested[iq.Origin] = struct{}{}
		l.mu.Unlock()
	}
	return itemsElement("blocklist", slices.Sorted(maps.Keys(set))), nil
}

func itemsElement(local string, jids []string) *xmppcore.Element {
	el := xmppcore.New(NS, local)
	for _, j := range jids {
		el.Append(xmppcore.New(NS, "item", "jid", j))
	}
	return el
}

// items parses the <item jid='...'/> children into normalized JIDs, in
// order and without duplicates.
func items(payload *xmppcore.Element) ([]string, []jid.JID, error) {
	var strs []string
	var jids []jid.JID
	for c := range payload.Children() {
		if !c.Is(NS, "item") {
			continue
		}
		j, err := jid.Parse(c.Attr("jid"))
		if err != nil {
			return nil, nil, xmppcore.NewError(stanza.JIDMalformed, "")
		}
		if s := j.String(); !slices.Contains(strs, s) {
			strs = append(strs, s)
			jids = append(jids, j)
		}
	}
	return strs, jids, nil
}

func (b *Blocking) block(ctx context.Context, iq *module.IQ) (*xmppcore.Element, error) {
	if !iq.Self {
		return nil, errForbidden
	}
	strs, jids, err := items(iq.Payload)
	if err != nil {
		return nil, err
	}
	if len(strs) == 0 {
		return nil, errNoItems
	}
	user := iq.To.Bare()
	added, err := b.change(ctx, user, func(set map[string]struct{}) ([]string, error) {
		if b.max > 0 {
			n := len(set)
			for _, s := range strs {
				if _, ok := set[s]; !ok {
					n++
				}
			}
			if n > b.max {
				return nil, errTooMany
			}
		}
		return b.store.Block(ctx, user.Domainpart(), user.Localpart(), strs)
	}, func(set map[string]struct{}, changed []string) {
		for _, s := range changed {
			set[s] = struct{}{}
		}
	})
	if err != nil {
		return nil, err
	}
	b.push(user, itemsElement("block", strs))
	b.sendPresence(ctx, user, pick(jids, added), true)
	return nil, nil
}

func (b *Blocking) unblock(ctx context.Context, iq *module.IQ) (*xmppcore.Element, error) {
	if !iq.Self {
		return nil, errForbidden
	}
	strs, _, err := items(iq.Payload)
	if err != nil {
		return nil, err
	}
	user := iq.To.Bare()
	removed, err := b.change(ctx, user, func(map[string]struct{}) ([]string, error) {
		// An empty list unblocks everything (§3.5).
		return b.store.Unblock(ctx, user.Domainpart(), user.Localpart(), strs)
	}, func(set map[string]struct{}, changed []string) {
		if len(strs) == 0 {
			clear(set)
		}
		for _, s := range changed {
			delete(set, s)
		}
	})
	if err != nil {
		return nil, err
	}
	b.push(user, itemsElement("unblock", strs))
	var gone []jid.JID
	for _, s := range removed {
		if j, err := jid.Parse(s); err == nil {
			gone = append(gone, j)
		}
	}
	b.sendPresence(ctx, user, gone, false)
	return nil, nil
}

// change writes a change to storage and then to the cached list, one
// change per user at a time. write gets the current set (do not modify);
// apply gets a copy to modify with what write reported as changed.
func (b *Blocking) change(ctx context.Context, user jid.JID,
	write func(set map[string]struct{}) ([]string, error),
	apply func(set map[string]struct{}, changed []string)) ([]string, error) {
	l, set, err := b.lookup(ctx, user)
	if err != nil {
		return nil, err
	}
	if l == nil {
		return write(set)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if set, err = b.loadLocked(ctx, l, user); err != nil {
		return nil, err
	}
	changed, err := write(set)
	if err != nil {
		return nil, err
	}
	next := maps.Clone(set)
	apply(next, changed)
	l.set.Store(&next)
	return changed, nil
}

// push sends a block or unblock push to the resources that retrieved the
// list (§3.3: "all of the user's resources that have requested the
// blocklist").
func (b *Blocking) push(user jid.JID, payload *xmppcore.Element) {
	l := b.cached(user)
	if l == nil {
		return
	}
	l.mu.Lock()
	sessions := slices.Collect(maps.Keys(l.requested))
	l.mu.Unlock()
	for _, s := range sessions {
		s.Send(xmppcore.New("", xmppcore.IQ, "type", "set", "id", "block-push-"+strconv.FormatUint(b.pushSeq.Add(1), 10),
			"to", s.JID().String()).Append(payload))
	}
}

// pick returns the JIDs of js whose string form is in strs.
func pick(js []jid.JID, strs []string) []jid.JID {
	var out []jid.JID
	for _, j := range js {
		if slices.Contains(strs, j.String()) {
			out = append(out, j)
		}
	}
	return out
}

// sendPresence sends, from each available resource of user, unavailable
// presence (on block) or the resource's current presence (on unblock) to
// the entities concerned by the changed items.
func (b *Blocking) sendPresence(ctx context.Context, user jid.JID, changed []jid.JID, blocked bool) {
	if len(changed) == 0 {
		return
	}
	var avail []router.ResourceInfo
	for _, ri := range b.rt.Resources(user) {
		if ri.Available && (blocked || ri.Presence != nil) {
			avail = append(avail, ri)
		}
	}
	if len(avail) == 0 {
		return
	}
	targets, err := b.targets(ctx, user, changed)
	if err != nil {
		b.log.Error("reading the roster failed; no presence sent on block change", "user", user.String(), "err", err)
		return
	}
	for _, to := range targets {
		for _, ri := range avail {
			from := ri.Session.JID()
			var p *xmppcore.Element
			if blocked {
				p = xmppcore.New("", xmppcore.Presence, "type", "unavailable")
			} else {
				p = ri.Presence.ShallowClone()
			}
			p.SetAttr("from", from.String())
			p.SetAttr("to", to.String())
			// From the server on the user's behalf: no origin, so that
			// EventPreRoute (this module's own outbound check) is skipped.
			b.rt.Route(ctx, &router.Stanza{El: p, From: from, To: to})
		}
	}
}

// targets returns who gets presence for a change of the given items.
func (b *Blocking) targets(ctx context.Context, user jid.JID, changed []jid.JID) ([]jid.JID, error) {
	if b.roster == nil {
		var out []jid.JID
		for _, j := range changed {
			if j.Localpart() != "" {
				out = append(out, j)
			}
		}
		return out, nil
	}
	roster, _, err := b.roster.RosterItems(ctx, user.Domainpart(), user.Localpart())
	if err != nil {
		return nil, err
	}
	var out []jid.JID
	add := func(j jid.JID) {
		if !slices.ContainsFunc(out, j.Equal) {
			out = append(out, j)
		}
	}
	for _, it := range roster {
		if it.Subscription != storage.SubFrom && it.Subscription != storage.SubBoth {
			continue
		}
		contact, err := jid.Parse(it.JID)
		if err != nil {
			continue
		}
		for _, j := range changed {
			switch {
			case j.Localpart() != "":
				if j.Bare().Equal(contact.Bare()) {
					add(j) // the full JID for a full-JID item
				}
			case j.Resourcepart() == "" && j.Domainpart() == contact.Domainpart():
				add(contact)
			}
		}
	}
	return out, nil
}

// outbound stops what a user sends to a JID they blocked (§3.3.1).
func (b *Blocking) outbound(ctx context.Context, st *router.Stanza) bool {
	if st.To.Equal(jid.JID{}) || !b.isBlocked(ctx, st.From.Bare(), st.To) {
		return false
	}
	if st.Kind() == xmppcore.Presence || (st.Kind() == xmppcore.Message && st.Type() == "error") {
		return true
	}
	reply := xmppcore.ErrorReply(st.El, xmppcore.NewError(stanza.NotAcceptable, ""))
	if reply == nil || st.Origin == nil {
		return true // an IQ result or error: dropped
	}
	if e := reply.Child("", "error"); e != nil {
		e.Append(xmppcore.New(NSErrors, "blocked"))
	}
	reply.SetAttr("from", st.To.String())
	reply.SetAttr("to", st.From.String())
	st.Origin.Send(reply)
	return true
}

// inbound stops what a blocked JID sends to the user (§3.3.1).
func (b *Blocking) inbound(ctx context.Context, st *router.Stanza) bool {
	if st.From.Equal(jid.JID{}) || !b.isBlocked(ctx, st.To.Bare(), st.From) {
		return false
	}
	if st.Kind() != xmppcore.Presence {
		// Router.Error answers nothing to errors and IQ results.
		b.rt.Error(ctx, st, xmppcore.NewError(stanza.ServiceUnavailable, ""))
	}
	return true
}
