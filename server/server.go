package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"

	"parley.im/parley/auth"
	"parley.im/parley/c2s"
	"parley.im/parley/certs"
	"parley.im/parley/config"
	"parley.im/parley/module"
	"parley.im/parley/router"
	"parley.im/parley/s2s"
	"parley.im/parley/storage"
	"parley.im/parley/upload"
	"parley.im/parley/web"
	"parley.im/parley/xmppcore"
)

// Options configure a Server.
type Options struct {
	Config  *config.Config
	Logger  *slog.Logger
	Version string // reported by XEP-0092
}

// Server is a running Parley instance.
type Server struct {
	cfg      *config.Config
	log      *slog.Logger
	store    storage.Store
	certs    *certs.Manager
	router   *router.Router
	registry *module.Registry
	c2s      *c2s.Server
	s2s      *s2s.Service
	started  bool

	metrics *web.Metrics
	web     *web.Server
	upload  *upload.Upload // nil when not run
}

// New builds a server and binds its listeners; nothing is served until
// Start. On error everything opened so far is closed again.
func New(ctx context.Context, opts Options) (s *Server, err error) {
	cfg := opts.Config
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	s = &Server{cfg: cfg, log: log}
	built := s // s is nil once an error is returned
	defer func() {
		if err != nil {
			_ = built.close()
		}
	}()

	secret, err := loadOrCreateSecret(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	if s.certs, err = certs.New(cfg, log); err != nil {
		return nil, fmt.Errorf("certificates: %w", err)
	}
	if s.store, err = OpenStore(ctx, cfg, true); err != nil {
		return nil, err
	}
	s.metrics = web.NewMetrics()
	s.store = web.TimedStore(s.store, s.metrics)
	conflict := router.ReplaceOld
	if cfg.C2S.ResourceConflict == "refuse" {
		conflict = router.RefuseNew
	}
	s.router = router.New(router.Config{
		Hosts:                 cfg.HostNames(),
		AccountExists:         s.store.AccountExists,
		MaxSessionsPerAccount: cfg.C2S.MaxSessionsPerAccount,
		Conflict:              conflict,
		Logger:                log.With("component", "router"),
	})
	s.registry = module.NewRegistry(module.Env{Router: s.router, Store: s.store, Logger: log})
	mods := standardModules(s.registry, cfg, s.store, opts.Version, secret)
	if s.upload = s.newUpload(secret); s.upload != nil {
		mods.list = append(mods.list, s.upload)
	}
	for _, m := range mods.list {
		if err := s.registry.Add(m); err != nil {
			return nil, err
		}
	}
	limiter := auth.NewLimiter(auth.LimiterConfig{
		AccountFailures: disabledIfZero(cfg.Auth.AccountFailures),
		IPFailures:      disabledIfZero(cfg.Auth.IPFailures),
		Window:          cfg.Auth.FailureWindow,
	})
	s.c2s = c2s.New(c2s.Config{
		StartTLS:            cfg.C2S.StartTLS,
		DirectTLS:           cfg.C2S.DirectTLS,
		RequireTLS:          cfg.C2S.RequireTLS,
		NegotiationTimeout:  cfg.C2S.NegotiationTimeout,
		IdleTimeout:         cfg.C2S.IdleTimeout,
		PingTimeout:         cfg.C2S.PingTimeout,
		WriteTimeout:        cfg.C2S.WriteTimeout,
		QueueSize:           cfg.C2S.QueueSize,
		ReceiveBuffer:       cfg.C2S.ReceiveBuffer,
		ReadRate:            cfg.C2S.ReadRate,
		ReadBurst:           cfg.C2S.ReadBurst,
		SMResumeTimeout:     cfg.C2S.SMResumeTimeout,
		SMMaxUnacked:        cfg.C2S.SMMaxUnacked,
		SMLocation:          cfg.C2S.SMLocation,
		MaxConnectionsPerIP: cfg.Limits.MaxConnectionsPerIP,
		Limits: xmppcore.Limits{
			MaxStanzaSize: cfg.Limits.MaxStanzaSize,
			MaxDepth:      cfg.Limits.MaxDepth,
			MaxHeaderSize: cfg.Limits.MaxStreamHeader,
		},
		Mechanisms:      cfg.Mechanisms(),
		AllowPlain:      cfg.Auth.AllowPlain,
		MaxAuthAttempts: cfg.Auth.MaxAttempts,
		ScramIterations: cfg.Auth.ScramIterations,
		FakeSaltKey:     secret,
		SASL2: c2s.SASL2Config{
			Enabled:           cfg.Auth.SASL2,
			FastTokenLifetime: cfg.Auth.FastTokenLifetime,
			Carbons:           true, // modules.go always runs carbons
		},
	}, c2s.Deps{
		Router:  s.router,
		Store:   s.store,
		Certs:   s.certs,
		Limiter: limiter,
		Logger:  log,

		PostAuthFeatures: s.registry.StreamFeatures,
		PreAuthFeatures:  mods.register.PreAuthFeatures,
		PreAuthIQ:        mods.register.PreAuthIQ,
		Observer:         s.metrics,
		// A XEP-0198 <a/> acknowledges only what the archive has written.
		AckBarrier: mods.mam.Flush,
	})
	if err := s.c2s.Listen(); err != nil {
		return nil, err
	}
	if s.s2s, err = newS2S(cfg, log, s.router, s.certs, secret); err != nil {
		return nil, err
	}
	if err := s.listenWeb(log); err != nil {
		return nil, err
	}
	s.mountHTTPExtras(log)
	return s, nil
}

// disabledIfZero maps the configuration's "0 = no limit" to the limiter's
// "negative = no limit" (its zero means its default).
func disabledIfZero(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

// Start starts the modules, then serves clients.
func (s *Server) Start(ctx context.Context) error {
	if err := s.registry.Start(ctx); err != nil {
		return err
	}
	s.c2s.Serve(ctx)
	if s.s2s != nil {
		s.s2s.Serve()
	}
	s.web.Serve(ctx)
	s.started = true
	s.log.Info("parley started", "hosts", s.cfg.HostNames(), "storage", s.cfg.Storage.Backend)
	return nil
}

// Shutdown stops accepting, closes every session with system-shutdown
// after flushing their queues, stops the modules and closes storage.
func (s *Server) Shutdown(ctx context.Context) error {
	var errs []error
	if s.registry != nil {
		errs = append(errs, s.registry.Drain(ctx))
	}
	errs = append(errs, s.shutdownWeb(ctx))
	if s.c2s != nil {
		errs = append(errs, s.c2s.Shutdown(ctx))
	}
	if s.s2s != nil {
		errs = append(errs, s.s2s.Shutdown(ctx))
	}
	if s.registry != nil {
		errs = append(errs, s.registry.Stop(ctx))
	}
	errs = append(errs, s.close())
	return errors.Join(errs...)
}

func (s *Server) close() error {
	if s.s2s != nil && !s.started {
		_ = s.s2s.Shutdown(context.Background())
	}
	if s.web != nil && !s.started {
		_ = s.web.Close()
	}
	if s.store != nil {
		err := s.store.Close()
		s.store = nil
		return err
	}
	return nil
}

// ReloadCertificates re-reads the certificate files (SIGHUP).
func (s *Server) ReloadCertificates() error { return s.certs.Reload() }

// Router returns the router (for tests and embedding).
func (s *Server) Router() *router.Router { return s.router }

// Store returns the storage backend.
func (s *Server) Store() storage.Store { return s.store }

// C2SAddrs returns the bound client listener addresses.
func (s *Server) C2SAddrs() (starttls, direct []net.Addr) { return s.c2s.Addrs() }

// C2S returns the client server, which framed transports (WebSocket, BOSH)
// hand their sessions to (c2s.Server.ServeFramed).
func (s *Server) C2S() *c2s.Server { return s.c2s }
