// Command parley-pprof runs the Parley server as `parley serve -config FILE`
// does, plus net/http/pprof on a loopback address, so that a benchmark can
// take heap and goroutine profiles of a loaded server
// (parley-bench login-idle -pprof http://127.0.0.1:PORT/debug/pprof).
// It is a benchmark aid only: nothing in Parley itself changes.
//
//	parley-pprof -config FILE [-pprof 127.0.0.1:6060]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof" // registers /debug/pprof/ on http.DefaultServeMux
	"os"
	"os/signal"
	"runtime"
	"runtime/metrics"
	"syscall"
	"time"

	"parley.im/parley/config"
	"parley.im/parley/server"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "parley-pprof:", err)
		os.Exit(1)
	}
}

func run() error {
	configPath := flag.String("config", "", "Parley configuration file (TOML)")
	pprofAddr := flag.String("pprof", "127.0.0.1:6060", "loopback `address` for net/http/pprof")
	rate := flag.Int("memprofilerate", 4096, "runtime.MemProfileRate: one heap sample per this many bytes allocated (Go's default is 512 KiB, too coarse to split a session's few KiB)")
	flag.Parse()
	runtime.MemProfileRate = *rate
	if *configPath == "" || flag.NArg() != 0 {
		return errors.New("usage: parley-pprof -config FILE [-pprof 127.0.0.1:PORT]")
	}
	host, _, err := net.SplitHostPort(*pprofAddr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("-pprof %q: want a loopback address", *pprofAddr)
	}
	cfg, err := config.Load(*configPath)
	if err != nil {
		return err
	}
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level))
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	ctx := context.Background()
	srv, err := server.New(ctx, server.Options{Config: cfg, Logger: log, Version: "bench-pprof"})
	if err != nil {
		return err
	}
	if err := srv.Start(ctx); err != nil {
		_ = srv.Shutdown(ctx)
		return err
	}
	ln, err := net.Listen("tcp", *pprofAddr)
	if err != nil {
		_ = srv.Shutdown(ctx)
		return err
	}
	http.HandleFunc("GET /debug/pprof/runtime-metrics", serveMetrics)
	hs := &http.Server{ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	log.Info("pprof listening", "addr", ln.Addr().String())

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	<-sigs
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = hs.Shutdown(sctx)
	return srv.Shutdown(sctx)
}

// serveMetrics prints every runtime/metrics value (stack starting size,
// heap classes, GC figures...) as "name value" lines.
func serveMetrics(w http.ResponseWriter, _ *http.Request) {
	descs := metrics.All()
	samples := make([]metrics.Sample, len(descs))
	for i, d := range descs {
		samples[i].Name = d.Name
	}
	metrics.Read(samples)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	for _, s := range samples {
		switch s.Value.Kind() {
		case metrics.KindUint64:
			fmt.Fprintf(w, "%s %d\n", s.Name, s.Value.Uint64())
		case metrics.KindFloat64:
			fmt.Fprintf(w, "%s %g\n", s.Name, s.Value.Float64())
		}
	}
}
