package parley_test

import (
	"crypto/tls"
	"strconv"
	"testing"
	"time"

	"mellium.im/sasl"

	"parley.im/parley/internal/xmpptest"
	"parley.im/parley/xmppcore"
)

// The rows of docs/xeps.md for stream management and client state
// indication, with their live checks.
func init() {
	streamFeatures[nsSM] = "XEP-0198"
	streamFeatures[nsCSI] = "XEP-0352"
	specChecks["XEP-0198"] = checkStreamManagement
	specChecks["XEP-0352"] = checkCSI
}

const (
	nsSM  = "urn:xmpp:sm:3"
	nsCSI = "urn:xmpp:csi:0"
)

// smLogin logs bob in on the probe's server with a new connection.
func smLogin(t *testing.T, p *probe, resource string) (*xmpptest.Client, string) {
	t.Helper()
	return xmpptest.Login(t, p.srv, "bob", testPassword, resource)
}

// checkStreamManagement: the feature after authentication; <enable/>
// before bind fails; enabled with resumption; counting; an <a/> too high
// ends the stream; a connection lost and resumed gets what was sent
// meanwhile.
func checkStreamManagement(t *testing.T, p *probe) {
	if p.postAuth.Child(nsSM, "sm") == nil {
		t.Fatalf("no <sm/> after authentication: %s", p.postAuth)
	}
	c := xmpptest.Dial(t, p.srv.StartTLSAddr)
	c.OpenStream("localhost")
	c.StartTLS("localhost")
	if el := c.Auth(sasl.ScramSha256, "bob", testPassword); !el.Is(xmppcore.NSSASL, "success") {
		t.Fatalf("login: %s", el)
	}
	c.OpenStream("localhost")
	c.Send(`<enable xmlns='` + nsSM + `'/>`)
	if el := c.Next(); !el.Is(nsSM, "failed") || el.Child(xmppcore.NSStanzas, "unexpected-request") == nil {
		t.Errorf("enable before bind: %s", el)
	}
	bobJID := c.Bind("sm")
	c.Send(`<enable xmlns='` + nsSM + `' resume='true'/>`)
	en := c.Next()
	if !en.Is(nsSM, "enabled") || en.Attr("resume") != "true" || en.Attr("id") == "" || en.Attr("max") != "300" {
		t.Fatalf("enabled: %s", en)
	}
	c.Send(`<iq type='get' id='sm1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq><r xmlns='` + nsSM + `'/>`)
	if a := c.Expect(func(el *xmppcore.Element) bool { return el.Is(nsSM, "a") }); a.Attr("h") != "1" {
		t.Errorf("ack after one stanza: %s", a)
	}
	// Lost: the TCP connection under TLS closes; a message comes meanwhile.
	c.Conn.(*tls.Conn).NetConn().Close()
	deadline := time.Now().Add(xmpptest.Timeout)
	for p.srv.C2S().DetachedCount() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the session was not detached")
		}
		time.Sleep(5 * time.Millisecond)
	}
	p.alice.Send(`<message to='` + bobJID + `' id='sm-held'><body>held</body></message>`)
	c2 := xmpptest.Dial(t, p.srv.StartTLSAddr)
	c2.OpenStream("localhost")
	c2.StartTLS("localhost")
	if el := c2.Auth(sasl.ScramSha256, "bob", testPassword); !el.Is(xmppcore.NSSASL, "success") {
		t.Fatalf("login: %s", el)
	}
	c2.OpenStream("localhost")
	c2.Send(`<resume xmlns='` + nsSM + `' previd='` + en.Attr("id") + `' h='1'/>`)
	if el := c2.Next(); !el.Is(nsSM, "resumed") || el.Attr("h") != "1" {
		t.Fatalf("resume: %s", el)
	}
	c2.Expect(func(el *xmppcore.Element) bool { return el.Attr("id") == "sm-held" })
	c2.Send(`<a xmlns='` + nsSM + `' h='9'/>`)
	if got := c2.ExpectStreamError(); got != "undefined-condition" {
		t.Errorf("an ack above what was sent: %q", got)
	}
}

// checkCSI: the feature after authentication; while inactive a directed
// presence waits, and <active/> delivers it before the answer to what
// follows.
func checkCSI(t *testing.T, p *probe) {
	if p.postAuth.Child(nsCSI, "csi") == nil {
		t.Fatalf("no <csi/> after authentication: %s", p.postAuth)
	}
	c, bobJID := smLogin(t, p, "csi")
	c.Send(`<inactive xmlns='` + nsCSI + `'/><iq type='get' id='csi0' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`)
	c.Expect(func(el *xmppcore.Element) bool { return el.Attr("id") == "csi0" })
	for i := range 3 {
		p.alice.Send(`<presence to='` + bobJID + `'><status>` + strconv.Itoa(i) + `</status></presence>`)
	}
	p.alice.Send(`<iq type='get' id='csi-sync' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`)
	p.alice.Expect(func(el *xmppcore.Element) bool { return el.Attr("id") == "csi-sync" })
	c.Send(`<active xmlns='` + nsCSI + `'/><iq type='get' id='csi1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`)
	var statuses []string
	for {
		el := c.Next()
		if el.Attr("id") == "csi1" {
			break
		}
		if el.Local == "presence" {
			statuses = append(statuses, el.ChildText("", "status"))
		}
	}
	if len(statuses) != 1 || statuses[0] != "2" {
		t.Errorf("presence while inactive: %q, want only the latest", statuses)
	}
}
