package disco

import (
	"context"
	"slices"
	"sync"

	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"parley.im/parley/module"
	"parley.im/parley/xmppcore"
)

// Namespaces of XEP-0030.
const (
	NS      = "http://jabber.org/protocol/disco"
	NSInfo  = NS + "#info"
	NSItems = NS + "#items"
)

// ServerName is the name of the server's identity.
const ServerName = "Parley"

// AccountPolicy reports whether requester may see the disco#info of a
// local account. It is not asked about the account's own requests.
type AccountPolicy func(ctx context.Context, requester, account jid.JID) (bool, error)

// Disco is the XEP-0030 module.
type Disco struct {
	reg *module.Registry

	mu     sync.RWMutex
	forms  []func() *xmppcore.Element
	policy AccountPolicy
}

var _ module.Module = (*Disco)(nil)

// New returns the disco module, which reads features, identities and items
// from reg.
func New(reg *module.Registry) *Disco { return &Disco{reg: reg} }

// AddServerInfoForm adds a XEP-0128 extension to the server's disco#info:
// form is called for each answer and returns a fresh jabber:x:data form
// of type result with its FORM_TYPE, or nil to add nothing this time.
func (d *Disco) AddServerInfoForm(form func() *xmppcore.Element) {
	d.mu.Lock()
	d.forms = append(d.forms, form)
	d.mu.Unlock()
}

// SetAccountPolicy restricts who may see other accounts' disco#info; the
// others get service-unavailable, as if the account did not exist. nil
// (the default) lets everyone see it.
func (d *Disco) SetAccountPolicy(p AccountPolicy) {
	d.mu.Lock()
	d.policy = p
	d.mu.Unlock()
}

// Name implements module.Module.
func (*Disco) Name() string { return "disco" }

// Register answers disco#info and disco#items for both targets, and lists
// both features there, since each is supported by both entities.
func (d *Disco) Register(r *module.Registrar) error {
	for _, target := range []module.Target{module.Server, module.Account} {
		r.Feature(target, NSInfo)
		r.Feature(target, NSItems)
	}
	r.IQ("get", NSInfo, "query", module.Server, d.serverInfo)
	r.IQ("get", NSItems, "query", module.Server, d.serverItems)
	r.IQ("get", NSInfo, "query", module.Account, d.accountInfo)
	r.IQ("get", NSItems, "query", module.Account, d.accountItems)
	return nil
}

var errNoNode = xmppcore.NewError(stanza.ItemNotFound, "")

// noNode rejects queries naming a node of the server, which has none. An
// empty 'node' is taken as no node.
func noNode(iq *module.IQ) error {
	if iq.Payload.Attr("node") != "" {
		return errNoNode
	}
	return nil
}

func (d *Disco) serverInfo(_ context.Context, iq *module.IQ) (*xmppcore.Element, error) {
	if err := noNode(iq); err != nil {
		return nil, err
	}
	q := d.info(module.Server, module.Identity{Category: "server", Type: "im", Name: ServerName})
	d.mu.RLock()
	forms := slices.Clone(d.forms)
	d.mu.RUnlock()
	for _, f := range forms {
		if x := f(); x != nil {
			q.Append(x)
		}
	}
	return q, nil
}

func (d *Disco) serverItems(_ context.Context, iq *module.IQ) (*xmppcore.Element, error) {
	if err := noNode(iq); err != nil {
		return nil, err
	}
	q := xmppcore.New(NSItems, "query")
	for _, domain := range d.reg.Items() {
		q.Append(xmppcore.New(NSItems, "item", "jid", domain))
	}
	return q, nil
}

var errDenied = xmppcore.NewError(stanza.ServiceUnavailable, "")

func (d *Disco) accountInfo(ctx context.Context, iq *module.IQ) (*xmppcore.Element, error) {
	if !iq.Self {
		d.mu.RLock()
		policy := d.policy
		d.mu.RUnlock()
		if policy != nil {
			ok, err := policy(ctx, iq.From, iq.To.Bare())
			if err != nil {
				return nil, err
			}
			if !ok {
				return nil, errDenied
			}
		}
	}
	// Checked after the policy, so that a denied requester cannot tell a
	// node from none. Then the node's module decides who may see it (a PEP
	// node's access model).
	if node := iq.Payload.Attr("node"); node != "" {
		return d.nodeInfo(ctx, iq, node)
	}
	return d.info(module.Account, module.Identity{Category: "account", Type: "registered"}), nil
}

// accountItems lists the nodes modules put under the account (PEP nodes),
// and the items of such a node. The account's available resources, which
// XEP-0030 also lists for an account, are left out: §8 forbids showing
// them to those without a presence subscription, and clients learn their
// own from presence anyway.
func (d *Disco) accountItems(ctx context.Context, iq *module.IQ) (*xmppcore.Element, error) {
	node := iq.Payload.Attr("node")
	q := xmppcore.New(NSItems, "query")
	if node != "" {
		q.SetAttr("node", node)
	}
	found := node == ""
	for _, p := range d.reg.AccountNodes() {
		items, ok, err := p.AccountItems(ctx, iq.From, iq.To.Bare(), node)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		found = true
		for _, it := range items {
			el := xmppcore.New(NSItems, "item", "jid", it.JID)
			if it.Node != "" {
				el.SetAttr("node", it.Node)
			}
			if it.Name != "" {
				el.SetAttr("name", it.Name)
			}
			q.Append(el)
		}
		if node != "" {
			break // a node belongs to one module
		}
	}
	if !found {
		return nil, errNoNode
	}
	return q, nil
}

// nodeInfo answers disco#info for a node of an account from the first
// module that knows it.
func (d *Disco) nodeInfo(ctx context.Context, iq *module.IQ, node string) (*xmppcore.Element, error) {
	for _, p := range d.reg.AccountNodes() {
		info, ok, err := p.AccountNodeInfo(ctx, iq.From, iq.To.Bare(), node)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		q := xmppcore.New(NSInfo, "query", "node", node)
		for _, id := range info.Identities {
			el := xmppcore.New(NSInfo, "identity", "category", id.Category, "type", id.Type)
			if id.Name != "" {
				el.SetAttr("name", id.Name)
			}
			q.Append(el)
		}
		features := slices.Clone(info.Features)
		slices.Sort(features)
		for _, f := range slices.Compact(features) {
			q.Append(xmppcore.New(NSInfo, "feature", "var", f))
		}
		for _, f := range info.Forms {
			q.Append(f)
		}
		return q, nil
	}
	return nil, errNoNode
}

// info builds a disco#info answer: the primary identity first, then those
// modules registered, then the features in sorted order.
func (d *Disco) info(target module.Target, primary module.Identity) *xmppcore.Element {
	q := xmppcore.New(NSInfo, "query")
	ids := append([]module.Identity{primary}, d.reg.Identities(target)...)
	for i, id := range ids {
		// XEP-0030 §3.1 forbids the same identity twice with different
		// names; two modules registering one is a slip worth absorbing.
		if slices.ContainsFunc(ids[:i], func(o module.Identity) bool {
			return o.Category == id.Category && o.Type == id.Type
		}) {
			continue
		}
		el := xmppcore.New(NSInfo, "identity", "category", id.Category, "type", id.Type)
		if id.Name != "" {
			el.SetAttr("name", id.Name)
		}
		q.Append(el)
	}
	for _, f := range d.reg.Features(target) {
		q.Append(xmppcore.New(NSInfo, "feature", "var", f))
	}
	return q
}
