package carbons

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"

	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"parley.im/parley/module"
	"parley.im/parley/router"
	"parley.im/parley/xmppcore"
)

// Namespaces used here.
const (
	NS        = "urn:xmpp:carbons:2" // XEP-0280
	NSForward = "urn:xmpp:forward:0" // XEP-0297
	NSHints   = "urn:xmpp:hints"     // XEP-0334
	NSMUCUser = "http://jabber.org/protocol/muc#user"
)

// recentSize is how many message IDs per user are remembered to tell
// which errors answer an eligible message.
const recentSize = 64

// Carbons is the XEP-0280 module.
type Carbons struct {
	rt  *router.Router
	log *slog.Logger

	// users holds the users with carbons enabled, by bare JID. Both
	// parties of every message are looked up here, so it is a plain map
	// under a read lock, indexed with a key built on the stack: no
	// allocation per message.
	usersMu sync.RWMutex
	users   map[string]*userState
	// nUsers is len(users), read without the lock: while nobody has
	// carbons enabled, a message costs no lookup at all.
	nUsers atomic.Int64

	mu            sync.Mutex
	undoDelivered func()
}

// userState is what is kept for a user with at least one resource that
// enabled carbons.
type userState struct {
	mu      sync.Mutex
	enabled map[router.Session]struct{}
	recent  [recentSize]recentID // eligible messages, to match errors to
	next    int
}

// recentID names an eligible message exchanged with a peer.
type recentID struct {
	peer, id string
}

var _ module.Module = (*Carbons)(nil)

// New returns the carbons module. It has no options.
func New() *Carbons { return &Carbons{users: make(map[string]*userState)} }

// user returns the state of a user (a bare JID) with carbons enabled, or
// nil.
func (c *Carbons) user(j jid.JID) *userState {
	if c.nUsers.Load() == 0 {
		return nil
	}
	var buf [64]byte
	key := router.AppendBare(buf[:0], j)
	c.usersMu.RLock()
	u := c.users[string(key)]
	c.usersMu.RUnlock()
	return u
}

// Name implements module.Module.
func (*Carbons) Name() string { return "carbons" }

// Hook priorities: forged carbons are dropped with the policy hooks, before
// anything archives them; sent copies are made after archiving (they carry
// the sender's stanza-id, XEP-0313 §4) and before routing.
const (
	prioForged = router.PriorityEarly
	prioSent   = router.PriorityDefault
)

// Register adds the IQ handlers, the hooks and the disco feature.
func (c *Carbons) Register(r *module.Registrar) error {
	c.rt, c.log = r.Router, r.Logger
	for _, target := range []module.Target{module.Account, module.Server} {
		r.IQ("set", NS, "enable", target, c.enable)
		r.IQ("set", NS, "disable", target, c.disable)
	}
	r.Feature(module.Server, NS)
	r.Hook(router.EventPreRoute, prioSent, c.sent)
	r.Hook(router.EventMessageBare, prioForged, c.forged)
	r.Hook(router.EventMessageFull, prioForged, c.forged)
	r.OnSessionEnded(c.sessionEnded)
	undo := r.Router.OnMessageDelivered(c.received)
	c.mu.Lock()
	c.undoDelivered = undo
	c.mu.Unlock()
	return nil
}

// Stop removes the delivery hook, which the registry does not know of.
func (c *Carbons) Stop(context.Context) error {
	c.mu.Lock()
	undo := c.undoDelivered
	c.undoDelivered = nil
	c.mu.Unlock()
	if undo != nil {
		undo()
	}
	return nil
}

// requester returns the local session that sent an enable or disable for
// its own account, or an error: XEP-0280 §4.1 not-allowed for anyone else.
func requester(iq *module.IQ) (router.Session, error) {
	if iq.Origin == nil || !iq.Origin.JID().Equal(iq.From) ||
		(!iq.Self && !(iq.To.Localpart() == "" && iq.To.Domainpart() == iq.From.Domainpart())) {
		return nil, xmppcore.NewError(stanza.NotAllowed, "carbons are set by each of the account's own resources")
	}
	return iq.Origin, nil
}

// enable turns carbons on for the requesting resource; enabling twice is
// not an error (§8.1).
func (c *Carbons) enable(_ context.Context, iq *module.IQ) (*xmppcore.Element, error) {
	s, err := requester(iq)
	if err != nil {
		return nil, err
	}
	key := s.JID().Bare().String()
	c.usersMu.Lock()
	defer c.usersMu.Unlock()
	u := c.users[key]
	if u == nil {
		u = &userState{enabled: map[router.Session]struct{}{}}
		c.users[key] = u
		c.nUsers.Store(int64(len(c.users)))
	}
	u.mu.Lock()
	u.enabled[s] = struct{}{}
	u.mu.Unlock()
	return nil, nil
}

// disable turns carbons off for the requesting resource; disabling twice
// is not an error (§8.1).
func (c *Carbons) disable(_ context.Context, iq *module.IQ) (*xmppcore.Element, error) {
	s, err := requester(iq)
	if err != nil {
		return nil, err
	}
	c.drop(s)
	return nil, nil
}

func (c *Carbons) sessionEnded(_ context.Context, s router.Session, _ bool) { c.drop(s) }

// drop forgets a session; a user left with none is forgotten.
func (c *Carbons) drop(s router.Session) {
	key := s.JID().Bare().String()
	c.usersMu.Lock()
	defer c.usersMu.Unlock()
	u := c.users[key]
	if u == nil {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	delete(u.enabled, s)
	if len(u.enabled) == 0 {
		delete(c.users, key)
		c.nUsers.Store(int64(len(c.users)))
	}
}

// Enabled reports whether a session enabled carbons.
func (c *Carbons) Enabled(s router.Session) bool {
	u := c.user(s.JID())
	if u == nil {
		return false
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	_, on := u.enabled[s]
	return on
}

// targets returns the sessions of user that enabled carbons and that keep
// accepts, and remembers the ID of the eligible message el exchanged with
// peer, for errors that may answer it.
func (c *Carbons) targets(user, peer jid.JID, el *xmppcore.Element, keep func(router.Session) bool) []router.Session {
	u := c.user(user)
	if u == nil {
		return nil
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if el.Attr("type") != "error" {
		if id := el.Attr("id"); id != "" {
			u.recent[u.next] = recentID{peer.Bare().String(), id}
			u.next = (u.next + 1) % recentSize
		}
	}
	var out []router.Session
	for s := range u.enabled {
		if keep(s) {
			out = append(out, s)
		}
	}
	return out
}

// answersRecent reports whether an error from or to peer answers a
// message remembered for user.
func (c *Carbons) answersRecent(user, peer jid.JID, id string) bool {
	if id == "" {
		return false
	}
	u := c.user(user)
	if u == nil {
		return false
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	want := recentID{peer.Bare().String(), id}
	for _, r := range u.recent {
		if r == want {
			return true
		}
	}
	return false
}

// sent copies a message a local user sends to the user's other resources
// with carbons enabled, whether or not the sending one has (§7). A message
// to the user's own account is left to received copies.
func (c *Carbons) sent(_ context.Context, st *router.Stanza) bool {
	if st.Kind() != xmppcore.Message || st.Origin == nil {
		return false
	}
	owner := st.From.Bare()
	if st.To.Equal(jid.JID{}) || st.To.Bare().Equal(owner) {
		return false
	}
	if c.user(owner) == nil {
		return false // nobody to copy to: the common case, kept cheap
	}
	el := st.El
	if !c.eligible(owner, st.To, el, false) {
		return false
	}
	targets := c.targets(owner, st.To, el, func(s router.Session) bool { return s != st.Origin })
	c.copyTo(owner, "sent", el, targets)
	return false
}

// received copies a message the router delivered to some of a user's
// resources to the others with carbons enabled and available (§6). The
// sending session, when the user wrote to their own account, gets none.
func (c *Carbons) received(_ context.Context, st *router.Stanza, recipients []router.Session) {
	owner := st.To.Bare()
	if c.user(owner) == nil {
		return
	}
	if !c.eligible(owner, st.From, st.El, true) {
		return
	}
	targets := c.targets(owner, st.From, st.El, func(s router.Session) bool {
		return s != st.Origin && !containsSession(recipients, s)
	})
	if len(targets) == 0 {
		return
	}
	var avail []router.Session
	for _, ri := range c.rt.Resources(owner) {
		if ri.Available && containsSession(targets, ri.Session) {
			avail = append(avail, ri.Session)
		}
	}
	c.copyTo(owner, "received", st.El, avail)
}

func containsSession(l []router.Session, s router.Session) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// copyTo sends the wrapped copy to each target: from the user's bare JID
// (§6, §7; clients accept carbons from nowhere else), to its full JID,
// with the original's type, the original inside <forwarded/> in
// jabber:client. The wrapper is built once.
func (c *Carbons) copyTo(owner jid.JID, kind string, el *xmppcore.Element, targets []router.Session) {
	if len(targets) == 0 {
		return
	}
	w := xmppcore.New("", xmppcore.Message, "from", owner.String())
	if t := el.Attr("type"); t != "" {
		w.SetAttr("type", t)
	}
	w.Append(xmppcore.New(NS, kind).Append(
		xmppcore.New(NSForward, "forwarded").Append(inClientNS(el.Clone()))))
	for _, s := range targets {
		cp := w.ShallowClone()
		cp.SetAttr("to", s.JID().String())
		s.Send(cp)
	}
}

// forged drops a message carrying a carbon copy unless it comes from the
// recipient's own bare JID, which only this server uses, and only for the
// copies it sends directly: a carbon anyone else sends is an impersonation
// attempt (§11). It is dropped without an answer.
func (c *Carbons) forged(_ context.Context, st *router.Stanza) bool {
	if st.Kind() != xmppcore.Message || !isCarbon(st.El) || st.From.Equal(st.To.Bare()) {
		return false
	}
	c.log.Warn("dropping a forged carbon copy", "from", st.From.String(), "to", st.To.String())
	return true
}

func isCarbon(el *xmppcore.Element) bool {
	return el.Child(NS, "sent") != nil || el.Child(NS, "received") != nil
}

// Payloads that make a message of any type but groupchat and error an IM
// message (§6.1): receipts, chat states, markers, and invitations.
var imNamespaces = map[string]bool{
	"urn:xmpp:receipts":                     true, // XEP-0184
	"http://jabber.org/protocol/chatstates": true, // XEP-0085
	"urn:xmpp:chat-markers:0":               true, // XEP-0333
	"jabber:x:conference":                   true, // XEP-0249
}

// eligible applies XEP-0280 §6.1 to a message exchanged between user and
// peer, incoming (to the user) or not. Never: <private/> or <no-copy/>
// (§9), a carbon itself, groupchat, headline; a private message from a
// MUC occupant (a full JID, with a muc#user <x/> that is no invitation).
// Chat; normal (or no or an unknown type) with a body; IM payloads; MUC
// invitations. An error only when it answers an eligible message of the
// same conversation.
func (c *Carbons) eligible(user, peer jid.JID, el *xmppcore.Element, incoming bool) bool {
	if el.Child(NS, "private") != nil || el.Child(NSHints, "no-copy") != nil || isCarbon(el) {
		return false
	}
	typ := el.Attr("type")
	switch typ {
	case "groupchat", "headline":
		return false
	case "error":
		return c.answersRecent(user, peer, el.Attr("id"))
	}
	x := el.Child(NSMUCUser, "x")
	invite := x != nil && x.Child(NSMUCUser, "invite") != nil
	if incoming && x != nil && !invite && peer.Resourcepart() != "" {
		return false // the MUC service copies it to each of the user's joined clients
	}
	if typ == "chat" || invite {
		return true
	}
	for ch := range el.Children() {
		if (ch.Space == "" && ch.Local == "body") || imNamespaces[ch.Space] {
			return true
		}
	}
	return false
}

// inClientNS puts el and its descendants of the content namespace in
// jabber:client explicitly, so that the copy inside <forwarded/> stays
// jabber:client whatever stream it is written to. It changes el.
func inClientNS(el *xmppcore.Element) *xmppcore.Element {
	if el.Space == "" {
		el.Space = xmppcore.NSClient
	}
	for ch := range el.Children() {
		inClientNS(ch)
	}
	return el
}
