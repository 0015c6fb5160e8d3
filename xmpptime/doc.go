// Package xmpptime answers XEP-0202 entity time queries addressed to the
// server (or sent without 'to'): the UTC time and the offset of the
// server's local time zone. It is not called time so that it can be
// imported next to the standard library's package.
//
// The offset tells requesters roughly where the server runs (XEP-0202 §6);
// operators who mind run the server in UTC.
package xmpptime
