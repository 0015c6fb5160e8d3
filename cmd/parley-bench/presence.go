package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// presenceChurn gives every session a roster of -contacts others (a ring:
// the K/2 sessions before and after it in account order), with mutual
// subscriptions made over the protocol as clients make them (subscribe,
// answered with subscribed), then has the sessions change their presence
// (show and status) at -rate updates per second in total: each update is
// broadcast to the K contacts, whose sessions time its arrival.
type presenceChurn struct {
	contacts  int
	rate      float64
	duration  time.Duration
	drain     time.Duration
	settle    time.Duration
	setupWait time.Duration
	workers   int
	sample    time.Duration
	reconnect float64
}

func (*presenceChurn) Name() string { return "presence" }
func (*presenceChurn) Synopsis() string {
	return "rosters of K mutual contacts (made with subscribe/subscribed), then presence updates at -rate/s broadcast to them; latency, deliveries/s, server CPU"
}

func (p *presenceChurn) Flags(fs *flag.FlagSet) {
	fs.IntVar(&p.contacts, "contacts", 10, "contacts per roster (even; fewer than -count)")
	fs.Float64Var(&p.rate, "rate", 200, "presence updates per second in total, on schedule")
	fs.DurationVar(&p.duration, "duration", 10*time.Second, "send updates for this long")
	fs.DurationVar(&p.drain, "drain", 10*time.Second, "after sending, wait at most this long for outstanding deliveries")
	fs.DurationVar(&p.settle, "settle", 2*time.Second, "after the subscriptions, wait this long before the updates")
	fs.DurationVar(&p.setupWait, "setup-timeout", 60*time.Second, "give up waiting for the subscriptions after this long")
	fs.IntVar(&p.workers, "workers", 4, "goroutines sending on schedule")
	fs.DurationVar(&p.sample, "sample", 250*time.Millisecond, "sample the server's RSS this often during the load")
	fs.Float64Var(&p.reconnect, "reconnect", 0, "also close a session and log it in again this many times per second (unavailable to its contacts, then initial presence and probes)")
}

func (p *presenceChurn) Run(ctx context.Context, env *Env, res *Result) error {
	opt := env.Opt
	k := p.contacts
	if k < 2 || k%2 != 0 || k >= opt.Count {
		return fmt.Errorf("-contacts %d: want an even number from 2 to -count-1", k)
	}
	l := newLoadRun()
	var subscribed, rosters atomic.Int64
	// both[i]: contacts with subscription 'both' in the roster of account
	// First+i, from a roster get: a second run finds the rosters made.
	both := make([]atomic.Int64, opt.Count)
	isPresence, isIQ := []byte("<presence"), []byte("<iq")
	handler := func(s *Session, raw []byte) {
		if bytes.HasPrefix(raw, isIQ) && isTagEnd(raw, len(isIQ)) {
			if id, _ := rawAttrBytes(raw, "id"); string(id) == "pb-roster" {
				n := bytes.Count(raw, []byte("subscription='both'")) + bytes.Count(raw, []byte(`subscription="both"`))
				both[s.ID-opt.First].Store(int64(n))
				rosters.Add(1)
			}
			return
		}
		if !bytes.HasPrefix(raw, isPresence) || !isTagEnd(raw, len(isPresence)) {
			return
		}
		typ, _ := rawAttrBytes(raw, "type")
		switch string(typ) {
		case "subscribe":
			// Accept, as a client would for a contact it asked for too.
			if from := rawAttr(raw, "from"); from != "" {
				_ = s.Write([]byte("<presence type='subscribed' to='" + escapeAttr(bareJID(from)) + "'/>"))
			}
			return
		case "subscribed":
			subscribed.Add(1)
			return
		case "error":
			l.recvErr.Add("presence:" + rawStanzaErrorCondition(raw))
			return
		case "":
		default:
			return
		}
		st, ok := findStamp(raw)
		if !ok || st.Sender == s.ID { // our own presence, echoed
			return
		}
		l.record(st, time.Now().UnixNano())
	}
	env.Logf("presence: %d sessions to %s as %s (%s, %s), %d contacts each", opt.Count, strings.Join(opt.Addrs, ","), env.Account(opt.First), opt.TLS, opt.Mech, k)
	r := env.Ramp(ctx, opt.First, opt.Count, l.serve(handler))
	loginResult(res, r)
	env.Logf("logins done: %d ok, %d failed in %.2f s (%.0f/s)", len(r.Sessions), res.Login.Failed, r.Wall.Seconds(), res.Login.Rate)
	defer closeAll(res, r)
	sess := sortedSessions(r)
	n := len(sess)
	if n <= k {
		return fmt.Errorf("%d sessions logged in: too few for %d contacts", n, k)
	}
	lr := &LoadResult{Kind: "presence", Unit: "updates", Sessions: n, Fanout: k, Duration: p.duration.Seconds(), Extra: map[string]any{}}
	res.Load = lr

	// Subscriptions: every session whose roster is not complete yet asks
	// each of its contacts; each answers subscribed (the handler above),
	// so that both ends end up 'both'.
	setupStart := time.Now()
	for _, s := range sess {
		if err := s.Write([]byte("<iq type='get' id='pb-roster'><query xmlns='jabber:iq:roster'/></iq>")); err != nil {
			l.sendErr.Add(errKind("roster", err))
		}
	}
	for rosters.Load() < int64(n) && time.Since(setupStart) < p.setupWait && ctx.Err() == nil {
		sleepCtx(ctx, 10*time.Millisecond)
	}
	want := int64(0)
	for i, s := range sess {
		if both[s.ID-opt.First].Load() >= int64(k) {
			continue
		}
		want += int64(k)
		var b []byte
		for d := 1; d <= k/2; d++ {
			for _, j := range []int{(i + d) % n, (i - d + n) % n} {
				b = append(b, "<presence type='subscribe' to='"...)
				b = append(b, escapeAttr(bareJID(sess[j].JID))...)
				b = append(b, "'/>"...)
			}
		}
		if err := s.Write(b); err != nil {
			l.sendErr.Add(errKind("subscribe", err))
		}
	}
	for subscribed.Load() < want && time.Since(setupStart) < p.setupWait && ctx.Err() == nil {
		sleepCtx(ctx, 20*time.Millisecond)
	}
	lr.Extra["subscriptions"] = fmt.Sprintf("%d of %d rosters already complete; %d of %d 'subscribed' received in %.2f s",
		int64(n)-want/int64(k), n, subscribed.Load(), want, time.Since(setupStart).Seconds())
	env.Logf("subscriptions: %d of %d answered in %.2f s", subscribed.Load(), want, time.Since(setupStart).Seconds())
	if subscribed.Load() < want {
		res.Notes = append(res.Notes, fmt.Sprintf("SETUP: only %d of %d subscriptions were answered: fewer deliveries than expected", subscribed.Load(), want))
	}
	if !sleepCtx(ctx, p.settle) {
		return context.Cause(ctx)
	}

	bufs := make([][]byte, p.workers)
	shows := []string{"away", "chat", "dnd", "xa"}
	// slots hold each position's current session: -reconnect replaces them.
	slots := make([]atomic.Pointer[Session], n)
	for i, s := range sess {
		slots[i].Store(s)
	}
	m, err := startMeter(ctx, env, p.sample)
	if err != nil {
		return err
	}
	start := time.Now()
	env.Logf("sending: %.0f presence updates/s for %v, each to %d contacts; %.1f reconnects/s", p.rate, p.duration, k, p.reconnect)
	churnDone := make(chan *churnResult, 1)
	go func() { churnDone <- p.churn(ctx, env, l, handler, slots, start.Add(p.duration)) }()
	workers := max(1, min(p.workers, n))
	pacer(ctx, l, p.rate, workers, start, start.Add(p.duration), func(w, seq int, sched time.Time) error {
		// Worker w sends from sessions w, w+workers, ... in turn.
		per := (n - w + workers - 1) / workers
		if per <= 0 {
			return errNoSession
		}
		s := slots[w+(seq%per)*workers].Load()
		if s.Closing() { // being reconnected
			return errSkipped
		}
		b := append(bufs[w][:0], "<presence><show>"...)
		b = append(b, shows[seq%len(shows)]...)
		b = append(b, "</show><status>"...)
		b = appendStamp(b, Stamp{Sched: sched.UnixNano(), Write: time.Now().UnixNano(), Sender: s.ID, Seq: seq}, 0)
		b = append(b, "</status></presence>"...)
		bufs[w] = b
		return s.Write(b)
	})
	sendWall := time.Since(start)
	churn := <-churnDone
	defer func() {
		for _, s := range churn.sessions {
			s.Close()
		}
	}()
	env.Logf("sending done: %d updates in %.2f s; draining", l.sent.Load(), sendWall.Seconds())
	l.waitDrain(ctx, l.sent.Load()*int64(k), p.drain)
	cpu := m.finish()
	l.fill(lr, start, sendWall, cpu)
	lr.Offered, lr.Mode = p.rate, "open"
	if p.reconnect > 0 {
		lr.Extra["reconnects"] = fmt.Sprintf("%d (%d failed), login p50 %.2f ms p99 %.2f ms max %.2f ms",
			churn.ok, churn.failed, churn.latency.P50, churn.latency.P99, churn.latency.Max)
		res.Notes = append(res.Notes, "with -reconnect, updates sent while a contact was reconnecting are not delivered to it: some deliveries are missing by design")
	}
	loadNotes(res, cpu, m.haveSrv)
	loadNotesFor(res, lr)
	if ctx.Err() != nil {
		return fmt.Errorf("stopped early: %v", context.Cause(ctx))
	}
	return nil
}

// churnResult is what the reconnections did.
type churnResult struct {
	ok, failed int
	latency    Percentiles
	sessions   []*Session // logged in anew, to close at the end
}

// churn closes the session of one position after another and logs the
// account in again, -reconnect times per second until end. The new session
// sends initial presence (Login does) and is served like the others.
func (p *presenceChurn) churn(ctx context.Context, env *Env, l *loadRun, h RawHandler, slots []atomic.Pointer[Session], end time.Time) *churnResult {
	out := &churnResult{}
	if p.reconnect <= 0 {
		return out
	}
	interval := time.Duration(float64(time.Second) / p.reconnect)
	var lat []time.Duration
	serve := l.serve(h)
	for i := 0; time.Now().Add(interval).Before(end); i++ {
		if !sleepCtx(ctx, interval) {
			break
		}
		pos := i % len(slots)
		old := slots[pos].Load()
		old.Close()
		t0 := time.Now()
		s, _, err := Login(ctx, env.Client, env.dialers[i%len(env.dialers)], env.Opt.Addrs[i%len(env.Opt.Addrs)], env.Account(old.ID), old.ID)
		if err != nil {
			out.failed++
			l.sendErr.Add(errKind("reconnect", err))
			continue
		}
		lat = append(lat, time.Since(t0))
		out.ok++
		out.sessions = append(out.sessions, s)
		slots[pos].Store(s)
		go serve(s)
	}
	out.latency = summarize(lat)
	return out
}

// mamQuery fills each session's archive with -fill messages exchanged with
// its partner (pairs as in chat), then sends XEP-0313 queries for the last
// -page messages at -rate queries per second in total, and times each from
// the query to the <iq type='result'/> that ends it.
type mamQuery struct {
	fillWait time.Duration
	fill     int
	fillRate float64
	rate     float64
	page     int
	duration time.Duration
	drain    time.Duration
	workers  int
	sample   time.Duration
	ns       string
}

func (*mamQuery) Name() string { return "mam" }
func (*mamQuery) Synopsis() string {
	return "fill archives with 1:1 chat, then XEP-0313 queries for the last page at -rate/s; query latency, results, server CPU"
}

func (q *mamQuery) Flags(fs *flag.FlagSet) {
	fs.IntVar(&q.fill, "fill", 20, "messages each session sends its partner before the queries (0: query what is there)")
	fs.Float64Var(&q.fillRate, "fill-rate", 2000, "messages per second while filling")
	fs.DurationVar(&q.fillWait, "fill-wait", 2*time.Second, "after filling, wait this long for the archives to be written")
	fs.Float64Var(&q.rate, "rate", 100, "queries per second in total, on schedule")
	fs.IntVar(&q.page, "page", 20, "messages per query (RSM <max/>, the last page)")
	fs.DurationVar(&q.duration, "duration", 10*time.Second, "send queries for this long")
	fs.DurationVar(&q.drain, "drain", 10*time.Second, "after sending, wait at most this long for outstanding answers")
	fs.IntVar(&q.workers, "workers", 4, "goroutines sending on schedule")
	fs.DurationVar(&q.sample, "sample", 250*time.Millisecond, "sample the server's RSS this often during the load")
	fs.StringVar(&q.ns, "mam-ns", "urn:xmpp:mam:2", "MAM namespace")
}

func (q *mamQuery) Run(ctx context.Context, env *Env, res *Result) error {
	opt := env.Opt
	if opt.Count < 2 || q.rate <= 0 || q.page < 1 {
		return errors.New("mam needs -count ≥ 2, -rate > 0 and -page ≥ 1")
	}
	l := newLoadRun()
	var filled, results atomic.Int64
	isMessage, isIQ := []byte("<message"), []byte("<iq")
	resultNS := []byte(q.ns)
	idPrefix := "mq-"
	handler := func(_ *Session, raw []byte) {
		switch {
		case bytes.HasPrefix(raw, isMessage) && isTagEnd(raw, len(isMessage)):
			if bytes.Contains(raw, resultNS) {
				results.Add(1)
				return
			}
			if st, ok := findStamp(raw); ok && st.Write >= l.since {
				filled.Add(1)
			}
		case bytes.HasPrefix(raw, isIQ) && isTagEnd(raw, len(isIQ)):
			id := rawAttr(raw, "id")
			rest, ok := strings.CutPrefix(id, idPrefix)
			if !ok {
				return
			}
			if t := rawAttr(raw, "type"); t != "result" {
				l.recvErr.Add("iq:" + rawStanzaErrorCondition(raw))
				return
			}
			a, b, _ := strings.Cut(rest, "-")
			sched, err1 := strconv.ParseInt(a, 10, 64)
			write, err2 := strconv.ParseInt(b, 10, 64)
			if err1 == nil && err2 == nil {
				l.record(Stamp{Sched: sched, Write: write}, time.Now().UnixNano())
			}
		}
	}
	env.Logf("mam: %d sessions to %s as %s (%s, %s)", opt.Count, strings.Join(opt.Addrs, ","), env.Account(opt.First), opt.TLS, opt.Mech)
	r := env.Ramp(ctx, opt.First, opt.Count, l.serve(handler))
	loginResult(res, r)
	env.Logf("logins done: %d ok, %d failed in %.2f s (%.0f/s)", len(r.Sessions), res.Login.Failed, r.Wall.Seconds(), res.Login.Rate)
	defer closeAll(res, r)
	sess := sortedSessions(r)
	if len(sess)%2 == 1 {
		sess = sess[:len(sess)-1]
	}
	n := len(sess)
	if n == 0 {
		return errors.New("no pair of sessions logged in")
	}
	lr := &LoadResult{Kind: "mam", Unit: "queries", Sessions: n, Fanout: 1, Duration: q.duration.Seconds(), Extra: map[string]any{}}
	res.Load = lr

	if q.fill > 0 {
		fillStart := time.Now()
		total := n * q.fill
		fl := newLoadRun()
		bufs := make([][]byte, q.workers)
		workers := max(1, min(q.workers, n))
		dur := time.Duration(float64(time.Second) * float64(total) / q.fillRate)
		pacer(ctx, fl, q.fillRate, workers, fillStart, fillStart.Add(dur), func(w, seq int, _ time.Time) error {
			per := (n - w + workers - 1) / workers
			if per <= 0 {
				return errNoSession
			}
			pos := w + (seq%per)*workers
			b := append(bufs[w][:0], "<message type='chat' to='"...)
			b = append(b, escapeAttr(bareJID(sess[pos^1].JID))...)
			b = append(b, "'><body>"...)
			b = appendStamp(b, Stamp{Write: time.Now().UnixNano(), Sender: pos, Seq: seq}, 0)
			b = append(b, "</body></message>"...)
			bufs[w] = b
			return sess[pos].Write(b)
		})
		end := time.Now().Add(q.drain)
		for filled.Load() < fl.sent.Load() && time.Now().Before(end) && ctx.Err() == nil {
			sleepCtx(ctx, 20*time.Millisecond)
		}
		lr.Extra["fill"] = fmt.Sprintf("%d messages sent, %d delivered in %.2f s", fl.sent.Load(), filled.Load(), time.Since(fillStart).Seconds())
		env.Logf("fill: %d messages sent, %d delivered", fl.sent.Load(), filled.Load())
		// Let group-committing archives write the last ones.
		if !sleepCtx(ctx, q.fillWait) {
			return context.Cause(ctx)
		}
	}

	m, err := startMeter(ctx, env, q.sample)
	if err != nil {
		return err
	}
	bufs := make([][]byte, q.workers)
	start := time.Now()
	workers := max(1, min(q.workers, n))
	env.Logf("querying: %.0f queries/s for %v, %d per page", q.rate, q.duration, q.page)
	pacer(ctx, l, q.rate, workers, start, start.Add(q.duration), func(w, seq int, sched time.Time) error {
		per := (n - w + workers - 1) / workers
		if per <= 0 {
			return errNoSession
		}
		s := sess[w+(seq%per)*workers]
		b := append(bufs[w][:0], "<iq type='set' id='"+idPrefix...)
		b = strconv.AppendInt(b, sched.UnixNano(), 10)
		b = append(b, '-')
		b = strconv.AppendInt(b, time.Now().UnixNano(), 10)
		b = append(b, "'><query xmlns='"...)
		b = append(b, q.ns...)
		b = append(b, "'><set xmlns='http://jabber.org/protocol/rsm'><max>"...)
		b = strconv.AppendInt(b, int64(q.page), 10)
		b = append(b, "</max><before/></set></query></iq>"...)
		bufs[w] = b
		return s.Write(b)
	})
	sendWall := time.Since(start)
	l.waitDrain(ctx, l.sent.Load(), q.drain)
	cpu := m.finish()
	l.fill(lr, start, sendWall, cpu)
	lr.Offered, lr.Mode = q.rate, "open"
	if lr.Delivered > 0 {
		lr.Extra["results per query"] = fmt.Sprintf("%.1f", float64(results.Load())/float64(lr.Delivered))
	}
	loadNotes(res, cpu, m.haveSrv)
	loadNotesFor(res, lr)
	if ctx.Err() != nil {
		return fmt.Errorf("stopped early: %v", context.Cause(ctx))
	}
	return nil
}
