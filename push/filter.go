package push

import "parley.im/parley/xmppcore"

// Namespaces of the payloads that make a message worth a notification, and
// of the wrappers looked through.
const (
	nsClient        = "jabber:client"
	nsCarbons       = "urn:xmpp:carbons:2"
	nsForward       = "urn:xmpp:forward:0"
	nsMAM           = "urn:xmpp:mam:2"
	nsOMEMO         = "urn:xmpp:omemo:2"
	nsOMEMOLegacy   = "eu.siacs.conversations.axolotl"
	nsOpenPGP       = "urn:xmpp:openpgp:0"
	nsLegacyPGP     = "jabber:x:encrypted"
	nsJingleMessage = "urn:xmpp:jingle-message:0"
	nsConference    = "jabber:x:conference"
	nsMUCUser       = "http://jabber.org/protocol/muc#user"
)

// Important reports whether a message is worth waking a phone for, as
// Prosody's mod_cloud_notify and Conversations see it: one a user reads
// (a body, an encrypted payload, a call proposal, a MUC invitation), or
// such a message received on another resource (a received carbon). Not:
// errors, headlines, chat states, receipts and markers alone, sent
// carbons (the user wrote them), archive query results.
func Important(msg *xmppcore.Element) bool {
	if msg == nil || msg.Local != xmppcore.Message || (msg.Space != "" && msg.Space != nsClient) {
		return false
	}
	switch msg.Attr("type") {
	case "error", "headline":
		return false
	}
	if msg.Child(nsCarbons, "sent") != nil || msg.Child(nsMAM, "result") != nil {
		return false
	}
	if r := msg.Child(nsCarbons, "received"); r != nil {
		inner := forwarded(r)
		return inner != nil && inner != msg && Important(inner)
	}
	if msg.ChildText(msg.Space, "body") != "" || encrypted(msg) {
		return true
	}
	if msg.Child(nsJingleMessage, "propose") != nil || msg.Child(nsConference, "x") != nil {
		return true
	}
	if x := msg.Child(nsMUCUser, "x"); x != nil && x.Child(nsMUCUser, "invite") != nil {
		return true
	}
	return false
}

// encrypted reports an end-to-end encrypted payload.
func encrypted(msg *xmppcore.Element) bool {
	return msg.Child(nsOMEMO, "encrypted") != nil || msg.Child(nsOMEMOLegacy, "encrypted") != nil ||
		msg.Child(nsOpenPGP, "openpgp") != nil || msg.Child(nsLegacyPGP, "x") != nil
}

// forwarded returns the message inside a carbon's <forwarded/>.
func forwarded(wrapper *xmppcore.Element) *xmppcore.Element {
	if f := wrapper.Child(nsForward, "forwarded"); f != nil {
		for ch := range f.Children() {
			if ch.Local == xmppcore.Message {
				return ch
			}
		}
	}
	return nil
}

// payloadMessage is the message a notification is about: the one inside
// a received carbon, else msg itself.
func payloadMessage(msg *xmppcore.Element) *xmppcore.Element {
	if r := msg.Child(nsCarbons, "received"); r != nil {
		if inner := forwarded(r); inner != nil {
			return inner
		}
	}
	return msg
}
