// Package ping answers XEP-0199 pings addressed to the server, and pings
// addressed to a local user's bare JID, which XEP-0199 §4.2 and §4.4 say
// the server answers on the user's behalf (a ping meant for a client goes
// to its full JID and reaches the client). Pings sent without 'to' reach
// the server's handler through the registry's fallback.
//
// Server-initiated keepalive pings are the session layer's business, not
// this module's.
package ping
