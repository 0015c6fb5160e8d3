package muc

import (
	"strconv"
	"time"

	"mellium.im/xmpp/jid"

	"parley.im/parley/xmppcore"
)

// history is the discussion history of a room (§7.2.14): the last
// messages, as reflected (from the sender's occupant JID, without 'to'),
// in a ring sized by the room's history length.
type history struct {
	ring  []histEntry
	start int // index of the oldest
	n     int
}

type histEntry struct {
	el   *xmppcore.Element
	from jid.JID
	at   time.Time
	size int // serialized length with <delay/>, without 'to'; 0 until needed
}

// resize keeps the newest entries that fit in a ring of n.
func (h *history) resize(n int) {
	if n == len(h.ring) {
		return
	}
	old := h.entries()
	h.ring = make([]histEntry, n)
	h.start, h.n = 0, 0
	if len(old) > n {
		old = old[len(old)-n:]
	}
	for _, e := range old {
		h.add(e)
	}
}

func (h *history) add(e histEntry) {
	if len(h.ring) == 0 {
		return
	}
	if h.n < len(h.ring) {
		h.ring[(h.start+h.n)%len(h.ring)] = e
		h.n++
		return
	}
	h.ring[h.start] = e
	h.start = (h.start + 1) % len(h.ring)
}

// at returns the i-th entry, oldest first.
func (h *history) at(i int) *histEntry { return &h.ring[(h.start+i)%len(h.ring)] }

func (h *history) entries() []histEntry {
	out := make([]histEntry, h.n)
	for i := range out {
		out[i] = *h.at(i)
	}
	return out
}

// historic reports whether a groupchat message goes into the history: it
// has a body, or asks to be stored (XEP-0334), and does not ask not to be.
func historic(el *xmppcore.Element) bool {
	if el.Child(NSHints, "no-store") != nil || el.Child(NSHints, "no-permanent-store") != nil {
		return false
	}
	return el.Child("", "body") != nil || el.Child(NSHints, "store") != nil
}

// delayed is a history entry as sent to a newcomer: with a XEP-0203
// <delay/> from the room, unless the message has one already (§7.9: a
// one-to-one history an owner sent to the room keeps its own stamps).
func (r *room) delayed(e *histEntry) *xmppcore.Element {
	el := e.el.ShallowClone()
	if e.el.Child(NSDelay, "delay") == nil {
		el.Append(xmppcore.New(NSDelay, "delay", "from", r.jidStr, "stamp", stamp(e.at)))
	}
	return el
}

// sendHistory queues to s the history its join asked for (§7.2.15): the
// newest messages that satisfy every limit given, within the room's
// history length. maxchars counts the characters of the complete stanzas.
func (r *room) sendHistory(s *occSession, req *xmppcore.Element) {
	h := &r.history
	if h.n == 0 {
		return
	}
	maxStanzas, maxChars := h.n, -1
	var since time.Time
	if req != nil {
		if v, ok := attrInt(req, "maxstanzas"); ok {
			maxStanzas = min(maxStanzas, v)
		}
		if v, ok := attrInt(req, "maxchars"); ok {
			maxChars = v
		}
		if v, ok := attrInt(req, "seconds"); ok {
			since = r.svc.m.now().Add(-time.Duration(v) * time.Second)
		}
		if v := req.Attr("since"); v != "" {
			if t, err := time.Parse(time.RFC3339Nano, v); err == nil && t.After(since) {
				since = t
			}
		}
	}
	// Walk back from the newest while every limit holds.
	first, chars := h.n, 0
	toLen := len(` to=""`) + len(xmppcore.EscapeAttr(s.rc.str))
	for i := h.n - 1; i >= 0 && h.n-i <= maxStanzas; i-- {
		e := h.at(i)
		if !since.IsZero() && !e.at.After(since) {
			break
		}
		if maxChars >= 0 {
			if e.size == 0 {
				e.size = len(r.delayed(e).AppendXML(nil, xmppcore.NSClient))
			}
			if chars+e.size+toLen > maxChars {
				break
			}
			chars += e.size + toLen
		}
		first = i
	}
	for i := first; i < h.n; i++ {
		e := h.at(i)
		r.send(r.delayed(e), e.from, s.rc)
	}
}

// attrInt parses a non-negative integer attribute.
func attrInt(el *xmppcore.Element, name string) (int, bool) {
	v, ok := el.LookupAttr("", name)
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// subjectMessage is the subject as sent to a newcomer (§7.2.16) and on a
// change: from the occupant JID of who set it, or the room; with a
// <delay/> saying when, unless it was never set.
func (r *room) subjectMessage() *xmppcore.Element {
	from := r.jidStr
	if r.subjectBy != "" {
		from = r.jidStr + "/" + r.subjectBy
	}
	el := xmppcore.New("", xmppcore.Message, "from", from, "type", "groupchat", "id", newID())
	el.Append(xmppcore.New("", "subject").AppendText(r.subject))
	if !r.subjectAt.IsZero() {
		el.Append(xmppcore.New(NSDelay, "delay", "from", r.jidStr, "stamp", stamp(r.subjectAt)))
	}
	return el
}

// sendSubject queues the subject to s.
func (r *room) sendSubject(s *occSession) {
	from := r.jid
	if r.subjectBy != "" {
		if j, err := r.jid.WithResource(r.subjectBy); err == nil {
			from = j
		}
	}
	r.send(r.subjectMessage(), from, s.rc)
}
