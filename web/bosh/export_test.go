package bosh

// Early returns the number of requests of a session that wait for a gap in
// the rids to fill (for tests that send requests out of order).
func (h *Handler) Early(sid string) int {
	h.mu.Lock()
	s := h.sessions[sid]
	h.mu.Unlock()
	if s == nil {
		return -1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.early)
}

// Held returns the number of requests a session holds.
func (h *Handler) Held(sid string) int {
	h.mu.Lock()
	s := h.sessions[sid]
	h.mu.Unlock()
	if s == nil {
		return -1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.held)
}
