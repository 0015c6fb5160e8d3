package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// chat is 1:1 chat between pairs of sessions (account 2k with 2k+1), each
// sending to the other.
//
// Open loop (-rate R): the messages leave on a fixed schedule, R per
// second in total, whatever the server does with them, as real users
// would send them; the report gives the achieved rate against the offered
// one, the delivery latency from the moment each message was written
// (what a server that admitted it made it wait) and from the moment the
// schedule wanted it sent (which also counts the time the server's
// push-back, or the tool, held it back).
//
// Closed loop (-rate 0): every session keeps -window messages in flight to
// its partner and sends the next one when one arrives: the throughput is
// the server's saturation rate.
type chat struct {
	rate      float64
	window    int
	duration  time.Duration
	drain     time.Duration
	settle    time.Duration
	workers   int
	to        string
	bodyBytes int
	sample    time.Duration
}

func (*chat) Name() string { return "chat" }
func (*chat) Synopsis() string {
	return "1:1 chat between pairs at -rate msg/s (open loop) or with -window in flight (closed loop, saturation); latency p50/p99/p99.9/max, throughput, server CPU per 1,000 messages, RSS"
}

func (c *chat) Flags(fs *flag.FlagSet) {
	fs.Float64Var(&c.rate, "rate", 1000, "messages per second in total, sent on schedule (open loop); 0: closed loop with -window in flight per session (saturation)")
	fs.IntVar(&c.window, "window", 8, "closed loop: messages in flight per sending session")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "send for this long")
	fs.DurationVar(&c.drain, "drain", 10*time.Second, "after sending, wait at most this long for the outstanding deliveries")
	fs.DurationVar(&c.settle, "settle", time.Second, "after the logins, wait this long before sending (the last initial presences must be processed: a message to a bare JID without an available resource goes offline)")
	fs.IntVar(&c.workers, "workers", 4, "open loop: goroutines sending on schedule (each owns a share of the sessions)")
	fs.StringVar(&c.to, "to", "bare", "address messages to the partner's bare or full JID")
	fs.IntVar(&c.bodyBytes, "body-bytes", 0, "pad each body to at least this many bytes")
	fs.DurationVar(&c.sample, "sample", 250*time.Millisecond, "sample the server's RSS this often during the load")
}

// LoadResult is what a load scenario (chat, presence, mam) measured.
type LoadResult struct {
	Kind     string  `json:"kind"`     // chat, presence, mam
	Mode     string  `json:"mode"`     // open (on schedule) or closed (window)
	Unit     string  `json:"unit"`     // what was sent: messages, updates, queries
	Sessions int     `json:"sessions"` // taking part
	Fanout   int     `json:"fanout"`   // deliveries expected per item sent
	Offered  float64 `json:"offered_per_s,omitempty"`
	Window   int     `json:"window,omitempty"`
	Duration float64 `json:"duration_s"`

	Sent     int64   `json:"sent"`
	SentRate float64 `json:"sent_per_s"`
	Late     int64   `json:"late_sends"` // open loop: written more than 10 ms after their scheduled time
	// Open loop: what the schedule wanted sent during the run, and how
	// much of it was still not written when the run ended (held back by
	// the server's push-back, or by the tool); Sent is what was admitted.
	Scheduled  int64   `json:"scheduled,omitempty"`
	HeldBack   int64   `json:"held_back,omitempty"`
	Skipped    int64   `json:"skipped,omitempty"` // not sent: the session was reconnecting
	Stale      int64   `json:"stale,omitempty"`   // received but sent before this run (offline storage)
	Expected   int64   `json:"expected"`
	Delivered  int64   `json:"delivered"`
	Missing    int64   `json:"missing"`
	SpanS      float64 `json:"span_s"` // first send to last delivery
	Throughput float64 `json:"delivered_per_s"`
	// Latency is from the moment the tool wrote each item to its arrival;
	// SchedLatency from the moment the schedule wanted it sent.
	Latency      LatencySummary `json:"latency"`
	SchedLatency LatencySummary `json:"sched_latency"`

	CPU                 LoadCPU        `json:"cpu"`
	ServerCPUPer1000    float64        `json:"server_cpu_s_per_1000"` // per 1,000 items delivered (chat: messages)
	ToolUsPerItem       float64        `json:"tool_us_per_item"`      // tool CPU per item sent and delivered
	ServerUsPerDelivery float64        `json:"server_us_per_delivery"`
	SendErrors          map[string]int `json:"send_errors,omitempty"`
	RecvErrors          map[string]int `json:"recv_errors,omitempty"`
	Dropped             map[string]int `json:"dropped,omitempty"`
	Extra               map[string]any `json:"extra,omitempty"`
}

// loadRun is the machinery shared by the load scenarios: delivery
// accounting, latency histograms, error counters.
type loadRun struct {
	hist, sched Histogram
	delivered   atomic.Int64
	lastDeliv   atomic.Int64 // unix ns
	sent        atomic.Int64
	late        atomic.Int64
	heldBack    atomic.Int64
	skipped     atomic.Int64
	stale       atomic.Int64
	since       int64 // unix ns: the run's start
	sendErr     Counter
	recvErr     Counter
	dropped     Counter
	alive       atomic.Int64
}

// record counts a delivery of st at now. A stamp written before this run
// started (kept offline by the server from an earlier run, say) is only
// counted as stale.
func (l *loadRun) record(st Stamp, now int64) bool {
	if st.Write < l.since {
		l.stale.Add(1)
		return false
	}
	l.hist.Record(time.Duration(now - st.Write))
	if st.Sched > 0 {
		l.sched.Record(time.Duration(now - st.Sched))
	}
	l.delivered.Add(1)
	l.lastDeliv.Store(now)
	return true
}

func newLoadRun() *loadRun { return &loadRun{since: time.Now().UnixNano()} }

// serve is the function given to Env.Ramp: it runs the session's raw reader
// with h and counts the sessions the server dropped.
func (l *loadRun) serve(h RawHandler) func(*Session) {
	return func(s *Session) {
		l.alive.Add(1)
		err := s.ServeRaw(h)
		if !s.Closing() {
			l.alive.Add(-1)
			l.dropped.Add(errKind("session", err))
			s.Close()
		}
	}
}

// waitDrain waits until want items were delivered, or drain passed.
func (l *loadRun) waitDrain(ctx context.Context, want int64, drain time.Duration) {
	end := time.Now().Add(drain)
	for l.delivered.Load() < want && time.Now().Before(end) && ctx.Err() == nil {
		sleepCtx(ctx, 10*time.Millisecond)
	}
}

// fill completes lr from the counters; start is when sending began.
func (l *loadRun) fill(lr *LoadResult, start time.Time, sendWall time.Duration, cpu LoadCPU) {
	lr.Sent = l.sent.Load()
	if sendWall > 0 {
		lr.SentRate = float64(lr.Sent) / sendWall.Seconds()
	}
	lr.Late = l.late.Load()
	lr.Skipped = l.skipped.Load()
	if lr.Mode == "open" {
		lr.HeldBack = l.heldBack.Load()
		lr.Scheduled = lr.Sent + lr.Skipped + int64(l.sendErr.Total()) + lr.HeldBack
	}
	lr.Stale = l.stale.Load()
	lr.Expected = lr.Sent * int64(max(1, lr.Fanout))
	lr.Delivered = l.delivered.Load()
	lr.Missing = max(0, lr.Expected-lr.Delivered)
	span := time.Unix(0, l.lastDeliv.Load()).Sub(start)
	if lr.Delivered == 0 || span < sendWall {
		span = sendWall
	}
	lr.SpanS = span.Seconds()
	if span > 0 {
		lr.Throughput = float64(lr.Delivered) / span.Seconds()
	}
	lr.Latency = l.hist.Summary()
	lr.SchedLatency = l.sched.Summary()
	lr.CPU = cpu
	if lr.Delivered > 0 {
		items := float64(lr.Delivered) / float64(max(1, lr.Fanout))
		lr.ServerCPUPer1000 = 1000 * cpu.ServerS / items
		lr.ToolUsPerItem = 1e6 * cpu.ToolS / items
		lr.ServerUsPerDelivery = 1e6 * cpu.ServerS / float64(lr.Delivered)
	}
	lr.SendErrors = l.sendErr.Snapshot()
	lr.RecvErrors = l.recvErr.Snapshot()
	lr.Dropped = l.dropped.Snapshot()
}

// loadNotesFor adds the notes about deliveries and the schedule.
func loadNotesFor(res *Result, lr *LoadResult) {
	if lr.Missing > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("MISSING: %d of %d deliveries did not arrive within the drain (saturated, or lost)", lr.Missing, lr.Expected))
	}
	if lr.Mode == "open" && lr.SentRate < 0.95*lr.Offered {
		res.Notes = append(res.Notes, fmt.Sprintf("BEHIND: sent %.0f/s of the %.0f/s offered (the server's push-back or the tool held the writes back)", lr.SentRate, lr.Offered))
	}
	if len(lr.Dropped) > 0 {
		res.Notes = append(res.Notes, "DROPPED: the server closed sessions during the load (see 'dropped')")
	}
}

// pacer runs open-loop schedules: worker w of n sends item k at
// start + (k*n + w)/rate, so that together they send rate items per second
// evenly. A worker that finds itself behind sends what is due at once
// (open loop: nothing waits for the server); when ahead, it sleeps at
// least 500 µs at a time, so that high rates are sent in small batches
// instead of waking a goroutine for every item. Sending stops at end:
// what the schedule wanted before then and was not written (the writes
// blocked: the server pushed back) is counted as held back, not sent late
// after the run.
func pacer(ctx context.Context, l *loadRun, rate float64, workers int, start, end time.Time, send func(w, k int, sched time.Time) error) {
	var wg sync.WaitGroup
	interval := time.Duration(float64(time.Second) * float64(workers) / rate)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			next := start.Add(time.Duration(float64(time.Second) * float64(w) / rate))
			for k := 0; next.Before(end); {
				now := time.Now()
				if !now.Before(end) {
					break
				}
				if d := next.Sub(now); d > 0 {
					if !sleepCtx(ctx, max(d, 500*time.Microsecond)) {
						return
					}
					continue
				}
				for ; !next.After(now) && next.Before(end); k++ {
					if now.Sub(next) > 10*time.Millisecond {
						l.late.Add(1)
					}
					if err := send(w, k, next); errors.Is(err, errSkipped) {
						l.skipped.Add(1)
					} else if err != nil {
						l.sendErr.Add(errKind("send", err))
						if errors.Is(err, errNoSession) {
							return
						}
					} else {
						l.sent.Add(1)
					}
					next = next.Add(interval)
					if k%16 == 15 && !time.Now().Before(end) {
						break // a write blocked until the end
					}
				}
				if ctx.Err() != nil {
					return
				}
			}
			if next.Before(end) {
				l.heldBack.Add(int64((end.Sub(next) + interval - 1) / interval))
			}
		}()
	}
	wg.Wait()
}

var errNoSession = errors.New("no session to send from")

// errSkipped is a send left out on purpose (the session is reconnecting).
var errSkipped = errors.New("skipped")

// chatSender is one session's pre-encoded message.
type chatSender struct {
	s      *Session
	pos    int
	prefix []byte // <message type='chat' to='PARTNER' id='
	seq    int
	buf    []byte
	tokens chan struct{} // closed loop
}

func (cs *chatSender) send(sched time.Time, pad int) error {
	now := time.Now()
	b := append(cs.buf[:0], cs.prefix...)
	b = strconv.AppendInt(b, int64(cs.seq), 10)
	b = append(b, "'><body>"...)
	st := Stamp{Write: now.UnixNano(), Sender: cs.pos, Seq: cs.seq}
	if !sched.IsZero() {
		st.Sched = sched.UnixNano()
	}
	b = appendStamp(b, st, pad)
	b = append(b, "</body></message>"...)
	cs.buf = b
	cs.seq++
	return cs.s.Write(b)
}

func (c *chat) Run(ctx context.Context, env *Env, res *Result) error {
	opt := env.Opt
	if opt.Count < 2 {
		return errors.New("chat needs -count of at least 2 (pairs of sessions)")
	}
	if c.rate < 0 || c.duration <= 0 || (c.rate == 0 && c.window < 1) {
		return errors.New("-rate must not be negative, -duration positive, -window at least 1")
	}
	if c.to != "bare" && c.to != "full" {
		return fmt.Errorf("-to %q: want bare or full", c.to)
	}
	l := newLoadRun()
	var senders atomic.Pointer[[]*chatSender] // by position, set before any message is sent
	isMessage := []byte("<message")
	handler := func(_ *Session, raw []byte) {
		if !bytes.HasPrefix(raw, isMessage) || !isTagEnd(raw, len(isMessage)) {
			return
		}
		if t, _ := rawAttrBytes(raw, "type"); string(t) == "error" {
			l.recvErr.Add("message:" + rawStanzaErrorCondition(raw))
			return
		}
		st, ok := findStamp(raw)
		if !ok {
			return
		}
		if !l.record(st, time.Now().UnixNano()) {
			return
		}
		if sp := senders.Load(); sp != nil && st.Sender >= 0 && st.Sender < len(*sp) {
			if tk := (*sp)[st.Sender].tokens; tk != nil {
				select {
				case tk <- struct{}{}:
				default:
				}
			}
		}
	}
	env.Logf("chat: %d sessions to %s as %s (%s, %s), %d in flight", opt.Count, strings.Join(opt.Addrs, ","), env.Account(opt.First), opt.TLS, opt.Mech, opt.Concurrency)
	r := env.Ramp(ctx, opt.First, opt.Count, l.serve(handler))
	loginResult(res, r)
	env.Logf("logins done: %d ok, %d failed in %.2f s (%.0f/s)", len(r.Sessions), res.Login.Failed, r.Wall.Seconds(), res.Login.Rate)
	defer closeAll(res, r)
	sess := sortedSessions(r)
	if len(sess)%2 == 1 {
		sess = sess[:len(sess)-1]
	}
	if len(sess) == 0 {
		return errors.New("no pair of sessions logged in")
	}
	list := make([]*chatSender, len(sess))
	for i, s := range sess {
		partner := sess[i^1].JID
		if c.to == "bare" {
			partner = bareJID(partner)
		}
		cs := &chatSender{s: s, pos: i, prefix: []byte("<message type='chat' to='" + escapeAttr(partner) + "' id='c"), buf: make([]byte, 0, 256+c.bodyBytes)}
		if c.rate == 0 {
			cs.tokens = make(chan struct{}, c.window)
			for range c.window {
				cs.tokens <- struct{}{}
			}
		}
		list[i] = cs
	}
	senders.Store(&list)
	lr := &LoadResult{Kind: "chat", Unit: "messages", Sessions: len(sess), Fanout: 1, Duration: c.duration.Seconds()}
	res.Load = lr
	if !sleepCtx(ctx, c.settle) {
		return context.Cause(ctx)
	}

	m, err := startMeter(ctx, env, c.sample)
	if err != nil {
		return err
	}
	start := time.Now()
	end := start.Add(c.duration)
	if c.rate > 0 {
		lr.Mode, lr.Offered = "open", c.rate
		workers := max(1, min(c.workers, len(list)))
		env.Logf("sending: %.0f msg/s on schedule from %d sessions (%d workers) for %v", c.rate, len(list), workers, c.duration)
		// Worker w owns the sessions at positions w, w+workers, ...
		owned := make([][]*chatSender, workers)
		for i, cs := range list {
			owned[i%workers] = append(owned[i%workers], cs)
		}
		pacer(ctx, l, c.rate, workers, start, end, func(w, k int, sched time.Time) error {
			mine := owned[w]
			if len(mine) == 0 {
				return errNoSession
			}
			return mine[k%len(mine)].send(sched, c.bodyBytes)
		})
	} else {
		lr.Mode, lr.Window = "closed", c.window
		env.Logf("sending: closed loop, %d in flight per session, %d sessions, for %v", c.window, len(list), c.duration)
		var wg sync.WaitGroup
		stop := make(chan struct{})
		timer := time.AfterFunc(c.duration, func() { close(stop) })
		for _, cs := range list {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-cs.tokens:
					case <-stop:
						return
					case <-ctx.Done():
						return
					}
					if err := cs.send(time.Time{}, c.bodyBytes); err != nil {
						l.sendErr.Add(errKind("send", err))
						return
					}
					l.sent.Add(1)
				}
			}()
		}
		wg.Wait()
		timer.Stop()
	}
	sendWall := time.Since(start)
	env.Logf("sending done: %d sent in %.2f s, %d delivered so far; draining", l.sent.Load(), sendWall.Seconds(), l.delivered.Load())
	l.waitDrain(ctx, l.sent.Load(), c.drain)
	cpu := m.finish()
	l.fill(lr, start, sendWall, cpu)
	loadNotes(res, cpu, m.haveSrv)
	loadNotesFor(res, lr)
	if ctx.Err() != nil {
		return fmt.Errorf("stopped early: %v", context.Cause(ctx))
	}
	return nil
}
