// Package carbons implements XEP-0280 (Message Carbons, urn:xmpp:carbons:2):
// each resource of an account turns carbons on or off for itself, and then
// sees both sides of the account's conversations, whichever resource they
// happen on.
//
// Enabling and disabling: an IQ set of <enable/> or <disable/> from the
// resource itself, addressed to its own account or to its server (or
// without 'to'). Repeating either is not an error (§8.1); a request for
// another account, or not from a local session, is not-allowed. The state
// lives with the session and ends with it.
//
// Received copies: when the router delivers a message to some of a user's
// resources (router.OnMessageDelivered: the resources that took it under
// RFC 6121 §8.5), each other resource that enabled carbons and is
// available gets <message from='user@host' to='its full JID'
// type='same'><received xmlns='urn:xmpp:carbons:2'><forwarded
// xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client'>the
// original</message></forwarded></received></message>. A message the user
// sent to their own account gives no copy to the resource that sent it.
//
// Sent copies: a message a local resource sends (pre-route, after the
// policy hooks and after archiving, so the copy carries the sender's
// XEP-0359 stanza-id when MAM runs) goes in a <sent/> wrapper to each of
// the user's other resources that enabled carbons, whether the sending one
// did or not (§7). Messages to the user's own account give received
// copies only.
//
// Eligible messages (§6.1): type chat; normal (or no, or an unknown type)
// with a body; any message with receipts, chat states or chat markers; MUC
// invitations (XEP-0249 direct, XEP-0045 mediated); an error only when it
// answers an eligible message of the same conversation (the last IDs of
// each user with carbons are remembered). Never: groupchat, headline,
// anything with <private xmlns='urn:xmpp:carbons:2'/> or <no-copy
// xmlns='urn:xmpp:hints'/> (§9, either suffices), a carbon copy itself,
// or a private message received from a MUC occupant (a full JID, with a
// muc#user <x/> that is not an invitation): the room sends those to each
// joined client itself. A private message the user sends to an occupant is
// copied like any chat message.
//
// Security (§11): the copies come only from the user's bare JID, a 'from'
// no client can send, and are sent straight to the sessions, never routed.
// A routed message that carries <sent/> or <received/> of this namespace
// from anyone but the recipient's bare JID is forged: it is dropped,
// without an answer, before any other module sees it.
package carbons
