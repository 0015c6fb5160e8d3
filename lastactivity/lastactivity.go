package lastactivity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"parley.im/parley/module"
	"parley.im/parley/router"
	"parley.im/parley/storage"
	"parley.im/parley/xmppcore"
)

// NS is the XEP-0012 namespace.
const NS = "jabber:iq:last"

// Store is the part of storage the module uses.
type Store interface {
	GetData(ctx context.Context, host, username, kind, key string) ([]byte, error)
	PutData(ctx context.Context, host, username, kind, key string, value []byte) error
}

// Roster tells whether a contact may see a user's presence.
type Roster interface {
	RosterItem(ctx context.Context, host, username, contact string) (storage.RosterItem, error)
}

// Options configure the module.
type Options struct {
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Started is when the server started (the time New is called when
	// zero).
	Started time.Time
}

// LastActivity is the XEP-0012 module.
type LastActivity struct {
	store   Store
	roster  Roster
	now     func() time.Time
	started time.Time

	rt  *router.Router
	log *slog.Logger

	mu     sync.Mutex
	status map[router.Session]string // text of a session's unavailable presence
}

// record is what is stored of a logout.
type record struct {
	Stamp  time.Time `json:"stamp"`
	Status string    `json:"status,omitempty"`
}

var (
	_ module.Module = (*LastActivity)(nil)
	_ Store         = storage.AccountData(nil)
	_ Roster        = storage.Roster(nil)
)

// New returns the last activity module.
func New(store Store, roster Roster, opts Options) *LastActivity {
	l := &LastActivity{store: store, roster: roster, now: opts.Now, started: opts.Started,
		status: make(map[router.Session]string)}
	if l.now == nil {
		l.now = time.Now
	}
	if l.started.IsZero() {
		l.started = l.now()
	}
	return l
}

// Name implements module.Module.
func (*LastActivity) Name() string { return "lastactivity" }

// Register answers last activity requests to the server and to accounts,
// guards those to full JIDs, and records logouts.
func (l *LastActivity) Register(r *module.Registrar) error {
	l.rt, l.log = r.Router, r.Logger
	r.IQ("get", NS, "query", module.Server, l.uptime)
	r.IQ("get", NS, "query", module.Account, l.account)
	r.Feature(module.Server, NS)
	r.Feature(module.Account, NS)
	r.Hook(router.EventIQFull, router.PriorityEarly, l.guardFull)
	r.Hook(router.EventPresenceBroadcast, router.PriorityDefault, l.onPresence)
	r.OnSessionEnded(l.sessionEnded)
	return nil
}

func query(seconds int64, text string) *xmppcore.Element {
	return xmppcore.New(NS, "query", "seconds", strconv.FormatInt(max(seconds, 0), 10)).AppendText(text)
}

func (l *LastActivity) uptime(context.Context, *module.IQ) (*xmppcore.Element, error) {
	return query(int64(l.now().Sub(l.started)/time.Second), ""), nil
}

var (
	errForbidden = xmppcore.NewError(stanza.Forbidden, "")
	errNoRecord  = xmppcore.NewError(stanza.ServiceUnavailable, "")
)

// allowed reports whether requester may see user's presence.
func (l *LastActivity) allowed(ctx context.Context, requester, user jid.JID) (bool, error) {
	if requester.Bare().Equal(user) {
		return true, nil
	}
	it, err := l.roster.RosterItem(ctx, user.Domainpart(), user.Localpart(), requester.Bare().String())
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return false, nil
	case err != nil:
		return false, err
	}
	return it.Subscription == storage.SubFrom || it.Subscription == storage.SubBoth, nil
}

func (l *LastActivity) account(ctx context.Context, iq *module.IQ) (*xmppcore.Element, error) {
	user := iq.To.Bare()
	ok, err := l.allowed(ctx, iq.From, user)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errForbidden
	}
	if len(l.rt.Resources(user)) > 0 {
		return query(0, ""), nil
	}
	b, err := l.store.GetData(ctx, user.Domainpart(), user.Localpart(), storage.DataLastActivity, "")
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return nil, errNoRecord
	case err != nil:
		return nil, err
	}
	var rec record
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("lastactivity: stored record of %s: %w", user, err)
	}
	return query(int64(l.now().Sub(rec.Stamp)/time.Second), rec.Status), nil
}

// guardFull answers forbidden, in the user's stead, a last activity
// request to a full JID from someone not allowed to see the user's
// presence (§3.2).
func (l *LastActivity) guardFull(ctx context.Context, st *router.Stanza) bool {
	if st.Type() != "get" || st.El.ChildCount() != 1 || st.El.Child(NS, "query") == nil {
		return false
	}
	ok, err := l.allowed(ctx, st.From, st.To.Bare())
	if err != nil {
		l.log.Error("roster lookup failed", "user", st.To.Bare().String(), "err", err)
		l.rt.Error(ctx, st, xmppcore.NewError(stanza.InternalServerError, ""))
		return true
	}
	if ok {
		return false
	}
	l.rt.Error(ctx, st, errForbidden)
	return true
}

// onPresence remembers the status text of a session's unavailable
// presence, for the record written when the session ends.
func (l *LastActivity) onPresence(_ context.Context, st *router.Stanza) bool {
	if st.Origin == nil {
		return false
	}
	switch st.Type() {
	case "unavailable":
		l.mu.Lock()
		l.status[st.Origin] = st.El.ChildText("", "status")
		l.mu.Unlock()
	case "":
		l.mu.Lock()
		delete(l.status, st.Origin)
		l.mu.Unlock()
	}
	return false
}

// sessionEnded records the logout when the user's last session ends.
func (l *LastActivity) sessionEnded(ctx context.Context, s router.Session, _ bool) {
	l.mu.Lock()
	status := l.status[s]
	delete(l.status, s)
	l.mu.Unlock()
	user := s.JID().Bare()
	if len(l.rt.Resources(user)) > 0 {
		return
	}
	b, err := json.Marshal(record{Stamp: l.now().UTC(), Status: status})
	if err == nil {
		err = l.store.PutData(ctx, user.Domainpart(), user.Localpart(), storage.DataLastActivity, "", b)
	}
	if errors.Is(err, storage.ErrNotFound) {
		// The account was deleted while its session ended (XEP-0077
		// removal): nothing to record.
		return
	}
	if err != nil {
		l.log.Error("recording last activity failed", "user", user.String(), "err", err)
	}
}
