package server

import (
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"os"

	"parley.im/parley/certs"
	"parley.im/parley/config"
	"parley.im/parley/router"
	"parley.im/parley/s2s"
	"parley.im/parley/xmppcore"
)

// newS2S builds the federation service when it is on, or allow-listed
// domains exist; nil otherwise (the router then answers every stanza for
// a remote domain with remote-server-not-found, and nothing listens).
func newS2S(cfg *config.Config, log *slog.Logger, r *router.Router, cm *certs.Manager, secret []byte) (*s2s.Service, error) {
	if !cfg.S2SActive() {
		return nil, nil
	}
	c := cfg.S2S
	roots, err := x509.SystemCertPool()
	if err != nil {
		roots = x509.NewCertPool()
	}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("s2s.ca_file: %w", err)
		}
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("s2s.ca_file: no certificate in %s", c.CAFile)
		}
	}
	static := map[string]s2s.Target{}
	for _, e := range c.StaticHosts {
		if d, t, ok := s2s.ParseStaticHost(e); ok {
			static[d] = t
		}
	}
	svc := s2s.New(s2s.Config{
		Enabled:            c.Enabled,
		Allow:              c.Allow,
		Deny:               c.Deny,
		Listen:             c.Listen,
		DirectTLS:          c.DirectTLS,
		RequireTLS:         c.RequireTLS,
		RequireCert:        c.Auth == "certificate",
		Roots:              roots,
		StaticHosts:        static,
		ConnectTimeout:     c.ConnectTimeout,
		NegotiationTimeout: c.NegotiationTimeout,
		IdleTimeout:        c.IdleTimeout,
		WriteTimeout:       cfg.C2S.WriteTimeout,
		QueueSize:          c.QueueSize,
		MaxConnections:     c.MaxConnections,
		Limits: xmppcore.Limits{
			MaxStanzaSize: cfg.Limits.MaxStanzaSize,
			MaxDepth:      cfg.Limits.MaxDepth,
			MaxHeaderSize: cfg.Limits.MaxStreamHeader,
		},
		Secret: secret,
	}, s2s.Deps{Router: r, Certs: cm, Logger: log})
	if err := svc.Listen(); err != nil {
		return nil, err
	}
	r.SetRemote(svc)
	log.Info("federation", "enabled", c.Enabled, "allow", c.Allow, "deny", c.Deny, "auth", c.Auth)
	return svc, nil
}

// S2SAddrs returns the bound server-to-server listener addresses (none
// when federation is off).
func (s *Server) S2SAddrs() (starttls, direct []net.Addr) {
	if s.s2s == nil {
		return nil, nil
	}
	return s.s2s.Addrs()
}
