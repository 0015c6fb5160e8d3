package router_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"mellium.im/xmpp/jid"

	"parley.im/parley/internal/routertest"
	"parley.im/parley/router"
	"parley.im/parley/xmppcore"
)

// benchRouter binds n available sessions u0..u(n-1)@example.org/r and
// returns them.
func benchRouter(b *testing.B, n int) (*router.Router, []*routertest.Counting) {
	b.Helper()
	r := router.New(router.Config{Hosts: []string{"example.org"}})
	pres, err := xmppcore.Parse([]byte(`<presence/>`))
	if err != nil {
		b.Fatal(err)
	}
	sessions := make([]*routertest.Counting, n)
	for i := range sessions {
		s := &routertest.Counting{J: jid.MustParse(fmt.Sprintf("u%d@example.org/r", i))}
		if _, err := r.Bind(s); err != nil {
			b.Fatal(err)
		}
		r.SetPresence(s, pres)
		sessions[i] = s
	}
	return r, sessions
}

// benchRoute routes one chat message from u0 to u1 per iteration, to the
// bare or the full JID, among 10,000 bound sessions: the router's part of
// 1:1 chat (no modules, no hooks).
func benchRoute(b *testing.B, to string) {
	r, sessions := benchRouter(b, 10000)
	el, err := xmppcore.Parse([]byte(`<message type='chat' id='m1' to='` + to + `'><body>Art thou not Romeo, and a Montague?</body></message>`))
	if err != nil {
		b.Fatal(err)
	}
	from, dest := sessions[0], sessions[1]
	toJID := jid.MustParse(to)
	b.ReportAllocs()
	for b.Loop() {
		r.Route(ctx, &router.Stanza{El: el, From: from.JID(), To: toJID, Origin: from})
	}
	if dest.Sent() == 0 {
		b.Fatal("nothing delivered")
	}
}

func BenchmarkRouteMessageBare(b *testing.B) { benchRoute(b, "u1@example.org") }
func BenchmarkRouteMessageFull(b *testing.B) { benchRoute(b, "u1@example.org/r") }

// BenchmarkRouteParallel routes between many pairs from every P, as many
// sessions do at once: contention on the registry's shards.
func BenchmarkRouteParallel(b *testing.B) {
	r, sessions := benchRouter(b, 10000)
	el, err := xmppcore.Parse([]byte(`<message type='chat' id='m1'><body>hello</body></message>`))
	if err != nil {
		b.Fatal(err)
	}
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := int(next.Add(1)) * 2
		for pb.Next() {
			i = (i + 2) % len(sessions)
			from, to := sessions[i], sessions[i+1]
			r.Route(ctx, &router.Stanza{El: el, From: from.JID(), To: to.JID().Bare(), Origin: from})
		}
	})
}
