package muc

import (
	"context"
	"errors"

	"parley.im/parley/router"
	"parley.im/parley/storage"
	"parley.im/parley/xmppcore"
)

// moderate handles a XEP-0425 request of a moderator to retract a
// groupchat message, named by the room's stanza-id: the message leaves
// the discussion history, its archived copy becomes a tombstone, and the
// room tells every occupant.
func (r *room) moderate(ctx context.Context, st *router.Stanza, q *xmppcore.Element) {
	s := r.bySession[st.From.String()]
	if s == nil || s.occ.role != roleModerator {
		r.errorTo(st, errForbidden)
		return
	}
	id := q.Attr("id")
	if id == "" || q.Child(NSRetract, "retract") == nil {
		r.errorTo(st, errBadRequest)
		return
	}
	mod := s.occ
	reason := ""
	if el := q.Child(NSModerate, "reason"); el != nil {
		reason = el.Text()
	}
	moderated := func() *xmppcore.Element {
		return xmppcore.New(NSModerate, "moderated", "by", mod.jidStr).
			Append(xmppcore.New(NSOccupantID, "occupant-id", "id", mod.id))
	}
	withReason := func(el *xmppcore.Element) *xmppcore.Element {
		el.Append(moderated())
		if reason != "" {
			el.Append(xmppcore.New(NSRetract, "reason").AppendText(reason))
		}
		return el
	}

	found := r.history.removeByStanzaID(r, id)
	if ra := r.svc.m.roomArchive(); ra != nil {
		switch ok, err := r.tombstone(ctx, ra, id, withReason); {
		case err != nil:
			r.svc.m.log.Error("muc: moderation of archived message failed", "room", r.jidStr, "id", id, "err", err)
			r.errorTo(st, errInternal)
			return
		case ok:
			found = true
		}
	}
	if !found {
		r.errorTo(st, errNotFound)
		return
	}
	msg := xmppcore.New("", xmppcore.Message, "from", r.jidStr, "type", "groupchat", "id", newID()).
		Append(withReason(xmppcore.New(NSRetract, "retract", "id", id)))
	r.fanout(msg, r.jid, r.everyone())
	r.resultTo(st, nil)
}

// tombstone replaces the archived message id with a tombstone that keeps
// its sender, type, id, occupant id and stanza-id and says it was
// retracted by a moderator (XEP-0425 §5). It reports whether the archive
// held the message.
func (r *room) tombstone(ctx context.Context, ra storage.RoomArchive, id string, retracted func(*xmppcore.Element) *xmppcore.Element) (bool, error) {
	r.svc.m.archiveWait()
	qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), archiveTimeout)
	defer cancel()
	page, err := ra.QueryRoomArchive(qctx, r.svc.domain, r.name, storage.ArchiveQuery{IDs: []string{id}, Max: 1})
	if errors.Is(err, storage.ErrNotFound) || (err == nil && len(page.Entries) == 0) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	e := page.Entries[0]
	tomb := xmppcore.New("", xmppcore.Message)
	if orig, err := xmppcore.Parse(e.Stanza); err == nil {
		for _, a := range orig.Attrs {
			if a.Space == "" && (a.Local == "from" || a.Local == "type" || a.Local == "id") {
				tomb.SetAttr(a.Local, a.Value)
			}
		}
		if c := orig.Child(NSOccupantID, "occupant-id"); c != nil {
			tomb.Append(c)
		}
		if c := orig.Child(NSSID, "stanza-id"); c != nil {
			tomb.Append(c)
		}
	}
	stamp := r.svc.m.now().UTC().Format("2006-01-02T15:04:05.000Z")
	tomb.Append(retracted(xmppcore.New(NSRetract, "retracted", "stamp", stamp)))
	err = ra.ReplaceRoomArchive(qctx, r.svc.domain, r.name, id, tomb.AppendXML(nil, xmppcore.NSClient))
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// removeByStanzaID drops the message with the room's stanza-id id from
// the history, and reports whether it was there.
func (h *history) removeByStanzaID(r *room, id string) bool {
	es := h.entries()
	i := -1
	for k, e := range es {
		if r.roomStanzaID(e.el) == id {
			i = k
			break
		}
	}
	if i < 0 {
		return false
	}
	es = append(es[:i], es[i+1:]...)
	h.ring = make([]histEntry, len(h.ring))
	h.start, h.n = 0, 0
	for _, e := range es {
		h.add(e)
	}
	return true
}
