package c2s_test

import (
	"strings"
	"testing"

	"mellium.im/xmpp/jid"

	"parley.im/parley/config"
	"parley.im/parley/internal/xmpptest"
	"parley.im/parley/xmppcore"
)

// bindRaw sends a bind request and returns the answer.
func bindRaw(c *xmpptest.Client, id, resource string) *xmppcore.Element {
	r := ""
	if resource != "" {
		r = "<resource>" + resource + "</resource>"
	}
	c.Send(`<iq type='set' id='` + id + `'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>` + r + `</bind></iq>`)
	return c.Next()
}

func TestBindServerGenerated(t *testing.T) {
	srv := start(t)
	seen := map[string]bool{}
	for range 2 {
		c := authenticated(t, srv, "alice")
		full := c.Bind("")
		j, err := jid.Parse(full)
		if err != nil || j.Bare().String() != "alice@localhost" || j.Resourcepart() == "" {
			t.Fatalf("bound %q (%v)", full, err)
		}
		if seen[full] {
			t.Fatalf("resource %q generated twice", full)
		}
		seen[full] = true
		// An empty <resource/> is no request either.
		c2 := authenticated(t, srv, "alice")
		if el := bindRaw(c2, "b", "   "); el.Attr("type") != "result" || strings.HasSuffix(el.Child(xmppcore.NSBind, "bind").ChildText(xmppcore.NSBind, "jid"), "/") {
			t.Fatalf("bind with a blank resource: %s", el)
		}
	}
}

func TestBindRequested(t *testing.T) {
	srv := start(t)
	c := authenticated(t, srv, "alice")
	el := bindRaw(c, "b1", "Phone Ünïcode")
	if el.Attr("type") != "result" || el.Attr("id") != "b1" {
		t.Fatalf("bind answer %s", el)
	}
	if got := el.Child(xmppcore.NSBind, "bind").ChildText(xmppcore.NSBind, "jid"); got != "alice@localhost/Phone Ünïcode" {
		t.Fatalf("bound %q", got)
	}
	if s, ok := srv.Router().Session(jid.MustParse("alice@localhost/Phone Ünïcode")); !ok || s == nil {
		t.Fatal("the router does not know the session")
	}
	roundTrip(t, c, "after-bind")
}

func TestBindInvalidResource(t *testing.T) {
	srv := start(t)
	c := authenticated(t, srv, "alice")
	el := bindRaw(c, "bad", strings.Repeat("r", 1100)) // over 1023 bytes
	if got := stanzaError(t, el); got != "bad-request" || el.Attr("id") != "bad" {
		t.Fatalf("long resource: %s", el)
	}
	el = bindRaw(c, "bad2", "a\u0085b") // a control character, legal in XML
	if got := stanzaError(t, el); got != "bad-request" {
		t.Fatalf("control character: %s", el)
	}
	// The stream is still there: bind properly.
	if j := c.Bind("good"); j != "alice@localhost/good" {
		t.Fatalf("bound %s", j)
	}
}

func TestBindConflictReplace(t *testing.T) {
	srv := start(t, func(cfg *config.Config) { cfg.C2S.ResourceConflict = "replace" })
	old, _ := login(t, srv, "alice", "phone")
	roundTrip(t, old, "old")
	c, full := login(t, srv, "alice", "phone")
	if full != "alice@localhost/phone" {
		t.Fatalf("bound %s", full)
	}
	wantStreamError(t, old, "conflict")
	roundTrip(t, c, "new")
	// Messages to the full JID reach the new session.
	bob, _ := login(t, srv, "bob", "")
	bob.Send(`<message to='alice@localhost/phone' id='m1' type='chat'><body>hi</body></message>`)
	if el := c.Expect(byID("m1")); el.Local != "message" {
		t.Fatalf("got %s", el)
	}
	if n := len(srv.Router().Resources(jid.MustParse("alice@localhost"))); n != 1 {
		t.Fatalf("%d resources bound after the replacement", n)
	}
}

func TestBindConflictRefuse(t *testing.T) {
	srv := start(t, func(cfg *config.Config) { cfg.C2S.ResourceConflict = "refuse" })
	old, _ := login(t, srv, "alice", "phone")
	c := authenticated(t, srv, "alice")
	el := bindRaw(c, "dup", "phone")
	if got := stanzaError(t, el); got != "conflict" {
		t.Fatalf("duplicate resource: %s", el)
	}
	if j := c.Bind("laptop"); j != "alice@localhost/laptop" {
		t.Fatalf("bound %s", j)
	}
	roundTrip(t, old, "old")
	roundTrip(t, c, "new")
}

func TestMaxSessionsPerAccount(t *testing.T) {
	srv := start(t, func(cfg *config.Config) { cfg.C2S.MaxSessionsPerAccount = 2 })
	login(t, srv, "alice", "one")
	second, _ := login(t, srv, "alice", "two")
	c := authenticated(t, srv, "alice")
	el := bindRaw(c, "third", "three")
	if got := stanzaError(t, el); got != "resource-constraint" {
		t.Fatalf("third session: %s", el)
	}
	if el.Child("", "error").Attr("type") != "wait" {
		t.Fatalf("resource-constraint type: %s", el)
	}
	// Replacing an existing resource is no new session.
	if j := c.Bind("two"); j != "alice@localhost/two" {
		t.Fatalf("bound %s", j)
	}
	wantStreamError(t, second, "conflict")
	// Other accounts are not limited by alice's.
	login(t, srv, "bob", "one")
}

func TestLegacySession(t *testing.T) {
	srv := start(t)
	c, _ := login(t, srv, "alice", "")
	c.Send(`<iq type='set' id='sess'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>`)
	if el := c.Expect(byID("sess")); el.Attr("type") != "result" {
		t.Fatalf("session: %s", el)
	}
	c.Send(`<iq type='set' id='sess2' to='localhost'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>`)
	if el := c.Expect(byID("sess2")); el.Attr("type") != "result" {
		t.Fatalf("session to the host: %s", el)
	}
}

func TestSecondBind(t *testing.T) {
	srv := start(t)
	c, _ := login(t, srv, "alice", "first")
	c.Send(`<iq type='set' id='again'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>second</resource></bind></iq>`)
	el := c.Expect(byID("again"))
	if got := stanzaError(t, el); got != "not-allowed" {
		t.Fatalf("second bind: %s", el)
	}
	if _, ok := srv.Router().Session(jid.MustParse("alice@localhost/second")); ok {
		t.Fatal("second resource bound")
	}
	roundTrip(t, c, "still")
}
