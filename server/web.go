package server

import (
	"context"
	"log/slog"
	"net"

	"parley.im/parley/web"
)

// listenWeb builds the HTTP server (WebSocket, host-meta, health,
// metrics, web chat) and binds its addresses. Endpoints of other packages
// are mounted after it, before Start: s.web.Handle(web.BOSHPath, h) for
// BOSH (announced in host-meta once mounted), and the upload path likewise.
func (s *Server) listenWeb(log *slog.Logger) error {
	w, err := web.New(web.Options{
		Config:  s.cfg,
		C2S:     s.c2s,
		Certs:   s.certs,
		Store:   s.store,
		Metrics: s.metrics,
		Logger:  log,
	})
	if err != nil {
		return err
	}
	if err := w.Listen(); err != nil {
		return err
	}
	s.web = w
	return nil
}

// shutdownWeb stops HTTP before c2s.Shutdown ends the WebSocket sessions.
func (s *Server) shutdownWeb(ctx context.Context) error {
	if s.web == nil {
		return nil
	}
	if !s.started {
		return s.web.Close()
	}
	return s.web.Shutdown(ctx)
}

// WebAddrs returns the bound HTTP and HTTPS addresses.
func (s *Server) WebAddrs() (plain, secure []net.Addr) {
	if s.web == nil {
		return nil, nil
	}
	return s.web.Addrs()
}

// Metrics returns the Prometheus metrics of this server.
func (s *Server) Metrics() *web.Metrics { return s.metrics }
