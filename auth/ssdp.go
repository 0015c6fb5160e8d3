package auth

import (
	"encoding/base64"
	"slices"
	"strings"
)

// DowngradeProtection is what a stream advertised before authentication,
// for XEP-0474 (SASL SCRAM Downgrade Protection): SCRAM then sends, in its
// server-first-message, the attribute "h" with a hash of it, which the
// client checks against what it saw and which the client's proof then
// covers.
type DowngradeProtection struct {
	// Mechanisms are the mechanisms of the SASL profile in use (RFC 6120
	// <mechanisms/> or XEP-0388 <authentication/>; not both, and not the
	// FAST mechanisms of XEP-0484, which are advertised elsewhere).
	Mechanisms []string
	// ChannelBindings are the XEP-0440 channel-binding types advertised;
	// nil when XEP-0440 was not used on the stream.
	ChannelBindings []string
}

// SSDP delimiters (XEP-0474 §Protocol): neither can occur in XML 1.0.
const (
	ssdpItemSep  = "\x1e"
	ssdpGroupSep = "\x1f"
)

// ssdpInput returns the string XEP-0474 hashes: the mechanisms sorted by
// octet, joined by 0x1E, then, when XEP-0440 was used, 0x1F and the
// channel-binding types sorted and joined the same way.
func (d *DowngradeProtection) ssdpInput() string {
	mechs := slices.Clone(d.Mechanisms)
	slices.Sort(mechs) // Go compares strings by bytes: RFC 4790's i;octet
	s := strings.Join(mechs, ssdpItemSep)
	if d.ChannelBindings != nil {
		cbs := slices.Clone(d.ChannelBindings)
		slices.Sort(cbs)
		s += ssdpGroupSep + strings.Join(cbs, ssdpItemSep)
	}
	return s
}

// SSDP returns the base64 value of the "h" attribute for the SCRAM
// mechanism mech, or "" if mech is not SCRAM.
func (d *DowngradeProtection) SSDP(mech string) string {
	h, ok := scramHashFor(mech)
	if !ok {
		return ""
	}
	return base64.StdEncoding.EncodeToString(hashSum(h, []byte(d.ssdpInput())))
}
