package bosh

// Early returns the number of requests of a session that wait for a gap in
// the rids to fill (for tests that send requests out of order).
func (h *Handler) Early(sid string) int {
	return h.count(sid, func(s *session) int { return len(s.early) })
}

// Held returns the number of requests a session holds.
func (h *Handler) Held(sid string) int {
	return h.count(sid, func(s *session) int { return len(s.held) })
}

// count returns n of session sid under its lock, -1 when there is no such
// session.
func (h *Handler) count(sid string, n func(*session) int) int {
	h.mu.Lock()
	s := h.sessions[sid]
	h.mu.Unlock()
	if s == nil {
		return -1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return n(s)
}
