package roster

import (
	"context"
	"errors"
	"log/slog"
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

// Namespaces.
const (
	NS    = "jabber:iq:roster"
	NSVer = "urn:xmpp:features:rosterver" // XEP-0237 stream feature
)

// Limits bound a roster. A zero field takes the default.
type Limits struct {
	MaxItems       int // items in one roster, hidden ones included
	MaxNameLength  int // bytes of an item's name
	MaxGroupLength int // bytes of one group name
	MaxGroups      int // groups of one item
}

// DefaultLimits are used for the zero fields of the Limits given to New.
var DefaultLimits = Limits{MaxItems: 1000, MaxNameLength: 256, MaxGroupLength: 256, MaxGroups: 32}

// Store is what the roster needs from storage.
type Store interface {
	storage.Roster
}

// RemoveHook is told about an item the user removed, with the item as it
// was, once the removal is stored and pushed.
type RemoveHook func(ctx context.Context, host, username string, old storage.RosterItem)

// Option configures the module.
type Option func(*Roster)

// WithLimits replaces DefaultLimits (zero fields keep the default).
func WithLimits(l Limits) Option {
	return func(r *Roster) {
		if l.MaxItems > 0 {
			r.limits.MaxItems = l.MaxItems
		}
		if l.MaxNameLength > 0 {
			r.limits.MaxNameLength = l.MaxNameLength
		}
		if l.MaxGroupLength > 0 {
			r.limits.MaxGroupLength = l.MaxGroupLength
		}
		if l.MaxGroups > 0 {
			r.limits.MaxGroups = l.MaxGroups
		}
	}
}

// Roster is the roster module.
type Roster struct {
	store  Store
	limits Limits
	pushID atomic.Uint64

	mu         sync.Mutex
	rt         *router.Router
	log        *slog.Logger
	interested map[string]interest // by full JID
	onRemove   []RemoveHook
}

type interest struct {
	sess      router.Session
	versioned bool // asked with 'ver': pushes carry the version
}

var _ module.Module = (*Roster)(nil)

// New returns the roster module.
func New(store Store, opts ...Option) *Roster {
	r := &Roster{store: store, limits: DefaultLimits, interested: make(map[string]interest), log: slog.Default()}
	for _, o := range opts {
		o(r)
	}
	return r
}

// Name implements module.Module.
func (*Roster) Name() string { return "roster" }

// OnRemove adds a hook run after an item is removed by a roster set.
func (r *Roster) OnRemove(h func(ctx context.Context, host, username string, old storage.RosterItem)) {
	r.mu.Lock()
	r.onRemove = append(r.onRemove, h)
	r.mu.Unlock()
}

// Register claims roster IQs addressed to accounts, offers roster
// versioning and tracks interested resources.
//
// The IQs are taken at EventIQBare rather than through Registrar.IQ because
// a versioned get must answer with its result before the pushes that follow
// it (XEP-0237 §4), and a registered handler's result goes out only after
// the handler returns.
func (r *Roster) Register(reg *module.Registrar) error {
	r.mu.Lock()
	r.rt, r.log = reg.Router, reg.Logger
	r.mu.Unlock()
	reg.Hook(router.EventIQBare, router.PriorityEarly, r.handleIQ)
	reg.StreamFeature(func() *xmppcore.Element { return xmppcore.New(NSVer, "ver") })
	reg.OnSessionBound(func(_ context.Context, s router.Session, _ bool) { r.forget(s, true) })
	reg.OnSessionEnded(func(_ context.Context, s router.Session, _ bool) { r.forget(s, false) })
	return nil
}

// forget drops a session's interest. A newly bound session replaces
// whatever an older session of the same full JID left behind.
func (r *Roster) forget(s router.Session, always bool) {
	key := s.JID().String()
	r.mu.Lock()
	defer r.mu.Unlock()
	if in, ok := r.interested[key]; ok && (always || in.sess == s) {
		delete(r.interested, key)
	}
}

func (r *Roster) router() *router.Router {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rt
}

func (r *Roster) logger() *slog.Logger {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.log
}

var (
	errForbidden  = xmppcore.NewError(stanza.Forbidden, "")
	errNotFound   = xmppcore.NewError(stanza.ItemNotFound, "")
	errInternal   = xmppcore.NewError(stanza.InternalServerError, "")
	errRosterFull = xmppcore.NewError(stanza.PolicyViolation, "the roster is full")
)

func badRequest(text string) stanza.Error    { return xmppcore.NewError(stanza.BadRequest, text) }
func notAcceptable(text string) stanza.Error { return xmppcore.NewError(stanza.NotAcceptable, text) }

func (r *Roster) handleIQ(ctx context.Context, st *router.Stanza) bool {
	if !xmppcore.IsRequest(st.El) || st.El.ChildCount() != 1 {
		return false
	}
	q := st.El.FirstChild()
	if !q.Is(NS, "query") {
		return false
	}
	rt := r.router()
	// RFC 6121 §2.1.5: only an authenticated resource of the account
	// itself may see or change its roster.
	if st.Origin == nil || !st.From.Bare().Equal(st.To.Bare()) || st.To.Resourcepart() != "" {
		rt.Error(ctx, st, errForbidden)
		return true
	}
	var err error
	if st.Type() == "get" {
		err = r.get(ctx, st, q)
	} else {
		err = r.set(ctx, st, q)
	}
	if err != nil {
		var se stanza.Error
		if !errors.As(err, &se) {
			r.logger().Error("roster request failed", "jid", st.From.String(), "err", err)
			se = errInternal
		}
		rt.Error(ctx, st, se)
	}
	return true
}

// reply sends the result of st to its requester with an optional payload.
func reply(st *router.Stanza, payload *xmppcore.Element) {
	res := xmppcore.New("", xmppcore.IQ, "type", "result")
	if id := st.El.Attr("id"); id != "" {
		res.SetAttr("id", id)
	}
	res.SetAttr("to", st.From.String())
	if st.El.Attr("to") != "" {
		res.SetAttr("from", st.To.String())
	}
	if payload != nil {
		res.Append(payload)
	}
	st.Origin.Send(res)
}

func (r *Roster) get(ctx context.Context, st *router.Stanza, q *xmppcore.Element) error {
	if q.ChildCount() != 0 {
		return badRequest("a roster get carries no items")
	}
	host, user := st.From.Domainpart(), st.From.Localpart()
	ver, versioned := q.LookupAttr("", "ver")
	r.mu.Lock()
	r.interested[st.From.String()] = interest{sess: st.Origin, versioned: versioned}
	r.mu.Unlock()

	if n, err := strconv.ParseInt(ver, 10, 64); versioned && err == nil && n >= 0 {
		changes, _, ok, err := r.store.RosterChangesSince(ctx, host, user, n)
		if err != nil {
			return err
		}
		if ok {
			// XEP-0237 §4.3: an empty result, then one push per change.
			reply(st, nil)
			for _, ch := range changes {
				var it *storage.RosterItem
				if !ch.Removed {
					it = &ch.Item
				}
				st.Origin.Send(r.pushIQ(st.From, ch.Item.JID, it, ch.Item.Version, true))
			}
			return nil
		}
	}
	items, version, err := r.store.RosterItems(ctx, host, user)
	if err != nil {
		return err
	}
	res := xmppcore.New(NS, "query")
	if versioned {
		res.SetAttr("ver", strconv.FormatInt(version, 10))
	}
	for i := range items {
		if !Hidden(&items[i]) {
			res.Append(itemElement(&items[i]))
		}
	}
	reply(st, res)
	return nil
}

// Hidden reports whether a stored item is kept from the client: it only
// records a contact's pending subscription request.
func Hidden(it *storage.RosterItem) bool {
	return it.PendingIn && !it.PendingOut && !it.Approved && subscription(it) == storage.SubNone &&
		it.Name == "" && len(it.Groups) == 0
}

func subscription(it *storage.RosterItem) string {
	if it.Subscription == "" {
		return storage.SubNone
	}
	return it.Subscription
}

// itemElement is the wire form of an item in a result or push.
func itemElement(it *storage.RosterItem) *xmppcore.Element {
	el := xmppcore.New(NS, "item", "jid", it.JID)
	if it.Name != "" {
		el.SetAttr("name", it.Name)
	}
	el.SetAttr("subscription", subscription(it))
	if it.PendingOut {
		el.SetAttr("ask", "subscribe")
	}
	if it.Approved {
		el.SetAttr("approved", "true")
	}
	for _, g := range it.Groups {
		el.Append(xmppcore.New(NS, "group").AppendText(g))
	}
	return el
}

// pushIQ builds a roster push of item (nil: removal of contact) for one
// resource. RFC 6121 §2.1.6: no 'from', which stands for the account.
func (r *Roster) pushIQ(to jid.JID, contact string, item *storage.RosterItem, version int64, versioned bool) *xmppcore.Element {
	q := xmppcore.New(NS, "query")
	if versioned {
		q.SetAttr("ver", strconv.FormatInt(version, 10))
	}
	if item == nil || Hidden(item) {
		q.Append(xmppcore.New(NS, "item", "jid", contact, "subscription", "remove"))
	} else {
		q.Append(itemElement(item))
	}
	return xmppcore.New("", xmppcore.IQ, "type", "set", "id", "push-"+strconv.FormatUint(r.pushID.Add(1), 10),
		"to", to.String()).Append(q)
}

// view is what a client sees of a stored item: nil when absent or hidden.
func view(it *storage.RosterItem) *storage.RosterItem {
	if it == nil || Hidden(it) {
		return nil
	}
	return it
}

func sameView(a, b *storage.RosterItem) bool {
	a, b = view(a), view(b)
	if a == nil || b == nil {
		return a == b
	}
	return a.JID == b.JID && a.Name == b.Name && subscription(a) == subscription(b) &&
		a.PendingOut == b.PendingOut && a.Approved == b.Approved && slices.Equal(a.Groups, b.Groups)
}

// Push tells the account's interested resources that an item changed from
// before to after (nil: absent), as stored at version. Nothing is sent when
// the change is not visible to clients (a hidden item came or went, or
// only PendingIn changed).
func (r *Roster) Push(ctx context.Context, host, username string, before, after *storage.RosterItem, version int64) {
	if sameView(before, after) {
		return
	}
	contact := ""
	switch {
	case after != nil:
		contact = after.JID
	case before != nil:
		contact = before.JID
	}
	r.push(ctx, host, username, contact, view(after), version)
}

// push sends item (nil: removal) to every interested resource.
func (r *Roster) push(_ context.Context, host, username, contact string, item *storage.RosterItem, version int64) {
	rt := r.router()
	if rt == nil {
		return
	}
	bare, err := jid.New(username, host, "")
	if err != nil {
		return
	}
	for _, ri := range rt.Resources(bare) {
		full := ri.Session.JID()
		r.mu.Lock()
		in, ok := r.interested[full.String()]
		r.mu.Unlock()
		if ok && in.sess == ri.Session {
			ri.Session.Send(r.pushIQ(full, contact, item, version, in.versioned))
		}
	}
}

func (r *Roster) set(ctx context.Context, st *router.Stanza, q *xmppcore.Element) error {
	var item *xmppcore.Element
	n := 0
	for c := range q.Children() {
		n++
		item = c
	}
	if n != 1 || !item.Is(NS, "item") {
		return badRequest("a roster set carries exactly one item")
	}
	raw := item.Attr("jid")
	if raw == "" {
		return badRequest("the item has no 'jid'")
	}
	j, err := jid.Parse(raw)
	if err != nil {
		return xmppcore.NewError(stanza.JIDMalformed, "")
	}
	if j.Resourcepart() != "" {
		return badRequest("a roster item is a bare JID")
	}
	contact := j.String()
	host, user := st.From.Domainpart(), st.From.Localpart()
	switch item.Attr("subscription") {
	case "remove":
		return r.remove(ctx, st, host, user, contact)
	case "", storage.SubNone, storage.SubTo, storage.SubFrom, storage.SubBoth:
		// RFC 6121 §2.1.2.5: the server ignores any other known value;
		// subscriptions change through presence only.
	default:
		return badRequest("unknown 'subscription' value")
	}
	name := item.Attr("name")
	if len(name) > r.limits.MaxNameLength {
		return notAcceptable("the name is too long")
	}
	var groups []string
	for g := range item.Children() {
		if !g.Is(NS, "group") {
			continue // extensions are not stored
		}
		t := g.Text()
		switch {
		case t == "":
			return notAcceptable("empty group name")
		case len(t) > r.limits.MaxGroupLength:
			return notAcceptable("a group name is too long")
		case slices.Contains(groups, t):
			return badRequest("duplicate group")
		}
		groups = append(groups, t)
	}
	if len(groups) > r.limits.MaxGroups {
		return notAcceptable("too many groups")
	}
	if _, err := r.store.RosterItem(ctx, host, user, contact); errors.Is(err, storage.ErrNotFound) {
		items, _, err := r.store.RosterItems(ctx, host, user)
		if err != nil {
			return err
		}
		if len(items) >= r.limits.MaxItems {
			return errRosterFull
		}
	} else if err != nil {
		return err
	}
	stored, version, err := r.store.UpdateRosterItem(ctx, host, user, contact, func(cur *storage.RosterItem) (*storage.RosterItem, error) {
		next := storage.RosterItem{JID: contact, Subscription: storage.SubNone}
		if cur != nil {
			next = *cur
			if cur.Name == name && slices.Equal(cur.Groups, groups) {
				return nil, storage.ErrUnchanged
			}
		}
		next.Name, next.Groups = name, groups
		return &next, nil
	})
	if err != nil {
		return err
	}
	reply(st, nil)
	// RFC 6121 §2.3.2: every interested resource, the requester included,
	// gets the item, even when the set changed nothing.
	if stored != nil && !Hidden(stored) {
		r.push(ctx, host, user, contact, stored, version)
	}
	return nil
}

var errNoItem = errors.New("roster: no such item")

func (r *Roster) remove(ctx context.Context, st *router.Stanza, host, user, contact string) error {
	var old storage.RosterItem
	_, version, err := r.store.UpdateRosterItem(ctx, host, user, contact, func(cur *storage.RosterItem) (*storage.RosterItem, error) {
		if cur == nil {
			return nil, errNoItem
		}
		old = *cur
		return nil, nil
	})
	if errors.Is(err, errNoItem) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	reply(st, nil)
	r.push(ctx, host, user, contact, nil, version)
	r.mu.Lock()
	hooks := slices.Clone(r.onRemove)
	r.mu.Unlock()
	for _, h := range hooks {
		h(ctx, host, user, old)
	}
	return nil
}
