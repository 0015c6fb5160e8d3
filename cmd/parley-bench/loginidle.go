package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// loginIdle opens N sessions, then holds them idle: the login rate and
// latency of the ramp, the server's CPU per login, and the server's memory
// per idle authenticated session.
type loginIdle struct {
	hold       time.Duration
	settle     time.Duration
	afterClose time.Duration
	pprofURL   string
	pprofOut   string
	cpuProfile time.Duration

	mu sync.Mutex // res.Files, appended from the CPU profile's goroutine too
}

func (*loginIdle) Name() string { return "login-idle" }
func (*loginIdle) Synopsis() string {
	return "open N sessions (stream, TLS, SASL, bind, presence), hold them idle; login rate, latency, server CPU per login, RSS per session"
}

func (l *loginIdle) Flags(fs *flag.FlagSet) {
	fs.DurationVar(&l.hold, "hold", 30*time.Second, "keep the sessions idle this long after the ramp")
	fs.DurationVar(&l.settle, "settle", 10*time.Second, "sample the server's memory again this long into the hold")
	fs.DurationVar(&l.afterClose, "after-close", 3*time.Second, "after closing every session, wait this long and sample the server's memory once more")
	fs.StringVar(&l.pprofURL, "pprof", "", "`URL` of the server's net/http/pprof (e.g. http://127.0.0.1:6060/debug/pprof): at the settle point, fetch a heap profile (after a GC) and goroutine counts")
	fs.StringVar(&l.pprofOut, "pprof-out", ".", "`directory` for the files fetched with -pprof")
	fs.DurationVar(&l.cpuProfile, "pprof-cpu", 0, "with -pprof, also take a CPU profile of the server (cpu.pb.gz) for this long from the start of the ramp")
}

func (l *loginIdle) Run(ctx context.Context, env *Env, res *Result) error {
	opt := env.Opt
	var (
		dropped Counter
		alive   atomic.Int64
		start   time.Time
	)
	mem := func(point string, s ProcSample, before ProcSample) {
		m := MemSample{
			Point:    point,
			AfterS:   s.At.Sub(start).Seconds(),
			Sessions: int(alive.Load()),
			RSSKiB:   s.RSS / 1024,
			AnonKiB:  s.RSSAnon / 1024,
			Threads:  s.Threads,
		}
		if point == "before" {
			m.AfterS = 0
		}
		if m.Sessions > 0 && point != "before" {
			m.PerSessionKiB = float64(s.RSS-before.RSS) / 1024 / float64(m.Sessions)
			m.AnonPerSessionKiB = float64(s.RSSAnon-before.RSSAnon) / 1024 / float64(m.Sessions)
		}
		res.Memory = append(res.Memory, m)
	}

	srv0, haveSrv := env.SampleServer()
	self0, err := SampleSelf()
	if err != nil {
		return err
	}
	mach0, _ := SampleMachine()
	if haveSrv {
		mem("before", srv0, srv0)
	}
	env.Logf("login-idle: %d sessions to %s as %s (%s, %s), %d in flight", opt.Count, strings.Join(opt.Addrs, ","), env.Account(opt.First), opt.TLS, opt.Mech, opt.Concurrency)
	cpuDone := make(chan struct{})
	if l.pprofURL != "" && l.cpuProfile > 0 {
		go func() {
			defer close(cpuDone)
			path := fmt.Sprintf("/profile?seconds=%d", max(1, int(l.cpuProfile.Seconds())))
			if err := l.fetch(ctx, res, path, "cpu.pb.gz"); err != nil {
				env.Logf("pprof: CPU profile: %v", err)
			}
		}()
	} else {
		close(cpuDone)
	}
	start = time.Now()
	r := env.Ramp(ctx, opt.First, opt.Count, func(s *Session) {
		alive.Add(1)
		err := s.Serve(nil)
		if !s.Closing() {
			alive.Add(-1)
			dropped.Add(errKind("idle", err))
			s.Close()
		}
	})
	srv1, _ := env.SampleServer()
	self1, _ := SampleSelf()
	mach1, _ := SampleMachine()

	ok := len(r.Sessions)
	res.Login = LoginResult{
		Attempted:   r.Attempted,
		OK:          ok,
		Failed:      r.Errors.Total(),
		Errors:      r.Errors.Snapshot(),
		WallSeconds: r.Wall.Seconds(),
		Latency:     summarize(r.Latency),
		Phases:      map[string]Percentiles{},
	}
	if r.Wall > 0 {
		res.Login.Rate = float64(ok) / r.Wall.Seconds()
	}
	if ok > 0 {
		res.MechUsed = r.Sessions[0].Mech
	}
	for k, v := range r.Phases {
		res.Login.Phases[k] = summarize(v)
	}
	cpu := &CPUResult{ToolRampSeconds: (self1.CPU - self0.CPU).Seconds()}
	if wall := self1.At.Sub(self0.At).Seconds(); wall > 0 {
		cpu.ToolUtil = cpu.ToolRampSeconds / wall
	}
	if haveSrv {
		cpu.ServerRampSeconds = (srv1.CPU - srv0.CPU).Seconds()
		if wall := srv1.At.Sub(srv0.At).Seconds(); wall > 0 {
			cpu.ServerUtil = cpu.ServerRampSeconds / wall
		}
	}
	cpu.OtherRampSeconds = max(0, (mach1.Busy-mach0.Busy).Seconds()-cpu.ToolRampSeconds-cpu.ServerRampSeconds)
	if wall := self1.At.Sub(self0.At).Seconds(); wall > 0 {
		cpu.OtherUtil = cpu.OtherRampSeconds / wall
	}
	if ok > 0 {
		cpu.ToolPerLoginMs = 1000 * cpu.ToolRampSeconds / float64(ok)
		cpu.ServerPerLoginMs = 1000 * cpu.ServerRampSeconds / float64(ok)
	}
	res.CPU = cpu
	env.Logf("ramp done: %d logged in, %d failed in %.2f s (%.0f/s)", ok, res.Login.Failed, r.Wall.Seconds(), res.Login.Rate)
	if haveSrv {
		mem("after-ramp", srv1, srv0)
	}

	// Hold the sessions idle.
	holdStart := time.Now()
	completed := true
	if l.settle > 0 && l.settle < l.hold {
		completed = sleepCtx(ctx, l.settle)
		if s, ok := env.SampleServer(); ok && completed {
			mem("settled", s, srv0)
		}
		if completed && l.pprofURL != "" {
			l.fetchPprof(ctx, env, res)
			if s, ok := env.SampleServer(); ok {
				mem("after-gc", s, srv0)
			}
		}
	}
	if completed {
		completed = sleepCtx(ctx, l.hold-time.Since(holdStart))
	}
	srv2, _ := env.SampleServer()
	self2, _ := SampleSelf()
	if haveSrv {
		mem("end-of-hold", srv2, srv0)
		cpu.ServerIdleSeconds = (srv2.CPU - srv1.CPU).Seconds()
	}
	cpu.ToolIdleSeconds = (self2.CPU - self1.CPU).Seconds()
	res.Idle = &IdleResult{
		Seconds: time.Since(holdStart).Seconds(),
		Alive:   int(alive.Load()),
		Dropped: dropped.Snapshot(),
	}
	env.Logf("hold done: %d sessions alive; closing", alive.Load())

	// Close every session and let the server clean up.
	for _, s := range r.Sessions {
		s.Close()
	}
	alive.Store(0)
	waited := make(chan struct{})
	go func() { r.Serving.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(10 * time.Second):
		res.Notes = append(res.Notes, "some session readers had not ended 10 s after closing")
	}
	if haveSrv && l.afterClose > 0 && sleepCtx(ctx, l.afterClose) {
		if s, ok := env.SampleServer(); ok {
			mem("after-close", s, srv0)
		}
	}
	if l.pprofURL != "" && completed {
		// Against heap.pb.gz (go tool pprof -sample_index=alloc_space -base
		// heap.pb.gz heap-after-close.pb.gz): what the hold and the
		// closing of every session allocated.
		// The profile is as of the last GC: force one.
		if err := l.fetch(ctx, res, "/heap?gc=1", "heap-after-close.pb.gz"); err != nil {
			res.Notes = append(res.Notes, "pprof: "+err.Error())
		}
		_ = l.fetch(ctx, res, "/runtime-metrics", "runtime-metrics-after-close.txt")
	}

	<-cpuDone
	l.notes(res, haveSrv)
	if !completed {
		return fmt.Errorf("stopped early: %v", context.Cause(ctx))
	}
	return nil
}

func (l *loginIdle) notes(res *Result, haveSrv bool) {
	c := res.CPU
	if haveSrv && c.ToolRampSeconds > c.ServerRampSeconds {
		res.Notes = append(res.Notes, fmt.Sprintf("the load tool used more CPU (%.2f s) than the server (%.2f s) during the ramp: the login rate may be the tool's limit, not the server's", c.ToolRampSeconds, c.ServerRampSeconds))
	}
	if c.ToolUtil > 0.9*float64(res.ToolProcs) {
		res.Notes = append(res.Notes, fmt.Sprintf("the load tool kept %.0f%% of its %d core(s) busy during the ramp: it was saturated", 100*c.ToolUtil, res.ToolProcs))
	}
	if c.OtherUtil > 0.1 {
		res.Notes = append(res.Notes, fmt.Sprintf("other processes kept %.0f%% of a core busy during the ramp: the machine was not quiet, the figures are noisy", 100*c.OtherUtil))
	}
	if !haveSrv {
		res.Notes = append(res.Notes, "no -pid: server CPU and memory not sampled")
	}
	if res.Login.Failed > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("%d logins failed: per-session figures are divided by the sessions that logged in", res.Login.Failed))
	}
	if res.Idle != nil && len(res.Idle.Dropped) > 0 {
		res.Notes = append(res.Notes, "sessions were dropped during the hold (see 'dropped')")
	}
}

// fetchPprof saves a heap profile taken after a forced GC, the heap
// profile's text form (it ends with runtime.MemStats) and the goroutine
// profile, and records the goroutine count.
func (l *loginIdle) fetchPprof(ctx context.Context, env *Env, res *Result) {
	for _, f := range []struct{ path, file string }{
		{"/heap?gc=1", "heap.pb.gz"},
		{"/heap?debug=1", "heap.txt"},
		{"/goroutine?debug=1", "goroutine.txt"},
	} {
		if err := l.fetch(ctx, res, f.path, f.file); err != nil {
			res.Notes = append(res.Notes, "pprof: "+err.Error())
			return
		}
	}
	// Not every server has it (bench/parley-pprof does): optional.
	_ = l.fetch(ctx, res, "/runtime-metrics", "runtime-metrics.txt")
	env.Logf("pprof: heap and goroutine profiles saved in %s", l.pprofOut)
	if f, err := os.Open(filepath.Join(l.pprofOut, "goroutine.txt")); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		if sc.Scan() {
			var n int
			if _, err := fmt.Sscanf(sc.Text(), "goroutine profile: total %d", &n); err == nil {
				res.Server = &ServerStats{Goroutines: n}
			}
		}
	}
}

// fetch saves base+path as file in -pprof-out.
func (l *loginIdle) fetch(ctx context.Context, res *Result, path, file string) error {
	base := strings.TrimSuffix(l.pprofURL, "/")
	if err := os.MkdirAll(l.pprofOut, 0o755); err != nil {
		return err
	}
	client := &http.Client{Timeout: 60*time.Second + l.cpuProfile}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", base+path, resp.Status)
	}
	out := filepath.Join(l.pprofOut, file)
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	l.mu.Lock()
	res.Files = append(res.Files, out)
	l.mu.Unlock()
	return f.Close()
}
