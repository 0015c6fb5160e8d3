// Package muc is the XEP-0045 (Multi-User Chat) service: one service per
// served host, on conference.<host> (Options.Subdomain), registered with
// the router as the component of that domain, so that every stanza to the
// service, a room (room@conference.host) or an occupant
// (room@conference.host/nick) comes to Deliver.
//
// What it does, by XEP-0045 section:
//   - §6 disco: the service (conference/text, public rooms as items), rooms
//     (muc_* features, muc#roominfo form, occupants listed to occupants
//     only), the x-roomuser-item node, and no #traffic filtering.
//   - §7 occupants: joining (password, members-only, bans, nickname
//     conflicts and reservations, max users, locked rooms, several
//     sessions under one nickname), discussion history with
//     maxchars/maxstanzas/seconds/since, the subject, groupchat and
//     private messages, nickname and availability changes, mediated
//     invitations and declines, registration (jabber:iq:register, which
//     makes a user a member at once in a room anyone may enter, and in a
//     members-only room sends the owners and admins the approval form of
//     §9.9: register.go), voice requests, leaving.
//   - §8-§10: kick, voice, ban, membership, moderator, admin and owner
//     changes with the rules of §5 on who may change whom, their lists
//     (get and set, all items or none), instant and reserved rooms,
//     configuration (muc#roomconfig, with the full lists of admins and
//     owners, roomadmins and roomowners, and the roles that may retrieve
//     the member list, getmemberlist), destruction with an alternate venue.
//   - §18.1.3 ghosts: a delivery error from an occupant's real JID removes
//     that session with status 333. A local session leaves its rooms when
//     it ends (router.OnSessionEnded) or broadcasts unavailable presence
//     (router.EventPresenceBroadcast), since the presence module does not
//     send the unavailable presence that ends directed presence to
//     components; unavailable presence from a full JID with no session
//     (as the server sends it for a user) is processed like any other.
//   - XEP-0410 self-ping (answered by the room), XEP-0421 occupant ids
//     (HMAC of room and real bare JID under Options.OccupantIDSecret) on
//     every presence and message, XEP-0359 stanza ids by the room on
//     groupchat messages; XEP-0249 direct invitations are between clients
//     and pass through private messages untouched.
//   - XEP-0313 on the room's JID (archive.go) for rooms with archiving on:
//     groupchat messages with a body (the client's own muc#user <x/>
//     stripped), by the room's stanza-id, queued on the message path and
//     written by one goroutine at a time; queries (occupants; else
//     members; else anyone in a public, open room without a password)
//     wait for the queue and are read by module/mamquery, the parser the
//     user archive uses too. 'with' an occupant JID selects a nickname,
//     the room's JID everything, another JID a sender's real JID, which
//     only those who may see real JIDs may use (forbidden otherwise);
//     results carry the real JID to them. The archive of a room goes with
//     the room: deleted through the same queue when a temporary room ends
//     or an owner destroys a room; Options.ArchiveRetention purges old
//     entries. XEP-0425 moderation (moderate.go):
//     a moderator retracts a message by stanza-id, the room broadcasts the
//     retraction, drops it from the history and keeps a tombstone in the
//     archive.
//   - XEP-0486 room avatars (avatar.go): the room's vcard-temp, which
//     anyone gets and owners set, kept with its configuration; the
//     photos' SHA-1 in muc#roominfo_avatarhash, status 104 on a change.
//
// Rooms live in memory while used: a persistent room is loaded from
// storage.MUC when first addressed and unloaded after Options.IdleTimeout
// without occupants; a temporary room is destroyed when its last occupant
// leaves. Storage is written only on configuration, subject and
// affiliation changes and moderation, never on the path of a message or a
// join (archived messages are queued and written later).
//
// # Concurrency and fan-out
//
// Each live room has one mutex. A handler runs with it held and changes
// the room's state; everything it sends is queued on the room, in the
// order of the changes. Once the mutex is released the queue is drained
// by one goroutine at a time (whoever finds it undrained): stanzas reach
// every occupant in the same order, the mutex is never held while
// routing, and a handler re-entered from routing (a delivery error
// bounced back at once) only queues. Session.Send is a non-blocking
// enqueue, so a slow occupant never delays the others: its own bounded
// queue overflows and its session ends, which takes it out of its rooms.
//
// In a room of 256 sessions or more the drain runs on a goroutine of its
// own, so that the reader of the session whose message caused it is not
// kept delivering to thousands; and a fan-out to 1,024 recipients or more
// is split between up to GOMAXPROCS goroutines, which all finish before
// the room's next stanza goes out (so each occupant still gets the room's
// order). Stop waits for these drains.
//
// A groupchat message is built once as a template (the occupant JID as
// 'from', the payload shared) and queued with a snapshot of the room's
// recipients, which is a copy-on-write slice: taking it is O(1) under the
// lock. Delivery makes a shallow clone per recipient that only adds 'to'.
// Each session knows its index in that slice, so a leave swaps the last
// entry into its place: in place when no snapshot is out, else after one
// copy (paid for by the fan-out that took the snapshot), so leaves are
// O(1) amortized and a mass departure is linear. Presence of an occupant
// is likewise built once per variant (with or without real JIDs) and
// cached until it changes, and occupants are indexed by role, so a join
// costs what it sends: the newcomer's presence to the n occupants and n
// presences to the newcomer, or, in a large room (below), only those of
// the broadcast roles, whatever the room's size.
//
// # Overload policy for very large rooms
//
// Presence is what grows with the square of a room's size: every join,
// leave and status change goes to everyone. Options.LargeRoom sets the
// number of occupants from which a room broadcasts only the presence of
// the roles in Options.LargeRoomRoles (moderators by default): ordinary
// participants and visitors then join, leave and change status without
// the others hearing of it, and newcomers receive only the presence of
// those roles. Each occupant still gets its own presence (status 110) and
// every message; messages from occupants whose presence was not seen
// still carry their occupant id. It is off by default (0), since clients
// show such senders without presence. muc#roomconfig_presencebroadcast
// does the same per room, chosen by its owner.
//
// Messages are limited per occupant by a token bucket
// (Options.MessageRate and MessageBurst); over the limit the sender gets
// a policy-violation error of type wait, as Prosody's mod_muc_limits
// answers, and nothing is reflected. Owners and admins are not limited.
//
// What a room has queued for delivery is bounded too: while 1,000
// stanzas or fan-outs wait for its drain (occupants sending faster than
// the server delivers), a groupchat message is refused with
// resource-constraint of type wait, nothing reflected or archived, so a
// room's memory does not grow without bound; each session's own queue is
// bounded by c2s.
//
// The package must not import other feature packages, hold a room's mutex
// while routing, or touch storage on the message path.
package muc
