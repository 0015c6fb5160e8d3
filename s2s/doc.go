// Package s2s is federation: server-to-server streams (RFC 6120) in both
// directions, on the standard port with STARTTLS and with XEP-0368 direct
// TLS. It finds remote servers by DNS SRV (_xmpps-server._tcp, then
// _xmpp-server._tcp, then the domain on port 5269) or by a static map,
// authenticates them by certificate (SASL EXTERNAL with RFC 6125 name
// checks) or by Server Dialback (XEP-0220, keys derived from the server
// secret, additional domains piggybacked on an authenticated stream), and
// uses XEP-0288 bidirectional streams.
//
// Service implements router.Remote: the router hands it every stanza for a
// domain that is neither a local host nor a component. Stanzas wait in a
// bounded per-domain queue while a stream is set up, and bounce with
// remote-server-not-found or remote-server-timeout if that fails. What a
// remote server sends goes to router.Route, and only for a (from, to)
// domain pair that the stream authenticated: a stanza from any other
// domain closes the stream with invalid-from, and nothing from an
// unauthenticated domain is ever routed.
//
// Policy lives here too: with federation off, no connection is made to or
// accepted from any domain except those in the allow list; denied domains
// are never reached.
//
// It must not make routing decisions for local addresses (the router does),
// nor parse stanza payloads: it only checks addresses.
package s2s
