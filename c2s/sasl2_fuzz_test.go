package c2s

import (
	"testing"

	"parley.im/parley/xmppcore"
)

// FuzzParseAuthenticate: any <authenticate/> a client sends is parsed or
// refused with a SASL failure, never a panic, and what is kept stays
// within its bounds.
func FuzzParseAuthenticate(f *testing.F) {
	f.Add(`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='SCRAM-SHA-256'><initial-response>biwsbj1hLHI9eA==</initial-response>` +
		`<user-agent id='d4565fa7-4d72-4749-b3d3-740edbf87770'><software>x</software><device>y</device></user-agent>` +
		`<bind xmlns='urn:xmpp:bind:0'><tag>t</tag><enable xmlns='urn:xmpp:carbons:2'/></bind>` +
		`<fast xmlns='urn:xmpp:fast:0' count='3' invalidate='1'/><request-token xmlns='urn:xmpp:fast:0' mechanism='HT-SHA-256-NONE'/></authenticate>`)
	f.Add(`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><initial-response/></authenticate>`)
	f.Add(`<authenticate xmlns='urn:xmpp:sasl:2'/>`)
	f.Fuzz(func(t *testing.T, s string) {
		el, err := xmppcore.Parse([]byte(s))
		if err != nil {
			return
		}
		req, fl := parseAuthenticate(el)
		if fl != nil {
			if req != nil || fl.Condition == "" {
				t.Fatalf("failure %v with request %v", fl, req)
			}
			return
		}
		if req.mech == "" || len(req.agentID) > maxAgentID || len(req.software) > maxAgentText {
			t.Fatalf("accepted out of bounds: %+v", req)
		}
		if _, ok := parseCount(req.fastAttr("count")); ok {
			_ = req.fastAttr("invalidate")
		}
	})
}
