package c2s_test

import (
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"parley.im/parley/config"
	"parley.im/parley/internal/xmpptest"
	"parley.im/parley/xmppcore"
)

// available sends initial presence and waits until it is recorded.
func available(t *testing.T, c *xmpptest.Client) {
	t.Helper()
	c.Send(`<presence/>`)
	roundTrip(t, c, "presence-done")
}

func TestChatBetweenClients(t *testing.T) {
	srv := start(t)
	alice, aliceJID := login(t, srv, "alice", "home")
	bob, bobJID := login(t, srv, "bob", "phone")
	available(t, bob)

	for i, tc := range []struct{ to, from string }{
		{"bob@localhost", ""},                           // bare, no from
		{bobJID, ""},                                    // full, no from
		{"Bob@LocalHost", "alice@localhost"},            // bare from, odd case
		{"bob@localhost/phone", "ALICE@localhost/home"}, // own JID, other case
	} {
		id := "chat" + strconv.Itoa(i)
		from := ""
		if tc.from != "" {
			from = ` from='` + tc.from + `'`
		}
		alice.Send(`<message type='chat' id='` + id + `' to='` + tc.to + `'` + from + `><body>hello ` + id + `</body></message>`)
		el := bob.Expect(byID(id))
		if el.Attr("from") != aliceJID || el.ChildText("", "body") != "hello "+id || el.Attr("type") != "chat" {
			t.Fatalf("bob got %s; want from=%s", el, aliceJID)
		}
	}
	// And back, to alice's bare JID once she is available.
	available(t, alice)
	bob.Send(`<message type='chat' id='back' to='alice@localhost'><body>hi</body></message>`)
	if el := alice.Expect(byID("back")); el.Attr("from") != bobJID {
		t.Fatalf("alice got %s", el)
	}
}

func TestErrorsToClients(t *testing.T) {
	srv := start(t)
	alice, aliceJID := login(t, srv, "alice", "")
	for _, tc := range []struct{ stanza, want string }{
		{`<message type='chat' id='e1' to='nobody@localhost'><body>x</body></message>`, "service-unavailable"},
		{`<iq type='get' id='e2' to='nobody@localhost'><ping xmlns='urn:xmpp:ping'/></iq>`, "service-unavailable"},
		{`<message type='chat' id='e3' to='bob@example.net'><body>x</body></message>`, "remote-server-not-found"},
		{`<iq type='get' id='e4' to='example.net'><ping xmlns='urn:xmpp:ping'/></iq>`, "remote-server-not-found"},
		{`<iq type='get' id='e5' to='localhost'><query xmlns='urn:example:unknown'/></iq>`, "service-unavailable"},
		{`<iq type='set' id='e6'><query xmlns='urn:example:unknown'/></iq>`, "service-unavailable"},
		{`<iq type='get' id='e7' to='localhost'/>`, "bad-request"},
		{`<iq type='get' id='e8' to='localhost'><a xmlns='urn:x'/><b xmlns='urn:x'/></iq>`, "bad-request"},
		{`<iq type='fetch' id='e9' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`, "bad-request"},
		{`<presence type='bogus' id='e10'/>`, "bad-request"},
		{`<message id='e11' to='bob@@localhost'/>`, "jid-malformed"},
		{`<message type='groupchat' id='e12' to='bob@localhost'><body>x</body></message>`, "service-unavailable"},
		// Addresses mellium's parser accepts but prints as something that
		// does not parse back ("." for "..", a mapped label the IDNA rules
		// refuse): the server must not answer from them.
		{`<iq type='get' id='e13' to='..'><ping xmlns='urn:xmpp:ping'/></iq>`, "jid-malformed"},
		{`<message type='chat' id='e14' to='bob@Åℶ'><body>x</body></message>`, "jid-malformed"},
	} {
		alice.Send(tc.stanza)
		id := xmpptestID(t, tc.stanza)
		el := alice.Expect(byID(id))
		if got := stanzaError(t, el); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.stanza, el, tc.want)
		}
		if el.Attr("to") != "" && el.Attr("to") != aliceJID {
			t.Errorf("%s: error addressed to %s", tc.stanza, el.Attr("to"))
		}
	}
	// A presence to an unknown user is dropped; an error is never
	// answered.
	alice.Send(`<presence type='subscribe' id='p1' to='nobody@localhost'/>`)
	alice.Send(`<message type='error' id='p2' to='nobody@localhost'/>`)
	alice.Send(`<iq type='result' id='p3' to='nobody@localhost'/>`)
	alice.Send(`<iq type='get' id='last' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`)
	alice.Expect(func(el *xmppcore.Element) bool {
		if id := el.Attr("id"); id == "p1" || id == "p2" || id == "p3" {
			t.Fatalf("answered %s", el)
		}
		return el.Attr("id") == "last"
	})
}

// xmpptestID extracts the id attribute from a literal stanza.
func xmpptestID(t *testing.T, s string) string {
	t.Helper()
	_, rest, ok := strings.Cut(s, "id='")
	id, _, ok2 := strings.Cut(rest, "'")
	if !ok || !ok2 {
		t.Fatalf("no id in %s", s)
	}
	return id
}

func TestDiscoInfoServer(t *testing.T) {
	srv := start(t)
	c, _ := login(t, srv, "alice", "")
	c.Send(`<iq type='get' id='disco' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	el := c.Expect(byID("disco"))
	q := el.Child("http://jabber.org/protocol/disco#info", "query")
	if el.Attr("type") != "result" || el.Attr("from") != "localhost" || q == nil {
		t.Fatalf("disco#info: %s", el)
	}
	var features []string
	for ch := range q.Children() {
		if ch.Local == "feature" {
			features = append(features, ch.Attr("var"))
		}
	}
	for _, want := range []string{"urn:xmpp:ping", "jabber:iq:version", "http://jabber.org/protocol/disco#info"} {
		if !slices.Contains(features, want) {
			t.Errorf("disco#info lacks %s: %v", want, features)
		}
	}
	// The server answers a ping and a version query.
	roundTrip(t, c, "ping")
	c.Send(`<iq type='get' id='ver' to='localhost'><query xmlns='jabber:iq:version'/></iq>`)
	if el := c.Expect(byID("ver")); el.Attr("type") != "result" || el.Child("jabber:iq:version", "query").ChildText("jabber:iq:version", "name") == "" {
		t.Fatalf("version: %s", el)
	}
}

// TestSlowReader: a client that stops reading while it is sent a lot is
// disconnected once its queue is full, and does not slow anyone else.
func TestSlowReader(t *testing.T) {
	srv := start(t, func(cfg *config.Config) { cfg.C2S.QueueSize = 16 })
	alice, _ := login(t, srv, "alice", "flood")
	carol, carolJID := login(t, srv, "carol", "chat")
	available(t, alice)
	slow, slowJID := login(t, srv, "bob", "slow")
	available(t, slow)

	// Flood bob until the server drops his session: nothing else would
	// close it while he reads nothing (the write timeout is 30 s).
	slowFull := jid.MustParse(slowJID)
	gone := func() bool {
		_, ok := srv.Router().Session(slowFull)
		return !ok
	}
	body := strings.Repeat("flood ", 100<<10/6)
	for batch := 0; batch < 200 && !gone(); batch++ {
		// Batches smaller than alice's own queue, each followed by a
		// round trip that reads whatever came back to her (errors once
		// bob's session refuses messages).
		for i := range 8 {
			alice.Send(`<message type='chat' to='` + slowJID + `' id='f` + strconv.Itoa(batch*8+i) + `'><body>` + body + `</body></message>`)
		}
		roundTrip(t, alice, "sync"+strconv.Itoa(batch))
	}

	// The others go on, with bob's session stuck or gone.
	carol.Send(`<message type='chat' id='c1' to='alice@localhost/flood'><body>still there?</body></message>`)
	if el := alice.Expect(byID("c1")); el.Attr("from") != carolJID {
		t.Fatalf("alice got %s", el)
	}
	alice.Send(`<message type='chat' id='c2' to='` + carolJID + `'><body>yes</body></message>`)
	carol.Expect(byID("c2"))

	// The slow session is closed without waiting for the write timeout.
	eventually(t, "slow session unbound", gone)
	// Its connection ends: reading drains what was buffered, then stops.
	_ = slow.Conn.SetReadDeadline(time.Now().Add(xmpptest.Timeout))
	_, err := io.Copy(io.Discard, slow.Conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the slow client's connection is still open")
	}
	// Alice was not disconnected.
	roundTrip(t, alice, "alice-alive")
}

func TestShutdown(t *testing.T) {
	srv := start(t)
	bound, _ := login(t, srv, "alice", "")
	negotiating := secured(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), xmpptest.Timeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	wantStreamError(t, bound, "system-shutdown")
	wantStreamError(t, negotiating, "system-shutdown")
	if n := srv.Router().SessionCount(); n != 0 {
		t.Fatalf("%d sessions left after shutdown", n)
	}
	// No new connection is accepted.
	if conn, err := net.DialTimeout("tcp", srv.StartTLSAddr, time.Second); err == nil {
		conn.Close()
		t.Fatal("the listener still accepts after shutdown")
	}
}

// TestClientClosesStream: the client's </stream:stream> is answered with
// the server's, the connection ends and the session is unbound; during
// negotiation too.
func TestClientClosesStream(t *testing.T) {
	srv := start(t)
	c, full := login(t, srv, "alice", "bye")
	c.Send(`</stream:stream>`)
	if el, err := c.NextErr(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the client's end of stream: %v, %v", el, err)
	}
	c.ExpectConnClosed()
	eventually(t, "session unbound", func() bool {
		_, ok := srv.Router().Session(jid.MustParse(full))
		return !ok
	})

	c = secured(t, srv)
	c.Send(`</stream:stream>`)
	if el, err := c.NextErr(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the client's end of stream: %v, %v", el, err)
	}
	c.ExpectConnClosed()
}
