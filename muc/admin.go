package muc

import (
	"context"
	"slices"

	"mellium.im/xmpp/jid"

	"parley.im/parley/router"
	"parley.im/parley/storage"
	"parley.im/parley/xmppcore"
)

// actorOf returns the occupant a request comes from: the requesting
// session's, else any occupant of the same user; nil if the user is not in
// the room.
func (r *room) actorOf(from jid.JID) *occupant {
	if s := r.bySession[from.String()]; s != nil {
		return s.occ
	}
	bare := from.Bare()
	for _, o := range r.occupants {
		if o.bare.Equal(bare) {
			return o
		}
	}
	return nil
}

// adminGet answers a request for a list of occupants by role or of users
// by affiliation (§8.5, §9.2, §9.5, §9.8, §10.5, §10.8).
func (r *room) adminGet(st *router.Stanza, q *xmppcore.Element) {
	var items []*xmppcore.Element
	for c := range q.Children() {
		if c.Is(NSAdmin, "item") {
			items = append(items, c)
		}
	}
	if len(items) != 1 {
		r.errorTo(st, errBadRequest)
		return
	}
	item := items[0]
	res := xmppcore.New(NSAdmin, "query")
	actorAff := r.affOf(st.From)
	if v, ok := item.LookupAttr("", "role"); ok {
		rl, valid := parseRole(v)
		if !valid || rl == roleNone {
			r.errorTo(st, errBadRequest)
			return
		}
		if a := r.actorOf(st.From); a == nil || a.role != roleModerator {
			r.errorTo(st, errForbidden)
			return
		}
		for _, nick := range sortedKeys(r.occupants) {
			o := r.occupants[nick]
			if o.role == rl {
				it := r.itemFor(o, true)
				it.Space = NSAdmin
				it.SetAttr("nick", o.nick)
				res.Append(it)
			}
		}
		r.resultTo(st, res)
		return
	}
	aff, valid := parseAffiliation(item.Attr("affiliation"))
	if !valid || aff == affNone {
		r.errorTo(st, errBadRequest)
		return
	}
	var ok bool
	switch aff {
	case affOutcast:
		ok = actorAff >= affAdmin
	case affMember:
		// §9.5: in non-anonymous rooms, members may see the member list;
		// so may occupants of the roles muc#roomconfig_getmemberlist
		// names (§7.11).
		ok = actorAff >= affAdmin || (r.cfg.WhoisAnyone && actorAff >= affMember)
		if a := r.actorOf(st.From); !ok && a != nil {
			ok = slices.Contains(r.memberListRoles(), a.role.String())
		}
	default:
		// §10.5, §10.8: owners; admins too in non-anonymous rooms.
		ok = actorAff == affOwner || (r.cfg.WhoisAnyone && actorAff >= affAdmin)
	}
	if !ok {
		r.errorTo(st, errForbidden)
		return
	}
	for _, j := range sortedKeys(r.affs) {
		e := r.affs[j]
		if e.aff != aff {
			continue
		}
		it := xmppcore.New(NSAdmin, "item", "affiliation", aff.String(), "jid", j)
		if e.nick != "" {
			it.SetAttr("nick", e.nick)
		}
		if e.reason != "" {
			it.Append(xmppcore.New(NSAdmin, "reason").AppendText(e.reason))
		}
		res.Append(it)
	}
	r.resultTo(st, res)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// roleChange and affChange are the validated items of a muc#admin set.
type roleChange struct {
	target *occupant
	role   role
	reason string
}

type affChange struct {
	key     string // bare JID, or a domain
	j       jid.JID
	aff     affiliation
	nick    string
	setNick bool
	reason  string
}

// adminSet applies a muc#admin set: all its items, or none (§9.2: "SHOULD
// NOT apply any of the requested changes").
func (r *room) adminSet(ctx context.Context, st *router.Stanza, q *xmppcore.Element) {
	var (
		roles []roleChange
		affs  []affChange
	)
	actor := r.actorOf(st.From)
	actorAff := r.affOf(st.From)
	for item := range q.Children() {
		if !item.Is(NSAdmin, "item") {
			continue
		}
		roleAttr, hasRole := item.LookupAttr("", "role")
		affAttr, hasAff := item.LookupAttr("", "affiliation")
		reason := item.ChildText(NSAdmin, "reason")
		switch {
		case hasRole == hasAff: // §17.3 rule 4: one or the other
			r.errorTo(st, errBadRequest)
			return
		case hasRole:
			rc, err := r.checkRole(actor, actorAff, item.Attr("nick"), roleAttr)
			if err != nil {
				r.errorTo(st, asStanzaError(r.svc.m, err))
				return
			}
			rc.reason = reason
			roles = append(roles, rc)
		default:
			ac, err := r.checkAffiliation(st.From, actorAff, item, affAttr)
			if err != nil {
				r.errorTo(st, asStanzaError(r.svc.m, err))
				return
			}
			ac.reason = reason
			affs = append(affs, ac)
		}
	}
	if len(roles) == 0 && len(affs) == 0 {
		r.errorTo(st, errBadRequest)
		return
	}
	if err := r.checkOwnersLeft(affs); err != nil {
		r.errorTo(st, asStanzaError(r.svc.m, err))
		return
	}
	if err := r.persistAffiliations(ctx, affs); err != nil {
		r.errorTo(st, asStanzaError(r.svc.m, err))
		return
	}
	r.resultTo(st, nil)
	for _, rc := range roles {
		if r.occupants[rc.target.nick] != rc.target {
			continue // removed by an earlier item
		}
		if rc.role == roleNone {
			r.kick(ctx, rc.target, actor, rc.reason)
			continue
		}
		r.setRole(rc.target, rc.role, actor, rc.reason)
	}
	r.affiliationsChanged(ctx, affs, actor, st.From.Bare())
}

// checkRole validates a role change by actor (§8.2-8.5, §9.6-9.8, and
// the rules of §5.1: only admins and owners touch moderators, nobody
// takes voice or moderation from an admin or owner, and nobody kicks a
// higher affiliation).
func (r *room) checkRole(actor *occupant, actorAff affiliation, nick, roleAttr string) (roleChange, error) {
	rl, ok := parseRole(roleAttr)
	if !ok || nick == "" {
		return roleChange{}, errBadRequest
	}
	if actor == nil || actor.role != roleModerator {
		return roleChange{}, errForbidden
	}
	t := r.occupants[nick]
	if t == nil {
		return roleChange{}, errNotFound
	}
	tAff := r.affOf(t.bare)
	switch {
	case rl == t.role:
	case tAff >= affAdmin:
		if rl != roleNone || actorAff < tAff {
			return roleChange{}, errNotAllowed
		}
	case rl == roleModerator || t.role == roleModerator:
		if actorAff < affAdmin {
			return roleChange{}, errNotAllowed
		}
	}
	return roleChange{target: t, role: rl}, nil
}

// checkAffiliation validates an affiliation change by the user from
// (§9, §10 and the state chart of §5.2.2).
func (r *room) checkAffiliation(from jid.JID, actorAff affiliation, item *xmppcore.Element, affAttr string) (affChange, error) {
	aff, ok := parseAffiliation(affAttr)
	if !ok {
		return affChange{}, errBadRequest
	}
	var target jid.JID
	switch v := item.Attr("jid"); {
	case v != "":
		j, err := jid.Parse(v)
		if err != nil {
			return affChange{}, errJIDMalformed
		}
		target = j.Bare() // §10.3: a full JID stands for its bare JID
	case item.Attr("nick") != "" && r.occupants[item.Attr("nick")] != nil:
		target = r.occupants[item.Attr("nick")].bare
	default:
		return affChange{}, errBadRequest
	}
	if actorAff < affAdmin {
		return affChange{}, errForbidden
	}
	cur := affNone
	if e, ok := r.affs[target.String()]; ok {
		cur = e.aff
	}
	switch {
	case target.Equal(from.Bare()) && aff == affOutcast:
		return affChange{}, errConflict // §9.1: no banning oneself
	case aff >= affAdmin && actorAff != affOwner:
		return affChange{}, errForbidden // only owners edit the admin and owner lists
	case cur >= affAdmin && actorAff != affOwner:
		if aff == affOutcast {
			return affChange{}, errNotAllowed // §9.1: no banning a higher affiliation
		}
		return affChange{}, errForbidden
	}
	ac := affChange{key: target.String(), j: target, aff: aff}
	if nick, has := item.LookupAttr("", "nick"); has && item.Attr("jid") != "" {
		ac.nick, ac.setNick = nick, true
	}
	if ac.setNick && ac.nick != "" && aff >= affMember {
		if holder := r.nicks[ac.nick]; holder != "" && holder != ac.key {
			return affChange{}, errConflict
		}
	}
	return ac, nil
}

// checkOwnersLeft refuses changes that would leave the room without an
// owner (§10.6: conflict).
func (r *room) checkOwnersLeft(changes []affChange) error {
	if len(changes) == 0 {
		return nil
	}
	owners := make(map[string]bool)
	for j, e := range r.affs {
		if e.aff == affOwner {
			owners[j] = true
		}
	}
	for _, c := range changes {
		if c.aff == affOwner {
			owners[c.key] = true
		} else {
			delete(owners, c.key)
		}
	}
	if len(owners) == 0 {
		return errConflict
	}
	return nil
}

// entryFor is the affiliation entry a change leaves: registered nicknames
// go with the affiliation unless the change sets one, and outcasts have
// none (§9.1).
func (r *room) entryFor(c affChange) affEntry {
	e := affEntry{aff: c.aff, reason: c.reason}
	switch {
	case c.aff <= affNone:
	case c.setNick:
		e.nick = c.nick
	default:
		e.nick = r.affs[c.key].nick
	}
	return e
}

// persistAffiliations writes the changes to storage when the room is
// persistent, and then to memory.
func (r *room) persistAffiliations(ctx context.Context, changes []affChange) error {
	if len(changes) == 0 {
		return nil
	}
	stored := make([]storage.MUCAffiliation, len(changes))
	for i, c := range changes {
		e := r.entryFor(c)
		stored[i] = storage.MUCAffiliation{JID: c.key, Affiliation: e.aff.String(), Nick: e.nick, Reason: e.reason}
	}
	if err := r.storeAffiliations(ctx, stored); err != nil {
		return err
	}
	for _, c := range changes {
		r.setAffiliation(c.key, r.entryFor(c))
	}
	return nil
}

// affiliationsChanged tells the room and the users about affiliation
// changes already made: occupants banned are removed (301), those no
// longer members of a members-only room too (321), the others get the
// role of their new affiliation and everyone hears of it; users not in
// the room get a message with 101, or an invitation when they become
// members of a members-only room (§9.5).
func (r *room) affiliationsChanged(ctx context.Context, changes []affChange, actor *occupant, actorJID jid.JID) {
	for _, c := range changes {
		affected := r.affectedBy(c)
		for _, o := range affected {
			newAff := r.affOf(o.bare)
			item := func(withJID bool) *xmppcore.Element {
				it := xmppcore.New(NSUser, "item", "affiliation", newAff.String(), "role", "none")
				if withJID && o.current != nil {
					it.SetAttr("jid", o.current.rc.str)
				}
				actorReason(it, actor, c.reason)
				return it
			}
			switch {
			case newAff == affOutcast:
				r.removeOccupant(ctx, o, item, statusBanned)
			case r.cfg.MembersOnly && newAff < affMember:
				r.removeOccupant(ctx, o, item, statusAffiliation)
			case newAff != o.aff:
				// The role that comes with the new affiliation (§5.1.3).
				wasVisible := r.broadcasts(o.role)
				o.aff = newAff
				r.assignRole(o, r.defaultRole(newAff))
				o.invalidate()
				r.announce(o, wasVisible, nil)
			}
		}
		if len(affected) > 0 || c.j.Localpart() == "" {
			continue
		}
		if r.cfg.MembersOnly && c.aff == affMember {
			r.invite("", actorJID, c.j, nil)
			continue
		}
		// §18.1.1: out of courtesy, tell the user, with 101.
		it := xmppcore.New(NSUser, "item", "affiliation", c.aff.String(), "jid", c.key)
		if c.reason != "" {
			it.Append(xmppcore.New(NSUser, "reason").AppendText(c.reason))
		}
		el := xmppcore.New("", xmppcore.Message, "id", newID()).
			Append(statusCodes(xmppcore.New(NSUser, "x").Append(it), statusAffiliationOut))
		r.send(el, r.jid, recipient{c.j, c.key})
	}
}

// affectedBy returns the occupants whose affiliation a change is about:
// the user's, or, for a domain, those of the domain without their own.
func (r *room) affectedBy(c affChange) []*occupant {
	var out []*occupant
	for _, nick := range sortedKeys(r.occupants) {
		o := r.occupants[nick]
		switch {
		case o.bareStr == c.key:
		case c.j.Localpart() == "" && o.bare.Domainpart() == c.key:
			if _, own := r.affs[o.bareStr]; own {
				continue
			}
		default:
			continue
		}
		out = append(out, o)
	}
	return out
}

// actorReason adds <actor nick=…/> and <reason/> to an item.
func actorReason(it *xmppcore.Element, actor *occupant, reason string) {
	if actor != nil {
		it.Append(xmppcore.New(NSUser, "actor", "nick", actor.nick))
	}
	if reason != "" {
		it.Append(xmppcore.New(NSUser, "reason").AppendText(reason))
	}
}

// kick removes an occupant (§8.2), with 307.
func (r *room) kick(ctx context.Context, o *occupant, actor *occupant, reason string) {
	aff := r.affOf(o.bare)
	r.removeOccupant(ctx, o, func(withJID bool) *xmppcore.Element {
		it := xmppcore.New(NSUser, "item", "affiliation", aff.String(), "role", "none")
		if withJID && o.current != nil {
			it.SetAttr("jid", o.current.rc.str)
		}
		actorReason(it, actor, reason)
		return it
	}, statusKicked)
}

// setRole changes an occupant's role other than to none, and tells
// everyone (§8.3, §8.4, §9.6, §9.7).
func (r *room) setRole(o *occupant, rl role, actor *occupant, reason string) {
	wasVisible := r.broadcasts(o.role)
	r.assignRole(o, rl)
	o.invalidate()
	r.announce(o, wasVisible, func(it *xmppcore.Element) {
		it.SetAttr("nick", o.nick)
		actorReason(it, actor, reason)
	})
}

// announce tells everyone about o's new role or affiliation: the others
// if its role is broadcast (or that it is gone, if it just stopped being
// broadcast), its own sessions with 110. decorate adds to the item.
func (r *room) announce(o *occupant, wasVisible bool, decorate func(*xmppcore.Element)) {
	var base *xmppcore.Element
	if o.current != nil {
		base = o.current.pres
	}
	build := func(withJID bool, typ string) *xmppcore.Element {
		it := r.itemFor(o, withJID)
		if typ != "" {
			it.SetAttr("role", "none")
		}
		if decorate != nil {
			decorate(it)
		}
		return r.presenceOf(o, base, typ, it)
	}
	switch nowVisible := r.broadcasts(o.role); {
	case nowVisible:
		r.toOthers(o, func(withJID bool) *xmppcore.Element { return build(withJID, "") })
	case wasVisible:
		r.toOthers(o, func(withJID bool) *xmppcore.Element { return build(withJID, "unavailable") })
	}
	for _, s := range o.sessions {
		it := r.itemFor(o, true)
		if decorate != nil {
			decorate(it)
		}
		r.selfPresence(o, s, "", it)
	}
}
