package main

import (
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// cmdCompare prints the side-by-side table of bench/compare.sh from the
// JSON results in a directory, named <server>-<run>.json, with each
// Parley's ratio to the better of the peers and the target for it.
func cmdCompare(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("parley-bench compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", ".", "`directory` of the results")
	servers := fs.String("servers", "prosody ejabberd parley-sqlite parley-postgres", "servers, in table order (space or comma separated)")
	peers := fs.String("peers", "prosody ejabberd", "which of them are the peers the ratios are taken against")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	split := func(s string) []string {
		return strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' })
	}
	cols, peerSet := split(*servers), map[string]bool{}
	for _, p := range split(*peers) {
		peerSet[p] = true
	}
	noisy := map[string]bool{}
	load := func(server, run string) *Result {
		r, err := readResult(filepath.Join(*dir, server+"-"+run+".json"))
		if err != nil {
			if !os.IsNotExist(err) {
				fmt.Fprintln(stderr, "parley-bench:", err)
			}
			return nil
		}
		return r
	}
	type figure struct {
		name   string
		lower  bool    // lower is better
		target float64 // Parley / better peer must be ≤ (lower) or ≥ this
		unit   string
		get    func(server string) (float64, string) // value, and a note ("" if none)
	}
	memory := func(run string) func(string) (float64, string) {
		return func(s string) (float64, string) {
			r := load(s, run)
			if r == nil {
				return math.NaN(), ""
			}
			if r.CPU != nil && r.CPU.OtherUtil > 0.15 {
				noisy[s+" "+run] = true
			}
			m := r.sample("settled")
			if m == nil {
				m = r.sample("end-of-hold")
			}
			if m == nil || m.Sessions == 0 {
				return math.NaN(), "no memory sample"
			}
			note := ""
			if r.Login.Failed > 0 {
				note = fmt.Sprintf("%d logins failed", r.Login.Failed)
			}
			return m.PerSessionKiB, note
		}
	}
	loadFig := func(run string, f func(*Result) float64) func(string) (float64, string) {
		return func(s string) (float64, string) {
			r := load(s, run)
			if r == nil || r.Load == nil {
				return math.NaN(), ""
			}
			var notes []string
			for _, n := range r.Notes {
				if i := strings.Index(n, ":"); i > 0 && strings.ToUpper(n[:i]) == n[:i] {
					if n[:i] == "NOISY" {
						noisy[s+" "+run] = true
						continue
					}
					notes = append(notes, n[:i])
				}
			}
			return f(r), strings.Join(notes, " ")
		}
	}
	figs := []figure{
		{"KiB RSS per idle session, plaintext", true, 1.0 / 3, "KiB", memory("idle-plaintext")},
		{"KiB RSS per idle session, STARTTLS", true, 1.0 / 3, "KiB", memory("idle-starttls")},
		{"login rate, SCRAM-SHA-256 over STARTTLS", false, 1, "/s", func(s string) (float64, string) {
			r := load(s, "idle-starttls")
			if r == nil || r.Login.OK == 0 {
				return math.NaN(), ""
			}
			note := ""
			if r.MechUsed != "" && r.MechUsed != "SCRAM-SHA-256" {
				note = "used " + r.MechUsed
			}
			return r.Login.Rate, note
		}},
		{"1:1 chat, server CPU-s per 1,000 messages at a fixed rate", true, 0.5, "s", loadFig("chat-fixed", func(r *Result) float64 { return r.Load.ServerCPUPer1000 })},
		{"1:1 chat saturation, messages delivered/s", false, 2, "/s", loadFig("chat-saturation", func(r *Result) float64 { return r.Load.Throughput })},
		{"… the same per server CPU-second (what one core would carry; steadier on a busy machine)", false, 2, "/s", loadFig("chat-saturation", func(r *Result) float64 {
			if r.Load.CPU.ServerS <= 0 {
				return math.NaN()
			}
			return float64(r.Load.Delivered) / r.Load.CPU.ServerS
		})},
		{"1:1 chat p99 latency at half of Parley's saturation", true, math.NaN(), "ms", loadFig("chat-half", func(r *Result) float64 { return r.Load.Latency.P99 })},
		{"MUC fan-out deliveries/s (one room)", false, 2, "/s", func(s string) (float64, string) {
			r := load(s, "muc")
			if r == nil || r.MUC == nil {
				return math.NaN(), ""
			}
			var notes []string
			if r.MUC.Joined < r.Count {
				notes = append(notes, fmt.Sprintf("%d of %d occupants joined", r.MUC.Joined, r.Count))
			}
			if r.MUC.Missing > 0 {
				notes = append(notes, "saturated (deliveries missing)")
			}
			for _, n := range r.Notes {
				if strings.HasPrefix(n, "TOOL-BOUND") {
					notes = append(notes, "TOOL-BOUND")
				}
			}
			if r.MUC.Joined == 0 {
				return math.NaN(), strings.Join(notes, ", ")
			}
			return r.MUC.DeliveryRate, strings.Join(notes, ", ")
		}},
		{"… the same per server CPU-second", false, 2, "/s", func(s string) (float64, string) {
			r := load(s, "muc")
			if r == nil || r.MUC == nil || r.MUC.ServerUsPerDelivery <= 0 {
				return math.NaN(), ""
			}
			return 1e6 / r.MUC.ServerUsPerDelivery, ""
		}},
		{"overload (2× Parley's saturation): RSS peak / start", true, math.NaN(), "×", loadFig("chat-overload", func(r *Result) float64 { return r.Load.CPU.RSSGrowth })},
		{"overload: admitted messages p99 latency", true, math.NaN(), "ms", loadFig("chat-overload", func(r *Result) float64 { return r.Load.Latency.P99 })},
		{"overload: messages/s admitted (written by the tool) of the 2× offered", false, math.NaN(), "/s", loadFig("chat-overload", func(r *Result) float64 { return r.Load.SentRate })},
		{"overload: % of the scheduled messages held back (push-back)", false, math.NaN(), "%", loadFig("chat-overload", func(r *Result) float64 {
			if r.Load.Scheduled <= 0 {
				return math.NaN()
			}
			return 100 * float64(r.Load.HeldBack) / float64(r.Load.Scheduled)
		})},
	}
	header := "| figure |"
	sep := "|---|"
	for _, c := range cols {
		header += " " + c + " |"
		sep += "---:|"
	}
	for _, c := range cols {
		if !peerSet[c] {
			header += " " + c + " / better peer |"
			sep += "---:|"
		}
	}
	fmt.Fprintln(stdout, header+" target |")
	fmt.Fprintln(stdout, sep+"---|")
	var notes []string
	for _, f := range figs {
		vals := map[string]float64{}
		line := "| " + f.name + " |"
		for _, c := range cols {
			v, note := f.get(c)
			vals[c] = v
			cell := "–"
			if !math.IsNaN(v) {
				cell = formatFigure(v)
			}
			if note != "" {
				notes = append(notes, fmt.Sprintf("%s, %s: %s", c, f.name, note))
				cell += " *"
			}
			line += " " + cell + " |"
		}
		better := math.NaN()
		for p := range peerSet {
			v, ok := vals[p]
			if !ok || math.IsNaN(v) {
				continue
			}
			if math.IsNaN(better) || (f.lower && v < better) || (!f.lower && v > better) {
				better = v
			}
		}
		for _, c := range cols {
			if peerSet[c] {
				continue
			}
			cell := "–"
			// A negative or zero figure (memory that shrank during a small
			// run) has no meaningful ratio.
			if v := vals[c]; !math.IsNaN(v) && !math.IsNaN(better) && better > 0 && v > 0 {
				ratio := v / better
				cell = fmt.Sprintf("%.2f", ratio)
				if !math.IsNaN(f.target) {
					if (f.lower && ratio <= f.target) || (!f.lower && ratio >= f.target) {
						cell += " ✓"
					} else {
						cell += " ✗"
					}
				}
			}
			line += " " + cell + " |"
		}
		target := "–"
		switch {
		case !math.IsNaN(f.target) && f.lower:
			target = fmt.Sprintf("≤ %.2f", f.target)
		case !math.IsNaN(f.target):
			target = fmt.Sprintf("≥ %.2f", f.target)
		case strings.HasPrefix(f.name, "1:1 chat p99"):
			target = "< 20 ms"
		case strings.Contains(f.name, "RSS peak"):
			target = "≤ 2"
		case strings.Contains(f.name, "admitted messages p99"):
			target = "< 1,000 ms"
		}
		fmt.Fprintln(stdout, line+" "+target+" |")
	}
	if len(notes) > 0 {
		fmt.Fprintln(stdout)
		for _, n := range notes {
			fmt.Fprintln(stdout, "\\* "+n)
		}
	}
	if len(noisy) > 0 {
		runs := make([]string, 0, len(noisy))
		for k := range noisy {
			runs = append(runs, k)
		}
		sort.Strings(runs)
		fmt.Fprintf(stdout, "\nNOISY (other processes used more than 15%% of a core meanwhile): %s\n", strings.Join(runs, ", "))
	}
	return 0
}

// formatFigure prints v with few significant digits and thousands separators.
func formatFigure(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1000:
		s := fmt.Sprintf("%.0f", v)
		var b strings.Builder
		for i, c := range s {
			if i > 0 && (len(s)-i)%3 == 0 && s[i-1] != '-' {
				b.WriteByte(',')
			}
			b.WriteRune(c)
		}
		return b.String()
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3f", v)
	}
}
