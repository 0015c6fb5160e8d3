package c2s_test

import (
	"strings"
	"testing"
)

const nsSM3 = "urn:xmpp:sm:3"

// TestBind2InlineSM: stream management enabled inline in Bind2, the TCP
// connection cut while a message is unacknowledged, and the session
// resumed inline in SASL2 (XEP-0388 <resume/>), which resends it.
func TestBind2InlineSM(t *testing.T) {
	srv := start(t)
	c1 := secured(t, srv)
	inline := c1.Features.Child(nsSASL2, "authentication").Child(nsSASL2, "inline")
	if inline.Child(nsSM3, "sm") == nil {
		t.Fatalf("no inline stream management in %s", inline)
	}
	el, _ := sasl2Auth(t, c1, scram("alice", password), userAgent(agentA)+
		`<bind xmlns='urn:xmpp:bind:0'><tag>sm</tag><enable xmlns='urn:xmpp:sm:3' resume='true'/></bind>`)
	full := wantSASL2Success(t, c1, el)
	enabled := el.Child(nsBind2, "bound").Child(nsSM3, "enabled")
	if enabled == nil || enabled.Attr("id") == "" || enabled.Attr("resume") != "true" {
		t.Fatalf("no resumable <enabled/> in <bound/>: %s", el)
	}
	if c1.Features.Child(nsSM3, "sm") != nil {
		t.Errorf("stream management offered again after inline enable: %s", c1.Features)
	}
	c1.Send(`<presence/>`)
	roundTrip(t, c1, "p1")

	bob, _ := login(t, srv, "bob", "b")
	bob.Send(`<message type='chat' to='` + full + `' id='m1'><body>while you were away</body></message>`)
	c1.Expect(byID("m1")) // delivered, never acknowledged
	c1.Conn.Close()

	c2 := secured(t, srv)
	el, _ = sasl2Auth(t, c2, scram("alice", password), userAgent(agentA)+
		`<resume xmlns='urn:xmpp:sm:3' previd='`+enabled.Attr("id")+`' h='0'/><bind xmlns='urn:xmpp:bind:0'><tag>sm</tag></bind>`)
	if got := wantSASL2Success(t, c2, el); got != full {
		t.Errorf("authorization-identifier after resumption %q, want %q", got, full)
	}
	if el.Child(nsSM3, "resumed") == nil || el.Child(nsBind2, "bound") != nil {
		t.Fatalf("want <resumed/> and no <bound/>: %s", el)
	}
	m := c2.Expect(byID("m1"))
	if !strings.Contains(m.String(), "while you were away") {
		t.Errorf("resent %s", m)
	}
	roundTrip(t, c2, "p2")

	// A wrong id: <failed/>, and Bind2 binds a new session.
	c3 := secured(t, srv)
	el, _ = sasl2Auth(t, c3, scram("alice", password), userAgent(agentB)+
		`<resume xmlns='urn:xmpp:sm:3' previd='nope' h='0'/><bind xmlns='urn:xmpp:bind:0'/>`)
	wantSASL2Success(t, c3, el)
	if el.Child(nsSM3, "failed") == nil || el.Child(nsBind2, "bound") == nil {
		t.Fatalf("want <failed/> then <bound/>: %s", el)
	}
	roundTrip(t, c3, "p3")
}

// TestBind2InlineCSI: a session that Bind2 starts inactive holds chat
// states back, keeping only the latest per contact, until a message that
// matters; one started without <inactive/> gets them all.
func TestBind2InlineCSI(t *testing.T) {
	srv := start(t)
	bob, _ := login(t, srv, "bob", "b")
	for _, inactive := range []bool{true, false} {
		c := secured(t, srv)
		var vars []string
		for f := range c.Features.Child(nsSASL2, "authentication").Child(nsSASL2, "inline").Child(nsBind2, "bind").Child(nsBind2, "inline").Children() {
			vars = append(vars, f.Attr("var"))
		}
		if !strings.Contains(strings.Join(vars, " "), "urn:xmpp:csi:0") {
			t.Fatalf("Bind2 inline features %v lack CSI", vars)
		}
		csi := ""
		if inactive {
			csi = `<inactive xmlns='urn:xmpp:csi:0'/>`
		}
		el, _ := sasl2Auth(t, c, scram("alice", password), `<bind xmlns='urn:xmpp:bind:0'>`+csi+`</bind>`)
		full := wantSASL2Success(t, c, el)
		for _, id := range []string{"cs1", "cs2"} {
			bob.Send(`<message type='chat' to='` + full + `' id='` + id + `'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>`)
		}
		bob.Send(`<message type='chat' to='` + full + `' id='m3'><body>hi</body></message>`)
		var got []string
		for len(got) == 0 || got[len(got)-1] != "m3" {
			if m := c.Next(); m.Local == "message" {
				got = append(got, m.Attr("id"))
			}
		}
		want := "cs1 cs2 m3"
		if inactive {
			want = "cs2 m3"
		}
		if strings.Join(got, " ") != want {
			t.Errorf("inactive %v: received %v, want %s", inactive, got, want)
		}
	}
}
