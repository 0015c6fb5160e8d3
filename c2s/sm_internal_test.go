package c2s

import (
	"math"
	"testing"

	"parley.im/parley/xmppcore"
)

// Acks count modulo 2^32: h wraps from 2^32-1 to 0 (XEP-0198 §4).
func TestSMAckWraps(t *testing.T) {
	sm := &smState{counting: true, max: 100, acked: math.MaxUint32 - 1}
	for range 4 {
		sm.wrote(xmppcore.New("", "message"))
	}
	if sent, _ := sm.ack(math.MaxUint32 - 1); sent != 2 {
		t.Fatalf("sent after wrapping = %d, want 2", sent)
	}
	if _, ok := sm.ack(math.MaxUint32); !ok || len(sm.unacked) != 3 {
		t.Fatalf("ack of 2^32-1: ok=%v, %d left", ok, len(sm.unacked))
	}
	if _, ok := sm.ack(1); !ok || len(sm.unacked) != 1 {
		t.Fatalf("ack across the wrap: ok=%v, %d left", ok, len(sm.unacked))
	}
	if _, ok := sm.ack(3); ok {
		t.Fatal("an h above what was sent was accepted")
	}
	if _, ok := sm.ack(2); !ok || len(sm.unacked) != 0 {
		t.Fatalf("last ack: ok=%v, %d left", ok, len(sm.unacked))
	}
	// An h behind the last one is as far from it as 2^32 minus a little:
	// above what was sent.
	if _, ok := sm.ack(1); ok {
		t.Fatal("an h going backwards was accepted")
	}
	// The inbound counter wraps the same way.
	sm.inH = math.MaxUint32
	sm.inH++
	if sm.inH != 0 {
		t.Fatalf("inH after 2^32-1 = %d", sm.inH)
	}
}

// What CSI may hold back, and what must pass.
func TestCSIHoldable(t *testing.T) {
	for _, tc := range []struct {
		xml  string
		hold bool
	}{
		{`<presence from='a@x/r'/>`, true},
		{`<presence from='a@x/r' type='unavailable'/>`, true},
		{`<presence from='a@x' type='subscribe'/>`, false},
		{`<presence from='a@x/r' type='error'/>`, false},
		{`<message from='a@x/r'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>`, true},
		{`<message from='a@x/r'><paused xmlns='http://jabber.org/protocol/chatstates'/><thread>t</thread><no-store xmlns='urn:xmpp:hints'/></message>`, true},
		{`<message from='a@x/r'><body>hi</body><active xmlns='http://jabber.org/protocol/chatstates'/></message>`, false},
		{`<message from='a@x/r'><encrypted xmlns='eu.siacs.conversations.axolotl'/><active xmlns='http://jabber.org/protocol/chatstates'/></message>`, false},
		{`<message from='a@x/r'><request xmlns='urn:xmpp:receipts'/><active xmlns='http://jabber.org/protocol/chatstates'/></message>`, false},
		{`<message from='a@x/r'><received xmlns='urn:xmpp:carbons:2'/></message>`, false},
		{`<message from='a@x/r' type='error'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>`, false},
		{`<message from='a@x/r'/>`, false},
		{`<iq from='a@x/r' type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq>`, false},
	} {
		el, err := xmppcore.Parse([]byte(tc.xml))
		if err != nil {
			t.Fatal(err)
		}
		if _, got := holdable(el); got != tc.hold {
			t.Errorf("%s: held %v, want %v", tc.xml, got, tc.hold)
		}
	}
}
