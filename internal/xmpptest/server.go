package xmpptest

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"parley.im/parley/auth"
	"parley.im/parley/config"
	"parley.im/parley/server"
)

// Server is a Parley instance running for one test.
type Server struct {
	*server.Server
	Config        *config.Config
	StartTLSAddr  string
	DirectTLSAddr string
}

// Start runs a server for the test on loopback ports chosen by the kernel,
// with SQLite storage in a temporary directory, host "localhost" and SCRAM
// at the minimum iteration count (to keep tests fast). configure may
// change the configuration before start. The server stops when the test
// ends.
func Start(t testing.TB, configure ...func(*config.Config)) *Server {
	t.Helper()
	return StartWithLog(t, nil, configure...)
}

// StartWithLog is Start with the server's log (debug level, text format)
// also written to w, for tests that check what the server logged or print
// it when they fail. w must be safe for concurrent use.
func StartWithLog(t testing.TB, w io.Writer, configure ...func(*config.Config)) *Server {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.C2S.StartTLS = []string{"127.0.0.1:0"}
	cfg.C2S.DirectTLS = []string{"127.0.0.1:0"}
	cfg.Web.HTTP = []string{"127.0.0.1:0"}
	cfg.Web.HTTPS = []string{"127.0.0.1:0"}
	cfg.Auth.ScramIterations = 4096
	for _, f := range configure {
		f(cfg)
	}
	lw := logWriter(t)
	if w != nil {
		lw = io.MultiWriter(w, lw)
	}
	log := slog.New(slog.NewTextHandler(lw, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx := context.Background()
	srv, err := server.New(ctx, server.Options{Config: cfg, Logger: log, Version: "test"})
	if err != nil {
		t.Fatalf("xmpptest: start server: %v", err)
	}
	if err := srv.Start(ctx); err != nil {
		t.Fatalf("xmpptest: start server: %v", err)
	}
	s := &Server{Server: srv, Config: cfg}
	st, dt := srv.C2SAddrs()
	if len(st) > 0 {
		s.StartTLSAddr = st[0].String()
	}
	if len(dt) > 0 {
		s.DirectTLSAddr = dt[0].String()
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	})
	return s
}

// AddUser creates an account on the first host.
func (s *Server) AddUser(t testing.TB, user, password string) {
	t.Helper()
	creds, err := auth.DeriveCredentials(password, s.Config.Auth.ScramIterations)
	if err != nil {
		t.Fatalf("xmpptest: derive credentials: %v", err)
	}
	if err := s.Store().CreateAccount(context.Background(), s.Config.HostNames()[0], user, creds); err != nil {
		t.Fatalf("xmpptest: create account %s: %v", user, err)
	}
}

// logWriter sends server logs to the test log when PARLEY_TEST_LOG is set,
// and nowhere otherwise (they would drown the output of -v runs).
func logWriter(t testing.TB) io.Writer {
	if os.Getenv("PARLEY_TEST_LOG") == "" {
		return io.Discard
	}
	return testWriter{t}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}
