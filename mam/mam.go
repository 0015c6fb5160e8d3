package mam

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
	"mellium.im/xmpp/jid"

	"parley.im/parley/module"
	"parley.im/parley/router"
	"parley.im/parley/storage"
	"parley.im/parley/xmppcore"
)

// Namespaces used here.
const (
	NS         = "urn:xmpp:mam:2"          // XEP-0313
	NSExtended = "urn:xmpp:mam:2#extended" // XEP-0313 §7
	NSSID      = "urn:xmpp:sid:0"          // XEP-0359
	NSHints    = "urn:xmpp:hints"          // XEP-0334
	NSForward  = "urn:xmpp:forward:0"      // XEP-0297
	NSDelay    = "urn:xmpp:delay"          // XEP-0203
	NSRSM      = "http://jabber.org/protocol/rsm"
	NSData     = "jabber:x:data"
)

// Defaults of Options.
const (
	DefaultMaxPageSize     = 250
	DefaultPageSize        = 50
	DefaultQueueSize       = 4096
	DefaultBatchSize       = 256
	DefaultBatchDelay      = 2 * time.Millisecond
	DefaultPurgeInterval   = time.Hour
	DefaultMaxPrefsJIDs    = 1000
	DefaultPrefsCacheSize  = 10000
	DefaultPrefsCacheTTL   = 10 * time.Minute
	maxQueryIDs            = 1000
	writeTimeout           = 30 * time.Second
	flushTimeout           = 5 * time.Second
	queryTimeout           = 30 * time.Second
	writeRetries           = 3
	writeRetryBackoffStart = 50 * time.Millisecond
)

// Store is the part of storage the module uses: the archive, and rosters
// for the 'roster' default of XEP-0441.
type Store interface {
	AppendArchive(ctx context.Context, entries []storage.ArchiveEntry) error
	QueryArchive(ctx context.Context, host, username string, q storage.ArchiveQuery) (storage.ArchivePage, error)
	ArchiveMetadata(ctx context.Context, host, username string) (storage.ArchiveMetadata, error)
	PurgeArchive(ctx context.Context, host, username string, before time.Time) (int64, error)
	ArchivePrefs(ctx context.Context, host, username string) (storage.ArchivePrefs, error)
	SetArchivePrefs(ctx context.Context, host, username string, p storage.ArchivePrefs) error
	RosterItem(ctx context.Context, host, username, contact string) (storage.RosterItem, error)
}

var (
	_ Store         = storage.Store(nil)
	_ module.Module = (*MAM)(nil)
)

// Options configure the module. Zero values take the defaults.
type Options struct {
	// Default is the archiving policy of users who set no preferences:
	// storage.ArchiveAlways when empty.
	Default storage.ArchiveDefault
	// Retention is how long entries are kept; zero keeps them forever.
	Retention time.Duration
	// PurgeInterval is how often the retention purge runs (with Retention
	// set): DefaultPurgeInterval when zero.
	PurgeInterval time.Duration
	// MaxPageSize bounds the results of one query: a larger RSM <max/> is
	// lowered to it. DefaultPageSize is the page size when a query gives
	// none (at most MaxPageSize).
	MaxPageSize     int
	DefaultPageSize int
	// QueueSize bounds the entries waiting to be written; an entry that
	// does not fit is not archived (and gets no stanza-id), so routing
	// never waits for the database. BatchSize is the most entries one
	// write takes, and BatchDelay how long the writer waits for more
	// after the first before it writes.
	QueueSize  int
	BatchSize  int
	BatchDelay time.Duration
	// MaxPrefsJIDs bounds the always and never lists of one user.
	MaxPrefsJIDs int
	// Now is the clock that stamps entries (time.Now when nil).
	Now func() time.Time
}

// MAM is the XEP-0313 module.
type MAM struct {
	store Store
	opts  Options
	now   func() time.Time

	rt  *router.Router
	log *slog.Logger

	w          *writer
	prefs      *prefsCache
	prefsReads singleflight.Group // cache misses in flight, by bare JID

	lastStamp atomic.Int64 // Unix microseconds of the latest stamp given

	mu      sync.Mutex
	started bool
	cancel  context.CancelFunc
	bg      sync.WaitGroup
}

// New returns the MAM module over store.
func New(store Store, opts Options) *MAM {
	if opts.Default == "" {
		opts.Default = storage.ArchiveAlways
	}
	if opts.PurgeInterval <= 0 {
		opts.PurgeInterval = DefaultPurgeInterval
	}
	if opts.MaxPageSize <= 0 {
		opts.MaxPageSize = DefaultMaxPageSize
	}
	if opts.DefaultPageSize <= 0 {
		opts.DefaultPageSize = DefaultPageSize
	}
	opts.DefaultPageSize = min(opts.DefaultPageSize, opts.MaxPageSize)
	if opts.QueueSize <= 0 {
		opts.QueueSize = DefaultQueueSize
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultBatchSize
	}
	if opts.BatchDelay <= 0 {
		opts.BatchDelay = DefaultBatchDelay
	}
	if opts.MaxPrefsJIDs <= 0 {
		opts.MaxPrefsJIDs = DefaultMaxPrefsJIDs
	}
	m := &MAM{store: store, opts: opts, now: opts.Now}
	if m.now == nil {
		m.now = time.Now
	}
	m.prefs = newPrefsCache(DefaultPrefsCacheSize, DefaultPrefsCacheTTL)
	return m
}

// Name implements module.Module.
func (*MAM) Name() string { return "mam" }

// Hook priorities. Archiving runs after the policy hooks (blocking, at
// PriorityEarly), so that what they stop is not archived, and before
// delivery and the other modules, which see the stanza-id. The sender's
// own stanza-id, added for the sender's other resources (XEP-0313 §4:
// carbons copies of the outgoing message carry it), is removed at the
// very end of pre-route, before the message leaves for its addressee.
const (
	prioArchive = router.PriorityEarly - 10
	prioStrip   = router.PriorityLate - 10
)

// Register adds the hooks, the IQ handlers and the disco features.
func (m *MAM) Register(r *module.Registrar) error {
	m.rt, m.log = r.Router, r.Logger
	m.w = newWriter(m.store, m.opts, m.log)
	r.Hook(router.EventPreRoute, prioArchive, m.outgoing)
	r.Hook(router.EventPreRoute, prioStrip, m.stripOwn)
	r.Hook(router.EventMessageBare, prioArchive, m.incoming)
	r.Hook(router.EventMessageFull, prioArchive, m.incoming)
	r.Hook(router.EventMessageOffline, prioArchive, m.incomingOffline)
	r.OnSessionEnded(m.sessionEnded)
	r.IQ("set", NS, "query", module.Account, m.query)
	r.IQ("get", NS, "query", module.Account, m.form)
	r.IQ("get", NS, "metadata", module.Account, m.metadata)
	r.IQ("get", NS, "prefs", module.Account, m.getPrefs)
	r.IQ("set", NS, "prefs", module.Account, m.setPrefs)
	r.Feature(module.Account, NS)
	r.Feature(module.Account, NSExtended)
	r.Feature(module.Account, NSSID)
	return nil
}

// Start runs the archive writer and, with a retention, the purge.
func (m *MAM) Start(context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.started {
		return nil
	}
	m.started = true
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	m.bg.Go(m.w.run)
	m.bg.Go(func() { m.prefs.expireLoop(ctx) })
	if m.opts.Retention > 0 {
		m.bg.Go(func() { m.purgeLoop(ctx) })
	}
	return nil
}

// Stop writes what is queued and stops the writer and the purge. Entries
// offered after Stop are not archived.
func (m *MAM) Stop(ctx context.Context) error {
	m.mu.Lock()
	if m.w == nil {
		m.mu.Unlock()
		return nil
	}
	if !m.started {
		// Never started: write what was queued anyway.
		m.started = true
		m.cancel = func() {}
		m.bg.Go(m.w.run)
	}
	m.cancel()
	m.mu.Unlock()
	m.w.close()
	done := make(chan struct{})
	go func() {
		m.bg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (m *MAM) purgeLoop(ctx context.Context) {
	t := time.NewTicker(m.opts.PurgeInterval)
	defer t.Stop()
	for {
		m.Purge(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Purge deletes the entries of every archive older than the retention
// (nothing without one) and returns how many it deleted.
func (m *MAM) Purge(ctx context.Context) int64 {
	if m.opts.Retention <= 0 {
		return 0
	}
	before := m.now().Add(-m.opts.Retention)
	n, err := m.store.PurgeArchive(ctx, "", "", before)
	switch {
	case err != nil && ctx.Err() == nil:
		m.log.Error("archive retention purge failed", "before", before, "deleted", n, "err", err)
	case n > 0:
		m.log.Info("archive retention purge", "before", before, "deleted", n)
	}
	return n
}

// sessionEnded forgets the preferences of a user whose last session
// ended: read again at the next message, they are never those of an
// account removed in the meantime.
func (m *MAM) sessionEnded(_ context.Context, s router.Session, _ bool) {
	user := s.JID().Bare()
	if len(m.rt.Resources(user)) == 0 {
		m.prefs.drop(user.String())
	}
}

// stamp returns the time for a new entry: the clock, but never before the
// previous stamp, so that archive order follows arrival order even when
// the clock steps back.
func (m *MAM) stamp() time.Time {
	now := m.now().UnixMicro()
	for {
		last := m.lastStamp.Load()
		if now <= last {
			now = last
		}
		if m.lastStamp.CompareAndSwap(last, now) {
			return time.UnixMicro(now).UTC()
		}
	}
}

// newID returns an archive UID: 96 random bits, URL-safe base64.
func newID() string {
	var b [12]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// outgoing archives a message a local user sends in the sender's archive,
// and adds the stanza-id the sender's other resources see in carbons
// copies (removed again by stripOwn). A stanza-id the client put there
// 'by' its own account is removed first (XEP-0359 §4 rule 2).
func (m *MAM) outgoing(ctx context.Context, st *router.Stanza) bool {
	if st.Kind() != xmppcore.Message || st.Origin == nil {
		return false
	}
	owner := st.From.Bare()
	el := withoutStanzaID(st.El, owner)
	st.El = el
	to := st.To
	if to.Equal(jid.JID{}) || to.Bare().Equal(owner) {
		return false // to oneself: archived once, as incoming
	}
	if !archivable(el) || !m.allowed(ctx, owner, to) {
		return false
	}
	id, ok := m.archive(owner, to, storage.ArchiveOutgoing, el)
	if ok {
		st.El = withStanzaID(el, id, owner.String())
	}
	return false
}

// stripOwn removes the sender's stanza-id before the message leaves:
// XEP-0313 §4 forbids showing it to the addressee.
func (m *MAM) stripOwn(_ context.Context, st *router.Stanza) bool {
	if st.Kind() == xmppcore.Message && st.Origin != nil {
		st.El = withoutStanzaID(st.El, st.From.Bare())
	}
	return false
}

// incoming archives a message for a local user in the recipient's archive
// and stamps the stanza-id into what is delivered (and, for an offline
// user, into what offline storage keeps, so the copy delivered at login
// carries the same ID as the archive). A stanza-id 'by' the recipient
// that came with the message is forged: it is removed.
func (m *MAM) incoming(ctx context.Context, st *router.Stanza) bool {
	if st.Kind() != xmppcore.Message {
		return false
	}
	owner := st.To.Bare()
	el := withoutStanzaID(st.El, owner)
	st.El = el
	m.archiveIncoming(ctx, st, owner, el)
	return false
}

// incomingOffline archives a message that reached offline storage
// without passing message/bare, where it would have been archived. A
// message that did pass carries the owner's stanza-id (a forged one was
// removed there) or was not to be archived: the rules decide the same
// again.
func (m *MAM) incomingOffline(ctx context.Context, st *router.Stanza) bool {
	owner := st.To.Bare()
	if st.Kind() != xmppcore.Message || hasStanzaID(st.El, owner) {
		return false
	}
	m.archiveIncoming(ctx, st, owner, st.El)
	return false
}

func (m *MAM) archiveIncoming(ctx context.Context, st *router.Stanza, owner jid.JID, el *xmppcore.Element) {
	if !archivable(el) {
		return
	}
	with := st.From
	if with.Equal(jid.JID{}) {
		with = owner.Domain()
	}
	if !m.allowed(ctx, owner, with) {
		return
	}
	stored := el
	if el.Attr("to") == "" {
		// Sent without 'to': it was for the sender's own account.
		stored = el.ShallowClone()
		stored.SetAttr("to", owner.String())
	}
	if id, ok := m.archive(owner, with, storage.ArchiveIncoming, stored); ok {
		st.El = withStanzaID(el, id, owner.String())
	}
}

// archive queues an entry; it reports false when the queue is full (the
// message then goes unarchived, without a stanza-id).
func (m *MAM) archive(owner, with jid.JID, dir storage.ArchiveDirection, el *xmppcore.Element) (string, bool) {
	id := newID()
	e := storage.ArchiveEntry{
		Host: owner.Domainpart(), Username: owner.Localpart(), ID: id,
		With: with.Bare().String(), WithResource: with.Resourcepart(), Direction: dir,
		Stamp: m.stamp(), Stanza: el.AppendXML(nil, xmppcore.NSClient),
	}
	if oid := el.Child(NSSID, "origin-id"); oid != nil {
		e.OriginID = oid.Attr("id")
	}
	if !m.w.add(e) {
		m.log.Warn("archive queue full: message not archived", "owner", owner.String())
		return "", false
	}
	return id, true
}

// Payloads that make a message worth archiving without a body: encrypted
// messages, receipts and markers, calls, reactions, retractions and
// invitations (XEP-0313 §5.1.1 leaves the choice to the server).
var archivablePayloads = map[[2]string]bool{
	{"eu.siacs.conversations.axolotl", "encrypted"}: true, // OMEMO (legacy)
	{"urn:xmpp:omemo:2", "encrypted"}:               true, // XEP-0384
	{"urn:xmpp:openpgp:0", "openpgp"}:               true, // XEP-0373
	{"jabber:x:encrypted", "x"}:                     true, // XEP-0027
	{"urn:xmpp:receipts", "received"}:               true, // XEP-0184
	{"urn:xmpp:chat-markers:0", "received"}:         true, // XEP-0333
	{"urn:xmpp:chat-markers:0", "displayed"}:        true,
	{"urn:xmpp:chat-markers:0", "acknowledged"}:     true,
	{"urn:xmpp:jingle-message:0", "propose"}:        true, // XEP-0353
	{"urn:xmpp:jingle-message:0", "retract"}:        true,
	{"urn:xmpp:jingle-message:0", "accept"}:         true,
	{"urn:xmpp:jingle-message:0", "proceed"}:        true,
	{"urn:xmpp:jingle-message:0", "reject"}:         true,
	{"urn:xmpp:jingle-message:0", "finish"}:         true,
	{"urn:xmpp:reactions:0", "reactions"}:           true, // XEP-0444
	{"urn:xmpp:message-retract:1", "retract"}:       true, // XEP-0424
	{"urn:xmpp:fasten:0", "apply-to"}:               true, // XEP-0422 (retractions of XEP-0424 v0.3)
	{"jabber:x:conference", "x"}:                    true, // XEP-0249
}

const nsMUCUser = "http://jabber.org/protocol/muc#user"

// archivable applies the storage rules: chat and normal messages (and
// types unknown, handled as normal), never groupchat, headline or error;
// never with <no-store/> or <no-permanent-store/> (XEP-0334); always with
// <store/>; otherwise when they carry a body or one of the payloads
// above, or a mediated MUC invitation.
//
// The children are read once: a no-store hint anywhere wins over the rest.
func archivable(el *xmppcore.Element) bool {
	switch el.Attr("type") {
	case "groupchat", "headline", "error":
		return false
	}
	store, content := false, false
	for _, n := range el.Nodes {
		c := n.Elem
		switch {
		case c == nil:
		case c.Space == NSHints:
			switch c.Local {
			case "no-store", "no-permanent-store":
				return false
			case "store":
				store = true
			}
		case content:
		case c.Space == "" && c.Local == "body":
			content = true
		case archivablePayloads[[2]string{c.Space, c.Local}]:
			content = true
		case c.Is(nsMUCUser, "x") && c.Child(nsMUCUser, "invite") != nil:
			content = true
		}
	}
	return store || content
}

// hasStanzaID reports whether el carries a stanza-id by 'by' (a bare
// JID). The string form of by, which costs an allocation, is made only for
// a message that has a stanza-id at all, which few have when they are
// sent.
func hasStanzaID(el *xmppcore.Element, owner jid.JID) bool {
	by := ""
	for _, n := range el.Nodes {
		if n.Elem == nil || !n.Elem.Is(NSSID, "stanza-id") {
			continue
		}
		if by == "" {
			by = owner.String()
		}
		if n.Elem.Attr("by") == by {
			return true
		}
	}
	return false
}

// withoutStanzaID returns el without its stanza-id elements by owner: el
// itself when it has none, else a copy (elements being routed are shared,
// never changed in place).
func withoutStanzaID(el *xmppcore.Element, owner jid.JID) *xmppcore.Element {
	if !hasStanzaID(el, owner) {
		return el
	}
	by := owner.String()
	c := el.ShallowClone()
	c.Nodes = make([]xmppcore.Node, 0, len(el.Nodes))
	for _, n := range el.Nodes {
		if n.Elem != nil && n.Elem.Is(NSSID, "stanza-id") && n.Elem.Attr("by") == by {
			continue
		}
		c.Nodes = append(c.Nodes, n)
	}
	return c
}

// withStanzaID returns a copy of el with a stanza-id appended.
func withStanzaID(el *xmppcore.Element, id, by string) *xmppcore.Element {
	c := el.ShallowClone()
	c.Append(xmppcore.New(NSSID, "stanza-id", "id", id, "by", by))
	return c
}
