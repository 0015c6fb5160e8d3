package pubsub

import (
	"context"
	"errors"
	"strconv"

	"mellium.im/xmpp/jid"

	"parley.im/parley/module"
	"parley.im/parley/storage"
	"parley.im/parley/xmppcore"
)

// AccountItems implements module.AccountNodes: an account's disco#items
// are the nodes the requester may see (XEP-0163 §5: "only those nodes to
// which the contact is allowed to subscribe or from which the contact is
// allowed to retrieve items"), and a node's are its items, named by ID
// (XEP-0060 §5.5). A node the requester may not see is not there.
func (p *PEP) AccountItems(ctx context.Context, requester, account jid.JID, node string) ([]module.DiscoItem, bool, error) {
	svc := service(account)
	if node != "" {
		n, err := p.store.GetPubSubNode(ctx, svc, node)
		if errors.Is(err, storage.ErrNotFound) {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, err
		}
		if err := p.access(ctx, account, node, n.Config, requester); err != nil {
			return nil, false, nil
		}
		items, err := p.store.PubSubItems(ctx, svc, node, 0)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return nil, false, err
		}
		out := make([]module.DiscoItem, 0, len(items))
		for _, it := range items {
			out = append(out, module.DiscoItem{JID: account.String(), Name: it.ID})
		}
		return out, true, nil
	}
	nodes, err := p.store.PubSubNodes(ctx, svc)
	if err != nil {
		return nil, false, err
	}
	owner := requester.Bare().Equal(account)
	var (
		item *storage.RosterItem
		affs = map[string]string{}
	)
	if !owner && len(nodes) > 0 {
		if item, err = p.rosterItem(ctx, account, requester); err != nil {
			return nil, false, err
		}
		list, err := p.store.PubSubAffiliationsOf(ctx, svc, requester.Bare().String())
		if err != nil {
			return nil, false, err
		}
		for _, a := range list {
			affs[a.Node] = a.Affiliation
		}
	}
	var out []module.DiscoItem
	for _, n := range nodes {
		aff, ok := affs[n.Name]
		if !ok {
			aff = storage.PubSubNone
		}
		if owner || allowed(n.Config, item, aff) == nil {
			out = append(out, module.DiscoItem{JID: account.String(), Node: n.Name, Name: n.Config.Title})
		}
	}
	return out, true, nil
}

// AccountNodeInfo implements module.AccountNodes: a pubsub/leaf identity
// and the pubsub#meta-data form of XEP-0060 §5.4, for those who may see
// the node.
func (p *PEP) AccountNodeInfo(ctx context.Context, requester, account jid.JID, node string) (module.NodeInfo, bool, error) {
	n, err := p.store.GetPubSubNode(ctx, service(account), node)
	if errors.Is(err, storage.ErrNotFound) {
		return module.NodeInfo{}, false, nil
	}
	if err != nil {
		return module.NodeInfo{}, false, err
	}
	if err := p.access(ctx, account, node, n.Config, requester); err != nil {
		return module.NodeInfo{}, false, nil
	}
	b := newForm("result", NSMetaData)
	c := n.Config
	b.field("pubsub#owner", "jid-multi", "", []string{account.String()}, nil)
	b.field("pubsub#creator", "jid-single", "", []string{n.Creator}, nil)
	b.field("pubsub#creation_date", "text-single", "", []string{n.Created.UTC().Format("2006-01-02T15:04:05Z")}, nil)
	b.field("pubsub#access_model", "list-single", "", []string{c.AccessModel}, nil)
	b.field("pubsub#publish_model", "list-single", "", []string{c.PublishModel}, nil)
	b.field("pubsub#max_items", "text-single", "", []string{strconv.Itoa(c.MaxItems)}, nil)
	for _, f := range []struct{ v, val string }{{"pubsub#title", c.Title}, {"pubsub#description", c.Description}, {"pubsub#type", c.Type}} {
		if f.val != "" {
			b.field(f.v, "text-single", "", []string{f.val}, nil)
		}
	}
	return module.NodeInfo{
		Identities: []module.Identity{{Category: "pubsub", Type: "leaf"}},
		Features:   []string{NS},
		Forms:      []*xmppcore.Element{b.x},
	}, true, nil
}
