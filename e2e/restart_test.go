package e2e_test

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"parley.im/parley/config"
	"parley.im/parley/xmppcore"
)

// TestRestart stores everything the modules keep (rosters with their
// subscriptions and versions, a pending subscription request, offline
// messages, a block list, a vCard, private XML), shuts the server down,
// starts a new one on the same data and checks that all of it is there
// and still works, on both storage backends.
func TestRestart(t *testing.T) {
	t.Parallel()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		restart(t, func(*config.Config) {})
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		restart(t, withPostgres(t))
	})
}

// rosterView is a roster result as comparable text, one item per line.
func rosterView(q *xmppcore.Element) string {
	var lines []string
	for it := range q.Children() {
		line := it.Attr("jid") + " " + item(it) + " name=" + it.Attr("name")
		for g := range it.Children() {
			line += " group=" + g.Text()
		}
		lines = append(lines, line)
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

func restart(t *testing.T, backend func(*config.Config)) {
	dir := t.TempDir()
	conf := func(c *config.Config) {
		c.DataDir = dir
		backend(c)
	}
	srv := start(t, []string{"alice", "bob", "carol"}, conf)

	alice, _ := online(t, srv, "alice", "phone", "")
	bob, _ := online(t, srv, "bob", "desk", "")
	carol, _ := online(t, srv, "carol", "tab", "")
	subscribe(t, alice, bob)
	// dave: named and grouped, no subscription.
	alice.mustIQ("set", "", `<query xmlns='jabber:iq:roster'><item jid='dave@localhost' name='Dave'><group>Work</group><group>Chess</group></item></query>`)
	// carol asks alice, who does not answer yet.
	carol.send(`<presence type='subscribe' to='alice@localhost'/>`)
	carol.sync()
	alice.take("carol's request", presence("carol@localhost", "subscribe"))
	alice.mustIQ("set", "", `<block xmlns='urn:xmpp:blocking'><item jid='mallory@localhost'/><item jid='spam.example'/></block>`)
	alice.mustIQ("set", "", `<vCard xmlns='vcard-temp'><FN>Alice Liddell</FN><NICKNAME>al</NICKNAME></vCard>`)
	alice.mustIQ("set", "", `<query xmlns='jabber:iq:private'><prefs xmlns='urn:example:prefs'><color>blue</color></prefs></query>`)
	bob.close()
	alice.take("bob's unavailable presence", presence(bob.jid, "unavailable"))
	bodies := []string{"kept across a restart", "this one too"}
	for _, b := range bodies {
		alice.send(`<message type='chat' to='bob@localhost'><body>` + b + `</body></message>`)
	}
	alice.sync()
	q := alice.roster("")
	ver := q.Attr("ver")
	view := rosterView(q)
	bobQ := login(t, srv, "bob", "probe").roster("")
	bobVer, bobView := bobQ.Attr("ver"), rosterView(bobQ)
	if !strings.Contains(view, "bob@localhost subscription=both") || !strings.Contains(view, "dave@localhost") {
		t.Fatalf("alice's roster before the restart:\n%s", view)
	}

	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}

	srv = start(t, nil, conf) // no new accounts: they must still be there
	alice = login(t, srv, "alice", "phone")

	// The roster, item for item, at the same version; a versioned get at
	// that version is answered with an empty result and no pushes.
	q = alice.roster("")
	if got := rosterView(q); got != view || q.Attr("ver") != ver {
		t.Errorf("alice's roster after the restart, version %s:\n%s\nwant version %s:\n%s", q.Attr("ver"), got, ver, view)
	}
	if q := alice.roster(ver); q != nil {
		t.Errorf("versioned roster get at %s after the restart: %s, want an empty result", ver, q)
	}
	noneOf(t, "alice", "roster pushes after a get at the current version", alice.sync(), anyPush)

	res := alice.mustIQ("get", "", `<blocklist xmlns='urn:xmpp:blocking'/>`)
	var blocked []string
	for it := range res.Child(nsBlocking, "blocklist").Children() {
		blocked = append(blocked, it.Attr("jid"))
	}
	if want := []string{"mallory@localhost", "spam.example"}; !slices.Equal(blocked, want) {
		t.Errorf("block list after the restart: %q, want %q", blocked, want)
	}
	res = alice.mustIQ("get", "", `<query xmlns='jabber:iq:private'><prefs xmlns='urn:example:prefs'/></query>`)
	if got := res.Child(nsPrivate, "query").Child("urn:example:prefs", "prefs").ChildText("urn:example:prefs", "color"); got != "blue" {
		t.Errorf("private XML after the restart: %s", res)
	}

	// alice's initial presence: carol's request is presented again.
	alice.send(`<presence/>`)
	if got := alice.sync(); count(got, presence("carol@localhost", "subscribe")) != 1 {
		t.Errorf("alice's initial presence after the restart: %s; want carol's pending request once", dump(got))
	}

	// bob: same roster and version; the offline messages, in order, with
	// delay, once; alice's presence (his probe answered from the stored
	// rosters), and his reaches her.
	bob = login(t, srv, "bob", "desk")
	bq := bob.roster("")
	if got := rosterView(bq); got != bobView || bq.Attr("ver") != bobVer {
		t.Errorf("bob's roster after the restart, version %s:\n%s\nwant version %s:\n%s", bq.Attr("ver"), got, bobVer, bobView)
	}
	res = bob.mustIQ("get", "alice@localhost", `<vCard xmlns='vcard-temp'/>`)
	if v := res.Child(nsVCard, "vCard"); v.ChildText(nsVCard, "FN") != "Alice Liddell" || v.ChildText(nsVCard, "NICKNAME") != "al" {
		t.Errorf("alice's vCard after the restart: %s", res)
	}
	bob.send(`<presence/>`)
	got := bob.sync()
	var gotBodies []string
	for _, m := range filter(got, anyBody) {
		gotBodies = append(gotBodies, m.ChildText("", "body"))
		delayStamp(t, m)
	}
	if !slices.Equal(gotBodies, bodies) {
		t.Errorf("bob's offline messages after the restart: %q, want %q; everything: %s", gotBodies, bodies, dump(got))
	}
	if count(got, presence(alice.jid, "")) != 1 {
		t.Errorf("bob did not get alice's presence once after the restart: %s", dump(got))
	}
	alice.take("bob's presence after the restart", presence(bob.jid, ""))

	// Versions go on from where they were.
	alice.mustIQ("set", "", `<query xmlns='jabber:iq:roster'><item jid='dave@localhost' name='David'/></query>`)
	p := alice.take("the push for dave", push("dave@localhost"))
	old, _ := strconv.ParseInt(ver, 10, 64)
	if n, err := strconv.ParseInt(p.Child(nsRoster, "query").Attr("ver"), 10, 64); err != nil || n <= old {
		t.Errorf("roster version after the restart: %s, want more than %d", p, old)
	}

	// Once delivered, gone: the messages are not there a third time.
	bob.close()
	bob = login(t, srv, "bob", "desk")
	bob.send(`<presence/>`)
	noneOf(t, "bob", "the offline messages again", bob.sync(), anyBody)
}
