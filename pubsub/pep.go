package pubsub

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync"

	"mellium.im/xmpp/jid"

	"parley.im/parley/module"
	"parley.im/parley/router"
	"parley.im/parley/storage"
	"parley.im/parley/xmppcore"
)

// Defaults of Options.
const (
	// DefaultMaxItemSize bounds an item's payload, serialized, in bytes:
	// room for an avatar of a few hundred pixels in base64, under the
	// default stanza size limit of 256 KiB.
	DefaultMaxItemSize = 192 << 10
	// DefaultMaxItems is the most items a node may keep, the value of
	// pubsub#max_items "max".
	DefaultMaxItems = 256
	// DefaultNodeMaxItems is pubsub#max_items of a node created without
	// saying: one, the current value (XEP-0163 §3 "smart defaults").
	DefaultNodeMaxItems = 1
	// DefaultMaxNodes bounds the nodes of one account.
	DefaultMaxNodes = 256
	// DefaultMaxSubscriptions bounds the explicit subscriptions to a node.
	DefaultMaxSubscriptions = 1000
	// DefaultCapsCacheSize bounds the XEP-0115 verification strings
	// remembered.
	DefaultCapsCacheSize = 4096
)

// Options configures the PEP service. A zero field takes its default.
type Options struct {
	MaxItemSize      int
	MaxItems         int
	NodeMaxItems     int // pubsub#max_items of new nodes
	MaxNodes         int
	MaxSubscriptions int
	CapsCacheSize    int
	// Federation lets notifications, last items and caps queries go to
	// JIDs of other domains. Without it only local JIDs get them: with
	// s2s off the router would answer each with remote-server-not-found.
	Federation bool
}

func (o *Options) fill() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.MaxItemSize, DefaultMaxItemSize)
	def(&o.MaxItems, DefaultMaxItems)
	def(&o.NodeMaxItems, DefaultNodeMaxItems)
	o.NodeMaxItems = min(o.NodeMaxItems, o.MaxItems)
	def(&o.MaxNodes, DefaultMaxNodes)
	def(&o.MaxSubscriptions, DefaultMaxSubscriptions)
	def(&o.CapsCacheSize, DefaultCapsCacheSize)
}

// Store is what the PEP service needs from storage: its nodes, and the
// owners' rosters for the access models.
type Store interface {
	storage.PubSub
	storage.Roster
}

// PEP is the personal eventing service of every local account (XEP-0163)
// on the XEP-0060 engine of this package.
type PEP struct {
	store Store
	opts  Options
	caps  *capsCache

	mu  sync.Mutex
	rt  *router.Router
	log *slog.Logger
	// remote holds what is known of remote contacts' resources, with
	// Federation: by local bare JID, the full JIDs that sent it available
	// presence and their caps.
	remote map[string]map[string]capsRef
}

var (
	_ module.Module       = (*PEP)(nil)
	_ module.AccountNodes = (*PEP)(nil)
)

// NewPEP returns the PEP module.
func NewPEP(store Store, opts Options) *PEP {
	opts.fill()
	return &PEP{store: store, opts: opts, caps: newCapsCache(opts.CapsCacheSize),
		log: slog.Default(), remote: map[string]map[string]capsRef{}}
}

// Name implements module.Module.
func (*PEP) Name() string { return "pep" }

// features are the XEP-0060 features the service implements, advertised
// on every account and on the server (XEP-0223 §6 asks the server).
var features = []string{
	NS,
	NS + "#access-open",
	NS + "#access-presence",
	NS + "#access-roster",
	NS + "#access-whitelist",
	NS + "#auto-create",
	NS + "#auto-subscribe",
	NS + "#config-node",
	NS + "#config-node-max",
	NS + "#create-and-configure",
	NS + "#create-nodes",
	NS + "#delete-items",
	NS + "#delete-nodes",
	NS + "#filtered-notifications",
	NS + "#item-ids",
	NS + "#last-published",
	NS + "#manage-subscriptions",
	NS + "#member-affiliation",
	NS + "#meta-data",
	NS + "#modify-affiliations",
	NS + "#outcast-affiliation",
	NS + "#persistent-items",
	NS + "#presence-notifications",
	NS + "#presence-subscribe",
	NS + "#publish",
	NS + "#publish-options",
	NS + "#publish-only-affiliation",
	NS + "#publisher-affiliation",
	NS + "#purge-nodes",
	NS + "#retract-items",
	NS + "#retrieve-affiliations",
	NS + "#retrieve-default",
	NS + "#retrieve-items",
	NS + "#retrieve-subscriptions",
	NS + "#subscribe",
	NS + "#subscription-notifications",
}

// Register declares the service: features and the pubsub/pep identity on
// accounts and the server, the IQ handlers of the pubsub namespaces on
// accounts, the account nodes for disco, and the hooks that learn
// resources' caps and send last items at initial presence.
func (p *PEP) Register(r *module.Registrar) error {
	p.mu.Lock()
	p.rt, p.log = r.Router, r.Logger
	p.mu.Unlock()
	for _, target := range []module.Target{module.Account, module.Server} {
		for _, f := range features {
			r.Feature(target, f)
		}
		r.Identity(target, module.Identity{Category: "pubsub", Type: "pep"})
	}
	r.IQ("get", NS, "pubsub", module.Account, p.handleGet)
	r.IQ("set", NS, "pubsub", module.Account, p.handleSet)
	r.IQ("get", NSOwner, "pubsub", module.Account, p.handleOwnerGet)
	r.IQ("set", NSOwner, "pubsub", module.Account, p.handleOwnerSet)
	r.AccountNodes(p)
	// Late: after presence has broadcast, so that contacts see the user
	// before the user sees their last items.
	r.Hook(router.EventPresenceBroadcast, router.PriorityLate, p.onBroadcast)
	r.Hook(router.EventIQBare, router.PriorityEarly, p.onIQReply)
	if p.opts.Federation {
		r.Hook(router.EventPresenceBare, router.PriorityEarly, p.onRemotePresence)
		r.Hook(router.EventPresenceFull, router.PriorityEarly, p.onRemotePresence)
	}
	r.OnSessionEnded(p.sessionEnded)
	return nil
}

func (p *PEP) router() *router.Router {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rt
}

func (p *PEP) logger() *slog.Logger {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log
}

// service is the PEP service of a local bare JID.
func service(owner jid.JID) storage.PubSubService {
	return storage.PubSubService{Host: owner.Domainpart(), Username: owner.Localpart()}
}

// canRoute says whether the server may send on its own to j.
func (p *PEP) canRoute(j jid.JID) bool {
	return p.opts.Federation || p.router().IsLocalHost(j.Domainpart())
}

// newID returns a random identifier for items, subscriptions and stanzas.
func newID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// serialize writes a payload as stored: in the client namespace.
func serialize(el *xmppcore.Element) []byte {
	return el.AppendXML(nil, xmppcore.NSClient)
}

const streamHeader = `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`

// parsePayload reads back a stored payload; nil for none.
func parsePayload(b []byte) (*xmppcore.Element, error) {
	if len(b) == 0 {
		return nil, nil
	}
	r := xmppcore.NewReader(bytes.NewReader(append([]byte(streamHeader), b...)),
		xmppcore.Limits{MaxStanzaSize: max(len(b)+1024, xmppcore.DefaultLimits.MaxStanzaSize)})
	if _, err := r.ReadHeader(); err != nil {
		return nil, err
	}
	el, err := r.Next()
	if err != nil {
		return nil, fmt.Errorf("stored payload: %w", err)
	}
	return el, nil
}

// itemElement is <item id='…'>payload</item> in ns, the payload read from
// storage.
func (p *PEP) itemElement(ns string, it storage.PubSubItem, withPayload bool) *xmppcore.Element {
	el := xmppcore.New(ns, "item", "id", it.ID)
	if !withPayload {
		return el
	}
	payload, err := parsePayload(it.Payload)
	if err != nil {
		p.logger().Error("unreadable pubsub item", "id", it.ID, "err", err)
		return el
	}
	if payload != nil {
		el.Append(payload)
	}
	return el
}
