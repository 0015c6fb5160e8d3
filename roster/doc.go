// Package roster implements the jabber:iq:roster protocol of RFC 6121 §2
// with XEP-0237 roster versioning: roster get (the full roster, or only the
// changes since the client's version, sent as pushes after an empty
// result), roster set (add or update an item's name and groups) and
// removal, and the roster pushes that tell a user's interested resources
// (those that requested the roster in their session) about every change.
//
// It owns:
//   - the wire form of roster items, and which stored items a client sees:
//     an item that only records a contact's pending inbound subscription
//     request (subscription none, PendingIn, nothing else) is hidden, as
//     RFC 6121 §3.1.3 asks that such a request not add the contact to the
//     roster (storage has no flag for "the user added it", so an item the
//     user added without name or groups is hidden too while a request from
//     that contact waits, and shows again once it is answered);
//   - the per-session record of interested resources (cleared when a
//     session ends or its resource is bound anew);
//   - the limits on roster size and on the size of an item.
//
// It must not:
//   - change subscription states or send presence: a client's
//     'subscription' other than "remove", 'ask' and 'approved' are
//     ignored, and the unsubscribe/unsubscribed stanzas that removing an
//     item implies (RFC 6121 §2.5.2) are left to the hooks registered with
//     OnRemove (the presence module);
//   - import another feature package: the presence module reaches it
//     through Push and OnRemove, which the server wires.
//
// Deviations, on purpose: a 'subscription' value outside the RFC's set
// (none, to, from, both, remove) is answered with bad-request rather than
// ignored; a roster item's JID must be bare (bad-request otherwise); the
// roster size limit is answered with policy-violation, since RFC 6121 names
// no condition for it and resource-constraint (type wait) would invite a
// retry that cannot succeed. Lengths are counted in bytes of UTF-8.
package roster
