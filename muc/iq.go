package muc

import (
	"context"

	"mellium.im/xmpp/jid"

	"parley.im/parley/router"
	"parley.im/parley/xmppcore"
)

// isPing reports whether st is a XEP-0199 ping.
func isPing(st *router.Stanza) bool {
	p := st.El.FirstChild()
	return st.Kind() == xmppcore.IQ && st.Type() == "get" && p != nil && p.Is(NSPing, "ping")
}

// iqToRoom handles IQ requests to the room's JID (§17.3 rule 1: handled
// by the room, never reflected).
func (r *room) iqToRoom(ctx context.Context, st *router.Stanza) {
	if !xmppcore.IsRequest(st.El) {
		return
	}
	q := st.El.FirstChild()
	if q == nil || st.El.ChildCount() != 1 {
		r.errorTo(st, errBadRequest)
		return
	}
	if r.locked && r.affOf(st.From) != affOwner {
		r.errorTo(st, errNotFound) // §7.2.11: the room does not exist yet
		return
	}
	get := st.Type() == "get"
	switch {
	case get && q.Is(NSDiscoInfo, "query"):
		r.discoInfo(st, q)
	case get && q.Is(NSDiscoItems, "query"):
		r.discoItems(st, q)
	case get && q.Is(NSAdmin, "query"):
		r.adminGet(st, q)
	case !get && q.Is(NSAdmin, "query"):
		r.adminSet(ctx, st, q)
	case get && q.Is(NSOwner, "query"):
		r.ownerGet(st, q)
	case !get && q.Is(NSOwner, "query"):
		r.ownerSet(ctx, st, q)
	case q.Is(NSIQRegister, "query"):
		if r.svc.m.opts.NoRegistration {
			r.errorTo(st, errUnavailable)
			return
		}
		if get {
			r.registerGet(st)
		} else {
			r.registerSet(ctx, st, q)
		}
	case q.Is(NSMAM, "query"):
		r.archiveQuery(ctx, st, q)
	case !get && q.Is(NSModerate, "moderate"):
		r.moderate(ctx, st, q)
	case get && q.Is(NSPing, "ping"):
		r.resultTo(st, nil)
	case q.Is(NSVCard, "vCard"):
		r.vcard(ctx, st, q) // XEP-0486 room avatars
	default:
		r.errorTo(st, errUnavailable)
	}
}

// pendingIQs are the IQs relayed from an occupant to another (§17.3 rule
// 3), by the id the room gave them, so that the answer finds its way back;
// the oldest are forgotten beyond maxPendingIQs.
type pendingIQs struct {
	byID  map[string]pendingIQ
	order []string
}

type pendingIQ struct {
	requester jid.JID // real full JID that asked
	id        string  // its id
	via       jid.JID // the occupant JID it asked
	to        jid.JID // the real JID the room asked
}

const maxPendingIQs = 256

func (p *pendingIQs) add(id string, q pendingIQ) {
	if p.byID == nil {
		p.byID = make(map[string]pendingIQ)
	}
	for len(p.order) >= maxPendingIQs {
		delete(p.byID, p.order[0])
		p.order = p.order[1:]
	}
	p.byID[id] = q
	p.order = append(p.order, id)
}

func (p *pendingIQs) take(id string) (pendingIQ, bool) {
	q, ok := p.byID[id]
	if ok {
		delete(p.byID, id)
		for i, o := range p.order {
			if o == id {
				p.order = append(p.order[:i:i], p.order[i+1:]...)
				break
			}
		}
	}
	return q, ok
}

// iqToOccupant handles an IQ to an occupant JID: a self-ping is answered
// by the room (XEP-0410 §3.2); other requests from occupants go to the
// occupant's real JID with the addresses rewritten, vCard requests to its
// bare JID, where the vCard is; answers come back the same way.
func (r *room) iqToOccupant(st *router.Stanza) {
	nick := st.To.Resourcepart()
	s := r.bySession[st.From.String()]
	if !xmppcore.IsRequest(st.El) {
		r.relayAnswer(st)
		return
	}
	switch {
	case isPing(st) && s != nil && s.occ.nick == nick:
		r.resultTo(st, nil)
		return
	case s == nil && isPing(st):
		r.errorTo(st, errNotJoined)
		return
	case s == nil:
		if q := st.El.FirstChild(); q != nil && (q.Is(NSDiscoInfo, "query") || q.Is(NSDiscoItems, "query")) {
			r.errorTo(st, errBadRequest) // §6.6
			return
		}
		r.errorTo(st, errNotJoined)
		return
	}
	target := r.occupants[nick]
	if target == nil || target.current == nil {
		r.errorTo(st, errNotFound)
		return
	}
	to := target.current.full
	if q := st.El.FirstChild(); st.Type() == "get" && q != nil && q.Is(NSVCard, "vCard") {
		to = target.bare
	}
	id := newID()
	r.pending.add(id, pendingIQ{requester: st.From, id: st.El.Attr("id"), via: target.jid, to: to})
	el := st.El.ShallowClone()
	el.SetAttr("id", id)
	el.SetAttr("from", s.occ.jidStr)
	r.send(el, s.occ.jid, recipient{to, to.String()})
}

// relayAnswer sends the answer to a relayed IQ back to who asked.
func (r *room) relayAnswer(st *router.Stanza) {
	q, ok := r.pending.byID[st.El.Attr("id")]
	if !ok || !q.to.Equal(st.From) {
		return // not ours, or not from whom we asked
	}
	r.pending.take(st.El.Attr("id"))
	el := st.El.ShallowClone()
	if q.id == "" {
		el.RemoveAttr("id")
	} else {
		el.SetAttr("id", q.id)
	}
	el.SetAttr("from", q.via.String())
	r.send(el, q.via, recipient{q.requester, q.requester.String()})
}
