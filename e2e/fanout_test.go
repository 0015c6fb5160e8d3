package e2e_test

import (
	"testing"

	"parley.im/parley/internal/xmpptest"
)

// TestLoginWithManyContactsOnline logs a user with 1000 contacts online in
// and out ten times, with the default c2s.queue_size (512); the user and
// the contacts are real clients (1000 TLS sessions, a few seconds to set
// up) that read all the time. Every login must bring the user the
// presence of the 1000 contacts (the answers to its probes), and its
// session must stay up.
//
// It fails intermittently (here in 2 runs of 6, on 2 CPUs with other work
// running; and in 2 runs of 6, of 21 logins each, of
// BenchmarkLoginPresenceFanout/sessions=c2s/contacts=1000 at the default
// queue size), with "outbound queue full; closing the session
// jid=user@localhost/bench queue=512" in the log: the initial presence
// puts the 1000 probe answers into the user's queue from the session's
// reader goroutine in one synchronous call (presence.answerProbe, one
// roster lookup apart), while the 1000 contacts' writers and clients
// compete for the CPU with the user's writer; as soon as that writer
// falls 512 stanzas behind, c2s closes the session with policy-violation,
// although the client reads as fast as it can. A user with more contacts
// online than c2s.queue_size can thus be disconnected at login, and again
// at each reconnection.
func TestLoginWithManyContactsOnline(t *testing.T) {
	t.Skip("bug: a login puts one probe answer per online contact into the user's c2s queue in one burst; " +
		"with more than c2s.queue_size (512) contacts online the session is closed with policy-violation " +
		"whenever the writer falls behind, although the client reads continuously")
	t.Parallel()
	const n = 1000
	srv, names := fanoutServer(t, n)
	loginContacts(t, srv, names, newCounter(`from="user@localhost/bench"`))
	user, _ := xmpptest.Login(t, srv, "user", password, "bench")
	answers := newCounter(`<presence from="contact`)
	go answers.read(user.Conn)
	var want int64
	for range 10 {
		user.Send(`<presence/>`)
		want += n
		answers.await(t, want, "the contacts' presence at login")
		user.Send(`<presence type='unavailable'/>`)
	}
}
