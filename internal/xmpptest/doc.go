// Package xmpptest runs a real Parley server inside a test — real TCP on
// 127.0.0.1, real TLS with a generated certificate, real storage in a
// temporary directory — and gives tests a raw XMPP client that speaks
// exactly the bytes they choose, for transcript tests of negotiation and
// routing.
//
// It is for tests only and must not be imported by production code.
package xmpptest
