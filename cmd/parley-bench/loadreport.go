package main

import (
	"fmt"
	"io"
	"strings"
)

func (lr *LoadResult) print(p func(string, ...any)) {
	switch lr.Mode {
	case "open":
		p("load:          %s, open loop: %.0f %s/s offered, %d sent (%.0f/s achieved) from %d sessions over %.1f s, %d sent >10 ms late",
			lr.Kind, lr.Offered, lr.Unit, lr.Sent, lr.SentRate, lr.Sessions, lr.Duration, lr.Late)
		if lr.Scheduled > 0 {
			p("admitted:      %d of %d scheduled written (%.1f%%), %d held back (not written by the end of the run: the server's push-back, or the tool)",
				lr.Sent, lr.Scheduled, 100*float64(lr.Sent)/float64(lr.Scheduled), lr.HeldBack)
		}
	default:
		p("load:          %s, closed loop: %d in flight per session, %d sent (%.0f/s) from %d sessions over %.1f s",
			lr.Kind, lr.Window, lr.Sent, lr.SentRate, lr.Sessions, lr.Duration)
	}
	p("deliveries:    %d of %d (%d missing) over %.2f s: %.0f/s", lr.Delivered, lr.Expected, lr.Missing, lr.SpanS, lr.Throughput)
	if lr.Stale > 0 || lr.Skipped > 0 {
		p("               %d stale (sent before this run, e.g. kept offline), %d not sent (session reconnecting)", lr.Stale, lr.Skipped)
	}
	l := lr.Latency
	p("latency (ms):  p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f  (from write)", l.P50, l.P90, l.P99, l.P999, l.Max)
	if s := lr.SchedLatency; s.N > 0 {
		p("               p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f  (from schedule)", s.P50, s.P90, s.P99, s.P999, s.Max)
	}
	c := lr.CPU
	p("CPU (load):    server %.2f s (%.0f%% of a core), tool %.2f s (%.0f%%), other processes %.2f s (%.0f%%) over %.1f s",
		c.ServerS, 100*c.ServerUtil, c.ToolS, 100*c.ToolUtil, c.OtherS, 100*c.OtherUtil, c.WallS)
	p("CPU per item:  server %.3f s per 1,000 %s (%.2f µs per delivery), tool %.2f µs per item sent and received",
		lr.ServerCPUPer1000, lr.Unit, lr.ServerUsPerDelivery, lr.ToolUsPerItem)
	if c.RSSStartKiB > 0 {
		p("server RSS:    %d KiB at the start, peak %d KiB (×%.2f), %d KiB at the end", c.RSSStartKiB, c.RSSMaxKiB, c.RSSGrowth, c.RSSEndKiB)
	}
	for _, k := range sortedAnyKeys(lr.Extra) {
		p("%-14s %v", k+":", lr.Extra[k])
	}
	for _, g := range []struct {
		name string
		m    map[string]int
	}{{"send error", lr.SendErrors}, {"recv error", lr.RecvErrors}, {"dropped", lr.Dropped}} {
		for _, k := range sortedKeys(g.m) {
			p("%-14s %-40s %d", g.name+":", k, g.m[k])
		}
	}
}

func sortedAnyKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}

// allLoad reports whether every file is a chat, presence or mam result.
func allLoad(files []string) bool {
	return allResults(files, func(r *Result) bool { return r.Load != nil })
}

func loadTable(files []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stdout, "| label | kind | mode | sessions | offered/s | sent/s | delivered/s | missing | p50 ms | p99 ms | p99.9 ms | max ms | server CPU % | server CPU-s/1,000 | tool µs/item | tool CPU % | RSS peak/start | errors | notes |")
	fmt.Fprintln(stdout, "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
	return tableRows(files, stderr, func(f string, r *Result) {
		lr := r.Load
		offered := "–"
		if lr.Mode == "open" {
			offered = fmt.Sprintf("%.0f", lr.Offered)
		} else {
			offered = fmt.Sprintf("window %d", lr.Window)
		}
		growth := "–"
		if lr.CPU.RSSGrowth > 0 {
			growth = fmt.Sprintf("%.2f", lr.CPU.RSSGrowth)
		}
		fmt.Fprintf(stdout, "| %s | %s | %s | %d | %s | %.0f | %.0f | %d | %.2f | %.2f | %.2f | %.2f | %.0f | %.3f | %.1f | %.0f | %s | %s | %s |\n",
			r.labelOr(f), lr.Kind, lr.Mode, lr.Sessions, offered, lr.SentRate, lr.Throughput, lr.Missing,
			lr.Latency.P50, lr.Latency.P99, lr.Latency.P999, lr.Latency.Max, 100*lr.CPU.ServerUtil, lr.ServerCPUPer1000,
			lr.ToolUsPerItem, 100*lr.CPU.ToolUtil, growth, errorList(r.Login.Errors, lr.SendErrors, lr.RecvErrors, lr.Dropped), strings.Join(r.noteTags(), ", "))
	})
}
