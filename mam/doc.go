// Package mam implements XEP-0313 (Message Archive Management,
// urn:xmpp:mam:2 with urn:xmpp:mam:2#extended) for users' archives, the
// XEP-0441 preferences, and the XEP-0359 stanza-ids that name archived
// messages.
//
// What is archived: one-to-one messages of type chat or normal (and
// unknown types, which the router handles as normal) that carry a body,
// or one of the payloads conversations use without a body (encryption,
// receipts and markers, call signalling, reactions, retractions,
// invitations), or the XEP-0334 <store/> hint; never groupchat, headline
// or error, nor anything with <no-store/> or <no-permanent-store/>. Each
// is kept once per party: in the sender's archive when a local user sends
// it (pre-route, after the policy hooks such as blocking), and in the
// recipient's archive when it reaches a local user (message/bare or
// message/full, before delivery and before offline storage). A message
// from a user to their own account is archived once, as received. The
// user's preferences decide last: the never list, then the always list,
// then the default (always, never, or roster: contacts in the roster).
//
// Stanza-ids: the archived copy delivered to the recipient carries
// <stanza-id by='recipient@host' id='…'/>, the archive UID, and any
// stanza-id by the same JID that came with the message is removed first
// (XEP-0359 §4). Offline storage keeps the message as stamped, so the
// copy delivered at login carries the same stanza-id as the archive entry
// a XEP-0313 client may fetch: clients dedupe on it. The sender's own
// stanza-id is added during pre-route for the sender's other resources
// (carbons copy the message with it, as XEP-0313 §4 asks) and removed
// before the message leaves: the addressee never sees it.
//
// Preferences are read through a cache, as both parties of every message
// need them: a change made here applies at once, a user's entry is
// forgotten when their last session ends (so an account removed and made
// again does not keep the old one's choice), and a change made by another
// process on the same database is seen within DefaultPrefsCacheTTL (the
// cache is expired by generations from Start).
//
// Writes never wait on the routing path: entries go to a bounded queue
// that one writer drains in batches (group commit). A full queue leaves a
// message unarchived and without stanza-id, logged. A query or metadata
// request first waits (briefly) for the queue to be written, so it sees
// what was routed before it; Stop writes what is queued.
//
// Queries (IQ set, to the user's own bare JID only, else forbidden): the
// form fields with (bare: any resource; full: exactly), start, end,
// after-id, before-id and ids; RSM max (DefaultPageSize when absent,
// lowered to MaxPageSize), after, before (empty: the last page) and
// index; <flip-page/>. Results go to the requesting resource as
// <message><result queryid id><forwarded><delay/><message
// xmlns='jabber:client'/></forwarded></result></message>, then the IQ
// result carries <fin complete='true|false'> with the RSM first (with its
// index), last and count. An unknown ID in after-id, before-id, ids,
// after or before is item-not-found; a date or number that does not parse
// is bad-request; a form field this server does not know is
// feature-not-implemented (XEP-0313 §4.1.5). A get of <query/> returns the
// form, a get of <metadata/> the first and last entries, and <prefs/> gets
// and sets the preferences.
//
// With Options.Retention, entries older than that are purged every
// Options.PurgeInterval, from Start.
package mam
