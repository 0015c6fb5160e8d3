package muc

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stream"

	"parley.im/parley/internal/routertest"
	"parley.im/parley/module"
	"parley.im/parley/router"
	"parley.im/parley/storage/sqlite"
	"parley.im/parley/xmppcore"
)

// discardSession is a bound session that drops what it is sent, or
// serializes it first as a session's writer would.
type discardSession struct {
	j         jid.JID
	n         atomic.Int64
	serialize bool
	buf       []byte
}

func (s *discardSession) JID() jid.JID               { return s.j }
func (s *discardSession) Close(stream.Error, string) {}
func (s *discardSession) Send(el *xmppcore.Element) bool {
	if s.serialize {
		s.buf = el.AppendXML(s.buf[:0], xmppcore.NSClient)
	}
	s.n.Add(1)
	return true
}

// benchRoom is a room on a real router and module with n occupants, each
// a bound session made by mk. The occupants are put in the room directly:
// joining them one by one would cost O(n²) presence to set up.
func benchRoom(b *testing.B, n int, mk func(full jid.JID) router.Session) (*router.Router, router.Session, *room) {
	b.Helper()
	rt, m := benchModule(b, Options{MaxOccupants: n + 10})
	sessions := make([]router.Session, n)
	for i := range sessions {
		full := jid.MustParse(fmt.Sprintf("u%d@example.org/r", i))
		sessions[i] = mk(full)
		if _, err := rt.Bind(sessions[i]); err != nil {
			b.Fatal(err)
		}
	}
	owner := sessions[0]
	join := func(s router.Session, to string) {
		el := routertest.Parse(b, `<presence><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
		el.SetAttr("from", s.JID().String())
		el.SetAttr("to", to)
		rt.Route(context.Background(), &router.Stanza{El: el, From: s.JID(), To: jid.MustParse(to), Origin: s})
	}
	join(owner, coven+"/u0")
	cfg := routertest.Parse(b, `<iq type='set' id='c'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'/></query></iq>`)
	cfg.SetAttr("from", owner.JID().String())
	rt.Route(context.Background(), &router.Stanza{El: cfg, From: owner.JID(), To: jid.MustParse(coven), Origin: owner})
	r, _ := m.services[svcJID].lookup(context.Background(), "coven")
	r.mu.Lock()
	for _, s := range sessions[1:] {
		o := r.newOccupant(s.JID().Localpart(), s.JID(), roleParticipant)
		r.addSession(&occSession{occ: o, full: s.JID(), rc: recipient{s.JID(), s.JID().String()}, pres: xmppcore.New("", "presence")})
	}
	r.mu.Unlock()
	return rt, owner, r
}

// BenchmarkFanout measures one groupchat message to a room of 1,000 and
// 5,000 occupants, through the router to bound sessions: routertest
// sessions (which record), sessions that drop what they get (the cost of
// the room and the router alone), and sessions that serialize each copy
// as a session's writer does (what a shared serialized payload would
// save is the difference).
func BenchmarkFanout(b *testing.B) {
	msg := routertest.Parse(b, `<message to='coven@conference.example.org' type='groupchat' id='m'>
		<body>Harpier cries: 'tis time, 'tis time. A message of ordinary length, as people write them.</body>
		<origin-id xmlns='urn:xmpp:sid:0' id='de305d54-75b4-431b-adb2-eb6b9e546013'/>
		<active xmlns='http://jabber.org/protocol/chatstates'/></message>`)
	for _, n := range []int{1000, 5000} {
		for _, kind := range []string{"routertest", "discard", "serialize"} {
			b.Run(fmt.Sprintf("occupants=%d/%s", n, kind), func(b *testing.B) {
				var recorded []*routertest.Session
				rt, owner, r := benchRoom(b, n, func(full jid.JID) router.Session {
					if kind == "routertest" {
						s := routertest.NewSession(full)
						recorded = append(recorded, s)
						return s
					}
					return &discardSession{j: full, serialize: kind == "serialize"}
				})
				ctx := context.Background()
				from := owner.JID()
				to := jid.MustParse(coven)
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; b.Loop(); i++ {
					el := msg.ShallowClone()
					el.SetAttr("from", from.String())
					rt.Route(ctx, &router.Stanza{El: el, From: from, To: to, Origin: owner})
					r.svc.m.drains.Wait() // large rooms drain on a goroutine of their own
					if recorded != nil && i%16 == 15 {
						b.StopTimer()
						for _, s := range recorded {
							s.Take()
						}
						b.StartTimer()
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/recipient")
			})
		}
	}
}

// BenchmarkJoin measures an occupant joining and leaving a room of 1,000
// occupants: O(n) each (its presence to n, n presences to it).
func BenchmarkJoin(b *testing.B) {
	rt, _, _ := benchRoom(b, 1000, func(full jid.JID) router.Session { return &discardSession{j: full} })
	s := &discardSession{j: jid.MustParse("newcomer@example.org/r")}
	if _, err := rt.Bind(s); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	to := jid.MustParse(coven + "/newcomer")
	join := routertest.Parse(b, `<presence to='coven@conference.example.org/newcomer'><x xmlns='http://jabber.org/protocol/muc'><history maxchars='0'/></x></presence>`)
	leave := routertest.Parse(b, `<presence to='coven@conference.example.org/newcomer' type='unavailable'/>`)
	for _, el := range []*xmppcore.Element{join, leave} {
		el.SetAttr("from", s.j.String())
	}
	b.ReportAllocs()
	for b.Loop() {
		rt.Route(ctx, &router.Stanza{El: join, From: s.j, To: to, Origin: s})
		rt.Route(ctx, &router.Stanza{El: leave, From: s.j, To: to, Origin: s})
	}
}

// BenchmarkJoinRoom joins n occupants into a fresh room one by one through
// the router (each a bound session that drops what it gets), then makes
// them all leave: a mass arrival and a mass departure. It reports the cost
// per join and per leave (ns and allocations). Without the large-room
// policy every join and leave is O(n) by the protocol (presence to and from
// everyone); with it (large_room = 1, as bench/muc-fanout.sh runs) only
// the owner's presence is broadcast, and a join or leave must cost the
// same at any size.
func BenchmarkJoinRoom(b *testing.B) {
	for _, large := range []bool{true, false} {
		for _, n := range []int{100, 1000, 5000} {
			if !large && n > 1000 && testing.Short() {
				continue
			}
			b.Run(fmt.Sprintf("large=%v/occupants=%d", large, n), func(b *testing.B) {
				benchJoinRoom(b, n, large)
			})
		}
	}
}

func benchJoinRoom(b *testing.B, n int, large bool) {
	opts := Options{MaxOccupants: n + 10}
	if large {
		opts.LargeRoom = 1
	}
	rt, m := benchModule(b, opts)
	sessions := make([]*discardSession, n)
	for i := range sessions {
		sessions[i] = &discardSession{j: jid.MustParse(fmt.Sprintf("u%d@example.org/r", i))}
		if _, err := rt.Bind(sessions[i]); err != nil {
			b.Fatal(err)
		}
	}
	ctx := context.Background()
	route := func(s *discardSession, to jid.JID, raw string) {
		el := routertest.Parse(b, raw)
		el.SetAttr("from", s.j.String())
		el.SetAttr("to", to.String())
		rt.Route(ctx, &router.Stanza{El: el, From: s.j, To: to, Origin: s})
	}
	var joinNs, leaveNs, joinAllocs, leaveAllocs float64
	var ms runtime.MemStats
	mallocs := func() uint64 { runtime.ReadMemStats(&ms); return ms.Mallocs }
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		name := fmt.Sprintf("room%d", i)
		roomJID := jid.MustParse(name + "@" + svcJID)
		occ := make([]jid.JID, n)
		for k := range occ {
			occ[k], _ = roomJID.WithResource(fmt.Sprintf("u%d", k))
		}
		// The owner creates the room, instant.
		route(sessions[0], occ[0], `<presence><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
		route(sessions[0], roomJID, `<iq type='set' id='c'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'/></query></iq>`)
		m.drains.Wait()
		a0, t0 := mallocs(), time.Now()
		for k := 1; k < n; k++ {
			route(sessions[k], occ[k], `<presence><x xmlns='http://jabber.org/protocol/muc'><history maxchars='0'/></x></presence>`)
		}
		m.drains.Wait()
		t1 := time.Now()
		a1 := mallocs()
		for k := 1; k < n; k++ {
			route(sessions[k], occ[k], `<presence type='unavailable'/>`)
		}
		m.drains.Wait()
		t2 := time.Now()
		a2 := mallocs()
		joinNs += float64(t1.Sub(t0).Nanoseconds()) / float64(n-1)
		leaveNs += float64(t2.Sub(t1).Nanoseconds()) / float64(n-1)
		joinAllocs += float64(a1-a0) / float64(n-1)
		leaveAllocs += float64(a2-a1) / float64(n-1)
		route(sessions[0], occ[0], `<presence type='unavailable'/>`)
		m.drains.Wait()
	}
	runs := float64(b.N)
	b.ReportMetric(joinNs/runs, "ns/join")
	b.ReportMetric(leaveNs/runs, "ns/leave")
	b.ReportMetric(joinAllocs/runs, "allocs/join")
	b.ReportMetric(leaveAllocs/runs, "allocs/leave")
}

// benchModule is the module with opts on a real router over a SQLite
// store, registered (not started: the benchmarks drive it directly).
func benchModule(b *testing.B, opts Options) (*router.Router, *MUC) {
	b.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "parley.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	rt := router.New(router.Config{Hosts: []string{host}})
	reg := module.NewRegistry(module.Env{Router: rt, Logger: slog.New(slog.DiscardHandler)})
	m := New(st, opts)
	if err := reg.Add(m); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { reg.Stop(context.Background()) })
	return rt, m
}
