package pubsub

import (
	"context"
	"errors"
	"time"

	"mellium.im/xmpp/jid"

	"parley.im/parley/router"
	"parley.im/parley/storage"
	"parley.im/parley/xmppcore"
)

// event is a notification to send for a node: the <event/> element, with
// and without payloads (deliver_payloads decides; both are the same for
// events without payload).
type event struct {
	node      string
	withPay   *xmppcore.Element
	withoutPl *xmppcore.Element
	// publisher is the full JID that published, for the XEP-0033 replyto
	// of XEP-0163 §4.3.2 (set for publish events only).
	publisher jid.JID
	delay     time.Time // a XEP-0203 stamp, for last items sent later
}

func eventEl(children ...*xmppcore.Element) *xmppcore.Element {
	return xmppcore.New(NSEvent, "event").Append(children...)
}

// publishEvent is the event of an item published.
func publishEvent(node, id string, payload *xmppcore.Element, publisher jid.JID) event {
	full := xmppcore.New(NSEvent, "item", "id", id)
	if payload != nil {
		full.Append(payload)
	}
	return event{node: node, publisher: publisher,
		withPay:   eventEl(xmppcore.New(NSEvent, "items", "node", node).Append(full)),
		withoutPl: eventEl(xmppcore.New(NSEvent, "items", "node", node).Append(xmppcore.New(NSEvent, "item", "id", id)))}
}

// simpleEvent is an event without payload.
func simpleEvent(node string, el *xmppcore.Element) event {
	e := eventEl(el)
	return event{node: node, withPay: e, withoutPl: e}
}

func retractEvent(node string, ids []string) event {
	items := xmppcore.New(NSEvent, "items", "node", node)
	for _, id := range ids {
		items.Append(xmppcore.New(NSEvent, "retract", "id", id))
	}
	return simpleEvent(node, items)
}

// recipient is where a notification goes.
type recipient struct {
	to jid.JID
	// contact is true for recipients with a presence subscription to the
	// owner other than the owner: they get the replyto address.
	contact bool
}

// notify sends an event about owner's node to everyone entitled to it:
// the owner's available resources (but those whose caps say they are not
// interested), the available resources of contacts the access model lets
// in whose caps ask for node+notify (XEP-0163 §4), and the explicit
// subscribers still allowed in. extra are subscriptions already deleted
// (a node's, when deleting it) to use instead of the stored ones.
func (p *PEP) notify(ctx context.Context, owner jid.JID, cfg storage.PubSubConfig, ev event, extra []storage.PubSubSubscription, useExtra bool) {
	if !cfg.DeliverNotifications {
		return
	}
	rcpts, err := p.recipients(ctx, owner, ev.node, cfg, extra, useExtra)
	if err != nil {
		p.logger().Error("pubsub notification recipients", "owner", owner.String(), "node", ev.node, "err", err)
	}
	p.send(ctx, owner, cfg, ev, rcpts)
}

// send routes one message per recipient, from owner's bare JID (XEP-0163
// §4.3.2), on the owner's behalf so that the owner's block list applies.
func (p *PEP) send(ctx context.Context, owner jid.JID, cfg storage.PubSubConfig, ev event, rcpts []recipient) {
	if len(rcpts) == 0 {
		return
	}
	body := ev.withoutPl
	if cfg.DeliverPayloads {
		body = ev.withPay
	}
	typ := notificationHeadline
	if cfg.NotificationType == notificationNormal {
		typ = notificationNormal
	}
	msg := xmppcore.New("", xmppcore.Message, "from", owner.String(), "type", typ)
	msg.Append(body)
	if !ev.delay.IsZero() {
		msg.Append(xmppcore.New(NSDelay, "delay", "from", owner.String(),
			"stamp", ev.delay.UTC().Format("2006-01-02T15:04:05.999999Z")))
	}
	var withReply *xmppcore.Element
	if !ev.publisher.Equal(jid.JID{}) {
		withReply = msg.ShallowClone().Append(xmppcore.New(NSAddress, "addresses").
			Append(xmppcore.New(NSAddress, "address", "type", "replyto", "jid", ev.publisher.String())))
	}
	rt := p.router()
	for _, r := range rcpts {
		tmpl := msg
		if r.contact && withReply != nil {
			tmpl = withReply
		}
		el := tmpl.ShallowClone()
		el.SetAttr("to", r.to.String())
		el.SetAttr("id", newID())
		rt.Route(ctx, &router.Stanza{El: el, From: owner, To: r.to, OnBehalf: true})
	}
}

// interest reports whether a resource wants notifications of node: known
// is false while its caps are not (yet) known.
func (p *PEP) interest(full jid.JID, pres *xmppcore.Element, node string) (want, known bool) {
	ref, ok := capsOf(pres)
	if !ok {
		return false, false
	}
	fs, ok := p.caps.features(full, ref)
	if !ok {
		return false, false
	}
	return fs.has(node + "+notify"), true
}

// recipients computes who gets an event of owner's node.
func (p *PEP) recipients(ctx context.Context, owner jid.JID, node string, cfg storage.PubSubConfig,
	extra []storage.PubSubSubscription, useExtra bool) ([]recipient, error) {
	rt := p.router()
	seen := map[string]bool{}
	var out []recipient
	add := func(to jid.JID, contact bool) {
		if s := to.String(); !seen[s] {
			seen[s] = true
			out = append(out, recipient{to, contact})
		}
	}
	// The owner's resources.
	for _, ri := range rt.Resources(owner) {
		if !ri.Available {
			continue
		}
		full := ri.Session.JID()
		if want, known := p.interest(full, ri.Presence, node); known && !want {
			continue
		}
		add(full, false)
	}

	svc := service(owner)
	items, _, err := p.store.RosterItems(ctx, owner.Domainpart(), owner.Localpart())
	if err != nil {
		return out, err
	}
	roster := make(map[string]*storage.RosterItem, len(items))
	for i := range items {
		roster[items[i].JID] = &items[i]
	}
	affs := map[string]string{}
	if list, err := p.store.PubSubAffiliations(ctx, svc, node); err == nil {
		for _, a := range list {
			affs[a.JID] = a.Affiliation
		}
	} else if !errors.Is(err, storage.ErrNotFound) {
		return out, err
	}
	affOf := func(bare string) string {
		if a, ok := affs[bare]; ok {
			return a
		}
		return storage.PubSubNone
	}

	// Contacts with a presence subscription, through their caps.
	for i := range items {
		it := &items[i]
		if !sharesPresence(it) {
			continue
		}
		contact, err := jid.Parse(it.JID)
		if err != nil || contact.Equal(owner) || allowed(cfg, it, affOf(it.JID)) != nil {
			continue
		}
		if rt.IsLocalHost(contact.Domainpart()) {
			for _, ri := range rt.Resources(contact) {
				full := ri.Session.JID()
				if want, _ := p.interest(full, ri.Presence, node); ri.Available && want {
					add(full, true)
				}
			}
			continue
		}
		for _, full := range p.remoteInterested(owner, contact, node) {
			add(full, true)
		}
	}

	// Explicit subscriptions.
	subs := extra
	if !useExtra {
		subs, err = p.store.PubSubSubscriptions(ctx, svc, node)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return out, err
		}
	}
	for _, sub := range subs {
		if sub.State != storage.PubSubSubscribed {
			continue
		}
		to, err := jid.Parse(sub.JID)
		if err != nil {
			continue
		}
		bare := to.Bare()
		if !bare.Equal(owner) && allowed(cfg, roster[bare.String()], affOf(bare.String())) != nil {
			continue
		}
		if !p.canRoute(to) {
			continue
		}
		contact := sharesPresence(roster[bare.String()])
		for _, j := range p.expand(to) {
			add(j, contact)
		}
	}
	return out, nil
}

// expand turns the JID of an explicit subscription into the JIDs to
// notify: a local bare JID into its available resources of non-negative
// priority, as a headline to the bare JID would reach (XEP-0163 §4.3.2
// prefers full JIDs when the service knows the presence); any other JID
// stays as it is.
func (p *PEP) expand(to jid.JID) []jid.JID {
	rt := p.router()
	if to.Resourcepart() != "" || !rt.IsLocalHost(to.Domainpart()) {
		return []jid.JID{to}
	}
	var out []jid.JID
	for _, ri := range rt.Resources(to) {
		if ri.Available && ri.Priority >= 0 {
			out = append(out, ri.Session.JID())
		}
	}
	return out
}

// lastItems sends, to a resource that just became available (or whose
// caps just became known after its initial presence), the last item of
// every node it is interested in with send_last_published_item
// on_sub_and_presence: its own account's nodes, and those of local
// contacts whose presence it receives and whose access model lets it in
// (XEP-0163 §4.3.3). Contacts on other domains send theirs themselves.
func (p *PEP) lastItems(ctx context.Context, full jid.JID, fs featureSet) {
	user := full.Bare()
	rt := p.router()
	if !p.sessionAvailable(full) {
		return
	}
	p.lastItemsOf(ctx, user, full, fs)
	items, _, err := p.store.RosterItems(ctx, user.Domainpart(), user.Localpart())
	if err != nil {
		p.logger().Error("pep last items: roster", "user", user.String(), "err", err)
		return
	}
	for _, it := range items {
		if it.Subscription != storage.SubTo && it.Subscription != storage.SubBoth {
			continue
		}
		contact, err := jid.Parse(it.JID)
		if err != nil || contact.Equal(user) || !rt.IsLocalHost(contact.Domainpart()) {
			continue
		}
		p.lastItemsOf(ctx, contact, full, fs)
	}
}

// lastItemsOf sends full the last items of owner's nodes that full asks
// for and may see. For anyone but the owner, owner's roster must share
// presence with full's account (the roster of the service is what counts,
// not the subscriber's idea of it).
func (p *PEP) lastItemsOf(ctx context.Context, owner, full jid.JID, fs featureSet) {
	svc := service(owner)
	nodes, err := p.store.PubSubNodes(ctx, svc)
	if err != nil {
		p.logger().Error("pep last items: nodes", "owner", owner.String(), "err", err)
		return
	}
	var cands []storage.PubSubNode
	for _, n := range nodes {
		c := n.Config
		if c.SendLastPublishedItem == SendOnSubAndPresence && c.DeliverNotifications && fs.has(n.Name+"+notify") {
			cands = append(cands, n)
		}
	}
	if len(cands) == 0 {
		return
	}
	isOwner := owner.Equal(full.Bare())
	var item *storage.RosterItem
	if !isOwner {
		if item, err = p.rosterItem(ctx, owner, full.Bare()); err != nil {
			p.logger().Error("pep last items: roster", "user", owner.String(), "err", err)
			return
		}
		if !sharesPresence(item) {
			return
		}
	}
	cfgs := map[string]storage.PubSubConfig{}
	var names []string
	for _, n := range cands {
		if !isOwner {
			aff, err := p.store.GetPubSubAffiliation(ctx, svc, n.Name, full.Bare().String())
			if err != nil || allowed(n.Config, item, aff) != nil {
				continue
			}
		}
		cfgs[n.Name] = n.Config
		names = append(names, n.Name)
	}
	if len(names) == 0 {
		return
	}
	last, err := p.store.LastPubSubItems(ctx, svc, names)
	if err != nil {
		p.logger().Error("pep last items", "owner", owner.String(), "err", err)
		return
	}
	for _, name := range names {
		if it, ok := last[name]; ok {
			p.send(ctx, owner, cfgs[name], p.storedEvent(name, it), []recipient{{to: full, contact: !isOwner}})
		}
	}
}

// storedEvent is the notification of a stored item, stamped with its
// publication time.
func (p *PEP) storedEvent(node string, it storage.PubSubItem) event {
	payload, err := parsePayload(it.Payload)
	if err != nil {
		p.logger().Error("unreadable pubsub item", "node", node, "id", it.ID, "err", err)
	}
	ev := publishEvent(node, it.ID, payload, jid.JID{})
	ev.delay = it.Published
	return ev
}

// sessionAvailable reports whether full is bound and available.
func (p *PEP) sessionAvailable(full jid.JID) bool {
	for _, ri := range p.router().Resources(full.Bare()) {
		if ri.Session.JID().Equal(full) {
			return ri.Available
		}
	}
	return false
}
