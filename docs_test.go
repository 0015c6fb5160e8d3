// Tests that keep the documentation true to the code: docs/xeps.md against
// a running server, the README's TOML against config.Load, the package
// tiers of docs/ARCHITECTURE.md against the imports, and relative links in
// every page against the files they point to.
package parley_test

import (
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"mellium.im/sasl"

	"parley.im/parley/config"
	"parley.im/parley/internal/xmpptest"
	"parley.im/parley/xmppcore"
)

const modulePath = "parley.im/parley"

// ---------------------------------------------------------------------------
// Markdown helpers

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// table returns the rows of the first Markdown table in doc whose header
// row starts with header, as trimmed cells, without the header and the
// separator row.
func table(t *testing.T, doc, name, header string) [][]string {
	t.Helper()
	var rows [][]string
	in := false
	for line := range strings.Lines(doc) {
		line = strings.TrimSpace(line)
		if !in {
			if strings.HasPrefix(line, header) {
				in = true
			}
			continue
		}
		if !strings.HasPrefix(line, "|") {
			break
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if strings.HasPrefix(cells[0], "---") {
			continue
		}
		rows = append(rows, cells)
	}
	if len(rows) == 0 {
		t.Fatalf("%s: no table with header %q", name, header)
	}
	return rows
}

// fenced returns the contents of the ```lang blocks of doc.
func fenced(doc, lang string) []string {
	var blocks []string
	var cur *strings.Builder
	for line := range strings.Lines(doc) {
		trimmed := strings.TrimSpace(line)
		switch {
		case cur == nil && trimmed == "```"+lang:
			cur = &strings.Builder{}
		case cur != nil && trimmed == "```":
			blocks = append(blocks, cur.String())
			cur = nil
		case cur != nil:
			cur.WriteString(line)
		}
	}
	return blocks
}

// ---------------------------------------------------------------------------
// docs/xeps.md against a running server

// specRow is one row of the table in docs/xeps.md.
type specRow struct {
	id, version, status, notes string
}

var specID = regexp.MustCompile(`^\[((?:RFC \d+)|(?:XEP-\d{4}))\]\(https://[^)]+\)$`)

func specRows(t *testing.T) map[string]specRow {
	t.Helper()
	const name = "docs/xeps.md"
	rows := map[string]specRow{}
	for _, cells := range table(t, readFile(t, name), name, "| Specification |") {
		if len(cells) != 5 {
			t.Errorf("%s: row %q has %d cells, want 5", name, cells, len(cells))
			continue
		}
		m := specID.FindStringSubmatch(cells[0])
		if m == nil {
			t.Errorf("%s: first cell %q is not a link named \"RFC n\" or \"XEP-nnnn\"", name, cells[0])
			continue
		}
		r := specRow{id: m[1], version: cells[2], status: cells[3], notes: cells[4]}
		if _, dup := rows[r.id]; dup {
			t.Errorf("%s: %s has two rows", name, r.id)
		}
		if r.status != "complete" && r.status != "partial" {
			t.Errorf("%s: %s: status %q, want complete or partial (list what is not done below the table)", name, r.id, r.status)
		}
		isXEP := strings.HasPrefix(r.id, "XEP-")
		switch {
		case isXEP && !regexp.MustCompile(`^\d+(\.\d+)*$`).MatchString(r.version):
			t.Errorf("%s: %s: version %q is not a XEP version such as 1.2.0", name, r.id, r.version)
		case !isXEP && r.version != "—":
			t.Errorf("%s: %s: RFCs have no version; write —, not %q", name, r.id, r.version)
		}
		rows[r.id] = r
	}
	return rows
}

// discoFeatures maps every disco#info feature the server may advertise, for
// itself or for an account, to the row of docs/xeps.md that covers it. A
// module that advertises a namespace missing here fails TestSupportedSpecs:
// add the namespace here and a row (naming it) to docs/xeps.md.
var discoFeatures = map[string]string{
	"http://jabber.org/protocol/disco#info":  "XEP-0030",
	"http://jabber.org/protocol/disco#items": "XEP-0030",
	"jabber:iq:last":                         "XEP-0012",
	"jabber:iq:private":                      "XEP-0049",
	"vcard-temp":                             "XEP-0054",
	"jabber:iq:register":                     "XEP-0077",
	"jabber:iq:version":                      "XEP-0092",
	"msgoffline":                             "XEP-0160",
	"urn:xmpp:blocking":                      "XEP-0191",
	"urn:xmpp:ping":                          "XEP-0199",
	"urn:xmpp:time":                          "XEP-0202",
}

// streamFeatures does the same for the namespaces of stream features,
// before and after authentication.
var streamFeatures = map[string]string{
	xmppcore.NSTLS:       "RFC 6120",
	xmppcore.NSSASL:      "RFC 6120",
	xmppcore.NSBind:      "RFC 6120",
	xmppcore.NSSession:   "RFC 6120",
	nsPreApproval:        "RFC 6121",
	nsRegisterFeature:    "XEP-0077",
	nsRosterVer:          "XEP-0237",
	"urn:xmpp:sasl-cb:0": "XEP-0440",
}

// Namespaces the checks below use.
const (
	nsRoster          = "jabber:iq:roster"
	nsRosterVer       = "urn:xmpp:features:rosterver"
	nsPreApproval     = "urn:xmpp:features:pre-approval"
	nsRegister        = "jabber:iq:register"
	nsRegisterFeature = "http://jabber.org/features/iq-register"
	nsBlocking        = "urn:xmpp:blocking"
	nsDelay           = "urn:xmpp:delay"
	nsLast            = "jabber:iq:last"
)

// probe is what the running server showed, gathered once for all checks.
type probe struct {
	srv *xmpptest.Server

	preTLS   *xmppcore.Element // stream features before STARTTLS
	tls13    *xmppcore.Element // features after STARTTLS with TLS 1.3
	tls12    *xmppcore.Element // features after STARTTLS with TLS 1.2
	postAuth *xmppcore.Element // features after authentication

	direct     *xmppcore.Element // features on a direct TLS connection
	directALPN string            // the protocol ALPN agreed there

	serverDisco  []string // disco#info features of the host
	accountDisco []string // disco#info features of a user's own account

	alice *xmpptest.Client // logged in as alice@localhost/docs
}

const (
	testUser     = "alice"
	testPassword = "correct horse"
)

func newProbe(t *testing.T) *probe {
	srv := xmpptest.Start(t)
	srv.AddUser(t, testUser, testPassword)
	srv.AddUser(t, "bob", testPassword)
	p := &probe{srv: srv}

	c := xmpptest.Dial(t, srv.StartTLSAddr)
	c.OpenStream("localhost")
	p.preTLS = c.Features
	c.StartTLS("localhost")
	p.tls13 = c.Features
	if el := c.Auth(sasl.ScramSha256, testUser, testPassword); !el.Is(xmppcore.NSSASL, "success") {
		t.Fatalf("login: %s", el)
	}
	c.OpenStream("localhost")
	p.postAuth = c.Features
	c.Bind("docs")
	p.alice = c

	p.tls12 = startTLS12(t, srv)

	d := xmpptest.DialTLS(t, srv.DirectTLSAddr, &tls.Config{
		InsecureSkipVerify: true, //nolint:gosec // the test server's self-signed certificate
		ServerName:         "localhost",
		NextProtos:         []string{"xmpp-client"},
	})
	p.directALPN = d.Conn.(*tls.Conn).ConnectionState().NegotiatedProtocol
	d.OpenStream("localhost")
	p.direct = d.Features

	p.serverDisco = discoInfo(t, c, "localhost")
	p.accountDisco = discoInfo(t, c, "alice@localhost")
	return p
}

// startTLS12 negotiates STARTTLS capped at TLS 1.2 and returns the
// features offered then.
func startTLS12(t *testing.T, srv *xmpptest.Server) *xmppcore.Element {
	c := xmpptest.Dial(t, srv.StartTLSAddr)
	c.OpenStream("localhost")
	c.Send(`<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`)
	if el := c.Next(); !el.Is(xmppcore.NSTLS, "proceed") {
		t.Fatalf("STARTTLS: %s", el)
	}
	tc := tls.Client(c.Conn, &tls.Config{
		InsecureSkipVerify: true, //nolint:gosec // the test server's self-signed certificate
		ServerName:         "localhost",
		MaxVersion:         tls.VersionTLS12,
	})
	if err := tc.Handshake(); err != nil {
		t.Fatalf("TLS 1.2 handshake: %v", err)
	}
	c.Conn = tc
	c.OpenStream("localhost")
	return c.Features
}

var iqIDs int

// iq sends an IQ get with payload to 'to' and returns the answer.
func iq(t *testing.T, c *xmpptest.Client, to, payload string) *xmppcore.Element {
	t.Helper()
	return request(t, c, "get", to, payload)
}

// request sends an IQ of type typ with payload to 'to' (none when empty)
// and returns the answer; what arrives before it is skipped.
func request(t *testing.T, c *xmpptest.Client, typ, to, payload string) *xmppcore.Element {
	t.Helper()
	iqIDs++
	id := "docs-" + strconv.Itoa(iqIDs)
	if to != "" {
		to = ` to='` + to + `'`
	}
	c.Send(`<iq type='` + typ + `' id='` + id + `'` + to + `>` + payload + `</iq>`)
	return c.Expect(func(el *xmppcore.Element) bool { return el.Local == "iq" && el.Attr("id") == id })
}

// mustResult is request that fails the check unless the answer is a
// result.
func mustResult(t *testing.T, c *xmpptest.Client, typ, to, payload string) *xmppcore.Element {
	t.Helper()
	res := request(t, c, typ, to, payload)
	if res.Attr("type") != "result" {
		t.Fatalf("%s %s: %s", typ, payload, res)
	}
	return res
}

// newUser creates an account of its own for one check, so that the
// checks do not depend on each other, and logs it in with resource "r".
// With available it sends initial presence and waits until the server has
// processed it.
func (p *probe) newUser(t *testing.T, name string, available bool) *xmpptest.Client {
	t.Helper()
	p.srv.AddUser(t, name, testPassword)
	c, _ := xmpptest.Login(t, p.srv, name, testPassword, "r")
	if available {
		c.Send(`<presence/>`)
		iq(t, c, "localhost", `<ping xmlns='urn:xmpp:ping'/>`)
	}
	return c
}

// isPresence matches presence of type typ ("" for available) from from.
func isPresence(from, typ string) func(*xmppcore.Element) bool {
	return func(el *xmppcore.Element) bool {
		return el.Local == "presence" && el.Attr("from") == from && el.Attr("type") == typ
	}
}

// condition returns the defined condition of a stanza error, "" if el is
// not one.
func condition(el *xmppcore.Element) string {
	if e := el.Child("", "error"); el.Attr("type") == "error" && e != nil {
		for ch := range e.Children() {
			if ch.Space == xmppcore.NSStanzas && ch.Local != "text" {
				return ch.Local
			}
		}
	}
	return ""
}

// offlineMessage has a fresh user send a message to another, offline,
// fresh user, who then logs in and sends initial presence; it returns the
// message as delivered then, and the time range in which it was sent.
func offlineMessage(t *testing.T, p *probe, prefix string) (msg *xmppcore.Element, sent [2]time.Time) {
	t.Helper()
	from := p.newUser(t, prefix+"a", true)
	p.srv.AddUser(t, prefix+"b", testPassword)
	sent[0] = time.Now().UTC().Truncate(time.Millisecond)
	from.Send(`<message type='chat' id='off1' to='` + prefix + `b@localhost'><body>while you were out</body></message>`)
	if res := iq(t, from, "localhost", `<ping xmlns='urn:xmpp:ping'/>`); res.Attr("type") != "result" {
		t.Fatalf("ping: %s", res)
	}
	sent[1] = time.Now().UTC()
	to, _ := xmpptest.Login(t, p.srv, prefix+"b", testPassword, "r")
	to.Send(`<presence/>`)
	msg = to.Expect(func(el *xmppcore.Element) bool { return el.Local == "message" })
	if msg.ChildText("", "body") != "while you were out" || msg.Attr("from") != prefix+"a@localhost/r" {
		t.Errorf("delivered at initial presence: %s", msg)
	}
	return msg, sent
}

func discoInfo(t *testing.T, c *xmpptest.Client, to string) []string {
	t.Helper()
	const ns = "http://jabber.org/protocol/disco#info"
	res := iq(t, c, to, `<query xmlns='`+ns+`'/>`)
	q := res.Child(ns, "query")
	if res.Attr("type") != "result" || q == nil {
		t.Fatalf("disco#info of %s: %s", to, res)
	}
	var out []string
	for ch := range q.Children() {
		if ch.Is(ns, "feature") {
			out = append(out, ch.Attr("var"))
		}
	}
	return out
}

// mechanisms lists the SASL mechanisms in features.
func mechanisms(features *xmppcore.Element) []string {
	var out []string
	if m := features.Child(xmppcore.NSSASL, "mechanisms"); m != nil {
		for ch := range m.Children() {
			out = append(out, ch.Text())
		}
	}
	return out
}

// cbTypes lists the XEP-0440 channel-binding types in features.
func cbTypes(features *xmppcore.Element) []string {
	var out []string
	if cb := features.Child("urn:xmpp:sasl-cb:0", "sasl-channel-binding"); cb != nil {
		for ch := range cb.Children() {
			out = append(out, ch.Attr("type"))
		}
	}
	return out
}

// login runs one SASL exchange with m after STARTTLS and reports whether it
// succeeded; it returns the connection for what comes next.
func (p *probe) login(t *testing.T, m sasl.Mechanism, user string) (*xmpptest.Client, bool) {
	t.Helper()
	c := xmpptest.Dial(t, p.srv.StartTLSAddr)
	c.OpenStream("localhost")
	c.StartTLS("localhost")
	if !slices.Contains(c.Mechanisms(), m.Name) {
		t.Errorf("%s is not offered after STARTTLS: %v", m.Name, c.Mechanisms())
		return c, false
	}
	el := auth(t, c, m, user, testPassword)
	if !el.Is(xmppcore.NSSASL, "success") {
		t.Errorf("login with %s: %s", m.Name, el)
		return c, false
	}
	return c, true
}

// auth runs a SASL exchange with mellium's client, telling it what the
// server offered (which it needs to pick a -PLUS binding), and returns the
// final element.
func auth(t *testing.T, c *xmpptest.Client, m sasl.Mechanism, user, password string) *xmppcore.Element {
	t.Helper()
	opts := []sasl.Option{
		sasl.Credentials(func() ([]byte, []byte, []byte) { return []byte(user), []byte(password), nil }),
		sasl.RemoteMechanisms(c.Mechanisms()...),
	}
	if tc, ok := c.Conn.(*tls.Conn); ok {
		opts = append(opts, sasl.TLSState(tc.ConnectionState()))
	}
	neg := sasl.NewClient(m, opts...)
	_, resp, err := neg.Step(nil)
	if err != nil {
		t.Fatalf("SASL %s: %v", m.Name, err)
	}
	c.Send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='` + m.Name + `'>` + b64(resp) + `</auth>`)
	for {
		el := c.Next()
		success := el.Is(xmppcore.NSSASL, "success")
		if !el.Is(xmppcore.NSSASL, "challenge") && !(success && el.Text() != "") {
			return el // failure, or success without data to verify (PLAIN)
		}
		in, err := base64.StdEncoding.DecodeString(el.Text())
		if err != nil {
			t.Fatalf("SASL %s: %s: %v", m.Name, el, err)
		}
		_, resp, err := neg.Step(in)
		if err != nil {
			t.Fatalf("SASL %s: the client rejects %s: %v", m.Name, el, err)
		}
		if success {
			return el // the client verified the server's signature
		}
		c.Send(`<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>` + b64(resp) + `</response>`)
	}
}

func b64(b []byte) string {
	if len(b) == 0 {
		return "="
	}
	return base64.StdEncoding.EncodeToString(b)
}

func requireAdvertised(t *testing.T, p *probe, id string) {
	t.Helper()
	n := 0
	for ns, row := range discoFeatures {
		if row != id {
			continue
		}
		n++
		if !slices.Contains(p.serverDisco, ns) && !slices.Contains(p.accountDisco, ns) {
			t.Errorf("%s: the server does not advertise %s", id, ns)
		}
	}
	if n == 0 {
		t.Errorf("%s: no namespace of it in discoFeatures", id)
	}
}

// specChecks holds one check per row of docs/xeps.md: what the running
// server must show for the row to be true.
var specChecks = map[string]func(t *testing.T, p *probe){
	"RFC 6120": func(t *testing.T, p *probe) {
		st := p.preTLS.Child(xmppcore.NSTLS, "starttls")
		if st == nil || st.Child(xmppcore.NSTLS, "required") == nil {
			t.Errorf("STARTTLS is not offered as required: %s", p.preTLS)
		}
		if m := mechanisms(p.preTLS); len(m) != 0 {
			t.Errorf("SASL offered before TLS: %v", m)
		}
		if p.postAuth.Child(xmppcore.NSBind, "bind") == nil {
			t.Errorf("no resource binding after authentication: %s", p.postAuth)
		}
		// The server stamps 'from': a ping to the server comes back to
		// the bound JID.
		res := iq(t, p.alice, "localhost", `<ping xmlns='urn:xmpp:ping'/>`)
		if res.Attr("to") != "alice@localhost/docs" {
			t.Errorf("answer addressed to %q, want the bound JID", res.Attr("to"))
		}
	},
	"RFC 6121": func(t *testing.T, p *probe) {
		// §8.5.2.1.1: a message to the bare JID reaches an available
		// resource.
		bob, ok := p.login(t, sasl.ScramSha256, "bob")
		if !ok {
			return
		}
		bob.OpenStream("localhost")
		bob.Bind("desk")
		bob.Send(`<presence/>`)
		// A ping round trip orders the presence before the message.
		iq(t, bob, "localhost", `<ping xmlns='urn:xmpp:ping'/>`)
		p.alice.Send(`<message type='chat' id='m1' to='bob@localhost'><body>hello</body></message>`)
		got := bob.Expect(func(el *xmppcore.Element) bool { return el.Local == "message" && el.Attr("id") == "m1" })
		if got.Attr("from") != "alice@localhost/docs" || got.ChildText("", "body") != "hello" {
			t.Errorf("bob got %s", got)
		}

		// §2.1.3: the roster; §3.1: a subscription request approved: a
		// roster push of the new state, then the contact's presence.
		a, b := p.newUser(t, "r6121a", true), p.newUser(t, "r6121b", true)
		if res := mustResult(t, a, "get", "", `<query xmlns='`+nsRoster+`'/>`); res.Child(nsRoster, "query") == nil {
			t.Errorf("roster get: %s", res)
		}
		a.Send(`<presence type='subscribe' to='r6121b@localhost'/>`)
		b.Expect(isPresence("r6121a@localhost", "subscribe"))
		isPush := func(el *xmppcore.Element) bool { return el.Local == "iq" && el.Attr("type") == "set" }
		push := a.Expect(isPush)
		if it := push.Child(nsRoster, "query").Child(nsRoster, "item"); it == nil ||
			it.Attr("jid") != "r6121b@localhost" || it.Attr("subscription") != "none" || it.Attr("ask") != "subscribe" {
			t.Errorf("roster push after the request: %s", push)
		}
		b.Send(`<presence type='subscribed' to='r6121a@localhost'/>`)
		push = a.Expect(isPush)
		if it := push.Child(nsRoster, "query").Child(nsRoster, "item"); it == nil ||
			it.Attr("jid") != "r6121b@localhost" || it.Attr("subscription") != "to" || it.Attr("ask") != "" {
			t.Errorf("roster push after the approval: %s", push)
		}
		a.Expect(isPresence("r6121b@localhost/r", ""))

		// §3.4: pre-approval, advertised and honoured: a subscribed sent
		// first makes the later request answered by the server.
		if p.postAuth.Child(nsPreApproval, "sub") == nil {
			t.Errorf("no pre-approval stream feature: %s", p.postAuth)
		}
		c := p.newUser(t, "r6121c", true)
		a.Send(`<presence type='subscribed' to='r6121c@localhost'/>`)
		iq(t, a, "localhost", `<ping xmlns='urn:xmpp:ping'/>`)
		c.Send(`<presence type='subscribe' to='r6121a@localhost'/>`)
		c.Expect(isPresence("r6121a@localhost", "subscribed"))
	},
	"RFC 7622": func(t *testing.T, p *probe) {
		// PRECIS case mapping: ALICE is alice.
		c, ok := p.login(t, sasl.ScramSha256, "ALICE")
		if !ok {
			return
		}
		c.OpenStream("localhost")
		if got := c.Bind("r"); got != "alice@localhost/r" {
			t.Errorf("bound %q, want alice@localhost/r", got)
		}
	},
	"RFC 4616": func(t *testing.T, p *probe) {
		if slices.Contains(mechanisms(p.preTLS), "PLAIN") {
			t.Error("PLAIN offered without TLS")
		}
		p.login(t, sasl.Plain, testUser)
	},
	"RFC 5802": func(t *testing.T, p *probe) {
		p.login(t, sasl.ScramSha1, testUser)
		for _, m := range []string{"SCRAM-SHA-1-PLUS", "SCRAM-SHA-512", "SCRAM-SHA-512-PLUS"} {
			if !slices.Contains(mechanisms(p.tls13), m) {
				t.Errorf("%s not offered: %v", m, mechanisms(p.tls13))
			}
		}
	},
	"RFC 7677": func(t *testing.T, p *probe) {
		p.login(t, sasl.ScramSha256, testUser)
		if !slices.Contains(mechanisms(p.tls13), "SCRAM-SHA-256-PLUS") {
			t.Errorf("SCRAM-SHA-256-PLUS not offered: %v", mechanisms(p.tls13))
		}
	},
	"RFC 5929": func(t *testing.T, p *probe) {
		for _, f := range []*xmppcore.Element{p.tls12, p.tls13} {
			if !slices.Contains(cbTypes(f), "tls-server-end-point") {
				t.Errorf("tls-server-end-point not offered: %v", cbTypes(f))
			}
		}
		if !slices.Contains(cbTypes(p.tls12), "tls-unique") {
			t.Errorf("tls-unique not offered on TLS 1.2: %v", cbTypes(p.tls12))
		}
		if slices.Contains(cbTypes(p.tls13), "tls-unique") {
			t.Errorf("tls-unique offered on TLS 1.3: %v", cbTypes(p.tls13))
		}
	},
	"RFC 9266": func(t *testing.T, p *probe) {
		if got := cbTypes(p.tls13); len(got) == 0 || got[0] != "tls-exporter" {
			t.Errorf("tls-exporter is not the preferred binding on TLS 1.3: %v", got)
		}
		// mellium's -PLUS client binds with tls-exporter on TLS 1.3.
		p.login(t, sasl.ScramSha256Plus, testUser)
	},
	"XEP-0030": func(t *testing.T, p *probe) {
		requireAdvertised(t, p, "XEP-0030")
		// As the notes say: an account's disco#info is shown to a
		// requester without any subscription.
		p.newUser(t, "x0030", false)
		if res := iq(t, p.alice, "x0030@localhost", `<query xmlns='http://jabber.org/protocol/disco#info'/>`); res.Attr("type") != "result" {
			t.Errorf("disco#info of an account by a stranger: %s", res)
		}
		const ns = "http://jabber.org/protocol/disco#items"
		if res := iq(t, p.alice, "localhost", `<query xmlns='`+ns+`'/>`); res.Attr("type") != "result" {
			t.Errorf("disco#items of the server: %s", res)
		}
	},
	"XEP-0012": func(t *testing.T, p *probe) {
		requireAdvertised(t, p, "XEP-0012")
		res := mustResult(t, p.alice, "get", "localhost", `<query xmlns='`+nsLast+`'/>`)
		if _, err := strconv.Atoi(res.Child(nsLast, "query").Attr("seconds")); err != nil {
			t.Errorf("server uptime: %s", res)
		}
		u := p.newUser(t, "x0012", true)
		if res := mustResult(t, u, "get", "x0012@localhost", `<query xmlns='`+nsLast+`'/>`); res.Child(nsLast, "query").Attr("seconds") != "0" {
			t.Errorf("own last activity while online: %s, want seconds='0'", res)
		}
		if res := iq(t, p.alice, "x0012@localhost", `<query xmlns='`+nsLast+`'/>`); condition(res) != "forbidden" {
			t.Errorf("a stranger's last activity query: %s, want forbidden", res)
		}
	},
	"XEP-0049": func(t *testing.T, p *probe) {
		requireAdvertised(t, p, "XEP-0049")
		u := p.newUser(t, "x0049", false)
		mustResult(t, u, "set", "", `<query xmlns='jabber:iq:private'><prefs xmlns='urn:example:docs'><a>1</a></prefs></query>`)
		res := mustResult(t, u, "get", "", `<query xmlns='jabber:iq:private'><prefs xmlns='urn:example:docs'/></query>`)
		if res.Child("jabber:iq:private", "query").Child("urn:example:docs", "prefs").ChildText("urn:example:docs", "a") != "1" {
			t.Errorf("private XML read back: %s", res)
		}
		if res := iq(t, p.alice, "x0049@localhost", `<query xmlns='jabber:iq:private'><prefs xmlns='urn:example:docs'/></query>`); condition(res) != "forbidden" {
			t.Errorf("another user's private XML: %s, want forbidden", res)
		}
	},
	"XEP-0054": func(t *testing.T, p *probe) {
		requireAdvertised(t, p, "XEP-0054")
		u := p.newUser(t, "x0054", false)
		mustResult(t, u, "set", "", `<vCard xmlns='vcard-temp'><FN>Docs Check</FN></vCard>`)
		res := mustResult(t, p.alice, "get", "x0054@localhost", `<vCard xmlns='vcard-temp'/>`)
		if res.Child("vcard-temp", "vCard").ChildText("vcard-temp", "FN") != "Docs Check" {
			t.Errorf("vCard read by another user: %s", res)
		}
		if res := request(t, p.alice, "set", "x0054@localhost", `<vCard xmlns='vcard-temp'><FN>x</FN></vCard>`); condition(res) != "forbidden" {
			t.Errorf("setting another user's vCard: %s, want forbidden", res)
		}
	},
	"XEP-0077": func(t *testing.T, p *probe) {
		requireAdvertised(t, p, "XEP-0077")
		// Account creation is off by default: not offered before login,
		// and a request is refused.
		if f := p.tls13.Child(nsRegisterFeature, "register"); f != nil {
			t.Errorf("registration offered by default: %s", p.tls13)
		}
		pre := xmpptest.Dial(t, p.srv.StartTLSAddr)
		pre.OpenStream("localhost")
		pre.StartTLS("localhost")
		if res := request(t, pre, "get", "", `<query xmlns='`+nsRegister+`'/>`); condition(res) != "service-unavailable" {
			t.Errorf("registration request with registration off: %s, want service-unavailable", res)
		}
		// Logged in: registered, a password change, a removal.
		u := p.newUser(t, "x0077", false)
		res := mustResult(t, u, "get", "", `<query xmlns='`+nsRegister+`'/>`)
		if q := res.Child(nsRegister, "query"); q.Child(nsRegister, "registered") == nil || q.ChildText(nsRegister, "username") != "x0077" {
			t.Errorf("registration query of a logged-in user: %s", res)
		}
		mustResult(t, u, "set", "", `<query xmlns='`+nsRegister+`'><username>x0077</username><password>new password</password></query>`)
		c := xmpptest.Dial(t, p.srv.StartTLSAddr)
		c.OpenStream("localhost")
		c.StartTLS("localhost")
		if el := auth(t, c, sasl.ScramSha256, "x0077", "new password"); !el.Is(xmppcore.NSSASL, "success") {
			t.Errorf("login with the changed password: %s", el)
		}
		// A contact who sees x0077's presence, to be told of the removal.
		u.Send(`<presence/>`)
		contact := p.newUser(t, "x0077c", true)
		contact.Send(`<presence type='subscribe' to='x0077@localhost'/>`)
		u.Expect(isPresence("x0077c@localhost", "subscribe"))
		u.Send(`<presence type='subscribed' to='x0077c@localhost'/>`)
		contact.Expect(isPresence("x0077@localhost/r", ""))
		mustResult(t, u, "set", "", `<query xmlns='`+nsRegister+`'><remove/></query>`)
		if cond := u.ExpectStreamError(); cond != "not-authorized" {
			t.Errorf("stream error after the removal: %s, want not-authorized", cond)
		}
		contact.Expect(isPresence("x0077@localhost/r", "unavailable"))
		contact.Expect(isPresence("x0077@localhost", "unsubscribed"))
		if ok, err := p.srv.Store().AccountExists(t.Context(), "localhost", "x0077"); ok || err != nil {
			t.Errorf("the removed account still exists: %v, %v", ok, err)
		}
	},
	"XEP-0092": func(t *testing.T, p *probe) {
		requireAdvertised(t, p, "XEP-0092")
		res := iq(t, p.alice, "localhost", `<query xmlns='jabber:iq:version'/>`)
		q := res.Child("jabber:iq:version", "query")
		if q == nil || q.ChildText("jabber:iq:version", "name") != "Parley" || q.Child("jabber:iq:version", "os") != nil {
			t.Errorf("version: %s", res)
		}
	},
	"XEP-0199": func(t *testing.T, p *probe) {
		requireAdvertised(t, p, "XEP-0199")
		for _, to := range []string{"localhost", "bob@localhost"} {
			if res := iq(t, p.alice, to, `<ping xmlns='urn:xmpp:ping'/>`); res.Attr("type") != "result" {
				t.Errorf("ping %s: %s", to, res)
			}
		}
	},
	"XEP-0202": func(t *testing.T, p *probe) {
		requireAdvertised(t, p, "XEP-0202")
		res := iq(t, p.alice, "localhost", `<time xmlns='urn:xmpp:time'/>`)
		if tm := res.Child("urn:xmpp:time", "time"); tm == nil || tm.ChildText("urn:xmpp:time", "utc") == "" {
			t.Errorf("time: %s", res)
		}
	},
	"XEP-0160": func(t *testing.T, p *probe) {
		requireAdvertised(t, p, "XEP-0160")
		offlineMessage(t, p, "x0160")
	},
	"XEP-0191": func(t *testing.T, p *probe) {
		requireAdvertised(t, p, "XEP-0191")
		a, b := p.newUser(t, "x0191a", true), p.newUser(t, "x0191b", true)
		mustResult(t, a, "set", "", `<block xmlns='`+nsBlocking+`'><item jid='x0191b@localhost'/></block>`)
		res := mustResult(t, a, "get", "", `<blocklist xmlns='`+nsBlocking+`'/>`)
		if it := res.Child(nsBlocking, "blocklist").Child(nsBlocking, "item"); it == nil || it.Attr("jid") != "x0191b@localhost" {
			t.Errorf("block list: %s", res)
		}
		b.Send(`<message type='chat' id='blk' to='x0191a@localhost'><body>hi</body></message>`)
		if e := b.Expect(func(el *xmppcore.Element) bool { return el.Attr("id") == "blk" }); condition(e) != "service-unavailable" {
			t.Errorf("a message from a blocked user: %s, want service-unavailable", e)
		}
		mustResult(t, a, "set", "", `<unblock xmlns='`+nsBlocking+`'/>`)
		b.Send(`<message type='chat' id='unblk' to='x0191a@localhost'><body>hi</body></message>`)
		a.Expect(func(el *xmppcore.Element) bool { return el.Local == "message" && el.Attr("id") == "unblk" })
	},
	"XEP-0203": func(t *testing.T, p *probe) {
		msg, sent := offlineMessage(t, p, "x0203")
		d := msg.Child(nsDelay, "delay")
		if d == nil {
			t.Fatalf("no delay on an offline message: %s", msg)
		}
		stamp, err := time.Parse(time.RFC3339Nano, d.Attr("stamp"))
		if err != nil || !strings.HasSuffix(d.Attr("stamp"), "Z") || d.Attr("from") != "localhost" {
			t.Errorf("delay %s: %v; want from the host, stamped in UTC", d, err)
		}
		if stamp.Before(sent[0]) || stamp.After(sent[1]) {
			t.Errorf("delay stamp %s is not when the message was sent, between %s and %s", d.Attr("stamp"), sent[0], sent[1])
		}
	},
	"XEP-0237": func(t *testing.T, p *probe) {
		if p.postAuth.Child(nsRosterVer, "ver") == nil {
			t.Errorf("no roster versioning stream feature: %s", p.postAuth)
		}
		u := p.newUser(t, "x0237", false)
		v0 := mustResult(t, u, "get", "", `<query xmlns='`+nsRoster+`' ver=''/>`).Child(nsRoster, "query").Attr("ver")
		if v0 == "" {
			t.Fatalf("a roster get with ver is answered without a version")
		}
		mustResult(t, u, "set", "", `<query xmlns='`+nsRoster+`'><item jid='someone@localhost' name='S'/></query>`)
		// At the current version: an empty result. At the one before: an
		// empty result, then the change as a push carrying its version.
		res := mustResult(t, u, "get", "", `<query xmlns='`+nsRoster+`' ver='`+v0+`'/>`)
		if res.ChildCount() != 0 {
			t.Errorf("roster get at an older version: %s, want an empty result before pushes", res)
		}
		push := u.Expect(func(el *xmppcore.Element) bool { return el.Local == "iq" && el.Attr("type") == "set" })
		q := push.Child(nsRoster, "query")
		if it := q.Child(nsRoster, "item"); it == nil || it.Attr("jid") != "someone@localhost" || q.Attr("ver") == "" || q.Attr("ver") == v0 {
			t.Errorf("the change since %s: %s", v0, push)
		}
		if res := mustResult(t, u, "get", "", `<query xmlns='`+nsRoster+`' ver='`+q.Attr("ver")+`'/>`); res.ChildCount() != 0 {
			t.Errorf("roster get at the current version: %s, want an empty result", res)
		}
	},
	"XEP-0368": func(t *testing.T, p *probe) {
		if p.directALPN != "xmpp-client" {
			t.Errorf("ALPN on the direct TLS port: %q, want xmpp-client", p.directALPN)
		}
		if len(mechanisms(p.direct)) == 0 || p.direct.Child(xmppcore.NSTLS, "starttls") != nil {
			t.Errorf("features on direct TLS: %s", p.direct)
		}
	},
	"XEP-0440": func(t *testing.T, p *probe) {
		if len(cbTypes(p.tls13)) == 0 {
			t.Errorf("no sasl-channel-binding feature: %s", p.tls13)
		}
	},
}

// TestSupportedSpecs checks docs/xeps.md against a running server: every
// row holds, and everything the server advertises has a row.
func TestSupportedSpecs(t *testing.T) {
	rows := specRows(t)
	p := newProbe(t)

	for id := range specChecks {
		if _, ok := rows[id]; !ok {
			t.Errorf("docs_test.go checks %s, which has no row in docs/xeps.md", id)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(rows)) {
		check, ok := specChecks[id]
		if !ok {
			t.Errorf("docs/xeps.md lists %s, but docs_test.go has no check that the server does it", id)
			continue
		}
		t.Run(id, func(t *testing.T) { check(t, p) })
	}

	// Everything advertised is covered by a row that names it.
	covered := func(what, ns string, known map[string]string) {
		id, ok := known[ns]
		if !ok {
			t.Errorf("the server advertises the %s %s, which docs/xeps.md does not cover: add a row there and the namespace to docs_test.go", what, ns)
			return
		}
		r, ok := rows[id]
		if !ok {
			t.Errorf("the server advertises the %s %s of %s, which has no row in docs/xeps.md", what, ns, id)
			return
		}
		if !strings.Contains(r.notes, "`"+ns+"`") {
			t.Errorf("docs/xeps.md: the notes of %s do not name `%s`", id, ns)
		}
	}
	for _, ns := range append(slices.Clone(p.serverDisco), p.accountDisco...) {
		covered("disco feature", ns, discoFeatures)
	}
	for _, f := range []*xmppcore.Element{p.preTLS, p.tls13, p.postAuth, p.direct} {
		for ch := range f.Children() {
			covered("stream feature", ch.Space, streamFeatures)
		}
	}
	// And every namespace mapped here is really advertised somewhere.
	for ns, id := range discoFeatures {
		if !slices.Contains(p.serverDisco, ns) && !slices.Contains(p.accountDisco, ns) {
			t.Errorf("discoFeatures maps %s to %s, but the server does not advertise it", ns, id)
		}
	}
}

// TestXEPVersions checks the versions in docs/xeps.md against the XEP
// sources in ../shared/specs/xeps (beside the checkout in CI).
func TestXEPVersions(t *testing.T) {
	dir := filepath.Join("..", "shared", "specs", "xeps")
	if _, err := os.Stat(dir); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("XEP sources missing (CI=true, so this fails instead of skipping): %v", err)
		}
		t.Skipf("XEP sources not found: %v", err)
	}
	for id, r := range specRows(t) {
		num, ok := strings.CutPrefix(id, "XEP-")
		if !ok {
			continue
		}
		src, err := os.ReadFile(filepath.Join(dir, "xep-"+num+".xml"))
		if errors.Is(err, fs.ErrNotExist) {
			t.Logf("%s: no source in %s; version not checked", id, dir)
			continue
		} else if err != nil {
			t.Fatal(err)
		}
		want, err := newestRevision(string(src))
		if err != nil {
			t.Errorf("%s: %v", id, err)
			continue
		}
		if r.version != want {
			t.Errorf("docs/xeps.md: %s version %s, but the newest revision is %s", id, r.version, want)
		}
	}
}

var (
	revisionRE = regexp.MustCompile(`(?s)<revision>(.*?)</revision>`)
	versionRE  = regexp.MustCompile(`<version>\s*([^<\s]+)\s*</version>`)
	dateRE     = regexp.MustCompile(`<date>\s*([^<\s]+)\s*</date>`)
)

// newestRevision returns the version of the revision with the latest date
// (the first listed, on a tie). XEP sources use entities defined outside
// the file, so a regular expression reads them more reliably than
// encoding/xml.
func newestRevision(src string) (string, error) {
	best, bestDate := "", ""
	for _, m := range revisionRE.FindAllStringSubmatch(src, -1) {
		v, d := versionRE.FindStringSubmatch(m[1]), dateRE.FindStringSubmatch(m[1])
		if v == nil || d == nil {
			return "", fmt.Errorf("a revision without version or date: %.80q", m[1])
		}
		if d[1] > bestDate {
			best, bestDate = v[1], d[1]
		}
	}
	if best == "" {
		return "", errors.New("no <revision>")
	}
	return best, nil
}

func TestNewestRevision(t *testing.T) {
	src := `<revision><version>1.0</version><date>2020-01-01</date></revision>
		<revision><version>1.1rc1</version><date>2019-05-01</date></revision>
		<revision>
		  <version>1.2</version>
		  <date>2021-02-03</date>
		</revision>`
	if got, err := newestRevision(src); err != nil || got != "1.2" {
		t.Errorf("newestRevision = %q, %v; want 1.2", got, err)
	}
	if _, err := newestRevision("<xep/>"); err == nil {
		t.Error("no error without revisions")
	}
}

// ---------------------------------------------------------------------------
// README.md against config

// TestREADMETOML loads every ```toml block of the README with config.Load,
// as a configuration file of its own. Certificate files the examples name
// do not exist here; that is the only error allowed.
func TestREADMETOML(t *testing.T) {
	blocks := fenced(readFile(t, "README.md"), "toml")
	if len(blocks) == 0 {
		t.Fatal("README.md has no ```toml block")
	}
	for i, b := range blocks {
		path := filepath.Join(t.TempDir(), "config.toml")
		if err := os.WriteFile(path, []byte(b), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := config.Load(path)
		for _, e := range flatten(err) {
			var ce *config.Error
			if errors.As(e, &ce) && regexp.MustCompile(`^host\[\d+\]\.(cert|key)$`).MatchString(ce.Key) &&
				strings.Contains(ce.Msg, "does not exist") {
				continue
			}
			t.Errorf("README.md ```toml block %d:\n%s\n%v", i+1, b, e)
		}
	}
}

// flatten undoes errors.Join.
func flatten(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// TestREADMEConfigKeys checks that every configuration key or table the
// README names in backticks (`c2s.direct_tls`, `[storage.postgres]`,
// `[[host]]`) exists in config.toml.example, which config's own tests keep
// complete.
func TestREADMEConfigKeys(t *testing.T) {
	var schema map[string]any
	if _, err := toml.DecodeFile("config.toml.example", &schema); err != nil {
		t.Fatal(err)
	}
	sections := map[string]bool{}
	for k, v := range schema {
		switch v.(type) {
		case map[string]any, []map[string]any:
			sections[k] = true
		}
	}
	code := regexp.MustCompile("`([^`\n]+)`")
	n := 0
	for _, m := range code.FindAllStringSubmatch(readFile(t, "README.md"), -1) {
		key := m[1]
		if s, ok := strings.CutPrefix(key, "[["); ok {
			key = strings.TrimSuffix(s, "]]")
		} else if s, ok := strings.CutPrefix(key, "["); ok {
			key = strings.TrimSuffix(s, "]")
		}
		first, _, dotted := strings.Cut(key, ".")
		if !sections[first] || (!dotted && key == m[1]) || strings.ContainsAny(key, " =\"") {
			continue // not a configuration key
		}
		n++
		if !hasKey(schema, strings.Split(key, ".")) {
			t.Errorf("README.md names %s, which config.toml.example does not have", m[1])
		}
	}
	if n == 0 {
		t.Error("README.md names no configuration key: is this test still looking at the right thing?")
	}
}

func hasKey(v any, path []string) bool {
	if len(path) == 0 {
		return true
	}
	switch v := v.(type) {
	case map[string]any:
		child, ok := v[path[0]]
		return ok && hasKey(child, path[1:])
	case []map[string]any:
		return len(v) > 0 && hasKey(v[0], path)
	}
	return false
}

// ---------------------------------------------------------------------------
// docs/ARCHITECTURE.md against the imports

// TestTiers checks the tier table of docs/ARCHITECTURE.md: every package of
// the module is in it, and production code imports only packages of lower
// tiers (so packages of one tier, such as two modules, never import each
// other). Packages of the "tests" tier may import anything and are imported
// only by _test.go files and by each other.
func TestTiers(t *testing.T) {
	const name = "docs/ARCHITECTURE.md"
	tierOf := map[string]int{} // package (relative path, "" for the root) -> tier; -1 for tests
	var patterns []string      // "cmd/*" and "*" rows
	patternTier := map[string]int{}
	for _, cells := range table(t, readFile(t, name), name, "| Tier |") {
		tier := -1
		if cells[0] != "tests" {
			n, err := strconv.Atoi(cells[0])
			if err != nil {
				t.Fatalf("%s: tier %q is neither a number nor \"tests\"", name, cells[0])
			}
			tier = n
		}
		for _, m := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(cells[1], -1) {
			pkg := strings.TrimSuffix(m[1], "/")
			if strings.Contains(pkg, "*") {
				patterns = append(patterns, pkg)
				patternTier[pkg] = tier
				continue
			}
			if _, dup := tierOf[pkg]; dup {
				t.Errorf("%s: %s is in two tiers", name, pkg)
			}
			tierOf[pkg] = tier
		}
	}

	imports := modulePackages(t) // package -> Parley packages its non-test files import
	lookup := func(pkg string) (int, bool) {
		if n, ok := tierOf[pkg]; ok {
			return n, true
		}
		for _, p := range patterns {
			if ok, _ := path.Match(p, pkg); ok {
				return patternTier[p], true
			}
		}
		return 0, false
	}
	for pkg := range tierOf {
		if _, ok := imports[pkg]; !ok {
			t.Errorf("%s lists %s, which is not a package of the module (or has only tests)", name, pkg)
		}
	}
	for _, pkg := range slices.Sorted(maps.Keys(imports)) {
		tier, ok := lookup(pkg)
		if !ok {
			t.Errorf("package %s is missing from the tier table of %s", pkg, name)
			continue
		}
		for _, dep := range imports[pkg] {
			dt, ok := lookup(dep)
			switch {
			case !ok:
				// Reported above as missing.
			case dt == -1 && tier != -1:
				t.Errorf("%s imports %s, a test helper, from non-test code", pkg, dep)
			case tier != -1 && dt >= tier:
				t.Errorf("%s (tier %d) imports %s (tier %d): only lower tiers may be imported (%s)", pkg, tier, dep, dt, name)
			}
		}
	}
}

// TestModules checks the module table of docs/ARCHITECTURE.md: one row per
// top-level package that no tier row names explicitly (the modules), and
// "yes" in the last column exactly for those that server imports.
func TestModules(t *testing.T) {
	const name = "docs/ARCHITECTURE.md"
	doc := readFile(t, name)
	named := map[string]bool{}
	for _, cells := range table(t, doc, name, "| Tier |") {
		for _, m := range regexp.MustCompile("`([^`*]+)`").FindAllStringSubmatch(cells[1], -1) {
			named[m[1]] = true
		}
	}
	imports := modulePackages(t)
	rows := map[string]string{}
	for _, cells := range table(t, doc, name, "| Module |") {
		pkg := strings.Trim(cells[0], "`")
		rows[pkg] = cells[len(cells)-1]
		if _, ok := imports[pkg]; !ok {
			t.Errorf("%s: the module table lists %s, which is not a package", name, pkg)
		}
	}
	for pkg := range imports {
		if strings.Contains(pkg, "/") || named[pkg] || pkg == "" {
			continue
		}
		run, ok := rows[pkg]
		if !ok {
			t.Errorf("%s: module %s has no row in the module table", name, pkg)
			continue
		}
		want := "not yet"
		if slices.Contains(imports["server"], pkg) {
			want = "yes"
		}
		if run != want {
			t.Errorf("%s: module %s is marked %q as run by the server, want %q", name, pkg, run, want)
		}
	}
}

// TestStorageAreas checks that docs/ARCHITECTURE.md names, in backticks,
// every interface embedded in storage.Store.
func TestStorageAreas(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "storage/storage.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var areas []string
	for _, decl := range f.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok {
			continue
		}
		for _, spec := range gd.Specs {
			ts, ok := spec.(*ast.TypeSpec)
			if !ok || ts.Name.Name != "Store" {
				continue
			}
			for _, field := range ts.Type.(*ast.InterfaceType).Methods.List {
				if id, ok := field.Type.(*ast.Ident); ok && len(field.Names) == 0 {
					areas = append(areas, id.Name)
				}
			}
		}
	}
	if len(areas) == 0 {
		t.Fatal("storage.Store embeds no interface: is this test reading the right file?")
	}
	doc := readFile(t, "docs/ARCHITECTURE.md")
	for _, a := range areas {
		if !strings.Contains(doc, "`"+a+"`") {
			t.Errorf("docs/ARCHITECTURE.md does not name `%s`, a storage area embedded in storage.Store", a)
		}
	}
}

// modulePackages maps each package directory of the module that has
// non-test Go files to the module's packages those files import.
func modulePackages(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != "." && (strings.HasPrefix(d.Name(), ".") || strings.HasPrefix(d.Name(), "_") || d.Name() == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		pkg := filepath.ToSlash(filepath.Dir(p))
		if pkg == "." {
			pkg = ""
		}
		f, err := parser.ParseFile(token.NewFileSet(), p, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		deps := out[pkg]
		for _, imp := range f.Imports {
			ip, _ := strconv.Unquote(imp.Path.Value)
			if rel, ok := strings.CutPrefix(ip, modulePath+"/"); ok && !slices.Contains(deps, rel) {
				deps = append(deps, rel)
			}
		}
		out[pkg] = deps
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestArchitectureExamples compiles the ```go blocks of
// docs/ARCHITECTURE.md that are whole files (they start with "package") as
// packages of this module, through an overlay so that nothing is written
// into the tree, and runs their tests.
func TestArchitectureExamples(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command: %v", err)
	}
	if testing.Short() {
		t.Skip("runs the go command")
	}
	root, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	overlay := map[string]string{}
	pkgs := map[string]bool{}
	for i, b := range fenced(readFile(t, "docs/ARCHITECTURE.md"), "go") {
		name, ok := strings.CutPrefix(b, "package ")
		if !ok {
			if pkgLine := regexp.MustCompile(`(?m)^package (\w+)$`).FindStringSubmatch(b); pkgLine == nil {
				continue // a fragment
			}
			_, name, _ = strings.Cut(b, "\npackage ")
		}
		pkg, _, _ := strings.Cut(name, "\n")
		file := fmt.Sprintf("example%d.go", i)
		if strings.Contains(b, "\"testing\"") {
			file = fmt.Sprintf("example%d_test.go", i)
		}
		src := filepath.Join(dir, file)
		if err := os.WriteFile(src, []byte(b), 0o600); err != nil {
			t.Fatal(err)
		}
		overlay[filepath.Join(root, "zz_docexample", pkg, file)] = src
		pkgs[pkg] = true
	}
	if len(pkgs) == 0 {
		t.Fatal("docs/ARCHITECTURE.md has no ```go block that is a whole file")
	}
	spec, err := json.Marshal(map[string]any{"Replace": overlay})
	if err != nil {
		t.Fatal(err)
	}
	specFile := filepath.Join(dir, "overlay.json")
	if err := os.WriteFile(specFile, spec, 0o600); err != nil {
		t.Fatal(err)
	}
	// go test would run vet and the test binary in the package directory,
	// which does not exist: build the test binary, then run it here.
	for pkg := range pkgs {
		bin := filepath.Join(dir, pkg+".test")
		build := exec.Command(goTool, "test", "-c", "-vet=off", "-overlay="+specFile, "-o", bin, "./zz_docexample/"+pkg)
		build.Dir = root
		if out, err := build.CombinedOutput(); err != nil {
			t.Errorf("the example package %s of docs/ARCHITECTURE.md does not compile: %v\n%s", pkg, err, out)
			continue
		}
		run := exec.Command(bin, "-test.count=1")
		run.Dir = dir
		if out, err := run.CombinedOutput(); err != nil {
			t.Errorf("the example package %s of docs/ARCHITECTURE.md fails its test: %v\n%s", pkg, err, out)
		}
	}
}

// ---------------------------------------------------------------------------
// Links

// TestLocalLinks checks that relative links in README.md and docs/*.md point
// to files that exist.
func TestLocalLinks(t *testing.T) {
	pages, err := filepath.Glob("docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	pages = append(pages, "README.md")
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	for _, page := range pages {
		for _, m := range link.FindAllStringSubmatch(readFile(t, page), -1) {
			target, _, _ := strings.Cut(m[1], "#")
			if target == "" || strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(page), target)); err != nil {
				t.Errorf("%s links to %s, which does not exist", page, m[1])
			}
		}
	}
}
