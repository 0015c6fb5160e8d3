package c2s

import (
	"slices"
	"sync"

	"mellium.im/xmpp/stream"

	"parley.im/parley/xmppcore"
)

// XEP-0352 client state indication. While the client says it is inactive,
// Send holds back what the user would not miss right away: presence
// updates and chat-state-only messages, keeping only the latest from each
// sender (full JID). The next important stanza (any other message, an IQ,
// a subscription request) takes them along, in the order they came, just
// before itself; <active/> flushes them. A stream starts active, and a
// resumed one is active again (XEP-0352 §Interaction with Stream
// Management).

const nsClientState = "urn:xmpp:csi:0"

// maxHeld bounds the stanzas held for one session: past it (a user with
// many contacts changing status), everything held goes out.
const maxHeld = 1024

type csiState struct {
	mu   sync.Mutex
	seq  uint64
	held map[csiKey]heldStanza
}

type csiKey struct {
	kind string // "presence" or "chatstate"
	from string
}

type heldStanza struct {
	seq uint64
	el  *xmppcore.Element
}

// csiSet records the client's state; active flushes what was held. It is
// called by the session's reader (or by Bind2 during negotiation).
func (c *conn) csiSet(active bool) {
	c.csi.mu.Lock()
	defer c.csi.mu.Unlock()
	if !active {
		c.inactive.Store(true)
		return
	}
	c.inactive.Store(false)
	c.flushHeldLocked()
}

// csiHold decides, for a session whose client is inactive, whether el is
// held back (true) or goes out now (after what was held).
func (c *conn) csiHold(el *xmppcore.Element) bool {
	key, ok := holdable(el)
	c.csi.mu.Lock()
	defer c.csi.mu.Unlock()
	if !c.inactive.Load() {
		return false // became active meanwhile
	}
	if !ok {
		c.flushHeldLocked()
		return false
	}
	if c.csi.held == nil {
		c.csi.held = make(map[csiKey]heldStanza)
	}
	c.csi.seq++
	c.csi.held[key] = heldStanza{seq: c.csi.seq, el: el}
	if len(c.csi.held) > maxHeld {
		c.flushHeldLocked()
	}
	return true
}

// flushHeldLocked queues what was held, oldest first.
func (c *conn) flushHeldLocked() {
	if len(c.csi.held) == 0 {
		return
	}
	held := make([]heldStanza, 0, len(c.csi.held))
	for _, h := range c.csi.held {
		held = append(held, h)
	}
	clear(c.csi.held)
	slices.SortFunc(held, func(a, b heldStanza) int {
		switch {
		case a.seq < b.seq:
			return -1
		case a.seq > b.seq:
			return 1
		}
		return 0
	})
	for _, h := range held {
		if !c.enqueue(h.el) {
			return
		}
	}
}

// holdable reports whether el may wait while the client is inactive, and
// under which key (a newer stanza with the same key replaces it).
func holdable(el *xmppcore.Element) (csiKey, bool) {
	from := el.Attr("from")
	switch el.Local {
	case xmppcore.Presence:
		switch el.Attr("type") {
		case "", "unavailable":
			return csiKey{"presence", from}, true
		}
		return csiKey{}, false // subscriptions, probes, errors
	case xmppcore.Message:
		if el.Attr("type") == "error" {
			return csiKey{}, false
		}
		if chatStateOnly(el) {
			return csiKey{"chatstate", from}, true
		}
	}
	return csiKey{}, false
}

const (
	nsChatStates = "http://jabber.org/protocol/chatstates" // XEP-0085
	nsHints      = "urn:xmpp:hints"                        // XEP-0334
	nsDelay      = "urn:xmpp:delay"                        // XEP-0203
)

// chatStateOnly reports whether a message carries a chat state and nothing
// a user would miss: no body, no encrypted payload, no receipt request,
// nothing else but a thread, hints, ids and a delay.
func chatStateOnly(el *xmppcore.Element) bool {
	state := false
	for ch := range el.Children() {
		switch ch.Space {
		case nsChatStates:
			state = true
		case "":
			if ch.Local != "thread" {
				return false // body, subject, ...
			}
		case nsHints, nsSID, nsDelay:
		default:
			return false
		}
	}
	return state
}

// enqueue puts el on the outbound queue, or closes the session when the
// queue is full (as Send does).
func (c *conn) enqueue(el *xmppcore.Element) bool {
	if c.out.push(el) {
		c.kickWriter()
		return true
	}
	c.srv.log.Warn("outbound queue full; closing the session", "jid", c.jid.String(), "queue", c.out.max)
	if o := c.srv.deps.Observer; o != nil {
		o.QueueDrop()
	}
	c.Close(stream.PolicyViolation, "too many stanzas waiting: the client reads too slowly")
	return false
}

// csiNonza handles <active/> and <inactive/>. Nothing is answered.
func (c *conn) csiNonza(el *xmppcore.Element) error {
	switch el.Local {
	case "active":
		c.csiSet(true)
	case "inactive":
		c.csiSet(false)
	default:
		return fail(stream.UnsupportedStanzaType, "unsupported element %s", el.Local)
	}
	return nil
}
