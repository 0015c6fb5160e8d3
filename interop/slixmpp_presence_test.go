//go:build unix

package interop_test

import (
	"context"
	"testing"
	"time"
)

// TestSlixmppSubscriptionsAndOfflineMessages: two slixmpp clients become
// contacts through slixmpp's own subscription handling (alice asks with
// send_presence(ptype='subscribe'); bob's auto_authorize approves and his
// auto_subscribe asks back; alice's auto_authorize approves), see each
// other online, chat, and after bob disconnects alice sees him offline and
// sends him messages, which he gets at his next login in order, once, with
// XEP-0203 delay. The script (testdata/slixmpp_presence.py) exits non-zero
// unless all of it happened; the store must then agree: both items
// subscribed both ways, no message left.
func TestSlixmppSubscriptionsAndOfflineMessages(t *testing.T) {
	ctx, srv, _ := clientTest(t, requireSlixmpp)
	p := runSlixmpp(t, ctx, srv, "slixmpp_presence.py",
		"--alice", account(t, srv, "alice", "alice secret"),
		"--bob", account(t, srv, "bob", "bob secret"))
	p.expectOutput(t, "handshake-ok\n", "online-ok\n", "chat-ok\n", "offline-seen-ok\n",
		"offline-sent\n", "offline-delivered-ok ", "result ok\n")

	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	st := srv.Store()
	for _, pair := range [][2]string{{"alice", "bob@localhost"}, {"bob", "alice@localhost"}} {
		it, err := st.RosterItem(sctx, "localhost", pair[0], pair[1])
		if err != nil || it.Subscription != "both" || it.PendingIn || it.PendingOut {
			t.Errorf("stored roster item of %s for %s: %+v, %v; want subscription both, nothing pending", pair[0], pair[1], it, err)
		}
	}
	if n, err := st.CountOffline(sctx, "localhost", "bob"); n != 0 || err != nil {
		t.Errorf("offline messages left for bob: %d, %v", n, err)
	}
}
