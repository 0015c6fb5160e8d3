// Package offline stores messages for users who have no resource to take
// them and delivers them at the user's next available presence, as
// XEP-0160 (Best Practices for Handling Offline Messages) describes.
//
// What is stored: messages the router hands to EventMessageOffline (chat,
// normal and unknown types: the router never offers groupchat, headline or
// error there) unless they carry the XEP-0334 <no-store/> hint, which the
// sender uses to ask that nothing keep the message even for a while: the
// router then answers service-unavailable, as it does when nothing stores
// a message. <no-permanent-store/> does not prevent offline storage: that
// hint is about archives and logs, and XEP-0334 §4 names delivery to an
// offline recipient as the temporary storage it still allows. A message
// with nothing worth keeping (only XEP-0085 chat states, hints, a thread or
// stanza ids: XEP-0160 §3) is claimed and dropped without an error, unless
// it carries <store/>.
//
// A user holds at most Options.Limit messages; past that the sender gets
// service-unavailable (XEP-0160 §2 step 3) and the message is not kept.
//
// Delivery: when a resource becomes available with a non-negative
// priority (its initial presence, or the first presence with a
// non-negative priority after an initial presence with a negative one),
// the stored messages go to that resource in arrival order, each with a
// XEP-0203 <delay/> from the host carrying the time the server received
// it. Only the messages the session accepted are then deleted; the rest
// wait for the next time.
//
// The module must not route stored messages through the router again
// (they are for one resource) and keeps no message in memory.
package offline
