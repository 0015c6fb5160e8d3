package parley_test

import (
	"encoding/base64"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"parley.im/parley/internal/routertest"
	"parley.im/parley/xmppcore"
)

// The rows of docs/xeps.md for HTTP file upload (package upload) and BOSH
// (package web/bosh), checked against the probe's running server.
func init() {
	specChecks["XEP-0363"] = checkUpload
	specChecks["XEP-0124"] = checkBOSH
	specChecks["XEP-0206"] = checkXBOSH
}

const nsUpload = "urn:xmpp:http:upload:0"

func checkUpload(t *testing.T, p *probe) {
	c := p.alice
	items := mustResult(t, c, "get", "localhost", `<query xmlns='http://jabber.org/protocol/disco#items'/>`)
	if !strings.Contains(items.String(), `jid="upload.localhost"`) {
		t.Errorf("the server's disco#items does not list upload.localhost: %s", items)
	}
	info := mustResult(t, c, "get", "upload.localhost", `<query xmlns='http://jabber.org/protocol/disco#info'/>`)
	if !hasFeature(info, nsUpload) || !strings.Contains(info.String(), `category="store"`) || !strings.Contains(info.String(), "max-file-size") {
		t.Errorf("upload.localhost's disco#info: %s", info)
	}
	res := mustResult(t, c, "get", "upload.localhost", `<request xmlns='`+nsUpload+`' filename='docs check.txt' size='5' content-type='text/plain'/>`)
	slot := res.Child(nsUpload, "slot")
	if slot == nil {
		t.Fatalf("no slot: %s", res)
	}
	put, get := slot.Child(nsUpload, "put").Attr("url"), slot.Child(nsUpload, "get").Attr("url")
	do := func(method, url, body string) (int, string) {
		req, _ := http.NewRequest(method, url, strings.NewReader(body))
		req.Header.Set("Content-Type", "text/plain")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if st, _ := do("PUT", put, "toolong"); st != http.StatusRequestEntityTooLarge {
		t.Errorf("PUT larger than the slot: %d", st)
	}
	if st, _ := do("PUT", put, "hello"); st != http.StatusCreated {
		t.Fatalf("PUT: %d", st)
	}
	if st, _ := do("PUT", put, "hello"); st != http.StatusForbidden {
		t.Errorf("PUT replayed: %d", st)
	}
	if st, b := do("GET", get, ""); st != 200 || b != "hello" {
		t.Errorf("GET: %d %q", st, b)
	}
	big := strconv.Itoa(p.srv.Config.Upload.MaxFileSize + 1)
	res = request(t, c, "get", "upload.localhost", `<request xmlns='`+nsUpload+`' filename='big' size='`+big+`'/>`)
	if routertest.ErrorCondition(res) != "not-acceptable" || res.Child("", "error").Child(nsUpload, "file-too-large") == nil {
		t.Errorf("a file over the maximum: %s", res)
	}
}

// boshPost posts a body to the probe's /http-bind and parses the answer.
func boshPost(t *testing.T, p *probe, body string) *xmppcore.Element {
	t.Helper()
	plain, _ := p.srv.WebAddrs()
	resp, err := http.Post("http://"+plain[0].String()+"/http-bind", "text/xml; charset=utf-8", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	el, err := xmppcore.Parse(b)
	if err != nil || resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/xml; charset=utf-8" || !el.Is("http://jabber.org/protocol/httpbind", "body") {
		t.Fatalf("%d %q: %q (%v)", resp.StatusCode, resp.Header.Get("Content-Type"), b, err)
	}
	return el
}

const boshBody = `<body xmlns='http://jabber.org/protocol/httpbind' xmlns:xmpp='urn:xmpp:xbosh' `

func checkBOSH(t *testing.T, p *probe) {
	el := boshPost(t, p, boshBody+`rid='4000' to='localhost' wait='60' hold='1' ver='1.11' xmpp:version='1.0'/>`)
	sid := el.Attr("sid")
	if sid == "" || el.Attr("requests") != "2" || el.Attr("hold") != "1" || el.Attr("inactivity") == "" {
		t.Fatalf("session creation: %s", el)
	}
	// A rid beyond the window ends the session; an unknown sid is not found.
	if el := boshPost(t, p, boshBody+`rid='4005' sid='`+sid+`'/>`); el.Attr("type") != "terminate" || el.Attr("condition") != "item-not-found" {
		t.Errorf("rid outside the window: %s", el)
	}
	if el := boshPost(t, p, boshBody+`rid='4001' sid='`+sid+`'/>`); el.Attr("condition") != "item-not-found" {
		t.Errorf("request to an ended session: %s", el)
	}
	if el := boshPost(t, p, boshBody+`rid='1' to='nowhere.example' ver='1.11'/>`); el.Attr("condition") != "host-unknown" {
		t.Errorf("unknown host: %s", el)
	}
}

func checkXBOSH(t *testing.T, p *probe) {
	el := boshPost(t, p, boshBody+`rid='5000' to='localhost' wait='60' hold='1' ver='1.11' xmpp:version='1.0'/>`)
	sid := el.Attr("sid")
	if v, _ := el.LookupAttr("urn:xmpp:xbosh", "version"); v != "1.0" || el.Attr("authid") == "" || el.Child(xmppcore.NSStream, "features") == nil {
		t.Fatalf("session creation: %s", el)
	}
	auth := base64.StdEncoding.EncodeToString([]byte("\x00" + testUser + "\x00" + testPassword))
	el = boshPost(t, p, boshBody+`rid='5001' sid='`+sid+`'><auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>`+auth+`</auth></body>`)
	if el.Child(xmppcore.NSSASL, "success") == nil {
		t.Fatalf("auth: %s", el)
	}
	el = boshPost(t, p, boshBody+`rid='5002' sid='`+sid+`' to='localhost' xmpp:restart='true'/>`)
	if f := el.Child(xmppcore.NSStream, "features"); f == nil || f.Child(xmppcore.NSBind, "bind") == nil {
		t.Fatalf("restart: %s", el)
	}
	el = boshPost(t, p, boshBody+`rid='5003' sid='`+sid+`'><iq xmlns='jabber:client' type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>bosh</resource></bind></iq></body>`)
	if iq := el.Child("", "iq"); iq == nil || iq.Attr("type") != "result" {
		t.Fatalf("bind: %s", el)
	}
	if el := boshPost(t, p, boshBody+`rid='5004' sid='`+sid+`' type='terminate'/>`); el.Attr("type") != "terminate" {
		t.Errorf("terminate: %s", el)
	}
}
