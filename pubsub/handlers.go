package pubsub

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"parley.im/parley/module"
	"parley.im/parley/storage"
	"parley.im/parley/xmppcore"
)

// maxName bounds node names and item IDs, in bytes; maxBatch the items,
// affiliations or subscriptions one request changes.
const (
	maxName  = 1024
	maxBatch = 100
)

var errBatch = stanzaErr(stanza.PolicyViolation, fmt.Sprintf("at most %d changes per request", maxBatch))

// request is a pubsub IQ to an account's service.
type request struct {
	iq      *module.IQ
	owner   jid.JID // the service's account
	svc     storage.PubSubService
	isOwner bool
}

func newRequest(iq *module.IQ) *request {
	owner := iq.To.Bare()
	return &request{iq: iq, owner: owner, svc: service(owner), isOwner: iq.From.Bare().Equal(owner)}
}

var errBadRequest = stanzaErr(stanza.BadRequest, "")

// elements returns the child elements of the <pubsub/> payload: an
// action first, then what may go with it.
func elements(payload *xmppcore.Element) []*xmppcore.Element {
	var els []*xmppcore.Element
	for el := range payload.Children() {
		els = append(els, el)
	}
	return els
}

// nodeAttr returns the 'node' of an action, which must be there.
func nodeAttr(el *xmppcore.Element) (string, error) {
	node := el.Attr("node")
	if node == "" {
		return "", errNodeRequired
	}
	if len(node) > maxName {
		return "", stanzaErr(stanza.NotAcceptable, fmt.Sprintf("node names are limited to %d bytes", maxName))
	}
	return node, nil
}

// getNode reads a node, item-not-found when there is none.
func (p *PEP) getNode(ctx context.Context, r *request, node string) (storage.PubSubNode, error) {
	n, err := p.store.GetPubSubNode(ctx, r.svc, node)
	if errors.Is(err, storage.ErrNotFound) {
		return n, errNodeNotFound
	}
	return n, err
}

// ownedNode reads a node for an owner use case: forbidden for others.
func (p *PEP) ownedNode(ctx context.Context, r *request, el *xmppcore.Element) (storage.PubSubNode, error) {
	node, err := nodeAttr(el)
	if err != nil {
		return storage.PubSubNode{}, err
	}
	if !r.isOwner {
		return storage.PubSubNode{}, errForbidden
	}
	return p.getNode(ctx, r, node)
}

func onlyOne(els []*xmppcore.Element) error {
	if len(els) != 1 {
		return stanzaErr(stanza.BadRequest, "one action per request")
	}
	return nil
}

// handleSet answers type set in the pubsub namespace.
func (p *PEP) handleSet(ctx context.Context, iq *module.IQ) (*xmppcore.Element, error) {
	r := newRequest(iq)
	els := elements(iq.Payload)
	if len(els) == 0 || els[0].Space != NS {
		return nil, errBadRequest
	}
	action, rest := els[0], els[1:]
	switch action.Local {
	case "publish":
		var opts *xmppcore.Element
		for _, el := range rest {
			if !el.Is(NS, "publish-options") || opts != nil {
				return nil, errBadRequest
			}
			opts = el
		}
		return p.publish(ctx, r, action, opts)
	case "create":
		var conf *xmppcore.Element
		for _, el := range rest {
			if !el.Is(NS, "configure") || conf != nil {
				return nil, errBadRequest
			}
			conf = el
		}
		return nil, p.create(ctx, r, action, conf)
	case "subscribe":
		for _, el := range rest {
			if el.Is(NS, "options") {
				return nil, unsupported("subscription-options")
			}
		}
		if err := onlyOne(els); err != nil {
			return nil, err
		}
		return p.subscribe(ctx, r, action)
	case "unsubscribe":
		if err := onlyOne(els); err != nil {
			return nil, err
		}
		return nil, p.unsubscribe(ctx, r, action)
	case "retract":
		if err := onlyOne(els); err != nil {
			return nil, err
		}
		return nil, p.retract(ctx, r, action)
	case "options":
		return nil, unsupported("subscription-options")
	}
	return nil, errBadRequest
}

// handleGet answers type get in the pubsub namespace.
func (p *PEP) handleGet(ctx context.Context, iq *module.IQ) (*xmppcore.Element, error) {
	r := newRequest(iq)
	els := elements(iq.Payload)
	if len(els) != 1 || els[0].Space != NS {
		return nil, errBadRequest
	}
	switch el := els[0]; el.Local {
	case "items":
		return p.items(ctx, r, el)
	case "subscriptions":
		return p.ownSubscriptions(ctx, r, el)
	case "affiliations":
		return p.ownAffiliations(ctx, r, el)
	case "options":
		return nil, unsupported("subscription-options")
	case "default":
		return nil, unsupported("retrieve-default-sub")
	}
	return nil, errBadRequest
}

// handleOwnerGet answers type get in the pubsub#owner namespace.
func (p *PEP) handleOwnerGet(ctx context.Context, iq *module.IQ) (*xmppcore.Element, error) {
	r := newRequest(iq)
	els := elements(iq.Payload)
	if len(els) != 1 || els[0].Space != NSOwner {
		return nil, errBadRequest
	}
	switch el := els[0]; el.Local {
	case "configure":
		return p.getConfig(ctx, r, el)
	case "default":
		if !r.isOwner {
			return nil, errForbidden
		}
		b := configForm(p.defaults(), "form", p.opts.MaxItems, nil)
		return xmppcore.New(NSOwner, "pubsub").Append(xmppcore.New(NSOwner, "default").Append(b.x)), nil
	case "affiliations":
		return p.nodeAffiliations(ctx, r, el)
	case "subscriptions":
		return p.nodeSubscriptions(ctx, r, el)
	}
	return nil, errBadRequest
}

// handleOwnerSet answers type set in the pubsub#owner namespace.
func (p *PEP) handleOwnerSet(ctx context.Context, iq *module.IQ) (*xmppcore.Element, error) {
	r := newRequest(iq)
	els := elements(iq.Payload)
	if len(els) != 1 || els[0].Space != NSOwner {
		return nil, errBadRequest
	}
	switch el := els[0]; el.Local {
	case "configure":
		return nil, p.setConfig(ctx, r, el)
	case "delete":
		return nil, p.deleteNode(ctx, r, el)
	case "purge":
		return nil, p.purge(ctx, r, el)
	case "affiliations":
		return nil, p.setAffiliations(ctx, r, el)
	case "subscriptions":
		return nil, p.setSubscriptions(ctx, r, el)
	}
	return nil, errBadRequest
}

// defaults is the configuration of a node created without options: the
// "smart defaults" of XEP-0163 §3 (presence access, on_sub_and_presence).
func (p *PEP) defaults() storage.PubSubConfig {
	return storage.PubSubConfig{
		AccessModel:           AccessPresence,
		PublishModel:          PublishPublishers,
		MaxItems:              p.opts.NodeMaxItems,
		PersistItems:          true,
		SendLastPublishedItem: SendOnSubAndPresence,
		DeliverNotifications:  true,
		DeliverPayloads:       true,
		NotifyDelete:          true,
		NotifyRetract:         true,
		NotificationType:      notificationHeadline,
	}
}

// --- publish ---

// publish handles §7.1 with auto-create (§7.1.4) and publish-options
// (§7.1.5, XEP-0223).
func (p *PEP) publish(ctx context.Context, r *request, pub, optsEl *xmppcore.Element) (*xmppcore.Element, error) {
	node, err := nodeAttr(pub)
	if err != nil {
		return nil, err
	}
	var items []*xmppcore.Element
	for el := range pub.Children() {
		if !el.Is(NS, "item") {
			return nil, errBadRequest
		}
		items = append(items, el)
	}
	switch {
	case len(items) == 0:
		return p.publishNotification(ctx, r, node, optsEl)
	case len(items) > 1:
		return nil, stanzaErr(stanza.BadRequest, "one item per publish")
	}
	item := items[0]
	var payload *xmppcore.Element
	for el := range item.Children() {
		if payload != nil {
			return nil, errInvalidPayload
		}
		payload = el
	}
	if payload == nil {
		return nil, errPayloadRequired
	}
	id := item.Attr("id")
	if len(id) > maxName {
		return nil, stanzaErr(stanza.BadRequest, fmt.Sprintf("item IDs are limited to %d bytes", maxName))
	}
	if id == "" {
		id = newID()
	}
	raw := serialize(payload)
	if len(raw) > p.opts.MaxItemSize {
		return nil, pubsubErr(stanza.NotAcceptable, "payload-too-big",
			fmt.Sprintf("items are limited to %d bytes", p.opts.MaxItemSize))
	}
	var opts *form
	if optsEl != nil {
		if opts, err = publishOptions(optsEl); err != nil {
			return nil, err
		}
	}

	cfg, err := p.nodeForPublish(ctx, r, node, opts)
	if err != nil {
		return nil, err
	}
	if transient(cfg) {
		return nil, errItemForbidden
	}
	_, err = p.store.PublishPubSubItem(ctx, r.svc, node, storage.PubSubItem{ID: id, Publisher: r.iq.From.String(), Payload: raw})
	if errors.Is(err, storage.ErrNotFound) {
		return nil, errNodeNotFound // deleted meanwhile
	}
	if err != nil {
		return nil, err
	}
	p.notify(ctx, r.owner, cfg, publishEvent(node, id, payload, r.iq.From), nil, false)
	return xmppcore.New(NS, "pubsub").Append(
		xmppcore.New(NS, "publish", "node", node).Append(xmppcore.New(NS, "item", "id", id))), nil
}

// transient reports whether a node is of the notification, transient
// kind of XEP-0060 §4.3: no items kept, no payloads sent.
func transient(cfg storage.PubSubConfig) bool {
	return !cfg.PersistItems && !cfg.DeliverPayloads
}

// publishNotification handles a publish without item, which only a
// transient notification node takes (§7.1.3.6): subscribers hear that
// something happened, and nothing is stored.
func (p *PEP) publishNotification(ctx context.Context, r *request, node string, optsEl *xmppcore.Element) (*xmppcore.Element, error) {
	n, err := p.store.GetPubSubNode(ctx, r.svc, node)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, errItemRequired
	}
	if err != nil {
		return nil, err
	}
	if !transient(n.Config) {
		return nil, errItemRequired
	}
	if err := p.mayPublish(ctx, r.owner, node, n.Config, r.iq.From); err != nil {
		return nil, err
	}
	if optsEl != nil {
		opts, err := publishOptions(optsEl)
		if err != nil {
			return nil, err
		}
		if opts != nil {
			if err := preconditions(n.Config, opts, p.opts.MaxItems); err != nil {
				return nil, pubsubErr(stanza.Conflict, "precondition-not-met", err.Error())
			}
		}
	}
	p.notify(ctx, r.owner, n.Config, simpleEvent(node, xmppcore.New(NSEvent, "items", "node", node)), nil, false)
	return xmppcore.New(NS, "pubsub").Append(xmppcore.New(NS, "publish", "node", node)), nil
}

// publishOptions reads <publish-options/>: a data form of FORM_TYPE
// pubsub#publish-options, or nothing.
func publishOptions(el *xmppcore.Element) (*form, error) {
	x := el.Child(NSData, "x")
	if x == nil {
		if el.ChildCount() != 0 {
			return nil, errBadRequest
		}
		return nil, nil
	}
	f, err := parseForm(x)
	if err != nil {
		return nil, err
	}
	if f.formType != NSPublishOptions || f.typ == "cancel" {
		return nil, stanzaErr(stanza.BadRequest, "publish-options need a form of FORM_TYPE "+NSPublishOptions)
	}
	return f, nil
}

// nodeForPublish returns the configuration of the node to publish to,
// creating the node if needed, and checks the preconditions and the
// publisher's rights.
func (p *PEP) nodeForPublish(ctx context.Context, r *request, node string, opts *form) (storage.PubSubConfig, error) {
	for range 2 {
		n, err := p.store.GetPubSubNode(ctx, r.svc, node)
		if err == nil {
			if err := p.mayPublish(ctx, r.owner, node, n.Config, r.iq.From); err != nil {
				return n.Config, err
			}
			if opts != nil {
				if err := preconditions(n.Config, opts, p.opts.MaxItems); err != nil {
					return n.Config, pubsubErr(stanza.Conflict, "precondition-not-met", err.Error())
				}
			}
			return n.Config, nil
		}
		if !errors.Is(err, storage.ErrNotFound) {
			return storage.PubSubConfig{}, err
		}
		// Auto-create, for the owner only, with the preconditions as
		// configuration (§7.1.5 rule 3).
		if !r.isOwner {
			return storage.PubSubConfig{}, errNodeNotFound
		}
		cfg := p.defaults()
		if opts != nil {
			for _, v := range opts.vars {
				field, ok := fieldByVar(v)
				if !ok {
					return cfg, pubsubErr(stanza.Conflict, "precondition-not-met", v+" is not a known option")
				}
				if err := field.set(&cfg, opts.values[v], p.opts.MaxItems); err != nil {
					return cfg, pubsubErr(stanza.Conflict, "precondition-not-met", v+": "+err.Error())
				}
			}
		}
		err = p.store.CreatePubSubNode(ctx, r.svc, node, r.iq.From.String(), cfg, p.opts.MaxNodes)
		switch {
		case err == nil:
			return cfg, nil
		case errors.Is(err, storage.ErrQuota):
			return cfg, errMaxNodes
		case !errors.Is(err, storage.ErrConflict):
			return cfg, err
		}
		// Created meanwhile by another request: check against it.
	}
	return storage.PubSubConfig{}, stanzaErr(stanza.ResourceConstraint, "the node is changing, try again")
}

var errMaxNodes = pubsubErr(stanza.NotAllowed, "max-nodes-exceeded", "")

// --- create, configure ---

func (p *PEP) create(ctx context.Context, r *request, create, conf *xmppcore.Element) error {
	if create.Attr("node") == "" {
		// Instant nodes are not supported (§8.1.2).
		return pubsubErr(stanza.NotAcceptable, "nodeid-required", "")
	}
	node, err := nodeAttr(create)
	if err != nil {
		return err
	}
	if !r.isOwner {
		return errForbidden
	}
	cfg := p.defaults()
	if conf != nil {
		if x := conf.Child(NSData, "x"); x != nil {
			f, err := parseForm(x)
			if err != nil {
				return err
			}
			if f.formType != "" && f.formType != NSNodeConfig {
				return stanzaErr(stanza.BadRequest, "the configuration form's FORM_TYPE is not "+NSNodeConfig)
			}
			if f.typ != "cancel" {
				if cfg, err = applyConfig(cfg, f, p.opts.MaxItems); err != nil {
					return stanzaErr(stanza.NotAcceptable, err.Error())
				}
			}
		}
	}
	err = p.store.CreatePubSubNode(ctx, r.svc, node, r.iq.From.String(), cfg, p.opts.MaxNodes)
	switch {
	case errors.Is(err, storage.ErrConflict):
		return stanzaErr(stanza.Conflict, "")
	case errors.Is(err, storage.ErrQuota):
		return errMaxNodes
	}
	return err
}

// rosterGroups returns the groups of the owner's roster, offered as the
// options of pubsub#roster_groups_allowed.
func (p *PEP) rosterGroups(ctx context.Context, owner jid.JID) []string {
	items, _, err := p.store.RosterItems(ctx, owner.Domainpart(), owner.Localpart())
	if err != nil {
		return nil
	}
	var groups []string
	for _, it := range items {
		groups = append(groups, it.Groups...)
	}
	slices.Sort(groups)
	return slices.Compact(groups)
}

func (p *PEP) getConfig(ctx context.Context, r *request, el *xmppcore.Element) (*xmppcore.Element, error) {
	n, err := p.ownedNode(ctx, r, el)
	if err != nil {
		return nil, err
	}
	b := configForm(n.Config, "form", p.opts.MaxItems, p.rosterGroups(ctx, r.owner))
	return xmppcore.New(NSOwner, "pubsub").Append(
		xmppcore.New(NSOwner, "configure", "node", n.Name).Append(b.x)), nil
}

func (p *PEP) setConfig(ctx context.Context, r *request, el *xmppcore.Element) error {
	n, err := p.ownedNode(ctx, r, el)
	if err != nil {
		return err
	}
	x := el.Child(NSData, "x")
	if x == nil {
		return errBadRequest
	}
	f, err := parseForm(x)
	if err != nil {
		return err
	}
	if f.typ == "cancel" {
		return nil
	}
	if f.formType != NSNodeConfig {
		return stanzaErr(stanza.BadRequest, "the configuration form's FORM_TYPE is not "+NSNodeConfig)
	}
	cfg, err := applyConfig(n.Config, f, p.opts.MaxItems)
	if err != nil {
		return stanzaErr(stanza.NotAcceptable, err.Error())
	}
	if err := p.store.ConfigurePubSubNode(ctx, r.svc, n.Name, cfg); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return errNodeNotFound
		}
		return err
	}
	if cfg.NotifyConfig {
		conf := xmppcore.New(NSEvent, "configuration", "node", n.Name)
		withForm := conf.ShallowClone().Append(configForm(cfg, "result", p.opts.MaxItems, nil).x)
		p.notify(ctx, r.owner, cfg, event{node: n.Name, withPay: eventEl(withForm), withoutPl: eventEl(conf)}, nil, false)
	}
	return nil
}

// --- delete, purge, retract ---

func (p *PEP) deleteNode(ctx context.Context, r *request, el *xmppcore.Element) error {
	n, err := p.ownedNode(ctx, r, el)
	if err != nil {
		return err
	}
	// Who hears of it is decided before it goes: afterwards its
	// configuration and subscriptions are gone.
	var rcpts []recipient
	if n.Config.NotifyDelete && n.Config.DeliverNotifications {
		if rcpts, err = p.recipients(ctx, r.owner, n.Name, n.Config, nil, false); err != nil {
			p.logger().Error("pubsub delete: recipients", "owner", r.owner.String(), "err", err)
		}
	}
	if _, err := p.store.DeletePubSubNode(ctx, r.svc, n.Name); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return errNodeNotFound
		}
		return err
	}
	p.send(ctx, r.owner, n.Config, simpleEvent(n.Name, xmppcore.New(NSEvent, "delete", "node", n.Name)), rcpts)
	return nil
}

func (p *PEP) purge(ctx context.Context, r *request, el *xmppcore.Element) error {
	n, err := p.ownedNode(ctx, r, el)
	if err != nil {
		return err
	}
	if err := p.store.PurgePubSubNode(ctx, r.svc, n.Name); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return errNodeNotFound
		}
		return err
	}
	// §8.5.2: one <purge/>, not a retraction per item.
	if n.Config.NotifyRetract {
		p.notify(ctx, r.owner, n.Config, simpleEvent(n.Name, xmppcore.New(NSEvent, "purge", "node", n.Name)), nil, false)
	}
	return nil
}

func (p *PEP) retract(ctx context.Context, r *request, el *xmppcore.Element) error {
	node, err := nodeAttr(el)
	if err != nil {
		return err
	}
	var ids []string
	for it := range el.Children() {
		if !it.Is(NS, "item") || it.Attr("id") == "" {
			return errItemRequired
		}
		ids = append(ids, it.Attr("id"))
	}
	if len(ids) == 0 {
		return errItemRequired
	}
	if len(ids) > maxBatch {
		return errBatch
	}
	n, err := p.getNode(ctx, r, node)
	if err != nil {
		return err
	}
	if err := p.mayPublish(ctx, r.owner, node, n.Config, r.iq.From); err != nil {
		return err
	}
	if err := p.onlyOwnItems(ctx, r, node, ids); err != nil {
		return err
	}
	var retracted []string
	for _, id := range ids {
		switch err := p.store.RetractPubSubItem(ctx, r.svc, node, id); {
		case err == nil:
			retracted = append(retracted, id)
		case errors.Is(err, storage.ErrNotFound):
			if len(ids) == 1 {
				return errNodeNotFound
			}
		default:
			return err
		}
	}
	notify := n.Config.NotifyRetract
	if v := el.Attr("notify"); v == "true" || v == "1" {
		notify = true
	}
	if notify && len(retracted) > 0 {
		p.notify(ctx, r.owner, n.Config, retractEvent(node, retracted), nil, false)
	}
	return nil
}

// --- items ---

func (p *PEP) items(ctx context.Context, r *request, el *xmppcore.Element) (*xmppcore.Element, error) {
	node, err := nodeAttr(el)
	if err != nil {
		return nil, err
	}
	n, err := p.getNode(ctx, r, node)
	if err != nil {
		return nil, err
	}
	if err := p.access(ctx, r.owner, node, n.Config, r.iq.From); err != nil {
		return nil, err
	}
	var ids []string
	for it := range el.Children() {
		if !it.Is(NS, "item") || it.Attr("id") == "" {
			return nil, errBadRequest
		}
		ids = append(ids, it.Attr("id"))
	}
	var stored []storage.PubSubItem
	if len(ids) > 0 {
		stored, err = p.store.PubSubItemsByID(ctx, r.svc, node, ids)
		if err == nil && len(stored) == 0 {
			return nil, errNodeNotFound
		}
	} else {
		last := 0
		if v := el.Attr("max_items"); v != "" {
			if last, err = strconv.Atoi(v); err != nil || last < 1 {
				return nil, stanzaErr(stanza.BadRequest, "max_items is not a positive number")
			}
		}
		stored, err = p.store.PubSubItems(ctx, r.svc, node, last)
	}
	if errors.Is(err, storage.ErrNotFound) {
		return nil, errNodeNotFound
	}
	if err != nil {
		return nil, err
	}
	// The newest first, as long as the answer stays within a few items'
	// worth of payload (§6.5.4 lets a service return some items only).
	out := xmppcore.New(NS, "items", "node", node)
	budget := responseItems * p.opts.MaxItemSize
	for i, it := range stored {
		if budget -= len(it.Payload); budget < 0 && i > 0 {
			break
		}
		out.Append(p.itemElement(NS, it, true))
	}
	return xmppcore.New(NS, "pubsub").Append(out), nil
}

// responseItems is how many of the largest items one items answer may
// carry: more small ones fit.
const responseItems = 4

// --- subscriptions ---

// subscriberJID reads the 'jid' of subscribe and unsubscribe.
func subscriberJID(el *xmppcore.Element) (jid.JID, error) {
	s := el.Attr("jid")
	if s == "" {
		return jid.JID{}, errInvalidJID
	}
	j, err := jid.Parse(s)
	if err != nil {
		return jid.JID{}, errInvalidJID
	}
	return j, nil
}

func subscriptionEl(ns, node string, sub storage.PubSubSubscription) *xmppcore.Element {
	el := xmppcore.New(ns, "subscription")
	if node != "" {
		el.SetAttr("node", node)
	}
	el.SetAttr("jid", sub.JID)
	if sub.SubID != "" {
		el.SetAttr("subid", sub.SubID)
	}
	el.SetAttr("subscription", sub.State)
	return el
}

func (p *PEP) subscribe(ctx context.Context, r *request, el *xmppcore.Element) (*xmppcore.Element, error) {
	node, err := nodeAttr(el)
	if err != nil {
		return nil, err
	}
	who, err := subscriberJID(el)
	if err != nil {
		return nil, err
	}
	// §6.1.3.1: one subscribes oneself (any resource of one's account).
	if !who.Bare().Equal(r.iq.From.Bare()) {
		return nil, errInvalidJID
	}
	n, err := p.getNode(ctx, r, node)
	if err != nil {
		return nil, err
	}
	if err := p.access(ctx, r.owner, node, n.Config, who); err != nil {
		return nil, err
	}
	sub, err := p.store.GetPubSubSubscription(ctx, r.svc, node, who.String())
	switch {
	case err == nil:
		// Already subscribed: the same answer again.
	case errors.Is(err, storage.ErrNotFound):
		subs, err := p.store.PubSubSubscriptions(ctx, r.svc, node)
		if err != nil {
			return nil, err
		}
		if len(subs) >= p.opts.MaxSubscriptions {
			return nil, pubsubErr(stanza.PolicyViolation, "too-many-subscriptions", "")
		}
		sub = storage.PubSubSubscription{JID: who.String(), SubID: newID(), State: storage.PubSubSubscribed}
		if err := p.store.SetPubSubSubscription(ctx, r.svc, node, sub); err != nil {
			if errors.Is(err, storage.ErrNotFound) {
				return nil, errNodeNotFound
			}
			return nil, err
		}
		if n.Config.NotifySub {
			p.notifyOwner(ctx, r.owner, n.Config, subscriptionEl(NSEvent, node, sub))
		}
	default:
		return nil, err
	}
	sub.Node = node
	if n.Config.SendLastPublishedItem != SendNever {
		p.sendLastTo(ctx, r.owner, n, who)
	}
	return xmppcore.New(NS, "pubsub").Append(subscriptionEl(NS, node, sub)), nil
}

// sendLastTo sends a new subscriber the node's last item (§6.1.7).
func (p *PEP) sendLastTo(ctx context.Context, owner jid.JID, n storage.PubSubNode, to jid.JID) {
	if !p.canRoute(to) {
		return
	}
	items, err := p.store.PubSubItems(ctx, service(owner), n.Name, 1)
	if err != nil || len(items) == 0 {
		return
	}
	contact := false
	if !to.Bare().Equal(owner) {
		it, err := p.rosterItem(ctx, owner, to)
		contact = err == nil && sharesPresence(it)
	}
	var rcpts []recipient
	for _, j := range p.expand(to) {
		rcpts = append(rcpts, recipient{to: j, contact: contact})
	}
	p.send(ctx, owner, n.Config, p.storedEvent(n.Name, items[0]), rcpts)
}

// notifyOwner sends an event to the owner's available resources only.
func (p *PEP) notifyOwner(ctx context.Context, owner jid.JID, cfg storage.PubSubConfig, el *xmppcore.Element) {
	var rcpts []recipient
	for _, ri := range p.router().Resources(owner) {
		if ri.Available {
			rcpts = append(rcpts, recipient{to: ri.Session.JID()})
		}
	}
	p.send(ctx, owner, cfg, simpleEvent("", el), rcpts)
}

func (p *PEP) unsubscribe(ctx context.Context, r *request, el *xmppcore.Element) error {
	node, err := nodeAttr(el)
	if err != nil {
		return err
	}
	who, err := subscriberJID(el)
	if err != nil {
		return err
	}
	if !who.Bare().Equal(r.iq.From.Bare()) && !r.isOwner {
		return errForbidden
	}
	n, err := p.getNode(ctx, r, node)
	if err != nil {
		return err
	}
	sub, err := p.store.GetPubSubSubscription(ctx, r.svc, node, who.String())
	if errors.Is(err, storage.ErrNotFound) {
		return errNotSubscribed
	}
	if err != nil {
		return err
	}
	if subid := el.Attr("subid"); subid != "" && subid != sub.SubID {
		return errInvalidSubID
	}
	if err := p.store.DeletePubSubSubscription(ctx, r.svc, node, who.String()); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return errNotSubscribed
		}
		return err
	}
	if n.Config.NotifySub {
		sub.State = "none"
		p.notifyOwner(ctx, r.owner, n.Config, subscriptionEl(NSEvent, node, sub))
	}
	return nil
}

// ownSubscriptions answers §5.6: the requester's subscriptions at the
// service, optionally for one node.
func (p *PEP) ownSubscriptions(ctx context.Context, r *request, el *xmppcore.Element) (*xmppcore.Element, error) {
	node := el.Attr("node")
	out := xmppcore.New(NS, "subscriptions")
	if node != "" {
		out.SetAttr("node", node)
	}
	jids := []string{r.iq.From.Bare().String()}
	if r.iq.From.Resourcepart() != "" {
		jids = append(jids, r.iq.From.String())
	}
	for _, j := range jids {
		subs, err := p.store.PubSubSubscriptionsOf(ctx, r.svc, j)
		if err != nil {
			return nil, err
		}
		for _, sub := range subs {
			if node == "" || sub.Node == node {
				out.Append(subscriptionEl(NS, sub.Node, sub))
			}
		}
	}
	return xmppcore.New(NS, "pubsub").Append(out), nil
}

// ownAffiliations answers §5.7: the requester's affiliations.
func (p *PEP) ownAffiliations(ctx context.Context, r *request, el *xmppcore.Element) (*xmppcore.Element, error) {
	node := el.Attr("node")
	out := xmppcore.New(NS, "affiliations")
	if node != "" {
		out.SetAttr("node", node)
	}
	if r.isOwner {
		nodes, err := p.store.PubSubNodes(ctx, r.svc)
		if err != nil {
			return nil, err
		}
		for _, n := range nodes {
			if node == "" || n.Name == node {
				out.Append(xmppcore.New(NS, "affiliation", "node", n.Name, "affiliation", storage.PubSubOwner))
			}
		}
	} else {
		affs, err := p.store.PubSubAffiliationsOf(ctx, r.svc, r.iq.From.Bare().String())
		if err != nil {
			return nil, err
		}
		for _, a := range affs {
			if node == "" || a.Node == node {
				out.Append(xmppcore.New(NS, "affiliation", "node", a.Node, "affiliation", a.Affiliation))
			}
		}
	}
	return xmppcore.New(NS, "pubsub").Append(out), nil
}

// --- owner: affiliations and subscriptions (§8.8, §8.9) ---

func (p *PEP) nodeAffiliations(ctx context.Context, r *request, el *xmppcore.Element) (*xmppcore.Element, error) {
	n, err := p.ownedNode(ctx, r, el)
	if err != nil {
		return nil, err
	}
	affs, err := p.store.PubSubAffiliations(ctx, r.svc, n.Name)
	if err != nil {
		return nil, err
	}
	out := xmppcore.New(NSOwner, "affiliations", "node", n.Name)
	out.Append(xmppcore.New(NSOwner, "affiliation", "jid", r.owner.String(), "affiliation", storage.PubSubOwner))
	for _, a := range affs {
		if a.JID != r.owner.String() {
			out.Append(xmppcore.New(NSOwner, "affiliation", "jid", a.JID, "affiliation", a.Affiliation))
		}
	}
	return xmppcore.New(NSOwner, "pubsub").Append(out), nil
}

func (p *PEP) setAffiliations(ctx context.Context, r *request, el *xmppcore.Element) error {
	n, err := p.ownedNode(ctx, r, el)
	if err != nil {
		return err
	}
	type change struct{ jid, aff string }
	var changes []change
	for a := range el.Children() {
		if !a.Is(NSOwner, "affiliation") {
			return errBadRequest
		}
		j, err := jid.Parse(a.Attr("jid"))
		if err != nil || a.Attr("jid") == "" {
			return stanzaErr(stanza.BadRequest, "bad JID in an affiliation")
		}
		aff := a.Attr("affiliation")
		switch {
		case j.Bare().Equal(r.owner):
			// The account owns its PEP service; that does not change.
			return stanzaErr(stanza.NotAcceptable, "the owner's affiliation cannot change")
		case aff == storage.PubSubOwner:
			return stanzaErr(stanza.NotAcceptable, "a personal eventing node has one owner")
		case aff != storage.PubSubNone && !storage.ValidPubSubAffiliation(aff):
			return stanzaErr(stanza.BadRequest, "unknown affiliation "+aff)
		}
		changes = append(changes, change{j.Bare().String(), aff})
	}
	if len(changes) > maxBatch {
		return errBatch
	}
	for _, c := range changes {
		if err := p.store.SetPubSubAffiliation(ctx, r.svc, n.Name, c.jid, c.aff); err != nil {
			if errors.Is(err, storage.ErrNotFound) {
				return errNodeNotFound
			}
			return err
		}
	}
	return nil
}

func (p *PEP) nodeSubscriptions(ctx context.Context, r *request, el *xmppcore.Element) (*xmppcore.Element, error) {
	n, err := p.ownedNode(ctx, r, el)
	if err != nil {
		return nil, err
	}
	subs, err := p.store.PubSubSubscriptions(ctx, r.svc, n.Name)
	if err != nil {
		return nil, err
	}
	out := xmppcore.New(NSOwner, "subscriptions", "node", n.Name)
	for _, s := range subs {
		out.Append(subscriptionEl(NSOwner, "", s))
	}
	return xmppcore.New(NSOwner, "pubsub").Append(out), nil
}

func (p *PEP) setSubscriptions(ctx context.Context, r *request, el *xmppcore.Element) error {
	n, err := p.ownedNode(ctx, r, el)
	if err != nil {
		return err
	}
	var changes []storage.PubSubSubscription
	for s := range el.Children() {
		if !s.Is(NSOwner, "subscription") {
			return errBadRequest
		}
		j, err := jid.Parse(s.Attr("jid"))
		if err != nil || s.Attr("jid") == "" {
			return stanzaErr(stanza.BadRequest, "bad JID in a subscription")
		}
		state := s.Attr("subscription")
		if state != "none" && !storage.ValidPubSubState(state) {
			return stanzaErr(stanza.BadRequest, "unknown subscription state "+state)
		}
		changes = append(changes, storage.PubSubSubscription{JID: j.String(), SubID: s.Attr("subid"), State: state})
	}
	if len(changes) > maxBatch {
		return errBatch
	}
	for _, c := range changes {
		if c.State == "none" {
			err = p.store.DeletePubSubSubscription(ctx, r.svc, n.Name, c.JID)
			if errors.Is(err, storage.ErrNotFound) {
				err = nil
			}
		} else {
			if c.SubID == "" {
				c.SubID = newID()
			}
			err = p.store.SetPubSubSubscription(ctx, r.svc, n.Name, c)
		}
		if errors.Is(err, storage.ErrNotFound) {
			return errNodeNotFound
		}
		if err != nil {
			return err
		}
		// §8.8.4 / §13.14: the subscriber learns of the change.
		if to, perr := jid.Parse(c.JID); perr == nil && (p.opts.Federation || p.router().IsLocalHost(to.Domainpart())) {
			sub := xmppcore.New(NSEvent, "subscription", "node", n.Name, "jid", c.JID, "subscription", c.State)
			if c.State != "none" && c.SubID != "" {
				sub.SetAttr("subid", c.SubID)
			}
			p.send(ctx, r.owner, n.Config, simpleEvent(n.Name, sub), []recipient{{to: to}})
		}
	}
	return nil
}

// onlyOwnItems refuses a publish-only entity the retraction of items that
// others published (XEP-0060 §4.1: it SHOULD retract only its own).
func (p *PEP) onlyOwnItems(ctx context.Context, r *request, node string, ids []string) error {
	requester := r.iq.From.Bare()
	if requester.Equal(r.owner) {
		return nil
	}
	aff, err := p.store.GetPubSubAffiliation(ctx, r.svc, node, requester.String())
	if err != nil || aff != storage.PubSubPublishOnly {
		return nil // mayPublish already judged everyone else
	}
	items, err := p.store.PubSubItemsByID(ctx, r.svc, node, ids)
	if err != nil {
		return err
	}
	for _, it := range items {
		if pub, perr := jid.Parse(it.Publisher); perr != nil || !pub.Bare().Equal(requester) {
			return errForbidden
		}
	}
	return nil
}
