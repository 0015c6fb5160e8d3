// Package private implements XEP-0049 (Private XML Storage): a user keeps
// arbitrary XML on the server, one element per namespace, readable and
// writable only by the user's own resources (a request to another user's
// account is forbidden, the preferred answer of §3).
//
// A get names exactly one element; the answer holds what is stored for its
// namespace, or the requested element itself when nothing is (§2.1). A get
// with no child, or with several, is a bad-request (the XEP's "Bad Format"
// is a stream error name; bad-request is the stanza condition for it). A
// set carries one or more elements, each replacing what is stored for its
// namespace (the last wins if two share one); a set without any is
// not-acceptable (§2). Elements in the reserved namespaces jabber:client
// (or unqualified), jabber:server and jabber:iq:private are refused with
// not-acceptable (§3, "Reserved namespaces"): storing them would make the
// answer ambiguous. Other namespaces the XEP calls reserved are accepted,
// as Prosody and ejabberd do, since clients use some of them.
//
// Options.MaxSize bounds what one account stores in all, in bytes of the
// serialized elements; a set that would exceed it is refused with
// not-acceptable and changes nothing.
//
// Data lives in AccountData (kind storage.DataPrivate, key = namespace),
// deleted with the account.
package private
