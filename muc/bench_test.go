package muc

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"

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
	st, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "parley.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	rt := router.New(router.Config{Hosts: []string{host}})
	reg := module.NewRegistry(module.Env{Router: rt, Logger: slog.New(slog.DiscardHandler)})
	m := New(st, Options{MaxOccupants: n + 10})
	if err := reg.Add(m); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { reg.Stop(context.Background()) })
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
