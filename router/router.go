package router

import (
	"context"
	"errors"
	"hash/maphash"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"

	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"
	"mellium.im/xmpp/stream"

	"parley.im/parley/xmppcore"
)

// Session is a bound local session as the router sees it.
type Session interface {
	// JID is the full JID bound to the session; it never changes.
	JID() jid.JID
	// Send enqueues a stanza for the session's writer without blocking. The
	// element must not be modified afterwards: it may be shared with other
	// recipients. It returns false when the stanza was not queued (the
	// session is closing, or its queue overflowed and it is being closed).
	Send(el *xmppcore.Element) bool
	// Close ends the session with a stream error, asynchronously.
	Close(se stream.Error, text string)
}

// Component receives every stanza addressed to its domain (MUC, upload...).
type Component interface {
	Deliver(ctx context.Context, st *Stanza)
}

// Remote is the federation link; nil while s2s is disabled.
type Remote interface {
	Deliver(ctx context.Context, st *Stanza) error
}

// Stanza is a stanza being routed, with its addresses parsed once.
type Stanza struct {
	El   *xmppcore.Element
	From jid.JID // the sender, always set for stanzas from sessions
	To   jid.JID // the addressee; zero when the stanza had no 'to'
	// Origin is the local session the stanza came from, or nil when the
	// server or a remote domain produced it.
	Origin Session
	// OnBehalf marks a stanza a module sends for the local user in From;
	// it runs the EventOnBehalf hooks.
	OnBehalf bool
	// Initial is set on broadcast presence (no 'to') that made its session
	// available: the initial presence of RFC 6121 §4.2, after which
	// probes go out and offline messages come in.
	Initial bool

	// one backs the recipients handed to the delivery hooks when a single
	// session took the message, the usual case: the stanza is on the heap
	// already, so that list costs no allocation of its own.
	one [1]Session
}

// Kind is "message", "presence" or "iq".
func (st *Stanza) Kind() string { return st.El.Local }

// Type is the stanza's 'type' attribute.
func (st *Stanza) Type() string { return st.El.Attr("type") }

// Errors returned by Bind.
var (
	ErrConflict        = errors.New("router: resource already bound")
	ErrTooManySessions = errors.New("router: too many sessions for this account")
)

// ConflictPolicy says what Bind does when the resource is already bound.
type ConflictPolicy int

const (
	// ReplaceOld closes the older session with <conflict/>; the new one wins.
	ReplaceOld ConflictPolicy = iota
	// RefuseNew makes Bind fail with ErrConflict.
	RefuseNew
)

// Config is what the router needs to know about the server.
type Config struct {
	Hosts []string
	// AccountExists reports whether a local account exists; it is consulted
	// only for users with no bound session.
	AccountExists func(ctx context.Context, host, username string) (bool, error)
	// MaxSessionsPerAccount bounds resources per bare JID (0: unlimited).
	MaxSessionsPerAccount int
	Conflict              ConflictPolicy
	Logger                *slog.Logger
}

const shardCount = 64

// Router is the session registry and stanza router. Its zero value is not
// usable; call New.
type Router struct {
	cfg    Config
	hosts  map[string]struct{}
	seed   maphash.Seed
	shards [shardCount]shard
	log    *slog.Logger

	hooks      atomic.Pointer[hookTable]
	hookMu     sync.Mutex // serializes writers of hooks
	components atomic.Pointer[map[string]Component]
	compMu     sync.Mutex
	remote     atomic.Pointer[remoteBox]
	bound      atomic.Int64
}

type remoteBox struct{ r Remote }

type shard struct {
	mu    sync.RWMutex
	users map[string]*user // by bare JID string
}

type user struct {
	resources []*resource
}

type resource struct {
	sess      Session
	name      string
	available bool
	priority  int
	presence  *xmppcore.Element
}

// New returns a router for the given hosts.
func New(cfg Config) *Router {
	r := &Router{cfg: cfg, hosts: make(map[string]struct{}), seed: maphash.MakeSeed(), log: cfg.Logger}
	if r.log == nil {
		r.log = slog.Default()
	}
	for _, h := range cfg.Hosts {
		r.hosts[h] = struct{}{}
	}
	for i := range r.shards {
		r.shards[i].users = make(map[string]*user)
	}
	r.hooks.Store(&hookTable{})
	empty := map[string]Component{}
	r.components.Store(&empty)
	return r
}

// IsLocalHost reports whether domain is one of the served virtual hosts.
func (r *Router) IsLocalHost(domain string) bool {
	_, ok := r.hosts[domain]
	return ok
}

// Hosts returns the served virtual hosts.
func (r *Router) Hosts() []string { return slices.Clone(r.cfg.Hosts) }

// Serves reports whether domain is served here: a virtual host or a
// component's domain (what a remote server may address, for s2s).
func (r *Router) Serves(domain string) bool {
	if r.IsLocalHost(domain) {
		return true
	}
	_, ok := (*r.components.Load())[domain]
	return ok
}

func (r *Router) shardFor(bare string) *shard {
	return &r.shards[maphash.String(r.seed, bare)%shardCount]
}

// Bind registers a session under its full JID. With ReplaceOld it returns
// the session it displaced, which the caller closes with <conflict/>.
func (r *Router) Bind(s Session) (replaced Session, err error) {
	full := s.JID()
	bare := full.Bare().String()
	res := full.Resourcepart()
	sh := r.shardFor(bare)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	u := sh.users[bare]
	if u == nil {
		u = &user{}
		sh.users[bare] = u
	}
	for i, rs := range u.resources {
		if rs.name != res {
			continue
		}
		if r.cfg.Conflict == RefuseNew {
			return nil, ErrConflict
		}
		replaced = rs.sess
		u.resources[i] = &resource{sess: s, name: res}
		return replaced, nil
	}
	if max := r.cfg.MaxSessionsPerAccount; max > 0 && len(u.resources) >= max {
		return nil, ErrTooManySessions
	}
	u.resources = append(u.resources, &resource{sess: s, name: res})
	r.bound.Add(1)
	return nil, nil
}

// Unbind removes a session if it is still the one bound to its JID. It
// reports whether it was, and whether it had been available (so the caller
// knows whether to broadcast unavailable presence).
func (r *Router) Unbind(s Session) (wasBound, wasAvailable bool) {
	full := s.JID()
	bare := full.Bare().String()
	sh := r.shardFor(bare)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	u := sh.users[bare]
	if u == nil {
		return false, false
	}
	for i, rs := range u.resources {
		if rs.sess != s {
			continue
		}
		u.resources = slices.Delete(u.resources, i, i+1)
		if len(u.resources) == 0 {
			delete(sh.users, bare)
		}
		r.bound.Add(-1)
		return true, rs.available
	}
	return false, false
}

// SetPresence records a session's broadcast presence: available unless the
// type is unavailable, with its priority (RFC 6121 §4.7.2.3, -128..127).
// It reports whether the session was available before.
func (r *Router) SetPresence(s Session, pres *xmppcore.Element) (wasAvailable bool) {
	available := pres.Attr("type") == ""
	prio := parsePriority(pres.ChildText("", "priority"))
	full := s.JID()
	bare := full.Bare().String()
	sh := r.shardFor(bare)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if u := sh.users[bare]; u != nil {
		for _, rs := range u.resources {
			if rs.sess == s {
				wasAvailable = rs.available
				rs.available, rs.priority, rs.presence = available, prio, pres
				return wasAvailable
			}
		}
	}
	return false
}

func parsePriority(s string) int {
	if s == "" {
		return 0
	}
	n, neg := 0, false
	for i, c := range []byte(s) {
		switch {
		case i == 0 && (c == '-' || c == '+'):
			neg = c == '-'
		case c >= '0' && c <= '9':
			n = n*10 + int(c-'0')
			if n > 128 {
				n = 128
			}
		default:
			return 0
		}
	}
	if neg {
		n = -n
	}
	return max(-128, min(127, n))
}

// ResourceInfo describes one bound resource.
type ResourceInfo struct {
	Session   Session
	Available bool
	Priority  int
	Presence  *xmppcore.Element // last broadcast presence, nil before the first
}

// Resources returns the bound resources of a bare JID (a snapshot).
func (r *Router) Resources(bare jid.JID) []ResourceInfo {
	return r.appendResources(nil, bare)
}

// appendResources appends the snapshot of Resources to dst: routing passes
// a buffer on its stack, so that a lookup allocates nothing.
func (r *Router) appendResources(dst []ResourceInfo, bare jid.JID) []ResourceInfo {
	var buf [64]byte
	key := AppendBare(buf[:0], bare)
	sh := r.shardFor(string(key))
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	u := sh.users[string(key)]
	if u == nil {
		return dst
	}
	dst = slices.Grow(dst, len(u.resources))
	for _, rs := range u.resources {
		dst = append(dst, ResourceInfo{Session: rs.sess, Available: rs.available, Priority: rs.priority, Presence: rs.presence})
	}
	return dst
}

// AppendBare appends the bare form of j ("local@domain", or the domain) to
// dst, as j.Bare().String() would return it. Hot paths that look a user up
// in a map by bare JID build the key in a stack buffer with it: a map index
// by string(b) allocates nothing, where String allocates each time.
func AppendBare(dst []byte, j jid.JID) []byte {
	if l := j.Localpart(); l != "" {
		dst = append(dst, l...)
		dst = append(dst, '@')
	}
	return append(dst, j.Domainpart()...)
}

// Session returns the session bound to a full JID.
func (r *Router) Session(full jid.JID) (Session, bool) {
	var buf [64]byte
	key := string(AppendBare(buf[:0], full))
	res := full.Resourcepart()
	sh := r.shardFor(key)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	if u := sh.users[key]; u != nil {
		for _, rs := range u.resources {
			if rs.name == res {
				return rs.sess, true
			}
		}
	}
	return nil, false
}

// SessionCount returns the number of bound sessions.
func (r *Router) SessionCount() int64 { return r.bound.Load() }

// AllSessions returns every bound session (for shutdown).
func (r *Router) AllSessions() []Session {
	var out []Session
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.RLock()
		for _, u := range sh.users {
			for _, rs := range u.resources {
				out = append(out, rs.sess)
			}
		}
		sh.mu.RUnlock()
	}
	return out
}

// SetComponent registers (or with nil, removes) the handler of a domain.
func (r *Router) SetComponent(domain string, c Component) {
	r.compMu.Lock()
	defer r.compMu.Unlock()
	next := make(map[string]Component, len(*r.components.Load())+1)
	for k, v := range *r.components.Load() {
		next[k] = v
	}
	if c == nil {
		delete(next, domain)
	} else {
		next[domain] = c
	}
	r.components.Store(&next)
}

// SetRemote installs the federation link (nil disables federation).
func (r *Router) SetRemote(rm Remote) {
	if rm == nil {
		r.remote.Store(nil)
		return
	}
	r.remote.Store(&remoteBox{rm})
}

// Error answers st with a stanza error, unless st must not be answered.
// The answer comes from st's addressee (or the host) and is routed back.
func (r *Router) Error(ctx context.Context, st *Stanza, se stanza.Error) {
	reply := xmppcore.ErrorReply(st.El, se)
	if reply == nil {
		return
	}
	from := st.To
	if from.Equal(jid.JID{}) {
		from = st.From.Domain()
	}
	reply.SetAttr("from", from.String())
	if st.From.Equal(jid.JID{}) {
		return // nobody to tell
	}
	reply.SetAttr("to", st.From.String())
	out := &Stanza{El: reply, From: from, To: st.From}
	if st.Origin != nil && st.Origin.JID().Equal(st.From) {
		st.Origin.Send(reply)
		return
	}
	r.Route(ctx, out)
}
