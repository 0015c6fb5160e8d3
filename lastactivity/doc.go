// Package lastactivity implements XEP-0012 (Last Activity).
//
// To the server (§4): the seconds since the module started, that is the
// server's uptime, to anyone.
//
// To a user's bare JID (§3.1), answered by the server on the user's
// behalf: the seconds since the user's last session ended and the status
// text of the unavailable presence that session sent, if any; 0 when the
// user has at least one connected resource, as §3.1 requires; and
// service-unavailable when nothing was ever recorded (the user never
// logged out since the feature exists). Only the user and the contacts
// allowed to see the user's presence (a roster item with subscription
// 'from' or 'both') may ask; others get forbidden (§3.1, §8: anything else
// would leak presence). For the same reason a request to one of the
// user's full JIDs from someone not allowed is answered forbidden by the
// server and never reaches the client (§3.2); an allowed one goes through.
//
// The time is recorded, in AccountData (kind storage.DataLastActivity,
// key ""), when the user's last session ends. The module must not write
// to storage for anything else: not on presence changes, which only
// remember the status text in memory until the session ends.
package lastactivity
