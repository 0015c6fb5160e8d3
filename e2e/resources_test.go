package e2e_test

import (
	"fmt"
	"testing"

	"parley.im/parley/xmppcore"
)

// TestMessagesToBareJIDByPriority checks RFC 6121 §8.5.2.1.1 through the
// server with three resources of bob: a chat to the bare JID goes to the
// available resources of highest non-negative priority, to all of them on
// a tie, never to a negative priority, and to offline storage when no
// resource has a non-negative priority (delivered when one raises it,
// XEP-0160).
func TestMessagesToBareJIDByPriority(t *testing.T) {
	t.Parallel()
	srv := start(t, []string{"alice", "bob"})
	alice, _ := online(t, srv, "alice", "phone", "")
	five, _ := online(t, srv, "bob", "five", "<priority>5</priority>")
	one, _ := online(t, srv, "bob", "one", "<priority>1</priority>")
	neg, _ := online(t, srv, "bob", "neg", "<priority>-1</priority>")
	all := []*client{five, one, neg}

	n := 0
	// send has alice chat to bob's bare JID and returns which resources
	// got it (each checked at most once, and the others checked to have
	// got nothing).
	send := func() map[*client]bool {
		t.Helper()
		n++
		body := fmt.Sprintf("message %d", n)
		alice.send(`<message type='chat' to='bob@localhost'><body>` + body + `</body></message>`)
		noneOf(t, "alice", "an error", alice.sync(), func(el *xmppcore.Element) bool { return el.Attr("type") == "error" })
		got := map[*client]bool{}
		for _, c := range all {
			els := c.sync()
			switch k := count(els, chat(body)); k {
			case 0:
			case 1:
				got[c] = true
			default:
				t.Errorf("%s got %q %d times", c.jid, body, k)
			}
		}
		return got
	}
	want := func(what string, got map[*client]bool, want ...*client) {
		t.Helper()
		for _, c := range all {
			w := false
			for _, x := range want {
				w = w || x == c
			}
			if got[c] != w {
				t.Errorf("%s: %s got the message: %v, want %v", what, c.jid, got[c], w)
			}
		}
	}

	want("priorities 5, 1, -1", send(), five)

	one.send(`<presence><priority>5</priority></presence>`)
	one.sync()
	want("priorities 5, 5, -1", send(), five, one)

	// Both non-negative resources go unavailable (one by presence, one
	// by leaving): the message is stored, not given to the negative one.
	five.send(`<presence type='unavailable'/>`)
	five.sync()
	one.close()
	all = []*client{five, neg}
	want("unavailable, gone, -1", send(), []*client{}...)
	if c, err := srv.Store().CountOffline(ctx(t), host, "bob"); err != nil || c != 1 {
		t.Fatalf("offline messages for bob: %d, %v; want 1", c, err)
	}

	// The negative resource raises its priority: the stored message is
	// its now, with delay.
	neg.send(`<presence><priority>0</priority></presence>`)
	got := neg.sync()
	ms := filter(got, chat(fmt.Sprintf("message %d", n)))
	if len(ms) != 1 {
		t.Fatalf("bob/neg at priority 0 got %s, want the stored message once", dump(got))
	}
	delayStamp(t, ms[0])
	if c, err := srv.Store().CountOffline(ctx(t), host, "bob"); err != nil || c != 0 {
		t.Errorf("offline messages for bob after delivery: %d, %v; want 0", c, err)
	}
	// And it is now the one that gets chats.
	want("unavailable, 0", send(), neg)
}
