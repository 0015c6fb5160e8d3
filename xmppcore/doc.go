// Package xmppcore is the one in-memory representation of XML that every
// other Parley package shares: the Element tree, its parser for an XMPP
// stream (with the limits that keep an untrusted peer from exhausting
// memory), its serializer, and the stanza and stream error helpers.
//
// A stanza is parsed once by the session that receives it, routed as an
// *Element, and serialized by each session that sends it. Elements in the
// stream's content namespace (jabber:client or jabber:server) carry the empty
// namespace, so one tree can be written to a client stream or a server
// stream without rewriting.
//
// This package must not know about sessions, routing, storage or any XEP
// beyond the core stream: it is the bottom tier, imported by everything.
// An Element handed to the router is treated as immutable from then on:
// whoever needs a changed copy calls Clone first.
package xmppcore
