package muc

import (
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"mellium.im/xmpp/jid"

	"parley.im/parley/xmppcore"
)

// occupant is a nickname in the room, held by one user (bare JID) through
// one or more sessions (XEP-0045 §7.2.9: one in-room "session" per
// resource sharing the nickname).
type occupant struct {
	nick    string
	jid     jid.JID // room@service/nick
	jidStr  string
	bare    jid.JID
	bareStr string
	role    role
	aff     affiliation // as last announced
	id      string      // XEP-0421 occupant id

	sessions []*occSession // in join order
	current  *occSession   // whose presence the others see

	bucket bucket

	// Presence as the others see it (no 'to'), built on demand and
	// dropped when presence, role or affiliation change: with the real
	// JID (for moderators, or everyone in non-anonymous rooms) and
	// without.
	presFull, presAnon *xmppcore.Element
}

// occSession is one real full JID joined under a nickname.
type occSession struct {
	occ  *occupant
	full jid.JID
	rc   recipient
	idx  int // in room.recips
	// pres is the session's last available presence from its client,
	// without what only the service may say (muc#user, occupant-id).
	pres *xmppcore.Element
}

// validNick applies XEP-0045 §15.1: no empty or invisible nicknames.
func validNick(nick string) bool {
	return strings.IndexFunc(nick, func(c rune) bool { return !unicode.IsSpace(c) && unicode.IsPrint(c) }) >= 0
}

// sanitize keeps of a client's presence what the room reflects: its
// xml:lang and its children except the MUC join element,
// muc#user extensions and occupant ids, which only the service may
// generate (§17.2 rule 6, XEP-0421 §5).
func sanitize(p *xmppcore.Element) *xmppcore.Element {
	c := xmppcore.New("", xmppcore.Presence)
	for _, a := range p.Attrs {
		if a.Local == "lang" && a.Space == xmppcore.NSXML {
			c.Attrs = append(c.Attrs, a)
		}
	}
	for _, n := range p.Nodes {
		if e := n.Elem; e != nil && (e.Is(NS, "x") || e.Is(NSUser, "x") || e.Is(NSOccupantID, "occupant-id")) {
			continue
		}
		if n.Elem == nil && strings.TrimSpace(n.Text) == "" {
			continue
		}
		c.Nodes = append(c.Nodes, n)
	}
	return c
}

// itemFor is the <item/> describing o, with the real JID when withJID.
func (r *room) itemFor(o *occupant, withJID bool) *xmppcore.Element {
	item := xmppcore.New(NSUser, "item", "affiliation", r.affOf(o.bare).String(), "role", o.role.String())
	if withJID && o.current != nil {
		item.SetAttr("jid", o.current.rc.str)
	}
	return item
}

// statusCodes appends <status code=…/> elements to x.
func statusCodes(x *xmppcore.Element, codes ...int) *xmppcore.Element {
	slices.Sort(codes)
	for _, c := range slices.Compact(codes) {
		x.Append(xmppcore.New(NSUser, "status", "code", strconv.Itoa(c)))
	}
	return x
}

// presenceOf builds a presence of o from the room: the payload of base
// (a sanitized client presence, or nil), of type typ, then <x/> holding
// item and the status codes, then the occupant id. It has no 'to'.
func (r *room) presenceOf(o *occupant, base *xmppcore.Element, typ string, item *xmppcore.Element, codes ...int) *xmppcore.Element {
	p := xmppcore.New("", xmppcore.Presence, "from", o.jidStr)
	if typ != "" {
		p.SetAttr("type", typ)
	}
	if base != nil {
		p.Attrs = append(p.Attrs, base.Attrs...)
		p.Nodes = slices.Clip(base.Nodes)
	}
	x := xmppcore.New(NSUser, "x").Append(item)
	p.Append(statusCodes(x, codes...), xmppcore.New(NSOccupantID, "occupant-id", "id", o.id))
	return p
}

// seesJIDs reports whether a recipient with role rl sees real JIDs.
func (r *room) seesJIDs(rl role) bool { return r.cfg.WhoisAnyone || rl == roleModerator }

// cachedPresence returns o's presence as a recipient with role rl sees it.
// It goes to many (every newcomer, every occupant), unchanged until
// invalidated: its content is serialized once.
func (r *room) cachedPresence(o *occupant, rl role) *xmppcore.Element {
	var base *xmppcore.Element
	if o.current != nil {
		base = o.current.pres
	}
	if r.seesJIDs(rl) {
		if o.presFull == nil {
			o.presFull = r.presenceOf(o, base, "", r.itemFor(o, true))
			o.presFull.ShareContent()
		}
		return o.presFull
	}
	if o.presAnon == nil {
		o.presAnon = r.presenceOf(o, base, "", r.itemFor(o, false))
		o.presAnon.ShareContent()
	}
	return o.presAnon
}

// invalidate drops o's cached presences.
func (o *occupant) invalidate() { o.presFull, o.presAnon = nil, nil }

// broadcastRoles reports whether presence of role rl is broadcast
// (muc#roomconfig_presencebroadcast, and the large-room policy).
func (r *room) broadcasts(rl role) bool {
	name := rl.String()
	if pb := r.cfg.PresenceBroadcast; pb != nil && !slices.Contains(pb, name) {
		return false
	}
	if lr := r.svc.m.opts.LargeRoom; lr > 0 && len(r.occupants) >= lr {
		return slices.Contains(r.svc.m.opts.LargeRoomRoles, name)
	}
	return true
}

// toOthers queues a presence of o to every session of the other
// occupants, in two variants by who may see real JIDs: build makes the
// presence for withJID.
func (r *room) toOthers(o *occupant, build func(withJID bool) *xmppcore.Element) {
	var full, anon []recipient
	for _, other := range r.occupants {
		if other == o {
			continue
		}
		for _, s := range other.sessions {
			if r.seesJIDs(other.role) {
				full = append(full, s.rc)
			} else {
				anon = append(anon, s.rc)
			}
		}
	}
	if len(full) > 0 {
		r.fanout(build(true), o.jid, full)
	}
	if len(anon) > 0 {
		r.fanout(build(false), o.jid, anon)
	}
}

// broadcastPresence sends o's current presence to the other occupants
// (when o's role is broadcast) and, with 110, to o's sessions but except.
func (r *room) broadcastPresence(o *occupant, except *occSession) {
	if r.broadcasts(o.role) {
		r.toOthers(o, func(withJID bool) *xmppcore.Element {
			if withJID {
				return r.cachedPresence(o, roleModerator)
			}
			return r.cachedPresence(o, roleNone)
		})
	}
	for _, s := range o.sessions {
		if s != except {
			r.selfPresence(o, s, "", nil)
		}
	}
}

// selfPresence queues o's presence to one of its sessions, with 110 and
// the given codes; id is that of the presence it answers, if any (§7.2.3:
// "the room might also reflect the original 'id'").
func (r *room) selfPresence(o *occupant, s *occSession, id string, item *xmppcore.Element, codes ...int) {
	if item == nil {
		item = r.itemFor(o, true)
	}
	var base *xmppcore.Element
	if o.current != nil {
		base = o.current.pres
	}
	r.send(withID(r.presenceOf(o, base, "", item, append(codes, statusSelf)...), id), o.jid, s.rc)
}

// withID sets the 'id' of el, if id is not empty.
func withID(el *xmppcore.Element, id string) *xmppcore.Element {
	if id != "" {
		el.SetAttr("id", id)
	}
	return el
}

// bucket is a token bucket limiting an occupant's messages.
type bucket struct {
	tokens float64
	last   time.Time
}

// take spends a token if there is one, refilling at rate per second up to
// burst.
func (b *bucket) take(now time.Time, rate float64, burst int) bool {
	if b.last.IsZero() {
		b.tokens = float64(burst)
	} else if d := now.Sub(b.last).Seconds(); d > 0 {
		b.tokens = min(float64(burst), b.tokens+d*rate)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// allowed applies the message rate to an occupant.
func (r *room) allowed(o *occupant) bool {
	rate := r.svc.m.opts.MessageRate
	if rate <= 0 || r.affOf(o.bare) >= affAdmin {
		return true
	}
	return o.bucket.take(r.svc.m.now(), rate, r.svc.m.opts.MessageBurst)
}
