package offline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"sync"
	"time"

	"parley.im/parley/module"
	"parley.im/parley/router"
	"parley.im/parley/storage"
	"parley.im/parley/xmppcore"
)

// Namespaces and features used here.
const (
	Feature = "msgoffline"     // XEP-0160 §4 disco feature
	NSDelay = "urn:xmpp:delay" // XEP-0203
	NSHints = "urn:xmpp:hints" // XEP-0334
)

// DefaultLimit is the number of messages kept per user when Options.Limit
// is zero.
const DefaultLimit = 1000

// Store is the part of storage the module uses.
type Store interface {
	PushOffline(ctx context.Context, host, username string, stanza []byte, stamp time.Time, limit int) error
	OfflineMessages(ctx context.Context, host, username string) ([]storage.OfflineMessage, error)
	DeleteOffline(ctx context.Context, host, username string, upTo int64) error
}

// Options configure the module.
type Options struct {
	// Limit is the most messages kept for one user: 0 means DefaultLimit,
	// a negative value no limit.
	Limit int
	// Now is the clock that stamps stored messages (time.Now when nil).
	Now func() time.Time
}

// Offline is the XEP-0160 module.
type Offline struct {
	store Store
	limit int
	now   func() time.Time

	rt  *router.Router
	log *slog.Logger

	seed  maphash.Seed
	locks [64]sync.Mutex // per user (striped): one delivery at a time

	mu sync.Mutex
	// waiting holds sessions whose initial presence had a negative
	// priority: they get the messages once they raise it (XEP-0160 §2).
	waiting map[router.Session]struct{}
}

var (
	_ module.Module = (*Offline)(nil)
	_ Store         = storage.Offline(nil)
)

// New returns the offline module over store.
func New(store Store, opts Options) *Offline {
	o := &Offline{store: store, limit: opts.Limit, now: opts.Now, seed: maphash.MakeSeed(),
		waiting: make(map[router.Session]struct{})}
	switch {
	case o.limit == 0:
		o.limit = DefaultLimit
	case o.limit < 0:
		o.limit = 0 // the store's "no limit"
	}
	if o.now == nil {
		o.now = time.Now
	}
	return o
}

// Name implements module.Module.
func (*Offline) Name() string { return "offline" }

// Register hooks offline storage and delivery and advertises msgoffline on
// the server.
func (o *Offline) Register(r *module.Registrar) error {
	o.rt, o.log = r.Router, r.Logger
	r.Hook(router.EventMessageOffline, router.PriorityDefault, o.store1)
	// Late: whatever else reacts to the presence (the presence module's
	// broadcast and probes) comes first, as in RFC 6121 §4.2.
	r.Hook(router.EventPresenceBroadcast, router.PriorityLate, o.onPresence)
	r.OnSessionEnded(func(_ context.Context, s router.Session, _ bool) {
		o.mu.Lock()
		delete(o.waiting, s)
		o.mu.Unlock()
	})
	r.Feature(module.Server, Feature)
	return nil
}

// store1 keeps a message for an offline user. Not claiming it lets the
// router answer service-unavailable.
func (o *Offline) store1(ctx context.Context, st *router.Stanza) bool {
	switch st.Type() {
	case "groupchat", "headline", "error":
		return false
	}
	store := st.El.Child(NSHints, "store") != nil
	if !store && !worthStoring(st.El) {
		return true // chat states and the like: nobody will miss them
	}
	if st.El.Child(NSHints, "no-store") != nil {
		return false
	}
	user := st.To.Bare()
	b := st.El.AppendXML(nil, xmppcore.NSClient)
	err := o.store.PushOffline(ctx, user.Domainpart(), user.Localpart(), b, o.now(), o.limit)
	switch {
	case errors.Is(err, storage.ErrQuota):
		o.log.Debug("offline storage full", "user", user.String())
		return false
	case err != nil:
		o.log.Error("storing an offline message failed", "user", user.String(), "err", err)
		return false
	}
	return true
}

// worthStoring reports whether a message has content a user would miss:
// anything but chat states, hints, a thread and stanza ids. A body counts,
// and so do payloads without one (encrypted messages, invitations,
// receipts).
func worthStoring(el *xmppcore.Element) bool {
	for c := range el.Children() {
		switch c.Space {
		case "":
			if c.Local != "thread" {
				return true
			}
		case nsChatStates, NSHints, nsSID:
		default:
			return true
		}
	}
	return false
}

const (
	nsChatStates = "http://jabber.org/protocol/chatstates" // XEP-0085
	nsSID        = "urn:xmpp:sid:0"                        // XEP-0359
)

// onPresence delivers the stored messages to a session that became
// available with a non-negative priority. It never claims the presence.
func (o *Offline) onPresence(ctx context.Context, st *router.Stanza) bool {
	s := st.Origin
	if s == nil || st.Type() != "" {
		return false
	}
	prio, ok := o.priority(s)
	if !ok {
		return false
	}
	o.mu.Lock()
	_, waiting := o.waiting[s]
	switch {
	case st.Initial && prio < 0:
		o.waiting[s] = struct{}{}
	case waiting && prio >= 0:
		delete(o.waiting, s)
	}
	o.mu.Unlock()
	if prio >= 0 && (st.Initial || waiting) {
		o.deliver(ctx, s)
	}
	return false
}

// priority is the session's presence priority as the router recorded it.
func (o *Offline) priority(s router.Session) (int, bool) {
	for _, ri := range o.rt.Resources(s.JID().Bare()) {
		if ri.Session == s {
			return ri.Priority, ri.Available
		}
	}
	return 0, false
}

// deliver sends the stored messages to s in order and deletes those it
// accepted.
func (o *Offline) deliver(ctx context.Context, s router.Session) {
	user := s.JID().Bare()
	host, name := user.Domainpart(), user.Localpart()
	mu := &o.locks[maphash.String(o.seed, user.String())%uint64(len(o.locks))]
	mu.Lock()
	defer mu.Unlock()
	msgs, err := o.store.OfflineMessages(ctx, host, name)
	if err != nil {
		o.log.Error("reading offline messages failed", "user", user.String(), "err", err)
		return
	}
	var last int64
	sent := 0
	for _, m := range msgs {
		el, err := parse(m.Stanza)
		if err != nil {
			// Unreadable: it never will be; drop it rather than block the
			// queue behind it forever.
			o.log.Error("dropping an unreadable offline message", "user", user.String(), "id", m.ID, "err", err)
			last = m.ID
			continue
		}
		el.Append(xmppcore.New(NSDelay, "delay", "from", host, "stamp", Stamp(m.Stamp)).AppendText("Offline Storage"))
		if !s.Send(el) {
			break
		}
		last = m.ID
		sent++
	}
	if last == 0 {
		return
	}
	if err := o.store.DeleteOffline(ctx, host, name, last); err != nil {
		// They will come again: a duplicate is better than a loss.
		o.log.Error("deleting delivered offline messages failed", "user", user.String(), "err", err)
		return
	}
	o.log.Debug("offline messages delivered", "jid", s.JID().String(), "sent", sent, "stored", len(msgs))
}

// Stamp formats t as a XEP-0082 DateTime in UTC with milliseconds.
func Stamp(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

const (
	streamOpen  = `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`
	streamClose = `</stream:stream>`
)

// parse reads back a stanza serialized in the client namespace.
func parse(b []byte) (*xmppcore.Element, error) {
	in := bytes.NewReader(append(append([]byte(streamOpen), b...), streamClose...))
	rd := xmppcore.NewReader(in, xmppcore.Limits{MaxStanzaSize: len(b) + 1024, MaxDepth: 1 << 10})
	if _, err := rd.ReadHeader(); err != nil {
		return nil, err
	}
	el, err := rd.Next()
	if err != nil {
		return nil, err
	}
	if !el.Is("", xmppcore.Message) {
		return nil, fmt.Errorf("offline: stored element is %s, not a message", el.Local)
	}
	return el, nil
}
