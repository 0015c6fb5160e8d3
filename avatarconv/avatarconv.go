// Package avatarconv keeps a user's vCard photo (XEP-0054, XEP-0153) and
// PEP avatar (XEP-0084) the same, as XEP-0398 describes, and advertises
// urn:xmpp:pep-vcard-conversion:0 on accounts:
//
//   - a vCard set with a PHOTO (BINVAL) is published as avatar data and
//     metadata on PEP; a vCard set without one publishes empty metadata
//     (avatar disabled) if an avatar was published;
//   - avatar metadata published on PEP puts the image its first <info/>
//     without url names (read from the data node) into the vCard PHOTO;
//     empty metadata removes the PHOTO;
//   - the user's broadcast presence gets <x xmlns='vcard-temp:x:update'>
//     with the avatar's SHA-1 when the user has an avatar (XEP-0153).
//
// It writes the vCard to storage directly (the vcard module sends no
// notification) and publishes on PEP through the pubsub protocol as the
// user, so that PEP notifies; see relay for how it avoids loops.
package avatarconv

import (
	"context"
	"crypto/sha1" //nolint:gosec // XEP-0084 and XEP-0153 name images by SHA-1
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"sync"

	"mellium.im/xmpp/jid"

	"parley.im/parley/module"
	"parley.im/parley/module/iqrelay"
	"parley.im/parley/router"
	"parley.im/parley/storage"
	"parley.im/parley/xmppcore"
)

// Namespaces and the feature.
const (
	Feature  = "urn:xmpp:pep-vcard-conversion:0"
	NSVCard  = "vcard-temp"
	NSUpdate = "vcard-temp:x:update"
	NSData   = "urn:xmpp:avatar:data"
	NSMeta   = "urn:xmpp:avatar:metadata"

	nsPubSub = "http://jabber.org/protocol/pubsub"
)

// Store is the part of storage the module uses.
type Store interface {
	GetData(ctx context.Context, host, username, kind, key string) ([]byte, error)
	PutData(ctx context.Context, host, username, kind, key string, value []byte) error
	PubSubItemsByID(ctx context.Context, svc storage.PubSubService, node string, ids []string) ([]storage.PubSubItem, error)
	LastPubSubItems(ctx context.Context, svc storage.PubSubService, nodes []string) (map[string]storage.PubSubItem, error)
}

var (
	_ module.Module = (*AvatarConv)(nil)
	_ Store         = storage.Store(nil)
)

// AvatarConv is the XEP-0398 module.
type AvatarConv struct {
	store  Store
	relay  *iqrelay.Relay
	router *router.Router

	mu     sync.Mutex
	hashes map[string]string // bare JID -> avatar SHA-1, "" for none; users with sessions
}

// New returns the vCard/PEP avatar conversion module over store.
func New(store Store) *AvatarConv {
	return &AvatarConv{store: store, hashes: make(map[string]string)}
}

// Name implements module.Module.
func (*AvatarConv) Name() string { return "avatarconv" }

// Register watches vCard sets and avatar metadata publishes, and the
// users' broadcast presence.
func (a *AvatarConv) Register(r *module.Registrar) error {
	a.relay = iqrelay.New("parley-avatarconv-", r.Router, r.Logger)
	a.router = r.Router
	r.Hook(router.EventIQBare, router.PriorityEarly, a.onBare)
	r.Hook(router.EventIQFull, router.PriorityEarly, a.relay.Answer)
	r.Hook(router.EventPreRoute, router.PriorityDefault, a.onPresence)
	r.OnSessionEnded(func(_ context.Context, s router.Session, _ bool) {
		bare := s.JID().Bare()
		if len(a.router.Resources(bare)) == 0 {
			a.mu.Lock()
			delete(a.hashes, bare.String())
			a.mu.Unlock()
		}
	})
	r.Feature(module.Account, Feature)
	return nil
}

func (a *AvatarConv) onBare(ctx context.Context, st *router.Stanza) bool {
	if a.relay.Answer(ctx, st) {
		return true
	}
	if st.Origin == nil || st.Type() != "set" || st.El.ChildCount() != 1 || !st.From.Bare().Equal(st.To.Bare()) {
		return false
	}
	user := st.To.Bare()
	q := st.El.FirstChild()
	switch {
	case q.Is(NSVCard, "vCard"):
		v := q.Clone()
		a.relay.Forward(ctx, st, func(ctx context.Context) { a.fromVCard(ctx, user, v) })
		return true
	case q.Is(nsPubSub, "pubsub"):
		pub := q.Child(nsPubSub, "publish")
		if pub == nil || pub.Attr("node") != NSMeta {
			return false
		}
		it := pub.Child(nsPubSub, "item")
		if it == nil {
			return false
		}
		meta := it.Child(NSMeta, "metadata")
		if meta == nil {
			return false
		}
		meta = meta.Clone()
		a.relay.Forward(ctx, st, func(ctx context.Context) { a.fromMetadata(ctx, user, meta) })
		return true
	}
	return false
}

// photo returns the image of a vCard's PHOTO, in base64 without spaces,
// its type and its SHA-1, or ok false.
func photo(v *xmppcore.Element) (b64, typ, hash string, size int, ok bool) {
	p := v.Child(NSVCard, "PHOTO")
	if p == nil {
		return "", "", "", 0, false
	}
	raw := strings.Join(strings.Fields(p.ChildText(NSVCard, "BINVAL")), "")
	data, err := base64.StdEncoding.DecodeString(raw)
	if err != nil || len(data) == 0 {
		return "", "", "", 0, false
	}
	sum := sha1.Sum(data) //nolint:gosec // see import
	typ = strings.TrimSpace(p.ChildText(NSVCard, "TYPE"))
	if typ == "" {
		typ = "image/png"
	}
	return base64.StdEncoding.EncodeToString(data), typ, hex.EncodeToString(sum[:]), len(data), true
}

func svc(user jid.JID) storage.PubSubService {
	return storage.PubSubService{Host: user.Domainpart(), Username: user.Localpart()}
}

// published returns the id of the avatar the metadata node announces, ""
// for none.
func (a *AvatarConv) published(ctx context.Context, user jid.JID) (string, error) {
	last, err := a.store.LastPubSubItems(ctx, svc(user), []string{NSMeta})
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return "", err
	}
	it, ok := last[NSMeta]
	if !ok || len(it.Payload) == 0 {
		return "", nil
	}
	meta, err := xmppcore.Parse(it.Payload)
	if err != nil {
		return "", err
	}
	if info := firstInfo(meta); info != nil {
		return info.Attr("id"), nil
	}
	return "", nil
}

// firstInfo returns the first <info/> of metadata whose data is in PEP.
func firstInfo(meta *xmppcore.Element) *xmppcore.Element {
	for c := range meta.Children() {
		if c.Is(NSMeta, "info") && c.Attr("url") == "" && c.Attr("id") != "" {
			return c
		}
	}
	return nil
}

func (a *AvatarConv) fromVCard(ctx context.Context, user jid.JID, v *xmppcore.Element) {
	cur, err := a.published(ctx, user)
	if err != nil {
		a.relay.Logger().Error("avatarconv: read avatar metadata", "user", user.String(), "err", err)
		return
	}
	b64, typ, hash, size, ok := photo(v)
	if !ok {
		if cur != "" {
			a.publish(ctx, user, NSMeta, "current", xmppcore.New(NSMeta, "metadata"))
		}
		a.setHash(user, "")
		return
	}
	if cur != hash {
		a.publish(ctx, user, NSData, hash, xmppcore.New(NSData, "data").AppendText(b64))
		a.publish(ctx, user, NSMeta, hash, xmppcore.New(NSMeta, "metadata").Append(
			xmppcore.New(NSMeta, "info", "bytes", strconv.Itoa(size), "id", hash, "type", typ)))
	}
	a.setHash(user, hash)
}

func (a *AvatarConv) fromMetadata(ctx context.Context, user jid.JID, meta *xmppcore.Element) {
	host, name := user.Domainpart(), user.Localpart()
	v := xmppcore.New(NSVCard, "vCard")
	if b, err := a.store.GetData(ctx, host, name, storage.DataVCard, ""); err == nil {
		if el, err := xmppcore.Parse(b); err == nil && el.Is(NSVCard, "vCard") {
			v = el
		}
	} else if !errors.Is(err, storage.ErrNotFound) {
		a.relay.Logger().Error("avatarconv: read vCard", "user", user.String(), "err", err)
		return
	}
	var photoEl *xmppcore.Element
	hash := ""
	if info := firstInfo(meta); info != nil {
		hash = info.Attr("id")
		items, err := a.store.PubSubItemsByID(ctx, svc(user), NSData, []string{hash})
		if err != nil || len(items) == 0 {
			a.relay.Logger().Warn("avatarconv: avatar data not found", "user", user.String(), "id", hash, "err", err)
			return
		}
		data, err := xmppcore.Parse(items[0].Payload)
		if err != nil || !data.Is(NSData, "data") {
			return
		}
		typ := info.Attr("type")
		if typ == "" {
			typ = "image/png"
		}
		photoEl = xmppcore.New(NSVCard, "PHOTO").Append(
			xmppcore.New(NSVCard, "TYPE").AppendText(typ),
			xmppcore.New(NSVCard, "BINVAL").AppendText(strings.Join(strings.Fields(data.Text()), "")))
	}
	// Replace the PHOTO, in place when there is one.
	var nodes []xmppcore.Node
	placed := false
	for _, n := range v.Nodes {
		if n.Elem != nil && n.Elem.Is(NSVCard, "PHOTO") {
			if photoEl != nil && !placed {
				nodes = append(nodes, xmppcore.Node{Elem: photoEl})
				placed = true
			}
			continue
		}
		nodes = append(nodes, n)
	}
	if photoEl != nil && !placed {
		nodes = append(nodes, xmppcore.Node{Elem: photoEl})
	}
	v.Nodes = nodes
	if err := a.store.PutData(ctx, host, name, storage.DataVCard, "", v.AppendXML(nil, xmppcore.NSClient)); err != nil {
		a.relay.Logger().Error("avatarconv: store vCard", "user", user.String(), "err", err)
		return
	}
	a.setHash(user, hash)
}

func (a *AvatarConv) publish(ctx context.Context, user jid.JID, node, id string, payload *xmppcore.Element) {
	a.relay.Send(ctx, user, xmppcore.New(nsPubSub, "pubsub").Append(
		xmppcore.New(nsPubSub, "publish", "node", node).Append(xmppcore.New(nsPubSub, "item", "id", id).Append(payload))))
}

func (a *AvatarConv) setHash(user jid.JID, hash string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.hashes[user.String()] = hash
}

// hash returns the SHA-1 of the user's avatar, "" for none: the PEP
// avatar's, or else the vCard photo's.
func (a *AvatarConv) hash(ctx context.Context, user jid.JID) string {
	a.mu.Lock()
	h, ok := a.hashes[user.String()]
	a.mu.Unlock()
	if ok {
		return h
	}
	h, err := a.published(ctx, user)
	if err != nil {
		a.relay.Logger().Error("avatarconv: read avatar metadata", "user", user.String(), "err", err)
		return ""
	}
	if h == "" {
		if b, err := a.store.GetData(ctx, user.Domainpart(), user.Localpart(), storage.DataVCard, ""); err == nil {
			if v, err := xmppcore.Parse(b); err == nil {
				_, _, h, _, _ = photo(v)
			}
		}
	}
	a.setHash(user, h)
	return h
}

// onPresence adds the avatar hash to the user's available broadcast
// presence (XEP-0153 §3.2), replacing the photo the client gave.
func (a *AvatarConv) onPresence(ctx context.Context, st *router.Stanza) bool {
	if st.Kind() != xmppcore.Presence || st.El.Attr("to") != "" || st.Type() != "" {
		return false
	}
	h := a.hash(ctx, st.From.Bare())
	if h == "" {
		return false
	}
	x := st.El.Child(NSUpdate, "x")
	if x == nil {
		x = xmppcore.New(NSUpdate, "x")
		st.El.Append(x)
	}
	var nodes []xmppcore.Node
	for _, n := range x.Nodes {
		if n.Elem != nil && n.Elem.Is(NSUpdate, "photo") {
			continue
		}
		nodes = append(nodes, n)
	}
	x.Nodes = append(nodes, xmppcore.Node{Elem: xmppcore.New(NSUpdate, "photo").AppendText(h)})
	return false
}
