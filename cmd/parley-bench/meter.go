package main

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// meter samples the server's CPU and RSS, the tool's CPU and the machine's
// during a load phase, and the server's RSS every -sample interval in
// between (for the peak).
type meter struct {
	env     *Env
	haveSrv bool
	srv0    ProcSample
	self0   ProcSample
	mach0   MachineSample
	maxRSS  atomic.Int64
	stop    chan struct{}
	done    chan struct{}

	mu      sync.Mutex
	samples []RSSPoint
}

// RSSPoint is the server's RSS at one moment of a load.
type RSSPoint struct {
	AfterS float64 `json:"t_s"`
	RSSKiB int64   `json:"rss_kib"`
}

func startMeter(ctx context.Context, env *Env, every time.Duration) (*meter, error) {
	m := &meter{env: env, stop: make(chan struct{}), done: make(chan struct{})}
	var err error
	if m.self0, err = SampleSelf(); err != nil {
		return nil, err
	}
	m.mach0, _ = SampleMachine()
	m.srv0, m.haveSrv = env.SampleServer()
	if m.haveSrv {
		m.maxRSS.Store(m.srv0.RSS)
		m.samples = append(m.samples, RSSPoint{0, m.srv0.RSS / 1024})
	}
	go func() {
		defer close(m.done)
		if !m.haveSrv || every <= 0 {
			return
		}
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-t.C:
			case <-m.stop:
				return
			case <-ctx.Done():
				return
			}
			s, err := SampleProc(env.Opt.PID)
			if err != nil {
				continue
			}
			if s.RSS > m.maxRSS.Load() {
				m.maxRSS.Store(s.RSS)
			}
			m.mu.Lock()
			m.samples = append(m.samples, RSSPoint{s.At.Sub(m.srv0.At).Seconds(), s.RSS / 1024})
			m.mu.Unlock()
		}
	}()
	return m, nil
}

// LoadCPU is CPU time and memory over a load phase.
type LoadCPU struct {
	WallS       float64 `json:"wall_s"`
	ServerS     float64 `json:"server_cpu_s"`
	ServerUtil  float64 `json:"server_util"`
	ToolS       float64 `json:"tool_cpu_s"`
	ToolUtil    float64 `json:"tool_util"`
	OtherS      float64 `json:"other_cpu_s"`
	OtherUtil   float64 `json:"other_util"`
	RSSStartKiB int64   `json:"rss_start_kib,omitempty"`
	RSSMaxKiB   int64   `json:"rss_max_kib,omitempty"`
	RSSEndKiB   int64   `json:"rss_end_kib,omitempty"`
	// RSSGrowth is the peak RSS over the RSS at the start.
	RSSGrowth float64    `json:"rss_growth,omitempty"`
	RSS       []RSSPoint `json:"rss_samples,omitempty"`
}

func (m *meter) finish() LoadCPU {
	close(m.stop)
	<-m.done
	self1, _ := SampleSelf()
	mach1, _ := SampleMachine()
	var c LoadCPU
	c.WallS = self1.At.Sub(m.self0.At).Seconds()
	c.ToolS = (self1.CPU - m.self0.CPU).Seconds()
	if m.haveSrv {
		if s, ok := m.env.SampleServer(); ok {
			c.ServerS = (s.CPU - m.srv0.CPU).Seconds()
			if s.RSS > m.maxRSS.Load() {
				m.maxRSS.Store(s.RSS)
			}
			c.RSSStartKiB, c.RSSEndKiB, c.RSSMaxKiB = m.srv0.RSS/1024, s.RSS/1024, m.maxRSS.Load()/1024
			if c.RSSStartKiB > 0 {
				c.RSSGrowth = float64(c.RSSMaxKiB) / float64(c.RSSStartKiB)
			}
			m.mu.Lock()
			c.RSS = append(m.samples, RSSPoint{s.At.Sub(m.srv0.At).Seconds(), s.RSS / 1024})
			m.mu.Unlock()
		}
	}
	c.OtherS = max(0, (mach1.Busy-m.mach0.Busy).Seconds()-c.ToolS-c.ServerS)
	if c.WallS > 0 {
		c.ServerUtil, c.ToolUtil, c.OtherUtil = c.ServerS/c.WallS, c.ToolS/c.WallS, c.OtherS/c.WallS
	}
	return c
}

// loadNotes are the warnings every load scenario gives about its CPU.
func loadNotes(res *Result, c LoadCPU, haveSrv bool) {
	if c.ToolUtil > 0.85*float64(res.ToolProcs) {
		res.Notes = append(res.Notes, fmt.Sprintf("TOOL-BOUND: the load tool kept %.0f%% of its %d core(s) busy: the figures may be the tool's limit, not the server's", 100*c.ToolUtil, res.ToolProcs))
	}
	if haveSrv && c.ServerUtil > 0.9 {
		res.Notes = append(res.Notes, fmt.Sprintf("SERVER-BOUND: the server kept %.0f%% of a core busy", 100*c.ServerUtil))
	}
	if c.OtherUtil > 0.15 {
		res.Notes = append(res.Notes, fmt.Sprintf("NOISY: other processes kept %.0f%% of a core busy during the load", 100*c.OtherUtil))
	}
	if !haveSrv {
		res.Notes = append(res.Notes, "no -pid: server CPU and memory not sampled")
	}
}

// sortedSessions returns the logged-in sessions in account order.
func sortedSessions(r *RampResult) []*Session {
	out := append([]*Session(nil), r.Sessions...)
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// bareJID strips the resource from a full JID.
func bareJID(full string) string {
	for i := 0; i < len(full); i++ {
		if full[i] == '/' {
			return full[:i]
		}
	}
	return full
}

// loginResult fills res.Login from a ramp.
func loginResult(res *Result, r *RampResult) {
	ok := len(r.Sessions)
	res.Login = LoginResult{
		Attempted: r.Attempted, OK: ok, Failed: r.Errors.Total(), Errors: r.Errors.Snapshot(),
		WallSeconds: r.Wall.Seconds(), Latency: summarize(r.Latency), Phases: map[string]Percentiles{},
	}
	if r.Wall > 0 {
		res.Login.Rate = float64(ok) / r.Wall.Seconds()
	}
	for k, v := range r.Phases {
		res.Login.Phases[k] = summarize(v)
	}
	for _, s := range r.Sessions {
		if s.Mech != "" {
			res.MechUsed = s.Mech
			break
		}
	}
}

// closeAll closes every session and waits (at most 10 s) for their readers.
func closeAll(res *Result, r *RampResult) {
	for _, s := range r.Sessions {
		s.Close()
	}
	waited := make(chan struct{})
	go func() { r.Serving.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(10 * time.Second):
		res.Notes = append(res.Notes, "some session readers had not ended 10 s after closing")
	}
}

// sleepCtx sleeps for d or until ctx ends; it reports whether it slept.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
