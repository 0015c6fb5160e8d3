package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// A Scenario is one kind of load: login + idle now; 1:1 chat at a rate,
// presence broadcast and MUC are meant to be added the same way. Each is a
// subcommand that gets the common options (server, accounts, TLS, SASL,
// concurrency, sources, server pid) and registers its own flags.
//
// A scenario typically opens its sessions with Env.Ramp, drives them
// (Session.Write from any goroutine; received stanzas reach the Handler it
// passes to Session.Serve), samples the server with Env.SampleServer, and
// fills in a Result, which main prints and writes as JSON.
type Scenario interface {
	Name() string
	Synopsis() string
	// Flags registers the scenario's own flags.
	Flags(fs *flag.FlagSet)
	// Run runs the load; ctx ends at -max-duration.
	Run(ctx context.Context, env *Env, res *Result) error
}

// scenarios are the subcommands that run a load.
var scenarios = []Scenario{&loginIdle{}, &mucFanout{}, &chat{}, &presenceChurn{}, &mamQuery{}}

// Env is what a scenario runs with.
type Env struct {
	Opt    *Options
	Client *ClientConfig
	Out    io.Writer // progress and report

	dialers []*net.Dialer // one per source address
}

func newEnv(opt *Options, cc *ClientConfig, out io.Writer) *Env {
	e := &Env{Opt: opt, Client: cc, Out: out}
	control := opt.Sockets.control()
	if len(opt.Sources) == 0 {
		e.dialers = []*net.Dialer{{Control: control}}
	}
	for _, ip := range opt.Sources {
		e.dialers = append(e.dialers, &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}, Control: control})
	}
	return e
}

// Logf prints a progress line.
func (e *Env) Logf(format string, args ...any) {
	fmt.Fprintf(e.Out, "%s  %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

// SampleServer samples the server process, if -pid was given.
func (e *Env) SampleServer() (ProcSample, bool) {
	if e.Opt.PID <= 0 {
		return ProcSample{}, false
	}
	s, err := SampleProc(e.Opt.PID)
	if err != nil {
		e.Logf("cannot sample server pid %d: %v", e.Opt.PID, err)
		return ProcSample{}, false
	}
	return s, true
}

// Account returns the name of account index i.
func (e *Env) Account(i int) string { return fmt.Sprintf(e.Opt.UserPattern, i) }

// RampResult is what Ramp measured.
type RampResult struct {
	Attempted int
	Sessions  []*Session // logged in, in order of completion
	Errors    Counter
	Latency   []time.Duration
	Phases    map[string][]time.Duration
	Start     time.Time
	Wall      time.Duration // from the first login started to the last one finished
	// Serving counts the sessions whose serve function has not returned.
	Serving sync.WaitGroup

	mu   sync.Mutex
	last time.Time
}

// Ramp logs in accounts first..first+n-1, at most -concurrency at a time
// and, with -ramp, starting them evenly over that duration. Each session
// is handed to serve in its own goroutine once logged in (serve may block
// for the session's lifetime: the login slot is already released). Ramp
// returns when every login has succeeded or failed.
func (e *Env) Ramp(ctx context.Context, first, n int, serve func(*Session)) *RampResult {
	r := &RampResult{
		Latency: make([]time.Duration, 0, n),
		Phases:  map[string][]time.Duration{},
		Start:   time.Now(),
	}
	sem := make(chan struct{}, max(1, e.Opt.Concurrency))
	var wg sync.WaitGroup
	progress := time.NewTicker(time.Second)
	defer progress.Stop()
	lastReport := 0
loop:
	for i := 0; i < n; i++ {
		if e.Opt.Ramp > 0 {
			at := r.Start.Add(time.Duration(int64(e.Opt.Ramp) * int64(i) / int64(n)))
			if d := time.Until(at); d > 0 {
				t := time.NewTimer(d)
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
					break loop
				}
			}
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			break loop
		}
		select {
		case <-progress.C:
			r.mu.Lock()
			done := len(r.Latency)
			r.mu.Unlock()
			e.Logf("ramp: %d started, %d logged in (+%d/s), %d failed", i, done, done-lastReport, r.Errors.Total())
			lastReport = done
		default:
		}
		r.Attempted++
		wg.Add(1)
		idx := first + i
		d := e.dialers[i%len(e.dialers)]
		addr := e.Opt.Addrs[i%len(e.Opt.Addrs)]
		go func() {
			s, ph, err := Login(ctx, e.Client, d, addr, e.Account(idx), idx)
			r.record(s, ph, err)
			serving := err == nil && serve != nil
			if serving {
				r.Serving.Add(1)
			}
			<-sem
			wg.Done()
			if serving {
				defer r.Serving.Done()
				serve(s)
			}
		}()
	}
	wg.Wait()
	r.mu.Lock()
	if !r.last.IsZero() {
		r.Wall = r.last.Sub(r.Start)
	}
	r.mu.Unlock()
	return r
}

func (r *RampResult) record(s *Session, ph Phases, err error) {
	now := time.Now()
	if err != nil {
		r.Errors.Add(errKind("login", err))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.last = now
	if err != nil {
		return
	}
	r.Sessions = append(r.Sessions, s)
	r.Latency = append(r.Latency, ph.Total)
	add := func(k string, d time.Duration) {
		if d > 0 {
			r.Phases[k] = append(r.Phases[k], d)
		}
	}
	add("connect", ph.Connect)
	add("tls", ph.TLS)
	add("auth", ph.Auth)
	add("bind", ph.Bind)
}
