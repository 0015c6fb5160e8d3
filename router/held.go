package router

import (
	"context"

	"mellium.im/xmpp/jid"

	"parley.im/parley/xmppcore"
)

// MessageHeld fires EventMessageHeld for a message queued to s while s is
// detached, waiting for its client to resume the stream (XEP-0198). The
// session layer calls it after queueing; the hooks (push notifications)
// must not block. From is the message's 'from' as parsed (zero if it does
// not parse), To the session's full JID.
func (r *Router) MessageHeld(ctx context.Context, s Session, el *xmppcore.Element) {
	if len(r.hooks.Load().byEvent[EventMessageHeld]) == 0 {
		return
	}
	from, _ := jid.Parse(el.Attr("from"))
	r.fire(ctx, EventMessageHeld, &Stanza{El: el, From: from, To: s.JID()})
}

// StoreOffline fires EventMessageOffline for a message the session layer
// could not deliver (XEP-0198: unacknowledged when the session ended),
// addressed to a local user, and reports whether a hook stored it. The
// hooks run synchronously: true means stored.
func (r *Router) StoreOffline(ctx context.Context, st *Stanza) bool {
	return r.fire(ctx, EventMessageOffline, st)
}
