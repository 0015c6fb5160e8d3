// Package version answers XEP-0092 software version queries addressed to
// the server (or sent without 'to'): name "Parley" and the build version.
//
// The operating system is left out unless the operator asks for it:
// XEP-0092 §5 requires a way to hide it, and naming the OS helps an
// attacker pick exploits for no benefit to users. Queries to a user's bare
// JID are not answered here: software version belongs to a client, which
// is queried at its full JID.
package version
