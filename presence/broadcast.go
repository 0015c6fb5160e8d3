package presence

import (
	"context"
	"errors"
	"time"

	"mellium.im/xmpp/jid"

	"parley.im/parley/router"
	"parley.im/parley/storage"
	"parley.im/parley/xmppcore"
)

// state of sessions

// sessionBound forgets whatever an older session bound to the same full
// JID left behind (the router replaced it without ending it here).
func (p *Presence) sessionBound(_ context.Context, s router.Session, _ bool) {
	p.mu.Lock()
	p.sessions[s.JID().String()] = &session{sess: s}
	p.mu.Unlock()
}

// sess returns the record of s, creating it if needed.
func (p *Presence) sess(s router.Session) *session {
	key := s.JID().String()
	p.mu.Lock()
	defer p.mu.Unlock()
	ss := p.sessions[key]
	if ss == nil || ss.sess != s {
		ss = &session{sess: s}
		p.sessions[key] = ss
	}
	return ss
}

// take removes the record of s and returns it (nil if none).
func (p *Presence) take(s router.Session) *session {
	key := s.JID().String()
	p.mu.Lock()
	defer p.mu.Unlock()
	ss := p.sessions[key]
	if ss == nil || ss.sess != s {
		return nil
	}
	delete(p.sessions, key)
	return ss
}

// trackDirected remembers directed available presence (RFC 6121 §4.6),
// to send unavailable presence when the session goes unavailable or ends;
// directed unavailable presence ends that.
func (p *Presence) trackDirected(st *router.Stanza, typ string) {
	if st.To.Bare().Equal(st.From.Bare()) {
		return // the user's own resources hear of it anyway
	}
	ss := p.sess(st.Origin)
	key := st.To.String()
	p.mu.Lock()
	defer p.mu.Unlock()
	if typ == Unavailable {
		delete(ss.directed, key)
		return
	}
	if ss.directed == nil {
		ss.directed = make(map[string]jid.JID)
	}
	ss.directed[key] = st.To
}

// handleBroadcast sends presence without 'to' (RFC 6121 §4.2, §4.4, §4.5)
// to the contacts subscribed to the user, to the user's available
// resources, and, when it is unavailable, to the targets of directed
// presence. Initial presence also probes the contacts the user is
// subscribed to and presents pending subscription requests. It never
// claims the stanza: the router does nothing more with it, and other
// modules (offline messages at initial presence) must see it too.
func (p *Presence) handleBroadcast(ctx context.Context, st *router.Stanza) bool {
	typ := st.Type()
	if st.Origin == nil || (typ != "" && typ != Unavailable) {
		return false
	}
	ss := p.sess(st.Origin)
	p.mu.Lock()
	wasAvailable := ss.available
	var directed map[string]jid.JID
	if typ == "" {
		ss.available = true
	} else {
		ss.available = false
		directed, ss.directed = ss.directed, nil
	}
	p.mu.Unlock()

	user := st.From
	items := p.rosterOf(ctx, user.Bare())
	if typ == "" || wasAvailable {
		p.toContacts(ctx, st.El, user, items)
		// §4.2.2, §4.4.2: the user's available resources, the sender
		// included (a user is implicitly subscribed to itself).
		for _, ri := range p.router().Resources(user.Bare()) {
			if ri.Available || ri.Session == st.Origin {
				el := st.El.ShallowClone()
				el.SetAttr("to", ri.Session.JID().String())
				ri.Session.Send(el)
			}
		}
	}
	if typ == Unavailable {
		p.toDirected(ctx, st.El, user, items, directed)
		if wasAvailable {
			p.noteUnavailable(user, st.El)
		}
		return false
	}
	if st.Initial {
		p.probe(ctx, user, items)
		p.pendingRequests(ctx, st.Origin)
	}
	return false
}

// rosterOf returns the user's roster (nil on a storage error, logged).
func (p *Presence) rosterOf(ctx context.Context, user jid.JID) []storage.RosterItem {
	host, username := userOf(user)
	items, _, err := p.store.RosterItems(ctx, host, username)
	if err != nil {
		p.logger().Error("reading the roster failed", "user", user.String(), "err", err)
	}
	return items
}

// toContacts sends el from the user's resource to each contact subscribed
// to the user's presence.
func (p *Presence) toContacts(ctx context.Context, el *xmppcore.Element, from jid.JID, items []storage.RosterItem) {
	for i := range items {
		if !stateOf(&items[i]).from {
			continue
		}
		contact, err := jid.Parse(items[i].JID)
		if err != nil || contact.Equal(from.Bare()) {
			continue
		}
		p.generated(ctx, el.ShallowClone(), from, contact)
	}
}

// toDirected sends el to the targets of directed presence that the
// broadcast did not reach.
func (p *Presence) toDirected(ctx context.Context, el *xmppcore.Element, from jid.JID, items []storage.RosterItem, directed map[string]jid.JID) {
	subscribed := make(map[string]bool)
	for i := range items {
		if stateOf(&items[i]).from {
			subscribed[items[i].JID] = true
		}
	}
	for _, to := range directed {
		if !subscribed[to.Bare().String()] {
			p.generated(ctx, el.ShallowClone(), from, to)
		}
	}
}

// noteUnavailable remembers the unavailable presence of an account's last
// available resource, to answer probes while it is offline.
func (p *Presence) noteUnavailable(user jid.JID, el *xmppcore.Element) {
	for _, ri := range p.router().Resources(user.Bare()) {
		if ri.Available {
			return
		}
	}
	c := el.ShallowClone()
	c.RemoveAttr("to")
	c.SetAttr("from", user.String())
	p.mu.Lock()
	p.lastSeen[user.Bare().String()] = lastSeen{el: c, at: p.now()}
	p.mu.Unlock()
}

// sessionEnded broadcasts unavailable presence for a session that ended
// while available, as if the user had sent it (RFC 6121 §4.5.2), and ends
// its directed presence.
func (p *Presence) sessionEnded(ctx context.Context, s router.Session, wasAvailable bool) {
	ss := p.take(s)
	var directed map[string]jid.JID
	if ss != nil {
		directed = ss.directed
	}
	if !wasAvailable && len(directed) == 0 {
		return
	}
	user := s.JID()
	el := newPresence(Unavailable)
	el.SetAttr("from", user.String())
	items := p.rosterOf(ctx, user.Bare())
	if wasAvailable {
		p.toContacts(ctx, el, user, items)
		for _, ri := range p.router().Resources(user.Bare()) {
			if ri.Available {
				c := el.ShallowClone()
				c.SetAttr("to", ri.Session.JID().String())
				ri.Session.Send(c)
			}
		}
		p.noteUnavailable(user, el)
	}
	p.toDirected(ctx, el, user, items, directed)
}

// probe asks for the presence of the contacts the user is subscribed to
// (RFC 6121 §4.2.2, §4.3.1). A local contact's presence is answered here
// directly, to the resource that became available; a remote one gets a
// probe from the user's bare JID when federation is on.
func (p *Presence) probe(ctx context.Context, user jid.JID, items []storage.RosterItem) {
	rt := p.router()
	for i := range items {
		if !stateOf(&items[i]).to {
			continue
		}
		contact, err := jid.Parse(items[i].JID)
		if err != nil || contact.Equal(user.Bare()) {
			continue
		}
		if rt.IsLocalHost(contact.Domainpart()) {
			p.answerProbe(ctx, contact, user)
		} else {
			p.generated(ctx, newPresence(Probe), user.Bare(), contact)
		}
	}
}

// answerProbe answers a probe of a local account's presence from
// requester (RFC 6121 §4.3.2): unsubscribed if the requester has no
// subscription, else the last presence of each available resource, else
// the last unavailable presence with the time it was sent when known.
func (p *Presence) answerProbe(ctx context.Context, owner, requester jid.JID) {
	owner = owner.Bare()
	if !requester.Bare().Equal(owner) {
		host, username := userOf(owner)
		it, err := p.store.RosterItem(ctx, host, username, requester.Bare().String())
		if err != nil || !stateOf(&it).from {
			if err == nil || errors.Is(err, storage.ErrNotFound) {
				p.generated(ctx, newPresence(Unsubscribed), owner, requester.Bare())
			}
			return
		}
	}
	answered := false
	for _, ri := range p.router().Resources(owner) {
		if ri.Available && ri.Presence != nil {
			p.generated(ctx, ri.Presence.ShallowClone(), ri.Session.JID(), requester)
			answered = true
		}
	}
	if answered {
		return
	}
	p.mu.Lock()
	last, known := p.lastSeen[owner.String()]
	p.mu.Unlock()
	if !known {
		p.generated(ctx, newPresence(Unavailable), owner, requester)
		return
	}
	el := last.el.ShallowClone()
	el.Append(xmppcore.New(NSDelay, "delay", "from", owner.Domainpart(),
		"stamp", last.at.UTC().Format(time.RFC3339)))
	from, err := jid.Parse(el.Attr("from"))
	if err != nil {
		from = owner
	}
	p.generated(ctx, el, from, requester)
}
