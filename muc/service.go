package muc

import (
	"context"
	"errors"
	"hash/maphash"
	"sync"

	"mellium.im/xmpp/jid"

	"parley.im/parley/router"
	"parley.im/parley/storage"
	"parley.im/parley/xmppcore"
)

const shardCount = 32

// service is the MUC service of one host: the component of its domain.
//
// Lock order: a room's mutex may be held while taking a shard's mutex
// (rooms or sessions), never the reverse; no lock is held while routing.
type service struct {
	m      *MUC
	host   string
	jid    jid.JID
	domain string

	admins   map[string]bool // bare JIDs
	creators map[string]bool // bare JIDs and domains

	seed     maphash.Seed
	rooms    [shardCount]roomShard
	sessions [shardCount]sessionShard
}

type roomShard struct {
	mu    sync.Mutex
	rooms map[string]*roomEntry
}

// roomEntry is a live room, or one being loaded from storage (r nil until
// loading is closed).
type roomEntry struct {
	r       *room
	loading chan struct{}
	err     error
}

// sessionShard maps a real full JID to the rooms it is in, so that a
// session that ends leaves them all without a scan of every room.
type sessionShard struct {
	mu     sync.Mutex
	byFull map[string]map[*room]struct{}
}

var _ router.Component = (*service)(nil)

func newService(m *MUC, host string, j jid.JID) *service {
	s := &service{m: m, host: host, jid: j, domain: j.String(), seed: maphash.MakeSeed(),
		admins: normalizedSet(m.opts.Admins[host], false), creators: normalizedSet(m.opts.Creators, true)}
	for i := range s.rooms {
		s.rooms[i].rooms = make(map[string]*roomEntry)
		s.sessions[i].byFull = make(map[string]map[*room]struct{})
	}
	return s
}

// normalizedSet parses JIDs (bare, or domains when domains is true) into a
// set of normalized strings; what does not parse is left out.
func normalizedSet(list []string, domains bool) map[string]bool {
	set := make(map[string]bool, len(list))
	for _, s := range list {
		j, err := jid.Parse(s)
		if err != nil || (j.Localpart() == "" && !domains) {
			continue
		}
		set[j.Bare().String()] = true
	}
	return set
}

func (s *service) isAdmin(user jid.JID) bool { return s.admins[user.Bare().String()] }

func (s *service) roomShard(name string) *roomShard {
	return &s.rooms[maphash.String(s.seed, name)%shardCount]
}

func (s *service) sessionShard(full string) *sessionShard {
	return &s.sessions[maphash.String(s.seed, full)%shardCount]
}

// lookup returns the live room of that name, loading it from storage if
// it is persistent and not in memory; nil if there is no such room.
// Concurrent lookups of a room being loaded wait for the one load.
func (s *service) lookup(ctx context.Context, name string) (*room, error) {
	sh := s.roomShard(name)
	sh.mu.Lock()
	if e := sh.rooms[name]; e != nil {
		sh.mu.Unlock()
		return e.wait(ctx)
	}
	// Not live: load it, with the entry marking the load in progress.
	e := &roomEntry{loading: make(chan struct{})}
	sh.rooms[name] = e
	sh.mu.Unlock()
	stored, err := s.m.store.MUCRoom(ctx, s.domain, name)
	sh.mu.Lock()
	switch {
	case err == nil:
		e.r = s.newRoom(name, roomFromStorage(stored))
		e.r.inStore, e.r.hasArchive = true, true
	case errors.Is(err, storage.ErrNotFound):
		delete(sh.rooms, name)
	default:
		e.err = err
		delete(sh.rooms, name)
		s.m.log.Error("muc: loading a room failed", "room", name, "service", s.domain, "err", err)
	}
	close(e.loading)
	sh.mu.Unlock()
	return e.r, e.err
}

// wait returns the entry's room once loaded (nil if storage had none).
// Entries made by create are never loading.
func (e *roomEntry) wait(ctx context.Context) (*room, error) {
	if e.loading != nil {
		select {
		case <-e.loading:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return e.r, e.err
}

// create makes a new, locked, temporary room unless one of that name is
// live, which it returns instead with created false.
func (s *service) create(ctx context.Context, name string) (r *room, created bool, err error) {
	sh := s.roomShard(name)
	for {
		sh.mu.Lock()
		e := sh.rooms[name]
		if e == nil {
			r = s.newRoom(name, roomState{cfg: *s.m.opts.Defaults, created: s.m.now()})
			r.locked = true
			sh.rooms[name] = &roomEntry{r: r}
			sh.mu.Unlock()
			return r, true, nil
		}
		sh.mu.Unlock()
		if r, err = e.wait(ctx); r != nil || err != nil {
			return r, false, err
		}
		// The load found nothing in storage: try again.
	}
}

// forget removes r from the live rooms if it is still the one there.
// r.mu is held.
func (s *service) forget(r *room) {
	sh := s.roomShard(r.name)
	sh.mu.Lock()
	if e := sh.rooms[r.name]; e != nil && e.r == r {
		delete(sh.rooms, r.name)
	}
	sh.mu.Unlock()
}

// liveRooms returns a snapshot of the live rooms.
func (s *service) liveRooms() []*room {
	var out []*room
	for i := range s.rooms {
		sh := &s.rooms[i]
		sh.mu.Lock()
		for _, e := range sh.rooms {
			if e.r != nil {
				out = append(out, e.r)
			}
		}
		sh.mu.Unlock()
	}
	return out
}

// addSession and dropSession keep the session index; r.mu is held.
func (s *service) addSession(full string, r *room) {
	sh := s.sessionShard(full)
	sh.mu.Lock()
	set := sh.byFull[full]
	if set == nil {
		set = make(map[*room]struct{}, 1)
		sh.byFull[full] = set
	}
	set[r] = struct{}{}
	sh.mu.Unlock()
}

func (s *service) dropSession(full string, r *room) {
	sh := s.sessionShard(full)
	sh.mu.Lock()
	if set := sh.byFull[full]; set != nil {
		delete(set, r)
		if len(set) == 0 {
			delete(sh.byFull, full)
		}
	}
	sh.mu.Unlock()
}

// takeSession returns the rooms a full JID is in.
func (s *service) takeSession(full jid.JID) []*room {
	key := full.String()
	sh := s.sessionShard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	var out []*room
	for r := range sh.byFull[key] {
		out = append(out, r)
	}
	return out
}

// evictIdle unloads persistent rooms that have had no occupant for the
// idle timeout; they are loaded again from storage when next addressed.
func (s *service) evictIdle() {
	now := s.m.now()
	for _, r := range s.liveRooms() {
		r.mu.Lock()
		if !r.closed && len(r.occupants) == 0 && !r.draining && len(r.outq) == 0 &&
			r.inStore && now.Sub(r.idleSince) >= s.m.opts.IdleTimeout {
			r.closed = true
			s.forget(r)
		}
		r.mu.Unlock()
	}
}

// shutdown removes every occupant of every room with status 332.
func (s *service) shutdown(ctx context.Context) {
	for _, r := range s.liveRooms() {
		r.mu.Lock()
		if !r.closed {
			r.shutdown()
		}
		r.mu.Unlock()
		r.flush(ctx)
	}
}

// handleService answers what is addressed to the service's domain itself.
func (s *service) handleService(ctx context.Context, st *router.Stanza) {
	if st.To.Resourcepart() != "" {
		s.reply(ctx, st, errUnavailable)
		return
	}
	switch st.Kind() {
	case xmppcore.IQ:
		if !xmppcore.IsRequest(st.El) {
			return
		}
		payload := st.El.FirstChild()
		if payload == nil || st.El.ChildCount() != 1 {
			s.reply(ctx, st, errBadRequest)
			return
		}
		var (
			res *xmppcore.Element
			err error
		)
		switch {
		case st.Type() == "get" && payload.Is(NSDiscoInfo, "query"):
			res, err = s.discoInfo(payload)
		case st.Type() == "get" && payload.Is(NSDiscoItems, "query"):
			res, err = s.discoItems(ctx, payload)
		case st.Type() == "get" && payload.Is(NSPing, "ping"):
		default:
			err = errUnavailable
		}
		s.answer(ctx, st, res, err)
	case xmppcore.Message:
		switch st.Type() {
		case "error", "groupchat", "headline":
		default:
			s.reply(ctx, st, errUnavailable)
		}
	}
}

// answer routes the result of an IQ request, or the error.
func (s *service) answer(ctx context.Context, st *router.Stanza, res *xmppcore.Element, err error) {
	if err != nil {
		s.reply(ctx, st, asStanzaError(s.m, err))
		return
	}
	el := iqResult(st, res)
	s.m.rt.Route(ctx, &router.Stanza{El: el, From: st.To, To: st.From})
}

// handleRoom finds (or, for a join, creates) the room a stanza is for and
// hands it over with the room locked; what the room queued is delivered
// once the lock is released.
func (s *service) handleRoom(ctx context.Context, st *router.Stanza) {
	name := st.To.Localpart()
	r, err := s.lookup(ctx, name)
	if err != nil {
		s.reply(ctx, st, errInternal)
		return
	}
	created := false
	for attempt := 0; ; attempt++ {
		if r == nil {
			if !s.isCreation(st) {
				s.noRoom(ctx, st)
				return
			}
			if !s.mayCreate(st.From) {
				s.reply(ctx, st, errNotAllowed, xmppcore.New(NS, "x"))
				return
			}
			if err := s.checkRoomQuota(ctx, st.From); err != nil {
				s.reply(ctx, st, asStanzaError(s.m, err), xmppcore.New(NS, "x"))
				return
			}
			if r, created, err = s.create(ctx, name); err != nil {
				s.reply(ctx, st, errInternal)
				return
			}
		}
		r.mu.Lock()
		if !r.closed {
			r.handle(ctx, st, created)
			r.mu.Unlock()
			r.flush(ctx)
			return
		}
		// Destroyed or evicted since the lookup: look again.
		r.mu.Unlock()
		if attempt > 3 {
			s.reply(ctx, st, xmppcore.NewError(errRoomFull.Condition, ""))
			return
		}
		if r, err = s.lookup(ctx, name); err != nil {
			s.reply(ctx, st, errInternal)
			return
		}
		created = false
	}
}

// isCreation reports whether st may create the room it is for: available
// presence to an occupant JID with the MUC <x/> (XEP-0045 §10.1.1).
func (s *service) isCreation(st *router.Stanza) bool {
	return st.Kind() == xmppcore.Presence && st.Type() == "" && st.To.Resourcepart() != "" &&
		st.El.Child(NS, "x") != nil && validNick(st.To.Resourcepart())
}

// noRoom answers a stanza to a room that does not exist.
func (s *service) noRoom(ctx context.Context, st *router.Stanza) {
	switch st.Kind() {
	case xmppcore.Presence:
		switch {
		case st.Type() != "":
		case st.To.Resourcepart() == "" || !validNick(st.To.Resourcepart()):
			s.reply(ctx, st, errJIDMalformed, xmppcore.New(NS, "x"))
		default: // no <x/>: not a join but a desynchronized occupant
			s.m.rt.Route(ctx, notInRoom(st))
		}
	case xmppcore.IQ:
		if st.To.Resourcepart() != "" && isPing(st) {
			s.reply(ctx, st, errNotJoined)
			return
		}
		s.reply(ctx, st, errNotFound)
	case xmppcore.Message:
		s.reply(ctx, st, errNotFound)
	}
}

// checkRoomQuota applies Options.MaxRoomsPerUser to a user about to
// create a room: the rooms they own, stored or live.
func (s *service) checkRoomQuota(ctx context.Context, user jid.JID) error {
	limit := s.m.opts.MaxRoomsPerUser
	if limit <= 0 || s.isAdmin(user) {
		return nil
	}
	bare := user.Bare().String()
	names, err := s.m.store.MUCRoomsWithAffiliation(ctx, s.domain, bare, storage.AffOwner)
	if err != nil {
		return err
	}
	owned := make(map[string]bool, len(names))
	for _, n := range names {
		owned[n] = true
	}
	for _, r := range s.liveRooms() {
		r.mu.Lock()
		if !r.closed && r.affs[bare].aff == affOwner {
			owned[r.name] = true
		}
		r.mu.Unlock()
	}
	if len(owned) >= limit {
		return tooManyRooms
	}
	return nil
}

var tooManyRooms = xmppcore.NewError(errNotAllowed.Condition, "You own too many rooms already")
