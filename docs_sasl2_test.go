package parley_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"slices"
	"strings"
	"testing"

	"parley.im/parley/internal/xmpptest"
	"parley.im/parley/xmppcore"
)

// Live checks of the modern login rows of docs/xeps.md: XEP-0388 SASL2,
// XEP-0386 Bind2, XEP-0484 FAST and XEP-0474 SSDP, each a real login.

const (
	nsSASL2 = "urn:xmpp:sasl:2"
	nsBind2 = "urn:xmpp:bind:0"
	nsFAST  = "urn:xmpp:fast:0"
	docsUA  = `<user-agent id='8a4c2f0e-3f55-4b1e-9d5c-7b8f7d2a6c11'><software>docs</software></user-agent>`
)

// sasl2Login runs SASL2 SCRAM-SHA-256 for testUser with inner added to
// <authenticate/>; it returns the server-first-message and <success/>,
// after reading the features that follow it.
func sasl2Login(t *testing.T, p *probe, inner string) (*xmpptest.Client, string, *xmppcore.Element) {
	t.Helper()
	c := xmpptest.Dial(t, p.srv.StartTLSAddr)
	c.OpenStream("localhost")
	c.StartTLS("localhost")
	s := &xmpptest.SCRAM{Mechanism: "SCRAM-SHA-256", User: testUser, Password: testPassword}
	c.Send(`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='SCRAM-SHA-256'><initial-response>` +
		base64.StdEncoding.EncodeToString(s.First()) + `</initial-response>` + inner + `</authenticate>`)
	ch := c.Next()
	first, _ := base64.StdEncoding.DecodeString(ch.Text())
	final, err := s.Final(first)
	if !ch.Is(nsSASL2, "challenge") || err != nil {
		t.Fatalf("SASL2 challenge: %s (%v)", ch, err)
	}
	c.Send(`<response xmlns='urn:xmpp:sasl:2'>` + base64.StdEncoding.EncodeToString(final) + `</response>`)
	succ := c.Next()
	add, _ := base64.StdEncoding.DecodeString(succ.ChildText(nsSASL2, "additional-data"))
	if !succ.Is(nsSASL2, "success") || s.Verify(add) != nil {
		t.Fatalf("SASL2: %s", succ)
	}
	if f := c.Next(); !f.Is(xmppcore.NSStream, "features") {
		t.Fatalf("after SASL2 success: %s", f)
	}
	return c, string(first), succ
}

func checkSASL2(t *testing.T, p *probe) {
	a := p.tls13.Child(nsSASL2, "authentication")
	if a == nil || p.preTLS.Child(nsSASL2, "authentication") != nil {
		t.Fatalf("SASL2 feature: before TLS %s, after %s", p.preTLS, p.tls13)
	}
	var mechs []string
	for m := range a.Children() {
		if m.Is(nsSASL2, "mechanism") {
			mechs = append(mechs, m.Text())
		}
	}
	if !slices.Equal(mechs, mechanisms(p.tls13)) {
		t.Errorf("SASL2 mechanisms %v, classic %v", mechs, mechanisms(p.tls13))
	}
	_, _, succ := sasl2Login(t, p, docsUA)
	if got := succ.ChildText(nsSASL2, "authorization-identifier"); got != testUser+"@localhost" {
		t.Errorf("authorization-identifier %q", got)
	}
}

func checkBind2(t *testing.T, p *probe) {
	bind := p.tls13.Child(nsSASL2, "authentication").Child(nsSASL2, "inline").Child(nsBind2, "bind")
	if bind == nil {
		t.Fatalf("no Bind2 in %s", p.tls13)
	}
	c, _, succ := sasl2Login(t, p, docsUA+`<bind xmlns='urn:xmpp:bind:0'><tag>docs</tag><enable xmlns='urn:xmpp:carbons:2'/></bind>`)
	if j := succ.ChildText(nsSASL2, "authorization-identifier"); !strings.HasPrefix(j, testUser+"@localhost/docs/") || succ.Child(nsBind2, "bound") == nil {
		t.Fatalf("Bind2: %s", succ)
	}
	c.Send(`<iq type='get' id='b2' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`)
	if r := c.Next(); r.Attr("type") != "result" {
		t.Errorf("ping on a Bind2 session: %s", r)
	}
}

func checkFAST(t *testing.T, p *probe) {
	_, _, succ := sasl2Login(t, p, docsUA+`<request-token xmlns='urn:xmpp:fast:0' mechanism='HT-SHA-256-NONE'/>`)
	tok := succ.Child(nsFAST, "token")
	if tok == nil {
		t.Fatalf("no FAST token: %s", succ)
	}
	proof := func(label string) []byte {
		m := hmac.New(sha256.New, []byte(tok.Attr("token")))
		m.Write([]byte(label))
		return m.Sum(nil)
	}
	c := xmpptest.Dial(t, p.srv.StartTLSAddr)
	c.OpenStream("localhost")
	c.StartTLS("localhost")
	c.Send(`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='HT-SHA-256-NONE'><initial-response>` +
		base64.StdEncoding.EncodeToString(append([]byte(testUser+"\x00"), proof("Initiator")...)) +
		`</initial-response>` + docsUA + `<fast xmlns='urn:xmpp:fast:0'/></authenticate>`)
	el := c.Next()
	add, _ := base64.StdEncoding.DecodeString(el.ChildText(nsSASL2, "additional-data"))
	if !el.Is(nsSASL2, "success") || !hmac.Equal(add, proof("Responder")) {
		t.Fatalf("FAST login: %s", el)
	}
}

func checkSSDP(t *testing.T, p *probe) {
	var mechs []string
	for m := range p.tls13.Child(nsSASL2, "authentication").Children() {
		if m.Is(nsSASL2, "mechanism") {
			mechs = append(mechs, m.Text())
		}
	}
	cbs := cbTypes(p.tls13)
	slices.Sort(mechs)
	slices.Sort(cbs)
	sum := sha256.Sum256([]byte(strings.Join(mechs, "\x1e") + "\x1f" + strings.Join(cbs, "\x1e")))
	_, first, _ := sasl2Login(t, p, "")
	if want := "h=" + base64.StdEncoding.EncodeToString(sum[:]); !slices.Contains(strings.Split(first, ","), want) {
		t.Errorf("server-first %q lacks %s", first, want)
	}
}
