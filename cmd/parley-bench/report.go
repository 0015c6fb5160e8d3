package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"time"
)

// Result is what a scenario run measured; it is printed and written as JSON
// (-json) for `parley-bench table` and later side-by-side comparisons.
type Result struct {
	Label       string    `json:"label,omitempty"`
	Scenario    string    `json:"scenario"`
	Time        time.Time `json:"time"`
	Addrs       []string  `json:"addrs"`
	Domain      string    `json:"domain"`
	TLS         string    `json:"tls"`
	Mech        string    `json:"mech"`
	MechUsed    string    `json:"mech_used,omitempty"`
	Count       int       `json:"count"`
	Concurrency int       `json:"concurrency"`
	Ramp        string    `json:"ramp,omitempty"`
	Sources     []string  `json:"sources,omitempty"`
	ScramCache  bool      `json:"scram_cache"`
	ToolProcs   int       `json:"tool_gomaxprocs"`
	// The client sockets' -sndbuf and -notsent-lowat (0: not set).
	SndBuf       int `json:"sndbuf,omitempty"`
	NotSentLowat int `json:"notsent_lowat,omitempty"`

	Login  LoginResult  `json:"login"`
	CPU    *CPUResult   `json:"cpu,omitempty"`
	Memory []MemSample  `json:"memory,omitempty"`
	Idle   *IdleResult  `json:"idle,omitempty"`
	Files  []string     `json:"files,omitempty"`
	Notes  []string     `json:"notes,omitempty"`
	Server *ServerStats `json:"server,omitempty"`
	MUC    *MUCResult   `json:"muc,omitempty"`
	Load   *LoadResult  `json:"load,omitempty"`
}

// LoginResult describes the ramp.
type LoginResult struct {
	Attempted   int                    `json:"attempted"`
	OK          int                    `json:"ok"`
	Failed      int                    `json:"failed"`
	Errors      map[string]int         `json:"errors,omitempty"`
	WallSeconds float64                `json:"wall_s"`
	Rate        float64                `json:"logins_per_s"`
	Latency     Percentiles            `json:"latency"`
	Phases      map[string]Percentiles `json:"phases,omitempty"`
	PBKDF2      int                    `json:"client_pbkdf2_runs"`
}

// CPUResult is CPU time spent by the server and by this tool.
type CPUResult struct {
	ServerRampSeconds float64 `json:"server_ramp_s"`
	ServerPerLoginMs  float64 `json:"server_per_login_ms"`
	ServerUtil        float64 `json:"server_util"` // cores busy on average during the ramp
	ToolRampSeconds   float64 `json:"tool_ramp_s"`
	ToolPerLoginMs    float64 `json:"tool_per_login_ms"`
	ToolUtil          float64 `json:"tool_util"`
	// OtherRampSeconds is CPU time the rest of the machine (neither the
	// server nor the tool) used during the ramp: a noisy machine.
	OtherRampSeconds  float64 `json:"other_ramp_s"`
	OtherUtil         float64 `json:"other_util"`
	ServerIdleSeconds float64 `json:"server_idle_s,omitempty"` // during the hold
	ToolIdleSeconds   float64 `json:"tool_idle_s,omitempty"`
}

// MemSample is the server's memory at one point of the run.
type MemSample struct {
	Point    string  `json:"point"`
	AfterS   float64 `json:"after_s"` // seconds since the ramp started
	Sessions int     `json:"sessions"`
	RSSKiB   int64   `json:"rss_kib"`
	AnonKiB  int64   `json:"rss_anon_kib"`
	Threads  int     `json:"threads"`
	// Per session: (this sample - the one before the ramp) / Sessions.
	PerSessionKiB     float64 `json:"per_session_kib,omitempty"`
	AnonPerSessionKiB float64 `json:"anon_per_session_kib,omitempty"`
}

// IdleResult describes the hold.
type IdleResult struct {
	Seconds float64        `json:"seconds"`
	Alive   int            `json:"alive_at_end"`
	Dropped map[string]int `json:"dropped,omitempty"`
}

// ServerStats is optional information from a Go server's pprof endpoint.
type ServerStats struct {
	Goroutines int `json:"goroutines,omitempty"`
}

// Print writes the human-readable report.
func (r *Result) Print(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	p("")
	title := r.Scenario
	if r.Label != "" {
		title += " [" + r.Label + "]"
	}
	mech := r.Mech
	if r.MechUsed != "" && r.MechUsed != r.Mech {
		mech += " (used " + r.MechUsed + ")"
	}
	p("== %s: %s %s, %d sessions, %d logins in flight", title, r.TLS, mech, r.Count, r.Concurrency)
	l := r.Login
	p("logins:        %d ok, %d failed of %d in %.2f s: %.0f logins/s", l.OK, l.Failed, l.Attempted, l.WallSeconds, l.Rate)
	p("latency (ms):  p50 %.2f  p90 %.2f  p99 %.2f  max %.2f", l.Latency.P50, l.Latency.P90, l.Latency.P99, l.Latency.Max)
	for _, k := range []string{"connect", "tls", "auth", "bind"} {
		if ph, ok := l.Phases[k]; ok {
			p("  %-8s     p50 %.2f  p99 %.2f  max %.2f", k, ph.P50, ph.P99, ph.Max)
		}
	}
	for _, k := range sortedKeys(l.Errors) {
		p("error:         %-40s %d", k, l.Errors[k])
	}
	if c := r.CPU; c != nil && r.MUC == nil {
		if c.ServerRampSeconds > 0 || c.ServerPerLoginMs > 0 {
			p("server CPU:    %.2f s during the ramp = %.3f ms per login (%.0f%% of a core)", c.ServerRampSeconds, c.ServerPerLoginMs, 100*c.ServerUtil)
		}
		p("tool CPU:      %.2f s during the ramp = %.3f ms per login (%.0f%% of a core, GOMAXPROCS %d)", c.ToolRampSeconds, c.ToolPerLoginMs, 100*c.ToolUtil, r.ToolProcs)
		p("other CPU:     %.2f s used by the rest of the machine during the ramp (%.0f%% of a core)", c.OtherRampSeconds, 100*c.OtherUtil)
		if r.Idle != nil {
			p("idle CPU:      server %.2f s, tool %.2f s during the hold", c.ServerIdleSeconds, c.ToolIdleSeconds)
		}
	}
	if l.PBKDF2 > 0 {
		p("client PBKDF2: %d derivation(s) (SCRAM key cache)", l.PBKDF2)
	}
	if len(r.Memory) > 0 {
		p("server memory: %-14s %7s %9s %9s %12s %12s %7s", "point", "t(s)", "RSS KiB", "anon KiB", "KiB/session", "anon/session", "threads")
		for _, m := range r.Memory {
			per, anon := "", ""
			if m.Point != "before" && m.Sessions > 0 {
				per, anon = fmt.Sprintf("%.1f", m.PerSessionKiB), fmt.Sprintf("%.1f", m.AnonPerSessionKiB)
			}
			p("               %-14s %7.1f %9d %9d %12s %12s %7d", m.Point, m.AfterS, m.RSSKiB, m.AnonKiB, per, anon, m.Threads)
		}
	}
	if i := r.Idle; i != nil {
		p("idle:          held %.0f s; %d sessions alive at the end", i.Seconds, i.Alive)
		for _, k := range sortedKeys(i.Dropped) {
			p("dropped:       %-40s %d", k, i.Dropped[k])
		}
	}
	if r.MUC != nil {
		r.MUC.print(p, r.CPU)
	}
	if r.Load != nil {
		r.Load.print(p)
	}
	if r.Server != nil && r.Server.Goroutines > 0 {
		p("server:        %d goroutines (pprof)", r.Server.Goroutines)
	}
	for _, f := range r.Files {
		p("wrote:         %s", f)
	}
	for _, n := range r.Notes {
		p("NOTE:          %s", n)
	}
}

// perSession returns the memory sample at point, or nil.
func (r *Result) sample(point string) *MemSample {
	for i := range r.Memory {
		if r.Memory[i].Point == point {
			return &r.Memory[i]
		}
	}
	return nil
}

func cmdTable(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("parley-bench table", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "usage: parley-bench table RESULT.json...")
		return 2
	}
	if allMUC(fs.Args()) {
		return mucTable(fs.Args(), stdout, stderr)
	}
	if allLoad(fs.Args()) {
		return loadTable(fs.Args(), stdout, stderr)
	}
	fmt.Fprintln(stdout, "| label | tls | mech | sessions | ok | logins/s | p50 ms | p99 ms | max ms | server CPU ms/login | tool CPU ms/login | other CPU % | KiB/session after ramp | settled | end of hold | errors |")
	fmt.Fprintln(stdout, "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
	status := 0
	for _, f := range fs.Args() {
		b, err := os.ReadFile(f)
		var r Result
		if err == nil {
			err = json.Unmarshal(b, &r)
		}
		if err != nil {
			fmt.Fprintf(stderr, "parley-bench: %s: %v\n", f, err)
			status = 1
			continue
		}
		mem := func(point string) string {
			if m := r.sample(point); m != nil && m.Sessions > 0 {
				return fmt.Sprintf("%.1f", m.PerSessionKiB)
			}
			return "–"
		}
		cpuS, cpuT, other := "–", "–", "–"
		if r.CPU != nil {
			other = fmt.Sprintf("%.0f", 100*r.CPU.OtherUtil)
			if r.CPU.ServerPerLoginMs > 0 {
				cpuS = fmt.Sprintf("%.3f", r.CPU.ServerPerLoginMs)
			}
			cpuT = fmt.Sprintf("%.3f", r.CPU.ToolPerLoginMs)
		}
		fmt.Fprintf(stdout, "| %s | %s | %s | %d | %d | %.0f | %.2f | %.2f | %.2f | %s | %s | %s | %s | %s | %s | %s |\n",
			r.labelOr(f), r.TLS, r.Mech, r.Count, r.Login.OK, r.Login.Rate, r.Login.Latency.P50, r.Login.Latency.P99, r.Login.Latency.Max,
			cpuS, cpuT, other, mem("after-ramp"), mem("settled"), mem("end-of-hold"), errorList(r.Login.Errors))
	}
	return status
}
