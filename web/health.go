package web

import (
	"net/http"

	"parley.im/parley/web/webclient"
)

// serveHealth answers 200 "ok" when storage answers a ping within a
// second, else 503; the error itself is logged, never shown (it could name
// the database).
func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := s.pingStore(r.Context()); err != nil {
		s.log.Warn("health check: storage unreachable", "err", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("storage unavailable\n"))
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}

// restrictMetrics lets only web.metrics.allow read h (anyone when empty).
// The address is the client's as client() sees it.
func (s *Server) restrictMetrics(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(s.metricsFrom) > 0 && !webclient.InPrefixes(s.metricsFrom, s.client(r).IP) {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}
