package c2s

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"
	"mellium.im/xmpp/stream"

	"parley.im/parley/router"
	"parley.im/parley/xmppcore"
)

// Interface guard: a bound connection is a router session.
var _ router.Session = (*conn)(nil)

// JID implements router.Session.
func (c *conn) JID() jid.JID { return c.jid }

// Send implements router.Session: a non-blocking enqueue. A session whose
// queue is full is not waited for: it is closed, so that one slow reader
// never delays anyone else.
func (c *conn) Send(el *xmppcore.Element) bool {
	if c.closing.Load() {
		return false
	}
	if c.inactive.Load() && c.csiHold(el) {
		return true // XEP-0352: it waits for the client to be active
	}
	if !c.enqueue(el) {
		return false
	}
	if c.detached.Load() && el.Local == xmppcore.Message {
		c.srv.deps.Router.MessageHeld(context.Background(), c, el)
	}
	return true
}

// closeGrace bounds how long a closed connection may take to flush and
// send its stream error: a client that stopped reading is not waited for
// until the write timeout.
const closeGrace = time.Second

// closeWith is Close with an application-specific condition in the
// stream error.
func (c *conn) closeWith(se stream.Error, text string, app []byte) {
	c.closeOnce.Do(func() { c.closeApp = app; c.doClose(se, text) })
}

// Close implements router.Session. The first reason given wins; the writer
// flushes what is queued, sends the stream error and closes the connection.
// A connection still negotiating sends the stream error from its reader.
// Either way the connection is closed within closeGrace.
func (c *conn) Close(se stream.Error, text string) {
	c.closeOnce.Do(func() { c.doClose(se, text) })
}

func (c *conn) doClose(se stream.Error, text string) {
	c.closeErr, c.closeText = se, text
	c.closing.Store(true)
	close(c.quit)
	c.unpark() // a parked reader must end the session, as a blocked one would
	switch {
	case c.inSession.Load():
		c.kickWriter() // someone must write the end of the stream
	case c.detached.Load():
		// No transport: the session just ends.
		go c.expire(context.Background(), "closed: "+se.Err)
		return
	case c.ran.Load():
		// Between transports (a resumption is moving it): the
		// resumption sees closing and gives up.
	default:
		// Still negotiating: there is no writer to tell. On a framed
		// transport, write the end here (under its write lock), which
		// also wakes the reader; on TCP, wake the reader, which ends
		// the stream (onNegotiationTimeout).
		c.tmu.Lock()
		switch {
		case c.fc != nil:
			go c.writeFramedEnd(nil, se, text)
		case c.nc != nil:
			_ = c.nc.SetReadDeadline(time.Now())
		}
		c.tmu.Unlock()
	}
	// The writer may be blocked on a client that does not read (the
	// reason for most closes), or the reader on a deadline set again
	// meanwhile: cut the connection if they have not finished by then.
	time.AfterFunc(closeGrace, c.closeTransport)
}

// handlePreBindIQ handles the IQs allowed between authentication and
// bind: the bind request itself. It reports whether the session is bound.
func (c *conn) handlePreBindIQ(ctx context.Context, el *xmppcore.Element) (bool, error) {
	b := el.Child(xmppcore.NSBind, "bind")
	if el.Local != xmppcore.IQ || el.Attr("type") != "set" || b == nil || el.ChildCount() != 1 {
		return false, fail(stream.NotAuthorized, "bind a resource first")
	}
	res := strings.TrimSpace(b.ChildText(xmppcore.NSBind, "resource"))
	if res == "" {
		res = randomResource()
	}
	full, err := jid.New(c.user, c.host, res)
	if err != nil {
		return false, c.writeElement(xmppcore.ErrorReply(el, xmppcore.NewError(stanza.BadRequest, "invalid resource")))
	}
	c.jid = full
	c.out = newOutQueue(c.srv.cfg.QueueSize)
	replaced, err := c.srv.deps.Router.Bind(c)
	switch {
	case errors.Is(err, router.ErrConflict):
		c.jid, c.out = jid.JID{}, nil
		return false, c.writeElement(xmppcore.ErrorReply(el, xmppcore.NewError(stanza.Conflict, "resource in use")))
	case errors.Is(err, router.ErrTooManySessions):
		c.jid, c.out = jid.JID{}, nil
		return false, c.writeElement(xmppcore.ErrorReply(el, xmppcore.NewError(stanza.ResourceConstraint, "too many sessions for this account")))
	case err != nil:
		return false, err
	}
	if replaced != nil {
		replaced.Close(stream.Conflict, "replaced by a new session with the same resource")
	}
	// Written before the writer starts, so the result precedes anything
	// already routed to the new resource.
	reply := xmppcore.New("", xmppcore.IQ, "type", "result")
	if id := el.Attr("id"); id != "" {
		reply.SetAttr("id", id)
	}
	reply.Append(xmppcore.New(xmppcore.NSBind, "bind").Append(xmppcore.New(xmppcore.NSBind, "jid").AppendText(full.String())))
	if err := c.writeElement(reply); err != nil {
		c.srv.deps.Router.Unbind(c)
		return false, err
	}
	return true, nil
}

func randomResource() string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return "parley-" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

// live runs the session on the transport this goroutine holds until the
// transport or the session ends: then the session detaches (stream
// management with resumption, transport lost), lets go of the transport
// for a resumption that takes it over, or ends. done (if not nil) is
// called then, maybe from another goroutine: the reader may park (park.go).
func (c *conn) live(ctx context.Context, log *slog.Logger, done func()) {
	c.smu.Lock()
	c.attached, c.claimed = true, false
	c.readerDone = make(chan struct{})
	c.smu.Unlock()
	c.detached.Store(false)
	c.startSession(ctx)
	c.readOn(ctx, log, done)
}

// readOn runs the read loop of live until it ends, or until the reader
// parks: then it returns at once, and a resumed goroutine calls it again.
func (c *conn) readOn(ctx context.Context, log *slog.Logger, done func()) {
	err := c.runSession(ctx)
	for isPark(err) {
		if c.park(ctx, log, done) {
			return // c belongs to whoever resumes it now
		}
		err = c.runSession(ctx)
	}
	if o := c.srv.deps.Observer; o != nil {
		o.SessionEnded(c.transportName())
	}
	c.smu.Lock()
	takenOver := c.claimed
	c.smu.Unlock()
	switch {
	case takenOver:
		c.letGo()
		c.smu.Lock()
		c.attached = false
		done := c.readerDone
		c.smu.Unlock()
		log.Info("session taken over by a resumption", "reason", errString(err))
		close(done)
	case c.shouldDetach(err):
		c.detach(log, err)
	default:
		c.endSession(ctx, err, log)
	}
	c.srv.restoreCarrier(c)
	if done != nil {
		done()
	}
}

// resumable reports whether the session would detach on losing its
// transport.
func (c *conn) resumable() bool {
	sm := c.sm.Load()
	return sm != nil && sm.id != "" && !c.closing.Load()
}

// startSession starts the session on its transport: idle checks, the
// writer, the bound hooks.
func (c *conn) startSession(ctx context.Context) {
	if c.fc != nil {
		c.lastFrames.Store(c.frameCount.Load())
		c.tmu.Lock()
		t := c.idleTimer
		c.tmu.Unlock()
		idle := c.srv.cfg.IdleTimeout
		switch {
		case t == nil && idle > 0:
			c.startFramedTimer(idle)
		case t != nil && idle > 0:
			t.Reset(idle)
		case t != nil:
			t.Stop()
		}
	} else {
		_ = c.nc.SetDeadline(time.Time{})
		c.br.OnTimeout = c.onIdle
		c.lastTotal = c.br.Total()
		now := time.Now()
		if idle := c.srv.cfg.IdleTimeout; idle > 0 {
			c.idleDue = now.Add(idle)
		}
		c.parkable = c.canPark()
		_ = c.c.SetReadDeadline(c.nextDeadline(now))
	}
	c.wstart.Lock()
	c.inSession.Store(true)
	c.wstart.Unlock()
	if o := c.srv.deps.Observer; o != nil {
		o.SessionStarted(c.transportName())
	}
	c.kickWriter() // for what was routed here since bind (or is resent)
	if !c.ran.Swap(true) {
		c.srv.deps.Router.SessionBound(ctx, c)
	}
}

// runSession reads stanzas until the stream ends or the reader parks
// (xmppcore.ErrPark); the writer runs beside it.
func (c *conn) runSession(ctx context.Context) error {
	for {
		if c.closing.Load() {
			return nil
		}
		el, err := c.next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return errPeerClosed
			}
			return err // xmppcore.ErrPark among others
		}
		switch el.Space {
		case nsStreamMgmt:
			if err := c.smNonza(ctx, el); err != nil {
				return err
			}
			continue
		case nsClientState:
			if err := c.csiNonza(el); err != nil {
				return err
			}
			continue
		}
		if err := c.handleStanza(ctx, el); err != nil {
			return err
		}
		if sm := c.sm.Load(); sm != nil {
			sm.inH++ // handled: routing is synchronous
			if el.Local == xmppcore.Message {
				sm.msgsSinceAck = true
			}
		}
	}
}

// endSession unbinds the session, has the writer flush and close the
// stream with the error err calls for, and closes the connection.
func (c *conn) endSession(ctx context.Context, err error, log interface {
	Info(string, ...any)
	Debug(string, ...any)
}) {
	c.srv.deps.Router.SessionEnded(ctx, c)
	var sf *streamFail
	se, isStreamErr := xmppcore.AsStreamError(err)
	switch {
	case errors.As(err, &sf):
		log.Info("session closed with error", "condition", sf.se.Err, "reason", sf.text)
		c.closeWith(sf.se, sf.text, sf.app)
	case isStreamErr:
		log.Info("session closed with error", "condition", se.Err, "reason", err.Error())
		c.Close(se, "")
	case err == nil || errors.Is(err, errPeerClosed):
		log.Info("session ended")
		c.Close(stream.Error{}, "")
	default:
		log.Info("session lost", "err", err)
		c.Close(stream.Error{}, "")
	}
	c.kickWriter() // closed before the session started: nobody was told
	c.writers.Wait()
	c.closeTransport()
	c.smu.Lock()
	c.ended, c.attached = true, false
	done := c.readerDone
	c.smu.Unlock()
	if c.sm.Load() != nil {
		c.srv.smForget(c)
		if n := c.rerouteUnacked(ctx); n > 0 {
			log.Info("unacknowledged stanzas rerouted", "count", n)
		}
	}
	if done != nil {
		close(done)
	}
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// maxBatch bounds how much one write gathers, so a busy session still
// flushes regularly.
const maxBatch = 32 << 10

// kickWriter makes sure a writer goroutine runs while stanzas wait or the
// stream must be closed. Writers exist only while there is work: an idle
// session costs no goroutine and no stack for writing.
func (c *conn) kickWriter() {
	if !c.inSession.Load() || c.writing.Load() || c.wdead.Load() {
		return
	}
	c.wstart.Lock()
	if c.inSession.Load() && !c.wdead.Load() && c.writing.CompareAndSwap(false, true) {
		c.writers.Add(1)
		go c.writer()
	}
	c.wstart.Unlock()
}

// writer writes whatever is queued, a batch per write, and exits when the
// queue is empty; after Close it writes the end of the stream and closes
// the connection.
func (c *conn) writer() {
	defer c.writers.Done()
	for {
		for {
			if done := c.writeBatch(); done {
				return
			}
			if c.out.len() == 0 {
				break
			}
		}
		select {
		case <-c.quit:
			c.writeStreamEnd()
			return
		default:
		}
		c.writing.Store(false)
		// A stanza pushed (or a Close) between the last check and the
		// Store above found a writer running and did not start one.
		if c.out.len() == 0 && !c.closing.Load() {
			return
		}
		if !c.writing.CompareAndSwap(false, true) {
			return // another writer took over
		}
	}
}

// writeBatch writes the stanzas waiting, up to maxBatch bytes. It reports
// true when the connection failed and the writer must stop for good.
func (c *conn) writeBatch() (stop bool) {
	if c.fc != nil {
		return c.writeFramedBatch()
	}
	el := c.out.pop()
	if el == nil {
		return false
	}
	bp := bufPool.Get().(*[]byte)
	c.countOut(el)
	buf := el.AppendXML((*bp)[:0], xmppcore.NSClient)
	buf = c.gather(buf)
	if sm := c.sm.Load(); sm != nil && sm.wantAck() {
		buf = append(buf, `<r xmlns="`+nsStreamMgmt+`"/>`...)
	}
	_ = c.c.SetWriteDeadline(time.Now().Add(c.srv.cfg.WriteTimeout))
	_, err := c.c.Write(buf)
	if cap(buf) <= 64<<10 {
		*bp = buf
		bufPool.Put(bp)
	}
	if err != nil {
		c.writeFailed(err)
		return true
	}
	return false
}

// writeFailed gives up on a connection whose write failed.
func (c *conn) writeFailed(err error) {
	c.srv.log.Debug("write failed; closing the transport", "jid", c.jid.String(), "err", err)
	c.wdead.Store(true) // no writer may start on a dead connection
	if !c.resumable() {
		c.closing.Store(true)
	}
	c.closeTransport() // the reader ends the session, or detaches it
}

// writeFramedBatch is writeBatch for a framed transport: one frame per
// element, all in one WriteFrames call.
func (c *conn) writeFramedBatch() (stop bool) {
	el := c.out.pop()
	if el == nil {
		return false
	}
	bp := bufPool.Get().(*[]byte)
	buf := c.gatherFrames((*bp)[:0], el)
	if sm := c.sm.Load(); sm != nil && sm.wantAck() {
		c.frameSlots = append(c.frameSlots, smRequestFrame)
	}
	err := c.writeFrames(c.frameSlots...)
	clear(c.frameSlots)
	if cap(buf) <= 64<<10 {
		*bp = buf
		bufPool.Put(bp)
	}
	if err != nil {
		c.writeFailed(err)
		return true
	}
	return false
}

// gatherFrames serializes first and what else is queued (up to maxBatch
// bytes) into buf, and points c.frameSlots at each frame.
func (c *conn) gatherFrames(buf []byte, first *xmppcore.Element) []byte {
	c.frameOffs = append(c.frameOffs[:0], 0)
	for el := first; el != nil; {
		c.countOut(el)
		buf = appendFrame(buf, el)
		c.frameOffs = append(c.frameOffs, len(buf))
		if len(buf) >= maxBatch {
			break
		}
		el = c.out.pop()
	}
	c.frameSlots = c.frameSlots[:0]
	for i := 1; i < len(c.frameOffs); i++ {
		c.frameSlots = append(c.frameSlots, buf[c.frameOffs[i-1]:c.frameOffs[i]])
	}
	return buf
}

// writeStreamEnd flushes what is queued, then the stream error (if any) and
// the end of the stream, and closes the connection.
func (c *conn) writeStreamEnd() {
	if c.fc != nil {
		var frames [][]byte
		for el := c.out.pop(); el != nil; el = c.out.pop() {
			frames = append(frames, appendFrame(nil, el))
		}
		c.writeFramedEnd(frames, c.closeErr, c.closeText)
		return
	}
	buf := c.gather(nil)
	if c.closeErr.Err != "" {
		buf = append(buf, c.streamErrorBytes(c.closeErr, c.closeText)...)
	}
	buf = append(buf, "</stream:stream>"...)
	_ = c.c.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = c.c.Write(buf)
	c.closeTransport()
}

// gather appends the stanzas already queued, without waiting.
func (c *conn) gather(buf []byte) []byte {
	for len(buf) < maxBatch {
		el := c.out.pop()
		if el == nil {
			return buf
		}
		c.countOut(el)
		buf = el.AppendXML(buf, xmppcore.NSClient)
	}
	return buf
}

// onIdle runs when a read deadline passes after bind: traffic since the
// last check only moves the idle deadline; silence until it gets an
// XEP-0199 ping, and silence after the ping ends the session. Silence
// shorter than that parks the reader, if it is between stanzas.
func (c *conn) onIdle() error {
	if c.closing.Load() {
		return errPeerClosed
	}
	now := time.Now()
	idle := c.srv.cfg.IdleTimeout
	if total := c.br.Total(); total != c.lastTotal {
		c.lastTotal = total
		c.pingOut.Store(false)
		if idle > 0 {
			c.idleDue = now.Add(idle)
		}
		return c.c.SetReadDeadline(c.nextDeadline(now))
	}
	if idle > 0 && !now.Before(c.idleDue) {
		if c.pingOut.Load() {
			return fail(stream.ConnectionTimeout, "no answer to ping")
		}
		c.pingOut.Store(true)
		c.Send(c.pingElement())
		timeout := c.srv.cfg.PingTimeout
		if timeout <= 0 {
			timeout = 30 * time.Second
		}
		c.idleDue = now.Add(timeout)
		return c.c.SetReadDeadline(c.nextDeadline(now))
	}
	if c.parkable && c.br.AtBoundary() {
		return xmppcore.ErrPark
	}
	return c.c.SetReadDeadline(c.nextDeadline(now))
}

const nsPing = "urn:xmpp:ping"

// pingElement is the XEP-0199 ping a silent client gets.
func (c *conn) pingElement() *xmppcore.Element {
	return xmppcore.New("", xmppcore.IQ, "type", "get", "id", "ping-"+strconv.FormatUint(c.pingSeq.Add(1), 10),
		"from", c.host, "to", c.jid.String()).Append(xmppcore.New(nsPing, "ping"))
}

var presenceTypes = map[string]bool{"": true, "unavailable": true, "subscribe": true, "subscribed": true,
	"unsubscribe": true, "unsubscribed": true, "probe": true, "error": true}

// handleStanza checks a stanza from the client, stamps its 'from' and
// routes it.
func (c *conn) handleStanza(ctx context.Context, el *xmppcore.Element) error {
	if !xmppcore.IsStanza(el) {
		return fail(stream.UnsupportedStanzaType, "unsupported element %s", el.Local)
	}
	if o := c.srv.deps.Observer; o != nil {
		o.StanzaIn(el.Local)
	}
	if f := el.Attr("from"); f != "" {
		fj, err := jid.Parse(f)
		if err != nil || !(fj.Equal(c.jid) || fj.Equal(c.jid.Bare())) {
			// RFC 6120 §8.1.2.1: a client may not speak for anyone else.
			return fail(stream.InvalidFrom, "'from' does not match the bound JID")
		}
	}
	el.SetAttr("from", c.boundJID())
	typ := el.Attr("type")
	switch el.Local {
	case xmppcore.IQ:
		switch typ {
		case "get", "set":
			if el.Attr("id") == "" || el.ChildCount() != 1 {
				return c.reject(el, stanza.BadRequest, "an IQ get or set needs an id and exactly one child")
			}
		case "result", "error":
			if el.Attr("id") == "" {
				return nil // nothing to answer and nothing to match: drop
			}
		default:
			return c.reject(el, stanza.BadRequest, "unknown IQ type")
		}
	case xmppcore.Presence:
		if !presenceTypes[typ] {
			return c.reject(el, stanza.BadRequest, "unknown presence type")
		}
	}
	var to jid.JID
	if t := el.Attr("to"); t != "" {
		var err error
		if to, err = parseJID(t); err != nil {
			return c.reject(el, stanza.JIDMalformed, "")
		}
	}
	if el.Local == xmppcore.IQ && typ == "set" && (to.Equal(jid.JID{}) || to.String() == c.host) {
		switch {
		case el.Child(xmppcore.NSSession, "session") != nil:
			// RFC 3921 session establishment: a no-op kept for old clients.
			reply := xmppcore.New("", xmppcore.IQ, "type", "result", "id", el.Attr("id"))
			c.Send(reply)
			return nil
		case el.Child(xmppcore.NSBind, "bind") != nil:
			return c.reject(el, stanza.NotAllowed, "a resource is already bound")
		}
	}
	c.srv.deps.Router.Route(ctx, &router.Stanza{El: el, From: c.jid, To: to, Origin: c})
	return nil
}

// reject answers a stanza of the client's own with an error; the stream
// goes on.
func (c *conn) reject(el *xmppcore.Element, cond stanza.Condition, text string) error {
	el.RemoveAttr("from")
	if reply := xmppcore.ErrorReply(el, xmppcore.NewError(cond, text)); reply != nil {
		reply.RemoveAttr("to")
		c.Send(reply)
	}
	return nil
}

// parseJID is jid.Parse, refusing the few addresses whose printed form
// does not parse back to them: mellium's lenient domain preparation takes
// ".." (printed ".") and mappings whose result the IDNA rules refuse
// ("\u00c5\u2136" becomes "\u00e5\u05d0", a label mixing directions). The
// server answers from the address a stanza was sent to, so it must be one
// that reads back the same. Only the rare domains that can be affected
// (non-ASCII, or with a dot left at the end) are checked twice.
func parseJID(s string) (jid.JID, error) {
	j, err := jid.Parse(s)
	if err != nil {
		return j, err
	}
	if d := j.Domainpart(); strings.HasSuffix(d, ".") || !isASCII(d) {
		again, err := jid.Parse(j.String())
		if err != nil || !again.Equal(j) {
			return jid.JID{}, errors.New("c2s: the address does not survive normalization")
		}
	}
	return j, nil
}

func isASCII(s string) bool {
	for i := range len(s) {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// boundJID is the bound full JID as a string, made once: every stanza
// from the client is stamped with it. Only the reader calls it, after
// bind, when the JID no longer changes.
func (c *conn) boundJID() string {
	if c.jidStr == "" {
		c.jidStr = c.jid.String()
	}
	return c.jidStr
}
