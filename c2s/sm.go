package c2s

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strconv"
	"sync"
	"time"

	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"
	"mellium.im/xmpp/stream"

	"parley.im/parley/router"
	"parley.im/parley/xmppcore"
)

// XEP-0198 stream management.
//
// Counting. The reader counts the stanzas it has handled (inH): a stanza is
// handled once handleStanza returned, and routing is synchronous, so what
// it acknowledges has been delivered, stored offline or answered. The
// writer counts what it writes: each stanza goes into unacked as it is
// serialized, before the write, so that whatever happens to the write the
// stanza is either acknowledged later or still in unacked. Counting of
// written stanzas starts once the <enabled/> element itself is written,
// whatever was queued before it.
//
// Detaching. A resumable session whose transport is lost (read or write
// error, no answer to a ping) is detached: its reader and writer let go of
// the transport and exit, and the session stays bound in the router with
// its queue, collecting what is routed to it (EventMessageHeld fires for
// messages), until the client resumes or the resumption timeout passes.
// A detached session holds no goroutine, no transport and no buffers.
//
// Resuming. <resume/> on a new, authenticated stream claims the detached
// session (or takes over one whose transport is half dead, closing that
// with <conflict/>), applies the client's h, moves the new transport into
// the old session and resends what was not acknowledged before what was
// queued meanwhile. The goroutine that negotiated the new stream becomes
// the old session's reader.
//
// Ending. When a session with stream management ends for good (timeout,
// close, error), the stanzas written but not acknowledged and those still
// queued are handled like stanzas to a resource that is gone: messages go
// to offline storage through the router (EventMessageOffline), or, when
// offline storage declines, are known to be in the archive (they carry the
// user's stanza-id) or are bounced; IQ requests get an error; the rest is
// dropped.

const nsStreamMgmt = "urn:xmpp:sm:3"

// smState is a session's stream management state.
type smState struct {
	id      string        // resumption id; "" when not resumable
	timeout time.Duration // how long a detached session waits
	max     int           // bound on unacked stanzas

	// inH counts the stanzas handled from the client. Only the session's
	// reader touches it (a resumption reads it once the old reader has
	// gone).
	inH uint32
	// msgsSinceAck is set when a message was handled since the last <a/>
	// the server sent (the ack barrier runs only then). Reader only.
	msgsSinceAck bool

	mu       sync.Mutex
	enabled  *xmppcore.Element // counting starts once the writer writes it
	counting bool
	acked    uint32              // the client's last h
	unacked  []*xmppcore.Element // written, not acknowledged: unacked[i] is stanza acked+1+i
	rOut     bool                // an <r/> is outstanding
	over     bool                // the unacked bound was hit (the session is closing)
}

// sent is the number of stanzas written (modulo 2^32).
func (sm *smState) sentLocked() uint32 { return sm.acked + uint32(len(sm.unacked)) }

// ack applies the client's h. It reports the number of stanzas written
// and false when h acknowledges more than that.
func (sm *smState) ack(h uint32) (sent uint32, ok bool) {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	sent = sm.sentLocked()
	n := h - sm.acked // modulo 2^32: h may have wrapped
	if uint64(n) > uint64(len(sm.unacked)) {
		return sent, false
	}
	k := int(n)
	rest := copy(sm.unacked, sm.unacked[k:])
	clear(sm.unacked[rest:])
	sm.unacked = sm.unacked[:rest]
	if rest == 0 && cap(sm.unacked) > 256 {
		sm.unacked = nil // a burst does not pin a large array
	}
	sm.acked = h
	sm.rOut = false
	return sent, true
}

// takeUnacked removes and returns the unacknowledged stanzas, for resending
// or rerouting; the sent counter goes back to the last acknowledged one.
func (sm *smState) takeUnacked() []*xmppcore.Element {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	out := sm.unacked
	sm.unacked = nil
	return out
}

// wrote records a stanza the writer is about to write. It reports true the
// first time the unacked bound is exceeded.
func (sm *smState) wrote(el *xmppcore.Element) (overflow bool) {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	if !sm.counting {
		return false
	}
	sm.unacked = append(sm.unacked, el)
	if len(sm.unacked) > sm.max && !sm.over {
		sm.over = true
		return true
	}
	return false
}

// wantAck reports whether the writer should request an ack now: stanzas
// wait for one and no request is outstanding.
func (sm *smState) wantAck() bool {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	if sm.counting && len(sm.unacked) > 0 && !sm.rOut {
		sm.rOut = true
		return true
	}
	return false
}

var smRequestFrame = []byte(`<r xmlns="` + nsStreamMgmt + `"/>`)

// smID returns a new resumption id.
func smID() string {
	var b [18]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// smRegister records a resumable session under a new id.
func (s *Server) smRegister(c *conn) string {
	id := smID()
	s.smMu.Lock()
	s.smIDs[id] = c
	s.smMu.Unlock()
	return id
}

func (s *Server) smLookup(id string) *conn {
	s.smMu.Lock()
	defer s.smMu.Unlock()
	return s.smIDs[id]
}

// smForget drops a session that can no longer be resumed.
func (s *Server) smForget(c *conn) {
	sm := c.sm.Load()
	if sm == nil || sm.id == "" {
		return
	}
	s.smMu.Lock()
	if s.smIDs[sm.id] == c {
		delete(s.smIDs, sm.id)
	}
	s.smMu.Unlock()
}

// DetachedCount returns the number of sessions waiting to be resumed.
func (s *Server) DetachedCount() int {
	s.smMu.Lock()
	defer s.smMu.Unlock()
	n := 0
	for _, c := range s.smIDs {
		if c.detached.Load() {
			n++
		}
	}
	return n
}

func smFailed(cond stanza.Condition) *xmppcore.Element {
	return xmppcore.New(nsStreamMgmt, "failed").Append(xmppcore.New(xmppcore.NSStanzas, string(cond)))
}

// smEnable answers an <enable/>: <enabled/>, or <failed/> when no resource
// is bound yet or stream management is already on. It must be called
// by the goroutine that reads the stream, after bind. Inside a session the
// caller queues the answer (counting of written stanzas starts when the
// writer writes it); during negotiation (Bind2) the answer is written
// before the session starts, and counting starts at once.
func (c *conn) smEnable(req *xmppcore.Element) *xmppcore.Element {
	if c.jid.Equal(jid.JID{}) || c.sm.Load() != nil {
		return smFailed(stanza.UnexpectedRequest)
	}
	cfg := c.srv.cfg
	sm := &smState{max: cfg.SMMaxUnacked}
	en := xmppcore.New(nsStreamMgmt, "enabled")
	if r := req.Attr("resume"); (r == "true" || r == "1") && cfg.SMResumeTimeout > 0 {
		sm.timeout = cfg.SMResumeTimeout
		if m, err := strconv.ParseUint(req.Attr("max"), 10, 32); err == nil && m > 0 && time.Duration(m)*time.Second < sm.timeout {
			sm.timeout = time.Duration(m) * time.Second
		}
		sm.id = c.srv.smRegister(c)
		en.SetAttr("id", sm.id)
		en.SetAttr("resume", "true")
		en.SetAttr("max", strconv.FormatInt(max(1, int64(sm.timeout/time.Second)), 10))
		if cfg.SMLocation != "" {
			en.SetAttr("location", cfg.SMLocation)
		}
	}
	if c.inSession.Load() {
		sm.enabled = en
	} else {
		sm.counting = true
	}
	c.sm.Store(sm)
	return en
}

// smNonza handles a stream management element inside a session.
func (c *conn) smNonza(ctx context.Context, el *xmppcore.Element) error {
	sm := c.sm.Load()
	switch el.Local {
	case "enable":
		c.sendNonza(c.smEnable(el))
		return nil
	case "resume":
		c.sendNonza(smFailed(stanza.UnexpectedRequest))
		return nil
	case "r":
		if sm == nil {
			return fail(stream.UnsupportedStanzaType, "stream management is not enabled")
		}
		if sm.msgsSinceAck {
			// What is acknowledged must be stored where it is stored
			// (the archive writes in batches).
			if b := c.srv.deps.AckBarrier; b != nil {
				b(ctx)
			}
			sm.msgsSinceAck = false
		}
		c.sendNonza(xmppcore.New(nsStreamMgmt, "a", "h", strconv.FormatUint(uint64(sm.inH), 10)))
		return nil
	case "a":
		if sm == nil {
			return fail(stream.UnsupportedStanzaType, "stream management is not enabled")
		}
		h, err := strconv.ParseUint(el.Attr("h"), 10, 32)
		if err != nil {
			return fail(stream.BadFormat, "<a/> needs an 'h' between 0 and 4294967295")
		}
		if sent, ok := sm.ack(uint32(h)); !ok {
			return handledTooHigh(uint32(h), sent)
		}
		return nil
	}
	return fail(stream.UnsupportedStanzaType, "unsupported element %s", el.Local)
}

// handledTooHigh is the stream error for an h above what was sent.
func handledTooHigh(h, sent uint32) error {
	hs, ss := strconv.FormatUint(uint64(h), 10), strconv.FormatUint(uint64(sent), 10)
	return &streamFail{se: stream.UndefinedCondition,
		text: "you acknowledged " + hs + " stanzas, but only " + ss + " were sent",
		app:  []byte(`<handled-count-too-high xmlns="` + nsStreamMgmt + `" h="` + hs + `" send-count="` + ss + `"/>`)}
}

// sendNonza queues a stream-level element for the writer, behind what is
// queued already. It is not a stanza: not counted, never held.
func (c *conn) sendNonza(el *xmppcore.Element) {
	if c.closing.Load() {
		return
	}
	if c.out.push(el) {
		c.kickWriter()
	}
}

// smResume answers a <resume/> sent before bind: on success it returns
// <resumed/>, and c.resumeTarget is the old session, now on this transport
// with its unacknowledged stanzas queued for resending; otherwise
// <failed/> (the client may bind instead), or an error that ends the
// stream.
func (c *conn) smResume(ctx context.Context, req *xmppcore.Element) (*xmppcore.Element, error) {
	log := c.srv.log.With("remote", c.remoteAddr())
	h, err := strconv.ParseUint(req.Attr("h"), 10, 32)
	if err != nil {
		return smFailed(stanza.BadRequest), nil
	}
	old := c.srv.smLookup(req.Attr("previd"))
	if old == nil || old.jid.Localpart() != c.user || old.jid.Domainpart() != c.host {
		// Another user's id is reported as unknown: ids are not confirmed.
		log.Info("stream resumption refused: unknown or expired id", "user", c.user+"@"+c.host)
		return smFailed(stanza.ItemNotFound), nil
	}
	wait, ok := old.claim()
	if !ok {
		log.Info("stream resumption refused: the session has ended", "jid", old.jid.String())
		return smFailed(stanza.ItemNotFound), nil
	}
	<-wait // the old reader and writer have let go of their transport
	if old.closing.Load() {
		old.release(ctx)
		log.Info("stream resumption refused: the session was closed", "jid", old.jid.String())
		return smFailed(stanza.ItemNotFound), nil
	}
	if c.closing.Load() {
		old.release(ctx)
		return nil, &streamFail{se: c.closeErr, text: c.closeText}
	}
	sm := old.sm.Load()
	if sent, ok := sm.ack(uint32(h)); !ok {
		old.release(ctx)
		return nil, handledTooHigh(uint32(h), sent)
	}
	resend := sm.takeUnacked()
	old.adopt(c)
	old.out.pushFront(resend)
	old.csiSet(true) // XEP-0352: a resumed stream is active
	c.resumeTarget = old
	log.Info("stream resumed", "jid", old.jid.String(), "resent", len(resend), "queued", old.out.len()-len(resend))
	return xmppcore.New(nsStreamMgmt, "resumed", "previd", sm.id, "h", strconv.FormatUint(uint64(sm.inH), 10)), nil
}

// claim reserves a session for a resumption. A detached session's timer
// is stopped; an attached one (its transport half dead, or the client
// racing itself) is told to let go, and its transport is ended with
// <conflict/>. The channel is closed once the session's reader and writer
// have let go of their transport.
func (c *conn) claim() (<-chan struct{}, bool) {
	c.smu.Lock()
	defer c.smu.Unlock()
	if c.ended || c.claimed || c.closing.Load() {
		return nil, false
	}
	c.claimed = true
	if c.expireTimer != nil {
		c.expireTimer.Stop()
	}
	if c.attached {
		go c.kickOff()
	}
	return c.readerDone, true
}

// release gives up a claimed session that will not be resumed after all:
// it ends for good.
func (c *conn) release(ctx context.Context) {
	c.smu.Lock()
	c.claimed = false
	c.smu.Unlock()
	c.expire(ctx, "resumption failed")
}

// kickOff ends the transport of a session that a resumption takes over.
func (c *conn) kickOff() {
	c.tmu.Lock()
	defer c.tmu.Unlock()
	if fc, fout := c.fc, c.fout; fc != nil {
		// On this transport's own write side: the new transport has its own.
		go fout.end(fc, nil, stream.Conflict, "the session was resumed on another connection", nil)
		return
	}
	if c.c != nil {
		_ = c.c.SetWriteDeadline(time.Now().Add(closeGrace))
		_, _ = c.c.Write(append(xmppcore.StreamErrorBytes(stream.Conflict, "the session was resumed on another connection"), "</stream:stream>"...))
	}
	if c.nc != nil {
		c.nc.Close()
		c.unpark()
	}
}

// adopt moves the transport that negotiated n into c, a claimed session
// whose own reader and writer have gone.
func (c *conn) adopt(n *conn) {
	n.tmu.Lock()
	n.timerGen++ // n's timer must not act on the transport any more
	if n.idleTimer != nil {
		n.idleTimer.Stop()
	}
	nc, cc, br, rd, fc, finfo, fout := n.nc, n.c, n.br, n.rd, n.fc, n.finfo, n.fout
	n.nc, n.c, n.br, n.rd, n.fc, n.fout = nil, nil, nil, nil, nil, nil
	n.tmu.Unlock()

	c.tmu.Lock()
	c.timerGen++
	c.nc, c.c, c.br, c.rd, c.fc, c.finfo, c.fout = nc, cc, br, rd, fc, finfo, fout
	c.idleTimer = nil
	c.tmu.Unlock()
	c.frameCount.Store(n.frameCount.Load())
	c.secure, c.tlsState, c.servedLeaf, c.lang = n.secure, n.tlsState, n.servedLeaf, n.lang
	c.headerSent = n.headerSent
	c.wdead.Store(false)
	c.writing.Store(false)
	c.pingOut.Store(false)
	c.srv.swapTracked(n, c)
}

// shouldDetach reports whether a session that ended with err stays
// resumable: stream management with resumption, the transport lost rather
// than the stream closed, and the session not closed by the server.
func (c *conn) shouldDetach(err error) bool {
	sm := c.sm.Load()
	if sm == nil || sm.id == "" || c.closing.Load() || c.srv.isClosing() {
		return false
	}
	var sf *streamFail
	switch {
	case err == nil, errors.Is(err, errPeerClosed):
		return false
	case errors.As(err, &sf):
		return sf.se.Err == stream.ConnectionTimeout.Err // no answer to a ping: half dead
	}
	_, isStreamErr := xmppcore.AsStreamError(err)
	return !isStreamErr
}

// detach lets go of the transport and waits for the client to resume. It
// runs on the reader, which exits afterwards.
func (c *conn) detach(log interface{ Info(string, ...any) }, err error) {
	sm := c.sm.Load()
	c.letGo()
	c.smu.Lock()
	c.attached = false
	if !c.claimed {
		c.detached.Store(true)
		c.expireTimer = time.AfterFunc(sm.timeout, func() { c.expire(context.Background(), "resumption timeout") })
	}
	done := c.readerDone
	c.smu.Unlock()
	log.Info("session detached; waiting for resumption", "reason", errString(err), "timeout", sm.timeout.String(), "queued", c.out.len())
	close(done)
	if c.closing.Load() {
		// Closed while letting go (Close found no transport to end).
		c.expire(context.Background(), "closed: "+c.closeErr.Err)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// letGo stops the writer and closes the transport, then drops the
// references to it, so that a detached session holds no buffers.
func (c *conn) letGo() {
	c.wstart.Lock()
	c.inSession.Store(false)
	c.wstart.Unlock()
	c.closeTransport()
	c.writers.Wait()
	c.tmu.Lock()
	c.timerGen++
	c.nc, c.c, c.br, c.rd, c.fc, c.fout = nil, nil, nil, nil, nil, nil
	c.idleTimer = nil
	c.tmu.Unlock()
}

// expire ends a detached (or released) session for good: it is unbound,
// and what it did not deliver is rerouted. It does nothing if the session
// was resumed or has ended already.
func (c *conn) expire(ctx context.Context, why string) {
	c.smu.Lock()
	if c.attached || c.claimed || c.ended {
		c.smu.Unlock()
		return
	}
	c.ended = true
	done := c.readerDone
	c.smu.Unlock()
	if done != nil {
		<-done
	}
	s := c.srv
	s.expMu.RLock()
	defer s.expMu.RUnlock()
	if s.expClosed {
		return
	}
	s.smForget(c)
	s.deps.Router.SessionEnded(ctx, c)
	c.closing.Store(true)
	c.detached.Store(false)
	n := c.rerouteUnacked(ctx)
	s.log.Info("detached session ended", "jid", c.jid.String(), "reason", why, "rerouted", n)
}

// rerouteUnacked handles what a session with stream management did not
// deliver: the unacknowledged stanzas, then what is still queued. It
// returns how many stanzas it handled.
func (c *conn) rerouteUnacked(ctx context.Context) int {
	sm := c.sm.Load()
	if sm == nil {
		return 0
	}
	pending := sm.takeUnacked()
	for el := c.out.pop(); el != nil; el = c.out.pop() {
		pending = append(pending, el)
	}
	n := 0
	for _, el := range pending {
		if xmppcore.IsStanza(el) {
			c.reroute(ctx, el)
			n++
		}
	}
	return n
}

// nsSID is XEP-0359's namespace: a message carrying the user's stanza-id
// is in the user's archive.
const nsSID = "urn:xmpp:sid:0"

// reroute treats one undelivered stanza like a stanza to a resource that
// is gone (XEP-0198 §4).
func (c *conn) reroute(ctx context.Context, el *xmppcore.Element) {
	rt := c.srv.deps.Router
	from, _ := jid.Parse(el.Attr("from"))
	st := &router.Stanza{El: el, From: from, To: c.jid}
	switch el.Local {
	case xmppcore.Message:
		switch el.Attr("type") {
		case "error", "groupchat", "headline":
			return // nobody to tell, or kept by the room
		}
		if rt.StoreOffline(ctx, st) {
			return
		}
		bare := c.jid.Bare().String()
		for ch := range el.Children() {
			if ch.Is(nsSID, "stanza-id") && ch.Attr("by") == bare {
				return // in the archive
			}
		}
		rt.Error(ctx, st, xmppcore.NewError(stanza.ServiceUnavailable, ""))
	case xmppcore.IQ:
		if xmppcore.IsRequest(el) {
			rt.Error(ctx, st, xmppcore.NewError(stanza.ServiceUnavailable, ""))
		}
	}
}
