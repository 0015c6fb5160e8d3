package c2s_test

import (
	"crypto/tls"
	"encoding/base64"
	"slices"
	"strings"
	"testing"

	"mellium.im/sasl"

	"parley.im/parley/config"
	"parley.im/parley/internal/xmpptest"
	"parley.im/parley/xmppcore"
)

var (
	scramSHA1       = sasl.ScramSha1
	scramSHA256     = sasl.ScramSha256
	scramSHA1Plus   = sasl.ScramSha1Plus
	scramSHA256Plus = sasl.ScramSha256Plus
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// remote tells mellium's client which mechanisms the server offered, so
// that a -PLUS mechanism binds instead of sending "y".
func remote(mechs ...string) sasl.Option { return sasl.RemoteMechanisms(mechs...) }

// securedVersion is secured with the TLS version pinned.
func securedVersion(t *testing.T, srv *xmpptest.Server, version uint16) *xmpptest.Client {
	t.Helper()
	c := opened(t, srv)
	c.StartTLSConfig("localhost", &tls.Config{InsecureSkipVerify: true, ServerName: "localhost", MinVersion: version, MaxVersion: version}) //nolint:gosec // test certificate
	return c
}

// wantSuccess checks a SASL success that carries SCRAM's server-final
// message (already verified by the client), then restarts and binds to
// check who the server thinks authenticated.
func wantSuccess(t *testing.T, c *xmpptest.Client, el *xmppcore.Element, user string) {
	t.Helper()
	if !el.Is(xmppcore.NSSASL, "success") {
		t.Fatalf("got %s, want success", el)
	}
	add, err := base64.StdEncoding.DecodeString(el.Text())
	if err != nil || !strings.HasPrefix(string(add), "v=") {
		t.Fatalf("success without server signature: %s", el)
	}
	c.OpenStream("localhost")
	if c.Features.Child(xmppcore.NSBind, "bind") == nil || c.Features.Child(xmppcore.NSSASL, "mechanisms") != nil {
		t.Fatalf("features after auth: %s", c.Features)
	}
	if j := c.Bind("sasl"); j != user+"@localhost/sasl" {
		t.Fatalf("bound %s, want %s@localhost/sasl", j, user)
	}
}

func TestSCRAMMellium(t *testing.T) {
	srv := start(t)
	for _, tc := range []struct {
		m       sasl.Mechanism
		version uint16
		opts    []sasl.Option
	}{
		{scramSHA1, tls.VersionTLS13, nil},
		{scramSHA256, tls.VersionTLS13, nil},
		{scramSHA1Plus, tls.VersionTLS13, []sasl.Option{remote("SCRAM-SHA-1-PLUS")}},     // tls-exporter
		{scramSHA256Plus, tls.VersionTLS13, []sasl.Option{remote("SCRAM-SHA-256-PLUS")}}, // tls-exporter
		{scramSHA256Plus, tls.VersionTLS12, []sasl.Option{remote("SCRAM-SHA-256-PLUS")}}, // tls-unique
		{scramSHA256, tls.VersionTLS12, nil},
	} {
		t.Run(tc.m.Name+"/"+tls.VersionName(tc.version), func(t *testing.T) {
			c := securedVersion(t, srv, tc.version)
			if !slices.Contains(c.Mechanisms(), tc.m.Name) {
				t.Fatalf("%s not offered: %v", tc.m.Name, c.Mechanisms())
			}
			wantSuccess(t, c, c.Auth(tc.m, "alice", password, tc.opts...), "alice")
		})
	}
}

func TestSCRAMHandWritten(t *testing.T) {
	srv := start(t)
	for _, tc := range []struct {
		mech, cb string
		version  uint16
	}{
		{"SCRAM-SHA-512", "", tls.VersionTLS13},
		{"SCRAM-SHA-1-PLUS", "tls-server-end-point", tls.VersionTLS13},
		{"SCRAM-SHA-256-PLUS", "tls-server-end-point", tls.VersionTLS13},
		{"SCRAM-SHA-512-PLUS", "tls-server-end-point", tls.VersionTLS13},
		{"SCRAM-SHA-512-PLUS", "tls-exporter", tls.VersionTLS13},
		{"SCRAM-SHA-512-PLUS", "tls-exporter", tls.VersionTLS12},
		{"SCRAM-SHA-512-PLUS", "tls-unique", tls.VersionTLS12},
		{"SCRAM-SHA-1-PLUS", "tls-server-end-point", tls.VersionTLS12},
	} {
		t.Run(tc.mech+"/"+tc.cb+"/"+tls.VersionName(tc.version), func(t *testing.T) {
			c := securedVersion(t, srv, tc.version)
			s := &xmpptest.SCRAM{Mechanism: tc.mech, User: "alice", Password: password}
			if tc.cb != "" {
				s.GS2 = "p=" + tc.cb + ",,"
				s.CBData = c.ChannelBinding(tc.cb)
			}
			wantSuccess(t, c, c.AuthSCRAM(s), "alice")
		})
	}
}

// TestSCRAMPlusWrongBinding: -PLUS with binding data that is not this
// connection's fails, whatever the type.
func TestSCRAMPlusWrongBinding(t *testing.T) {
	srv := start(t)
	other := secured(t, srv) // another connection's binding data
	for _, typ := range []string{"tls-exporter", "tls-server-end-point"} {
		t.Run(typ, func(t *testing.T) {
			c := secured(t, srv)
			data := c.ChannelBinding(typ)
			if typ == "tls-exporter" {
				data = other.ChannelBinding(typ)
			} else {
				data = append([]byte{}, data...)
				data[0] ^= 1
			}
			s := &xmpptest.SCRAM{Mechanism: "SCRAM-SHA-256-PLUS", User: "alice", Password: password, GS2: "p=" + typ + ",,", CBData: data}
			if got := saslFailure(t, c.AuthSCRAM(s)); got != "not-authorized" {
				t.Fatalf("wrong binding data: %s", got)
			}
		})
	}
}

func TestSASLChannelBindingTypes(t *testing.T) {
	srv := start(t)
	types := func(c *xmpptest.Client) []string {
		var out []string
		if el := c.Features.Child("urn:xmpp:sasl-cb:0", "sasl-channel-binding"); el != nil {
			for ch := range el.Children() {
				out = append(out, ch.Attr("type"))
			}
		}
		slices.Sort(out)
		return out
	}
	c13 := securedVersion(t, srv, tls.VersionTLS13)
	if got := types(c13); !slices.Equal(got, []string{"tls-exporter", "tls-server-end-point"}) {
		t.Errorf("TLS 1.3 binding types %v", got)
	}
	c12 := securedVersion(t, srv, tls.VersionTLS12)
	if got := types(c12); !slices.Equal(got, []string{"tls-exporter", "tls-server-end-point", "tls-unique"}) {
		t.Errorf("TLS 1.2 binding types %v", got)
	}
	direct := xmpptest.DialTLS(t, srv.DirectTLSAddr, nil)
	direct.OpenStream("localhost")
	if got := types(direct); len(got) == 0 {
		t.Errorf("direct TLS binding types %v", got)
	}
	for _, c := range []*xmpptest.Client{c13, c12, direct} {
		want := []string{"SCRAM-SHA-512-PLUS", "SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-512", "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"}
		if got := c.Mechanisms(); !slices.Equal(got, want) {
			t.Errorf("mechanisms %v, want %v", got, want)
		}
	}
}

// TestSASLRetry: a wrong password is a failure that leaves the stream open
// for another try.
func TestSASLRetry(t *testing.T) {
	srv := start(t)
	c := secured(t, srv)
	if got := saslFailure(t, c.Auth(scramSHA256, "alice", "wrong")); got != "not-authorized" {
		t.Fatalf("wrong password: %s", got)
	}
	if got := saslFailure(t, c.Auth(scramSHA256, "nobody", password)); got != "not-authorized" {
		t.Fatalf("unknown user: %s", got)
	}
	// The username is normalized: ALICE is alice.
	wantSuccess(t, c, c.Auth(scramSHA256, "ALICE", password), "alice")
}

func TestSASLMaxAttempts(t *testing.T) {
	srv := start(t, func(cfg *config.Config) { cfg.Auth.MaxAttempts = 3 })
	c := secured(t, srv)
	for range 3 {
		if got := saslFailure(t, c.Auth(scramSHA256, "alice", "wrong")); got != "not-authorized" {
			t.Fatalf("wrong password: %s", got)
		}
	}
	wantStreamError(t, c, "policy-violation")

	// Other failures count too.
	c = secured(t, srv)
	c.Send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='X-UNKNOWN'/>`)
	saslFailure(t, c.Next())
	c.Send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>!!!</auth>`)
	saslFailure(t, c.Next())
	c.Send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>!!!</auth>`)
	saslFailure(t, c.Next())
	wantStreamError(t, c, "policy-violation")
}

func TestSASLFailureConditions(t *testing.T) {
	srv := start(t, func(cfg *config.Config) {
		cfg.Auth.Mechanisms = []string{"SCRAM-SHA-256", "SCRAM-SHA-256-PLUS", "PLAIN"}
		cfg.Auth.MaxAttempts = 5
	})
	c := secured(t, srv)

	c.Send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-256'/>`)
	if el := c.Next(); !el.Is(xmppcore.NSSASL, "challenge") || el.Text() != "" {
		t.Fatalf("auth without initial response: %s", el)
	}
	c.Send(`<abort xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>`)
	if got := saslFailure(t, c.Next()); got != "aborted" {
		t.Fatalf("abort: %s", got)
	}

	c.Send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>not*base64</auth>`)
	if got := saslFailure(t, c.Next()); got != "incorrect-encoding" {
		t.Fatalf("bad base64: %s", got)
	}
	wantSuccess(t, c, c.Auth(scramSHA256, "alice", password), "alice")

	c = secured(t, srv)
	for _, mech := range []string{"X-UNKNOWN", "SCRAM-SHA-1", "DIGEST-MD5", ""} {
		c.Send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='` + mech + `'>` + b64("n,,n=alice,r=abcdefgh") + `</auth>`)
		if got := saslFailure(t, c.Next()); got != "invalid-mechanism" {
			t.Fatalf("mechanism %q: %s", mech, got)
		}
	}

	// A SCRAM abort after the server-first.
	c = secured(t, srv)
	s := &xmpptest.SCRAM{Mechanism: "SCRAM-SHA-256", User: "alice", Password: password}
	c.Send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-256'>` + base64.StdEncoding.EncodeToString(s.First()) + `</auth>`)
	if el := c.Next(); !el.Is(xmppcore.NSSASL, "challenge") {
		t.Fatalf("client-first answered %s", el)
	}
	c.Send(`<abort xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>`)
	if got := saslFailure(t, c.Next()); got != "aborted" {
		t.Fatalf("abort: %s", got)
	}
	// PLAIN works over TLS.
	c.Send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>` + b64("\x00alice\x00"+password) + `</auth>`)
	if el := c.Next(); !el.Is(xmppcore.NSSASL, "success") {
		t.Fatalf("PLAIN: %s", el)
	}
}

// TestLoginThrottle: with account_failures=2, two failures lock the
// account: the right password then gets temporary-auth-failure, on this
// connection and on a new one.
func TestLoginThrottle(t *testing.T) {
	srv := start(t, func(cfg *config.Config) {
		cfg.Auth.AccountFailures = 2
		cfg.Auth.MaxAttempts = 5
	})
	c := secured(t, srv)
	for range 2 {
		if got := saslFailure(t, c.Auth(scramSHA256, "alice", "wrong")); got != "not-authorized" {
			t.Fatalf("wrong password: %s", got)
		}
	}
	if got := saslFailure(t, c.Auth(scramSHA256, "alice", password)); got != "temporary-auth-failure" {
		t.Fatalf("right password on a locked account: %s", got)
	}
	c2 := secured(t, srv)
	if got := saslFailure(t, c2.Auth(scramSHA256, "Alice", password)); got != "temporary-auth-failure" {
		t.Fatalf("right password on a locked account, new connection: %s", got)
	}
	// Another account is not affected.
	wantSuccess(t, c2, c2.Auth(scramSHA256, "bob", password), "bob")
}

// TestSlixmppChannelBinding: a client asking for tls-unique on TLS 1.3
// (as slixmpp does) is refused, then logs in on the same stream with plain
// SCRAM and the 'y' flag, which is no downgrade after that.
func TestSlixmppChannelBinding(t *testing.T) {
	srv := start(t, func(cfg *config.Config) { cfg.Auth.MaxAttempts = 1 })
	c := securedVersion(t, srv, tls.VersionTLS13)
	plus := &xmpptest.SCRAM{Mechanism: "SCRAM-SHA-256-PLUS", User: "alice", Password: password, GS2: "p=tls-unique,,"}
	if got := saslFailure(t, c.AuthSCRAM(plus)); got != "not-authorized" {
		t.Fatalf("tls-unique on TLS 1.3: %s", got)
	}
	// Not counted as an attempt (max_attempts is 1 here).
	y := &xmpptest.SCRAM{Mechanism: "SCRAM-SHA-256", User: "alice", Password: password, GS2: "y,,"}
	wantSuccess(t, c, c.AuthSCRAM(y), "alice")
}

// TestSCRAMDowngradeRefused: 'y' (client could bind but saw no -PLUS)
// while -PLUS was advertised means someone removed it: refused.
func TestSCRAMDowngradeRefused(t *testing.T) {
	srv := start(t)
	c := secured(t, srv)
	y := &xmpptest.SCRAM{Mechanism: "SCRAM-SHA-256", User: "alice", Password: password, GS2: "y,,"}
	if got := saslFailure(t, c.AuthSCRAM(y)); got != "not-authorized" {
		t.Fatalf("'y' with -PLUS advertised: %s", got)
	}
	// 'n' is fine.
	wantSuccess(t, c, c.Auth(scramSHA256, "alice", password), "alice")

	// Without -PLUS on offer, 'y' is legitimate.
	srv = start(t, func(cfg *config.Config) { cfg.Auth.Mechanisms = []string{"SCRAM-SHA-256"} })
	c = secured(t, srv)
	wantSuccess(t, c, c.AuthSCRAM(y), "alice")
}
