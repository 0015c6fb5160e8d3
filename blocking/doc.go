// Package blocking implements XEP-0191 (Blocking Command, version 1.3):
// a user's list of blocked JIDs, its retrieval and changes through
// IQs to the user's own account, pushes of every change to the resources
// that retrieved the list (§3.3, §3.4, §3.5), and the effects of a block
// on routing.
//
// Effects, for a user U who blocked a JID B (matching per §3.4 below):
//
//   - Outbound (EventPreRoute, stanzas from U's sessions to B): messages
//     and IQ get/set are answered with <not-acceptable/> carrying
//     <blocked xmlns='urn:xmpp:blocking:errors'/> (§3.3.1); errors, IQ
//     results and presence are dropped without an answer (an error for
//     each presence the client's broadcast sends would be noise).
//   - Inbound (stanzas from B to U's bare or full JID, at PriorityEarly so
//     that no other module sees them first): presence is dropped without
//     an answer, messages and IQ get/set get service-unavailable as
//     §3.3.1 of version 1.3 says, so that U looks offline; errors and IQ
//     results are dropped.
//   - On block, each of U's available resources sends unavailable presence
//     to B; on unblock, its current presence. With Options.Roster set, only
//     to contacts with a subscription from or both (§3.3.1 "only if the
//     JID is allowed to receive presence notifications"), including the
//     contacts of a blocked domain; without it, to the blocked JIDs that
//     have a localpart.
//
// §3.4 matching: an item user@domain/resource matches only that full JID;
// user@domain any of its resources; domain/resource only that JID;
// domain the domain itself and every JID at it. Stanzas between U's own
// resources, and from the local server itself, are never blocked.
//
// The list of a user with at least one session is cached in memory from
// its first use until the user's last session ends, so routing does not
// read the database per stanza; a stanza for a user without a session
// reads the list from storage (no cache to forget later). Every change is
// written to storage first, then applied to the cache, one change per user
// at a time.
package blocking
