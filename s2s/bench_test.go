package s2s

import (
	"testing"
	"time"

	"parley.im/parley/internal/routertest"
	"parley.im/parley/xmppcore"
)

// BenchmarkChat measures one-to-one messages from a user of one server to
// a user of another over an authenticated s2s stream (both in this
// process, on loopback TLS): routing, serialization, TLS, parsing and
// routing again.
func BenchmarkChat(b *testing.B) {
	big := func(c *Config) { c.QueueSize = 1 << 20 }
	na, nb := pair2(b, big, big)
	alice := routertest.Bind(b, na.r, "alice@a.example/phone")
	bob := routertest.Bind(b, nb.r, "bob@b.example/pc")
	nb.r.SetPresence(bob, xmppcore.New("", "presence"))
	msg := routertest.Stanza(b, alice, `<message type='chat' id='w' to='bob@b.example/pc'><body>warm up</body></message>`)
	na.r.Route(b.Context(), msg)
	bob.WaitFor(b, routertest.ByID("w"))
	bob.Take()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		na.r.Route(b.Context(), routertest.Stanza(b, alice, `<message type='chat' to='bob@b.example/pc'><body>hello there</body></message>`))
	}
	deadline := time.Now().Add(time.Minute)
	for len(bob.Sent()) < b.N {
		if time.Now().After(deadline) {
			b.Fatalf("delivered %d of %d", len(bob.Sent()), b.N)
		}
		time.Sleep(time.Millisecond)
	}
}
