package c2s_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"slices"
	"strings"
	"testing"
	"time"

	"parley.im/parley/config"
	"parley.im/parley/internal/xmpptest"
	"parley.im/parley/xmppcore"
)

const (
	nsSASL2   = "urn:xmpp:sasl:2"
	nsBind2   = "urn:xmpp:bind:0"
	nsFAST    = "urn:xmpp:fast:0"
	nsCarbons = "urn:xmpp:carbons:2"
	agentA    = "d4565fa7-4d72-4749-b3d3-740edbf87770"
	agentB    = "0b2a6ad5-1a41-4bd8-9d10-2a0ab0c0e1c4"
)

// sasl2Mechanisms lists the mechanisms of the SASL2 feature.
func sasl2Mechanisms(t *testing.T, features *xmppcore.Element) []string {
	t.Helper()
	a := features.Child(nsSASL2, "authentication")
	if a == nil {
		t.Fatalf("no SASL2 feature in %s", features)
	}
	var out []string
	for ch := range a.Children() {
		if ch.Is(nsSASL2, "mechanism") {
			out = append(out, ch.Text())
		}
	}
	return out
}

// sasl2Auth runs a SASL2 SCRAM exchange with s, inner added to
// <authenticate/>, and returns the final element (its server signature
// checked on success) and the server-first-message.
func sasl2Auth(t *testing.T, c *xmpptest.Client, s *xmpptest.SCRAM, inner string) (final *xmppcore.Element, serverFirst string) {
	t.Helper()
	c.Send(`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='` + s.Mechanism + `'><initial-response>` +
		b64(string(s.First())) + `</initial-response>` + inner + `</authenticate>`)
	el := c.Next()
	if !el.Is(nsSASL2, "challenge") {
		return el, ""
	}
	first, err := base64.StdEncoding.DecodeString(el.Text())
	if err != nil {
		t.Fatal(err)
	}
	fin, err := s.Final(first)
	if err != nil {
		t.Fatal(err)
	}
	c.Send(`<response xmlns='urn:xmpp:sasl:2'>` + b64(string(fin)) + `</response>`)
	el = c.Next()
	if el.Is(nsSASL2, "success") {
		add, err := base64.StdEncoding.DecodeString(el.ChildText(nsSASL2, "additional-data"))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Verify(add); err != nil {
			t.Fatal(err)
		}
	}
	return el, string(first)
}

func scram(user, pass string) *xmpptest.SCRAM {
	return &xmpptest.SCRAM{Mechanism: "SCRAM-SHA-256", User: user, Password: pass}
}

func userAgent(id string) string {
	return `<user-agent id='` + id + `'><software>TestXMPP</software><device>Test Phone</device></user-agent>`
}

// wantSASL2Failure returns the condition of a SASL2 failure.
func wantSASL2Failure(t *testing.T, el *xmppcore.Element) string {
	t.Helper()
	if !el.Is(nsSASL2, "failure") {
		t.Fatalf("got %s, want a SASL2 failure", el)
	}
	for ch := range el.Children() {
		if ch.Space == xmppcore.NSSASL {
			return ch.Local
		}
	}
	t.Fatalf("SASL2 failure without condition: %s", el)
	return ""
}

// wantSASL2Success checks <success/> and the features that follow it, and
// returns the authorization identifier.
func wantSASL2Success(t *testing.T, c *xmpptest.Client, el *xmppcore.Element) string {
	t.Helper()
	if !el.Is(nsSASL2, "success") {
		t.Fatalf("got %s, want SASL2 success", el)
	}
	c.Features = c.Next()
	if !c.Features.Is(xmppcore.NSStream, "features") || c.Features.Child(nsSASL2, "authentication") != nil {
		t.Fatalf("after SASL2 success: %s, want the authenticated stream's features", c.Features)
	}
	return el.ChildText(nsSASL2, "authorization-identifier")
}

func TestSASL2Features(t *testing.T) {
	srv := start(t)
	c := opened(t, srv)
	if c.Features.Child(nsSASL2, "authentication") != nil {
		t.Fatalf("SASL2 offered before TLS: %s", c.Features)
	}
	c.StartTLS("localhost")
	if got, want := sasl2Mechanisms(t, c.Features), c.Mechanisms(); !slices.Equal(got, want) {
		t.Errorf("SASL2 mechanisms %v, classic %v: want the same", got, want)
	}
	inline := c.Features.Child(nsSASL2, "authentication").Child(nsSASL2, "inline")
	bind := inline.Child(nsBind2, "bind")
	if bind == nil {
		t.Fatalf("no Bind2 in %s", inline)
	}
	var vars []string
	for f := range bind.Child(nsBind2, "inline").Children() {
		vars = append(vars, f.Attr("var"))
	}
	if !slices.Contains(vars, nsCarbons) {
		t.Errorf("Bind2 inline features %v lack carbons", vars)
	}
	var fast []string
	for m := range inline.Child(nsFAST, "fast").Children() {
		fast = append(fast, m.Text())
	}
	if !slices.Equal(fast, []string{"HT-SHA-256-EXPR", "HT-SHA-256-ENDP", "HT-SHA-256-NONE"}) {
		t.Errorf("FAST mechanisms on TLS 1.3 = %v", fast)
	}

	off := start(t, func(cfg *config.Config) { cfg.Auth.SASL2 = false })
	c = secured(t, off)
	if c.Features.Child(nsSASL2, "authentication") != nil {
		t.Fatalf("SASL2 offered while off: %s", c.Features)
	}
	c.Send(`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='SCRAM-SHA-256'/>`)
	wantStreamError(t, c, "policy-violation")

	noFast := start(t, func(cfg *config.Config) { cfg.Auth.FastTokenLifetime = 0 })
	c = secured(t, noFast)
	if c.Features.Child(nsSASL2, "authentication").Child(nsSASL2, "inline").Child(nsFAST, "fast") != nil {
		t.Fatalf("FAST offered while off: %s", c.Features)
	}
}

// TestSASL2SSDP checks XEP-0474's h= against a hash computed here from the
// mechanisms and channel-binding types the client was shown.
func TestSASL2SSDP(t *testing.T) {
	srv := start(t)
	c := secured(t, srv)
	mechs := sasl2Mechanisms(t, c.Features)
	want := ssdpAttr(mechs, c.Features)
	el, first := sasl2Auth(t, c, scram("alice", password), "")
	wantSASL2Success(t, c, el)
	if !slices.Contains(strings.Split(first, ","), want) {
		t.Errorf("server-first %q lacks %s", first, want)
	}
}

func TestSASL2WithoutBind2(t *testing.T) {
	srv := start(t)
	c := secured(t, srv)
	el, _ := sasl2Auth(t, c, scram("Alice", password), userAgent(agentA))
	if authz := wantSASL2Success(t, c, el); authz != "alice@localhost" {
		t.Errorf("authorization-identifier %q, want alice@localhost", authz)
	}
	if c.Features.Child(xmppcore.NSBind, "bind") == nil {
		t.Fatalf("no bind feature after SASL2 without Bind2: %s", c.Features)
	}
	if j := c.Bind("legacy"); j != "alice@localhost/legacy" {
		t.Fatalf("bound %s", j)
	}
	roundTrip(t, c, "p1")
	// A second authenticate after success is a stream error.
	c2 := secured(t, srv)
	el, _ = sasl2Auth(t, c2, scram("alice", password), "")
	wantSASL2Success(t, c2, el)
	c2.Send(`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><initial-response>` + b64("\x00alice\x00"+password) + `</initial-response></authenticate>`)
	wantStreamError(t, c2, "policy-violation")
}

func TestSASL2PLAIN(t *testing.T) {
	srv := start(t)
	c := secured(t, srv)
	// Unknown inline requests, even repeated, are ignored.
	c.Send(`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><initial-response>` + b64("\x00bob\x00"+password) +
		`</initial-response><x xmlns='urn:example'/><x xmlns='urn:example'/><bind xmlns='urn:xmpp:bind:0'/></authenticate>`)
	authz := wantSASL2Success(t, c, c.Next())
	if !strings.HasPrefix(authz, "bob@localhost/") {
		t.Errorf("authorization-identifier %q", authz)
	}
	roundTrip(t, c, "p1")
}

func TestSASL2FailuresAndRetry(t *testing.T) {
	srv := start(t)
	c := secured(t, srv)
	el, _ := sasl2Auth(t, c, scram("alice", "wrong"), userAgent(agentA)+`<bind xmlns='urn:xmpp:bind:0'/>`)
	if got := wantSASL2Failure(t, el); got != "not-authorized" {
		t.Errorf("wrong password: %s", got)
	}
	if el.ChildText(nsSASL2, "text") == "" {
		t.Errorf("failure without text: %s", el)
	}
	// The stream is unchanged: another attempt succeeds.
	el, _ = sasl2Auth(t, c, scram("alice", password), `<bind xmlns='urn:xmpp:bind:0'/>`)
	wantSASL2Success(t, c, el)

	c = secured(t, srv)
	for _, tc := range []struct{ send, want string }{
		{`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='DIGEST-MD5'><initial-response/></authenticate>`, "invalid-mechanism"},
		{`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='SCRAM-SHA-256'><initial-response>!!!</initial-response></authenticate>`, "incorrect-encoding"},
	} {
		c.Send(tc.send)
		if got := wantSASL2Failure(t, c.Next()); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.send, got, tc.want)
		}
	}
	// The third failure (max_attempts) ends the stream.
	c.Send(`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='SCRAM-SHA-256'>` + userAgent(agentA) + `</authenticate>`)
	ch := c.Next()
	if !ch.Is(nsSASL2, "challenge") {
		t.Fatalf("no empty challenge without initial response: %s", ch)
	}
	c.Send(`<abort xmlns='urn:xmpp:sasl:2'/>`)
	if got := wantSASL2Failure(t, c.Next()); got != "aborted" {
		t.Errorf("abort: %s", got)
	}
	wantStreamError(t, c, "policy-violation")

	// Anything but a response or abort during the exchange ends the stream.
	c = secured(t, srv)
	c.Send(`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='SCRAM-SHA-256'><initial-response>` + b64(string(scram("alice", password).First())) + `</initial-response></authenticate>`)
	if ch := c.Next(); !ch.Is(nsSASL2, "challenge") {
		t.Fatalf("got %s", ch)
	}
	c.Send(`<iq type='get' id='x'><ping xmlns='urn:xmpp:ping'/></iq>`)
	wantStreamError(t, c, "policy-violation")

	// Malformed user-agent.
	c = secured(t, srv)
	c.Send(`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><initial-response>` + b64("\x00alice\x00"+password) +
		`</initial-response><user-agent id='` + strings.Repeat("x", 200) + `'/></authenticate>`)
	if got := wantSASL2Failure(t, c.Next()); got != "malformed-request" {
		t.Errorf("overlong user-agent id: %s", got)
	}
}

// TestBind2 binds inline with carbons, checks the stable resource and that
// an earlier session of the same client is replaced, and that carbons
// really are on.
func TestBind2(t *testing.T) {
	srv := start(t)
	bind := `<bind xmlns='urn:xmpp:bind:0'><tag>TestXMPP</tag><enable xmlns='urn:xmpp:carbons:2'/></bind>`
	c1 := secured(t, srv)
	el, _ := sasl2Auth(t, c1, scram("alice", password), userAgent(agentA)+bind)
	full := wantSASL2Success(t, c1, el)
	if !strings.HasPrefix(full, "alice@localhost/TestXMPP/") || strings.Contains(full, agentA) {
		t.Fatalf("bound %q, want alice@localhost/TestXMPP/<id>, without the user-agent id", full)
	}
	if el.Child(nsBind2, "bound") == nil {
		t.Fatalf("no <bound/> in %s", el)
	}
	if md := el.Child(nsBind2, "bound").Child("urn:xmpp:mam:2", "metadata"); md == nil || md.ChildCount() != 0 {
		t.Errorf("want an empty archive's <metadata/> in <bound/>: %s", el)
	}
	if c1.Features.Child(xmppcore.NSBind, "bind") != nil {
		t.Errorf("bind offered on a bound stream: %s", c1.Features)
	}
	c1.Send(`<presence/>`) // carbons go to available resources
	roundTrip(t, c1, "p1")

	// Carbons: a message to alice's other resource is copied to c1.
	other, _ := login(t, srv, "alice", "other")
	bob, _ := login(t, srv, "bob", "b")
	bob.Send(`<message type='chat' to='alice@localhost/other' id='m1'><body>hi</body></message>`)
	other.Expect(byID("m1"))
	cc := c1.Expect(func(el *xmppcore.Element) bool { return el.Child(nsCarbons, "received") != nil })
	if cc.Attr("from") != "alice@localhost" {
		t.Errorf("carbon from %q", cc.Attr("from"))
	}

	// Same client again: same resource; the old session is replaced.
	c2 := secured(t, srv)
	el, _ = sasl2Auth(t, c2, scram("alice", password), userAgent(agentA)+bind)
	if again := wantSASL2Success(t, c2, el); again != full {
		t.Errorf("second bind %q, want the stable %q", again, full)
	}
	// The archive now holds bob's message: <metadata/> says so.
	md := el.Child(nsBind2, "bound").Child("urn:xmpp:mam:2", "metadata")
	if md == nil || md.Child("urn:xmpp:mam:2", "start") == nil || md.Child("urn:xmpp:mam:2", "start").Attr("id") == "" ||
		md.Child("urn:xmpp:mam:2", "end") == nil || md.Child("urn:xmpp:mam:2", "end").Attr("timestamp") == "" {
		t.Errorf("want <metadata/> with start and end in <bound/>: %s", el)
	}
	wantStreamError(t, c1, "conflict")
	roundTrip(t, c2, "p2")
	// Another client, or another tag: another resource.
	c3 := secured(t, srv)
	el, _ = sasl2Auth(t, c3, scram("alice", password), userAgent(agentB)+bind)
	if r := wantSASL2Success(t, c3, el); r == full || !strings.HasPrefix(r, "alice@localhost/TestXMPP/") {
		t.Errorf("another client bound %q (first %q)", r, full)
	}
	c4 := secured(t, srv)
	el, _ = sasl2Auth(t, c4, scram("alice", password), userAgent(agentA)+`<bind xmlns='urn:xmpp:bind:0'><tag>Other</tag></bind>`)
	if r := wantSASL2Success(t, c4, el); !strings.HasPrefix(r, "alice@localhost/Other/") {
		t.Errorf("tag Other bound %q", r)
	}
	// No user-agent: a random resource; a bad tag is left out.
	c5 := secured(t, srv)
	el, _ = sasl2Auth(t, c5, scram("alice", password), `<bind xmlns='urn:xmpp:bind:0'><tag>`+strings.Repeat("t", 100)+`</tag></bind>`)
	if r := wantSASL2Success(t, c5, el); strings.Count(r, "/") != 1 || strings.Contains(r, "ttt") {
		t.Errorf("bound %q", r)
	}
	roundTrip(t, c5, "p5")
}

// TestBind2TooManySessions: a bind that cannot happen fails the whole
// authentication, and nothing was enabled.
func TestBind2TooManySessions(t *testing.T) {
	srv := start(t, func(cfg *config.Config) { cfg.C2S.MaxSessionsPerAccount = 1 })
	login(t, srv, "alice", "one")
	c := secured(t, srv)
	el, _ := sasl2Auth(t, c, scram("alice", password), userAgent(agentA)+`<bind xmlns='urn:xmpp:bind:0'><enable xmlns='urn:xmpp:carbons:2'/></bind>`)
	if got := wantSASL2Failure(t, el); got != "temporary-auth-failure" {
		t.Errorf("got %s", got)
	}
}

// hmacHex is HMAC-SHA-256 keyed with the token, as the client computes it.
func htProof(token, label string, cb []byte) []byte {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte(label))
	m.Write(cb)
	return m.Sum(nil)
}

// fastLogin authenticates with a FAST token: mech, the token, the
// channel-binding data the client computes, and extra children.
func fastLogin(t *testing.T, c *xmpptest.Client, mech, user, token string, cb []byte, inner string) *xmppcore.Element {
	t.Helper()
	msg := append([]byte(user+"\x00"), htProof(token, "Initiator", cb)...)
	c.Send(`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='` + mech + `'><initial-response>` +
		base64.StdEncoding.EncodeToString(msg) + `</initial-response>` + inner + `</authenticate>`)
	el := c.Next()
	if el.Is(nsSASL2, "success") {
		add, err := base64.StdEncoding.DecodeString(el.ChildText(nsSASL2, "additional-data"))
		if err != nil || !hmac.Equal(add, htProof(token, "Responder", cb)) {
			t.Fatalf("FAST success without the server's proof: %s", el)
		}
	}
	return el
}

// requestToken logs in with the password and asks for a token.
func requestToken(t *testing.T, srv *xmpptest.Server, user, agent, mech string) (token, expiry string) {
	t.Helper()
	c := secured(t, srv)
	el, _ := sasl2Auth(t, c, scram(user, password), userAgent(agent)+`<request-token xmlns='urn:xmpp:fast:0' mechanism='`+mech+`'/>`)
	wantSASL2Success(t, c, el)
	tok := el.Child(nsFAST, "token")
	if tok == nil || len(tok.Attr("token")) < 65 || tok.Attr("expiry") == "" {
		t.Fatalf("no token in %s", el)
	}
	return tok.Attr("token"), tok.Attr("expiry")
}

func TestFASTIssueAndUse(t *testing.T) {
	srv := start(t)
	token, expiry := requestToken(t, srv, "alice", agentA, "HT-SHA-256-NONE")
	exp, err := time.Parse(time.RFC3339, expiry)
	if err != nil || time.Until(exp) < 13*24*time.Hour || time.Until(exp) > 15*24*time.Hour {
		t.Errorf("expiry %q, want about 14 days from now (%v)", expiry, err)
	}
	// Stored hashed: the token itself is nowhere in the store.
	toks, err := srv.Store().FastTokens(t.Context(), "localhost", "alice", agentA)
	if err != nil || len(toks) != 1 {
		t.Fatalf("stored tokens %v, %v", toks, err)
	}
	if sum := sha256.Sum256([]byte(token)); !slices.Equal(toks[0].Key, sum[:]) || strings.Contains(string(toks[0].Key), token) {
		t.Errorf("stored key is not the token's SHA-256")
	}

	c := secured(t, srv)
	el := fastLogin(t, c, "HT-SHA-256-NONE", "alice", token, nil,
		userAgent(agentA)+`<fast xmlns='urn:xmpp:fast:0'/><bind xmlns='urn:xmpp:bind:0'><tag>T</tag></bind>`)
	if full := wantSASL2Success(t, c, el); !strings.HasPrefix(full, "alice@localhost/T/") {
		t.Errorf("FAST login bound %q", full)
	}
	if el.Child(nsFAST, "token") != nil {
		t.Errorf("a fresh token was rotated: %s", el)
	}
	roundTrip(t, c, "p1")

	for _, tc := range []struct {
		name, mech, user, token, agent string
		cb                             []byte
		want                           string
	}{
		{"wrong token", "HT-SHA-256-NONE", "alice", token + "x", agentA, nil, "not-authorized"},
		{"other client", "HT-SHA-256-NONE", "alice", token, agentB, nil, "not-authorized"},
		{"other user", "HT-SHA-256-NONE", "bob", token, agentA, nil, "not-authorized"},
		{"other mechanism", "HT-SHA-256-EXPR", "alice", token, agentA, nil, "not-authorized"},
		{"not offered", "HT-SHA-256-UNIQ", "alice", token, agentA, nil, "invalid-mechanism"},
	} {
		c := secured(t, srv)
		if tc.name == "other mechanism" {
			tc.cb = c.ChannelBinding("tls-exporter")
		}
		if got := wantSASL2Failure(t, fastLogin(t, c, tc.mech, tc.user, tc.token, tc.cb, userAgent(tc.agent))); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
	// Without a user-agent id, FAST cannot know the client.
	c = secured(t, srv)
	if got := wantSASL2Failure(t, fastLogin(t, c, "HT-SHA-256-NONE", "alice", token, nil, "")); got != "not-authorized" {
		t.Errorf("no user-agent: %s", got)
	}
}

// TestFASTChannelBinding: a token issued for EXPR works with this
// connection's exporter and no other's.
func TestFASTChannelBinding(t *testing.T) {
	srv := start(t)
	token, _ := requestToken(t, srv, "alice", agentA, "HT-SHA-256-EXPR")
	c := secured(t, srv)
	other := secured(t, srv)
	if got := wantSASL2Failure(t, fastLogin(t, c, "HT-SHA-256-EXPR", "alice", token, other.ChannelBinding("tls-exporter"), userAgent(agentA))); got != "not-authorized" {
		t.Errorf("another connection's binding: %s", got)
	}
	el := fastLogin(t, c, "HT-SHA-256-EXPR", "alice", token, c.ChannelBinding("tls-exporter"), userAgent(agentA))
	wantSASL2Success(t, c, el)
	// ENDP too, with a token issued for it.
	token, _ = requestToken(t, srv, "alice", agentB, "HT-SHA-256-ENDP")
	c = secured(t, srv)
	wantSASL2Success(t, c, fastLogin(t, c, "HT-SHA-256-ENDP", "alice", token, c.ChannelBinding("tls-server-end-point"), userAgent(agentB)))
}

// setExpiry rewrites the expiry of a stored token (through the storage
// interface: delete and add again, unused).
func setExpiry(t *testing.T, srv *xmpptest.Server, user, agent, token string, expires time.Time) {
	t.Helper()
	st := srv.Store()
	toks, err := st.FastTokens(t.Context(), "localhost", user, agent)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(token))
	for _, tok := range toks {
		if slices.Equal(tok.Key, sum[:]) {
			if err := st.DeleteFastTokens(t.Context(), "localhost", user, agent); err != nil {
				t.Fatal(err)
			}
			tok.Expires, tok.Used = expires, false
			if err := st.AddFastToken(t.Context(), tok); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatal("token not stored")
}

func TestFASTExpiryAndRotation(t *testing.T) {
	srv := start(t)
	token, _ := requestToken(t, srv, "alice", agentA, "HT-SHA-256-NONE")
	setExpiry(t, srv, "alice", agentA, token, time.Now().Add(-time.Second))
	c := secured(t, srv)
	if got := wantSASL2Failure(t, fastLogin(t, c, "HT-SHA-256-NONE", "alice", token, nil, userAgent(agentA))); got != "credentials-expired" {
		t.Errorf("expired token: %s", got)
	}

	// Near expiry: the login succeeds and brings a new token; the old one
	// keeps working until the new one is used.
	setExpiry(t, srv, "alice", agentA, token, time.Now().Add(time.Hour))
	c = secured(t, srv)
	el := fastLogin(t, c, "HT-SHA-256-NONE", "alice", token, nil, userAgent(agentA))
	wantSASL2Success(t, c, el)
	fresh := el.Child(nsFAST, "token")
	if fresh == nil || fresh.Attr("token") == token {
		t.Fatalf("no rotated token in %s", el)
	}
	c = secured(t, srv)
	el = fastLogin(t, c, "HT-SHA-256-NONE", "alice", token, nil, userAgent(agentA))
	wantSASL2Success(t, c, el)
	// Still due for rotation: another new token, which replaces the
	// unused one (XEP-0484: unused earlier tokens are invalidated).
	fresh2 := el.Child(nsFAST, "token")
	if fresh2 == nil || fresh2.Attr("token") == fresh.Attr("token") {
		t.Fatalf("no second rotated token in %s", el)
	}
	c = secured(t, srv)
	if got := wantSASL2Failure(t, fastLogin(t, c, "HT-SHA-256-NONE", "alice", fresh.Attr("token"), nil, userAgent(agentA))); got != "not-authorized" {
		t.Errorf("replaced unused token: %s", got)
	}
	c = secured(t, srv)
	el = fastLogin(t, c, "HT-SHA-256-NONE", "alice", fresh2.Attr("token"), nil, userAgent(agentA))
	wantSASL2Success(t, c, el)
	if el.Child(nsFAST, "token") != nil {
		t.Errorf("a fresh token was rotated: %s", el)
	}
	c = secured(t, srv)
	if got := wantSASL2Failure(t, fastLogin(t, c, "HT-SHA-256-NONE", "alice", token, nil, userAgent(agentA))); got != "not-authorized" {
		t.Errorf("rotated-out token after the new one was used: %s", got)
	}
}

func TestFASTReplayCounter(t *testing.T) {
	srv := start(t)
	token, _ := requestToken(t, srv, "alice", agentA, "HT-SHA-256-NONE")
	login := func(count string) *xmppcore.Element {
		c := secured(t, srv)
		el := fastLogin(t, c, "HT-SHA-256-NONE", "alice", token, nil, userAgent(agentA)+`<fast xmlns='urn:xmpp:fast:0' count='`+count+`'/>`)
		if el.Is(nsSASL2, "success") {
			wantSASL2Success(t, c, el)
		}
		return el
	}
	login("1")
	login("5")
	for _, count := range []string{"5", "2"} {
		if got := wantSASL2Failure(t, login(count)); got != "not-authorized" {
			t.Errorf("replayed count %s: %s", count, got)
		}
	}
	if got := wantSASL2Failure(t, login("-1")); got != "malformed-request" {
		t.Errorf("count -1: %s", got)
	}
	login("6")
}

func TestFASTInvalidate(t *testing.T) {
	srv := start(t)
	token, _ := requestToken(t, srv, "alice", agentA, "HT-SHA-256-NONE")
	c := secured(t, srv)
	el := fastLogin(t, c, "HT-SHA-256-NONE", "alice", token, nil, userAgent(agentA)+`<fast xmlns='urn:xmpp:fast:0' invalidate='true'/>`)
	wantSASL2Success(t, c, el)
	if el.Child(nsFAST, "token") != nil {
		t.Errorf("a token after invalidation without request: %s", el)
	}
	c = secured(t, srv)
	if got := wantSASL2Failure(t, fastLogin(t, c, "HT-SHA-256-NONE", "alice", token, nil, userAgent(agentA))); got != "not-authorized" {
		t.Errorf("invalidated token: %s", got)
	}
	// Invalidate and request a new one at once.
	token, _ = requestToken(t, srv, "alice", agentA, "HT-SHA-256-NONE")
	c = secured(t, srv)
	el = fastLogin(t, c, "HT-SHA-256-NONE", "alice", token, nil, userAgent(agentA)+
		`<fast xmlns='urn:xmpp:fast:0' invalidate='1'/><request-token xmlns='urn:xmpp:fast:0' mechanism='HT-SHA-256-NONE'/>`)
	wantSASL2Success(t, c, el)
	fresh := el.Child(nsFAST, "token")
	if fresh == nil {
		t.Fatalf("no new token: %s", el)
	}
	c = secured(t, srv)
	wantSASL2Failure(t, fastLogin(t, c, "HT-SHA-256-NONE", "alice", token, nil, userAgent(agentA)))
	c = secured(t, srv)
	wantSASL2Success(t, c, fastLogin(t, c, "HT-SHA-256-NONE", "alice", fresh.Attr("token"), nil, userAgent(agentA)))
	// A token request for a mechanism not offered fails the login.
	c = secured(t, srv)
	el, _ = sasl2Auth(t, c, scram("alice", password), userAgent(agentA)+`<request-token xmlns='urn:xmpp:fast:0' mechanism='HT-SHA-256-UNIQ'/>`)
	if got := wantSASL2Failure(t, el); got != "invalid-mechanism" {
		t.Errorf("token for a mechanism not offered: %s", got)
	}
}

// TestClassicSASLSSDP: classic RFC 6120 SASL sends XEP-0474's h= too,
// hashed over its own <mechanisms/> list.
func TestClassicSASLSSDP(t *testing.T) {
	srv := start(t)
	c := secured(t, srv)
	mechs := c.Mechanisms()
	want := ssdpAttr(mechs, c.Features)
	s := scram("alice", password)
	c.Send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-256'>` + b64(string(s.First())) + `</auth>`)
	ch := c.Next()
	first, err := base64.StdEncoding.DecodeString(ch.Text())
	if err != nil || !slices.Contains(strings.Split(string(first), ","), want) {
		t.Fatalf("server-first %q (%v) lacks %s", first, err, want)
	}
	final, err := s.Final(first)
	if err != nil {
		t.Fatal(err)
	}
	c.Send(`<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>` + b64(string(final)) + `</response>`)
	if el := c.Next(); !el.Is(xmppcore.NSSASL, "success") {
		t.Fatalf("got %s", el)
	}
}

// TestFASTPasswordChange: changing the password (XEP-0077) ends the
// account's FAST tokens.
func TestFASTPasswordChange(t *testing.T) {
	srv := start(t)
	token, _ := requestToken(t, srv, "alice", agentA, "HT-SHA-256-NONE")
	c, _ := login(t, srv, "alice", "pw")
	c.Send(`<iq type='set' id='pw1'><query xmlns='jabber:iq:register'><username>alice</username><password>a new one</password></query></iq>`)
	if r := c.Expect(byID("pw1")); r.Attr("type") != "result" {
		t.Fatalf("password change: %s", r)
	}
	c = secured(t, srv)
	if got := wantSASL2Failure(t, fastLogin(t, c, "HT-SHA-256-NONE", "alice", token, nil, userAgent(agentA))); got != "not-authorized" {
		t.Errorf("token after a password change: %s", got)
	}
}

// TestSASL2Throttling: failed SASL2 logins, by password or by FAST token,
// count towards auth.account_failures like classic ones; past it even
// the right password or token is refused.
func TestSASL2Throttling(t *testing.T) {
	srv := start(t, func(cfg *config.Config) { cfg.Auth.AccountFailures = 2 })
	token, _ := requestToken(t, srv, "alice", agentA, "HT-SHA-256-NONE")
	for range 2 {
		c := secured(t, srv)
		if got := wantSASL2Failure(t, fastLogin(t, c, "HT-SHA-256-NONE", "alice", token+"x", nil, userAgent(agentA))); got != "not-authorized" {
			t.Fatalf("wrong token: %s", got)
		}
	}
	c := secured(t, srv)
	if got := wantSASL2Failure(t, fastLogin(t, c, "HT-SHA-256-NONE", "alice", token, nil, userAgent(agentA))); got != "temporary-auth-failure" {
		t.Errorf("right token after two failures: %s", got)
	}
	c = secured(t, srv)
	el, _ := sasl2Auth(t, c, scram("alice", password), "")
	if got := wantSASL2Failure(t, el); got != "temporary-auth-failure" {
		t.Errorf("right password after two failures: %s", got)
	}
	// Another account is not affected.
	c = secured(t, srv)
	el, _ = sasl2Auth(t, c, scram("bob", password), "")
	wantSASL2Success(t, c, el)
}

// ssdpAttr is the XEP-0474 h= attribute a client computes from the
// mechanisms and the channel-binding types (in features) it was shown.
func ssdpAttr(mechs []string, features *xmppcore.Element) string {
	var cbs []string
	for ch := range features.Child("urn:xmpp:sasl-cb:0", "sasl-channel-binding").Children() {
		cbs = append(cbs, ch.Attr("type"))
	}
	mechs = slices.Clone(mechs)
	slices.Sort(mechs)
	slices.Sort(cbs)
	sum := sha256.Sum256([]byte(strings.Join(mechs, "\x1e") + "\x1f" + strings.Join(cbs, "\x1e")))
	return "h=" + base64.StdEncoding.EncodeToString(sum[:])
}
