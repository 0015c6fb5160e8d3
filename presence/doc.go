// Package presence implements presence subscriptions and presence
// broadcast for local accounts (RFC 6121 §3, §4 and Appendix A).
//
// It owns:
//   - the subscription state machine: outbound subscription stanzas (the
//     user's, seen at EventPreRoute) are applied to the user's roster item
//     and, when the tables say so, routed anew stamped with both bare JIDs;
//     inbound ones (EventPresenceBare/Full, from any domain) are applied to
//     the addressee's item and delivered to its available resources, or
//     answered on its behalf (subscribe from a subscribed or pre-approved
//     contact). Pre-approval (§3.4) is supported and advertised with the
//     urn:xmpp:features:pre-approval stream feature. Every change is pushed
//     through the roster module's Push;
//   - subscription requests not yet answered, kept in AccountData
//     (storage.DataSubscribeRequest) and presented again at each initial
//     presence until answered;
//   - the broadcast of presence without 'to' to the contacts subscribed to
//     the user and to the user's own available resources (the sender
//     included, §4.2.2), probes at initial presence, answers to probes,
//     unavailable presence when a session ends while available, and the
//     tracking of directed presence (§4.6) so that its targets hear of the
//     session going away;
//   - the unsubscribe/unsubscribed (and unavailable) that removing a roster
//     item implies (§2.5.2), through the roster module's OnRemove.
//
// Probes of local contacts are answered in process, straight to the
// resource that became available: the contact's roster is checked as the
// contact's server would. Presence the server generates on its own
// (broadcasts, probes, auto-replies, unavailable at logout) goes to other
// domains only with WithFederation, so that a server without s2s never
// answers the user with remote-server-not-found for stanzas the user did
// not send. Stanzas the user sends explicitly are always routed.
//
// A user is implicitly subscribed to itself: a subscribe to one's own bare
// JID is answered with subscribed and changes nothing; the other
// subscription types addressed to oneself are dropped.
//
// It must not: answer IQs, touch message routing, deliver presence that
// the router delivers by its own rules (available and unavailable presence
// to a bare or full JID, presence errors), check presence types (c2s
// refuses unknown ones), or import another feature package.
//
// Known limits: the last unavailable presence used to answer probes of an
// offline account is kept in memory, so after a restart a probe is answered
// with a bare unavailable presence without <delay/>; presence from a
// replaced session (resource conflict) is not followed by unavailable, the
// new session taking over its full JID.
package presence
