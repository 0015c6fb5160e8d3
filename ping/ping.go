package ping

import (
	"context"

	"parley.im/parley/module"
	"parley.im/parley/xmppcore"
)

// NS is the XEP-0199 namespace.
const NS = "urn:xmpp:ping"

// Ping is the XEP-0199 module.
type Ping struct{}

var _ module.Module = (*Ping)(nil)

// New returns the ping module.
func New() *Ping { return &Ping{} }

// Name implements module.Module.
func (*Ping) Name() string { return "ping" }

// Register answers pings to the server and to bare JIDs and advertises the
// feature on both, so that disco on either tells the truth.
func (*Ping) Register(r *module.Registrar) error {
	for _, target := range []module.Target{module.Server, module.Account} {
		r.IQ("get", NS, "ping", target, pong)
		r.Feature(target, NS)
	}
	return nil
}

// pong is the empty result that XEP-0199 defines as the answer. Pinging a
// bare JID tells the requester that the account exists, but so does any
// other IQ to it: the router answers service-unavailable for unknown users.
func pong(context.Context, *module.IQ) (*xmppcore.Element, error) { return nil, nil }
