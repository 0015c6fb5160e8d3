package c2s_test

import (
	"fmt"
	"runtime"
	"strconv"
	"testing"
	"time"

	"mellium.im/xmpp/stream"

	"parley.im/parley/config"
	"parley.im/parley/internal/xmpptest"
	"parley.im/parley/xmppcore"
)

// heapAfterGC is the live heap once the garbage is collected.
func heapAfterGC() uint64 {
	var ms runtime.MemStats
	for range 3 {
		runtime.GC()
	}
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkSMDetachedSession measures the heap a detached, resumable
// session keeps on the server (B/detached), against an idle attached one
// (B/attached): n sessions of one account log in, enable stream
// management, and lose their connections. Clients run in the same
// process, so their leftovers (a closed socket each) count too.
//
//	go test -run '^$' -bench BenchmarkSMDetachedSession -benchtime 1x ./c2s
func BenchmarkSMDetachedSession(b *testing.B) {
	const n = 300
	srv := xmpptest.Start(b, func(cfg *config.Config) {
		cfg.C2S.MaxSessionsPerAccount = n + 10
		cfg.C2S.SMResumeTimeout = time.Hour
	})
	srv.AddUser(b, "bob", password)
	for range b.N {
		base := heapAfterGC()
		clients := make([]*xmpptest.Client, n)
		for i := range clients {
			c, _ := xmpptest.Login(b, srv, "bob", password, "r"+strconv.Itoa(i))
			c.Send(`<enable xmlns='urn:xmpp:sm:3' resume='true'/>`)
			if el := c.Next(); !el.Is(nsSM, "enabled") {
				b.Fatalf("enable: %s", el)
			}
			clients[i] = c
		}
		attached := heapAfterGC()
		for i, c := range clients {
			cut(c)
			clients[i] = nil
		}
		deadline := time.Now().Add(xmpptest.Timeout)
		for srv.C2S().DetachedCount() != n {
			if time.Now().After(deadline) {
				b.Fatalf("%d of %d detached", srv.C2S().DetachedCount(), n)
			}
			time.Sleep(10 * time.Millisecond)
		}
		detached := heapAfterGC()
		b.ReportMetric(float64(attached-base)/n, "B/attached")
		b.ReportMetric(float64(detached-base)/n, "B/detached")
		b.StopTimer()
		for _, s := range srv.Router().AllSessions() {
			s.Close(stream.SystemShutdown, "")
		}
		for srv.C2S().DetachedCount() != 0 {
			time.Sleep(10 * time.Millisecond)
		}
		b.StartTimer()
	}
}

// BenchmarkSMResume measures one resumption: a detached session with 10
// held messages is resumed over a new connection. ns/op is the whole
// reconnection as a client sees it (TCP, STARTTLS, SCRAM-SHA-256 at 4096
// iterations, <resume/>, the 10 messages); resume-µs is the <resume/> to
// <resumed/> round trip alone, the part stream management adds.
//
//	go test -run '^$' -bench BenchmarkSMResume -benchtime 200x ./c2s
func BenchmarkSMResume(b *testing.B) {
	srv := xmpptest.Start(b, func(cfg *config.Config) { cfg.C2S.SMResumeTimeout = time.Hour })
	srv.AddUser(b, "alice", password)
	srv.AddUser(b, "bob", password)
	alice, _ := xmpptest.Login(b, srv, "alice", password, "a")
	bob, bobJID := xmpptest.Login(b, srv, "bob", password, "phone")
	bob.Send(`<enable xmlns='urn:xmpp:sm:3' resume='true'/>`)
	en := bob.Next()
	id := en.Attr("id")
	var h uint32
	var resume time.Duration
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		cut(bob)
		for srv.C2S().DetachedCount() != 1 {
			time.Sleep(time.Millisecond)
		}
		for j := range 10 {
			alice.Send(fmt.Sprintf(`<message to='%s' id='m%d-%d'><body>x</body></message>`, bobJID, i, j))
		}
		alice.Send(`<iq type='get' id='sync' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`)
		alice.Expect(func(el *xmppcore.Element) bool { return el.Attr("id") == "sync" })
		b.StartTimer()

		bob = xmpptest.Dial(b, srv.StartTLSAddr)
		bob.OpenStream("localhost")
		bob.StartTLS("localhost")
		if el := bob.AuthSCRAM(&xmpptest.SCRAM{Mechanism: "SCRAM-SHA-256", User: "bob", Password: password}); !el.Is(xmppcore.NSSASL, "success") {
			b.Fatalf("auth: %s", el)
		}
		bob.OpenStream("localhost")
		start := time.Now()
		bob.Send(`<resume xmlns='urn:xmpp:sm:3' previd='` + id + `' h='` + strconv.FormatUint(uint64(h), 10) + `'/>`)
		if el := bob.Next(); !el.Is(nsSM, "resumed") {
			b.Fatalf("resume: %s", el)
		}
		resume += time.Since(start)
		for got := 0; got < 10; {
			if el := bob.Next(); el.Local == "message" {
				got++
				h++
			}
		}
	}
	b.ReportMetric(float64(resume.Microseconds())/float64(b.N), "resume-µs")
}
