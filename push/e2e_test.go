package push_test

import (
	"context"
	"crypto/tls"
	"testing"
	"time"

	"mellium.im/sasl"

	"parley.im/parley/config"
	"parley.im/parley/internal/xmpptest"
	"parley.im/parley/router"
	"parley.im/parley/xmppcore"
)

// appServer answers every publish with a result and hands it to the test.
type appServer struct {
	r   *router.Router
	got chan *xmppcore.Element
}

func (a *appServer) Deliver(ctx context.Context, st *router.Stanza) {
	reply := xmppcore.New("", xmppcore.IQ, "type", "result", "id", st.El.Attr("id"),
		"from", st.To.String(), "to", st.From.String())
	a.r.Route(ctx, &router.Stanza{El: reply, From: st.To, To: st.From})
	a.got <- st.El
}

func (a *appServer) next(t *testing.T) *xmppcore.Element {
	t.Helper()
	select {
	case el := <-a.got:
		return el
	case <-time.After(10 * time.Second):
		t.Fatal("no notification")
		return nil
	}
}

func body(iq *xmppcore.Element) string {
	x := iq.Child("http://jabber.org/protocol/pubsub", "pubsub").Child("http://jabber.org/protocol/pubsub", "publish").
		Child("http://jabber.org/protocol/pubsub", "item").Child("urn:xmpp:push:0", "notification").Child("jabber:x:data", "x")
	for f := range x.Children() {
		if f.Attr("var") == "last-message-body" {
			return f.ChildText("jabber:x:data", "value")
		}
	}
	return ""
}

// A phone with stream management loses its network: while its session
// waits to be resumed, each message held for it is pushed once to the
// registration it enabled; after the resumption the messages come in.
func TestDetachedSessionPushes(t *testing.T) {
	srv := xmpptest.Start(t, func(c *config.Config) { c.Push.IncludeBody = true })
	srv.AddUser(t, "alice", "pw")
	srv.AddUser(t, "bob", "pw")
	app := &appServer{r: srv.Router(), got: make(chan *xmppcore.Element, 8)}
	srv.Router().SetComponent("push.example.net", app)

	phone, _ := xmpptest.Login(t, srv, "bob", "pw", "phone")
	phone.Send(`<enable xmlns='urn:xmpp:sm:3' resume='true'/>`)
	en := phone.Expect(func(el *xmppcore.Element) bool { return el.Local == "enabled" })
	phone.Send(`<iq type='set' id='push'><enable xmlns='urn:xmpp:push:0' jid='push.example.net' node='phone-node'/></iq>`)
	phone.Expect(func(el *xmppcore.Element) bool { return el.Attr("id") == "push" && el.Attr("type") == "result" })
	phone.Send(`<presence/>`)
	phone.Send(`<r xmlns='urn:xmpp:sm:3'/>`)
	phone.Expect(func(el *xmppcore.Element) bool { return el.Local == "a" })
	// The network goes: no stream end, no TLS alert.
	phone.Conn.(*tls.Conn).NetConn().Close()
	deadline := time.Now().Add(10 * time.Second)
	for srv.C2S().DetachedCount() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the session was not detached")
		}
		time.Sleep(10 * time.Millisecond)
	}

	alice, _ := xmpptest.Login(t, srv, "alice", "pw", "desk")
	alice.Send(`<message type='chat' to='bob@localhost' id='m1'><body>one</body></message>`)
	if iq := app.next(t); body(iq) != "one" || iq.Attr("from") != "bob@localhost" {
		t.Errorf("first notification: %s", iq)
	}
	alice.Send(`<message type='chat' to='bob@localhost/phone' id='m2'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>`)
	alice.Send(`<message type='chat' to='bob@localhost/phone' id='m3'><body>two</body></message>`)
	// Exactly once per message worth it: the next one is about "two".
	if iq := app.next(t); body(iq) != "two" {
		t.Errorf("second notification: %s", iq)
	}

	c := xmpptest.Dial(t, srv.StartTLSAddr)
	c.OpenStream("localhost")
	c.StartTLS("localhost")
	if el := c.Auth(sasl.ScramSha256, "bob", "pw"); !el.Is(xmppcore.NSSASL, "success") {
		t.Fatalf("login: %s", el)
	}
	c.OpenStream("localhost")
	c.Send(`<resume xmlns='urn:xmpp:sm:3' previd='` + en.Attr("id") + `' h='0'/>`)
	c.Expect(func(el *xmppcore.Element) bool { return el.Local == "resumed" })
	c.Expect(func(el *xmppcore.Element) bool { return el.Attr("id") == "m1" })
	c.Expect(func(el *xmppcore.Element) bool { return el.Attr("id") == "m3" })
}
