package pubsub

import (
	"mellium.im/xmpp/stanza"

	"parley.im/parley/module"
	"parley.im/parley/xmppcore"
)

// Namespaces of XEP-0060 and of what it builds on.
const (
	NS               = "http://jabber.org/protocol/pubsub"
	NSOwner          = NS + "#owner"
	NSEvent          = NS + "#event"
	NSErrors         = NS + "#errors"
	NSNodeConfig     = NS + "#node_config"
	NSPublishOptions = NS + "#publish-options"
	NSMetaData       = NS + "#meta-data"
	NSCaps           = "http://jabber.org/protocol/caps"        // XEP-0115
	NSDiscoInfo      = "http://jabber.org/protocol/disco#info"  // XEP-0030
	NSDiscoItems     = "http://jabber.org/protocol/disco#items" // XEP-0030
	NSData           = "jabber:x:data"                          // XEP-0004
	NSDelay          = "urn:xmpp:delay"                         // XEP-0203
	NSAddress        = "http://jabber.org/protocol/address"     // XEP-0033
	NSSHIM           = "http://jabber.org/protocol/shim"        // XEP-0131
)

// pubsubErr is a stanza error with a pubsub#errors condition (XEP-0060
// §12.2 and the error cases of each use case).
func pubsubErr(cond stanza.Condition, app string, text string, attrs ...string) error {
	return module.AppError{Err: xmppcore.NewError(cond, text), App: xmppcore.New(NSErrors, app, attrs...)}
}

// withType changes the type of a pubsubErr, where the XEP's examples use
// another than RFC 6120 recommends for the condition.
func withType(err error, typ stanza.ErrorType) error {
	ae := err.(module.AppError)
	ae.Err.Type = typ
	return ae
}

// stanzaErr is a plain stanza error.
func stanzaErr(cond stanza.Condition, text string) error {
	return xmppcore.NewError(cond, text)
}

// unsupported is feature-not-implemented with <unsupported feature=.../>.
func unsupported(feature string) error {
	return pubsubErr(stanza.FeatureNotImplemented, "unsupported", "", "feature", feature)
}

var (
	errNodeNotFound    = stanzaErr(stanza.ItemNotFound, "")
	errForbidden       = stanzaErr(stanza.Forbidden, "")
	errNodeRequired    = pubsubErr(stanza.BadRequest, "nodeid-required", "")
	errInvalidJID      = pubsubErr(stanza.BadRequest, "invalid-jid", "")
	errNotSubscribed   = withType(pubsubErr(stanza.UnexpectedRequest, "not-subscribed", ""), stanza.Cancel)
	errInvalidSubID    = pubsubErr(stanza.NotAcceptable, "invalid-subid", "")
	errItemRequired    = pubsubErr(stanza.BadRequest, "item-required", "")
	errPayloadRequired = pubsubErr(stanza.BadRequest, "payload-required", "")
	errInvalidPayload  = pubsubErr(stanza.BadRequest, "invalid-payload", "")
	errItemForbidden   = pubsubErr(stanza.BadRequest, "item-forbidden", "")
	// The access models' refusals (§6.1.3.2-§6.1.3.4, §6.5.9).
	errPresenceRequired = pubsubErr(stanza.NotAuthorized, "presence-subscription-required", "")
	errNotInRosterGroup = pubsubErr(stanza.NotAuthorized, "not-in-roster-group", "")
	errClosedNode       = pubsubErr(stanza.NotAllowed, "closed-node", "")
)
