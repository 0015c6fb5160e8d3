package router

import (
	"context"

	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"parley.im/parley/xmppcore"
)

var (
	errServiceUnavailable = xmppcore.NewError(stanza.ServiceUnavailable, "")
	errRemoteNotFound     = xmppcore.NewError(stanza.RemoteServerNotFound, "")
)

// Route delivers a stanza by the rules in the package documentation.
func (r *Router) Route(ctx context.Context, st *Stanza) {
	if st.Origin != nil && r.fire(ctx, EventPreRoute, st) {
		return
	}
	if st.OnBehalf && r.fire(ctx, EventOnBehalf, st) {
		return
	}
	if st.To.Equal(jid.JID{}) {
		r.routeNoTo(ctx, st)
		return
	}
	// domain must not escape (it would be allocated for every stanza): the
	// log line below takes its own copy.
	domain := st.To.Domainpart()
	switch {
	case r.IsLocalHost(domain):
		switch {
		case st.To.Localpart() == "" && st.To.Resourcepart() == "":
			r.routeHost(ctx, st)
		case st.To.Localpart() == "":
			// domain/resource: nothing lives there on a local host.
			r.unhandled(ctx, st)
		case st.To.Resourcepart() == "":
			r.routeBare(ctx, st)
		default:
			r.routeFull(ctx, st)
		}
	default:
		if c, ok := (*r.components.Load())[domain]; ok {
			c.Deliver(ctx, st)
			return
		}
		if rb := r.remote.Load(); rb != nil {
			if err := rb.r.Deliver(ctx, st); err != nil {
				r.log.Debug("remote delivery failed", "to", st.To.Domainpart(), "err", err)
				r.Error(ctx, st, errRemoteNotFound)
			}
			return
		}
		r.Error(ctx, st, errRemoteNotFound)
	}
}

// routeNoTo applies RFC 6120 §10.3: no 'to' means the sender's own account.
func (r *Router) routeNoTo(ctx context.Context, st *Stanza) {
	switch st.Kind() {
	case xmppcore.Presence:
		if st.Origin != nil {
			if t := st.Type(); t == "" || t == "unavailable" {
				was := r.SetPresence(st.Origin, st.El)
				st.Initial = t == "" && !was
			}
		}
		r.fire(ctx, EventPresenceBroadcast, st)
	default:
		st.To = st.From.Bare()
		r.routeBare(ctx, st)
	}
}

func (r *Router) routeHost(ctx context.Context, st *Stanza) {
	ev := EventMessageHost
	switch st.Kind() {
	case xmppcore.Presence:
		ev = EventPresenceHost
	case xmppcore.IQ:
		ev = EventIQHost
	}
	if !r.fire(ctx, ev, st) {
		r.unhandled(ctx, st)
	}
}

// unhandled answers get/set IQs with service-unavailable and drops the rest.
func (r *Router) unhandled(ctx context.Context, st *Stanza) {
	if xmppcore.IsRequest(st.El) {
		r.Error(ctx, st, errServiceUnavailable)
	}
}

func (r *Router) routeBare(ctx context.Context, st *Stanza) {
	// Most users have a few resources: the snapshot stays on the stack.
	var buf [4]ResourceInfo
	res := r.appendResources(buf[:0], st.To)
	if len(res) == 0 && !r.accountExists(ctx, st.To) {
		if st.Kind() != xmppcore.Presence {
			r.Error(ctx, st, errServiceUnavailable)
		}
		return
	}
	switch st.Kind() {
	case xmppcore.IQ:
		if !r.fire(ctx, EventIQBare, st) {
			r.unhandled(ctx, st)
		}
	case xmppcore.Presence:
		if r.fire(ctx, EventPresenceBare, st) {
			return
		}
		for _, ri := range res {
			if ri.Available {
				ri.Session.Send(st.El)
			}
		}
	default:
		if r.fire(ctx, EventMessageBare, st) {
			return
		}
		r.deliverMessageBare(ctx, st, res)
	}
}

func (r *Router) deliverMessageBare(ctx context.Context, st *Stanza, res []ResourceInfo) {
	switch st.Type() {
	case "error":
		return
	case "groupchat":
		r.Error(ctx, st, errServiceUnavailable)
		return
	case "headline":
		track := r.trackDeliveries()
		got := st.one[:0]
		for _, ri := range res {
			if ri.Available && ri.Priority >= 0 && ri.Session.Send(st.El) && track {
				got = append(got, ri.Session)
			}
		}
		r.messageDelivered(ctx, st, got)
		return
	}
	// chat, normal, and unknown types treated as normal: the most available
	// resources, that is those sharing the highest non-negative priority.
	best := -1
	for _, ri := range res {
		if ri.Available && ri.Priority > best {
			best = ri.Priority
		}
	}
	delivered := false
	track := r.trackDeliveries()
	got := st.one[:0]
	if best >= 0 {
		for _, ri := range res {
			if ri.Available && ri.Priority == best && ri.Session.Send(st.El) {
				delivered = true
				if track {
					got = append(got, ri.Session)
				}
			}
		}
	}
	if delivered {
		r.messageDelivered(ctx, st, got)
		return
	}
	if r.fire(ctx, EventMessageOffline, st) {
		return
	}
	r.Error(ctx, st, errServiceUnavailable)
}

func (r *Router) routeFull(ctx context.Context, st *Stanza) {
	s, bound := r.Session(st.To)
	if bound {
		ev := EventMessageFull
		switch st.Kind() {
		case xmppcore.Presence:
			ev = EventPresenceFull
		case xmppcore.IQ:
			ev = EventIQFull
		}
		if r.fire(ctx, ev, st) {
			return
		}
		if !s.Send(st.El) {
			r.refusedFull(ctx, st)
			return
		}
		if ev == EventMessageFull && r.trackDeliveries() {
			st.one[0] = s
			r.messageDelivered(ctx, st, st.one[:])
		}
		return
	}
	// RFC 6121 §8.5.3.2: no resource matches.
	switch st.Kind() {
	case xmppcore.Message:
		switch st.Type() {
		case "chat":
			r.routeBare(ctx, st)
		case "headline", "error":
		default:
			r.Error(ctx, st, errServiceUnavailable)
		}
	case xmppcore.Presence:
		switch st.Type() {
		case "subscribe", "subscribed", "unsubscribe", "unsubscribed", "probe":
			r.routeBare(ctx, st)
		}
	default:
		r.unhandled(ctx, st)
	}
}

// refusedFull answers a stanza that a bound session would not take (it is
// closing, or its queue overflowed): a sender must not wait for an answer
// or believe a message arrived. Messages of type chat and normal and IQ
// requests get service-unavailable, as for a bare JID whose only session
// refuses; the rest is dropped, as RFC 6121 §8.5.3.2 drops it for a
// resource that is gone.
func (r *Router) refusedFull(ctx context.Context, st *Stanza) {
	switch st.Kind() {
	case xmppcore.Message:
		switch st.Type() {
		case "", "normal", "chat":
			r.Error(ctx, st, errServiceUnavailable)
		}
	case xmppcore.IQ:
		switch st.Type() {
		case "get", "set":
			r.Error(ctx, st, errServiceUnavailable)
		}
	}
}

func (r *Router) accountExists(ctx context.Context, bare jid.JID) bool {
	if r.cfg.AccountExists == nil {
		return false
	}
	ok, err := r.cfg.AccountExists(ctx, bare.Domainpart(), bare.Localpart())
	if err != nil {
		// Storage trouble must not look like "no such user" to a sender
		// that might then give up on the contact; treat as existing.
		r.log.Warn("account lookup failed", "jid", bare.String(), "err", err)
		return true
	}
	return ok
}
