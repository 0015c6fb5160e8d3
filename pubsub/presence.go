package pubsub

import (
	"context"
	"strings"

	"mellium.im/xmpp/jid"

	"parley.im/parley/router"
	"parley.im/parley/xmppcore"
)

// maxRemoteResources bounds the remote resources remembered per local
// account.
const maxRemoteResources = 4096

// onBroadcast sees a local user's broadcast presence, after the presence
// module sent it on. Caps not known yet are asked for; at initial
// presence the resource gets the last items it is interested in (XEP-0163
// §4.3.3), now or once its caps are known. It never claims the stanza.
func (p *PEP) onBroadcast(ctx context.Context, st *router.Stanza) bool {
	if st.Origin == nil || st.Type() != "" {
		return false
	}
	full := st.From
	ref, ok := capsOf(st.El)
	if !ok {
		return false
	}
	if fs, known := p.caps.features(full, ref); known {
		if st.Initial {
			p.lastItems(ctx, full, fs)
		}
		return false
	}
	if id := p.caps.request(full.Bare(), full, ref, st.Initial); id != "" {
		p.queryCaps(ctx, id, full.Bare(), full, ref)
	}
	return false
}

// queryCaps sends the disco#info query of XEP-0115 §6.2 from a local bare
// JID to the resource that advertised the caps.
func (p *PEP) queryCaps(ctx context.Context, id string, from, to jid.JID, ref capsRef) {
	q := xmppcore.New(NSDiscoInfo, "query")
	if ref.node != "" {
		q.SetAttr("node", ref.node+"#"+ref.ver)
	}
	iq := xmppcore.New("", xmppcore.IQ, "type", "get", "id", id, "from", from.String(), "to", to.String()).Append(q)
	p.router().Route(ctx, &router.Stanza{El: iq, From: from, To: to})
}

// onIQReply claims the answers to caps queries, which come back to the
// bare JID that asked.
func (p *PEP) onIQReply(ctx context.Context, st *router.Stanza) bool {
	typ := st.Type()
	id := st.El.Attr("id")
	if (typ != "result" && typ != "error") || !strings.HasPrefix(id, "caps-") {
		return false
	}
	q, ok := p.caps.take(id, st.From)
	if !ok || !q.from.Equal(st.To.Bare()) {
		return false
	}
	var fs featureSet
	if typ == "result" {
		fs = p.verify(q, st.El)
	}
	served, retry, retryID := p.caps.answered(id, q, fs)
	if retry != nil {
		p.queryCaps(ctx, retryID, retry.from, retry.full, retry.ref)
	}
	for _, w := range served {
		p.serveWaiter(ctx, w, fs)
	}
	return true
}

// verify checks a disco#info answer against the verification string it
// was asked for (XEP-0115 §5.4) and returns the features, or nil when the
// answer is not to be trusted. For a hash function not supported, the
// features are taken as they are, for that JID only.
func (p *PEP) verify(q *capsQuery, iq *xmppcore.Element) featureSet {
	query := iq.Child(NSDiscoInfo, "query")
	if query == nil {
		return nil
	}
	fs := featureSet{}
	h := hashFunc(q.ref.hash)
	if h == nil {
		for f := range query.Children() {
			if f.Is(NSDiscoInfo, "feature") {
				fs[f.Attr("var")] = struct{}{}
			}
		}
		return fs
	}
	ver, feats, err := verString(query, h)
	if err != nil || ver != q.ref.ver {
		p.logger().Debug("caps not verified", "jid", q.target.String(), "ver", q.ref.ver, "computed", ver, "err", err)
		return nil
	}
	for _, f := range feats {
		fs[f] = struct{}{}
	}
	return fs
}

// serveWaiter sends the last items to a resource whose initial presence
// waited for its caps, if it still advertises them.
func (p *PEP) serveWaiter(ctx context.Context, w waiter, fs featureSet) {
	rt := p.router()
	if !rt.IsLocalHost(w.full.Domainpart()) {
		p.mu.Lock()
		ref, ok := p.remote[w.from.String()][w.full.String()]
		p.mu.Unlock()
		if ok && ref == w.ref {
			p.remoteLastItems(ctx, w.from, w.full, fs)
		}
		return
	}
	for _, ri := range rt.Resources(w.full.Bare()) {
		if ri.Session.JID().Equal(w.full) {
			if ref, ok := capsOf(ri.Presence); ok && ri.Available && ref == w.ref {
				p.lastItems(ctx, w.full, fs)
			}
			return
		}
	}
}

// onRemotePresence follows the available resources of remote contacts
// from the presence they send local users (with Federation only), and
// their caps: local contacts are in the router's registry already.
func (p *PEP) onRemotePresence(ctx context.Context, st *router.Stanza) bool {
	from := st.From
	if st.Origin != nil || from.Resourcepart() == "" || p.router().IsLocalHost(from.Domainpart()) {
		return false
	}
	owner := st.To.Bare()
	switch st.Type() {
	case "":
		ref, hasCaps := capsOf(st.El)
		p.mu.Lock()
		m := p.remote[owner.String()]
		if m == nil {
			m = map[string]capsRef{}
			p.remote[owner.String()] = m
		}
		_, was := m[from.String()]
		if !was && len(m) >= maxRemoteResources {
			p.mu.Unlock()
			return false
		}
		m[from.String()] = ref
		p.mu.Unlock()
		if !hasCaps {
			return false
		}
		if fs, known := p.caps.features(from, ref); known {
			if !was {
				p.remoteLastItems(ctx, owner, from, fs)
			}
			return false
		}
		if id := p.caps.request(owner, from, ref, !was); id != "" {
			p.queryCaps(ctx, id, owner, from, ref)
		}
	case "unavailable":
		p.mu.Lock()
		if m := p.remote[owner.String()]; m != nil {
			delete(m, from.String())
			if len(m) == 0 {
				delete(p.remote, owner.String())
			}
		}
		p.mu.Unlock()
	}
	return false
}

// remoteInterested returns the remote resources of contact known to
// owner whose caps ask for node+notify.
func (p *PEP) remoteInterested(owner, contact jid.JID, node string) []jid.JID {
	if !p.opts.Federation {
		return nil
	}
	p.mu.Lock()
	var cands []jid.JID
	for s, ref := range p.remote[owner.String()] {
		full, err := jid.Parse(s)
		if err != nil || !full.Bare().Equal(contact) {
			continue
		}
		if fs, ok := p.caps.features(full, ref); ok && fs.has(node+"+notify") {
			cands = append(cands, full)
		}
	}
	p.mu.Unlock()
	return cands
}

// remoteLastItems sends a remote contact's newly available resource the
// last items of owner's nodes it is entitled to and interested in.
func (p *PEP) remoteLastItems(ctx context.Context, owner, full jid.JID, fs featureSet) {
	p.lastItemsOf(ctx, owner, full, fs)
}

// sessionEnded forgets what was kept for the session's resource, and the
// remote resources known to the account when it was the last.
func (p *PEP) sessionEnded(_ context.Context, s router.Session, _ bool) {
	full := s.JID()
	p.caps.forget(full)
	if len(p.router().Resources(full.Bare())) == 0 {
		p.mu.Lock()
		delete(p.remote, full.Bare().String())
		p.mu.Unlock()
	}
}
