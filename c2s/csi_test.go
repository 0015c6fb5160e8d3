package c2s_test

import (
	"testing"

	"parley.im/parley/internal/xmpptest"
)

// until reads what c gets up to the element with id, and returns what came
// before it, as "presence:<status>" or "message:<id>" strings.
func until(t *testing.T, c *xmpptest.Client, id string) []string {
	t.Helper()
	var got []string
	for {
		el := c.Next()
		if el.Attr("id") == id {
			return got
		}
		switch el.Local {
		case "presence":
			got = append(got, "presence:"+el.ChildText("", "status"))
		case "message":
			got = append(got, "message:"+el.Attr("id"))
		}
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// While inactive, presence updates and chat states wait, only the latest
// from each sender kept; the next important stanza (here an IQ result)
// takes them along in order; important messages pass at once.
func TestCSIHoldAndFlush(t *testing.T) {
	srv := start(t)
	a1, _ := login(t, srv, "alice", "one")
	a2, _ := login(t, srv, "alice", "two")
	bob, bobJID := login(t, srv, "bob", "phone")
	bob.Send(`<inactive xmlns='urn:xmpp:csi:0'/>`)
	roundTrip(t, bob, "inactive") // handled before what follows

	for _, s := range []string{"s1", "s2", "s3"} {
		a1.Send(`<presence to='` + bobJID + `'><status>a1-` + s + `</status></presence>`)
	}
	roundTrip(t, a1, "a1-presence")
	a2.Send(`<presence to='` + bobJID + `'><status>a2</status></presence>`)
	roundTrip(t, a2, "a2-sent")
	a1.Send(`<message to='` + bobJID + `' id='cs1' type='chat'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>`)
	a1.Send(`<message to='` + bobJID + `' id='cs2' type='chat'><paused xmlns='http://jabber.org/protocol/chatstates'/><thread>t</thread></message>`)
	roundTrip(t, a1, "a1-sent")

	bob.Send(`<iq type='get' id='ping1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`)
	want := []string{"presence:a1-s3", "presence:a2", "message:cs2"}
	if got := until(t, bob, "ping1"); !equal(got, want) {
		t.Fatalf("before the IQ result: %v, want %v", got, want)
	}

	// A message with a body is important: it goes at once, after what
	// was held.
	a1.Send(`<presence to='` + bobJID + `'><status>a1-s4</status></presence>`)
	a1.Send(`<message to='` + bobJID + `' id='body1' type='chat'><body>hi</body><active xmlns='http://jabber.org/protocol/chatstates'/></message>`)
	want = []string{"presence:a1-s4"}
	if got := until(t, bob, "body1"); !equal(got, want) {
		t.Fatalf("before the message: %v, want %v", got, want)
	}
}

// <active/> flushes what was held before anything the client sends after
// it is answered.
func TestCSIActiveFlushes(t *testing.T) {
	srv := start(t)
	a1, _ := login(t, srv, "alice", "one")
	bob, bobJID := login(t, srv, "bob", "phone")
	bob.Send(`<inactive xmlns='urn:xmpp:csi:0'/>`)
	roundTrip(t, bob, "inactive")
	a1.Send(`<presence to='` + bobJID + `'><status>away</status></presence>`)
	a1.Send(`<message to='` + bobJID + `' id='cs' type='chat'><gone xmlns='http://jabber.org/protocol/chatstates'/></message>`)
	roundTrip(t, a1, "sent")
	bob.Send(`<active xmlns='urn:xmpp:csi:0'/><iq type='get' id='ping2' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`)
	want := []string{"presence:away", "message:cs"}
	if got := until(t, bob, "ping2"); !equal(got, want) {
		t.Fatalf("after <active/>: %v, want %v", got, want)
	}
	// Active again: presence passes at once.
	a1.Send(`<presence to='` + bobJID + `' id='p-now'><status>back</status></presence>`)
	if el := bob.Expect(byID("p-now")); el.ChildText("", "status") != "back" {
		t.Fatalf("got %s", el)
	}
	bob.Send(`<unknown xmlns='urn:xmpp:csi:0'/>`)
	wantStreamError(t, bob, "unsupported-stanza-type")
}

// The feature is offered after authentication, beside stream management.
func TestCSIFeature(t *testing.T) {
	srv := start(t)
	c := authenticated(t, srv, "alice")
	for _, f := range []struct{ ns, local string }{{"urn:xmpp:csi:0", "csi"}, {nsSM, "sm"}} {
		if c.Features.Child(f.ns, f.local) == nil {
			t.Errorf("%s not in %s", f.local, c.Features)
		}
	}
}
