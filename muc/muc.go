package muc

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"maps"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"parley.im/parley/module"
	"parley.im/parley/router"
	"parley.im/parley/storage"
	"parley.im/parley/xmppcore"
)

// Namespaces and features of XEP-0045 and the extensions the service
// implements.
const (
	NS           = "http://jabber.org/protocol/muc"
	NSUser       = NS + "#user"
	NSAdmin      = NS + "#admin"
	NSOwner      = NS + "#owner"
	NSRequest    = NS + "#request"
	NSRoomConfig = NS + "#roomconfig"
	NSRoomInfo   = NS + "#roominfo"
	NSRegister   = NS + "#register"
	NSStableID   = NS + "#stable_id"
	NSTraffic    = NS + "#traffic"
	NSSelfPing   = NS + "#self-ping-optimization" // XEP-0410
	NSOccupantID = "urn:xmpp:occupant-id:0"       // XEP-0421
	NSSID        = "urn:xmpp:sid:0"               // XEP-0359
	NSDelay      = "urn:xmpp:delay"               // XEP-0203
	NSData       = "jabber:x:data"                // XEP-0004
	NSDiscoInfo  = "http://jabber.org/protocol/disco#info"
	NSDiscoItems = "http://jabber.org/protocol/disco#items"
	NSPing       = "urn:xmpp:ping"      // XEP-0199
	NSIQRegister = "jabber:iq:register" // XEP-0077
	NSVCard      = "vcard-temp"         // XEP-0054
	NSHints      = "urn:xmpp:hints"     // XEP-0334
)

// CreatePolicy says who may create rooms.
type CreatePolicy int

const (
	// CreateLocal lets users of the served hosts create rooms.
	CreateLocal CreatePolicy = iota
	// CreateAdmins lets only the service admins create rooms.
	CreateAdmins
	// CreateList lets the service admins and Options.Creators create rooms.
	CreateList
	// CreateAnyone lets any user, local or remote, create rooms.
	CreateAnyone
)

// Defaults of Options.
const (
	DefaultSubdomain    = "conference"
	DefaultName         = "Chatrooms"
	DefaultMaxOccupants = 1000
	DefaultMaxHistory   = 100
	DefaultIdleTimeout  = 10 * time.Minute

	DefaultArchivePurgeInterval = time.Hour
)

// Options configure the service. The zero value is a working service on
// conference.<host> for every host, where local users create rooms.
type Options struct {
	// Subdomain is prefixed to each host to name its service
	// (DefaultSubdomain when empty).
	Subdomain string
	// Name is the name of the service's disco identity.
	Name string
	// Admins lists, per host, the bare JIDs that administer the service
	// of that host: they may create rooms whatever Create says, are not
	// bound by MaxRoomsPerUser, and are owners of every room.
	Admins map[string][]string
	// Create says who may create rooms; Creators lists the bare JIDs and
	// domains allowed with CreateList.
	Create   CreatePolicy
	Creators []string
	// MaxRoomsPerUser bounds the rooms one user owns on a service (0: no
	// limit).
	MaxRoomsPerUser int
	// MaxOccupants bounds the occupants of any room and is the default of
	// muc#roomconfig_maxusers (DefaultMaxOccupants when 0).
	MaxOccupants int
	// MaxHistory bounds the discussion history a room keeps
	// (DefaultMaxHistory when 0).
	MaxHistory int
	// Defaults is the configuration of new rooms (DefaultRoomConfig when
	// nil). MaxUsers and HistoryLength are capped by the limits above.
	Defaults *RoomConfig
	// MessageRate is how many messages (groupchat, private and voice
	// requests) an occupant may send per second, with bursts of
	// MessageBurst (at least 1); 0 means no limit. Room owners and admins
	// are not limited.
	MessageRate  float64
	MessageBurst int
	// OccupantIDSecret keys the XEP-0421 occupant ids. Keep it across
	// restarts, or the ids change; when empty a random one is made at
	// start.
	OccupantIDSecret []byte
	// IdleTimeout is how long a persistent room with no occupants stays
	// in memory (DefaultIdleTimeout when 0); its discussion history goes
	// with it.
	IdleTimeout time.Duration
	// LargeRoom is the number of occupants from which a room limits
	// presence broadcast to the roles in LargeRoomRoles (only moderators
	// when nil): see the package documentation. 0 turns it off.
	LargeRoom      int
	LargeRoomRoles []string
	// NoRegistration turns off registration with rooms (jabber:iq:register).
	NoRegistration bool
	// ArchiveRetention is how long room archives keep messages (0:
	// forever); the purge runs every ArchivePurgeInterval
	// (DefaultArchivePurgeInterval when 0).
	ArchiveRetention     time.Duration
	ArchivePurgeInterval time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// RoomConfig is the configuration of a room.
type RoomConfig struct {
	storage.MUCConfig
	Persistent bool
}

// DefaultRoomConfig is the configuration of new rooms when
// Options.Defaults is nil: public, open, unmoderated, semi-anonymous and
// temporary, with 20 messages of history, presence broadcast for every
// role and private messages for anyone.
func DefaultRoomConfig() RoomConfig {
	return RoomConfig{MUCConfig: storage.MUCConfig{Public: true, HistoryLength: 20, AllowPM: pmAnyone}}
}

// Store is the storage the service uses.
type Store = storage.MUC

// MUC is the XEP-0045 module: one service per served host, on
// <Subdomain>.<host>.
type MUC struct {
	store  Store
	opts   Options
	secret []byte

	rt       *router.Router
	log      *slog.Logger
	services map[string]*service // by domain; written only by Register

	started  atomic.Bool
	stopOnce sync.Once
	arch     archiver       // room archive writes (archive.go)
	drains   sync.WaitGroup // rooms draining on a goroutine of their own (room.flush)
	drainMu  sync.Mutex     // orders drains.Add before the Wait in Stop
	noAsync  bool           // set by Stop under drainMu: drain synchronously
	purging  sync.WaitGroup // the room archive purge (archive.go)
	stop     chan struct{}
	done     chan struct{}
}

var (
	_ module.Module  = (*MUC)(nil)
	_ module.Starter = (*MUC)(nil)
	_ module.Stopper = (*MUC)(nil)
)

// New returns the module over store.
func New(store Store, opts Options) *MUC {
	if opts.Subdomain == "" {
		opts.Subdomain = DefaultSubdomain
	}
	if opts.Name == "" {
		opts.Name = DefaultName
	}
	if opts.MaxOccupants <= 0 {
		opts.MaxOccupants = DefaultMaxOccupants
	}
	if opts.MaxHistory <= 0 {
		opts.MaxHistory = DefaultMaxHistory
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if opts.ArchivePurgeInterval <= 0 {
		opts.ArchivePurgeInterval = DefaultArchivePurgeInterval
	}
	if opts.MessageBurst < 1 {
		opts.MessageBurst = 1
	}
	if opts.LargeRoomRoles == nil {
		opts.LargeRoomRoles = []string{roleModerator.String()}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	d := DefaultRoomConfig()
	if opts.Defaults != nil {
		d = *opts.Defaults
	}
	d.PresenceBroadcast = slices.Clone(d.PresenceBroadcast)
	if d.MaxUsers > opts.MaxOccupants {
		d.MaxUsers = opts.MaxOccupants
	}
	d.HistoryLength = min(max(d.HistoryLength, 0), opts.MaxHistory)
	opts.Defaults = &d
	m := &MUC{store: store, opts: opts, services: make(map[string]*service),
		stop: make(chan struct{}), done: make(chan struct{})}
	m.secret = opts.OccupantIDSecret
	if len(m.secret) == 0 {
		m.secret = make([]byte, 32)
		rand.Read(m.secret)
	}
	return m
}

// clampMax is a room's maximum of occupants: 0 (or too much) means the
// service's limit.
func clampMax(n, limit int) int {
	if n <= 0 || n > limit {
		return limit
	}
	return n
}

// Name implements module.Module.
func (*MUC) Name() string { return "muc" }

// Register makes the service of each host the component of its domain and
// lists it in the server's disco#items.
func (m *MUC) Register(r *module.Registrar) error {
	m.rt, m.log = r.Router, r.Logger
	for _, host := range r.Router.Hosts() {
		domain := m.opts.Subdomain + "." + host
		j, err := jid.New("", domain, "")
		if err != nil {
			return fmt.Errorf("muc: service domain %q: %w", domain, err)
		}
		if _, dup := m.services[j.String()]; dup {
			continue
		}
		s := newService(m, host, j)
		m.services[s.domain] = s
		r.Router.SetComponent(s.domain, s)
		r.Item(s.domain)
	}
	r.OnSessionEnded(m.sessionEnded)
	// Late, and never claiming: the presence module's broadcast comes first.
	r.Hook(router.EventPresenceBroadcast, router.PriorityLate, m.onBroadcast)
	return nil
}

// onBroadcast takes a session that broadcasts unavailable presence out of
// its rooms: that ends its directed presence (RFC 6121 §4.6.3), which the
// presence module does not send to components.
func (m *MUC) onBroadcast(ctx context.Context, st *router.Stanza) bool {
	if st.Origin != nil && st.Type() == "unavailable" {
		m.leaveAll(ctx, st.Origin.JID(), sanitize(st.El))
	}
	return false
}

// Domains returns the domains of the services, sorted.
func (m *MUC) Domains() []string {
	return slices.Sorted(maps.Keys(m.services))
}

// Start runs the janitor that unloads idle persistent rooms and, with a
// retention, the purge of the room archives.
func (m *MUC) Start(context.Context) error {
	if m.started.CompareAndSwap(false, true) {
		go m.janitor()
		if m.opts.ArchiveRetention > 0 && m.roomArchive() != nil {
			m.purging.Add(1)
			go func() {
				defer m.purging.Done()
				m.purger()
			}()
		}
	}
	return nil
}

// Stop removes every occupant from every room with status 332 (service
// shut down), unregisters the components and stops the janitor.
func (m *MUC) Stop(ctx context.Context) error {
	m.stopOnce.Do(func() { close(m.stop) })
	m.drainMu.Lock()
	m.noAsync = true
	m.drainMu.Unlock()
	defer m.archiveWait()
	for _, s := range m.services {
		m.rt.SetComponent(s.domain, nil)
		s.shutdown(ctx)
	}
	waitGroup(ctx, &m.drains)
	waitGroup(ctx, &m.purging) // stopped by m.stop, before storage closes
	if m.started.Load() {
		select {
		case <-m.done:
		case <-ctx.Done():
		}
	}
	return nil
}

// drainAsync counts a drain about to start on a goroutine of its own,
// unless the module is stopping (then the caller drains itself).
func (m *MUC) drainAsync() bool {
	m.drainMu.Lock()
	defer m.drainMu.Unlock()
	if m.noAsync {
		return false
	}
	m.drains.Add(1)
	return true
}

// waitGroup waits for wg, or for ctx to end.
func waitGroup(ctx context.Context, wg *sync.WaitGroup) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// Drain implements module.Drainer: at shutdown the occupants learn that
// the service goes away (status 332) while their sessions still carry it.
func (m *MUC) Drain(ctx context.Context) error { return m.Stop(ctx) }

var _ module.Drainer = (*MUC)(nil)

func (m *MUC) janitor() {
	defer close(m.done)
	every := min(m.opts.IdleTimeout/2, time.Minute)
	t := time.NewTicker(max(every, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			for _, s := range m.services {
				s.evictIdle()
			}
		}
	}
}

// sessionEnded removes a local session that ended from the rooms it was
// in, as if it had sent unavailable presence: the presence module sends
// that presence only to local hosts and federated domains, not to
// components, and a session may end without any presence module at all.
func (m *MUC) sessionEnded(ctx context.Context, sess router.Session, _ bool) {
	m.leaveAll(ctx, sess.JID(), nil)
}

// leaveAll takes a real full JID out of every room it is in, as if it had
// sent them the unavailable presence pres (sanitized, or nil).
func (m *MUC) leaveAll(ctx context.Context, full jid.JID, pres *xmppcore.Element) {
	for _, s := range m.services {
		for _, r := range s.takeSession(full) {
			r.mu.Lock()
			if !r.closed {
				if os := r.bySession[full.String()]; os != nil {
					r.leave(ctx, os, "", pres, nil)
				}
			}
			r.mu.Unlock()
			r.flush(ctx)
		}
	}
}

// now is the service clock.
func (m *MUC) now() time.Time { return m.opts.Now() }

// Deliver implements router.Component: every stanza to the service's
// domain, to a room or to an occupant comes here.
func (s *service) Deliver(ctx context.Context, st *router.Stanza) {
	defer func() {
		if p := recover(); p != nil {
			s.m.log.Error("muc: handler panicked", "to", st.To.String(), "from", st.From.String(),
				"panic", p, "stack", string(debug.Stack()))
			s.reply(ctx, st, xmppcore.NewError(stanza.InternalServerError, ""))
		}
	}()
	if st.From.Equal(jid.JID{}) {
		return // nobody to answer, nobody to act for
	}
	if st.To.Localpart() == "" {
		s.handleService(ctx, st)
		return
	}
	s.handleRoom(ctx, st)
}

// reply routes an error answer to st (unless st must not be answered),
// from the address st was sent to, with 'by' set to the room or service.
func (s *service) reply(ctx context.Context, st *router.Stanza, se stanza.Error, before ...*xmppcore.Element) {
	if el := errorReply(st, se, before...); el != nil {
		s.m.rt.Route(ctx, &router.Stanza{El: el, From: st.To, To: st.From})
	}
}

// errorReply builds the error answer to st: from the normalized address it
// was sent to, 'by' the room (or service), with before placed ahead of the
// <error/> (XEP-0045 puts <x xmlns='…muc'/> there in join errors). It is
// nil when st must not be answered.
func errorReply(st *router.Stanza, se stanza.Error, before ...*xmppcore.Element) *xmppcore.Element {
	if se.By.Equal(jid.JID{}) {
		se.By = st.To.Bare()
	}
	el := xmppcore.ErrorReply(st.El, se)
	if el == nil {
		return nil
	}
	el.SetAttr("from", st.To.String())
	el.SetAttr("to", st.From.String())
	if len(before) > 0 {
		nodes := make([]xmppcore.Node, 0, len(before)+len(el.Nodes))
		for _, b := range before {
			nodes = append(nodes, xmppcore.Node{Elem: b})
		}
		el.Nodes = append(nodes, el.Nodes...)
	}
	return el
}

// Stanza errors the service answers with.
var (
	errBadRequest    = xmppcore.NewError(stanza.BadRequest, "")
	errNotFound      = xmppcore.NewError(stanza.ItemNotFound, "")
	errForbidden     = xmppcore.NewError(stanza.Forbidden, "")
	errNotAllowed    = xmppcore.NewError(stanza.NotAllowed, "")
	errNotAcceptable = xmppcore.NewError(stanza.NotAcceptable, "")
	errConflict      = xmppcore.NewError(stanza.Conflict, "")
	errUnavailable   = xmppcore.NewError(stanza.ServiceUnavailable, "")
	errInternal      = xmppcore.NewError(stanza.InternalServerError, "")
	errJIDMalformed  = xmppcore.NewError(stanza.JIDMalformed, "")
	errNotAuthorized = xmppcore.NewError(stanza.NotAuthorized, "")
	errRegistration  = xmppcore.NewError(stanza.RegistrationRequired, "")
	errRoomFull      = stanza.Error{Type: stanza.Wait, Condition: stanza.ServiceUnavailable}
	errTooFast       = stanza.Error{Type: stanza.Wait, Condition: stanza.PolicyViolation,
		Text: map[string]string{"en": "You are sending messages too fast, please wait a little"}}
	errNotJoined = xmppcore.NewError(stanza.NotAcceptable, "You are not in the room")
	errBusy      = stanza.Error{Type: stanza.Wait, Condition: stanza.ResourceConstraint,
		Text: map[string]string{"en": "The room is busy delivering earlier messages, please wait a little"}}
)

// isLocalUser reports whether j is an account of a served host.
func (m *MUC) isLocalUser(j jid.JID) bool {
	return j.Localpart() != "" && m.rt.IsLocalHost(j.Domainpart())
}

// mayCreate applies Options.Create to a user wanting a new room.
func (s *service) mayCreate(user jid.JID) bool {
	if s.isAdmin(user) {
		return true
	}
	switch s.m.opts.Create {
	case CreateAnyone:
		return true
	case CreateLocal:
		return s.m.isLocalUser(user)
	case CreateList:
		return s.creators[user.Bare().String()] || s.creators[user.Domainpart()]
	}
	return false
}
