package bosh

import (
	"testing"

	"parley.im/parley/xmppcore"
)

// FuzzParseBody feeds request bodies to the parser: it must never panic,
// and every frame it returns must be one element that parses again on its
// own, as c2s will parse it.
func FuzzParseBody(f *testing.F) {
	for _, s := range []string{
		`<body xmlns='http://jabber.org/protocol/httpbind' rid='1' to='localhost' xmpp:version='1.0' xmlns:xmpp='urn:xmpp:xbosh'/>`,
		`<body xmlns='http://jabber.org/protocol/httpbind' rid='2' sid='x'><message xmlns='jabber:client' to='a@b'><body>hi</body></message><presence/></body>`,
		`<body xmlns='http://jabber.org/protocol/httpbind' rid='3' sid='x'><auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGEAYg==</auth></body>`,
		`<?xml version='1.0'?><body xmlns='http://jabber.org/protocol/httpbind' rid='4' sid='x' type='terminate'/>`,
		`<body rid='1'/>`, `<body xmlns='http://jabber.org/protocol/httpbind' rid='1'><a></b></body>`,
	} {
		f.Add([]byte(s))
	}
	lim := xmppcore.Limits{MaxStanzaSize: 4096, MaxDepth: 16, MaxHeaderSize: 1024}
	f.Fuzz(func(t *testing.T, b []byte) {
		body, err := parseBody(b, lim)
		if err != nil {
			return
		}
		if body.rid <= 0 || body.rid > maxRID {
			t.Errorf("rid %d accepted", body.rid)
		}
		for _, fr := range body.frames {
			if _, err := xmppcore.Parse(fr); err != nil {
				t.Errorf("frame %q does not parse: %v", fr, err)
			}
		}
	})
}
