package muc

import (
	"context"
	"time"

	"mellium.im/xmpp/jid"

	"parley.im/parley/router"
	"parley.im/parley/storage"
	"parley.im/parley/xmppcore"
)

// Who may send private messages (muc#roomconfig_allowpm).
const (
	pmAnyone       = "anyone"
	pmParticipants = "participants"
	pmModerators   = "moderators"
	pmNone         = "none"
)

// messageToRoom handles a message to the room's bare JID.
func (r *room) messageToRoom(ctx context.Context, st *router.Stanza) {
	if st.Type() == "error" {
		r.bounced(st)
		return
	}
	s := r.bySession[st.From.String()]
	if r.locked && s == nil {
		r.errorTo(st, errNotFound)
		return
	}
	if st.Type() == "groupchat" {
		r.groupchat(ctx, st, s)
		return
	}
	if x := st.El.Child(NSUser, "x"); x != nil && (x.Child(NSUser, "invite") != nil || x.Child(NSUser, "decline") != nil) {
		r.invitations(ctx, st, s, x)
		return
	}
	if form := findForm(st.El, NSRequest); form != nil {
		r.voiceForm(st, s, form)
		return
	}
	if form := findForm(st.El, NSRegister); form != nil {
		r.registrationAnswer(ctx, st, form)
		return
	}
	// §17.1 rule 1: a message to all must be of type groupchat.
	r.errorTo(st, errBadRequest)
}

// groupchat handles a message to all occupants (§7.4) or a subject change
// (§8.1).
func (r *room) groupchat(ctx context.Context, st *router.Stanza, s *occSession) {
	if s == nil {
		r.errorTo(st, errNotJoined)
		return
	}
	o := s.occ
	if o.role < roleParticipant {
		r.errorTo(st, errForbidden)
		return
	}
	if subj := st.El.Child("", "subject"); subj != nil && st.El.Child("", "body") == nil && st.El.Child("", "thread") == nil {
		r.changeSubject(ctx, st, o, subj.Text())
		return
	}
	if !r.allowed(o) {
		r.errorTo(st, errTooFast)
		return
	}
	if len(r.outq) >= maxBacklog {
		// Deliveries lag far behind: take no more until they catch up,
		// rather than queue without bound.
		r.svc.m.log.Warn("muc: room backlog full: message refused", "room", r.jidStr, "backlog", len(r.outq))
		r.errorTo(st, errBusy)
		return
	}
	el := r.reflect(st.El, o, true)
	r.archive(el, o)
	if historic(st.El) {
		r.history.add(histEntry{el: el, from: o.jid, at: r.svc.m.now()})
	}
	r.fanout(el, o.jid, r.everyone())
}

// reflect builds the message template of o from a client message: from
// o's occupant JID, with the client's id (or a new one, for all copies:
// §7.4 stable ids), its payload minus the occupant id and any stanza id
// claiming to be the room's (XEP-0359 §5 rule 2), then the occupant id
// and, for groupchat, the room's stanza id.
func (r *room) reflect(m *xmppcore.Element, o *occupant, groupchat bool) *xmppcore.Element {
	el := &xmppcore.Element{Local: xmppcore.Message, Attrs: make([]xmppcore.Attr, 0, 5)}
	el.Attrs = append(el.Attrs, xmppcore.Attr{Local: "from", Value: o.jidStr})
	if t := m.Attr("type"); t != "" {
		el.Attrs = append(el.Attrs, xmppcore.Attr{Local: "type", Value: t})
	}
	id := m.Attr("id")
	if id == "" {
		id = newID()
	}
	el.Attrs = append(el.Attrs, xmppcore.Attr{Local: "id", Value: id})
	if lang := m.Lang(); lang != "" {
		el.Attrs = append(el.Attrs, xmppcore.Attr{Space: xmppcore.NSXML, Local: "lang", Value: lang})
	}
	el.Nodes = make([]xmppcore.Node, 0, len(m.Nodes)+3)
	hasX := false
	for _, n := range m.Nodes {
		if c := n.Elem; c != nil {
			switch {
			case c.Is(NSOccupantID, "occupant-id"):
				continue
			case c.Is(NSSID, "stanza-id") && c.Attr("by") == r.jidStr:
				continue
			case c.Is(NSUser, "x"):
				hasX = true
			}
		}
		el.Nodes = append(el.Nodes, n)
	}
	if !groupchat && !hasX {
		// §7.5: the service adds the <x/> marking a private message.
		el.Append(xmppcore.New(NSUser, "x"))
	}
	el.Append(xmppcore.New(NSOccupantID, "occupant-id", "id", o.id))
	if groupchat {
		el.Append(xmppcore.New(NSSID, "stanza-id", "id", newID(), "by", r.jidStr))
	}
	return el
}

// changeSubject sets the subject, if o may (§8.1), and tells everyone.
func (r *room) changeSubject(ctx context.Context, st *router.Stanza, o *occupant, text string) {
	if o.role != roleModerator && !(r.cfg.ChangeSubject && o.role >= roleParticipant) {
		r.errorTo(st, errForbidden)
		return
	}
	oldSubject, oldBy, oldAt := r.subject, r.subjectBy, r.subjectAt
	r.subject, r.subjectBy, r.subjectAt = text, o.nick, r.svc.m.now().UTC().Truncate(time.Microsecond)
	if err := r.storeUpdate(ctx); err != nil {
		r.svc.m.log.Error("muc: storing the subject failed", "room", r.jidStr, "err", err)
		r.subject, r.subjectBy, r.subjectAt = oldSubject, oldBy, oldAt
		r.errorTo(st, errInternal)
		return
	}
	r.fanout(r.reflect(st.El, o, true), o.jid, r.everyone())
}

// privateMessage relays a message from an occupant to another (§7.5).
func (r *room) privateMessage(st *router.Stanza) {
	if st.Type() == "error" {
		r.bounced(st)
		return
	}
	s := r.bySession[st.From.String()]
	switch {
	case s == nil:
		r.errorTo(st, errNotJoined)
		return
	case st.Type() == "groupchat":
		r.errorTo(st, errBadRequest)
		return
	}
	target := r.occupants[st.To.Resourcepart()]
	if target == nil {
		r.errorTo(st, errNotFound)
		return
	}
	o := s.occ
	var ok bool
	switch r.cfg.AllowPM {
	case "", pmAnyone:
		ok = true
	case pmParticipants:
		ok = o.role >= roleParticipant
	case pmModerators:
		ok = o.role == roleModerator
	}
	if !ok {
		r.errorTo(st, errForbidden)
		return
	}
	if !r.allowed(o) {
		r.errorTo(st, errTooFast)
		return
	}
	to := make([]recipient, len(target.sessions))
	for i, ts := range target.sessions {
		to[i] = ts.rc
	}
	r.fanout(r.reflect(st.El, o, false), o.jid, to)
}

// invitations handles mediated invitations and declines (§7.8.2).
func (r *room) invitations(ctx context.Context, st *router.Stanza, s *occSession, x *xmppcore.Element) {
	inviter := st.From
	aff := r.affOf(inviter)
	for c := range x.Children() {
		switch {
		case c.Is(NSUser, "invite"):
			// Occupants invite to open rooms; to members-only rooms, admins
			// and owners, and members too if the room allows it (§9.5).
			allowed := s != nil || aff >= affAdmin
			if r.cfg.MembersOnly {
				allowed = aff >= affAdmin || (r.cfg.AllowInvites && aff >= affMember)
			}
			if !allowed {
				r.errorTo(st, errForbidden, x)
				return
			}
			to, err := jid.Parse(c.Attr("to"))
			if err != nil || c.Attr("to") == "" {
				r.errorTo(st, errJIDMalformed)
				return
			}
			if r.cfg.MembersOnly && r.affOf(to) < affMember && to.Localpart() != "" {
				// The invitee joins the member list (§9.5).
				bare := to.Bare().String()
				change := storage.MUCAffiliation{JID: bare, Affiliation: storage.AffMember}
				if err := r.storeAffiliations(ctx, []storage.MUCAffiliation{change}); err != nil {
					r.svc.m.log.Error("muc: storing an invitee's membership failed", "room", r.jidStr, "err", err)
					r.errorTo(st, errInternal)
					return
				}
				r.setAffiliation(bare, affEntry{aff: affMember})
			}
			r.invite(st.El.Attr("id"), inviter.Bare(), to, c)
		case c.Is(NSUser, "decline"):
			to, err := jid.Parse(c.Attr("to"))
			if err != nil || c.Attr("to") == "" {
				r.errorTo(st, errJIDMalformed)
				return
			}
			d := xmppcore.New(NSUser, "decline", "from", inviter.Bare().String())
			if reason := c.Child(NSUser, "reason"); reason != nil {
				d.Append(reason)
			}
			el := xmppcore.New("", xmppcore.Message)
			if id := st.El.Attr("id"); id != "" {
				el.SetAttr("id", id)
			}
			el.Append(xmppcore.New(NSUser, "x").Append(d))
			r.sendTo(el, to)
		}
	}
}

// invite sends an invitation from the room to a user, on behalf of from
// (§7.8.2; §9.5 for new members of members-only rooms), with the room's
// password.
func (r *room) invite(id string, from, to jid.JID, orig *xmppcore.Element) {
	inv := xmppcore.New(NSUser, "invite", "from", from.String())
	if orig != nil {
		for c := range orig.Children() {
			if c.Is(NSUser, "reason") || c.Is(NSUser, "continue") {
				inv.Append(c)
			}
		}
	}
	x := xmppcore.New(NSUser, "x").Append(inv)
	if r.cfg.Password != "" {
		x.Append(xmppcore.New(NSUser, "password").AppendText(r.cfg.Password))
	}
	if id == "" {
		id = newID()
	}
	el := xmppcore.New("", xmppcore.Message, "id", id).Append(x)
	text := from.String() + " invites you to the room " + r.jidStr
	if reason := inv.ChildText(NSUser, "reason"); reason != "" {
		text += ": " + reason
	}
	el.Append(xmppcore.New("", "body").AppendText(text))
	r.sendTo(el, to)
}

// sendTo queues a message from the room to any JID; to an occupant JID of
// the room it goes to the occupant's sessions.
func (r *room) sendTo(el *xmppcore.Element, to jid.JID) {
	if to.Bare().Equal(r.jid) && to.Resourcepart() != "" {
		o := r.occupants[to.Resourcepart()]
		if o == nil {
			return
		}
		el.SetAttr("from", r.jidStr)
		for _, s := range o.sessions {
			r.send(el.ShallowClone(), r.jid, s.rc)
		}
		return
	}
	r.send(el, r.jid, recipient{to, to.String()})
}

// voiceForm handles a voice request from a visitor, or a moderator's
// answer to one (§7.13, §8.6).
func (r *room) voiceForm(st *router.Stanza, s *occSession, form *xmppcore.Element) {
	if s == nil {
		r.errorTo(st, errNotJoined)
		return
	}
	o := s.occ
	fields := formValues(form)
	if allow, ok := fields["muc#request_allow"]; ok {
		if o.role != roleModerator {
			r.errorTo(st, errForbidden)
			return
		}
		if !formBool(allow) {
			return
		}
		target := r.occupants[first(fields["muc#roomnick"])]
		if target == nil || target.role != roleVisitor {
			return
		}
		r.setRole(target, roleParticipant, o, "")
		return
	}
	switch {
	case r.cfg.NoVoiceRequests:
		r.errorTo(st, errForbidden)
		return
	case o.role != roleVisitor || first(fields["muc#role"]) != roleParticipant.String():
		return // nothing to ask for
	case !r.allowed(o):
		r.errorTo(st, errTooFast)
		return
	}
	approval := dataForm("form", NSRequest, "Voice request",
		"To approve this request for voice, select the \"Grant voice to this person?\" checkbox and click OK.",
		field("muc#role", "list-single", "Requested role", roleParticipant.String()),
		field("muc#jid", "jid-single", "User ID", s.rc.str),
		field("muc#roomnick", "text-single", "Room Nickname", o.nick),
		field("muc#request_allow", "boolean", "Grant voice to this person?", "false"))
	for _, m := range r.occupants {
		if m.role != roleModerator {
			continue
		}
		for _, ms := range m.sessions {
			el := xmppcore.New("", xmppcore.Message, "id", newID()).Append(approval)
			r.send(el, r.jid, ms.rc)
		}
	}
}

func first(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}
