package muc

import (
	"context"

	"parley.im/parley/router"
	"parley.im/parley/xmppcore"
)

// registerGet answers a request for registration requirements (§7.10):
// the registered nickname of a member, else the muc#register form.
// Registration makes an unaffiliated user a member at once; in
// members-only rooms it would need an approval workflow, which the service
// does not have, so it is not allowed there.
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
	if aff == affOutcast || r.cfg.MembersOnly {
		r.errorTo(st, errNotAllowed)
		return
	}
	form := dataForm("form", NSRegister, r.jidStr+" registration", "Choose the nickname to reserve in this room.",
		required(field("muc#register_roomnick", "text-single", "Desired Nickname")))
	r.resultTo(st, xmppcore.New(NSIQRegister, "query").
		Append(xmppcore.New(NSIQRegister, "instructions").AppendText("Choose the nickname to reserve in this room.")).
		Append(form))
}

// registerSet registers a user with the room (§7.10) with the nickname
// of the submitted form, or with <remove/> cancels a membership
// (XEP-0077 §3.2).
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
	nick := first(formValues(form)["muc#register_roomnick"])
	switch {
	case nick == "" || !validNick(nick):
		r.errorTo(st, errBadRequest)
		return
	case aff == affOutcast || (r.cfg.MembersOnly && aff < affMember):
		r.errorTo(st, errNotAllowed)
		return
	case r.nicks[nick] != "" && r.nicks[nick] != bare.String():
		r.errorTo(st, errConflict)
		return
	case r.occupants[nick] != nil && !r.occupants[nick].bare.Equal(bare):
		r.errorTo(st, errConflict)
		return
	}
	newAff := cur.aff
	if newAff < affMember {
		newAff = affMember
	}
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
