package bosh

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"parley.im/parley/c2s"
	"parley.im/parley/xmppcore"
)

// session is one BOSH session: the c2s.FramedConn of one XMPP stream, fed
// by the payloads of the requests in rid order and drained into the
// responses of the requests it holds.
//
// Its mutex is a leaf: the handler's is never taken while holding it
// (unlock forgets an ended session after releasing it).
type session struct {
	h        *Handler
	sid      string
	wait     time.Duration
	hold     int
	requests int
	ver      string
	to, lang string

	mu   sync.Mutex
	cond *sync.Cond // ReadFrame waits on it for in

	in       [][]byte // frames for c2s, oldest first
	inClosed bool     // ReadFrame returns io.EOF once in is empty

	lastRID int64              // the last rid whose payload went to c2s
	early   map[int64]*request // requests that came ahead of a gap
	held    []*request         // waiting for something to send, rid order
	cache   map[int64][]byte   // responses by rid, for repeated requests

	out      [][]byte // frames for the client
	outBytes int

	opened    bool   // c2s's first <open/> seen: authid and from known
	authid    string // the stream id
	from      string
	creating  bool // the session creation request is not answered yet
	createRID int64

	ended         bool
	pause         time.Duration // inactivity until the next request, when asked
	timer         *time.Timer   // inactivity
	timerGen      int
	lastEmpty     time.Time // when the last empty request of a polling session came
	lastRespEmpty bool
}

// request is one held HTTP request; its answer goes to resp (buffered), once.
type request struct {
	rid  int64
	body *body // for early requests, processed when the gap fills
	resp chan []byte
}

var _ c2s.FramedConn = (*session)(nil)

var errEnded = errors.New("bosh: session ended")

// ReadFrame implements c2s.FramedConn.
func (s *session) ReadFrame() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.in) == 0 && !s.inClosed {
		s.cond.Wait()
	}
	if len(s.in) == 0 {
		return nil, io.EOF
	}
	f := s.in[0]
	s.in[0] = nil
	s.in = s.in[1:]
	return f, nil
}

// WriteFrames implements c2s.FramedConn: frames wait in out until a
// request is there to carry them. The server's <open/> gives the session's
// authid; <close/> and stream errors end the session.
func (s *session) WriteFrames(frames [][]byte) error {
	s.mu.Lock()
	defer s.unlock()
	if s.ended {
		return errEnded
	}
	var closing bool
	var streamErr []byte
	for _, f := range frames {
		switch {
		case isOpenFrame(f):
			if !s.opened {
				s.opened = true
				if el, err := xmppcore.Parse(f); err == nil {
					s.authid, s.from = el.Attr("id"), el.Attr("from")
				}
			}
		case isCloseFrame(f):
			closing = true
		case isStreamError(f):
			streamErr = bytes.Clone(f)
		default:
			s.out = append(s.out, bytes.Clone(f))
			s.outBytes += len(f)
		}
	}
	switch {
	case streamErr != nil:
		s.endLocked("remote-stream-error", streamErr)
	case closing:
		s.endLocked("", nil)
	case s.outBytes > s.h.cfg.MaxOutBytes:
		s.h.log.Warn("bosh: client does not collect what is sent to it", "bytes", s.outBytes)
		s.endLocked("policy-violation", nil)
		return errEnded
	default:
		s.flushLocked()
	}
	return nil
}

// Close implements c2s.FramedConn: the XMPP side is done.
func (s *session) Close() error {
	s.mu.Lock()
	s.endLocked("remote-connection-failed", nil)
	s.unlock()
	return nil
}

// end ends the session with a terminal condition.
func (s *session) end(cond string, extra []byte) {
	s.mu.Lock()
	s.endLocked(cond, extra)
	s.unlock()
}

// unlock releases the mutex and, if the session ended, removes it from the
// handler.
func (s *session) unlock() {
	ended := s.ended
	s.mu.Unlock()
	if ended {
		s.h.forget(s)
	}
}

// endLocked answers the oldest held request with type='terminate' (and
// what is left to send, extra last), the others with an empty body, and
// makes ReadFrame return io.EOF once c2s has read what was sent before.
func (s *session) endLocked(cond string, extra []byte) {
	if s.ended {
		return
	}
	s.ended = true
	s.inClosed = true
	s.cond.Broadcast()
	s.stopTimer()
	frames := s.out
	if extra != nil {
		frames = append(frames, extra)
	}
	s.out, s.outBytes = nil, 0
	for i, r := range s.held {
		if i == 0 {
			r.resp <- terminate(cond, frames...)
		} else {
			r.resp <- response(nil, nil)
		}
	}
	s.held = nil
	for rid, r := range s.early {
		r.resp <- terminate(cond)
		delete(s.early, rid)
	}
	if cond != "" && cond != "system-shutdown" {
		s.h.log.Info("bosh: session terminated", "condition", cond)
	}
}

// handle takes one request of the session: it checks its rid, passes its
// payloads on in rid order, and holds it until there is something to send
// or wait runs out.
func (s *session) handle(w http.ResponseWriter, r *http.Request, b *body) {
	req := &request{rid: b.rid, resp: make(chan []byte, 1)}
	s.mu.Lock()
	if s.ended {
		s.unlock()
		write(w, http.StatusOK, terminate("item-not-found"))
		return
	}
	s.stopTimer()
	switch {
	case b.rid <= s.lastRID:
		if resp, ok := s.cache[b.rid]; ok {
			// A response lost in flight: the same again (§14.3).
			s.armLocked()
			s.unlock()
			write(w, http.StatusOK, resp)
			return
		}
		if i := slices.IndexFunc(s.held, func(o *request) bool { return o.rid == b.rid }); i >= 0 {
			// The same rid again while held: the old HTTP request gets a
			// recoverable error and this one takes its place (§14.3).
			s.held[i].resp <- response([]string{"type", "error"}, nil)
			s.held[i] = req
		} else if b.rid > s.lastRID-int64(s.requests) {
			// Its payloads went to c2s, its answer was never made (the
			// client went away first): hold it again.
			s.held = append(s.held, req)
			slices.SortFunc(s.held, func(a, b *request) int { return int(a.rid - b.rid) })
		} else {
			s.h.log.Info("bosh: rid too old", "rid", b.rid, "last", s.lastRID)
			s.endLocked("item-not-found", nil)
			s.unlock()
			write(w, http.StatusOK, terminate("item-not-found"))
			return
		}
	case b.rid > s.lastRID+int64(s.requests):
		s.h.log.Info("bosh: rid outside the window", "rid", b.rid, "last", s.lastRID, "window", s.requests)
		s.endLocked("item-not-found", nil)
		s.unlock()
		write(w, http.StatusOK, terminate("item-not-found"))
		return
	case b.rid == s.lastRID+1:
		if cond := s.processLocked(req, b); cond != "" {
			s.endLocked(cond, nil)
			s.unlock()
			write(w, http.StatusOK, terminate(cond))
			return
		}
		for !s.ended {
			next := s.early[s.lastRID+1]
			if next == nil {
				break
			}
			delete(s.early, next.rid)
			if cond := s.processLocked(next, next.body); cond != "" {
				s.endLocked(cond, nil)
			}
			next.body = nil
		}
	default:
		// Ahead of a request still on its way: wait for the gap to fill.
		if old := s.early[b.rid]; old != nil {
			old.resp <- response([]string{"type", "error"}, nil)
		}
		req.body = b
		s.early[b.rid] = req
	}
	if !s.ended {
		s.flushLocked()
	}
	s.unlock()

	t := time.NewTimer(s.wait)
	defer t.Stop()
	select {
	case resp := <-req.resp:
		write(w, http.StatusOK, resp)
	case <-t.C:
		s.mu.Lock()
		s.expireLocked(req)
		s.unlock()
		write(w, http.StatusOK, <-req.resp)
	case <-r.Context().Done():
		s.mu.Lock()
		s.dropLocked(req)
		s.unlock()
	}
}

// processLocked hands the payloads of the next request in rid order to c2s
// and holds the request; it returns a terminal condition for a request
// that breaks the session's rules.
func (s *session) processLocked(req *request, b *body) string {
	s.lastRID = b.rid
	if ack, err := strconv.ParseInt(b.attr("ack"), 10, 64); err == nil {
		for rid := range s.cache {
			if rid <= ack {
				delete(s.cache, rid)
			}
		}
	}
	for rid := range s.cache {
		if rid <= s.lastRID-int64(s.requests) {
			delete(s.cache, rid)
		}
	}
	if p := b.attr("pause"); p != "" {
		d, err := seconds(p, s.h.cfg.MaxPause+time.Second)
		if err != nil || d > s.h.cfg.MaxPause {
			s.h.log.Info("bosh: pause refused", "pause", p)
			return "policy-violation"
		}
		// Everything held is answered at once (the oldest with what
		// waits), this one without payloads (§10); inactivity is d until
		// the next request.
		s.pause = d
		for len(s.held) > 0 {
			s.answerLocked(s.held[0], nil)
		}
		req.resp <- response(nil, nil)
		s.stopTimer()
		s.armLocked()
		return ""
	}
	s.pause = 0
	restart := b.attr("xmpp:restart") == "true"
	if req.rid == s.createRID && s.creating {
		s.in = append(s.in, openFrame(s.to, s.lang))
	} else if restart {
		lang := b.attr("xml:lang")
		if lang == "" {
			lang = s.lang
		}
		s.in = append(s.in, openFrame(s.to, lang))
	}
	s.in = append(s.in, b.frames...)
	terminating := b.attr("type") == "terminate"
	if terminating {
		s.in = append(s.in, closeFrame)
	}
	s.cond.Broadcast()
	if s.hold == 0 && len(b.frames) == 0 && !restart && !terminating && !s.creating {
		// Polling sessions: two empty requests closer than 'polling',
		// the first answered with nothing, break the rules (§12).
		now := s.h.cfg.Now()
		if !s.lastEmpty.IsZero() && now.Sub(s.lastEmpty) < s.h.cfg.Polling && s.lastRespEmpty {
			s.h.log.Info("bosh: polling too often")
			return "policy-violation"
		}
		s.lastEmpty = now
	} else {
		s.lastEmpty = time.Time{}
	}
	s.held = append(s.held, req)
	if terminating {
		// The oldest held request gets type='terminate', the others
		// (this one, if it is not the oldest) an empty body (§13).
		s.endLocked("", nil)
	}
	return ""
}

// flushLocked answers held requests: the oldest with everything waiting,
// and those beyond 'hold' with an empty body. The creation request waits
// for the server's <open/> and first frame (the stream features).
func (s *session) flushLocked() {
	if s.creating {
		if !s.opened || len(s.out) == 0 || len(s.held) == 0 {
			return
		}
		req := s.held[0]
		s.creating = false
		attrs := []string{"sid", s.sid,
			"wait", strconv.Itoa(int(s.wait / time.Second)),
			"requests", strconv.Itoa(s.requests),
			"hold", strconv.Itoa(s.hold),
			"inactivity", strconv.Itoa(int(s.h.cfg.Inactivity / time.Second)),
			"maxpause", strconv.Itoa(int(s.h.cfg.MaxPause / time.Second)),
			"polling", strconv.Itoa(int(s.h.cfg.Polling / time.Second)),
			"ver", s.ver, "from", s.from, "authid", s.authid, "secure", "true",
			"ack", strconv.FormatInt(req.rid, 10),
			"xmpp:version", "1.0", "xmpp:restartlogic", "true"}
		s.answerLocked(req, attrs)
	}
	if len(s.held) > 0 && len(s.out) > 0 {
		s.answerLocked(s.held[0], nil)
	}
	for len(s.held) > s.hold {
		s.answerLocked(s.held[0], nil)
	}
	s.armLocked()
}

// answerLocked answers a held request with attrs and everything waiting in
// out, and keeps the response for a repeated request.
func (s *session) answerLocked(req *request, attrs []string) {
	if i := slices.Index(s.held, req); i >= 0 {
		s.held = slices.Delete(s.held, i, i+1)
	}
	if req.rid != s.lastRID && attrs == nil {
		// Not the newest request: tell the client how far we are (§9.1).
		attrs = []string{"ack", strconv.FormatInt(s.lastRID, 10)}
	}
	resp := response(attrs, s.out)
	s.lastRespEmpty = len(s.out) == 0
	s.out, s.outBytes = nil, 0
	s.cache[req.rid] = resp
	req.resp <- resp
}

// expireLocked answers a request whose wait ran out.
func (s *session) expireLocked(req *request) {
	switch {
	case slices.Contains(s.held, req):
		if s.creating && req.rid == s.createRID {
			s.endLocked("remote-connection-failed", nil)
			return
		}
		s.answerLocked(req, nil)
		s.armLocked()
	case s.early[req.rid] == req:
		// The gap did not fill: a recoverable error, so that the client
		// sends the missing requests again (§17.3).
		delete(s.early, req.rid)
		req.resp <- response([]string{"type", "error"}, nil)
		s.armLocked()
	}
	// Else it was answered meanwhile.
}

// dropLocked forgets a request whose client went away; its payloads, if
// processed, stay processed, and its answer, if made, stays cached.
func (s *session) dropLocked(req *request) {
	if i := slices.Index(s.held, req); i >= 0 {
		s.held = slices.Delete(s.held, i, i+1)
	}
	if s.early[req.rid] == req {
		delete(s.early, req.rid)
	}
	s.armLocked()
}

// armLocked starts the inactivity timer when no request is held.
func (s *session) armLocked() {
	if s.ended || len(s.held) > 0 || len(s.early) > 0 || s.timer != nil {
		return
	}
	d := s.h.cfg.Inactivity
	if s.pause > 0 {
		d = s.pause
	}
	s.timerGen++
	gen := s.timerGen
	s.timer = time.AfterFunc(d, func() {
		s.mu.Lock()
		if gen == s.timerGen && len(s.held) == 0 && len(s.early) == 0 && !s.ended {
			s.h.log.Info("bosh: session inactive, ended")
			s.endLocked("", nil)
		}
		s.unlock()
	})
}

func (s *session) stopTimer() {
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
		s.timerGen++
	}
}
