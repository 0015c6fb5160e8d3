package s2s

import (
	"context"
	"errors"
	"os"
	"sync"

	"mellium.im/xmpp/stanza"

	"parley.im/parley/router"
)

// link is the way to one remote domain: the outbound stream once it is up,
// and the stanzas that wait for it (or for a local domain to be
// authenticated on it by piggybacked dialback).
type link struct {
	svc    *Service
	remote string

	mu       sync.Mutex
	c        *conn // the authenticated outbound stream, nil while none
	dialing  bool
	pending  map[string][]*router.Stanza // by local domain
	npending int
	authing  map[string]bool // local domains being authenticated on c
}

func (l *link) enqueue(st *router.Stanza) {
	local := st.From.Domainpart()
	l.mu.Lock()
	if c := l.c; c != nil && c.canSend(local, l.remote) {
		l.mu.Unlock()
		ok, closing := c.trySend(st.El)
		switch {
		case ok:
			return
		case !closing:
			l.svc.bounce(st, stanza.ResourceConstraint, "too many stanzas waiting for this domain")
			return
		}
		// The stream is ending (idle, or closed by the peer): the stanza
		// waits for a new one.
		l.closed(c)
		l.enqueue(st)
		return
	}
	if l.npending >= l.svc.cfg.QueueSize {
		l.mu.Unlock()
		l.svc.log.Warn("queue for remote domain full", "to", l.remote, "size", l.svc.cfg.QueueSize)
		l.svc.bounce(st, stanza.ResourceConstraint, "too many stanzas waiting for this domain")
		return
	}
	l.pending[local] = append(l.pending[local], st)
	l.npending++
	switch {
	case l.c != nil && !l.authing[local]:
		// Another local domain on an authenticated stream: piggyback.
		l.authing[local] = true
		c := l.c
		l.mu.Unlock()
		if !c.requestDialback(local) {
			l.authFailed(local, stanza.RemoteServerNotFound)
		}
		return
	case l.c == nil && !l.dialing:
		l.dialing = true
		l.svc.wg.Add(1)
		go l.dial(local)
	}
	l.mu.Unlock()
}

// dial sets up the outbound stream, authenticated for local.
func (l *link) dial(local string) {
	defer l.svc.wg.Done()
	ctx, cancel := context.WithTimeout(l.svc.ctx, l.svc.cfg.NegotiationTimeout)
	defer cancel()
	c, err := l.svc.connectOut(ctx, l.remote, local, modeStanzas)
	if err != nil {
		cond := stanza.RemoteServerNotFound
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
			cond = stanza.RemoteServerTimeout
		}
		l.svc.log.Info("outbound stream failed", "to", l.remote, "from", local, "err", err, "bounced", cond)
		l.mu.Lock()
		l.dialing = false
		all := l.pending
		l.pending = map[string][]*router.Stanza{}
		l.npending = 0
		l.mu.Unlock()
		for _, list := range all {
			for _, st := range list {
				l.svc.bounce(st, cond, "")
			}
		}
		return
	}
	c.link = l
	l.mu.Lock()
	l.dialing = false
	l.c = c
	ready := l.pending[local]
	delete(l.pending, local)
	l.npending -= len(ready)
	var others []string
	for d := range l.pending {
		if !l.authing[d] {
			l.authing[d] = true
			others = append(others, d)
		}
	}
	l.mu.Unlock()
	l.flush(c, ready)
	for _, d := range others {
		if !c.requestDialback(d) {
			l.authFailed(d, stanza.RemoteServerNotFound)
		}
	}
	c.run() // reads until the stream ends
}

func (l *link) flush(c *conn, list []*router.Stanza) {
	for _, st := range list {
		if !c.send(st.El) {
			l.svc.bounce(st, stanza.ResourceConstraint, "too many stanzas waiting for this domain")
		}
	}
}

// endAuth ends the authentication of local and takes what waited for it.
func (l *link) endAuth(local string) []*router.Stanza {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.authing, local)
	list := l.pending[local]
	delete(l.pending, local)
	l.npending -= len(list)
	return list
}

// authenticated is called when the remote accepted local on c.
func (l *link) authenticated(c *conn, local string) {
	l.flush(c, l.endAuth(local))
}

// authFailed bounces what waited for local.
func (l *link) authFailed(local string, cond stanza.Condition) {
	for _, st := range l.endAuth(local) {
		l.svc.bounce(st, cond, "")
	}
}

// closed is called when c ended: what still waited on it bounces, and the
// next stanza opens a new stream.
func (l *link) closed(c *conn) {
	l.mu.Lock()
	if l.c != c {
		l.mu.Unlock()
		return
	}
	l.c = nil
	var failed []string
	for d := range l.authing {
		failed = append(failed, d)
	}
	l.mu.Unlock()
	for _, d := range failed {
		l.authFailed(d, stanza.RemoteServerNotFound)
	}
}
