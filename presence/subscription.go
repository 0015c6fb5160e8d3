package presence

import "parley.im/parley/storage"

// Presence subscription types.
const (
	Subscribe    = "subscribe"
	Subscribed   = "subscribed"
	Unsubscribe  = "unsubscribe"
	Unsubscribed = "unsubscribed"
	Probe        = "probe"
	Unavailable  = "unavailable"
)

func isSubscription(typ string) bool {
	return typ == Subscribe || typ == Subscribed || typ == Unsubscribe || typ == Unsubscribed
}

// state is a roster item's subscription state as RFC 6121 Appendix A.1
// defines it, plus the pre-approval of §3.4.
type state struct {
	to, from bool // subscription to / from the contact
	out, in  bool // Pending Out, Pending In
	approved bool
}

func stateOf(it *storage.RosterItem) state {
	if it == nil {
		return state{}
	}
	s := state{out: it.PendingOut, in: it.PendingIn, approved: it.Approved}
	switch it.Subscription {
	case storage.SubTo:
		s.to = true
	case storage.SubFrom:
		s.from = true
	case storage.SubBoth:
		s.to, s.from = true, true
	}
	return s
}

func (s state) subscription() string {
	switch {
	case s.to && s.from:
		return storage.SubBoth
	case s.to:
		return storage.SubTo
	case s.from:
		return storage.SubFrom
	}
	return storage.SubNone
}

// applyTo returns it with the state s.
func (s state) applyTo(it storage.RosterItem) storage.RosterItem {
	it.Subscription = s.subscription()
	it.PendingOut, it.PendingIn, it.Approved = s.out, s.in, s.approved
	return it
}

// outcome is what one subscription stanza does.
type outcome struct {
	next state
	// forward: route the stanza to the contact (outbound) or deliver it to
	// the user's available resources (inbound).
	forward bool
	// autoReply: answer an inbound subscribe with subscribed on the user's
	// behalf (RFC 6121 §3.1.3, §3.4).
	autoReply bool
	// sendPresence: the contact just got a subscription to the user's
	// presence: send it the user's current presence (§3.1.5).
	sendPresence bool
	// sendUnavailable: the contact just lost it: send unavailable from the
	// user's available resources (§3.2.2, §3.3.3).
	sendUnavailable bool
}

// outbound is the user's server's processing of a subscription stanza the
// user sends (RFC 6121 §3.1.2, §3.1.5, §3.2.2, §3.3.2, §3.4 and the
// Appendix A tables of outbound processing).
func outbound(typ string, s state) outcome {
	o := outcome{next: s}
	switch typ {
	case Subscribe:
		// A.2.1: routed in every state, so that a user can ask again (the
		// contact's server answers for an existing subscription).
		o.forward = true
		if !s.to {
			o.next.out = true
		}
	case Unsubscribe:
		// A.4.1: routed in every state.
		o.forward = true
		o.next.to, o.next.out = false, false
	case Subscribed:
		switch {
		case s.in: // A.3.1: None+In -> From, None+Out+In -> From+Out, To+In -> Both
			o.forward, o.sendPresence = true, true
			o.next.from, o.next.in, o.next.approved = true, false, false
		case !s.from: // §3.4: no request yet: a pre-approval, not routed
			o.next.approved = true
		}
	case Unsubscribed:
		switch {
		case s.in || s.from: // A.5.1: denial of a request, or cancellation
			o.forward = true
			o.sendUnavailable = s.from
			o.next.from, o.next.in, o.next.approved = false, false, false
		case s.approved: // §3.4: cancels a pre-approval, not routed
			o.next.approved = false
		}
	}
	return o
}

// inbound is the user's server's processing of a subscription stanza from
// a contact (RFC 6121 §3.1.3, §3.1.6, §3.2.3, §3.3.3, §3.4 and the
// Appendix A tables of inbound processing).
func inbound(typ string, s state) outcome {
	o := outcome{next: s}
	switch typ {
	case Subscribe:
		switch {
		case s.from: // A.2.2: already subscribed: answer for the user
			o.autoReply = true
		case s.approved: // §3.4: pre-approved: answer and grant
			o.autoReply, o.sendPresence = true, true
			o.next.from, o.next.approved = true, false
		case s.in: // already pending: not delivered again
		default: // None -> None+In, None+Out -> None+Out+In, To -> To+In
			o.forward = true
			o.next.in = true
		}
	case Subscribed:
		if s.out { // A.3.2: None+Out -> To, None+Out+In -> To+In, From+Out -> Both
			o.forward = true
			o.next.to, o.next.out = true, false
		}
	case Unsubscribe:
		if s.in || s.from { // A.4.2
			o.forward = true
			o.sendUnavailable = s.from
			o.next.from, o.next.in = false, false
		}
	case Unsubscribed:
		if s.out || s.to { // A.5.2
			o.forward = true
			o.next.to, o.next.out = false, false
		}
	}
	return o
}

// tracking reports whether an item only records a pending inbound request
// (the roster module hides those): when it loses the request it is
// removed, as RFC 6121 §3.2.2 asks of an item kept "for tracking purposes".
func tracking(it *storage.RosterItem) bool {
	return it != nil && it.PendingIn && !it.PendingOut && !it.Approved &&
		(it.Subscription == "" || it.Subscription == storage.SubNone) && it.Name == "" && len(it.Groups) == 0
}

// nextItem is the item to store after a transition from cur (nil: absent)
// to s, or nil to remove it (or leave it absent).
func nextItem(contact string, cur *storage.RosterItem, s state) *storage.RosterItem {
	if s == (state{}) && (cur == nil || tracking(cur)) {
		return nil
	}
	base := storage.RosterItem{JID: contact}
	if cur != nil {
		base = *cur
	}
	it := s.applyTo(base)
	return &it
}
