package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
)

// MUCResult is what muc-fanout measured.
type MUCResult struct {
	Room                string         `json:"room"`
	Joined              int            `json:"joined"`
	JoinErrors          map[string]int `json:"join_errors,omitempty"`
	JoinWallS           float64        `json:"join_wall_s"`
	JoinRate            float64        `json:"joins_per_s"`
	JoinLatency         Percentiles    `json:"join_latency"`
	ServerJoinCPUS      float64        `json:"server_join_cpu_s"`
	RSSPerOccupantKiB   float64        `json:"rss_per_occupant_kib"`  // (settled after the joins - after the logins) / joined
	AnonPerOccupantKiB  float64        `json:"anon_per_occupant_kib"` // the same for RssAnon
	Senders             int            `json:"senders"`
	TargetRate          float64        `json:"target_msgs_per_s"`
	DurationS           float64        `json:"duration_s"`
	Sent                int64          `json:"sent"`
	SentRate            float64        `json:"sent_msgs_per_s"`
	Lagging             int64          `json:"late_sends"`
	Expected            int64          `json:"expected_deliveries"`
	Delivered           int64          `json:"delivered"`
	Missing             int64          `json:"missing"`
	SpanS               float64        `json:"span_s"` // first send to last delivery
	DeliveryRate        float64        `json:"deliveries_per_s"`
	Latency             LatencySummary `json:"latency"`
	ServerUsPerDelivery float64        `json:"server_us_per_delivery"`
	ToolUsPerDelivery   float64        `json:"tool_us_per_delivery"`
	SendErrors          map[string]int `json:"send_errors,omitempty"`
	RecvErrors          map[string]int `json:"recv_errors,omitempty"`
	Dropped             map[string]int `json:"dropped,omitempty"`
}

func (m *MUCResult) print(p func(string, ...any), c *CPUResult) {
	p("room:          %s: %d joined in %.2f s (%.0f/s), join p50 %.2f ms p99 %.2f ms, server CPU %.2f s for the joins",
		m.Room, m.Joined, m.JoinWallS, m.JoinRate, m.JoinLatency.P50, m.JoinLatency.P99, m.ServerJoinCPUS)
	p("memory:        %.1f KiB RSS per occupant (%.1f KiB anon)", m.RSSPerOccupantKiB, m.AnonPerOccupantKiB)
	p("load:          %d senders, %.1f msg/s asked, %d sent (%.1f msg/s) over %.1f s, %d late sends", m.Senders, m.TargetRate, m.Sent, m.SentRate, m.DurationS, m.Lagging)
	p("deliveries:    %d of %d (%d missing) over %.2f s: %.0f deliveries/s", m.Delivered, m.Expected, m.Missing, m.SpanS, m.DeliveryRate)
	l := m.Latency
	p("latency (ms):  p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f", l.P50, l.P90, l.P99, l.P999, l.Max)
	if c != nil {
		p("CPU (load):    server %.2f s (%.0f%% of a core), tool %.2f s (%.0f%%), other processes %.2f s (%.0f%%)",
			c.ServerRampSeconds, 100*c.ServerUtil, c.ToolRampSeconds, 100*c.ToolUtil, c.OtherRampSeconds, 100*c.OtherUtil)
	}
	p("CPU/delivery:  server %.2f µs, tool %.2f µs", m.ServerUsPerDelivery, m.ToolUsPerDelivery)
	for _, g := range []struct {
		name string
		m    map[string]int
	}{{"join error", m.JoinErrors}, {"send error", m.SendErrors}, {"recv error", m.RecvErrors}, {"dropped", m.Dropped}} {
		for _, k := range sortedKeys(g.m) {
			p("%-14s %-40s %d", g.name+":", k, g.m[k])
		}
	}
}

func readResult(f string) (*Result, error) {
	b, err := os.ReadFile(f)
	if err != nil {
		return nil, err
	}
	var r Result
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %v", f, err)
	}
	return &r, nil
}

// allMUC reports whether every file is a muc-fanout result.
func allMUC(files []string) bool {
	return allResults(files, func(r *Result) bool { return r.MUC != nil })
}

// allResults reports whether every file is a result that is accepts.
func allResults(files []string, is func(*Result) bool) bool {
	for _, f := range files {
		r, err := readResult(f)
		if err != nil || !is(r) {
			return false
		}
	}
	return true
}

// tableRows calls row with each file's result; a file that cannot be read
// is reported on stderr and makes the status 1.
func tableRows(files []string, stderr io.Writer, row func(f string, r *Result)) int {
	status := 0
	for _, f := range files {
		r, err := readResult(f)
		if err != nil {
			fmt.Fprintln(stderr, "parley-bench:", err)
			status = 1
			continue
		}
		row(f, r)
	}
	return status
}

// errorList joins the counts of groups, each most frequent first, as
// "key ×n, …".
func errorList(groups ...map[string]int) string {
	var errs []string
	for _, g := range groups {
		for _, k := range sortedKeys(g) {
			errs = append(errs, fmt.Sprintf("%s ×%d", k, g[k]))
		}
	}
	return strings.Join(errs, ", ")
}

// noteTags returns the tags of r's notes that have one (the upper-case word
// before a colon: "SATURATED: …").
func (r *Result) noteTags() []string {
	var notes []string
	for _, n := range r.Notes {
		if i := strings.Index(n, ":"); i > 0 && strings.ToUpper(n[:i]) == n[:i] {
			notes = append(notes, n[:i])
		}
	}
	return notes
}

// labelOr returns r's label, or f when it has none.
func (r *Result) labelOr(f string) string {
	if r.Label == "" {
		return f
	}
	return r.Label
}

func mucTable(files []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stdout, "| label | occupants | senders | msgs/s asked | msgs/s sent | deliveries/s | delivered | missing | p50 ms | p99 ms | p99.9 ms | max ms | server CPU % | server µs/delivery | tool CPU % | KiB RSS/occupant | errors | notes |")
	fmt.Fprintln(stdout, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
	return tableRows(files, stderr, func(f string, r *Result) {
		m := r.MUC
		srv, tool := "–", "–"
		if r.CPU != nil {
			if r.CPU.ServerRampSeconds > 0 {
				srv = fmt.Sprintf("%.0f", 100*r.CPU.ServerUtil)
			}
			tool = fmt.Sprintf("%.0f", 100*r.CPU.ToolUtil)
		}
		notes := r.noteTags()
		if m.Missing > 0 {
			notes = append(notes, "SATURATED")
		}
		fmt.Fprintf(stdout, "| %s | %d | %d | %.0f | %.1f | %.0f | %d | %d | %.2f | %.2f | %.2f | %.2f | %s | %.2f | %s | %.1f | %s | %s |\n",
			r.labelOr(f), m.Joined, m.Senders, m.TargetRate, m.SentRate, m.DeliveryRate, m.Delivered, m.Missing,
			m.Latency.P50, m.Latency.P99, m.Latency.P999, m.Latency.Max, srv, m.ServerUsPerDelivery, tool,
			m.RSSPerOccupantKiB, errorList(r.Login.Errors, m.JoinErrors, m.SendErrors, m.RecvErrors, m.Dropped), strings.Join(notes, ", "))
	})
}
