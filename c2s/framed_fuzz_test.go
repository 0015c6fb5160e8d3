package c2s

import (
	"testing"

	"parley.im/parley/xmppcore"
)

// FuzzFrame feeds arbitrary frames to the framed-transport parser: it must
// never panic, and whatever it accepts must be exactly one element that,
// written back as a frame, parses again to the same thing.
func FuzzFrame(f *testing.F) {
	for _, s := range []string{
		`<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>`,
		`<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>`,
		`<message xmlns='jabber:client' to='a@b'><body>x</body></message>`,
		`<r xmlns='urn:xmpp:sm:3'/>`,
		`<a/><b/>`,
		`<a>`,
		`</stream:stream><a/>`,
		`<a/></stream:stream><stream:stream xmlns='jabber:client'>`,
		`<stream:features/>`,
		"",
		" ",
	} {
		f.Add([]byte(s))
	}
	c := &conn{srv: New(Config{Limits: xmppcore.Limits{MaxStanzaSize: 4096, MaxDepth: 8}}, Deps{})}
	f.Fuzz(func(t *testing.T, frame []byte) {
		el, err := c.parseFrame(frame)
		if err != nil {
			return
		}
		again, err := c.parseFrame(appendFrame(nil, el))
		if err != nil {
			t.Fatalf("%q parsed, but not once written back as %q: %v", frame, appendFrame(nil, el), err)
		}
		if a, b := el.String(), again.String(); a != b {
			t.Fatalf("round trip changed %s into %s", a, b)
		}
	})
}
