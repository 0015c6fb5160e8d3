package iqrelay

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"mellium.im/xmpp/jid"

	"parley.im/parley/router"
	"parley.im/parley/xmppcore"
)

// Relay passes IQs to the other modules through routing and catches their
// answers by id, so that the module talks to private XML and PEP through
// the protocol without importing them.
//
// A user's request is relayed under a fresh id with no Origin, so that its
// answer is routed back to the user's full JID (EventIQFull), where the
// relay restores the id, hands the answer to the user's session and, on a
// result, runs the conversion. Requests of the module's own are sent from
// the user's bare JID to itself and answered there (EventIQBare). Neither
// kind has an Origin, so the module never relays what it sent itself: a
// conversion cannot trigger the reverse one.
type Relay struct {
	prefix string
	r      *router.Router
	log    *slog.Logger
	n      atomic.Uint64

	mu      sync.Mutex
	pending map[string]pendingIQ
}

type pendingIQ struct {
	origin router.Session // nil for the module's own requests
	id     string         // the user's id
	done   func(ctx context.Context)
	at     time.Time
}

// pendingTTL is how long an answer is waited for; a handler answers
// synchronously, so only a lost answer gets that old.
const pendingTTL = 2 * time.Minute

// New returns a relay whose request ids start with prefix (unique per
// module).
func New(prefix string, r *router.Router, log *slog.Logger) *Relay {
	return &Relay{prefix: prefix, r: r, log: log, pending: make(map[string]pendingIQ)}
}

func (rl *Relay) add(p pendingIQ) string {
	id := rl.prefix + strconv.FormatUint(rl.n.Add(1), 10)
	now := time.Now()
	p.at = now
	rl.mu.Lock()
	defer rl.mu.Unlock()
	for k, v := range rl.pending {
		if now.Sub(v.at) > pendingTTL {
			delete(rl.pending, k)
		}
	}
	rl.pending[id] = p
	return id
}

// Forward relays a user's request; done runs after the user got a result.
func (rl *Relay) Forward(ctx context.Context, st *router.Stanza, done func(ctx context.Context)) {
	el := st.El.Clone()
	el.SetAttr("id", rl.add(pendingIQ{origin: st.Origin, id: st.El.Attr("id"), done: done}))
	rl.r.Route(ctx, &router.Stanza{El: el, From: st.From, To: st.To})
}

// Send sends a request of the module's own from user's bare JID to itself.
func (rl *Relay) Send(ctx context.Context, user jid.JID, payload *xmppcore.Element) {
	u := user.Bare()
	id := rl.add(pendingIQ{})
	el := xmppcore.New("", xmppcore.IQ, "type", "set", "id", id, "from", u.String(), "to", u.String()).Append(payload)
	rl.r.Route(ctx, &router.Stanza{El: el, From: u, To: u})
}

// Answer claims an answer to a relayed request: hook it on EventIQFull
// (answers to users) and EventIQBare (answers to the module's own requests).
func (rl *Relay) Answer(ctx context.Context, st *router.Stanza) bool {
	id, ok := AnswerID(st, rl.prefix)
	if !ok {
		return false
	}
	typ := st.Type()
	rl.mu.Lock()
	p, ok := rl.pending[id]
	delete(rl.pending, id)
	rl.mu.Unlock()
	if !ok {
		return false
	}
	if p.origin == nil {
		if typ == "error" {
			rl.log.Warn("conversion refused", "user", st.To.String(), "error", st.El.String())
		}
		return true
	}
	el := st.El.Clone()
	if p.id == "" {
		el.RemoveAttr("id")
	} else {
		el.SetAttr("id", p.id)
	}
	p.origin.Send(el)
	if typ == "result" && p.done != nil {
		p.done(ctx)
	}
	return true
}

// AnswerID returns st's id when st is the answer (an IQ result or error)
// to a request sent under an id that starts with prefix.
func AnswerID(st *router.Stanza, prefix string) (string, bool) {
	typ := st.Type()
	if st.Kind() != xmppcore.IQ || (typ != "result" && typ != "error") {
		return "", false
	}
	id := st.El.Attr("id")
	if !strings.HasPrefix(id, prefix) {
		return "", false
	}
	return id, true
}

// Logger is the relay's logger, for the module's own messages.
func (rl *Relay) Logger() *slog.Logger { return rl.log }
