package e2e_test

import (
	"testing"

	"parley.im/parley/internal/xmpptest"
)

// TestLoginWithManyContactsOnline logs a user with 1000 contacts online in
// and out ten times with the default c2s.queue_size; the user and the
// contacts are real clients (1000 TLS sessions) that read all the time.
// Every login must bring the user the presence of the 1000 contacts (the
// answers to its probes) in one burst, and its session must stay up. With
// a queue smaller than the burst (512 once was the default) the session
// was closed as too slow whenever its writer fell behind.
func TestLoginWithManyContactsOnline(t *testing.T) {
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
