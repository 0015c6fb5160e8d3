package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"

	"parley.im/parley/config"
	"parley.im/parley/server"
)

// shutdownGrace bounds how long a graceful shutdown waits for clients.
const shutdownGrace = 10 * time.Second

func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		return config.Default(), nil
	}
	return config.Load(path)
}

func cmdServe(ctx context.Context, configPath string, args []string, stderr io.Writer) error {
	if len(args) != 0 {
		return errUsage
	}
	cfg, err := loadConfig(configPath)
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg.Log.Level, cfg.Log.Format)
	if configPath == "" {
		log.Warn("no configuration file given (-config or PARLEY_CONFIG): running on built-in defaults",
			"host", "localhost", "data_dir", cfg.DataDir)
	}
	srv, err := server.New(ctx, server.Options{Config: cfg, Logger: log, Version: buildVersion()})
	if err != nil {
		return err
	}
	if err := srv.Start(ctx); err != nil {
		_ = srv.Shutdown(ctx)
		return err
	}
	_, _ = daemon.SdNotify(false, daemon.SdNotifyReady)
	stopWatchdog := startWatchdog()
	defer stopWatchdog()

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)
	for sig := range sigs {
		if sig == syscall.SIGHUP {
			_, _ = daemon.SdNotify(false, reloadingState())
			if err := srv.ReloadCertificates(); err != nil {
				log.Error("certificate reload failed; keeping the old ones", "err", err)
			} else {
				log.Info("certificates reloaded")
			}
			_, _ = daemon.SdNotify(false, daemon.SdNotifyReady)
			continue
		}
		log.Info("shutting down", "signal", sig.String())
		_, _ = daemon.SdNotify(false, daemon.SdNotifyStopping)
		sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		err := srv.Shutdown(sctx)
		cancel()
		if err != nil {
			log.Warn("shutdown was not clean", "err", err)
		}
		log.Info("stopped")
		return nil
	}
	return nil
}

// reloadingState is RELOADING=1 with the monotonic timestamp that
// Type=notify-reload services must send (systemd 253+); older systemd
// ignores the extra field.
func reloadingState() string {
	var ts syscall.Timespec
	_ = clockGettimeMonotonic(&ts)
	return fmt.Sprintf("RELOADING=1\nMONOTONIC_USEC=%d", ts.Nano()/1000)
}

// startWatchdog pings systemd's watchdog at half its interval, when the
// unit has WatchdogSec set.
func startWatchdog() (stop func()) {
	interval, err := daemon.SdWatchdogEnabled(false)
	if err != nil || interval <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(interval / 2)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				_, _ = daemon.SdNotify(false, daemon.SdNotifyWatchdog)
			case <-done:
				return
			}
		}
	}()
	return func() { close(done) }
}
