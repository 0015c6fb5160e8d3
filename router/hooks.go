package router

import (
	"context"
	"fmt"
	"runtime/debug"
	"slices"
	"sync/atomic"

	"mellium.im/xmpp/stanza"

	"parley.im/parley/xmppcore"
)

// Event names a point in routing where modules can claim a stanza.
type Event int

// Events, in the order Route meets them.
const (
	// EventPreRoute sees every stanza from a local session before routing
	// (policy: blocking, rate limits). Claiming it stops the stanza.
	EventPreRoute Event = iota
	EventMessageHost
	EventMessageBare
	EventMessageFull
	// EventMessageOffline sees a message for a local user with no resource
	// to take it (offline storage).
	EventMessageOffline
	EventPresenceHost
	EventPresenceBare
	EventPresenceFull
	// EventPresenceBroadcast sees presence without 'to' from a local session,
	// after the router recorded the session's availability.
	EventPresenceBroadcast
	EventIQHost
	EventIQBare
	EventIQFull
	// EventOnBehalf sees, before routing, what a module sends on behalf of
	// the local user in From (presence broadcasts and probes), so that the
	// user's own policy (blocking) applies to it as to what the user sends.
	// Claiming it stops the stanza.
	EventOnBehalf
	// EventMessageHeld sees a message queued to a session that is
	// detached, awaiting XEP-0198 resumption (push notifications). It is
	// fired by the session layer through Router.MessageHeld; the message
	// is already queued, so claiming it changes nothing.
	EventMessageHeld
	numEvents
)

var eventNames = [numEvents]string{"pre-route", "message/host", "message/bare", "message/full", "message/offline",
	"presence/host", "presence/bare", "presence/full", "presence/broadcast", "iq/host", "iq/bare", "iq/full", "on-behalf",
	"message/held"}

func (e Event) String() string {
	if e >= 0 && e < numEvents {
		return eventNames[e]
	}
	return fmt.Sprintf("Event(%d)", int(e))
}

// Handler handles a stanza at an event and reports whether it claimed it.
// A handler that claims a stanza is responsible for answering it.
type Handler func(ctx context.Context, st *Stanza) (claimed bool)

// SessionHook is told about a session's life: bound, or ended (with
// whether it was available, for the unavailable broadcast).
type SessionHook func(ctx context.Context, s Session, wasAvailable bool)

// Priorities: higher runs first. Modules use Default unless they must see a
// stanza before (policy) or after (fallbacks) the others.
const (
	PriorityEarly   = 100
	PriorityDefault = 0
	PriorityLate    = -100
)

type hookEntry struct {
	prio int
	id   uint64
	h    Handler
}

type sessionHookEntry struct {
	id uint64
	h  SessionHook
}

type hookTable struct {
	byEvent   [numEvents][]hookEntry
	bound     []sessionHookEntry
	ended     []sessionHookEntry
	delivered []deliveryHookEntry
}

// DeliveryHook observes a message the router delivered to local sessions:
// recipients are the sessions that accepted it (at least one). It runs on
// the routing path, so it must not block, and it must not modify st or
// st.El: the recipients may still be writing it out.
type DeliveryHook func(ctx context.Context, st *Stanza, recipients []Session)

type deliveryHookEntry struct {
	id uint64
	h  DeliveryHook
}

var hookIDs atomic.Uint64

func (r *Router) updateHooks(f func(t *hookTable)) {
	r.hookMu.Lock()
	defer r.hookMu.Unlock()
	old := r.hooks.Load()
	next := &hookTable{}
	for i := range old.byEvent {
		next.byEvent[i] = slices.Clone(old.byEvent[i])
	}
	next.bound = slices.Clone(old.bound)
	next.ended = slices.Clone(old.ended)
	next.delivered = slices.Clone(old.delivered)
	f(next)
	r.hooks.Store(next)
}

// Hook adds a handler for an event and returns the function that removes it.
func (r *Router) Hook(ev Event, prio int, h Handler) (remove func()) {
	id := hookIDs.Add(1)
	r.updateHooks(func(t *hookTable) {
		l := append(t.byEvent[ev], hookEntry{prio: prio, id: id, h: h})
		slices.SortStableFunc(l, func(a, b hookEntry) int { return b.prio - a.prio })
		t.byEvent[ev] = l
	})
	return func() {
		r.updateHooks(func(t *hookTable) {
			t.byEvent[ev] = slices.DeleteFunc(t.byEvent[ev], func(e hookEntry) bool { return e.id == id })
		})
	}
}

// OnSessionBound adds a hook run after a session is bound.
func (r *Router) OnSessionBound(h SessionHook) (remove func()) {
	id := hookIDs.Add(1)
	r.updateHooks(func(t *hookTable) { t.bound = append(t.bound, sessionHookEntry{id, h}) })
	return func() {
		r.updateHooks(func(t *hookTable) {
			t.bound = slices.DeleteFunc(t.bound, func(e sessionHookEntry) bool { return e.id == id })
		})
	}
}

// OnSessionEnded adds a hook run after a session is unbound.
func (r *Router) OnSessionEnded(h SessionHook) (remove func()) {
	id := hookIDs.Add(1)
	r.updateHooks(func(t *hookTable) { t.ended = append(t.ended, sessionHookEntry{id, h}) })
	return func() {
		r.updateHooks(func(t *hookTable) {
			t.ended = slices.DeleteFunc(t.ended, func(e sessionHookEntry) bool { return e.id == id })
		})
	}
}

// OnMessageDelivered adds a hook run after the router itself delivers a
// message to local sessions: to the resources of a bare JID (RFC 6121
// §8.5.2) or to the session bound to a full JID, with the sessions whose
// Send accepted it. It is not run for a message a hook claimed, nor when no
// session accepted it (the message then went to EventMessageOffline, or
// was bounced or dropped). Carbons use it to copy a message to the
// resources that did not get it.
func (r *Router) OnMessageDelivered(h DeliveryHook) (remove func()) {
	id := hookIDs.Add(1)
	r.updateHooks(func(t *hookTable) { t.delivered = append(t.delivered, deliveryHookEntry{id, h}) })
	return func() {
		r.updateHooks(func(t *hookTable) {
			t.delivered = slices.DeleteFunc(t.delivered, func(e deliveryHookEntry) bool { return e.id == id })
		})
	}
}

// trackDeliveries reports whether any delivery hook is installed, so that
// routing collects recipients only when someone will look at them.
func (r *Router) trackDeliveries() bool { return len(r.hooks.Load().delivered) > 0 }

// messageDelivered runs the delivery hooks, a panicking one logged and
// skipped: the message is already delivered.
func (r *Router) messageDelivered(ctx context.Context, st *Stanza, recipients []Session) {
	if len(recipients) == 0 {
		return
	}
	for _, e := range r.hooks.Load().delivered {
		func() {
			defer func() {
				if p := recover(); p != nil {
					r.log.Error("delivery hook panicked", "from", st.From.String(), "to", st.To.String(),
						"panic", p, "stack", string(debug.Stack()))
				}
			}()
			e.h(ctx, st, recipients)
		}()
	}
}

// SessionBound runs the bound hooks; the session layer calls it once the
// bind result is queued.
func (r *Router) SessionBound(ctx context.Context, s Session) {
	for _, e := range r.hooks.Load().bound {
		r.safeSessionHook(ctx, e.h, s, false)
	}
}

// SessionEnded unbinds s and runs the ended hooks if it was still bound.
func (r *Router) SessionEnded(ctx context.Context, s Session) {
	wasBound, wasAvailable := r.Unbind(s)
	if !wasBound {
		return
	}
	for _, e := range r.hooks.Load().ended {
		r.safeSessionHook(ctx, e.h, s, wasAvailable)
	}
}

func (r *Router) safeSessionHook(ctx context.Context, h SessionHook, s Session, avail bool) {
	defer func() {
		if p := recover(); p != nil {
			r.log.Error("session hook panicked", "jid", s.JID().String(), "panic", p, "stack", string(debug.Stack()))
		}
	}()
	h(ctx, s, avail)
}

// fire runs the handlers of an event until one claims the stanza. A
// panicking handler claims it: the sender gets internal-server-error and
// the server goes on.
func (r *Router) fire(ctx context.Context, ev Event, st *Stanza) bool {
	for _, e := range r.hooks.Load().byEvent[ev] {
		if r.safeHandle(ctx, ev, e.h, st) {
			return true
		}
	}
	return false
}

func (r *Router) safeHandle(ctx context.Context, ev Event, h Handler, st *Stanza) (claimed bool) {
	defer func() {
		if p := recover(); p != nil {
			r.log.Error("stanza handler panicked", "event", ev.String(), "from", st.From.String(),
				"panic", p, "stack", string(debug.Stack()))
			r.Error(ctx, st, xmppcore.NewError(stanza.InternalServerError, ""))
			claimed = true
		}
	}()
	return h(ctx, st)
}
