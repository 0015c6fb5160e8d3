package push

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"parley.im/parley/module"
	"parley.im/parley/module/iqrelay"
	"parley.im/parley/router"
	"parley.im/parley/storage"
	"parley.im/parley/xmppcore"
)

// Namespaces used here.
const (
	NS               = "urn:xmpp:push:0"
	NSSummary        = "urn:xmpp:push:summary"
	NSPubSub         = "http://jabber.org/protocol/pubsub"
	NSPublishOptions = "http://jabber.org/protocol/pubsub#publish-options"
	NSData           = "jabber:x:data"
)

// Defaults of Options.
const (
	DefaultMaxPerAccount = 10
	DefaultQueueSize     = 1024
	// MaxOptionsSize bounds a stored publish-options form.
	MaxOptionsSize = 8192
	// answerTTL is how long an answer to a publish is waited for.
	answerTTL = 5 * time.Minute
	// maxPending bounds the publishes awaiting an answer; the oldest are
	// forgotten beyond it (their answers are then ignored).
	maxPending = 10000
	jobTimeout = 30 * time.Second
)

// Store is the part of storage the module uses.
type Store interface {
	PutPushRegistration(ctx context.Context, host, username string, reg storage.PushRegistration, limit int) error
	PushRegistrations(ctx context.Context, host, username string) ([]storage.PushRegistration, error)
	DeletePushRegistrations(ctx context.Context, host, username, service, node string) (int, error)
}

var (
	_ Store         = storage.Store(nil)
	_ module.Module = (*Push)(nil)
)

// Options configure the module.
type Options struct {
	// IncludeBody puts the body of unencrypted messages in notifications.
	IncludeBody bool
	// IncludeSender puts the sender's bare JID in notifications.
	IncludeSender bool
	// Services, when not empty, are the only push service domains users
	// may enable.
	Services []string
	// MaxPerAccount bounds the registrations of one account
	// (DefaultMaxPerAccount when zero).
	MaxPerAccount int
	// QueueSize bounds the notifications waiting for the worker
	// (DefaultQueueSize when zero).
	QueueSize int
}

// Push is the XEP-0357 module.
type Push struct {
	store Store
	opts  Options
	rt    *router.Router
	log   *slog.Logger

	jobs    chan job
	stop    chan struct{}
	done    chan struct{}
	started atomic.Bool
	ids     atomic.Uint64
	prefix  string

	mu       sync.RWMutex
	sessions map[string]registration // full JID -> what that session enabled
	pending  map[string]pendingPublish
	// none and noneOld hold the users (bare JIDs) known to have no
	// registration, looked up for every delivered message: by generation
	// rather than with a deadline per user, so that a lookup reads no
	// clock. The worker retires none to noneOld, and forgets noneOld,
	// every noneTTL/2: a user stays known for noneTTL at most.
	none    map[string]struct{}
	noneOld map[string]struct{}
	held    map[string]*heldSet // full JID -> messages notified while held
	// looking holds the users (bare JIDs) with a delivered-message job
	// queued: while the cache is cold, a burst of messages to one user
	// costs one job and one storage lookup, not one each, and cannot
	// fill the queue. A second notification for a user already waiting
	// would wake the same device for the same burst.
	looking map[string]struct{}
	undo    func()

	dropped     atomic.Int64 // notifications dropped on a full queue, not yet logged
	lastDropLog atomic.Int64 // unix ns of the last "queue full" warning
}

// heldSet remembers the messages notified while held for one session, so
// that when the session ends unresumed and the session layer hands them
// to offline storage (EventMessageOffline), they are not notified twice.
type heldSet struct {
	els   map[*xmppcore.Element]struct{}
	ended time.Time // zero while the session is bound
}

// Bounds of the held sets: messages per session (beyond, the set starts
// over: at worst a message is notified twice), and how long a set is kept
// after its session ended (the session layer reroutes at once).
const (
	maxHeldPerSession = 256
	heldKeep          = time.Minute
)

// registration names one storage.PushRegistration.
type registration struct{ service, node string }

type pendingPublish struct {
	user    jid.JID
	service jid.JID
	node    string
	at      time.Time
}

// job is one message to notify about: to user's registrations, or with
// session set to the registration that session enabled, or with unbound
// to those no bound session enabled.
type job struct {
	user    jid.JID
	session jid.JID // zero: every registration
	unbound bool
	msg     *xmppcore.Element
}

// noneTTL is how long a user found without registrations is not looked
// up again for delivered messages; maxNone bounds that memory.
const (
	noneTTL = time.Minute
	maxNone = 100000
)

// New returns the push module over store.
func New(store Store, opts Options) *Push {
	if opts.MaxPerAccount <= 0 {
		opts.MaxPerAccount = DefaultMaxPerAccount
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = DefaultQueueSize
	}
	return &Push{store: store, opts: opts, log: slog.Default(),
		jobs: make(chan job, opts.QueueSize), stop: make(chan struct{}), done: make(chan struct{}),
		prefix:   "push-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "-",
		sessions: make(map[string]registration), pending: make(map[string]pendingPublish),
		none: make(map[string]struct{}), noneOld: make(map[string]struct{}), held: make(map[string]*heldSet),
		looking: make(map[string]struct{})}
}

// Name implements module.Module.
func (*Push) Name() string { return "push" }

// Register declares the IQs, the hooks and the account feature.
func (m *Push) Register(r *module.Registrar) error {
	m.rt, m.log = r.Router, r.Logger
	r.IQ("set", NS, "enable", module.Account, m.enable)
	r.IQ("set", NS, "disable", module.Account, m.disable)
	r.Feature(module.Account, NS)
	// After the archive (mam), before offline storage, which claims it.
	r.Hook(router.EventMessageOffline, router.PriorityDefault+10, m.onOffline)
	r.Hook(router.EventMessageHeld, router.PriorityDefault, m.onHeld)
	r.Hook(router.EventIQBare, router.PriorityEarly, m.onAnswer)
	r.OnSessionEnded(func(_ context.Context, s router.Session, _ bool) {
		now := time.Now()
		m.mu.Lock()
		defer m.mu.Unlock()
		delete(m.sessions, s.JID().String())
		for k, h := range m.held {
			if !h.ended.IsZero() && now.Sub(h.ended) > heldKeep {
				delete(m.held, k)
			}
		}
		if h := m.held[s.JID().String()]; h != nil {
			h.ended = now
		}
	})
	undo := r.Router.OnMessageDelivered(m.onDelivered)
	m.mu.Lock()
	m.undo = undo
	m.mu.Unlock()
	return nil
}

// Start runs the worker.
func (m *Push) Start(context.Context) error {
	if m.started.CompareAndSwap(false, true) {
		go m.run()
	}
	return nil
}

// Stop ends the worker; what is still queued is dropped (a notification
// is a hint, and the messages themselves are stored).
func (m *Push) Stop(ctx context.Context) error {
	m.mu.Lock()
	undo := m.undo
	m.undo = nil
	m.mu.Unlock()
	if undo != nil {
		undo() // the registry does not know of the delivery hook
	}
	if !m.started.Load() {
		return nil
	}
	select {
	case <-m.stop:
	default:
		close(m.stop)
	}
	select {
	case <-m.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

var (
	errForbidden     = xmppcore.NewError(stanza.Forbidden, "push notifications are configured for one's own account")
	errNoJID         = xmppcore.NewError(stanza.BadRequest, "the 'jid' of the push service is required")
	errNoNode        = xmppcore.NewError(stanza.BadRequest, "the 'node' of the push service is required")
	errBadJID        = xmppcore.NewError(stanza.JIDMalformed, "the 'jid' of the push service is not a valid JID")
	errLocal         = xmppcore.NewError(stanza.NotAcceptable, "no push service runs on this server's hosts")
	errNotAllowed    = xmppcore.NewError(stanza.NotAllowed, "this push service is not allowed on this server")
	errBadForm       = xmppcore.NewError(stanza.BadRequest, "the form must be of FORM_TYPE "+NSPublishOptions)
	errFormTooLarge  = xmppcore.NewError(stanza.NotAcceptable, "the publish options are too large")
	errTooMany       = xmppcore.NewError(stanza.ResourceConstraint, "too many push registrations; disable one first")
	errNotRegistered = xmppcore.NewError(stanza.ItemNotFound, "the account does not exist")
)

// owner returns the account a request is about: the requester's own.
func owner(iq *module.IQ) (jid.JID, error) {
	if !iq.Self || iq.Origin == nil {
		return jid.JID{}, errForbidden
	}
	return iq.From.Bare(), nil
}

// serviceJID parses and checks the 'jid' of an enable or disable.
func (m *Push) serviceJID(s string, forEnable bool) (jid.JID, error) {
	if s == "" {
		return jid.JID{}, errNoJID
	}
	j, err := jid.Parse(s)
	if err != nil {
		return jid.JID{}, errBadJID
	}
	if !forEnable {
		return j, nil
	}
	if m.rt.IsLocalHost(j.Domainpart()) {
		return jid.JID{}, errLocal
	}
	if len(m.opts.Services) > 0 && !slices.Contains(m.opts.Services, j.Domainpart()) {
		return jid.JID{}, errNotAllowed
	}
	return j, nil
}

func (m *Push) enable(ctx context.Context, iq *module.IQ) (*xmppcore.Element, error) {
	user, err := owner(iq)
	if err != nil {
		return nil, err
	}
	svc, err := m.serviceJID(iq.Payload.Attr("jid"), true)
	if err != nil {
		return nil, err
	}
	node := iq.Payload.Attr("node")
	if node == "" {
		return nil, errNoNode
	}
	var options []byte
	if x := iq.Payload.Child(NSData, "x"); x != nil {
		if formType(x) != NSPublishOptions {
			return nil, errBadForm
		}
		options = []byte(x.String())
		if len(options) > MaxOptionsSize {
			return nil, errFormTooLarge
		}
	}
	reg := storage.PushRegistration{Service: svc.String(), Node: node, Options: options}
	err = m.store.PutPushRegistration(ctx, user.Domainpart(), user.Localpart(), reg, m.opts.MaxPerAccount)
	switch {
	case errors.Is(err, storage.ErrQuota):
		return nil, errTooMany
	case errors.Is(err, storage.ErrNotFound):
		return nil, errNotRegistered
	case err != nil:
		return nil, err
	}
	m.mu.Lock()
	m.sessions[iq.From.String()] = registration{reg.Service, node}
	delete(m.none, user.String())
	delete(m.noneOld, user.String())
	m.mu.Unlock()
	m.log.Info("push enabled", "user", user.String(), "session", iq.From.String(), "service", reg.Service)
	return nil, nil
}

func (m *Push) disable(ctx context.Context, iq *module.IQ) (*xmppcore.Element, error) {
	user, err := owner(iq)
	if err != nil {
		return nil, err
	}
	svc, err := m.serviceJID(iq.Payload.Attr("jid"), false)
	if err != nil {
		return nil, err
	}
	node := iq.Payload.Attr("node")
	n, err := m.store.DeletePushRegistrations(ctx, user.Domainpart(), user.Localpart(), svc.String(), node)
	if err != nil {
		return nil, err
	}
	m.forgetSessions(svc.String(), node)
	m.log.Info("push disabled", "user", user.String(), "service", svc.String(), "removed", n)
	return nil, nil
}

// forgetSessions drops the sessions' memory of a registration that is
// gone (node "" : every node of service).
func (m *Push) forgetSessions(service, node string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, r := range m.sessions {
		if r.service == service && (node == "" || r.node == node) {
			delete(m.sessions, k)
		}
	}
}

// formType returns the FORM_TYPE of a data form.
func formType(x *xmppcore.Element) string {
	for f := range x.Children() {
		if f.Is(NSData, "field") && f.Attr("var") == "FORM_TYPE" {
			return f.ChildText(NSData, "value")
		}
	}
	return ""
}

func (m *Push) onOffline(_ context.Context, st *router.Stanza) bool {
	if st.To.Localpart() != "" && Important(st.El) && !m.heldBefore(st) {
		m.queue(job{user: st.To.Bare(), msg: st.El})
	}
	return false
}

func (m *Push) onHeld(_ context.Context, st *router.Stanza) bool {
	if st.To.Localpart() != "" && Important(st.El) {
		key := st.To.String()
		m.mu.Lock()
		h := m.held[key]
		if h == nil || !h.ended.IsZero() || len(h.els) >= maxHeldPerSession {
			h = &heldSet{els: make(map[*xmppcore.Element]struct{})}
			m.held[key] = h
		}
		h.els[st.El] = struct{}{}
		m.mu.Unlock()
		m.queue(job{user: st.To.Bare(), session: st.To, msg: st.El})
	}
	return false
}

// heldBefore reports (and forgets) a message the session layer hands to
// offline storage after it was notified while held for that session.
func (m *Push) heldBefore(st *router.Stanza) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	h := m.held[st.To.String()]
	if h == nil {
		return false
	}
	_, ok := h.els[st.El]
	delete(h.els, st.El)
	return ok
}

// onDelivered sees messages the router delivered to some of the user's
// sessions: the devices whose registration no bound session enabled (a
// phone that is gone while the desktop is online) are notified, as
// Prosody does for such devices. Groupchat is left out: a room's traffic
// would wake the phone for every message.
func (m *Push) onDelivered(_ context.Context, st *router.Stanza, _ []router.Session) {
	if st.To.Localpart() == "" || st.El.Attr("type") == "groupchat" || m.knownNone(st.To) || !Important(st.El) {
		return
	}
	user := st.To.Bare()
	key := user.String()
	m.mu.Lock()
	if _, waiting := m.looking[key]; waiting {
		m.mu.Unlock()
		return
	}
	m.looking[key] = struct{}{}
	m.mu.Unlock()
	if !m.queue(job{user: user, unbound: true, msg: st.El}) {
		m.mu.Lock()
		delete(m.looking, key)
		m.mu.Unlock()
	}
}

// knownNone reports whether user (its bare JID) was found without
// registrations lately. It allocates nothing: it runs for every message
// delivered.
func (m *Push) knownNone(user jid.JID) bool {
	var buf [64]byte
	key := router.AppendBare(buf[:0], user)
	m.mu.RLock()
	defer m.mu.RUnlock()
	if _, ok := m.none[string(key)]; ok {
		return true
	}
	_, ok := m.noneOld[string(key)]
	return ok
}

// dropLogInterval spaces the "queue full" warnings: under a flood, one
// line per dropped notification would make the log the bottleneck.
const dropLogInterval = 10 * time.Second

// queue hands a job to the worker without blocking, and reports whether
// it was taken.
func (m *Push) queue(j job) bool {
	select {
	case m.jobs <- j:
		return true
	default:
	}
	m.dropped.Add(1)
	now := time.Now().UnixNano()
	last := m.lastDropLog.Load()
	if now-last >= int64(dropLogInterval) && m.lastDropLog.CompareAndSwap(last, now) {
		n := m.dropped.Swap(0)
		m.log.Warn("push queue full; notifications dropped", "count", n, "last_user", j.user.String())
	}
	return false
}

func (m *Push) run() {
	defer close(m.done)
	expire := time.NewTicker(noneTTL / 2)
	defer expire.Stop()
	for {
		select {
		case <-m.stop:
			return
		case j := <-m.jobs:
			m.notify(j)
			if j.unbound {
				m.mu.Lock()
				delete(m.looking, j.user.String())
				m.mu.Unlock()
			}
		case <-expire.C:
			m.rotateNone()
		}
	}
}

// rotateNone retires the users known without registrations and forgets
// those retired before.
func (m *Push) rotateNone() {
	m.mu.Lock()
	m.noneOld, m.none = m.none, make(map[string]struct{})
	m.mu.Unlock()
}

// notify publishes a notification about j.msg to the registrations j
// names.
func (m *Push) notify(j job) {
	ctx, cancel := context.WithTimeout(context.Background(), jobTimeout)
	defer cancel()
	var only *registration
	if !j.session.Equal(jid.JID{}) {
		m.mu.Lock()
		r, ok := m.sessions[j.session.String()]
		m.mu.Unlock()
		if !ok {
			return // that device did not ask for push
		}
		only = &r
	}
	regs, err := m.store.PushRegistrations(ctx, j.user.Domainpart(), j.user.Localpart())
	if err != nil {
		m.log.Error("push: reading registrations", "user", j.user.String(), "err", err)
		return
	}
	if len(regs) == 0 {
		m.mu.Lock()
		if len(m.none) >= maxNone {
			clear(m.none)
		}
		m.none[j.user.String()] = struct{}{}
		m.mu.Unlock()
		return
	}
	var bound map[registration]bool
	if j.unbound {
		bound = m.boundRegistrations(j.user)
	}
	summary := m.summary(j.msg)
	for _, reg := range regs {
		if only != nil && (reg.Service != only.service || reg.Node != only.node) {
			continue
		}
		if bound[registration{reg.Service, reg.Node}] {
			continue
		}
		m.publish(ctx, j.user, reg, summary)
	}
}

// boundRegistrations are the registrations a bound session of user
// enabled.
func (m *Push) boundRegistrations(user jid.JID) map[registration]bool {
	prefix := user.String() + "/"
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[registration]bool)
	for full, r := range m.sessions {
		if strings.HasPrefix(full, prefix) {
			out[r] = true
		}
	}
	return out
}

// summary is the urn:xmpp:push:summary form of a message.
func (m *Push) summary(msg *xmppcore.Element) *xmppcore.Element {
	x := xmppcore.New(NSData, "x", "type", "submit")
	field := func(v, value string) {
		x.Append(xmppcore.New(NSData, "field", "var", v).Append(xmppcore.New(NSData, "value").AppendText(value)))
	}
	field("FORM_TYPE", NSSummary)
	field("message-count", "1")
	inner := payloadMessage(msg)
	if m.opts.IncludeSender {
		if from, err := jid.Parse(inner.Attr("from")); err == nil {
			field("last-message-sender", from.Bare().String())
		}
	}
	if m.opts.IncludeBody && !encrypted(inner) {
		if body := inner.ChildText(inner.Space, "body"); body != "" {
			field("last-message-body", body)
		}
	}
	return x
}

// publish routes one notification and remembers it to catch the answer.
func (m *Push) publish(ctx context.Context, user jid.JID, reg storage.PushRegistration, summary *xmppcore.Element) {
	svc, err := jid.Parse(reg.Service)
	if err != nil {
		m.log.Error("push: stored service is not a JID", "user", user.String(), "err", err)
		return
	}
	id := m.prefix + strconv.FormatUint(m.ids.Add(1), 10)
	pubsub := xmppcore.New(NSPubSub, "pubsub").Append(
		xmppcore.New(NSPubSub, "publish", "node", reg.Node).Append(
			xmppcore.New(NSPubSub, "item").Append(
				xmppcore.New(NS, "notification").Append(summary))))
	if len(reg.Options) > 0 {
		if x, err := xmppcore.Parse(reg.Options); err == nil {
			pubsub.Append(xmppcore.New(NSPubSub, "publish-options").Append(x))
		} else {
			m.log.Error("push: stored publish options do not parse", "user", user.String(), "err", err)
		}
	}
	iq := xmppcore.New("", xmppcore.IQ, "type", "set", "id", id, "from", user.String(), "to", svc.String()).Append(pubsub)
	m.mu.Lock()
	now := time.Now()
	if len(m.pending) >= maxPending {
		for k, p := range m.pending {
			if now.Sub(p.at) > answerTTL || len(m.pending) >= maxPending {
				delete(m.pending, k)
			}
		}
	}
	m.pending[id] = pendingPublish{user: user, service: svc, node: reg.Node, at: now}
	m.mu.Unlock()
	m.log.Debug("push notification", "user", user.String(), "service", svc.String(), "id", id)
	m.rt.Route(ctx, &router.Stanza{El: iq, From: user, To: svc})
}

// onAnswer catches the answers to publishes: a result ends the matter, an
// error that is not transient disables the registration.
func (m *Push) onAnswer(ctx context.Context, st *router.Stanza) bool {
	id, ok := iqrelay.AnswerID(st, m.prefix)
	if !ok {
		return false
	}
	m.mu.Lock()
	p, ok := m.pending[id]
	if ok && st.From.Equal(p.service) && st.To.Bare().Equal(p.user) {
		delete(m.pending, id)
	} else {
		ok = false
	}
	m.mu.Unlock()
	if !ok {
		m.log.Debug("push: answer to no publish of ours", "from", st.From.String(), "id", id)
		return true
	}
	if st.Type() == "result" {
		return true
	}
	cond, etype := errorCondition(st.El)
	if transient(cond, etype) {
		m.log.Info("push: transient error from the push service", "user", p.user.String(),
			"service", p.service.String(), "condition", cond)
		return true
	}
	n, err := m.store.DeletePushRegistrations(ctx, p.user.Domainpart(), p.user.Localpart(), p.service.String(), p.node)
	if err != nil {
		m.log.Error("push: disabling a refused registration", "user", p.user.String(), "err", err)
		return true
	}
	m.forgetSessions(p.service.String(), p.node)
	m.log.Info("push registration disabled after an error", "user", p.user.String(),
		"service", p.service.String(), "condition", cond, "removed", n)
	return true
}

// errorCondition returns the defined condition and type of an error
// stanza.
func errorCondition(el *xmppcore.Element) (cond, typ string) {
	e := el.Child("", "error")
	if e == nil {
		return "", ""
	}
	for ch := range e.Children() {
		if ch.Space == xmppcore.NSStanzas && ch.Local != "text" {
			return ch.Local, e.Attr("type")
		}
	}
	return "", e.Attr("type")
}

// transient reports errors after which the service stays enabled.
func transient(cond, typ string) bool {
	if typ == "wait" {
		return true
	}
	switch cond {
	case "remote-server-not-found", "remote-server-timeout", "internal-server-error", "resource-constraint":
		return true
	}
	return false
}
