package muc

import (
	"context"

	"mellium.im/xmpp/jid"

	"parley.im/parley/router"
	"parley.im/parley/xmppcore"
)

// Registration with a room (§7.10). In a room anyone may enter,
// registering makes an unaffiliated user a member at once, with the
// nickname reserved: what Prosody does, and what users of open rooms
// expect. In a members-only room membership is the admins' to give, so a
// registration there is a request: the room answers that it was received,
// and sends the owners and admins the approval form of §9.9 (with the
// user's JID in muc#jid); the first of them to submit it with
// muc#register_allow true makes the user a member (who then gets an
// invitation, §9.5), false drops the request and tells the user.
// Requests wait in memory, at most maxRegRequests per room (the oldest
// go first); they are lost when the room is unloaded or the server
// restarts, and the user may simply ask again.

const maxRegRequests = 100

// regRequest is a registration waiting for approval.
type regRequest struct {
	user jid.JID // bare
	nick string
}

// regRequests are a room's pending registrations, by bare JID.
type regRequests struct {
	byJID map[string]regRequest
	order []string
}

func (p *regRequests) add(q regRequest) {
	if p.byJID == nil {
		p.byJID = make(map[string]regRequest)
	}
	k := q.user.String()
	if _, dup := p.byJID[k]; dup {
		p.remove(k)
	}
	for len(p.order) >= maxRegRequests {
		delete(p.byJID, p.order[0])
		p.order = p.order[1:]
	}
	p.byJID[k] = q
	p.order = append(p.order, k)
}

func (p *regRequests) remove(k string) {
	delete(p.byJID, k)
	for i, o := range p.order {
		if o == k {
			p.order = append(p.order[:i:i], p.order[i+1:]...)
			return
		}
	}
}

const (
	fRegNick  = "muc#register_roomnick"
	fRegAllow = "muc#register_allow"
	fRegJID   = "muc#jid"
)

// registerGet answers a request for registration requirements (§7.10):
// the registered nickname of a member, else the muc#register form.
func (r *room) registerGet(st *router.Stanza) {
	aff := r.affOf(st.From)
	if aff >= affMember {
		q := xmppcore.New(NSIQRegister, "query").Append(xmppcore.New(NSIQRegister, "registered"))
		if nick := r.affs[st.From.Bare().String()].nick; nick != "" {
			q.Append(xmppcore.New(NSIQRegister, "username").AppendText(nick))
		}
		r.resultTo(st, q)
		return
	}
	if aff == affOutcast {
		r.errorTo(st, errNotAllowed)
		return
	}
	instructions := "Choose the nickname to reserve in this room."
	if r.cfg.MembersOnly {
		instructions += " An admin of the room must approve the request."
	}
	form := dataForm("form", NSRegister, r.jidStr+" registration", instructions,
		required(field(fRegNick, "text-single", "Desired Nickname")))
	r.resultTo(st, xmppcore.New(NSIQRegister, "query").
		Append(xmppcore.New(NSIQRegister, "instructions").AppendText(instructions)).
		Append(form))
}

// registerSet registers a user with the room (§7.10) with the nickname
// of the submitted form, or with <remove/> cancels a membership
// (XEP-0077 §3.2). In a members-only room a user who is not a member
// yet is asked for approval instead.
func (r *room) registerSet(ctx context.Context, st *router.Stanza, q *xmppcore.Element) {
	bare := st.From.Bare()
	aff := r.affOf(st.From)
	cur := r.affs[bare.String()]
	if q.Child(NSIQRegister, "remove") != nil {
		if cur.aff != affMember {
			r.errorTo(st, errNotAllowed) // owners and admins leave through their peers; others are not registered
			return
		}
		change := affChange{key: bare.String(), j: bare, aff: affNone}
		if err := r.persistAffiliations(ctx, []affChange{change}); err != nil {
			r.errorTo(st, asStanzaError(r.svc.m, err))
			return
		}
		r.resultTo(st, nil)
		r.affiliationsChanged(ctx, []affChange{change}, nil, bare)
		return
	}
	form := findForm(q, NSRegister)
	if form == nil || form.Attr("type") != "submit" {
		r.errorTo(st, errBadRequest)
		return
	}
	nick := first(formValues(form)[fRegNick])
	switch {
	case nick == "" || !validNick(nick):
		r.errorTo(st, errBadRequest)
		return
	case aff == affOutcast:
		r.errorTo(st, errNotAllowed)
		return
	case r.nickTaken(nick, bare):
		r.errorTo(st, errConflict)
		return
	}
	if r.cfg.MembersOnly && aff < affMember {
		r.regs.add(regRequest{user: bare, nick: nick})
		r.resultTo(st, nil)
		r.askApproval(bare, nick)
		return
	}
	newAff := max(cur.aff, affMember)
	change := affChange{key: bare.String(), j: bare, aff: newAff, nick: nick, setNick: true, reason: cur.reason}
	if err := r.persistAffiliations(ctx, []affChange{change}); err != nil {
		r.errorTo(st, asStanzaError(r.svc.m, err))
		return
	}
	r.resultTo(st, nil)
	if newAff != cur.aff {
		r.affiliationsChanged(ctx, []affChange{change}, nil, bare)
	}
}

// nickTaken reports whether nick is registered by, or in use by an
// occupant other than, user.
func (r *room) nickTaken(nick string, user jid.JID) bool {
	if holder := r.nicks[nick]; holder != "" && holder != user.String() {
		return true
	}
	o := r.occupants[nick]
	return o != nil && !o.bare.Equal(user)
}

// askApproval sends the §9.9 approval form to the room's owners and
// admins, at their bare JIDs (so that one offline finds it later).
func (r *room) askApproval(user jid.JID, nick string) {
	form := dataForm("form", NSRegister, "Registration request",
		"To approve this registration request, select the \"Allow this person to register with the room?\" checkbox and click OK.",
		field(fRegJID, "jid-single", "User ID", user.String()),
		field(fRegNick, "text-single", "Desired Nickname", nick),
		field(fRegAllow, "boolean", "Allow this person to register with the room?", "0"))
	for _, k := range sortedKeys(r.affs) {
		if r.affs[k].aff < affAdmin {
			continue
		}
		to, err := jid.Parse(k)
		if err != nil || to.Localpart() == "" {
			continue
		}
		el := xmppcore.New("", xmppcore.Message, "id", newID()).
			Append(xmppcore.New("", "body").AppendText(user.String() + " asks to register with " + r.jidStr + " as " + nick + ".")).
			Append(form)
		r.send(el, r.jid, recipient{to, to.String()})
	}
}

// registrationAnswer applies an owner's or admin's answer to a
// registration request (§9.9): a submitted muc#register form sent to the
// room, naming the user in muc#jid.
func (r *room) registrationAnswer(ctx context.Context, st *router.Stanza, form *xmppcore.Element) {
	if r.affOf(st.From) < affAdmin {
		r.errorTo(st, errForbidden)
		return
	}
	if form.Attr("type") != "submit" {
		return // canceled: the request stays
	}
	vals := formValues(form)
	user, err := jid.Parse(first(vals[fRegJID]))
	if err != nil {
		r.errorTo(st, errBadRequest)
		return
	}
	user = user.Bare()
	req, ok := r.regs.byJID[user.String()]
	if !ok {
		r.errorTo(st, errNotFound) // answered already, or never asked
		return
	}
	allow, valid := parseBool(first(vals[fRegAllow]))
	if !valid {
		r.errorTo(st, errBadRequest)
		return
	}
	if !allow {
		r.regs.remove(user.String())
		el := xmppcore.New("", xmppcore.Message, "id", newID()).
			Append(xmppcore.New("", "body").AppendText("Your request to register with " + r.jidStr + " was declined."))
		r.send(el, r.jid, recipient{user, user.String()})
		return
	}
	if r.nickTaken(req.nick, user) {
		r.errorTo(st, errConflict) // taken since: the request stays
		return
	}
	if r.affOf(user) == affOutcast {
		r.regs.remove(user.String()) // banned since the request
		r.errorTo(st, errNotAllowed)
		return
	}
	cur, ok := r.affs[user.String()]
	if !ok {
		cur.aff = affNone
	}
	change := affChange{key: user.String(), j: user, aff: max(cur.aff, affMember), nick: req.nick, setNick: true, reason: cur.reason}
	if err := r.persistAffiliations(ctx, []affChange{change}); err != nil {
		r.errorTo(st, asStanzaError(r.svc.m, err))
		return
	}
	r.regs.remove(user.String())
	if change.aff != cur.aff {
		r.affiliationsChanged(ctx, []affChange{change}, r.actorOf(st.From), st.From.Bare())
	}
}
