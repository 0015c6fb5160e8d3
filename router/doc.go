// Package router owns the session registry (bare JID -> bound resources,
// with each resource's availability and priority) and THE delivery rules of
// RFC 6120 §10 and RFC 6121 §8.5. Every stanza that leaves the session that
// received it goes through Router.Route; nothing else decides where a stanza
// goes.
//
// Routing by the class of the 'to' address:
//
//	to                        kind      handled by (first that claims it)
//	------------------------  --------  --------------------------------------------------
//	(absent)                  message   as if to the sender's bare JID (RFC 6120 §10.3.1)
//	(absent)                  presence  EventPresenceBroadcast hooks (availability is
//	                                    recorded first)
//	(absent)                  iq        EventIQBare hooks with To = sender's bare JID
//	local host                any       EventXHost hooks; unclaimed get/set IQ ->
//	                                    service-unavailable; anything else dropped
//	local bare JID            message   EventMessageBare hooks; else chat/normal -> the
//	                                    available resources of highest non-negative
//	                                    priority, headline -> all non-negative,
//	                                    groupchat -> service-unavailable, error -> drop;
//	                                    none available -> EventMessageOffline hooks, else
//	                                    chat/normal -> service-unavailable
//	local bare JID            presence  EventPresenceBare hooks; else all available
//	                                    resources
//	local bare JID            iq        EventIQBare hooks; else get/set ->
//	                                    service-unavailable
//	local full JID, bound     any       EventXFull hooks; else that resource
//	local full JID, unbound   message   chat -> as if to the bare JID; normal, groupchat ->
//	                                    service-unavailable; headline, error -> drop
//	local full JID, unbound   presence  dropped (subscription types: EventPresenceBare)
//	local full JID, unbound   iq        get/set -> service-unavailable; result/error dropped
//	unknown local user        any       message, iq get/set -> service-unavailable;
//	                                    presence -> dropped
//	component domain          any       the component
//	other domain              any       Remote when federation is on, else
//	                                    remote-server-not-found
//
// An error is never answered with an error, nor an IQ result with anything.
//
// After the router itself delivers a message to local sessions (the
// message/bare fallback or a bound full JID), the OnMessageDelivered hooks
// observe it with the sessions that accepted it (carbons copy it to the
// others).
//
// Lock order: a shard's lock is held only to read or change the registry,
// never while calling a hook, a component, or Session.Send. Hooks and
// components are copy-on-write lists read without a lock.
//
// The router must not parse stanza payloads, touch storage other than
// through the AccountExists function it is given, or block: Session.Send is a
// non-blocking enqueue.
package router
