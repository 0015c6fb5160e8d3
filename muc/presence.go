package muc

import (
	"context"
	"slices"
	"strings"
	"time"

	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"parley.im/parley/router"
	"parley.im/parley/xmppcore"
)

// Status codes of XEP-0045 §15.
const (
	statusNonAnonymous   = 100
	statusAffiliationOut = 101
	statusConfigChanged  = 104
	statusSelf           = 110
	statusLogging        = 170
	statusLoggingOff     = 171
	statusNowNonAnon     = 172
	statusNowSemiAnon    = 173
	statusCreated        = 201
	statusNickModified   = 210
	statusBanned         = 301
	statusNickChanged    = 303
	statusKicked         = 307
	statusAffiliation    = 321
	statusMembersOnly    = 322
	statusShutdown       = 332
	statusError          = 333
)

// presenceToRoom handles presence to the room's bare JID: available
// presence lacks the nickname (§7.2.1); the rest is ignored, except
// errors from occupants (ghosts).
func (r *room) presenceToRoom(st *router.Stanza) {
	switch st.Type() {
	case "":
		r.errorTo(st, errJIDMalformed, xmppcore.New(NS, "x"))
	case "error":
		r.bounced(st)
	}
}

// presence handles presence to an occupant JID.
func (r *room) presence(ctx context.Context, st *router.Stanza, created bool) {
	s := r.bySession[st.From.String()]
	switch st.Type() {
	case "":
		nick := st.To.Resourcepart()
		if !validNick(nick) {
			r.errorTo(st, errJIDMalformed, xmppcore.New(NS, "x"))
			return
		}
		switch {
		case s == nil:
			r.join(ctx, st, created)
		case s.occ.nick != nick:
			r.changeNick(st, s)
		case st.El.Child(NS, "x") != nil:
			r.resync(st, s)
		default:
			r.update(st, s)
		}
	case "unavailable":
		if s != nil { // §17.2 rule 5: from a non-occupant, ignored
			r.leave(ctx, s, st.El.Attr("id"), sanitize(st.El), nil)
		}
	case "error":
		r.bounced(st)
	}
}

// notInRoom is the answer to presence from a full JID that is not in the
// room and did not ask to join (no <x/>): the explicit kick of §7.2.21,
// with codes 110, 307 and 333.
func notInRoom(st *router.Stanza) *router.Stanza {
	el := xmppcore.New("", xmppcore.Presence, "from", st.To.String(), "to", st.From.String(), "type", "unavailable")
	item := xmppcore.New(NSUser, "item", "affiliation", "none", "role", "none").
		Append(xmppcore.New(NSUser, "reason").AppendText("You are not in the room."))
	el.Append(statusCodes(xmppcore.New(NSUser, "x").Append(item), statusSelf, statusKicked, statusError))
	return &router.Stanza{El: el, From: st.To, To: st.From}
}

// rawNick is the nickname as the client wrote it in 'to', before the
// normalization jid.Parse applied.
func rawNick(st *router.Stanza) string {
	to := st.El.Attr("to")
	if i := strings.IndexByte(to, '/'); i >= 0 {
		return to[i+1:]
	}
	return ""
}

// join adds a session that is not in the room (§7.2).
func (r *room) join(ctx context.Context, st *router.Stanza, created bool) {
	x := st.El.Child(NS, "x")
	if x == nil {
		r.outq = append(r.outq, delivery{el: notInRoom(st).El, from: st.To, one: recipient{st.From, st.From.String()}})
		return
	}
	nick := st.To.Resourcepart()
	user := st.From
	aff := r.affOf(user)
	muc := xmppcore.New(NS, "x")
	if created {
		// The creator becomes the owner (§10.1.1).
		aff = affOwner
		r.affs[user.Bare().String()] = affEntry{aff: affOwner}
	}
	existing := r.occupants[nick]
	switch {
	case r.locked && aff != affOwner:
		r.errorTo(st, errNotFound, muc)
		return
	case aff == affOutcast:
		r.errorTo(st, errForbidden, muc)
		return
	case r.cfg.MembersOnly && aff < affMember:
		r.errorTo(st, errRegistration, muc)
		return
	case r.cfg.Password != "" && x.ChildText("", "password") != r.cfg.Password &&
		x.ChildText(NS, "password") != r.cfg.Password:
		r.errorTo(st, errNotAuthorized, muc)
		return
	case existing != nil && !existing.bare.Equal(user.Bare()):
		r.errorTo(st, errConflict, muc)
		return
	case r.nicks[nick] != "" && r.nicks[nick] != user.Bare().String():
		r.errorTo(st, errConflict, muc)
		return
	case existing == nil && aff < affAdmin && len(r.occupants) >= r.maxUsers():
		r.errorTo(st, errRoomFull, muc)
		return
	case existing == nil && len(r.occupants) >= 2*r.maxUsers():
		// Admins and owners get in past the limit (§7.2.10), up to a
		// point.
		r.errorTo(st, errRoomFull, muc)
		return
	}

	o := existing
	if o == nil {
		o = r.newOccupant(nick, user, r.defaultRole(aff))
	}
	s := &occSession{occ: o, full: user, rc: recipient{user, user.String()}, pres: sanitize(st.El)}
	r.addSession(s)

	// §7.2.3: the others' presence first, then the newcomer's to all, its
	// own last; then history (§7.2.14) and the subject (§7.2.15).
	r.sendRoster(o, s)
	r.broadcastPresence(o, s)
	codes := r.joinCodes()
	if created {
		codes = append(codes, statusCreated)
	}
	if rawNick(st) != nick {
		codes = append(codes, statusNickModified)
	}
	r.selfPresence(o, s, st.El.Attr("id"), nil, codes...)
	r.sendHistory(s, x.Child(NS, "history"))
	r.sendSubject(s)
}

// joinCodes are the status codes of a newcomer's self-presence that
// describe the room.
func (r *room) joinCodes() []int {
	var codes []int
	if r.cfg.WhoisAnyone {
		codes = append(codes, statusNonAnonymous)
	}
	if r.cfg.Archive {
		codes = append(codes, statusLogging)
	}
	return codes
}

func (r *room) maxUsers() int { return clampMax(r.cfg.MaxUsers, r.svc.m.opts.MaxOccupants) }

func (r *room) newOccupant(nick string, user jid.JID, rl role) *occupant {
	oj, _ := r.jid.WithResource(nick)
	bare := user.Bare()
	o := &occupant{nick: nick, jid: oj, jidStr: oj.String(), bare: bare, bareStr: bare.String(),
		aff: r.affOf(user), id: r.occupantID(bare.String())}
	r.occupants[nick] = o
	r.assignRole(o, rl)
	return o
}

// assignRole gives o the role rl, keeping byRole in step.
func (r *room) assignRole(o *occupant, rl role) {
	if set := r.byRole[o.role]; set != nil {
		delete(set, o)
	}
	o.role = rl
	if r.byRole[rl] == nil {
		r.byRole[rl] = make(map[*occupant]struct{})
	}
	r.byRole[rl][o] = struct{}{}
}

// everyone is the recipients of a fan-out to every session: a snapshot
// the caller hands to fanout, which the room will not change in place.
func (r *room) everyone() []recipient {
	r.recipsShared = true
	return r.recips
}

// addSession makes s an in-room session of its occupant, and the one whose
// presence the others see.
func (r *room) addSession(s *occSession) {
	o := s.occ
	o.sessions = append(o.sessions, s)
	o.current = s
	o.invalidate()
	r.bySession[s.rc.str] = s
	// Appending writes past the end of every snapshot: it may share the
	// array with them.
	s.idx = len(r.recips)
	r.recips = append(r.recips, s.rc)
	r.svc.addSession(s.rc.str, r)
}

// dropRecipient takes s out of recips in O(1) amortized: the last entry
// moves into its place, in place unless a snapshot may be out (then the
// slice is copied once, and the snapshots keep the old one), and the
// slice is reallocated smaller when a mass departure left it mostly
// empty.
func (r *room) dropRecipient(s *occSession) {
	n := len(r.recips)
	if r.recipsShared || (cap(r.recips) > 64 && 4*n < cap(r.recips)) {
		r.recips = append(make([]recipient, 0, max(2*n, 8)), r.recips...)
		r.recipsShared = false
	}
	last := n - 1
	if s.idx != last {
		moved := r.recips[last]
		r.recips[s.idx] = moved
		r.bySession[moved.str].idx = s.idx
	}
	r.recips[last] = recipient{} // let the session's JID go
	r.recips = r.recips[:last]
}

// clearOccupants forgets every occupant and session, when the room ends.
func (r *room) clearOccupants() {
	r.occupants = map[string]*occupant{}
	r.bySession = map[string]*occSession{}
	r.byRole = [roleModerator + 1]map[*occupant]struct{}{}
	r.recips, r.recipsShared = nil, false
}

// removeSession takes s out of the room; the occupant goes when it was
// its last session. It reports whether the occupant went.
func (r *room) removeSession(s *occSession) (gone bool) {
	o := s.occ
	r.dropRecipient(s)
	delete(r.bySession, s.rc.str)
	r.svc.dropSession(s.rc.str, r)
	for i, os := range o.sessions {
		if os == s {
			o.sessions = append(o.sessions[:i:i], o.sessions[i+1:]...)
			break
		}
	}
	if len(o.sessions) > 0 {
		if o.current == s {
			o.current = o.sessions[len(o.sessions)-1]
			o.invalidate()
		}
		return false
	}
	delete(r.occupants, o.nick)
	delete(r.byRole[o.role], o)
	if len(r.occupants) == 0 {
		r.idleSince = r.svc.m.now()
	}
	return true
}

// sendRoster queues the presence of every other visible occupant to s. It
// walks only the roles whose presence is broadcast: in a large room, the
// moderators.
// Each copy is a cached presence plus 'to', its content shared (serialized
// once for all newcomers), allocated cloneChunk at a time as fan-out
// copies are: a roster is hundreds of stanzas.
func (r *room) sendRoster(self *occupant, s *occSession) {
	var (
		els   []xmppcore.Element
		attrs []xmppcore.Attr
	)
	to := xmppcore.Attr{Local: "to", Value: s.rc.str}
	for rl, set := range r.byRole {
		if len(set) == 0 || !r.broadcasts(role(rl)) {
			continue
		}
		r.outq = slices.Grow(r.outq, len(set))
		left := len(set)
		for o := range set {
			left--
			if o == self {
				continue
			}
			p := r.cachedPresence(o, self.role)
			chunk := min(cloneChunk, left+1)
			if len(els) == 0 {
				els = make([]xmppcore.Element, chunk)
			}
			el := &els[0]
			els = els[1:]
			need := len(p.Attrs) + 1
			if cap(attrs)-len(attrs) < need {
				attrs = make([]xmppcore.Attr, 0, chunk*need)
			}
			start := len(attrs)
			attrs = append(append(attrs, p.Attrs...), to)
			el.Space, el.Local, el.Nodes = p.Space, p.Local, slices.Clip(p.Nodes)
			el.Attrs = attrs[start:len(attrs):len(attrs)]
			el.ShareContentOf(p)
			r.outq = append(r.outq, delivery{el: el, from: o.jid, one: s.rc})
		}
	}
}

// update handles a change of availability of a session (§7.7).
func (r *room) update(st *router.Stanza, s *occSession) {
	o := s.occ
	s.pres = sanitize(st.El)
	o.current = s
	o.invalidate()
	r.selfPresence(o, s, st.El.Attr("id"), nil)
	r.broadcastPresence(o, s)
}

// resync answers a join from a session already in the room, as if it had
// just joined (§7.2.1, §17.2 rule 3), and tells the others if its
// presence changed.
func (r *room) resync(st *router.Stanza, s *occSession) {
	o := s.occ
	s.pres = sanitize(st.El)
	o.current = s
	o.invalidate()
	r.sendRoster(o, s)
	r.broadcastPresence(o, s)
	r.selfPresence(o, s, st.El.Attr("id"), nil, r.joinCodes()...)
	r.sendHistory(s, st.El.Child(NS, "x").Child(NS, "history"))
	r.sendSubject(s)
}

// leave takes a session out of the room: it sent unavailable presence
// (pres, sanitized), or was removed (then item and codes say why).
func (r *room) leave(ctx context.Context, s *occSession, id string, pres *xmppcore.Element, item func(withJID bool) *xmppcore.Element, codes ...int) {
	o := s.occ
	visible := r.broadcasts(o.role)
	wasCurrent := o.current == s
	gone := r.removeSession(s)
	if item == nil {
		item = func(withJID bool) *xmppcore.Element {
			it := xmppcore.New(NSUser, "item", "affiliation", r.affOf(o.bare).String(), "role", roleNone.String())
			if withJID {
				it.SetAttr("jid", s.rc.str)
			}
			return it
		}
	}
	r.send(withID(r.presenceOf(o, pres, "unavailable", item(true), append(codes, statusSelf)...), id), o.jid, s.rc)
	switch {
	case gone && visible:
		r.toOthers(o, func(withJID bool) *xmppcore.Element {
			return r.presenceOf(o, pres, "unavailable", item(withJID), codes...)
		})
	case !gone && wasCurrent:
		r.broadcastPresence(o, nil)
	}
	r.afterLeave(ctx)
}

// afterLeave destroys a room left empty if it is temporary, or still
// locked (§10.1.3: the owner left before configuring it).
func (r *room) afterLeave(ctx context.Context) {
	if len(r.occupants) > 0 {
		return
	}
	switch {
	case r.locked:
		r.destroyed()
	case !r.cfg.Persistent:
		r.destroyed()
	}
}

// removeOccupant removes every session of o, for a kick, ban or the like:
// each session gets its own unavailable presence with 110, the others one
// each, with the item (actor, reason) and codes.
func (r *room) removeOccupant(ctx context.Context, o *occupant, item func(withJID bool) *xmppcore.Element, codes ...int) {
	for len(o.sessions) > 1 {
		s := o.sessions[0]
		r.removeSession(s)
		it := item(true)
		if _, ok := it.LookupAttr("", "jid"); ok {
			it.SetAttr("jid", s.rc.str) // its own, not the occupant's current one
		}
		r.send(r.presenceOf(o, nil, "unavailable", it, append(codes, statusSelf)...), o.jid, s.rc)
	}
	if len(o.sessions) == 1 {
		r.leave(ctx, o.sessions[0], "", nil, item, codes...)
	}
}

// changeNick moves a session to another nickname (§7.6).
func (r *room) changeNick(st *router.Stanza, s *occSession) {
	nick := st.To.Resourcepart()
	o := s.occ
	target := r.occupants[nick]
	switch {
	case target != nil && !target.bare.Equal(o.bare):
		r.errorTo(st, errConflict, xmppcore.New(NS, "x"))
		return
	case r.nicks[nick] != "" && r.nicks[nick] != o.bareStr:
		r.errorTo(st, errConflict, xmppcore.New(NS, "x"))
		return
	}
	codes := []int{}
	if rawNick(st) != nick {
		codes = append(codes, statusNickModified)
	}
	s.pres = sanitize(st.El)
	item := func(withJID bool) *xmppcore.Element {
		it := r.itemFor(o, withJID)
		it.SetAttr("nick", nick)
		if withJID {
			it.SetAttr("jid", s.rc.str)
		}
		return it
	}
	if len(o.sessions) == 1 && target == nil {
		// The whole occupant is renamed: unavailable with 303 from the old
		// nickname to all, then the new one (§7.6.2).
		visible := r.broadcasts(o.role)
		r.send(r.presenceOf(o, nil, "unavailable", item(true), statusNickChanged, statusSelf), o.jid, s.rc)
		if visible {
			r.toOthers(o, func(withJID bool) *xmppcore.Element {
				return r.presenceOf(o, nil, "unavailable", item(withJID), statusNickChanged)
			})
		}
		delete(r.occupants, o.nick)
		o.nick = nick
		o.jid, _ = r.jid.WithResource(nick)
		o.jidStr = o.jid.String()
		r.occupants[nick] = o
		o.invalidate()
		r.broadcastPresence(o, s)
		r.selfPresence(o, s, st.El.Attr("id"), nil, codes...)
		return
	}
	// One session of several moves, or the session joins the user's other
	// nickname: it leaves the old occupant and enters the new one.
	visible := r.broadcasts(o.role)
	wasCurrent := o.current == s
	r.send(r.presenceOf(o, nil, "unavailable", item(true), statusNickChanged, statusSelf), o.jid, s.rc)
	switch gone := r.removeSession(s); {
	case gone && visible:
		r.toOthers(o, func(withJID bool) *xmppcore.Element {
			return r.presenceOf(o, nil, "unavailable", item(withJID), statusNickChanged)
		})
	case !gone && wasCurrent:
		r.broadcastPresence(o, nil)
	}
	to := target
	if to == nil {
		to = r.newOccupant(nick, o.bare, o.role)
	}
	ns := &occSession{occ: to, full: s.full, rc: s.rc, pres: s.pres}
	r.addSession(ns)
	r.broadcastPresence(to, ns)
	r.selfPresence(to, ns, st.El.Attr("id"), nil, codes...)
}

// bounced handles an error from a real JID in the room: a delivery error
// means the session is gone (a "ghost", §18.1.3), and it is removed with
// status 333.
func (r *room) bounced(st *router.Stanza) {
	s := r.bySession[st.From.String()]
	if s == nil {
		return
	}
	e := st.El.Child("", "error")
	if e == nil || !kickable(e) {
		return
	}
	r.leave(context.Background(), s, "", nil, nil, statusError)
}

// kickable reports whether an error says the recipient is unreachable:
// the conditions §18.1.3 lists, plus service-unavailable, which is what a
// server answers for a resource that is no longer there, and
// internal-server-error.
func kickable(e *xmppcore.Element) bool {
	for c := range e.Children() {
		if c.Space != xmppcore.NSStanzas {
			continue
		}
		switch stanza.Condition(c.Local) {
		case stanza.Gone, stanza.ItemNotFound, stanza.RecipientUnavailable, stanza.Redirect,
			stanza.RemoteServerNotFound, stanza.RemoteServerTimeout, stanza.ServiceUnavailable,
			stanza.InternalServerError:
			return true
		}
	}
	return false
}

// shutdown removes everyone with status 332 (§11.2) and drops the room.
func (r *room) shutdown() {
	for _, o := range r.occupants {
		for _, s := range o.sessions {
			item := xmppcore.New(NSUser, "item", "affiliation", r.affOf(o.bare).String(), "role", "none")
			r.send(r.presenceOf(o, nil, "unavailable", item, statusShutdown, statusSelf), o.jid, s.rc)
		}
	}
	r.destroyed()
	r.clearOccupants()
}

// stamp formats t as a XEP-0082 DateTime in UTC.
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }
