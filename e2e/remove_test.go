package e2e_test

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"

	"parley.im/parley/internal/xmpptest"
	"parley.im/parley/storage"
	"parley.im/parley/xmppcore"
)

// TestAccountRemovalDeletesEverything removes an account in band
// (XEP-0077 §3.2) that has a roster, a pending subscription request,
// offline messages, a block list, a vCard, private XML and a last
// activity record, and checks in the store that nothing of it is left,
// and that nothing was written for it after the removal either (the
// modules that react to its sessions ending).
func TestAccountRemovalDeletesEverything(t *testing.T) {
	t.Parallel()
	srv := start(t, []string{"alice", "bob", "carol"})
	st := srv.Store()
	c := ctx(t)

	// A session that ends, the account's last, records the last activity.
	login(t, srv, "alice", "gone").close()
	alice, _ := online(t, srv, "alice", "phone", "")
	bob, _ := online(t, srv, "bob", "desk", "")
	carol, _ := online(t, srv, "carol", "tab", "")
	subscribe(t, alice, bob)
	carol.send(`<presence type='subscribe' to='alice@localhost'/>`)
	carol.sync()
	alice.take("carol's request", presence("carol@localhost", "subscribe"))
	alice.mustIQ("set", "", `<block xmlns='urn:xmpp:blocking'><item jid='mallory@localhost'/></block>`)
	alice.mustIQ("set", "", `<vCard xmlns='vcard-temp'><FN>Alice</FN></vCard>`)
	alice.mustIQ("set", "", `<query xmlns='jabber:iq:private'><prefs xmlns='urn:example:prefs'/></query>`)
	// Offline messages: alice's only session is made unavailable.
	alice.send(`<presence type='unavailable'/>`)
	alice.sync()
	bob.send(`<message type='chat' to='alice@localhost'><body>for later</body></message>`)
	bob.sync()

	// Everything is there before.
	items, _, err := st.RosterItems(c, host, "alice")
	must(t, err, "roster")
	if len(items) != 2 {
		t.Fatalf("alice's stored roster before the removal: %+v, want bob and carol's request", items)
	}
	n, err := st.CountOffline(c, host, "alice")
	must(t, err, "offline")
	blocked, err := st.BlockedJIDs(c, host, "alice")
	must(t, err, "block list")
	if n != 1 || len(blocked) != 1 {
		t.Fatalf("before the removal: %d offline messages, block list %q", n, blocked)
	}
	for _, kind := range []string{storage.DataVCard, storage.DataPrivate, storage.DataLastActivity, storage.DataSubscribeRequest} {
		d, err := st.ListData(c, host, "alice", kind)
		must(t, err, "list %s", kind)
		if len(d) != 1 {
			t.Fatalf("before the removal: %d items of %s, want 1", len(d), kind)
		}
	}

	ended := sessionsEnded(t, srv, "alice@localhost", 1)
	res := alice.iq("set", "", `<query xmlns='jabber:iq:register'><remove/></query>`)
	if res.Attr("type") != "result" {
		t.Fatalf("removal answered with %s", res)
	}
	if cond := alice.c.ExpectStreamError(); cond != "not-authorized" {
		t.Errorf("stream error after the removal: %s, want not-authorized", cond)
	}
	ended()
	if r := srv.Router().SessionCount(); r != 2 {
		t.Errorf("%d sessions bound after the removal, want 2 (bob, carol)", r)
	}

	if ok, err := st.AccountExists(c, host, "alice"); ok || err != nil {
		t.Errorf("the account still exists: %v, %v", ok, err)
	}
	if items, ver, err := st.RosterItems(c, host, "alice"); len(items) != 0 || ver != 0 || err != nil {
		t.Errorf("roster after the removal: %+v at version %d, %v", items, ver, err)
	}
	if n, err := st.CountOffline(c, host, "alice"); n != 0 || err != nil {
		t.Errorf("offline messages after the removal: %d, %v", n, err)
	}
	if b, err := st.BlockedJIDs(c, host, "alice"); len(b) != 0 || err != nil {
		t.Errorf("block list after the removal: %q, %v", b, err)
	}
	for _, kind := range []string{storage.DataVCard, storage.DataPrivate, storage.DataLastActivity, storage.DataSubscribeRequest} {
		if d, err := st.ListData(c, host, "alice", kind); len(d) != 0 || err != nil {
			t.Errorf("%s data after the removal: %d items, %v", kind, len(d), err)
		}
	}
	if _, err := st.GetData(c, host, "alice", storage.DataVCard, ""); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("vCard after the removal: %v, want not found", err)
	}

	// The account is gone for others too: a message to it is refused,
	// not stored.
	bob.send(`<message type='chat' to='alice@localhost' id='gone'><body>still there?</body></message>`)
	if e := bob.take("the answer for a removed account", byID("gone")); errorCondition(e) != "service-unavailable" {
		t.Errorf("message to the removed account answered with %s", e)
	}
	noneOf(t, "carol", "anything about alice's removal", carol.sync(), func(el *xmppcore.Element) bool {
		return el.Local == xmppcore.Message
	})
}

// TestAccountRemovalTellsContacts: when alice removes her account while
// bob, her contact, is online, her session ends as any other does, so bob
// must get her unavailable presence (RFC 6121 §4.5.2: the server
// broadcasts unavailable presence for a session that ends while
// available); XEP-0077 §3.2 adds that the server SHOULD cancel the
// subscriptions in her roster, that is send bob unsubscribe and
// unsubscribed, after which his roster says none. (It failed while the
// account, roster included, was deleted before its sessions ended: the
// session-ended hook of presence then found nobody to tell.)
func TestAccountRemovalTellsContacts(t *testing.T) {
	t.Parallel()
	srv := start(t, []string{"alice", "bob"})
	alice, _ := online(t, srv, "alice", "phone", "")
	bob, _ := online(t, srv, "bob", "desk", "")
	subscribe(t, alice, bob)

	ended := sessionsEnded(t, srv, "alice@localhost", 1)
	res := alice.iq("set", "", `<query xmlns='jabber:iq:register'><remove/></query>`)
	if res.Attr("type") != "result" {
		t.Fatalf("removal answered with %s", res)
	}
	alice.c.ExpectStreamError()
	ended()
	got := bob.sync()
	if count(got, presence(alice.jid, "unavailable")) != 1 {
		t.Errorf("bob did not get alice's unavailable presence when her account was removed; he got: %s", dump(got))
	}
	if count(got, presence("alice@localhost", "unsubscribe")) != 1 || count(got, presence("alice@localhost", "unsubscribed")) != 1 {
		t.Errorf("bob did not get unsubscribe and unsubscribed from alice when her account was removed (XEP-0077 §3.2 SHOULD); he got: %s", dump(got))
	}
	if it := item(rosterItem(bob.roster("-"), "alice@localhost")); it != "subscription=none" && it != "<absent>" {
		t.Errorf("bob's roster item for the removed alice: %s, want none or absent", it)
	}
}

// TestAccountRemovalLogsNoError: removing an account in band is a normal
// operation and must not log at error level. (The last activity
// module's session-ended hook used to try to record the logout of the
// account just deleted, and log "recording last activity failed ...
// storage: not found" at ERROR.)
func TestAccountRemovalLogsNoError(t *testing.T) {
	t.Parallel()
	var log syncBuffer
	srv := xmpptest.StartWithLog(t, &log)
	srv.AddUser(t, "alice", password)
	alice, _ := online(t, srv, "alice", "phone", "")
	ended := sessionsEnded(t, srv, "alice@localhost", 1)
	if res := alice.iq("set", "", `<query xmlns='jabber:iq:register'><remove/></query>`); res.Attr("type") != "result" {
		t.Fatalf("removal answered with %s", res)
	}
	alice.c.ExpectStreamError()
	ended()
	for line := range strings.Lines(log.String()) {
		if strings.Contains(line, "level=ERROR") {
			t.Errorf("logged at error level during an account removal: %s", line)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
