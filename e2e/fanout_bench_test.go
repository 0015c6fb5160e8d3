package e2e_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stream"

	"parley.im/parley/auth"
	"parley.im/parley/config"
	"parley.im/parley/internal/xmpptest"
	"parley.im/parley/router"
	"parley.im/parley/storage"
	"parley.im/parley/xmppcore"
)

// BenchmarkLoginPresenceFanout measures what one user's initial presence
// costs the server when the user has N contacts, all online, with
// subscriptions both ways: the presence module reads the roster,
// broadcasts the presence to the N contacts through the router (with the
// blocking module's EventOnBehalf check on each), answers the N probes in
// process (a roster lookup in each contact's roster and the contact's
// presence sent to the user), presents pending subscription requests and
// lets the offline module look for stored messages. It runs inside a real
// server (xmpptest.Start: SQLite, every standard module).
//
// The sessions are fakes bound to the server's router (the user's and the
// contacts'): Send is a non-blocking send on a buffered channel, as the
// c2s session's is, but nothing serializes or writes the stanzas, so the
// figures exclude the c2s writers, TLS and the network. One op is the
// initial presence alone: before each, the user is made unavailable
// (broadcast to the N contacts too) with the timer stopped, and the
// queues are emptied.
//
// Beside ns/op, B/op and allocs/op it reports live-heap-B: the heap still
// live when the initial presence has been routed, after a forced GC,
// minus the heap before it; that is, what the N+N queued stanzas and
// whatever else the op leaves behind hold until the writers have sent
// them, which is the peak extra heap of a login as long as the writers
// are slower than the router. (With GC running the heap also holds the
// op's garbage for a while: B/op bounds that.)
//
// The c2s variant runs the same login with real clients instead of fakes
// (TLS over loopback, the c2s sessions with their queues, raised to 2N+16,
// and writers):
// one op is then from the user sending its initial presence until every
// contact has read it and the user has read the N answers to its probes.
// Its B/op and allocs/op include the in-process clients' reads (one
// reused buffer each, TLS decryption), and its time their work, on the
// same CPUs.
func BenchmarkLoginPresenceFanout(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("sessions=fake/contacts=%d", n), func(b *testing.B) { benchFanout(b, n) })
	}
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("sessions=c2s/contacts=%d", n), func(b *testing.B) { benchFanoutC2S(b, n) })
	}
}

// sink is a session that queues what it is sent, like a c2s session whose
// writer has not run yet.
type sink struct {
	jid jid.JID
	out chan *xmppcore.Element
}

func (s *sink) JID() jid.JID { return s.jid }

func (s *sink) Send(el *xmppcore.Element) bool {
	select {
	case s.out <- el:
		return true
	default:
		return false
	}
}

func (s *sink) Close(stream.Error, string) {}

func (s *sink) drain() int {
	n := 0
	for {
		select {
		case <-s.out:
			n++
		default:
			return n
		}
	}
}

// fanoutServer starts a server with the account "user" and n accounts
// "contactNNNN", each subscribed both ways with user (written straight
// into the store), and returns the contacts' usernames.
func fanoutServer(b testing.TB, n int, configure ...func(*config.Config)) (*xmpptest.Server, []string) {
	srv := xmpptest.Start(b, append([]func(*config.Config){func(c *config.Config) { c.Roster.MaxItems = n + 10 }}, configure...)...)
	st, c := srv.Store(), context.Background()
	creds, err := auth.DeriveCredentials(password, srv.Config.Auth.ScramIterations)
	if err != nil {
		b.Fatal(err)
	}
	both := func(*storage.RosterItem) (*storage.RosterItem, error) {
		return &storage.RosterItem{Subscription: storage.SubBoth}, nil
	}
	if err := st.CreateAccount(c, host, "user", creds); err != nil {
		b.Fatal(err)
	}
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("contact%04d", i)
		if err := st.CreateAccount(c, host, names[i], creds); err != nil {
			b.Fatal(err)
		}
		if _, _, err := st.UpdateRosterItem(c, host, "user", names[i]+"@"+host, both); err != nil {
			b.Fatal(err)
		}
		if _, _, err := st.UpdateRosterItem(c, host, names[i], "user@"+host, both); err != nil {
			b.Fatal(err)
		}
	}
	return srv, names
}

func benchFanout(b *testing.B, n int) {
	srv, names := fanoutServer(b, n)
	rt := srv.Router()
	userBare := "user@" + host
	contacts := make([]*sink, n)
	for i, name := range names {
		contacts[i] = bindSink(b, rt, name+"@"+host+"/r", 512)
		route(rt, contacts[i], "")
	}
	// The user's queue takes the N probe answers of one login at once: a
	// c2s queue (c2s.queue_size, 512 by default) relies on its writer
	// draining it meanwhile.
	user := bindSink(b, rt, userBare+"/bench", n+16)
	drainAll := func() (toUser, toContacts int) {
		for _, s := range contacts {
			toContacts += s.drain()
		}
		return user.drain(), toContacts
	}
	drainAll()

	// check verifies what one login delivered: the user's presence to
	// every contact, and the N contacts' presence plus its own to the
	// user.
	check := func() {
		toUser, toContacts := drainAll()
		if toUser != n+1 || toContacts != n {
			b.Fatalf("initial presence delivered %d stanzas to the user and %d to the contacts, want %d and %d",
				toUser, toContacts, n+1, n)
		}
	}
	offline := func() {
		route(rt, user, "unavailable")
		drainAll()
	}

	route(rt, user, "")
	check()
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		offline()
		b.StartTimer()
		route(rt, user, "")
		b.StopTimer()
		check()
		b.StartTimer()
	}

	// One more, for the heap it leaves live.
	offline()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	route(rt, user, "")
	runtime.GC()
	runtime.ReadMemStats(&after)
	check()
	b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)), "live-heap-B")
}

func bindSink(b testing.TB, rt *router.Router, full string, queue int) *sink {
	j, err := jid.Parse(full)
	if err != nil {
		b.Fatal(err)
	}
	s := &sink{jid: j, out: make(chan *xmppcore.Element, queue)}
	if _, err := rt.Bind(s); err != nil {
		b.Fatal(err)
	}
	rt.SessionBound(context.Background(), s)
	return s
}

// route has s send broadcast presence of type typ, as c2s would route it.
func route(rt *router.Router, s *sink, typ string) {
	el := xmppcore.New("", xmppcore.Presence, "from", s.jid.String())
	if typ != "" {
		el.SetAttr("type", typ)
	}
	rt.Route(context.Background(), &router.Stanza{El: el, From: s.jid, Origin: s})
}

// counter counts the occurrences of a pattern in what some connections
// read, and wakes a waiter when the count reaches a target or a
// connection ends.
type counter struct {
	pattern []byte
	n       atomic.Int64
	target  atomic.Int64
	ended   atomic.Int64 // connections read to their end
	reached chan struct{}
}

func newCounter(pattern string) *counter {
	return &counter{pattern: []byte(pattern), reached: make(chan struct{}, 1)}
}

// read counts pattern in everything read from c until it fails, with a
// carry so that a pattern split across two reads is counted once. It
// clears the read deadline the raw client left.
func (k *counter) read(c net.Conn) {
	_ = c.SetReadDeadline(time.Time{})
	buf := make([]byte, 32<<10)
	keep := len(k.pattern) - 1
	carry := 0
	for {
		m, err := c.Read(buf[carry:])
		if m > 0 {
			end := carry + m
			if got := int64(bytes.Count(buf[:end], k.pattern)); got > 0 {
				if k.n.Add(got) >= k.target.Load() {
					select {
					case k.reached <- struct{}{}:
					default:
					}
				}
			}
			// Keep the tail that could start a pattern, unless it is
			// the end of a pattern just counted.
			carry = min(keep, end)
			if bytes.HasSuffix(buf[:end], k.pattern) {
				carry = 0
			}
			copy(buf, buf[end-carry:end])
		}
		if err != nil {
			k.ended.Add(1)
			select {
			case k.reached <- struct{}{}:
			default:
			}
			return
		}
	}
}

// await waits until the count reaches want; it fails if a connection
// ends first.
func (k *counter) await(b testing.TB, want int64, what string) {
	b.Helper()
	k.target.Store(want)
	timeout := time.NewTimer(30 * time.Second)
	defer timeout.Stop()
	for k.n.Load() < want {
		if k.ended.Load() > 0 {
			b.Fatalf("%s: a connection was closed by the server after %d of %d", what, k.n.Load(), want)
		}
		select {
		case <-k.reached:
		case <-timeout.C:
			b.Fatalf("%s: %d of %d seen after 30s", what, k.n.Load(), want)
		}
	}
}

func benchFanoutC2S(b *testing.B, n int) {
	// A queue that takes a whole login's burst: with the default (512)
	// the user's session is closed, now and then, when it has more
	// contacts online than that (TestLoginWithManyContactsOnline).
	srv, names := fanoutServer(b, n, func(c *config.Config) { c.C2S.QueueSize = max(512, 2*n+16) })
	userJID := "user@" + host + "/bench"
	// At the contacts: the user's broadcasts. At the user: the contacts'
	// presence, in answer to its probes.
	atContacts := newCounter(`from="` + userJID + `"`)
	atUser := newCounter(`<presence from="contact`)
	loginContacts(b, srv, names, atContacts)
	user, _ := xmpptest.Login(b, srv, "user", password, "bench")
	go atUser.read(user.Conn)

	var toContacts, toUser int64
	login := func() {
		user.Send(`<presence/>`)
		toContacts += int64(n)
		toUser += int64(n)
		atContacts.await(b, toContacts, "the user's presence at the contacts")
		atUser.await(b, toUser, "the contacts' presence at the user")
	}
	logout := func() {
		user.Send(`<presence type='unavailable'/>`)
		toContacts += int64(n)
		atContacts.await(b, toContacts, "the user's unavailable presence at the contacts")
	}
	login()
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		logout()
		b.StartTimer()
		login()
	}
	b.StopTimer()
	if got := atUser.n.Load(); got != toUser {
		b.Errorf("the user read %d presences from contacts, want %d", got, toUser)
	}
}

// loginContacts logs each contact in with a real client, sends its initial
// presence and then counts what it reads with k.
func loginContacts(t testing.TB, srv *xmpptest.Server, names []string, k *counter) {
	for _, name := range names {
		c, _ := xmpptest.Login(t, srv, name, password, "r")
		// Initial presence, and a ping whose answer comes after
		// everything it sets off, before reading raw.
		c.Send(`<presence/><iq type='get' id='ready' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`)
		c.Expect(func(el *xmppcore.Element) bool { return el.Attr("id") == "ready" })
		go k.read(c.Conn)
	}
}
