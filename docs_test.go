// Tests that keep the documentation true to the code: docs/xeps.md against
// a running server, the README's TOML against config.Load, the package
// tiers of docs/ARCHITECTURE.md against the imports, and relative links in
// every page against the files they point to.
package parley_test

import (
	"crypto/sha1" //nolint:gosec // XEP-0115 verification strings
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
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
	"parley.im/parley/internal/routertest"
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
	"urn:xmpp:bookmarks:1#compat":            "XEP-0402",
	"urn:xmpp:bookmarks:1#compat-pep":        "XEP-0402",
	"urn:xmpp:pep-vcard-conversion:0":        "XEP-0398",
	"jabber:iq:register":                     "XEP-0077",
	"jabber:iq:version":                      "XEP-0092",
	"msgoffline":                             "XEP-0160",
	"urn:xmpp:blocking":                      "XEP-0191",
	"urn:xmpp:ping":                          "XEP-0199",
	"urn:xmpp:time":                          "XEP-0202",
	"urn:xmpp:carbons:2":                     "XEP-0280",
	"urn:xmpp:mam:2":                         "XEP-0313",
	"urn:xmpp:mam:2#extended":                "XEP-0313",
	"urn:xmpp:sid:0":                         "XEP-0359",
	// Every pubsub feature goes to the XEP-0060 row; its check and those of
	// XEP-0163, XEP-0223 and XEP-0384 exercise them.
	"http://jabber.org/protocol/pubsub":                            "XEP-0060",
	"http://jabber.org/protocol/pubsub#access-open":                "XEP-0060",
	"http://jabber.org/protocol/pubsub#access-presence":            "XEP-0060",
	"http://jabber.org/protocol/pubsub#access-roster":              "XEP-0060",
	"http://jabber.org/protocol/pubsub#access-whitelist":           "XEP-0060",
	"http://jabber.org/protocol/pubsub#auto-create":                "XEP-0060",
	"http://jabber.org/protocol/pubsub#auto-subscribe":             "XEP-0060",
	"http://jabber.org/protocol/pubsub#config-node":                "XEP-0060",
	"http://jabber.org/protocol/pubsub#config-node-max":            "XEP-0060",
	"http://jabber.org/protocol/pubsub#create-and-configure":       "XEP-0060",
	"http://jabber.org/protocol/pubsub#create-nodes":               "XEP-0060",
	"http://jabber.org/protocol/pubsub#delete-items":               "XEP-0060",
	"http://jabber.org/protocol/pubsub#delete-nodes":               "XEP-0060",
	"http://jabber.org/protocol/pubsub#filtered-notifications":     "XEP-0060",
	"http://jabber.org/protocol/pubsub#item-ids":                   "XEP-0060",
	"http://jabber.org/protocol/pubsub#last-published":             "XEP-0060",
	"http://jabber.org/protocol/pubsub#manage-subscriptions":       "XEP-0060",
	"http://jabber.org/protocol/pubsub#member-affiliation":         "XEP-0060",
	"http://jabber.org/protocol/pubsub#meta-data":                  "XEP-0060",
	"http://jabber.org/protocol/pubsub#modify-affiliations":        "XEP-0060",
	"http://jabber.org/protocol/pubsub#outcast-affiliation":        "XEP-0060",
	"http://jabber.org/protocol/pubsub#persistent-items":           "XEP-0060",
	"http://jabber.org/protocol/pubsub#presence-notifications":     "XEP-0060",
	"http://jabber.org/protocol/pubsub#presence-subscribe":         "XEP-0060",
	"http://jabber.org/protocol/pubsub#publish":                    "XEP-0060",
	"http://jabber.org/protocol/pubsub#publish-options":            "XEP-0060",
	"http://jabber.org/protocol/pubsub#publish-only-affiliation":   "XEP-0060",
	"http://jabber.org/protocol/pubsub#publisher-affiliation":      "XEP-0060",
	"http://jabber.org/protocol/pubsub#purge-nodes":                "XEP-0060",
	"http://jabber.org/protocol/pubsub#retract-items":              "XEP-0060",
	"http://jabber.org/protocol/pubsub#retrieve-affiliations":      "XEP-0060",
	"http://jabber.org/protocol/pubsub#retrieve-default":           "XEP-0060",
	"http://jabber.org/protocol/pubsub#retrieve-items":             "XEP-0060",
	"http://jabber.org/protocol/pubsub#retrieve-subscriptions":     "XEP-0060",
	"http://jabber.org/protocol/pubsub#subscribe":                  "XEP-0060",
	"http://jabber.org/protocol/pubsub#subscription-notifications": "XEP-0060",
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
	"urn:xmpp:sasl:2":    "XEP-0388",
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
	"XEP-0045": func(t *testing.T, p *probe) {
		owner, guest := p.newUser(t, "x0045a", true), p.newUser(t, "x0045b", true)
		room := "docs@conference.localhost"
		info := mustResult(t, owner, "get", "conference.localhost", `<query xmlns='http://jabber.org/protocol/disco#info'/>`)
		if !hasFeature(info, "http://jabber.org/protocol/muc") {
			t.Errorf("the MUC service does not advertise http://jabber.org/protocol/muc: %s", info)
		}
		// An instant room: created locked (201), unlocked by an empty form.
		owner.Send(`<presence to='` + room + `/owner'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
		self := owner.Expect(isPresence(room+"/owner", ""))
		if !hasStatus(self, "110") || !hasStatus(self, "201") {
			t.Errorf("the creator's own presence lacks 110 and 201: %s", self)
		}
		mustResult(t, owner, "set", room, `<query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'/></query>`)
		guest.Send(`<presence to='` + room + `/guest'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
		guest.Expect(isPresence(room+"/owner", ""))
		guest.Expect(isPresence(room+"/guest", ""))
		owner.Expect(isPresence(room+"/guest", ""))
		owner.Send(`<message type='groupchat' to='` + room + `' id='g1'><body>hello room</body></message>`)
		for _, c := range []*xmpptest.Client{owner, guest} {
			m := c.Expect(func(el *xmppcore.Element) bool { return el.Local == "message" && el.Attr("id") == "g1" })
			if m.Attr("from") != room+"/owner" || m.ChildText("", "body") != "hello room" {
				t.Errorf("groupchat message as received: %s", m)
			}
		}
		// Only a moderator may kick.
		if res := request(t, guest, "set", room, `<query xmlns='http://jabber.org/protocol/muc#admin'><item nick='owner' role='none'/></query>`); routertest.ErrorCondition(res) != "forbidden" {
			t.Errorf("a participant kicking the owner: %s, want forbidden", res)
		}
	},
	"XEP-0425": func(t *testing.T, p *probe) {
		mod, other := p.newUser(t, "x0425a", true), p.newUser(t, "x0425b", true)
		room := "moderated@conference.localhost"
		mod.Send(`<presence to='` + room + `/mod'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
		mod.Expect(isPresence(room+"/mod", ""))
		mustResult(t, mod, "set", room, `<query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'/></query>`)
		if !hasFeature(mustResult(t, mod, "get", room, `<query xmlns='http://jabber.org/protocol/disco#info'/>`), "urn:xmpp:message-moderate:1") {
			t.Errorf("the room does not advertise urn:xmpp:message-moderate:1")
		}
		other.Send(`<presence to='` + room + `/other'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
		other.Expect(isPresence(room+"/other", ""))
		other.Send(`<message type='groupchat' to='` + room + `' id='bad'><body>spam</body></message>`)
		msg := mod.Expect(func(el *xmppcore.Element) bool { return el.Local == "message" && el.Attr("id") == "bad" })
		sid := msg.Child("urn:xmpp:sid:0", "stanza-id")
		if sid == nil || sid.Attr("by") != room {
			t.Fatalf("no stanza-id by the room on %s", msg)
		}
		moderate := `<moderate xmlns='urn:xmpp:message-moderate:1' id='` + sid.Attr("id") + `'><retract xmlns='urn:xmpp:message-retract:1'/><reason>spam</reason></moderate>`
		if res := request(t, other, "set", room, moderate); routertest.ErrorCondition(res) != "forbidden" {
			t.Errorf("a participant moderating: %s, want forbidden", res)
		}
		mustResult(t, mod, "set", room, moderate)
		retraction := other.Expect(func(el *xmppcore.Element) bool {
			return el.Local == "message" && el.Child("urn:xmpp:message-retract:1", "retract") != nil
		})
		r := retraction.Child("urn:xmpp:message-retract:1", "retract")
		if r.Attr("id") != sid.Attr("id") || r.Child("urn:xmpp:message-moderate:1", "moderated") == nil {
			t.Errorf("retraction as broadcast: %s", retraction)
		}
		if res := request(t, mod, "set", room, `<moderate xmlns='urn:xmpp:message-moderate:1' id='nope'><retract xmlns='urn:xmpp:message-retract:1'/></moderate>`); routertest.ErrorCondition(res) != "item-not-found" {
			t.Errorf("moderating an unknown id: %s, want item-not-found", res)
		}
	},
	"XEP-0486": func(t *testing.T, p *probe) {
		owner, guest := p.newUser(t, "x0486a", true), p.newUser(t, "x0486b", true)
		room := "avatar@conference.localhost"
		owner.Send(`<presence to='` + room + `/o'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
		owner.Expect(isPresence(room+"/o", ""))
		mustResult(t, owner, "set", room, `<query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'/></query>`)
		img := []byte("not really a png")
		photo := `<vCard xmlns='vcard-temp'><PHOTO><TYPE>image/png</TYPE><BINVAL>` + base64.StdEncoding.EncodeToString(img) + `</BINVAL></PHOTO></vCard>`
		if res := request(t, guest, "set", room, photo); routertest.ErrorCondition(res) != "forbidden" {
			t.Errorf("a non-owner setting the room's avatar: %s, want forbidden", res)
		}
		mustResult(t, owner, "set", room, photo)
		got := mustResult(t, guest, "get", room, `<vCard xmlns='vcard-temp'/>`)
		if v := got.Child("vcard-temp", "vCard"); v == nil || v.Child("vcard-temp", "PHOTO") == nil {
			t.Errorf("the room's vCard: %s", got)
		}
		sum := sha1.Sum(img)
		info := mustResult(t, guest, "get", room, `<query xmlns='http://jabber.org/protocol/disco#info'/>`)
		if !hasFeature(info, "vcard-temp") || !strings.Contains(info.String(), hex.EncodeToString(sum[:])) {
			t.Errorf("the room's disco#info lacks vcard-temp or the avatar hash %x: %s", sum, info)
		}
	},
	"XEP-0410": func(t *testing.T, p *probe) {
		u := p.newUser(t, "x0410", true)
		room := "selfping@conference.localhost"
		if res := request(t, u, "get", room+"/me", `<ping xmlns='urn:xmpp:ping'/>`); res.Attr("type") != "error" {
			t.Errorf("self-ping before joining: %s, want an error", res)
		}
		u.Send(`<presence to='` + room + `/me'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
		u.Expect(isPresence(room+"/me", ""))
		mustResult(t, u, "set", room, `<query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'/></query>`)
		mustResult(t, u, "get", room+"/me", `<ping xmlns='urn:xmpp:ping'/>`)
	},
	"XEP-0421": func(t *testing.T, p *probe) {
		a, b := p.newUser(t, "x0421a", true), p.newUser(t, "x0421b", true)
		room := "ids@conference.localhost"
		a.Send(`<presence to='` + room + `/a'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
		a.Expect(isPresence(room+"/a", ""))
		mustResult(t, a, "set", room, `<query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'/></query>`)
		b.Send(`<presence to='` + room + `/b'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
		seen := b.Expect(isPresence(room+"/a", ""))
		a.Send(`<message type='groupchat' to='` + room + `' id='o1'><body>x</body></message>`)
		msg := b.Expect(func(el *xmppcore.Element) bool { return el.Local == "message" && el.Attr("id") == "o1" })
		id1 := seen.Child("urn:xmpp:occupant-id:0", "occupant-id")
		id2 := msg.Child("urn:xmpp:occupant-id:0", "occupant-id")
		if id1 == nil || id2 == nil || id1.Attr("id") == "" || id1.Attr("id") != id2.Attr("id") {
			t.Errorf("occupant ids in presence %s and message %s: want the same, non-empty", seen, msg)
		}
	},
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
		// The server's items: the MUC service of the host.
		res := mustResult(t, p.alice, "get", "localhost", `<query xmlns='`+nsDiscoItems+`'/>`)
		var items []string
		for it := range res.Child(nsDiscoItems, "query").Children() {
			items = append(items, it.Attr("jid"))
		}
		if !slices.Contains(items, "conference.localhost") {
			t.Errorf("disco#items of the server: %q, want conference.localhost", items)
		}
		// Nodes: an account's PEP nodes, and a node's items.
		u := p.newUser(t, "x0030p", false)
		const node = "urn:example:docs:x0030"
		mustResult(t, u, "set", "", publishItem(node, "i1", `<x xmlns='urn:example:docs'/>`, "pubsub#access_model", "open"))
		q := mustResult(t, p.alice, "get", "x0030p@localhost", `<query xmlns='`+nsDiscoItems+`'/>`).Child(nsDiscoItems, "query")
		if it := q.Child(nsDiscoItems, "item"); q.ChildCount() != 1 || it.Attr("jid") != "x0030p@localhost" || it.Attr("node") != node {
			t.Errorf("disco#items of an account with one open node: %s", q)
		}
		q = mustResult(t, p.alice, "get", "x0030p@localhost", `<query xmlns='`+nsDiscoItems+`' node='`+node+`'/>`).Child(nsDiscoItems, "query")
		if it := q.Child(nsDiscoItems, "item"); q.ChildCount() != 1 || it.Attr("name") != "i1" {
			t.Errorf("disco#items of a node: %s, want its item i1", q)
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
		if res := iq(t, p.alice, "x0012@localhost", `<query xmlns='`+nsLast+`'/>`); routertest.ErrorCondition(res) != "forbidden" {
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
		if res := iq(t, p.alice, "x0049@localhost", `<query xmlns='jabber:iq:private'><prefs xmlns='urn:example:docs'/></query>`); routertest.ErrorCondition(res) != "forbidden" {
			t.Errorf("another user's private XML: %s, want forbidden", res)
		}
	},
	"XEP-0402": func(t *testing.T, p *probe) {
		requireAdvertised(t, p, "XEP-0402")
		u := p.newUser(t, "x0402", false)
		// #compat: private XML -> native bookmarks and the legacy PEP node.
		mustResult(t, u, "set", "", `<query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'>`+
			`<conference jid='a@conference.localhost' name='A' autojoin='true'><nick>n</nick></conference></storage></query>`)
		res := mustResult(t, u, "get", "", `<pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:bookmarks:1'/></pubsub>`)
		it := res.Child(nsPubSubDocs, "pubsub").Child(nsPubSubDocs, "items").Child(nsPubSubDocs, "item")
		if it == nil || it.Attr("id") != "a@conference.localhost" ||
			it.Child("urn:xmpp:bookmarks:1", "conference").ChildText("urn:xmpp:bookmarks:1", "nick") != "n" {
			t.Errorf("native bookmarks after a private XML set: %s", res)
		}
		res = mustResult(t, u, "get", "", `<pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='storage:bookmarks'/></pubsub>`)
		if !strings.Contains(res.String(), "a@conference.localhost") {
			t.Errorf("legacy PEP bookmarks after a private XML set (#compat-pep): %s", res)
		}
		// Native publish and retraction -> private XML.
		mustResult(t, u, "set", "", `<pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='urn:xmpp:bookmarks:1'>`+
			`<item id='b@conference.localhost'><conference xmlns='urn:xmpp:bookmarks:1' name='B'/></item></publish></pubsub>`)
		mustResult(t, u, "set", "", `<pubsub xmlns='http://jabber.org/protocol/pubsub'><retract node='urn:xmpp:bookmarks:1'><item id='a@conference.localhost'/></retract></pubsub>`)
		res = mustResult(t, u, "get", "", `<query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query>`)
		s := res.Child("jabber:iq:private", "query").Child("storage:bookmarks", "storage")
		if s == nil || s.ChildCount() != 1 || s.FirstChild().Attr("jid") != "b@conference.localhost" {
			t.Errorf("private XML after native publish and retraction: %s", res)
		}
	},
	"XEP-0398": func(t *testing.T, p *probe) {
		requireAdvertised(t, p, "XEP-0398")
		u := p.newUser(t, "x0398", false)
		img := []byte("docs avatar")
		sum := sha1.Sum(img) //nolint:gosec // XEP-0084 names images by SHA-1
		id := hex.EncodeToString(sum[:])
		mustResult(t, u, "set", "", `<vCard xmlns='vcard-temp'><FN>x</FN><PHOTO><TYPE>image/png</TYPE><BINVAL>`+b64(img)+`</BINVAL></PHOTO></vCard>`)
		res := mustResult(t, u, "get", "", `<pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:avatar:metadata'/></pubsub>`)
		if it := res.Child(nsPubSubDocs, "pubsub").Child(nsPubSubDocs, "items").Child(nsPubSubDocs, "item"); it == nil || it.Attr("id") != id {
			t.Errorf("avatar metadata after a vCard set: %s", res)
		}
		// Its presence carries the hash (XEP-0153).
		u2, _ := xmpptest.Login(t, p.srv, "x0398", testPassword, "r2")
		u2.Send(`<presence/>`)
		u2.Expect(func(el *xmppcore.Element) bool {
			return el.Local == "presence" && el.Attr("from") == "x0398@localhost/r2"
		})
		u.Send(`<presence/>`)
		pres := u2.Expect(func(el *xmppcore.Element) bool {
			return el.Local == "presence" && el.Attr("from") == "x0398@localhost/r"
		})
		if got := pres.Child("vcard-temp:x:update", "x").ChildText("vcard-temp:x:update", "photo"); got != id {
			t.Errorf("presence without the avatar hash: %s", pres)
		}
		// Empty metadata removes the vCard photo.
		mustResult(t, u, "set", "", `<pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='urn:xmpp:avatar:metadata'><item id='current'><metadata xmlns='urn:xmpp:avatar:metadata'/></item></publish></pubsub>`)
		res = mustResult(t, u, "get", "", `<vCard xmlns='vcard-temp'/>`)
		if v := res.Child("vcard-temp", "vCard"); v.Child("vcard-temp", "PHOTO") != nil || v.ChildText("vcard-temp", "FN") != "x" {
			t.Errorf("vCard after the avatar was disabled: %s", res)
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
		if res := request(t, p.alice, "set", "x0054@localhost", `<vCard xmlns='vcard-temp'><FN>x</FN></vCard>`); routertest.ErrorCondition(res) != "forbidden" {
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
		if res := request(t, pre, "get", "", `<query xmlns='`+nsRegister+`'/>`); routertest.ErrorCondition(res) != "service-unavailable" {
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
		msg, _ := offlineMessage(t, p, "x0160")
		// With the archive: the ID of the archive entry (XEP-0359).
		c, _ := xmpptest.Login(t, p.srv, "x0160b", testPassword, "q")
		if pg := mustQuery(t, c, ""); len(pg.ids) != 1 || stanzaIDBy(t, msg, "x0160b@localhost") != pg.ids[0] {
			t.Errorf("the offline message %s, the archive %q: want the archive's ID as stanza-id", msg, pg.ids)
		}
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
		if e := b.Expect(func(el *xmppcore.Element) bool { return el.Attr("id") == "blk" }); routertest.ErrorCondition(e) != "service-unavailable" {
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
		// The archive's copy: when it was archived, to the millisecond.
		c, _ := xmpptest.Login(t, p.srv, "x0203b", testPassword, "q")
		pg := mustQuery(t, c, "")
		if len(pg.results) != 1 {
			t.Fatalf("archive of x0203b: %d results", len(pg.results))
		}
		d = pg.results[0].Child(nsForward, "forwarded").Child(nsDelay, "delay")
		stamp, err = time.Parse(time.RFC3339Nano, d.Attr("stamp"))
		if err != nil || !strings.HasSuffix(d.Attr("stamp"), "Z") || stamp.Before(sent[0]) || stamp.After(sent[1]) {
			t.Errorf("the archive's delay %s: %v; want a UTC stamp between %s and %s", d, err, sent[0], sent[1])
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
	"XEP-0059": checkRSM,
	"XEP-0386": checkBind2,
	"XEP-0388": checkSASL2,
	"XEP-0474": checkSSDP,
	"XEP-0484": checkFAST,
	"XEP-0220": checkDialback,
	"XEP-0288": checkBidi,
	"XEP-0060": checkPubSub,
	"XEP-0115": checkCaps,
	"XEP-0163": checkPEP,
	"XEP-0223": checkPrivatePEP,
	"XEP-0280": checkCarbons,
	"XEP-0297": checkForwarding,
	"XEP-0313": checkMAM,
	"XEP-0334": checkHints,
	"XEP-0359": checkStanzaIDs,
	"XEP-0384": checkOMEMO,
	"XEP-0441": checkMAMPrefs,
}

// ---------------------------------------------------------------------------
// Checks of carbons, the archive and PEP: each one a real exchange between
// users of its own.

// Namespaces of those checks.
const nsPubSubDocs = "http://jabber.org/protocol/pubsub"

const (
	nsCarbons      = "urn:xmpp:carbons:2"
	nsForward      = "urn:xmpp:forward:0"
	nsMAM          = "urn:xmpp:mam:2"
	nsSID          = "urn:xmpp:sid:0"
	nsRSM          = "http://jabber.org/protocol/rsm"
	nsHints        = "urn:xmpp:hints"
	nsData         = "jabber:x:data"
	nsDiscoInfo    = "http://jabber.org/protocol/disco#info"
	nsDiscoItems   = "http://jabber.org/protocol/disco#items"
	nsCaps         = "http://jabber.org/protocol/caps"
	nsPubSub       = "http://jabber.org/protocol/pubsub"
	nsPubSubOwner  = nsPubSub + "#owner"
	nsPubSubEvent  = nsPubSub + "#event"
	nsPubSubErrors = nsPubSub + "#errors"
	nsAddress      = "http://jabber.org/protocol/address"
	nsOMEMO        = "urn:xmpp:omemo:2"
)

// nextID returns a stanza ID not used before by these checks.
func nextID() string {
	iqIDs++
	return "docs-" + strconv.Itoa(iqIDs)
}

// drain pings the server from c and returns what c received before the
// answer: everything the server had routed to c by the time it answered.
// This is how a check shows that something was not sent.
func drain(t *testing.T, c *xmpptest.Client) []*xmppcore.Element {
	t.Helper()
	id := nextID()
	c.Send(`<iq type='get' id='` + id + `' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`)
	var got []*xmppcore.Element
	for {
		el := c.Next()
		if el.Local == "iq" && el.Attr("id") == id {
			return got
		}
		got = append(got, el)
	}
}

// exchange is request that also returns what arrived before the answer.
func exchange(t *testing.T, c *xmpptest.Client, typ, to, payload string) (res *xmppcore.Element, before []*xmppcore.Element) {
	t.Helper()
	id := nextID()
	if to != "" {
		to = ` to='` + to + `'`
	}
	c.Send(`<iq type='` + typ + `' id='` + id + `'` + to + `>` + payload + `</iq>`)
	for {
		el := c.Next()
		if el.Local == "iq" && el.Attr("id") == id {
			return el, before
		}
		before = append(before, el)
	}
}

// messages keeps the messages of els.
func messages(els []*xmppcore.Element) []*xmppcore.Element {
	var out []*xmppcore.Element
	for _, el := range els {
		if el.Local == "message" {
			out = append(out, el)
		}
	}
	return out
}

func dumpAll(els []*xmppcore.Element) string {
	var b strings.Builder
	for _, el := range els {
		b.WriteString("\n\t")
		b.WriteString(el.String())
	}
	return b.String()
}

// isMessageID matches the message with that id.
func isMessageID(id string) func(*xmppcore.Element) bool {
	return func(el *xmppcore.Element) bool { return el.Local == "message" && el.Attr("id") == id }
}

func isMessage(el *xmppcore.Element) bool { return el.Local == "message" }

// chatTo is a chat message with a body.
func chatTo(to, id, body, extra string) string {
	return `<message type='chat' id='` + id + `' to='` + to + `'><body>` + body + `</body>` + extra + `</message>`
}

// befriend gives two available users a presence subscription both ways.
func befriend(t *testing.T, a *xmpptest.Client, aBare string, b *xmpptest.Client, bBare string) {
	t.Helper()
	for _, s := range []struct {
		from, to         *xmpptest.Client
		fromBare, toBare string
	}{{a, b, aBare, bBare}, {b, a, bBare, aBare}} {
		s.from.Send(`<presence type='subscribe' to='` + s.toBare + `'/>`)
		s.to.Expect(isPresence(s.fromBare, "subscribe"))
		s.to.Send(`<presence type='subscribed' to='` + s.fromBare + `'/>`)
		s.from.Expect(isPresence(s.toBare, "subscribed"))
	}
	drain(t, a)
	drain(t, b)
}

// stanzaIDBy returns the id of the XEP-0359 stanza-id by 'by' in el, ""
// without one; two of them fail the check.
func stanzaIDBy(t *testing.T, el *xmppcore.Element, by string) string {
	t.Helper()
	id, n := "", 0
	for ch := range el.Children() {
		if ch.Is(nsSID, "stanza-id") && ch.Attr("by") == by {
			id = ch.Attr("id")
			n++
		}
	}
	if n > 1 {
		t.Errorf("%d stanza-ids by %s in %s", n, by, el)
	}
	return id
}

// --- XEP-0115 caps, as a client announces them

const capsNode = "https://parley.im/docs"

// capsVer is the XEP-0115 §5.1 verification string, with SHA-1, of a
// client with one identity (client/pc, named Docs) and these features,
// computed here independently of the server's code.
func capsVer(features []string) string { return capsVerHash("sha-1", features) }

// capsVerHash is capsVer with another hash function of §5.1: sha-1,
// sha-256 or sha-512.
func capsVerHash(hash string, features []string) string {
	s := "client/pc//Docs<"
	for _, f := range slices.Sorted(slices.Values(features)) {
		s += f + "<"
	}
	var sum []byte
	switch hash {
	case "sha-1":
		h := sha1.Sum([]byte(s)) //nolint:gosec // XEP-0115 sha-1
		sum = h[:]
	case "sha-256":
		h := sha256.Sum256([]byte(s))
		sum = h[:]
	case "sha-512":
		h := sha512.Sum512([]byte(s))
		sum = h[:]
	default:
		panic("capsVerHash: " + hash)
	}
	return base64.StdEncoding.EncodeToString(sum)
}

// announceCaps sends available presence with caps standing for features,
// answers the server's disco#info query (XEP-0115 §6.2) with answer (the
// same features when the client is honest), and returns what arrived up
// to the point where the server had the answer. Each check uses features
// of its own, so that the server has not seen the verification string
// before and must ask.
func announceCaps(t *testing.T, c *xmpptest.Client, bare string, features, answer []string) []*xmppcore.Element {
	t.Helper()
	return announceCapsHash(t, c, bare, "sha-1", capsVer(features), answer)
}

// announceCapsHash is announceCaps with the hash function and the
// verification string given.
func announceCapsHash(t *testing.T, c *xmpptest.Client, bare, hash, ver string, answer []string) []*xmppcore.Element {
	t.Helper()
	c.Send(`<presence><c xmlns='` + nsCaps + `' hash='` + hash + `' node='` + capsNode + `' ver='` + ver + `'/></presence>`)
	var before []*xmppcore.Element
	var q *xmppcore.Element
	for q == nil {
		el := c.Next()
		if el.Local == "iq" && el.Attr("type") == "get" && el.Child(nsDiscoInfo, "query") != nil {
			q = el
			break
		}
		before = append(before, el)
	}
	if q.Attr("from") != bare || q.Child(nsDiscoInfo, "query").Attr("node") != capsNode+"#"+ver {
		t.Errorf("the server's caps query: %s; want one from %s for node %s#%s", q, bare, capsNode, ver)
	}
	var b strings.Builder
	b.WriteString(`<iq type='result' id='` + q.Attr("id") + `' to='` + q.Attr("from") + `'>`)
	b.WriteString(`<query xmlns='` + nsDiscoInfo + `' node='` + capsNode + `#` + ver + `'><identity category='client' type='pc' name='Docs'/>`)
	for _, f := range answer {
		b.WriteString(`<feature var='` + f + `'/>`)
	}
	b.WriteString(`</query></iq>`)
	c.Send(b.String())
	return append(before, drain(t, c)...)
}

// --- XEP-0313 queries

// archivePage is what one archive query returned.
type archivePage struct {
	res     *xmppcore.Element   // the IQ answer
	fin     *xmppcore.Element   // its <fin/>, nil on an error
	ids     []string            // the result IDs, in the order received
	msgs    []*xmppcore.Element // the forwarded messages
	results []*xmppcore.Element // the <result/> elements
}

func (p archivePage) bodies() []string {
	var out []string
	for _, m := range p.msgs {
		out = append(out, m.ChildText("", "body"))
	}
	return out
}

// rsmText returns the text of an RSM element of fin's set.
func (p archivePage) rsm(name string) string {
	if p.fin == nil {
		return ""
	}
	return p.fin.Child(nsRSM, "set").ChildText(nsRSM, name)
}

// queryArchive sends an archive query with inner as the content of
// <query/> to the user's own archive and collects the results up to the
// answer.
func queryArchive(t *testing.T, c *xmpptest.Client, inner string) archivePage {
	t.Helper()
	id := nextID()
	c.Send(`<iq type='set' id='` + id + `'><query xmlns='` + nsMAM + `' queryid='q-` + id + `'>` + inner + `</query></iq>`)
	var p archivePage
	for {
		el := c.Next()
		if el.Local == "iq" && el.Attr("id") == id {
			p.res, p.fin = el, el.Child(nsMAM, "fin")
			if el.Attr("type") == "result" && p.fin == nil {
				t.Errorf("archive query answered without <fin/>: %s", el)
			}
			return p
		}
		r := el.Child(nsMAM, "result")
		if el.Local != "message" || r == nil || r.Attr("queryid") != "q-"+id {
			continue
		}
		p.results = append(p.results, r)
		p.ids = append(p.ids, r.Attr("id"))
		var m *xmppcore.Element
		if fwd := r.Child(nsForward, "forwarded"); fwd != nil {
			m = fwd.Child("", "message")
		}
		if m == nil {
			t.Errorf("archive result without a forwarded message: %s", el)
			m = xmppcore.New("", "message")
		}
		p.msgs = append(p.msgs, m)
	}
}

// mustQuery is queryArchive that fails the check unless the answer is a
// result.
func mustQuery(t *testing.T, c *xmpptest.Client, inner string) archivePage {
	t.Helper()
	p := queryArchive(t, c, inner)
	if p.res.Attr("type") != "result" {
		t.Fatalf("archive query %s: %s", inner, p.res)
	}
	return p
}

// mamForm is a query form with one value per field: var, value, ...
func mamForm(pairs ...string) string {
	x := `<x xmlns='` + nsData + `' type='submit'><field var='FORM_TYPE' type='hidden'><value>` + nsMAM + `</value></field>`
	for i := 0; i+1 < len(pairs); i += 2 {
		x += `<field var='` + pairs[i] + `'><value>` + pairs[i+1] + `</value></field>`
	}
	return x + `</x>`
}

// rsmSet is an RSM set with max and the elements in extra.
func rsmSet(max int, extra string) string {
	return `<set xmlns='` + nsRSM + `'><max>` + strconv.Itoa(max) + `</max>` + extra + `</set>`
}

// --- XEP-0060 requests

// publishItem is a <pubsub/> publishing payload as item id (none when
// empty) to node, with publish-options when opts has var, value pairs.
func publishItem(node, id, payload string, opts ...string) string {
	x := `<pubsub xmlns='` + nsPubSub + `'><publish node='` + node + `'>`
	if id != "" {
		x += `<item id='` + id + `'>` + payload + `</item>`
	} else {
		x += `<item>` + payload + `</item>`
	}
	x += `</publish>`
	if len(opts) > 0 {
		x += `<publish-options>` + dataForm(nsPubSub+"#publish-options", opts...) + `</publish-options>`
	}
	return x + `</pubsub>`
}

// dataForm is a submitted form of FORM_TYPE formType: var, value, ...
func dataForm(formType string, pairs ...string) string {
	x := `<x xmlns='` + nsData + `' type='submit'><field var='FORM_TYPE' type='hidden'><value>` + formType + `</value></field>`
	for i := 0; i+1 < len(pairs); i += 2 {
		x += `<field var='` + pairs[i] + `'><value>` + pairs[i+1] + `</value></field>`
	}
	return x + `</x>`
}

// formValue returns the first value of a field of the data form in el.
func formValue(el *xmppcore.Element, v string) string {
	if el == nil {
		return ""
	}
	x := el.Child(nsData, "x")
	if x == nil {
		return ""
	}
	for f := range x.Children() {
		if f.Is(nsData, "field") && f.Attr("var") == v {
			return f.ChildText(nsData, "value")
		}
	}
	return ""
}

// appCondition returns the application-specific condition of an error
// in the pubsub#errors namespace, "" without one.
func appCondition(el *xmppcore.Element) string {
	if e := el.Child("", "error"); e != nil {
		for ch := range e.Children() {
			if ch.Space == nsPubSubErrors {
				return ch.Local
			}
		}
	}
	return ""
}

// itemIDs lists the item IDs of the <items/> of a pubsub answer.
func itemIDs(res *xmppcore.Element) []string {
	var out []string
	if ps := res.Child(nsPubSub, "pubsub"); ps != nil {
		if items := ps.Child(nsPubSub, "items"); items != nil {
			for it := range items.Children() {
				out = append(out, it.Attr("id"))
			}
		}
	}
	return out
}

// getItems asks to's PEP service for the items of node.
func getItems(t *testing.T, c *xmpptest.Client, to, node, attrs string) *xmppcore.Element {
	t.Helper()
	return request(t, c, "get", to, `<pubsub xmlns='`+nsPubSub+`'><items node='`+node+`'`+attrs+`/></pubsub>`)
}

// event returns the pubsub event of a notification, nil when el is none.
func event(el *xmppcore.Element) *xmppcore.Element {
	if el.Local != "message" {
		return nil
	}
	return el.Child(nsPubSubEvent, "event")
}

// isEvent matches a notification from owner whose event has a child
// named local about node (the item ID, when not empty, in <items/>).
func isEvent(owner, local, node, item string) func(*xmppcore.Element) bool {
	return func(el *xmppcore.Element) bool {
		ev := event(el)
		if ev == nil || el.Attr("from") != owner {
			return false
		}
		ch := ev.Child(nsPubSubEvent, local)
		if ch == nil || ch.Attr("node") != node {
			return false
		}
		if item == "" {
			return true
		}
		for it := range ch.Children() {
			if it.Attr("id") == item {
				return true
			}
		}
		return false
	}
}

// --- the checks

func checkCarbons(t *testing.T, p *probe) {
	requireAdvertised(t, p, "XEP-0280")
	const a, b = "x0280a@localhost", "x0280b@localhost"
	phone := p.newUser(t, "x0280a", true) // x0280a@localhost/r
	desk, _ := xmpptest.Login(t, p.srv, "x0280a", testPassword, "desk")
	desk.Send(`<presence/>`)
	bob := p.newUser(t, "x0280b", true)
	mustResult(t, desk, "set", "", `<enable xmlns='`+nsCarbons+`'/>`)
	drain(t, desk)

	// wrapped checks a carbon copy and returns the message inside.
	wrapped := func(el *xmppcore.Element, kind string) *xmppcore.Element {
		t.Helper()
		w := el.Child(nsCarbons, kind)
		if el.Attr("from") != a || el.Attr("to") != a+"/desk" || w == nil || w.Child(nsForward, "forwarded") == nil {
			t.Fatalf("want a %s copy from %s to the desk: %s", kind, a, el)
		}
		m := w.Child(nsForward, "forwarded").Child("", "message")
		if m == nil {
			t.Fatalf("no message in the forwarded copy: %s", el)
		}
		return m
	}

	// Received: bob writes to the phone; the desk sees a copy.
	bob.Send(chatTo(a+"/r", "c1", "to the phone", ""))
	phone.Expect(isMessageID("c1"))
	m := wrapped(desk.Expect(isMessage), "received")
	if m.Attr("id") != "c1" || m.Attr("from") != b+"/r" || m.Attr("to") != a+"/r" || m.ChildText("", "body") != "to the phone" {
		t.Errorf("received copy of c1: %s", m)
	}

	// Sent: the phone answers; the desk sees that too, with the
	// sender's stanza-id (XEP-0313 §4), which bob does not see.
	phone.Send(chatTo(b, "c2", "from the phone", ""))
	m = wrapped(desk.Expect(isMessage), "sent")
	if m.Attr("id") != "c2" || m.Attr("from") != a+"/r" || m.Attr("to") != b || m.ChildText("", "body") != "from the phone" {
		t.Errorf("sent copy of c2: %s", m)
	}
	if stanzaIDBy(t, m, a) == "" {
		t.Errorf("the sent copy has no stanza-id by %s: %s", a, m)
	}
	if got := bob.Expect(isMessageID("c2")); stanzaIDBy(t, got, a) != "" {
		t.Errorf("bob sees alice's own stanza-id: %s", got)
	}

	// §6: <private/> (with <no-copy/>, as §9 asks) and the XEP-0334 hint
	// alone each keep a message from being copied: the desk's next copy
	// is c5's.
	phone.Send(chatTo(b, "c3", "private", `<private xmlns='`+nsCarbons+`'/><no-copy xmlns='`+nsHints+`'/>`))
	phone.Send(chatTo(b, "c4", "no-copy", `<no-copy xmlns='`+nsHints+`'/>`))
	phone.Send(chatTo(b, "c5", "public again", ""))
	if m := wrapped(desk.Expect(isMessage), "sent"); m.Attr("id") != "c5" {
		t.Errorf("the desk's next copy is of %s, want c5 (c3 and c4 are private)", m)
	}
	// Groupchat and headline messages are not copied either: §6.1.
	bob.Send(`<message type='headline' id='c6' to='` + a + `/r'><body>news</body></message>`)
	phone.Expect(isMessageID("c6"))

	// Disabled: no more copies.
	mustResult(t, desk, "set", "", `<disable xmlns='`+nsCarbons+`'/>`)
	bob.Send(chatTo(a+"/r", "c7", "after disable", ""))
	phone.Expect(isMessageID("c7"))
	if got := messages(drain(t, desk)); len(got) != 0 {
		t.Errorf("the desk got messages after a headline and with carbons disabled: %s", dumpAll(got))
	}
	// A carbon from anyone but the account itself is forged: dropped,
	// without an answer (§11).
	bob.Send(`<message type='chat' id='forged' to='` + a + `/r'><received xmlns='` + nsCarbons + `'><forwarded xmlns='` + nsForward +
		`'><message xmlns='jabber:client' from='mallory@localhost/x' to='` + a + `/r' type='chat'><body>trust me</body></message></forwarded></received></message>`)
	if got := messages(drain(t, phone)); len(got) != 0 {
		t.Errorf("the phone got a forged carbon: %s", dumpAll(got))
	}
	for _, m := range messages(drain(t, bob)) {
		if m.Attr("id") == "forged" {
			t.Errorf("the forger got an answer: %s", m)
		}
	}
	// Only the account's own resources enable carbons.
	if res := request(t, bob, "set", a, `<enable xmlns='`+nsCarbons+`'/>`); routertest.ErrorCondition(res) != "not-allowed" {
		t.Errorf("enabling carbons for another account: %s, want not-allowed", res)
	}
}

func checkForwarding(t *testing.T, p *probe) {
	a := p.newUser(t, "x0297a", true)
	b := p.newUser(t, "x0297b", true)
	a.Send(chatTo("x0297b@localhost", "f1", "forward me", `<thread>th</thread>`))
	b.Expect(isMessageID("f1"))
	pg := mustQuery(t, b, "")
	if len(pg.results) != 1 {
		t.Fatalf("archive of x0297b: %d results, want 1", len(pg.results))
	}
	fwd := pg.results[0].Child(nsForward, "forwarded")
	m := pg.msgs[0]
	if fwd.Child(nsDelay, "delay") == nil {
		t.Errorf("forwarded without delay: %s", fwd)
	}
	// The message as it was, in jabber:client (pg.msgs holds it only if
	// it is: in another namespace the client's parser would not put it
	// in the content namespace).
	if m.Attr("from") != "x0297a@localhost/r" || m.Attr("to") != "x0297b@localhost" || m.Attr("id") != "f1" ||
		m.Attr("type") != "chat" || m.ChildText("", "body") != "forward me" || m.ChildText("", "thread") != "th" {
		t.Errorf("forwarded message: %s", m)
	}
}

func checkMAM(t *testing.T, p *probe) {
	requireAdvertised(t, p, "XEP-0313")
	const a, b = "x0313a@localhost", "x0313b@localhost"
	alice := p.newUser(t, "x0313a", true)
	bob := p.newUser(t, "x0313b", true)
	var bodies, live []string
	for i := range 5 {
		body := "m" + strconv.Itoa(i+1)
		bodies = append(bodies, body)
		alice.Send(chatTo(b, body, body, ""))
		got := bob.Expect(isMessageID(body))
		live = append(live, stanzaIDBy(t, got, b))
	}
	if slices.Contains(live, "") {
		t.Fatalf("a message delivered without stanza-id: %q", live)
	}

	// Forward in pages of two, from the start: the same IDs bob saw.
	var got, ids []string
	after := ""
	for n := 0; ; n++ {
		extra := ""
		if after != "" {
			extra = `<after>` + after + `</after>`
		}
		pg := mustQuery(t, bob, mamForm("with", a)+rsmSet(2, extra))
		got, ids = append(got, pg.bodies()...), append(ids, pg.ids...)
		if pg.rsm("count") != "5" {
			t.Errorf("page %d: count %q, want 5", n, pg.rsm("count"))
		}
		if pg.fin.Attr("complete") == "true" {
			break
		}
		if n == 3 || len(pg.ids) == 0 {
			t.Fatalf("page %d not complete: %s", n, pg.res)
		}
		after = pg.rsm("last")
	}
	if !slices.Equal(got, bodies) || !slices.Equal(ids, live) {
		t.Errorf("bob's archive paged forward: %q with IDs %q, want %q with the IDs seen live %q", got, ids, bodies, live)
	}

	// The last page (an empty <before/>), flipped: newest first.
	pg := mustQuery(t, bob, rsmSet(2, `<before/>`)+`<flip-page/>`)
	if !slices.Equal(pg.bodies(), []string{"m5", "m4"}) || pg.fin.Attr("complete") != "false" {
		t.Errorf("last page flipped: %q, %s; want [m5 m4], not complete", pg.bodies(), pg.fin)
	}
	// The page before m4.
	pg = mustQuery(t, bob, rsmSet(2, `<before>`+live[3]+`</before>`))
	if !slices.Equal(pg.bodies(), []string{"m2", "m3"}) {
		t.Errorf("page before m4: %q, want [m2 m3]", pg.bodies())
	}

	// urn:xmpp:mam:2#extended: after-id, before-id, ids, metadata.
	pg = mustQuery(t, bob, mamForm("after-id", live[0], "before-id", live[4]))
	if !slices.Equal(pg.bodies(), []string{"m2", "m3", "m4"}) {
		t.Errorf("after-id m1, before-id m5: %q, want [m2 m3 m4]", pg.bodies())
	}
	pg = mustQuery(t, bob, mamForm("ids", live[2]))
	if !slices.Equal(pg.bodies(), []string{"m3"}) {
		t.Errorf("ids m3: %q", pg.bodies())
	}
	// with a full JID, start and end.
	if pg := mustQuery(t, bob, mamForm("with", a+"/r")); !slices.Equal(pg.bodies(), bodies) {
		t.Errorf("with %s/r: %q", a, pg.bodies())
	}
	if pg := mustQuery(t, bob, mamForm("with", a+"/elsewhere")); len(pg.ids) != 0 {
		t.Errorf("with another resource of alice's: %q, want nothing", pg.bodies())
	}
	if pg := mustQuery(t, bob, mamForm("start", "2000-01-01T00:00:00Z", "end", "2999-01-01T00:00:00.000Z")); !slices.Equal(pg.bodies(), bodies) {
		t.Errorf("start 2000, end 2999: %q", pg.bodies())
	}
	if pg := mustQuery(t, bob, mamForm("end", "2000-01-01T00:00:00Z")); len(pg.ids) != 0 {
		t.Errorf("end 2000: %q, want nothing", pg.bodies())
	}
	if res := queryArchive(t, bob, mamForm("start", "yesterday")).res; routertest.ErrorCondition(res) != "bad-request" {
		t.Errorf("a start that is no date: %s, want bad-request", res)
	}
	md := mustResult(t, bob, "get", "", `<metadata xmlns='`+nsMAM+`'/>`).Child(nsMAM, "metadata")
	if md.Child(nsMAM, "start").Attr("id") != live[0] || md.Child(nsMAM, "end").Attr("id") != live[4] {
		t.Errorf("metadata: %s, want start %s and end %s", md, live[0], live[4])
	}
	if res := queryArchive(t, bob, mamForm("after-id", "no-such-id")).res; routertest.ErrorCondition(res) != "item-not-found" {
		t.Errorf("after-id of an unknown ID: %s, want item-not-found", res)
	}

	// The sender's archive has them too, once each; only the owner reads
	// an archive.
	if pg := mustQuery(t, alice, mamForm("with", b)); !slices.Equal(pg.bodies(), bodies) {
		t.Errorf("alice's archive: %q, want %q", pg.bodies(), bodies)
	}
	if res := request(t, alice, "set", b, `<query xmlns='`+nsMAM+`'/>`); routertest.ErrorCondition(res) != "forbidden" {
		t.Errorf("a query of another user's archive: %s, want forbidden", res)
	}
	// The form (§4.1.5); a field it does not list is refused.
	if res := mustResult(t, bob, "get", "", `<query xmlns='`+nsMAM+`'/>`); res.Child(nsMAM, "query").Child(nsData, "x") == nil {
		t.Errorf("the query form: %s", res)
	}
	if res := queryArchive(t, bob, mamForm("include-groupchat", "true")).res; routertest.ErrorCondition(res) != "feature-not-implemented" {
		t.Errorf("an unknown form field: %s, want feature-not-implemented", res)
	}
}

func checkRSM(t *testing.T, p *probe) {
	alice := p.newUser(t, "x0059a", true)
	bob := p.newUser(t, "x0059b", true)
	for i := range 4 {
		id := "r" + strconv.Itoa(i+1)
		alice.Send(chatTo("x0059b@localhost", id, id, ""))
		bob.Expect(isMessageID(id))
	}
	all := mustQuery(t, bob, "")
	if len(all.ids) != 4 {
		t.Fatalf("x0059b's archive: %q", all.bodies())
	}
	// §2.7: the count alone.
	pg := mustQuery(t, bob, rsmSet(0, ""))
	if len(pg.ids) != 0 || pg.rsm("count") != "4" || pg.rsm("first") != "" {
		t.Errorf("max 0: %d results, %s; want none, count 4, no first", len(pg.ids), pg.fin)
	}
	// §2.6: index; first carries it.
	pg = mustQuery(t, bob, rsmSet(2, `<index>1</index>`))
	first := pg.fin.Child(nsRSM, "set").Child(nsRSM, "first")
	if !slices.Equal(pg.bodies(), []string{"r2", "r3"}) || first == nil || first.Attr("index") != "1" ||
		first.Text() != all.ids[1] || pg.rsm("last") != all.ids[2] {
		t.Errorf("index 1, max 2: %q, %s", pg.bodies(), pg.fin)
	}
	// §2.3, §2.4: after and before; the last page is an empty before.
	if pg := mustQuery(t, bob, rsmSet(10, `<after>`+all.ids[1]+`</after>`)); !slices.Equal(pg.bodies(), []string{"r3", "r4"}) {
		t.Errorf("after r2: %q", pg.bodies())
	}
	if pg := mustQuery(t, bob, rsmSet(1, `<before>`+all.ids[1]+`</before>`)); !slices.Equal(pg.bodies(), []string{"r1"}) {
		t.Errorf("before r2: %q", pg.bodies())
	}
	if pg := mustQuery(t, bob, rsmSet(1, `<before/>`)); !slices.Equal(pg.bodies(), []string{"r4"}) {
		t.Errorf("the last page: %q", pg.bodies())
	}
	// §2.6: an item the set does not have.
	if res := queryArchive(t, bob, rsmSet(1, `<after>nothing-like-it</after>`)).res; routertest.ErrorCondition(res) != "item-not-found" {
		t.Errorf("after an unknown item: %s, want item-not-found", res)
	}
}

func checkStanzaIDs(t *testing.T, p *probe) {
	requireAdvertised(t, p, "XEP-0359")
	const b = "x0359b@localhost"
	alice := p.newUser(t, "x0359a", true)
	bob := p.newUser(t, "x0359b", true)
	// A stanza-id by bob that alice made up is replaced (§4 rule 2); one
	// by someone else is left; the origin-id goes through.
	alice.Send(chatTo(b, "s1", "hello", `<stanza-id xmlns='`+nsSID+`' by='`+b+`' id='forged'/>`+
		`<stanza-id xmlns='`+nsSID+`' by='elsewhere.example' id='theirs'/><origin-id xmlns='`+nsSID+`' id='o-1'/>`))
	got := bob.Expect(isMessageID("s1"))
	sid := stanzaIDBy(t, got, b)
	if sid == "" || sid == "forged" {
		t.Errorf("stanza-id by bob on delivery: %q in %s", sid, got)
	}
	if stanzaIDBy(t, got, "elsewhere.example") != "theirs" || got.Child(nsSID, "origin-id").Attr("id") != "o-1" {
		t.Errorf("the other stanza-id or the origin-id was not kept: %s", got)
	}
	// A message to the full JID gets one too.
	alice.Send(chatTo(b+"/r", "s2", "again", ""))
	sid2 := stanzaIDBy(t, bob.Expect(isMessageID("s2")), b)
	// They name the archived messages.
	if pg := mustQuery(t, bob, ""); !slices.Equal(pg.ids, []string{sid, sid2}) {
		t.Errorf("bob's archive IDs %q, want the stanza-ids %q", pg.ids, []string{sid, sid2})
	}
}

func checkHints(t *testing.T, p *probe) {
	const a, b = "x0334a@localhost", "x0334b@localhost"
	alice := p.newUser(t, "x0334a", true)
	bob := p.newUser(t, "x0334b", true)
	desk, _ := xmpptest.Login(t, p.srv, "x0334a", testPassword, "desk")
	desk.Send(`<presence/>`)
	mustResult(t, desk, "set", "", `<enable xmlns='`+nsCarbons+`'/>`)
	drain(t, desk)

	// no-store and no-permanent-store: delivered, not archived (no
	// stanza-id); store: a chat state alone is archived.
	alice.Send(chatTo(b, "h1", "no-store", `<no-store xmlns='`+nsHints+`'/>`))
	alice.Send(chatTo(b, "h2", "no-permanent-store", `<no-permanent-store xmlns='`+nsHints+`'/>`))
	alice.Send(`<message type='chat' id='h3' to='` + b + `'><active xmlns='http://jabber.org/protocol/chatstates'/><store xmlns='` + nsHints + `'/></message>`)
	alice.Send(`<message type='chat' id='h4' to='` + b + `'><active xmlns='http://jabber.org/protocol/chatstates'/></message>`)
	for _, id := range []string{"h1", "h2", "h3", "h4"} {
		got := bob.Expect(isMessageID(id))
		if archived := stanzaIDBy(t, got, b) != ""; archived != (id == "h3") {
			t.Errorf("%s delivered with stanza-id %v: %s", id, archived, got)
		}
	}
	// The limit of the row: <store/> on a headline does not archive it.
	alice.Send(`<message type='headline' id='h10' to='` + b + `'><body>news</body><store xmlns='` + nsHints + `'/></message>`)
	if got := bob.Expect(isMessageID("h10")); stanzaIDBy(t, got, b) != "" {
		t.Errorf("a headline with <store/> was archived, which the notes say it is not: %s", got)
	}
	for who, c := range map[string]*xmpptest.Client{a: alice, b: bob} {
		pg := mustQuery(t, c, "")
		var got []string
		for _, m := range pg.msgs {
			got = append(got, m.Attr("id"))
		}
		if !slices.Equal(got, []string{"h3"}) {
			t.Errorf("archive of %s: %q, want [h3]", who, got)
		}
	}
	// no-copy: no carbon. The desk's first copy from here on is h6's.
	drain(t, desk)
	alice.Send(chatTo(b, "h5", "no-copy", `<no-copy xmlns='`+nsHints+`'/>`))
	alice.Send(chatTo(b, "h6", "copied", ""))
	if m := desk.Expect(isMessage); m.Child(nsCarbons, "sent") == nil ||
		m.Child(nsCarbons, "sent").Child(nsForward, "forwarded").Child("", "message").Attr("id") != "h6" {
		t.Errorf("the desk's first copy after a no-copy message: %s, want h6's", m)
	}
	// no-store to an offline user: refused, as nothing may keep it;
	// no-permanent-store: kept offline (temporary storage) and delivered,
	// never archived.
	p.srv.AddUser(t, "x0334c", testPassword)
	alice.Send(chatTo("x0334c@localhost", "h7", "no-store offline", `<no-store xmlns='`+nsHints+`'/>`))
	if e := alice.Expect(isMessageID("h7")); routertest.ErrorCondition(e) != "service-unavailable" {
		t.Errorf("no-store to an offline user: %s, want service-unavailable", e)
	}
	alice.Send(chatTo("x0334c@localhost", "h8", "no-permanent-store offline", `<no-permanent-store xmlns='`+nsHints+`'/>`))
	drain(t, alice)
	carol, _ := xmpptest.Login(t, p.srv, "x0334c", testPassword, "r")
	carol.Send(`<presence/>`)
	if got := carol.Expect(isMessage); got.Attr("id") != "h8" || stanzaIDBy(t, got, "x0334c@localhost") != "" {
		t.Errorf("offline delivery of a no-permanent-store message: %s, want h8 without stanza-id", got)
	}
	if pg := mustQuery(t, carol, ""); len(pg.ids) != 0 {
		t.Errorf("carol's archive: %q, want nothing", pg.bodies())
	}
	// store: a chat state alone is kept offline too.
	p.srv.AddUser(t, "x0334d", testPassword)
	alice.Send(`<message type='chat' id='h9' to='x0334d@localhost'><gone xmlns='http://jabber.org/protocol/chatstates'/><store xmlns='` + nsHints + `'/></message>`)
	drain(t, alice)
	dave, _ := xmpptest.Login(t, p.srv, "x0334d", testPassword, "r")
	dave.Send(`<presence/>`)
	if got := dave.Expect(isMessage); got.Attr("id") != "h9" || got.Child("http://jabber.org/protocol/chatstates", "gone") == nil {
		t.Errorf("offline delivery of a chat state with <store/>: %s", got)
	}
}

func checkMAMPrefs(t *testing.T, p *probe) {
	const a = "x0441a@localhost"
	alice := p.newUser(t, "x0441a", true)
	bob := p.newUser(t, "x0441b", true)
	carol := p.newUser(t, "x0441c", true)
	prefs := mustResult(t, alice, "get", "", `<prefs xmlns='`+nsMAM+`'/>`).Child(nsMAM, "prefs")
	if prefs == nil || prefs.Attr("default") != "always" {
		t.Errorf("the server's default preferences: %s, want default always", prefs)
	}
	mustResult(t, alice, "set", "", `<prefs xmlns='`+nsMAM+`' default='never'><always><jid>x0441b@localhost</jid></always><never/></prefs>`)
	prefs = mustResult(t, alice, "get", "", `<prefs xmlns='`+nsMAM+`'/>`).Child(nsMAM, "prefs")
	if prefs.Attr("default") != "never" || prefs.Child(nsMAM, "always").ChildText(nsMAM, "jid") != "x0441b@localhost" {
		t.Errorf("preferences read back: %s", prefs)
	}
	// archived reports whether from's message to alice was archived
	// (delivered with a stanza-id).
	archived := func(from *xmpptest.Client, id string) bool {
		t.Helper()
		from.Send(chatTo(a, id, id, ""))
		return stanzaIDBy(t, alice.Expect(isMessageID(id)), a) != ""
	}
	if !archived(bob, "p1") || archived(carol, "p2") {
		t.Error("default never with bob always: want bob's message archived and carol's not")
	}
	// roster: contacts in the roster only, whatever the subscription.
	mustResult(t, alice, "set", "", `<prefs xmlns='`+nsMAM+`' default='roster'><always/><never/></prefs>`)
	if archived(carol, "p3") {
		t.Error("default roster: carol, not in the roster, archived")
	}
	mustResult(t, alice, "set", "", `<query xmlns='`+nsRoster+`'><item jid='x0441c@localhost'/></query>`)
	if !archived(carol, "p4") {
		t.Error("default roster: carol, in the roster, not archived")
	}
	if pg := mustQuery(t, alice, ""); !slices.Equal(pg.bodies(), []string{"p1", "p4"}) {
		t.Errorf("alice's archive: %q, want [p1 p4]", pg.bodies())
	}
	// At most 1000 JIDs in a list.
	var many strings.Builder
	for i := range 1001 {
		many.WriteString(`<jid>u` + strconv.Itoa(i) + `@localhost</jid>`)
	}
	if res := request(t, alice, "set", "", `<prefs xmlns='`+nsMAM+`' default='always'><always>`+many.String()+`</always><never/></prefs>`); res.Attr("type") != "error" {
		t.Errorf("preferences with 1001 JIDs in a list: %s, want an error", res)
	}
}

func checkCaps(t *testing.T, p *probe) {
	const a, node = "x0115a@localhost", "urn:example:docs:x0115"
	alice := p.newUser(t, "x0115a", true)
	honest := p.newUser(t, "x0115b", true)
	liar := p.newUser(t, "x0115c", true)
	legacy := p.newUser(t, "x0115d", true)
	sha256User := p.newUser(t, "x0115e", true)
	other := p.newUser(t, "x0115f", true)
	for name, c := range map[string]*xmpptest.Client{"x0115b": honest, "x0115c": liar, "x0115d": legacy, "x0115e": sha256User, "x0115f": other} {
		befriend(t, alice, a, c, name+"@localhost")
	}
	want := []string{nsDiscoInfo, node + "+notify", "urn:example:docs:x0115:honest"}
	announceCaps(t, honest, "x0115b@localhost", want, want)
	// sha-256, and a hash function the server does not know (its answer
	// is taken for that resource alone).
	want256 := []string{nsDiscoInfo, node + "+notify", "urn:example:docs:x0115:sha-256"}
	announceCapsHash(t, sha256User, "x0115e@localhost", "sha-256", capsVerHash("sha-256", want256), want256)
	announceCapsHash(t, other, "x0115f@localhost", "x-unknown", "anything", []string{nsDiscoInfo, node + "+notify"})
	// The liar's verification string does not match the answer: it is not
	// trusted, whatever the answer says.
	lie := []string{nsDiscoInfo, node + "+notify", "urn:example:docs:x0115:liar"}
	announceCaps(t, liar, "x0115c@localhost", lie, append(slices.Clone(lie), "urn:example:docs:x0115:more"))
	// Legacy caps (no hash, §5.4): not asked about, not used.
	legacy.Send(`<presence><c xmlns='` + nsCaps + `' node='` + capsNode + `' ver='1.0' ext='notify'/></presence>`)
	for _, el := range drain(t, legacy) {
		if el.Local == "iq" {
			t.Errorf("the server asked about legacy caps: %s", el)
		}
	}
	mustResult(t, alice, "set", "", publishItem(node, "i1", `<x xmlns='urn:example:docs'/>`, "pubsub#access_model", "presence"))
	for _, c := range []*xmpptest.Client{honest, sha256User, other} {
		c.Expect(isEvent(a, "items", node, "i1"))
	}
	for who, c := range map[string]*xmpptest.Client{"a contact whose caps did not verify": liar, "a contact with legacy caps": legacy} {
		if got := messages(drain(t, c)); len(got) != 0 {
			t.Errorf("%s got %s", who, dumpAll(got))
		}
	}
}

func checkPEP(t *testing.T, p *probe) {
	const a, b, node = "x0163a@localhost", "x0163b@localhost", "http://jabber.org/protocol/tune"
	alice := p.newUser(t, "x0163a", true)
	bob := p.newUser(t, "x0163b", true)
	stranger := p.newUser(t, "x0163c", true)
	aliceDesk, _ := xmpptest.Login(t, p.srv, "x0163a", testPassword, "desk")
	aliceDesk.Send(`<presence/>`)
	befriend(t, alice, a, bob, b)
	drain(t, aliceDesk)
	// The account is a PEP service (§1, §6).
	res := mustResult(t, bob, "get", a, `<query xmlns='`+nsDiscoInfo+`'/>`)
	found := false
	for id := range res.Child(nsDiscoInfo, "query").Children() {
		found = found || (id.Local == "identity" && id.Attr("category") == "pubsub" && id.Attr("type") == "pep")
	}
	if !found {
		t.Errorf("no pubsub/pep identity on the account: %s", res)
	}
	features := []string{nsDiscoInfo, node, node + "+notify", "urn:example:docs:x0163"}
	announceCaps(t, bob, b, features, features)
	other := append(slices.Clone(features), "urn:example:docs:x0163:other")
	announceCaps(t, stranger, "x0163c@localhost", other, other)

	// Auto-create on first publish, then notifications: bob (a contact
	// asking for tune+notify), alice's other resource (her own, caps
	// unknown), not the stranger.
	tune := `<tune xmlns='` + node + `'><artist>Yes</artist><title>Heart of the Sunrise</title></tune>`
	mustResult(t, alice, "set", "", publishItem(node, "", tune))
	got := bob.Expect(isEvent(a, "items", node, ""))
	item := event(got).Child(nsPubSubEvent, "items").Child(nsPubSubEvent, "item")
	if got.Attr("type") != "headline" || item == nil || item.Child(node, "tune").ChildText(node, "title") != "Heart of the Sunrise" {
		t.Errorf("bob's notification: %s", got)
	}
	if addr := got.Child(nsAddress, "addresses"); addr == nil || addr.Child(nsAddress, "address").Attr("jid") != a+"/r" {
		t.Errorf("no XEP-0033 replyto naming the publishing resource (§4.3.2): %s", got)
	}
	aliceDesk.Expect(isEvent(a, "items", node, item.Attr("id")))
	if got := messages(drain(t, stranger)); len(got) != 0 {
		t.Errorf("a stranger got %s", dumpAll(got))
	}
	// The node is in the account's disco#items for bob, not for the
	// stranger (presence access, §5).
	items := func(c *xmpptest.Client) int {
		return mustResult(t, c, "get", a, `<query xmlns='`+nsDiscoItems+`'/>`).Child(nsDiscoItems, "query").ChildCount()
	}
	if n, m := items(bob), items(stranger); n != 1 || m != 0 {
		t.Errorf("disco#items of the account: %d for bob, %d for the stranger; want 1 and 0", n, m)
	}
	// The last item at a new resource's initial presence (§4.3.3): caps
	// known already, so at once, with the publication time.
	phone, _ := xmpptest.Login(t, p.srv, "x0163b", testPassword, "phone")
	phone.Send(`<presence><c xmlns='` + nsCaps + `' hash='sha-1' node='` + capsNode + `' ver='` + capsVer(features) + `'/></presence>`)
	last := phone.Expect(isEvent(a, "items", node, item.Attr("id")))
	if d := last.Child(nsDelay, "delay"); d == nil || d.Attr("from") != a {
		t.Errorf("the last item at initial presence has no delay from %s: %s", a, last)
	}
	// The owner's block list applies.
	mustResult(t, alice, "set", "", `<block xmlns='`+nsBlocking+`'><item jid='`+b+`'/></block>`)
	mustResult(t, alice, "set", "", publishItem(node, "blocked", tune))
	for _, c := range []*xmpptest.Client{bob, phone} {
		for _, m := range messages(drain(t, c)) {
			if event(m) != nil {
				t.Errorf("a contact alice blocked got %s", m)
			}
		}
	}
}

func checkPrivatePEP(t *testing.T, p *probe) {
	const a, node = "x0223a@localhost", "urn:xmpp:bookmarks:1"
	if !slices.Contains(p.serverDisco, nsPubSub+"#publish-options") || !slices.Contains(p.accountDisco, nsPubSub+"#publish-options") {
		t.Errorf("publish-options not advertised on both the server and the account (§6)")
	}
	alice := p.newUser(t, "x0223a", true)
	bob := p.newUser(t, "x0223b", true)
	befriend(t, alice, a, bob, "x0223b@localhost")
	features := []string{nsDiscoInfo, node + "+notify", "urn:example:docs:x0223"}
	announceCaps(t, bob, "x0223b@localhost", features, features)
	// XEP-0402 §3's publish: the private node options of XEP-0223 §3.
	opts := []string{"pubsub#persist_items", "true", "pubsub#access_model", "whitelist",
		"pubsub#max_items", "max", "pubsub#send_last_published_item", "never"}
	bm := `<conference xmlns='urn:xmpp:bookmarks:1' name='Docs' autojoin='true'/>`
	mustResult(t, alice, "set", "", publishItem(node, "room@conference.localhost", bm, opts...))
	mustResult(t, alice, "set", "", publishItem(node, "other@conference.localhost", bm, opts...))
	if ids := itemIDs(mustResult(t, alice, "get", "", `<pubsub xmlns='`+nsPubSub+`'><items node='`+node+`'/></pubsub>`)); len(ids) != 2 {
		t.Errorf("alice's bookmarks: %q, want two", ids)
	}
	// Private: her contact may neither read them nor hear of them.
	if res := getItems(t, bob, a, node, ""); routertest.ErrorCondition(res) != "not-allowed" || appCondition(res) != "closed-node" {
		t.Errorf("a contact reading a whitelist node: %s, want not-allowed with closed-node", res)
	}
	if got := messages(drain(t, bob)); len(got) != 0 {
		t.Errorf("a contact asking for bookmarks+notify got %s", dumpAll(got))
	}
	// Publishing with other options fails the precondition (§7.1.5).
	res := request(t, alice, "set", "", publishItem(node, "x", bm, "pubsub#access_model", "open"))
	if routertest.ErrorCondition(res) != "conflict" || appCondition(res) != "precondition-not-met" {
		t.Errorf("publish-options that do not match: %s, want conflict with precondition-not-met", res)
	}
}

func checkOMEMO(t *testing.T, p *probe) {
	const a, b = "x0384a@localhost", "x0384b@localhost"
	const devices, bundles = "urn:xmpp:omemo:2:devices", "urn:xmpp:omemo:2:bundles"
	alice := p.newUser(t, "x0384a", true)
	bob := p.newUser(t, "x0384b", true)
	stranger := p.newUser(t, "x0384c", true)
	desk, _ := xmpptest.Login(t, p.srv, "x0384a", testPassword, "desk")
	desk.Send(`<presence/>`)
	mustResult(t, desk, "set", "", `<enable xmlns='`+nsCarbons+`'/>`)
	befriend(t, alice, a, bob, b)
	features := []string{nsDiscoInfo, devices + "+notify", "urn:example:docs:x0384"}
	announceCaps(t, bob, b, features, features)
	// §5.3.1: the device list, open; §5.3.2: one bundle per device.
	list := `<devices xmlns='` + nsOMEMO + `'><device id='12345'/><device id='4223'/></devices>`
	mustResult(t, alice, "set", "", publishItem(devices, "current", list, "pubsub#access_model", "open"))
	for _, id := range []string{"12345", "4223"} {
		mustResult(t, alice, "set", "", publishItem(bundles, id, `<bundle xmlns='`+nsOMEMO+`'><spk id='1'>AAAA</spk></bundle>`,
			"pubsub#max_items", "max", "pubsub#access_model", "open"))
	}
	got := bob.Expect(isEvent(a, "items", devices, "current"))
	if ds := event(got).Child(nsPubSubEvent, "items").Child(nsPubSubEvent, "item").Child(nsOMEMO, "devices"); ds == nil || ds.ChildCount() != 2 {
		t.Errorf("bob's device list notification: %s", got)
	}
	// Someone without a subscription fetches both before a first message.
	if ids := itemIDs(getItems(t, stranger, a, devices, "")); !slices.Equal(ids, []string{"current"}) {
		t.Errorf("the device list read by a stranger: %q", ids)
	}
	ids := itemIDs(getItems(t, stranger, a, bundles, ""))
	slices.Sort(ids)
	if !slices.Equal(ids, []string{"12345", "4223"}) {
		t.Errorf("the bundles read by a stranger: %q, want both devices'", ids)
	}
	// An encrypted message without body is archived (and delivered).
	alice.Send(`<message type='chat' id='o1' to='` + b + `'><encrypted xmlns='` + nsOMEMO + `'><header sid='12345'/><payload>AAAA</payload></encrypted></message>`)
	alice.Send(`<message type='chat' id='o2' to='` + b + `'><encrypted xmlns='` + nsOMEMO + `'><header sid='12345'/><payload>BBBB</payload></encrypted></message>`)
	bob.Expect(isMessageID("o2"))
	if cp := desk.Expect(func(el *xmppcore.Element) bool { return el.Child(nsCarbons, "sent") != nil }); cp.Child(nsCarbons, "sent").
		Child(nsForward, "forwarded").Child("", "message").Child(nsOMEMO, "encrypted") == nil {
		t.Errorf("alice's desk: %s, want a sent copy of the encrypted message", cp)
	}
	pg := mustQuery(t, bob, mamForm("with", a))
	if len(pg.msgs) != 2 || pg.msgs[1].Child(nsOMEMO, "encrypted") == nil {
		t.Errorf("bob's archive of encrypted messages: %d results", len(pg.msgs))
	}
}

func checkPubSub(t *testing.T, p *probe) {
	requireAdvertised(t, p, "XEP-0060")
	const (
		o, f, s      = "x0060o@localhost", "x0060f@localhost", "x0060s@localhost"
		node, wlNode = "docs/open", "docs/whitelist"
	)
	owner := p.newUser(t, "x0060o", true)
	friend := p.newUser(t, "x0060f", true)      // a contact: subscription both
	stranger := p.newUser(t, "x0060s", true)    // no subscription
	publisher := p.newUser(t, "x0060p", true)   // made publisher
	publishOnly := p.newUser(t, "x0060q", true) // made publish-only
	befriend(t, owner, o, friend, f)
	owned := func(typ, payload string) *xmppcore.Element {
		t.Helper()
		return mustResult(t, owner, typ, "", `<pubsub xmlns='`+nsPubSubOwner+`'>`+payload+`</pubsub>`)
	}
	nodeConfig := func(pairs ...string) string { return dataForm(nsPubSub+"#node_config", pairs...) }

	// create-nodes, create-and-configure, config-node-max.
	mustResult(t, owner, "set", "", `<pubsub xmlns='`+nsPubSub+`'><create node='`+node+`'/><configure>`+
		nodeConfig("pubsub#access_model", "open", "pubsub#max_items", "max", "pubsub#notify_sub", "true")+`</configure></pubsub>`)
	if res := request(t, owner, "set", "", `<pubsub xmlns='`+nsPubSub+`'><create node='`+node+`'/></pubsub>`); routertest.ErrorCondition(res) != "conflict" {
		t.Errorf("creating a node twice: %s, want conflict", res)
	}
	// retrieve-default (§8.3).
	def := owned("get", `<default/>`).Child(nsPubSubOwner, "pubsub").Child(nsPubSubOwner, "default")
	if formValue(def, "FORM_TYPE") != nsPubSub+"#node_config" || formValue(def, "pubsub#access_model") != "presence" ||
		formValue(def, "pubsub#send_last_published_item") != "on_sub_and_presence" {
		t.Errorf("the default configuration: %s", def)
	}
	// config-node: the form, and a change.
	conf := func() *xmppcore.Element {
		return owned("get", `<configure node='`+node+`'/>`).Child(nsPubSubOwner, "pubsub").Child(nsPubSubOwner, "configure")
	}
	if c := conf(); formValue(c, "pubsub#access_model") != "open" || formValue(c, "pubsub#max_items") != strconv.Itoa(p.srv.Config.PEP.MaxItems) {
		t.Errorf("configuration after create-and-configure with max_items max: %s", c)
	}
	owned("set", `<configure node='`+node+`'>`+nodeConfig("pubsub#title", "Docs node")+`</configure>`)
	if c := conf(); formValue(c, "pubsub#title") != "Docs node" {
		t.Errorf("configuration after setting the title: %s", c)
	}
	if res := request(t, friend, "get", o, `<pubsub xmlns='`+nsPubSubOwner+`'><configure node='`+node+`'/></pubsub>`); routertest.ErrorCondition(res) != "forbidden" {
		t.Errorf("a contact asking for the configuration: %s, want forbidden", res)
	}

	// publish, item-ids, persistent-items; an ID chosen by the service.
	for _, id := range []string{"i1", "i2", "i3"} {
		res := mustResult(t, owner, "set", "", publishItem(node, id, `<entry xmlns='urn:example:docs'>`+id+`</entry>`))
		if got := res.Child(nsPubSub, "pubsub").Child(nsPubSub, "publish").Child(nsPubSub, "item").Attr("id"); got != id {
			t.Errorf("publish %s answered with item %q", id, got)
		}
	}
	res := mustResult(t, owner, "set", "", publishItem(node, "", `<entry xmlns='urn:example:docs'>generated</entry>`))
	generated := res.Child(nsPubSub, "pubsub").Child(nsPubSub, "publish").Child(nsPubSub, "item").Attr("id")
	if generated == "" {
		t.Errorf("publish without an ID: no ID in %s", res)
	}
	// retrieve-items by a stranger (open): all, the last, one by ID.
	if ids := itemIDs(getItems(t, stranger, o, node, "")); len(ids) != 4 || ids[0] != generated {
		t.Errorf("all items, newest first: %q", ids)
	}
	if ids := itemIDs(getItems(t, stranger, o, node, " max_items='1'")); !slices.Equal(ids, []string{generated}) {
		t.Errorf("max_items 1: %q, want [%s]", ids, generated)
	}
	res = request(t, stranger, "get", o, `<pubsub xmlns='`+nsPubSub+`'><items node='`+node+`'><item id='i2'/></items></pubsub>`)
	if it := res.Child(nsPubSub, "pubsub").Child(nsPubSub, "items").Child(nsPubSub, "item"); it == nil || it.ChildText("urn:example:docs", "entry") != "i2" {
		t.Errorf("item i2 by ID: %s", res)
	}
	// meta-data: the node's disco#info.
	info := mustResult(t, stranger, "get", o, `<query xmlns='`+nsDiscoInfo+`' node='`+node+`'/>`).Child(nsDiscoInfo, "query")
	if id := info.Child(nsDiscoInfo, "identity"); id == nil || id.Attr("category") != "pubsub" || id.Attr("type") != "leaf" ||
		formValue(info, "FORM_TYPE") != nsPubSub+"#meta-data" || formValue(info, "pubsub#access_model") != "open" ||
		formValue(info, "pubsub#title") != "Docs node" {
		t.Errorf("the node's disco#info: %s", info)
	}

	// subscribe; last-published on subscription; subscription-notifications
	// to the owner (notify_sub); retrieve-subscriptions.
	res, before := exchange(t, stranger, "set", o, `<pubsub xmlns='`+nsPubSub+`'><subscribe node='`+node+`' jid='`+s+`'/></pubsub>`)
	if sub := res.Child(nsPubSub, "pubsub").Child(nsPubSub, "subscription"); sub == nil || sub.Attr("subscription") != "subscribed" || sub.Attr("subid") == "" {
		t.Errorf("subscribe: %s", res)
	}
	if !slices.ContainsFunc(append(before, drain(t, stranger)...), isEvent(o, "items", node, generated)) {
		t.Errorf("no last item (%s) on subscription: %s", generated, dumpAll(before))
	}
	got := owner.Expect(func(el *xmppcore.Element) bool {
		ev := event(el)
		return ev != nil && ev.Child(nsPubSubEvent, "subscription") != nil
	})
	if sub := event(got).Child(nsPubSubEvent, "subscription"); sub.Attr("jid") != s || sub.Attr("subscription") != "subscribed" || sub.Attr("node") != node {
		t.Errorf("the owner's notification of the subscription: %s", got)
	}
	res = mustResult(t, stranger, "get", o, `<pubsub xmlns='`+nsPubSub+`'><subscriptions/></pubsub>`)
	if sub := res.Child(nsPubSub, "pubsub").Child(nsPubSub, "subscriptions").Child(nsPubSub, "subscription"); sub == nil || sub.Attr("node") != node {
		t.Errorf("the stranger's subscriptions: %s", res)
	}
	// presence-notifications: to the available subscriber.
	mustResult(t, owner, "set", "", publishItem(node, "i5", `<entry xmlns='urn:example:docs'>i5</entry>`))
	stranger.Expect(isEvent(o, "items", node, "i5"))
	// retract-items and delete-items, notified on request.
	mustResult(t, owner, "set", "", `<pubsub xmlns='`+nsPubSub+`'><retract node='`+node+`' notify='true'><item id='i5'/></retract></pubsub>`)
	got = stranger.Expect(isEvent(o, "items", node, "i5"))
	if event(got).Child(nsPubSubEvent, "items").Child(nsPubSubEvent, "retract") == nil {
		t.Errorf("the retraction's notification: %s", got)
	}
	if ids := itemIDs(getItems(t, stranger, o, node, "")); slices.Contains(ids, "i5") {
		t.Errorf("i5 is still there after the retraction: %q", ids)
	}

	// subscribe and unsubscribe: the contact, once; the owner is told of
	// both (notify_sub).
	mustResult(t, friend, "set", o, `<pubsub xmlns='`+nsPubSub+`'><subscribe node='`+node+`' jid='`+f+`'/></pubsub>`)
	mustResult(t, friend, "set", o, `<pubsub xmlns='`+nsPubSub+`'><unsubscribe node='`+node+`' jid='`+f+`'/></pubsub>`)
	for _, state := range []string{"subscribed", "none"} {
		got := owner.Expect(func(el *xmppcore.Element) bool {
			ev := event(el)
			return ev != nil && ev.Child(nsPubSubEvent, "subscription") != nil && ev.Child(nsPubSubEvent, "subscription").Attr("jid") == f
		})
		if sub := event(got).Child(nsPubSubEvent, "subscription"); sub.Attr("subscription") != state {
			t.Errorf("the owner's notification of the contact's subscription: %s, want %s", got, state)
		}
	}
	if res := request(t, friend, "set", o, `<pubsub xmlns='`+nsPubSub+`'><unsubscribe node='`+node+`' jid='`+f+`'/></pubsub>`); appCondition(res) != "not-subscribed" {
		t.Errorf("unsubscribing twice: %s, want not-subscribed", res)
	}

	// manage-subscriptions: the list, a subscription made and removed by
	// the owner.
	subs := func() []string {
		res := owned("get", `<subscriptions node='`+node+`'/>`)
		var out []string
		for sub := range res.Child(nsPubSubOwner, "pubsub").Child(nsPubSubOwner, "subscriptions").Children() {
			out = append(out, sub.Attr("jid")+"="+sub.Attr("subscription"))
		}
		slices.Sort(out)
		return out
	}
	if got := subs(); !slices.Equal(got, []string{s + "=subscribed"}) {
		t.Errorf("the node's subscriptions: %q", got)
	}
	owned("set", `<subscriptions node='`+node+`'><subscription jid='`+f+`' subscription='subscribed'/></subscriptions>`)
	if got := subs(); !slices.Equal(got, []string{f + "=subscribed", s + "=subscribed"}) {
		t.Errorf("the node's subscriptions after adding the contact's: %q", got)
	}
	owned("set", `<subscriptions node='`+node+`'><subscription jid='`+f+`' subscription='none'/></subscriptions>`)
	if got := subs(); !slices.Equal(got, []string{s + "=subscribed"}) {
		t.Errorf("the node's subscriptions after removing the contact's: %q", got)
	}

	// modify-affiliations, retrieve-affiliations; publisher-affiliation and
	// publish-only-affiliation publish, others may not.
	owned("set", `<affiliations node='`+node+`'><affiliation jid='x0060p@localhost' affiliation='publisher'/>`+
		`<affiliation jid='x0060q@localhost' affiliation='publish-only'/></affiliations>`)
	affs := map[string]string{}
	for a := range owned("get", `<affiliations node='`+node+`'/>`).Child(nsPubSubOwner, "pubsub").Child(nsPubSubOwner, "affiliations").Children() {
		affs[a.Attr("jid")] = a.Attr("affiliation")
	}
	if want := map[string]string{o: "owner", "x0060p@localhost": "publisher", "x0060q@localhost": "publish-only"}; !maps.Equal(affs, want) {
		t.Errorf("the node's affiliations: %v, want %v", affs, want)
	}
	res = mustResult(t, publisher, "get", o, `<pubsub xmlns='`+nsPubSub+`'><affiliations/></pubsub>`)
	if a := res.Child(nsPubSub, "pubsub").Child(nsPubSub, "affiliations").Child(nsPubSub, "affiliation"); a == nil ||
		a.Attr("node") != node || a.Attr("affiliation") != "publisher" {
		t.Errorf("the publisher's own affiliations: %s", res)
	}
	mustResult(t, publisher, "set", o, publishItem(node, "by-publisher", `<entry xmlns='urn:example:docs'/>`))
	mustResult(t, publishOnly, "set", o, publishItem(node, "by-publish-only", `<entry xmlns='urn:example:docs'/>`))
	if res := request(t, friend, "set", o, publishItem(node, "by-friend", `<entry xmlns='urn:example:docs'/>`)); routertest.ErrorCondition(res) != "forbidden" {
		t.Errorf("a contact without affiliation publishing: %s, want forbidden", res)
	}
	stranger.Expect(isEvent(o, "items", node, "by-publish-only"))

	// purge-nodes: one <purge/> event, no items left.
	owned("set", `<purge node='`+node+`'/>`)
	stranger.Expect(isEvent(o, "purge", node, ""))
	if ids := itemIDs(getItems(t, owner, o, node, "")); len(ids) != 0 {
		t.Errorf("items after the purge: %q", ids)
	}
	// outcast-affiliation: shut out of an open node.
	owned("set", `<affiliations node='`+node+`'><affiliation jid='`+s+`' affiliation='outcast'/></affiliations>`)
	if res := getItems(t, stranger, o, node, ""); routertest.ErrorCondition(res) != "forbidden" {
		t.Errorf("an outcast reading an open node: %s, want forbidden", res)
	}
	// delete-nodes: the subscribers still let in hear of it.
	owned("set", `<affiliations node='`+node+`'><affiliation jid='`+s+`' affiliation='none'/></affiliations>`)
	owned("set", `<delete node='`+node+`'/>`)
	stranger.Expect(isEvent(o, "delete", node, ""))
	if res := getItems(t, owner, o, node, ""); routertest.ErrorCondition(res) != "item-not-found" {
		t.Errorf("items of a deleted node: %s, want item-not-found", res)
	}

	// auto-create, publish-options, access-whitelist and
	// member-affiliation.
	mustResult(t, owner, "set", "", publishItem(wlNode, "w1", `<entry xmlns='urn:example:docs'/>`, "pubsub#access_model", "whitelist"))
	if res := getItems(t, friend, o, wlNode, ""); routertest.ErrorCondition(res) != "not-allowed" || appCondition(res) != "closed-node" {
		t.Errorf("a contact reading a whitelist node: %s, want not-allowed with closed-node", res)
	}
	owned("set", `<affiliations node='`+wlNode+`'><affiliation jid='`+f+`' affiliation='member'/></affiliations>`)
	if ids := itemIDs(getItems(t, friend, o, wlNode, "")); !slices.Equal(ids, []string{"w1"}) {
		t.Errorf("a member reading a whitelist node: %q", ids)
	}
	if res := request(t, owner, "set", "", publishItem(wlNode, "w2", `<entry xmlns='urn:example:docs'/>`, "pubsub#access_model", "open")); appCondition(res) != "precondition-not-met" {
		t.Errorf("publish-options not met: %s", res)
	}

	// access-presence (the default) and access-roster.
	mustResult(t, owner, "set", "", publishItem("docs/presence", "p1", `<entry xmlns='urn:example:docs'/>`))
	if res := getItems(t, stranger, o, "docs/presence", ""); routertest.ErrorCondition(res) != "not-authorized" || appCondition(res) != "presence-subscription-required" {
		t.Errorf("a stranger reading a presence node: %s", res)
	}
	if ids := itemIDs(getItems(t, friend, o, "docs/presence", "")); !slices.Equal(ids, []string{"p1"}) {
		t.Errorf("a contact reading a presence node: %q", ids)
	}
	mustResult(t, owner, "set", "", `<pubsub xmlns='`+nsPubSub+`'><create node='docs/roster'/><configure>`+
		dataForm(nsPubSub+"#node_config", "pubsub#access_model", "roster", "pubsub#roster_groups_allowed", "Docs")+`</configure></pubsub>`)
	if res := getItems(t, friend, o, "docs/roster", ""); routertest.ErrorCondition(res) != "not-authorized" || appCondition(res) != "not-in-roster-group" {
		t.Errorf("a contact outside the group reading a roster node: %s", res)
	}
	mustResult(t, owner, "set", "", `<query xmlns='`+nsRoster+`'><item jid='`+f+`'><group>Docs</group></item></query>`)
	if res := getItems(t, friend, o, "docs/roster", ""); res.Attr("type") != "result" {
		t.Errorf("a contact in the group reading a roster node: %s", res)
	}
	// auto-subscribe, presence-subscribe, filtered-notifications: the
	// XEP-0163, XEP-0115 and XEP-0384 checks.
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

// hasFeature reports whether a disco#info result lists feature.
func hasFeature(res *xmppcore.Element, feature string) bool {
	q := res.Child("http://jabber.org/protocol/disco#info", "query")
	if q == nil {
		return false
	}
	for f := range q.Children() {
		if f.Local == "feature" && f.Attr("var") == feature {
			return true
		}
	}
	return false
}

// hasStatus reports whether a MUC presence carries status code.
func hasStatus(pres *xmppcore.Element, code string) bool {
	x := pres.Child("http://jabber.org/protocol/muc#user", "x")
	if x == nil {
		return false
	}
	for st := range x.Children() {
		if st.Local == "status" && st.Attr("code") == code {
			return true
		}
	}
	return false
}
