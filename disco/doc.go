// Package disco answers XEP-0030 service discovery for the server and, on
// their behalf, for local accounts.
//
// The server (a local host) is a server/im entity whose features are all
// the modules registered for module.Server and whose items are the
// registered component domains; XEP-0128 data forms can be added to its
// disco#info. An account (a local bare JID) is an account/registered entity
// with the features registered for module.Account; its items, and the
// disco#info and disco#items of its nodes, come from the modules
// registered as module.AccountNodes (PEP), which decide who may see them.
// An IQ without 'to' is the sender's own account (RFC 6120 §10.3.3).
//
// XEP-0030 §8 says a server must not reveal an account's disco#info to
// requesters not entitled to its presence. Until there is a roster to ask,
// every requester is answered; SetAccountPolicy is where the check goes.
// Unknown accounts never get here: the router answers service-unavailable
// for them, as §8 asks.
//
// A query naming a node of the server, or a node of an account that no
// module knows, gets item-not-found.
package disco
