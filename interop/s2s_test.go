//go:build unix

package interop_test

import (
	"crypto/sha1" //nolint:gosec // XEP-0115 verification strings are SHA-1
	"encoding/base64"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"mellium.im/sasl"

	"parley.im/parley/config"
	"parley.im/parley/internal/routertest"
	"parley.im/parley/internal/xmpptest"
	"parley.im/parley/xmppcore"
)

// s2sClient is a raw client logged in to one side of a federation test.
type s2sClient struct {
	*xmpptest.Client
	t    *testing.T
	name string
	jid  string
}

// s2sLogin logs user in to host at addr (STARTTLS), binds, and sends
// initial presence.
func s2sLogin(t *testing.T, addr, host, user, password string, mech sasl.Mechanism) *s2sClient {
	t.Helper()
	c := xmpptest.Dial(t, addr)
	c.OpenStream(host)
	c.StartTLS(host)
	if el := c.Auth(mech, user, password); !el.Is(xmppcore.NSSASL, "success") {
		t.Fatalf("login %s@%s: %s", user, host, el)
	}
	c.OpenStream(host)
	j := c.Bind("fed")
	// Like a real client: fetch the roster (which makes the resource
	// "interested", RFC 6121 §2.1.6), then become available.
	c.Send(`<iq type='get' id='roster0'><query xmlns='jabber:iq:roster'/></iq>`)
	if el := c.Expect(func(el *xmppcore.Element) bool { return el.Attr("id") == "roster0" }); el.Attr("type") != "result" {
		t.Fatalf("roster get: %s", el)
	}
	c.Send(`<presence/>`)
	return &s2sClient{Client: c, t: t, name: user + "@" + host, jid: j}
}

// expect reads until an element matches, failing the test with what it
// skipped after xmpptest.Timeout.
func (c *s2sClient) expect(what string, match func(*xmppcore.Element) bool) *xmppcore.Element {
	c.t.Helper()
	c.t.Logf("%s waits for %s", c.name, what)
	return c.Expect(func(el *xmppcore.Element) bool {
		// Answer roster pushes and pings as a client must.
		if el.Local == xmppcore.IQ && (el.Attr("type") == "set" || el.Attr("type") == "get") && !match(el) {
			c.Send(`<iq type='result' id='` + xmppcore.EscapeAttr(el.Attr("id")) + `'/>`)
			return false
		}
		return match(el)
	})
}

func presenceFrom(prefix, typ string) func(*xmppcore.Element) bool {
	return func(el *xmppcore.Element) bool {
		return el.Local == xmppcore.Presence && strings.HasPrefix(el.Attr("from"), prefix) && el.Attr("type") == typ
	}
}

func messageFrom(prefix, typ, body string) func(*xmppcore.Element) bool {
	return func(el *xmppcore.Element) bool {
		return el.Local == xmppcore.Message && strings.HasPrefix(el.Attr("from"), prefix) && el.Attr("type") == typ &&
			el.ChildText("", "body") == body
	}
}

func hasStatus(el *xmppcore.Element, code string) bool {
	x := el.Child("http://jabber.org/protocol/muc#user", "x")
	if x == nil {
		return false
	}
	for ch := range x.Children() {
		if ch.Local == "status" && ch.Attr("code") == code {
			return true
		}
	}
	return false
}

// startFederated runs a Parley for host with federation on, its s2s
// listener at s2sAddr, and the other domains mapped statically.
func startFederated(t *testing.T, log *logBuffer, host, s2sAddr string, static ...string) *xmpptest.Server {
	t.Helper()
	return xmpptest.StartWithLog(t, log, func(c *config.Config) {
		c.Hosts = []config.Host{{Name: host}}
		c.S2S.Enabled = true
		c.S2S.Listen = []string{s2sAddr}
		c.S2S.StaticHosts = static
	})
}

// federate runs the scenario of the issue between alice on Parley
// (a.localhost) and bob on the other server: they subscribe to each other,
// chat both ways, and bob joins alice's room on conference.a.localhost.
// remoteRoom, when set, is a room on bob's side that alice joins too.
func federate(t *testing.T, alice, bob *s2sClient, aliceBare, bobBare, remoteRoom string) {
	// Subscriptions, both ways.
	alice.Send(`<presence to='` + bobBare + `' type='subscribe'/>`)
	bob.expect("alice's subscription request", presenceFrom(aliceBare, "subscribe"))
	bob.Send(`<presence to='` + aliceBare + `' type='subscribed'/>`)
	alice.expect("bob's approval", presenceFrom(bobBare, "subscribed"))
	alice.expect("bob's presence", presenceFrom(bobBare+"/", ""))

	bob.Send(`<presence to='` + aliceBare + `' type='subscribe'/>`)
	alice.expect("bob's subscription request", presenceFrom(bobBare, "subscribe"))
	alice.Send(`<presence to='` + bobBare + `' type='subscribed'/>`)
	bob.expect("alice's approval", presenceFrom(aliceBare, "subscribed"))
	bob.expect("alice's presence", presenceFrom(aliceBare+"/", ""))

	// Chat both ways.
	alice.Send(`<message type='chat' id='c1' to='` + bob.jid + `'><body>hello from a</body></message>`)
	bob.expect("alice's message", messageFrom(aliceBare+"/", "chat", "hello from a"))
	bob.Send(`<message type='chat' id='c2' to='` + aliceBare + `'><body>hello from b</body></message>`)
	alice.expect("bob's message", messageFrom(bobBare+"/", "chat", "hello from b"))

	// An IQ across: bob asks alice's server for its version.
	bob.Send(`<iq type='get' id='v1' to='a.localhost'><query xmlns='jabber:iq:version'/></iq>`)
	v := bob.expect("a.localhost's version", func(el *xmppcore.Element) bool { return el.Local == xmppcore.IQ && el.Attr("id") == "v1" })
	if v.Attr("type") != "result" || v.Child("jabber:iq:version", "query").ChildText("jabber:iq:version", "name") != "Parley" {
		t.Errorf("version answer: %s", v)
	}

	// bob (remote) joins alice's room on Parley.
	room := "lobby@conference.a.localhost"
	alice.Send(`<presence to='` + room + `/alice'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	alice.expect("the room's self-presence", func(el *xmppcore.Element) bool {
		return presenceFrom(room+"/alice", "")(el) && hasStatus(el, "110")
	})
	alice.Send(`<iq type='set' id='own1' to='` + room + `'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'/></query></iq>`)
	if el := alice.expect("the instant room", func(el *xmppcore.Element) bool { return el.Attr("id") == "own1" }); el.Attr("type") != "result" {
		t.Fatalf("instant room: %s", el)
	}
	bob.Send(`<presence to='` + room + `/bob'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	bob.expect("self-presence from the Parley room", func(el *xmppcore.Element) bool {
		return presenceFrom(room+"/bob", "")(el) && hasStatus(el, "110")
	})
	alice.expect("bob in the room", presenceFrom(room+"/bob", ""))
	bob.Send(`<message type='groupchat' to='` + room + `'><body>bob in the room</body></message>`)
	alice.expect("bob's groupchat", messageFrom(room+"/bob", "groupchat", "bob in the room"))
	bob.expect("the echo of bob's groupchat", messageFrom(room+"/bob", "groupchat", "bob in the room"))

	if remoteRoom != "" {
		// alice (local) joins a room on bob's side.
		alice.Send(`<presence to='` + remoteRoom + `/alice'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
		alice.expect("self-presence from the remote room", func(el *xmppcore.Element) bool {
			return presenceFrom(remoteRoom+"/alice", "")(el) && hasStatus(el, "110")
		})
		alice.Send(`<message type='groupchat' to='` + remoteRoom + `'><body>alice abroad</body></message>`)
		alice.expect("the echo of alice's groupchat", messageFrom(remoteRoom+"/alice", "groupchat", "alice abroad"))
	}
}

// TestS2SParleyToParley: two Parley servers, a.localhost and b.localhost,
// federate on loopback (self-signed certificates, so dialback).
func TestS2SParleyToParley(t *testing.T) {
	addrA, addrB := freePort(t), freePort(t)
	logA, logB := newLogBuffer(), newLogBuffer()
	a := startFederated(t, logA, "a.localhost", addrA, "b.localhost="+addrB, "conference.b.localhost="+addrB)
	b := startFederated(t, logB, "b.localhost", addrB, "a.localhost="+addrA, "conference.a.localhost="+addrA)
	defer func() {
		if t.Failed() {
			t.Logf("a.localhost log:\n%s\nb.localhost log:\n%s", logA.String(), logB.String())
		}
	}()
	a.AddUser(t, "alice", "alice-secret")
	b.AddUser(t, "bob", "bob-secret")
	alice := s2sLogin(t, a.StartTLSAddr, "a.localhost", "alice", "alice-secret", sasl.ScramSha256)
	bob := s2sLogin(t, b.StartTLSAddr, "b.localhost", "bob", "bob-secret", sasl.ScramSha256)

	// bob creates a room on b for alice to join.
	broom := "tea@conference.b.localhost"
	bob.Send(`<presence to='` + broom + `/bob'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	bob.expect("self-presence in his room", func(el *xmppcore.Element) bool {
		return presenceFrom(broom+"/bob", "")(el) && hasStatus(el, "110")
	})
	bob.Send(`<iq type='set' id='own2' to='` + broom + `'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'/></query></iq>`)
	bob.expect("the instant room", func(el *xmppcore.Element) bool { return el.Attr("id") == "own2" })

	federate(t, alice, bob, "alice@a.localhost", "bob@b.localhost", broom)
	bob.expect("alice in his room", presenceFrom(broom+"/alice", ""))

	// PEP across: bob's client shows caps asking for nick notifications;
	// a.localhost verifies them with a disco#info query over s2s, and
	// alice's nick reaches bob.
	const nsNick = "http://jabber.org/protocol/nick"
	features := []string{"http://jabber.org/protocol/caps", "http://jabber.org/protocol/disco#info", nsNick + "+notify"}
	sum := sha1.Sum([]byte("client/pc//fed<" + strings.Join(features, "<") + "<"))
	ver := base64.StdEncoding.EncodeToString(sum[:])
	bob.Send(`<presence><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='https://parley.test' ver='` + ver + `'/></presence>`)
	var fx strings.Builder
	for _, f := range features {
		fx.WriteString(`<feature var='` + f + `'/>`)
	}
	// Both servers ask (b.localhost for its own user, a.localhost for
	// alice): answer each until a.localhost's query has been answered.
	for {
		q := bob.expect("a caps query", func(el *xmppcore.Element) bool {
			return el.Local == xmppcore.IQ && el.Attr("type") == "get" && el.Child("http://jabber.org/protocol/disco#info", "query") != nil
		})
		bob.Send(`<iq type='result' id='` + xmppcore.EscapeAttr(q.Attr("id")) + `' to='` + xmppcore.EscapeAttr(q.Attr("from")) + `'><query xmlns='http://jabber.org/protocol/disco#info' node='` +
			xmppcore.EscapeAttr(q.Child("http://jabber.org/protocol/disco#info", "query").Attr("node")) + `'><identity category='client' type='pc' name='fed'/>` + fx.String() + `</query></iq>`)
		if q.Attr("from") == "alice@a.localhost" {
			break
		}
	}
	// The answer is handled asynchronously on a.localhost: publish until
	// bob gets the event (each publish replaces the single item).
	got := false
	for i := 0; i < 50 && !got; i++ {
		id := "pub" + strconv.Itoa(i)
		alice.Send(`<iq type='set' id='` + id + `'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='` + nsNick + `'><item id='current'><nick xmlns='` + nsNick + `'>Alice</nick></item></publish></pubsub></iq>`)
		alice.expect("the publish result", func(el *xmppcore.Element) bool { return el.Attr("id") == id })
		bob.Send(`<iq type='get' id='sync` + id + `' to='b.localhost'><ping xmlns='urn:xmpp:ping'/></iq>`)
		for {
			el := bob.expect("an event or the ping answer", func(el *xmppcore.Element) bool {
				return el.Attr("id") == "sync"+id || el.Local == xmppcore.Message && el.Attr("from") == "alice@a.localhost"
			})
			if el.Local == xmppcore.Message {
				if ev := el.Child("http://jabber.org/protocol/pubsub#event", "event"); ev != nil {
					got = true
				}
				continue
			}
			break
		}
		if !got {
			time.Sleep(20 * time.Millisecond)
		}
	}
	if !got {
		t.Fatal("bob never got alice's PEP nick over s2s")
	}

	for _, want := range []string{"outbound stream authenticated", "inbound domain authenticated by dialback", "answered a dialback verification"} {
		if !strings.Contains(logA.String()+logB.String(), want) {
			t.Errorf("no %q in the logs", want)
		}
	}
}

// TestS2SDisabledNoConnection: with federation off and an allow list, the
// real server dials nothing for other domains (their listener never sees a
// connection), answers remote-server-not-found, and reaches the allowed one.
func TestS2SDisabledNoConnection(t *testing.T) {
	denied, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer denied.Close()
	accepted := make(chan struct{}, 1)
	go func() {
		if c, err := denied.Accept(); err == nil {
			accepted <- struct{}{}
			c.Close()
		}
	}()
	addrA, addrP := freePort(t), freePort(t)
	logA, logP := newLogBuffer(), newLogBuffer()
	a := xmpptest.StartWithLog(t, logA, func(c *config.Config) {
		c.Hosts = []config.Host{{Name: "a.localhost"}}
		c.S2S.Enabled = false
		c.S2S.Allow = []string{"push.localhost", "appserver.push.localhost"}
		c.S2S.Listen = []string{addrA}
		c.S2S.StaticHosts = []string{"push.localhost=" + addrP, "appserver.push.localhost=" + addrP, "b.localhost=" + denied.Addr().String()}
	})
	p := startFederated(t, logP, "push.localhost", addrP, "a.localhost="+addrA)
	// The XEP-0357 app server: a component of the remote server.
	appServer := &routertest.Component{}
	p.Router().SetComponent("appserver.push.localhost", appServer)
	a.AddUser(t, "alice", "alice-secret")
	a.AddUser(t, "carol", "carol-secret")
	p.AddUser(t, "app", "app-secret")
	alice := s2sLogin(t, a.StartTLSAddr, "a.localhost", "alice", "alice-secret", sasl.ScramSha256)
	app := s2sLogin(t, p.StartTLSAddr, "push.localhost", "app", "app-secret", sasl.ScramSha256)

	alice.Send(`<message type='chat' id='d1' to='bob@b.localhost'><body>no</body></message>`)
	el := alice.expect("the bounce", func(el *xmppcore.Element) bool { return el.Attr("id") == "d1" })
	if el.Attr("type") != "error" || el.Child("", "error").Child(xmppcore.NSStanzas, "remote-server-not-found") == nil {
		t.Fatalf("got %s", el)
	}
	alice.Send(`<message type='chat' id='p1' to='` + app.jid + `'><body>push</body></message>`)
	app.expect("the allowed message", messageFrom("alice@a.localhost/", "chat", "push"))
	// The allowed stream is up, so anything dialed for b would have been
	// dialed by now; and the bounce was decided before any dial.
	select {
	case <-accepted:
		t.Fatal("a connection was made to the server of a domain that is not allowed")
	default:
	}
	if strings.Contains(logA.String(), "b.localhost") && !strings.Contains(logA.String(), "stanza to a domain federation does not reach") {
		t.Errorf("unexpected log about b.localhost:\n%s", logA.String())
	}

	// Push notifications reach the allow-listed app server: alice enables
	// push, goes unavailable, and carol's message for her is notified.
	alice.Send(`<iq type='set' id='push1'><enable xmlns='urn:xmpp:push:0' jid='appserver.push.localhost' node='dev1'/></iq>`)
	if el := alice.expect("push enabled", func(el *xmppcore.Element) bool { return el.Attr("id") == "push1" }); el.Attr("type") != "result" {
		t.Fatalf("enable push: %s", el)
	}
	alice.Send(`<presence type='unavailable'/><iq type='get' id='sync1' to='a.localhost'><ping xmlns='urn:xmpp:ping'/></iq>`)
	alice.expect("the ping answer", func(el *xmppcore.Element) bool { return el.Attr("id") == "sync1" })
	carol := s2sLogin(t, a.StartTLSAddr, "a.localhost", "carol", "carol-secret", sasl.ScramSha256)
	carol.Send(`<message type='chat' id='w1' to='alice@a.localhost'><body>wake up</body></message>`)
	deadline := time.Now().Add(xmpptest.Timeout)
	for {
		var got *xmppcore.Element
		for _, st := range appServer.Got() {
			if st.El.Local == xmppcore.IQ && st.From.String() == "alice@a.localhost" {
				got = st.El
			}
		}
		if got != nil {
			pub := got.Child("http://jabber.org/protocol/pubsub", "pubsub")
			if pub == nil || pub.Child("http://jabber.org/protocol/pubsub", "publish").Attr("node") != "dev1" {
				t.Fatalf("the app server got %s", got)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no push notification reached the app server; a.localhost log:\n%s", logA.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
