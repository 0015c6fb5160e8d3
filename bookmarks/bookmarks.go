// Package bookmarks keeps the three places where clients store their
// bookmarks of group chats in step (XEP-0402 §5.3 "Compatibility"):
//
//   - PEP native bookmarks, node urn:xmpp:bookmarks:1, one item per room
//     (XEP-0402);
//   - legacy bookmarks in private XML, <storage xmlns='storage:bookmarks'/>
//     (XEP-0048 1.0 over XEP-0049): feature urn:xmpp:bookmarks:1#compat;
//   - legacy bookmarks in PEP, node storage:bookmarks, item "current"
//     (XEP-0048 1.1 over XEP-0223): feature urn:xmpp:bookmarks:1#compat-pep.
//
// When a user's client stores bookmarks in one of them and the module
// storing them answers with a result, the module rewrites the other two.
// It talks to private XML storage directly (it sends no notification) and
// to PEP through the pubsub protocol, as the user, so that PEP sends the
// notifications; see relay for how it gets the answers and avoids loops.
//
// Not converted: deleting or purging a node (owner namespace), and
// legacy <url/> bookmarks beyond keeping those of private XML when the
// list is rewritten from PEP.
package bookmarks

import (
	"context"
	"errors"
	"slices"

	"mellium.im/xmpp/jid"

	"parley.im/parley/module"
	"parley.im/parley/module/iqrelay"
	"parley.im/parley/router"
	"parley.im/parley/storage"
	"parley.im/parley/xmppcore"
)

// Namespaces and features.
const (
	NS               = "urn:xmpp:bookmarks:1"
	NSLegacy         = "storage:bookmarks"
	FeatureCompat    = NS + "#compat"
	FeatureCompatPEP = NS + "#compat-pep"

	nsPrivate        = "jabber:iq:private"
	nsPubSub         = "http://jabber.org/protocol/pubsub"
	nsData           = "jabber:x:data"
	nsPublishOptions = nsPubSub + "#publish-options"
	legacyItem       = "current"
)

// Store is the part of storage the module uses.
type Store interface {
	GetData(ctx context.Context, host, username, kind, key string) ([]byte, error)
	PutData(ctx context.Context, host, username, kind, key string, value []byte) error
	PubSubItems(ctx context.Context, svc storage.PubSubService, node string, last int) ([]storage.PubSubItem, error)
}

var (
	_ module.Module = (*Bookmarks)(nil)
	_ Store         = storage.Store(nil)
)

// Bookmarks is the bookmarks conversion module.
type Bookmarks struct {
	store Store
	relay *iqrelay.Relay
}

// New returns the bookmarks conversion module over store.
func New(store Store) *Bookmarks { return &Bookmarks{store: store} }

// Name implements module.Module.
func (*Bookmarks) Name() string { return "bookmarks" }

// Register watches the users' bookmark stores and advertises the
// compatibility features on accounts.
func (b *Bookmarks) Register(r *module.Registrar) error {
	b.relay = iqrelay.New("parley-bookmarks-", r.Router, r.Logger)
	r.Hook(router.EventIQBare, router.PriorityEarly, b.onBare)
	r.Hook(router.EventIQFull, router.PriorityEarly, b.relay.Answer)
	r.Feature(module.Account, FeatureCompat)
	r.Feature(module.Account, FeatureCompatPEP)
	return nil
}

func (b *Bookmarks) onBare(ctx context.Context, st *router.Stanza) bool {
	if b.relay.Answer(ctx, st) {
		return true
	}
	if st.Origin == nil || st.Type() != "set" || st.El.ChildCount() != 1 || !st.From.Bare().Equal(st.To.Bare()) {
		return false
	}
	user := st.To.Bare()
	q := st.El.FirstChild()
	switch {
	case q.Is(nsPrivate, "query"):
		s := q.Child(NSLegacy, "storage")
		if s == nil {
			return false
		}
		s = s.Clone()
		b.relay.Forward(ctx, st, func(ctx context.Context) { b.fromLegacy(ctx, user, s, true) })
		return true
	case q.Is(nsPubSub, "pubsub"):
		op := q.FirstChild()
		if op == nil || (op.Local != "publish" && op.Local != "retract") {
			return false
		}
		switch op.Attr("node") {
		case NS:
			b.relay.Forward(ctx, st, func(ctx context.Context) { b.fromNative(ctx, user) })
			return true
		case NSLegacy:
			if op.Local != "publish" {
				return false
			}
			var s *xmppcore.Element
			if it := op.Child(nsPubSub, "item"); it != nil {
				s = it.Child(NSLegacy, "storage")
			}
			if s == nil {
				return false
			}
			s = s.Clone()
			b.relay.Forward(ctx, st, func(ctx context.Context) { b.fromLegacy(ctx, user, s, false) })
			return true
		}
	}
	return false
}

// fromLegacy converts a legacy list stored in private XML (inPrivate) or
// in the legacy PEP node to native bookmarks and to the other legacy store.
func (b *Bookmarks) fromLegacy(ctx context.Context, user jid.JID, s *xmppcore.Element, inPrivate bool) {
	list := parseLegacy(s)
	current, err := b.nativeItems(ctx, user)
	if err != nil {
		b.relay.Logger().Error("bookmarks: read native bookmarks", "user", user.String(), "err", err)
		return
	}
	keep := make(map[string]bool)
	for _, c := range list {
		keep[c.JID] = true
		old, ok := current[c.JID]
		if ok {
			if prev, err := xmppcore.Parse(old); err == nil && prev.Is(NS, "conference") {
				c.Extensions = fromNative(c.JID, prev).Extensions
			}
		}
		el := c.native()
		if ok && slices.Equal(old, el.AppendXML(nil, xmppcore.NSClient)) {
			continue
		}
		b.publish(ctx, user, NS, c.JID, el)
	}
	for id := range current {
		if !keep[id] {
			b.relay.Send(ctx, user, xmppcore.New(nsPubSub, "pubsub").Append(
				xmppcore.New(nsPubSub, "retract", "node", NS, "notify", "true").Append(xmppcore.New(nsPubSub, "item", "id", id))))
		}
	}
	if inPrivate {
		b.publish(ctx, user, NSLegacy, legacyItem, s)
	} else {
		b.putPrivate(ctx, user, s)
	}
}

// fromNative rewrites both legacy stores from the native bookmarks.
func (b *Bookmarks) fromNative(ctx context.Context, user jid.JID) {
	current, err := b.nativeItems(ctx, user)
	if err != nil {
		b.relay.Logger().Error("bookmarks: read native bookmarks", "user", user.String(), "err", err)
		return
	}
	ids := make([]string, 0, len(current))
	for id := range current {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	s := xmppcore.New(NSLegacy, "storage")
	for _, id := range ids {
		el, err := xmppcore.Parse(current[id])
		if err != nil || !el.Is(NS, "conference") {
			continue
		}
		s.Append(fromNative(id, el).legacy())
	}
	// Keep the URL bookmarks, which native bookmarks do not have.
	if old, err := b.store.GetData(ctx, user.Domainpart(), user.Localpart(), storage.DataPrivate, NSLegacy); err == nil {
		if el, err := xmppcore.Parse(old); err == nil {
			for u := range el.Children() {
				if u.Local == "url" {
					s.Append(u.Clone())
				}
			}
		}
	}
	b.putPrivate(ctx, user, s)
	b.publish(ctx, user, NSLegacy, legacyItem, s)
}

// nativeItems returns the serialized payloads of the native bookmarks by
// item id (room JID).
func (b *Bookmarks) nativeItems(ctx context.Context, user jid.JID) (map[string][]byte, error) {
	svc := storage.PubSubService{Host: user.Domainpart(), Username: user.Localpart()}
	items, err := b.store.PubSubItems(ctx, svc, NS, 0)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return nil, err
	}
	out := make(map[string][]byte, len(items))
	for _, it := range items {
		out[it.ID] = it.Payload
	}
	return out, nil
}

func (b *Bookmarks) putPrivate(ctx context.Context, user jid.JID, s *xmppcore.Element) {
	err := b.store.PutData(ctx, user.Domainpart(), user.Localpart(), storage.DataPrivate, NSLegacy, s.AppendXML(nil, xmppcore.NSClient))
	if err != nil {
		b.relay.Logger().Error("bookmarks: store private XML", "user", user.String(), "err", err)
	}
}

// publish publishes one item as the user, with the publish-options
// XEP-0402 and XEP-0048 require.
func (b *Bookmarks) publish(ctx context.Context, user jid.JID, node, id string, payload *xmppcore.Element) {
	x := xmppcore.New(nsData, "x", "type", "submit").Append(
		field("FORM_TYPE", nsPublishOptions, "type", "hidden"),
		field("pubsub#persist_items", "true"),
		field("pubsub#access_model", "whitelist"))
	if node == NS {
		x.Append(field("pubsub#max_items", "max"))
	}
	b.relay.Send(ctx, user, xmppcore.New(nsPubSub, "pubsub").Append(
		xmppcore.New(nsPubSub, "publish", "node", node).Append(xmppcore.New(nsPubSub, "item", "id", id).Append(payload.Clone())),
		xmppcore.New(nsPubSub, "publish-options").Append(x)))
}

func field(v, value string, attrs ...string) *xmppcore.Element {
	f := xmppcore.New(nsData, "field", append([]string{"var", v}, attrs...)...)
	return f.Append(xmppcore.New(nsData, "value").AppendText(value))
}
