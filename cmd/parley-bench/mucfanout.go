package main

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"parley.im/parley/xmppcore"
)

// mucFanout logs in N sessions, joins them all to one room (the first
// creates it as an instant room), then has S of them send groupchat
// messages at a total rate R for a duration D. Every session timestamps
// what it receives: delivery latency over all deliveries, deliveries per
// second, the server's CPU during the load and its RSS per occupant.
type mucFanout struct {
	room      string
	service   string
	senders   int
	rate      float64
	duration  time.Duration
	drain     time.Duration
	settle    time.Duration
	joinWait  time.Duration
	maxUsers  int
	bodyBytes int
}

func (*mucFanout) Name() string { return "muc-fanout" }
func (*mucFanout) Synopsis() string {
	return "N sessions join one room, S send groupchat at R msg/s for D; delivery latency, deliveries/s, server CPU, RSS per occupant"
}

func (m *mucFanout) Flags(fs *flag.FlagSet) {
	fs.StringVar(&m.room, "room", "bench", "room name (local part)")
	fs.StringVar(&m.service, "service", "", "MUC service domain (default conference.<domain>)")
	fs.IntVar(&m.senders, "senders", 10, "sessions that send (the first S occupants)")
	fs.Float64Var(&m.rate, "rate", 10, "groupchat messages per second, in total over the senders")
	fs.DurationVar(&m.duration, "duration", 10*time.Second, "send for this long")
	fs.DurationVar(&m.drain, "drain", 10*time.Second, "after sending, wait at most this long for the outstanding deliveries")
	fs.DurationVar(&m.settle, "settle", 2*time.Second, "after the joins, wait this long before sampling the server's memory")
	fs.DurationVar(&m.joinWait, "join-timeout", 30*time.Second, "give up a join after this long")
	fs.IntVar(&m.maxUsers, "maxusers", 0, "muc#roomconfig_maxusers in the creation form (0: the number of sessions)")
	fs.IntVar(&m.bodyBytes, "body-bytes", 0, "pad each message body to at least this many bytes")
}

// stampPrefix starts every body the scenario sends.
const stampPrefix = "pb "

// formatStamp is the body of message seq from sender at t, padded to pad
// bytes.
func formatStamp(t time.Time, sender, seq, pad int) string {
	s := stampPrefix + strconv.FormatInt(t.UnixNano(), 10) + " " + strconv.Itoa(sender) + " " + strconv.Itoa(seq)
	if n := pad - len(s); n > 1 {
		s += " " + strings.Repeat("x", n-1)
	}
	return s
}

// parseStamp returns the send time, sender and sequence number of a body
// written by formatStamp.
func parseStamp(body string) (t time.Time, sender, seq int, ok bool) {
	rest, found := strings.CutPrefix(body, stampPrefix)
	if !found {
		return time.Time{}, 0, 0, false
	}
	f := strings.Fields(rest)
	if len(f) < 3 {
		return time.Time{}, 0, 0, false
	}
	ns, err1 := strconv.ParseInt(f[0], 10, 64)
	sender, err2 := strconv.Atoi(f[1])
	seq, err3 := strconv.Atoi(f[2])
	if err1 != nil || err2 != nil || err3 != nil || ns <= 0 || sender < 0 || seq < 0 {
		return time.Time{}, 0, 0, false
	}
	return time.Unix(0, ns), sender, seq, true
}

// occState is one session's view of the room.
type occState struct {
	nick   string
	joined chan error // the self-presence or a join error
	iq     chan *xmppcore.Element
	once   sync.Once
	in     atomic.Bool // joined
}

func (o *occState) joinDone(err error) { o.once.Do(func() { o.joined <- err }) }

func (m *mucFanout) Run(ctx context.Context, env *Env, res *Result) error {
	opt := env.Opt
	if m.service == "" {
		m.service = "conference." + opt.Domain
	}
	roomJID := m.room + "@" + m.service
	if m.senders < 1 || m.senders > opt.Count {
		return fmt.Errorf("-senders %d: want 1..-count", m.senders)
	}
	if m.rate <= 0 || m.duration <= 0 {
		return fmt.Errorf("-rate and -duration must be positive")
	}
	mr := &MUCResult{Room: roomJID, Senders: m.senders, TargetRate: m.rate, DurationS: m.duration.Seconds()}
	res.MUC = mr

	states := make([]*occState, opt.Count)
	for i := range states {
		states[i] = &occState{nick: "n" + strconv.Itoa(opt.First+i), joined: make(chan error, 1), iq: make(chan *xmppcore.Element, 4)}
	}
	var (
		hist      Histogram
		dropped   Counter
		recvErrs  Counter
		delivered atomic.Int64
		alive     atomic.Int64
		lastDeliv atomic.Int64 // unix ns of the last delivery
	)
	prefix := roomJID + "/"
	handler := func(s *Session, el *xmppcore.Element) {
		st := states[s.ID-opt.First]
		switch el.Local {
		case "message":
			switch el.Attr("type") {
			case "groupchat":
				t, _, _, ok := parseStamp(el.ChildText("", "body"))
				if !ok {
					return // the subject, or someone else's
				}
				now := time.Now()
				hist.Record(now.Sub(t))
				delivered.Add(1)
				lastDeliv.Store(now.UnixNano())
			case "error":
				recvErrs.Add("message:" + stanzaErrCond(el))
			}
		case "presence":
			from := el.Attr("from")
			if !strings.HasPrefix(from, prefix) {
				return
			}
			if el.Attr("type") == "error" && from == prefix+st.nick {
				st.joinDone(fmt.Errorf("join:%s", stanzaErrCond(el)))
				return
			}
			if from == prefix+st.nick && el.Attr("type") != "unavailable" {
				st.joinDone(nil)
			}
		case "iq":
			select {
			case st.iq <- el:
			default:
			}
		}
	}

	srv0, haveSrv := env.SampleServer()
	env.Logf("muc-fanout: %d sessions to %s as %s (%s, %s), %d in flight; room %s", opt.Count, strings.Join(opt.Addrs, ","), env.Account(opt.First), opt.TLS, opt.Mech, opt.Concurrency, roomJID)
	r := env.Ramp(ctx, opt.First, opt.Count, func(s *Session) {
		alive.Add(1)
		err := s.Serve(handler)
		if !s.Closing() {
			alive.Add(-1)
			dropped.Add(errKind("session", err))
			s.Close()
			states[s.ID-opt.First].joinDone(err)
		}
	})
	ok := len(r.Sessions)
	res.Login = LoginResult{
		Attempted: r.Attempted, OK: ok, Failed: r.Errors.Total(), Errors: r.Errors.Snapshot(),
		WallSeconds: r.Wall.Seconds(), Latency: summarize(r.Latency),
	}
	if r.Wall > 0 {
		res.Login.Rate = float64(ok) / r.Wall.Seconds()
	}
	env.Logf("logins done: %d ok, %d failed in %.2f s", ok, res.Login.Failed, r.Wall.Seconds())
	defer closeAll(res, r)
	if ok == 0 {
		return fmt.Errorf("no session logged in")
	}
	// Sessions in account order: the first creates the room, the first S send.
	sess := make([]*Session, 0, ok)
	byID := make(map[int]*Session, ok)
	for _, s := range r.Sessions {
		byID[s.ID] = s
	}
	for i := opt.First; i < opt.First+opt.Count; i++ {
		if s := byID[i]; s != nil {
			sess = append(sess, s)
		}
	}
	if !sleepCtx(ctx, time.Second) {
		return context.Cause(ctx)
	}
	srvLogged, _ := env.SampleServer()
	if haveSrv {
		res.Memory = append(res.Memory, memSample("before", srv0, srv0, 0, 0), memSample("after-logins", srvLogged, srv0, r.Wall.Seconds(), ok))
	}

	// The first session creates the room: join, then an instant room
	// configured with the owner form (§10.1.2).
	join := func(s *Session) error {
		st := states[s.ID-opt.First]
		x := `<presence to='` + xmppcore.EscapeAttr(roomJID+"/"+st.nick) + `'><x xmlns='http://jabber.org/protocol/muc'><history maxstanzas='0'/></x></presence>`
		if err := s.Write([]byte(x)); err != nil {
			return fmt.Errorf("join:%s", errKind("write", err))
		}
		t := time.NewTimer(m.joinWait)
		defer t.Stop()
		select {
		case err := <-st.joined:
			if err == nil {
				st.in.Store(true)
			}
			return err
		case <-t.C:
			return fmt.Errorf("join:timeout")
		case <-ctx.Done():
			return fmt.Errorf("join:canceled")
		}
	}
	joinStart := time.Now()
	var joinErrs Counter
	var joinLat []time.Duration
	if err := join(sess[0]); err != nil {
		return fmt.Errorf("creating %s: %v", roomJID, err)
	}
	maxUsers := m.maxUsers
	if maxUsers == 0 {
		maxUsers = opt.Count
	}
	// muc#maxhistoryfetch keeps joins cheap where it is known; ejabberd
	// refuses the form with it (internal-server-error), so a refusal is
	// retried once without it.
	configure := func(id string, historyField bool) error {
		form := `<iq type='set' id='` + id + `' to='` + xmppcore.EscapeAttr(roomJID) + `'><query xmlns='http://jabber.org/protocol/muc#owner'>` +
			`<x xmlns='jabber:x:data' type='submit'>` +
			`<field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value></field>` +
			`<field var='muc#roomconfig_maxusers'><value>` + strconv.Itoa(maxUsers) + `</value></field>`
		if historyField {
			form += `<field var='muc#maxhistoryfetch'><value>0</value></field>`
		}
		form += `</x></query></iq>`
		if err := sess[0].Write([]byte(form)); err != nil {
			return fmt.Errorf("configuring %s: %v", roomJID, err)
		}
		select {
		case el := <-states[sess[0].ID-opt.First].iq:
			if el.Attr("type") != "result" {
				return fmt.Errorf("configuring %s: %s", roomJID, stanzaErrCond(el))
			}
			return nil
		case <-time.After(m.joinWait):
			return fmt.Errorf("configuring %s: no answer", roomJID)
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	if err := configure("cfg1", true); err != nil {
		if ctx.Err() != nil {
			return err
		}
		env.Logf("%v; configuring again without muc#maxhistoryfetch", err)
		if err := configure("cfg2", false); err != nil {
			return err
		}
	}
	joinLat = append(joinLat, time.Since(joinStart))

	// Everyone else joins, -concurrency at a time.
	var (
		jmu sync.Mutex
		wg  sync.WaitGroup
	)
	sem := make(chan struct{}, max(1, opt.Concurrency))
	progress := time.NewTicker(time.Second)
	lastN := 0
	for i, s := range sess[1:] {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		select {
		case <-progress.C:
			jmu.Lock()
			n := len(joinLat)
			jmu.Unlock()
			env.Logf("joins: %d started, %d joined (+%d/s), %d failed", i+1, n, n-lastN, joinErrs.Total())
			lastN = n
		default:
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			t0 := time.Now()
			if err := join(s); err != nil {
				joinErrs.Add(err.Error())
				return
			}
			d := time.Since(t0)
			jmu.Lock()
			joinLat = append(joinLat, d)
			jmu.Unlock()
		}()
	}
	wg.Wait()
	progress.Stop()
	joinWall := time.Since(joinStart)
	mr.Joined = len(joinLat)
	mr.JoinErrors = joinErrs.Snapshot()
	mr.JoinWallS = joinWall.Seconds()
	mr.JoinLatency = summarize(joinLat)
	if joinWall > 0 {
		mr.JoinRate = float64(mr.Joined) / joinWall.Seconds()
	}
	srvJoined, _ := env.SampleServer()
	env.Logf("joins done: %d joined, %d failed in %.2f s", mr.Joined, joinErrs.Total(), joinWall.Seconds())
	if haveSrv {
		mr.ServerJoinCPUS = (srvJoined.CPU - srvLogged.CPU).Seconds()
		res.Memory = append(res.Memory, memSample("after-joins", srvJoined, srv0, joinWall.Seconds(), mr.Joined))
	}
	if !sleepCtx(ctx, m.settle) {
		return context.Cause(ctx)
	}
	if s, ok := env.SampleServer(); ok {
		res.Memory = append(res.Memory, memSample("settled", s, srv0, time.Since(joinStart).Seconds(), mr.Joined))
		if mr.Joined > 0 {
			mr.RSSPerOccupantKiB = float64(s.RSS-srvLogged.RSS) / 1024 / float64(mr.Joined)
			mr.AnonPerOccupantKiB = float64(s.RSSAnon-srvLogged.RSSAnon) / 1024 / float64(mr.Joined)
		}
	}
	if mr.Joined == 0 {
		return fmt.Errorf("nobody joined")
	}

	// The load: each sender sends every S/R seconds, on a fixed schedule
	// (a late sender catches up, so the total stays R while the tool keeps
	// up; Lagging counts the sends more than one interval late).
	var senders []*Session
	for _, s := range sess {
		if states[s.ID-opt.First].in.Load() && len(senders) < m.senders {
			senders = append(senders, s)
		}
	}
	mr.Senders = len(senders)
	interval := time.Duration(float64(time.Second) * float64(len(senders)) / m.rate)
	var (
		sent    atomic.Int64
		lagging atomic.Int64
		sendErr Counter
		swg     sync.WaitGroup
	)
	self0, err := SampleSelf()
	if err != nil {
		return err
	}
	srv1, _ := env.SampleServer()
	mach0, _ := SampleMachine()
	sendStart := time.Now()
	end := sendStart.Add(m.duration)
	env.Logf("sending: %d senders, %.1f msg/s in total (one every %v each) for %v to %d occupants", len(senders), m.rate, interval, m.duration, mr.Joined)
	for k, s := range senders {
		swg.Add(1)
		go func() {
			defer swg.Done()
			// Stagger the senders over one interval.
			next := sendStart.Add(interval * time.Duration(k) / time.Duration(len(senders)))
			buf := make([]byte, 0, 256+m.bodyBytes)
			to := xmppcore.EscapeAttr(roomJID)
			for seq := 0; ; seq++ {
				if !next.Before(end) {
					return
				}
				if d := time.Until(next); d > 0 {
					if !sleepCtx(ctx, d) {
						return
					}
				} else if -d > interval {
					lagging.Add(1)
				}
				now := time.Now()
				buf = buf[:0]
				buf = append(buf, "<message type='groupchat' to='"...)
				buf = append(buf, to...)
				buf = append(buf, "' id='m"...)
				buf = strconv.AppendInt(buf, int64(seq), 10)
				buf = append(buf, "'><body>"...)
				buf = append(buf, formatStamp(now, s.ID, seq, m.bodyBytes)...)
				buf = append(buf, "</body></message>"...)
				if err := s.Write(buf); err != nil {
					sendErr.Add(errKind("send", err))
					return
				}
				sent.Add(1)
				next = next.Add(interval)
			}
		}()
	}
	swg.Wait()
	sendWall := time.Since(sendStart)
	nSent := sent.Load()
	expected := nSent * int64(mr.Joined)
	env.Logf("sending done: %d sent in %.2f s, %d deliveries so far of %d; draining", nSent, sendWall.Seconds(), delivered.Load(), expected)
	drainEnd := time.Now().Add(m.drain)
	for delivered.Load() < expected && time.Now().Before(drainEnd) && ctx.Err() == nil {
		sleepCtx(ctx, 20*time.Millisecond)
	}
	// CPU up to the last delivery (or the end of the drain).
	self1, _ := SampleSelf()
	srv2, _ := env.SampleServer()
	mach1, _ := SampleMachine()
	nDeliv := delivered.Load()
	last := time.Unix(0, lastDeliv.Load())
	span := last.Sub(sendStart)
	if nDeliv == 0 || span < sendWall {
		span = sendWall
	}
	mr.Sent = nSent
	mr.SentRate = float64(nSent) / sendWall.Seconds()
	mr.Lagging = lagging.Load()
	mr.Expected = expected
	mr.Delivered = nDeliv
	mr.Missing = max(0, expected-nDeliv)
	mr.SpanS = span.Seconds()
	mr.DeliveryRate = float64(nDeliv) / span.Seconds()
	mr.Latency = hist.Summary()
	mr.SendErrors = sendErr.Snapshot()
	mr.RecvErrors = recvErrs.Snapshot()
	mr.Dropped = dropped.Snapshot()
	wall := self1.At.Sub(self0.At).Seconds()
	cpu := &CPUResult{ToolRampSeconds: (self1.CPU - self0.CPU).Seconds()}
	if wall > 0 {
		cpu.ToolUtil = cpu.ToolRampSeconds / wall
	}
	if haveSrv {
		cpu.ServerRampSeconds = (srv2.CPU - srv1.CPU).Seconds()
		if w := srv2.At.Sub(srv1.At).Seconds(); w > 0 {
			cpu.ServerUtil = cpu.ServerRampSeconds / w
		}
		res.Memory = append(res.Memory, memSample("after-load", srv2, srv0, time.Since(joinStart).Seconds(), int(alive.Load())))
	}
	cpu.OtherRampSeconds = max(0, (mach1.Busy-mach0.Busy).Seconds()-cpu.ToolRampSeconds-cpu.ServerRampSeconds)
	if wall > 0 {
		cpu.OtherUtil = cpu.OtherRampSeconds / wall
	}
	if nDeliv > 0 {
		mr.ServerUsPerDelivery = 1e6 * cpu.ServerRampSeconds / float64(nDeliv)
		mr.ToolUsPerDelivery = 1e6 * cpu.ToolRampSeconds / float64(nDeliv)
	}
	res.CPU = cpu
	m.notes(res, haveSrv)
	if ctx.Err() != nil {
		return fmt.Errorf("stopped early: %v", context.Cause(ctx))
	}
	return nil
}

func (m *mucFanout) notes(res *Result, haveSrv bool) {
	c, mr := res.CPU, res.MUC
	if c.ToolUtil > 0.85*float64(res.ToolProcs) {
		res.Notes = append(res.Notes, fmt.Sprintf("TOOL-BOUND: the load tool kept %.0f%% of its %d core(s) busy during the load: the delivery figures may be the tool's limit, not the server's", 100*c.ToolUtil, res.ToolProcs))
	}
	if haveSrv && c.ServerUtil > 0.9 {
		res.Notes = append(res.Notes, fmt.Sprintf("SERVER-BOUND: the server kept %.0f%% of a core busy during the load", 100*c.ServerUtil))
	}
	if c.OtherUtil > 0.1 {
		res.Notes = append(res.Notes, fmt.Sprintf("other processes kept %.0f%% of a core busy during the load: the figures are noisy", 100*c.OtherUtil))
	}
	if mr.Missing > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("%d of %d deliveries did not arrive within the drain: saturated (or lost)", mr.Missing, mr.Expected))
	}
	if mr.SentRate < 0.95*mr.TargetRate {
		res.Notes = append(res.Notes, fmt.Sprintf("sent %.1f msg/s of the %.1f asked for", mr.SentRate, mr.TargetRate))
	}
	if mr.Lagging > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("%d sends were more than one interval late (the tool or the server's read side could not keep up)", mr.Lagging))
	}
	if !haveSrv {
		res.Notes = append(res.Notes, "no -pid: server CPU and memory not sampled")
	}
}

func memSample(point string, s, before ProcSample, afterS float64, n int) MemSample {
	m := MemSample{Point: point, AfterS: afterS, Sessions: n, RSSKiB: s.RSS / 1024, AnonKiB: s.RSSAnon / 1024, Threads: s.Threads}
	if n > 0 && point != "before" {
		m.PerSessionKiB = float64(s.RSS-before.RSS) / 1024 / float64(n)
		m.AnonPerSessionKiB = float64(s.RSSAnon-before.RSSAnon) / 1024 / float64(n)
	}
	return m
}

// stanzaErrCond is the defined condition of an error stanza.
func stanzaErrCond(el *xmppcore.Element) string {
	if e := el.Child("", "error"); e != nil {
		for ch := range e.Children() {
			if ch.Local != "text" {
				return ch.Local
			}
		}
	}
	return "undefined"
}
