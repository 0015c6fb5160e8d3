package register

import (
	"context"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stream"

	"parley.im/parley/auth"
	"parley.im/parley/internal/routertest"
	"parley.im/parley/internal/storetest"
	"parley.im/parley/module"
	"parley.im/parley/router"
	"parley.im/parley/storage/sqlite"
	"parley.im/parley/xmppcore"
)

const (
	oldPassword = "old secret"
	unavailable = `<error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>`
)

type env struct {
	r     *router.Router
	reg   *module.Registry
	mod   *Register
	store *sqlite.Store
	clock *storetest.Clock
}

// setup runs the module on example.org and other.org over SQLite, with
// the accounts alice and bob on example.org.
func setup(t *testing.T, opts Options) *env {
	t.Helper()
	e := &env{clock: storetest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))}
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "parley.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e.store = st
	for _, u := range []string{"alice", "bob"} {
		creds, err := auth.DeriveCredentials(oldPassword, auth.MinIterations)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.CreateAccount(t.Context(), "example.org", u, creds); err != nil {
			t.Fatal(err)
		}
	}
	e.r = router.New(router.Config{Hosts: []string{"example.org", "other.org"}, AccountExists: st.AccountExists})
	e.reg = module.NewRegistry(module.Env{Router: e.r, Store: st})
	if opts.Iterations == 0 {
		opts.Iterations = auth.MinIterations
	}
	if opts.Now == nil {
		opts.Now = e.clock.Now
	}
	e.mod = New(st, opts)
	if err := e.reg.Add(e.mod); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.reg.Stop(context.Background()) })
	return e
}

func (e *env) iq(t *testing.T, from *routertest.Session, xml, want string) {
	t.Helper()
	e.r.Route(t.Context(), routertest.Stanza(t, from, xml))
	routertest.AssertXML(t, from.TakeOne(t), want)
}

// passwordIs reports whether user's stored credentials accept password.
func (e *env) passwordIs(t *testing.T, host, user, password string) bool {
	t.Helper()
	acct, err := e.store.Account(t.Context(), host, user)
	if err != nil {
		t.Fatalf("account %s@%s: %v", user, host, err)
	}
	if len(acct.Credentials) == 0 {
		t.Fatal("no credentials")
	}
	for _, c := range acct.Credentials {
		if !auth.VerifyPassword(c, password) {
			return false
		}
	}
	return true
}

func (e *env) exists(t *testing.T, host, user string) bool {
	t.Helper()
	ok, err := e.store.AccountExists(t.Context(), host, user)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func TestRegisteredInfo(t *testing.T) {
	e := setup(t, Options{})
	alice := routertest.Bind(t, e.r, "alice@example.org/phone")
	info := `<query xmlns='jabber:iq:register'><registered/><username>alice</username><password/></query>`
	e.iq(t, alice, `<iq type='get' id='1'><query xmlns='jabber:iq:register'/></iq>`,
		`<iq type='result' id='1' to='alice@example.org/phone'>`+info+`</iq>`)
	e.iq(t, alice, `<iq type='get' id='2' to='alice@example.org'><query xmlns='jabber:iq:register'/></iq>`,
		`<iq type='result' id='2' from='alice@example.org' to='alice@example.org/phone'>`+info+`</iq>`)
	e.iq(t, alice, `<iq type='get' id='3' to='example.org'><query xmlns='jabber:iq:register'/></iq>`,
		`<iq type='result' id='3' from='example.org' to='alice@example.org/phone'>`+info+`</iq>`)
	if !slices.Contains(e.reg.Features(module.Server), NS) {
		t.Errorf("server features %v lack %s", e.reg.Features(module.Server), NS)
	}
}

func TestChangePassword(t *testing.T) {
	e := setup(t, Options{})
	alice := routertest.Bind(t, e.r, "alice@example.org/phone")
	laptop := routertest.Bind(t, e.r, "alice@example.org/laptop")
	// Addressed to the server, as Conversations does, with the username.
	e.iq(t, alice, `<iq type='set' id='1' to='example.org'><query xmlns='jabber:iq:register'>
		<username>Alice</username><password>new secret</password></query></iq>`,
		`<iq type='result' id='1' from='example.org' to='alice@example.org/phone'/>`)
	if !e.passwordIs(t, "example.org", "alice", "new secret") {
		t.Fatal("the password did not change")
	}
	// Without 'to' and without username.
	e.iq(t, alice, `<iq type='set' id='2'><query xmlns='jabber:iq:register'><password>newer secret</password></query></iq>`,
		`<iq type='result' id='2' to='alice@example.org/phone'/>`)
	if !e.passwordIs(t, "example.org", "alice", "newer secret") {
		t.Fatal("the password did not change")
	}
	if _, _, closed := laptop.Closed(); closed {
		t.Error("a password change closed another session")
	}
	if !e.passwordIs(t, "example.org", "bob", oldPassword) {
		t.Error("bob's password changed")
	}
}

func TestChangePasswordRefused(t *testing.T) {
	e := setup(t, Options{MaxPasswordLength: 20})
	alice := routertest.Bind(t, e.r, "alice@example.org/phone")
	text := func(s string) string {
		return `<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>` + s + `</text>`
	}
	for _, tc := range []struct{ name, req, want string }{
		{"empty password", `<iq type='set' id='x'><query xmlns='jabber:iq:register'><username>alice</username><password/></query></iq>`,
			`<iq type='error' id='x' from='alice@example.org' to='alice@example.org/phone'><error type='modify'><bad-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>` +
				text("a password change needs a non-empty password") + `</error></iq>`},
		{"no password", `<iq type='set' id='x'><query xmlns='jabber:iq:register'><username>alice</username></query></iq>`,
			`<iq type='error' id='x' from='alice@example.org' to='alice@example.org/phone'><error type='modify'><bad-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>` +
				text("a password change needs a non-empty password") + `</error></iq>`},
		{"someone else's username", `<iq type='set' id='x'><query xmlns='jabber:iq:register'><username>bob</username><password>pw</password></query></iq>`,
			`<iq type='error' id='x' from='alice@example.org' to='alice@example.org/phone'><error type='modify'><bad-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>` +
				text("the username is not yours") + `</error></iq>`},
		{"too long", `<iq type='set' id='x'><query xmlns='jabber:iq:register'><password>` + strings.Repeat("p", 21) + `</password></query></iq>`,
			`<iq type='error' id='x' from='alice@example.org' to='alice@example.org/phone'><error type='modify'><not-acceptable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>` +
				text("the password is longer than 20 bytes") + `</error></iq>`},
		// PRECIS OpaqueString refuses control characters.
		{"invalid", "<iq type='set' id='x'><query xmlns='jabber:iq:register'><password>a\u0085b</password></query></iq>",
			`<iq type='error' id='x' from='alice@example.org' to='alice@example.org/phone'><error type='modify'><not-acceptable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>` +
				text("the password is not acceptable") + `</error></iq>`},
		{"another account", `<iq type='set' id='x' to='bob@example.org'><query xmlns='jabber:iq:register'><password>pw</password></query></iq>`,
			`<iq type='error' id='x' from='bob@example.org' to='alice@example.org/phone'><error type='auth'><forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>` +
				text("only your own account") + `</error></iq>`},
		{"another account's info", `<iq type='get' id='x' to='bob@example.org'><query xmlns='jabber:iq:register'/></iq>`,
			`<iq type='error' id='x' from='bob@example.org' to='alice@example.org/phone'><error type='auth'><forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>` +
				text("only your own account") + `</error></iq>`},
		// A logged-in user asking another of the server's hosts.
		{"another host", `<iq type='set' id='x' to='other.org'><query xmlns='jabber:iq:register'><password>pw</password></query></iq>`,
			`<iq type='error' id='x' from='other.org' to='alice@example.org/phone'><error type='cancel'><not-allowed xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>` +
				text("registration is for this server's users") + `</error></iq>`},
		{"remove with more", `<iq type='set' id='x'><query xmlns='jabber:iq:register'><remove/><username>alice</username></query></iq>`,
			`<iq type='error' id='x' from='alice@example.org' to='alice@example.org/phone'><error type='modify'><bad-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>` +
				text("remove must be the only child of query") + `</error></iq>`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.iq(t, alice, tc.req, tc.want)
			if !e.passwordIs(t, "example.org", "alice", oldPassword) || !e.passwordIs(t, "example.org", "bob", oldPassword) {
				t.Error("a password changed")
			}
			if !e.exists(t, "example.org", "alice") {
				t.Error("alice was removed")
			}
		})
	}
}

func TestRemoteRequester(t *testing.T) {
	e := setup(t, Options{})
	remote := &routertest.Remote{}
	e.r.SetRemote(remote)
	el := routertest.Parse(t, `<iq type='set' id='r' from='romeo@montague.net/orchard' to='example.org'><query xmlns='jabber:iq:register'><remove/></query></iq>`)
	e.r.Route(t.Context(), &router.Stanza{El: el, From: jid.MustParse("romeo@montague.net/orchard"), To: jid.MustParse("example.org")})
	got := remote.Got()
	if len(got) != 1 || !strings.Contains(got[0].El.String(), "not-allowed") {
		t.Fatalf("remote got %v", got)
	}
}

func TestRemove(t *testing.T) {
	e := setup(t, Options{})
	phone := routertest.Bind(t, e.r, "alice@example.org/phone")
	laptop := routertest.Bind(t, e.r, "alice@example.org/laptop")
	bob := routertest.Bind(t, e.r, "bob@example.org/pc")
	e.r.Route(t.Context(), routertest.Stanza(t, phone, `<iq type='set' id='rm'><query xmlns='jabber:iq:register'><remove/></query></iq>`))
	// Exactly one result, then the stream error (§3.2).
	routertest.AssertXML(t, phone.TakeOne(t), `<iq type='result' id='rm' to='alice@example.org/phone'/>`)
	for _, s := range []*routertest.Session{phone, laptop} {
		se, _, closed := s.Closed()
		if !closed || se.Err != stream.NotAuthorized.Err {
			t.Errorf("%s: closed %v with %v", s.JID(), closed, se)
		}
	}
	if _, _, closed := bob.Closed(); closed {
		t.Error("bob's session was closed")
	}
	if e.exists(t, "example.org", "alice") {
		t.Error("alice still exists")
	}
	if !e.exists(t, "example.org", "bob") {
		t.Error("bob is gone")
	}
	// A session of an account that is no longer there (removed by an
	// operator meanwhile).
	ghost := routertest.Bind(t, e.r, "carol@example.org/x")
	regRequired := `<error type='auth'><registration-required xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>`
	e.iq(t, ghost, `<iq type='set' id='1'><query xmlns='jabber:iq:register'><remove/></query></iq>`,
		`<iq type='error' id='1' from='carol@example.org' to='carol@example.org/x'>`+regRequired+`</iq>`)
	e.iq(t, ghost, `<iq type='set' id='2'><query xmlns='jabber:iq:register'><password>pw</password></query></iq>`,
		`<iq type='error' id='2' from='carol@example.org' to='carol@example.org/x'>`+regRequired+`</iq>`)
	if _, _, closed := ghost.Closed(); closed {
		t.Error("a failed removal closed the session")
	}
}

var (
	ip1 = netip.MustParseAddr("192.0.2.1")
	ip2 = netip.MustParseAddr("192.0.2.2")
)

// pre hands an IQ to PreAuthIQ as the session layer does.
func (e *env) pre(t *testing.T, host string, ip netip.Addr, xml string) (*xmppcore.Element, bool) {
	t.Helper()
	return e.mod.PreAuthIQ(t.Context(), host, ip, routertest.Parse(t, xml))
}

func (e *env) preOK(t *testing.T, host string, ip netip.Addr, xml, want string) {
	t.Helper()
	got, ok := e.pre(t, host, ip, xml)
	if !ok {
		t.Fatalf("%s: not handled", xml)
	}
	routertest.AssertXML(t, got, want)
}

func TestPreAuthDisabled(t *testing.T) {
	e := setup(t, Options{})
	if f := e.mod.PreAuthFeatures("example.org"); len(f) != 0 {
		t.Errorf("features offered while disabled: %v", f)
	}
	e.preOK(t, "example.org", ip1, `<iq type='get' id='1'><query xmlns='jabber:iq:register'/></iq>`,
		`<iq type='error' id='1'>`+unavailable+`</iq>`)
	e.preOK(t, "example.org", ip1, `<iq type='set' id='2'><query xmlns='jabber:iq:register'><username>eve</username><password>pw</password></query></iq>`,
		`<iq type='error' id='2'>`+unavailable+`</iq>`)
	if e.exists(t, "example.org", "eve") {
		t.Error("an account was created while registration is off")
	}
}

func TestPreAuthNotOurs(t *testing.T) {
	e := setup(t, Options{Enabled: true})
	for _, x := range []string{
		`<iq type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq>`,
		`<iq type='result' id='1'><query xmlns='jabber:iq:register'/></iq>`,
		`<iq type='get' id='1'><query xmlns='jabber:iq:register'/><query xmlns='jabber:iq:register'/></iq>`,
		`<iq type='get' id='1' to='other.org'><query xmlns='jabber:iq:register'/></iq>`,
		`<iq type='get' id='1' to='alice@example.org'><query xmlns='jabber:iq:register'/></iq>`,
		`<message id='1'><query xmlns='jabber:iq:register'/></message>`,
	} {
		if got, ok := e.pre(t, "example.org", ip1, x); ok {
			t.Errorf("%s: handled with %s", x, got)
		}
	}
}

func TestPreAuthRegister(t *testing.T) {
	e := setup(t, Options{Enabled: true, Instructions: "Pick a name."})
	f := e.mod.PreAuthFeatures("example.org")
	if len(f) != 1 || !f[0].Is(NSFeature, "register") {
		t.Errorf("features %v", f)
	}
	e.preOK(t, "example.org", ip1, `<iq type='get' id='1'><query xmlns='jabber:iq:register'/></iq>`,
		`<iq type='result' id='1'><query xmlns='jabber:iq:register'><instructions>Pick a name.</instructions><username/><password/></query></iq>`)
	e.preOK(t, "example.org", ip1, `<iq type='set' id='2' to='example.org'><query xmlns='jabber:iq:register'>
		<username>Eve</username><password>apple pie</password></query></iq>`,
		`<iq type='result' id='2' from='example.org'/>`)
	// Normalized as logins are.
	if !e.passwordIs(t, "example.org", "eve", "apple pie") {
		t.Error("eve cannot log in")
	}
	conflict := `<iq type='error' id='3'><error type='cancel'><conflict xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>
		<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>the username is taken</text></error></iq>`
	for _, name := range []string{"eve", "EVE", "alice"} {
		e.preOK(t, "example.org", ip2, `<iq type='set' id='3'><query xmlns='jabber:iq:register'>
			<username>`+name+`</username><password>other</password></query></iq>`, conflict)
	}
	if !e.passwordIs(t, "example.org", "eve", "apple pie") || !e.passwordIs(t, "example.org", "alice", oldPassword) {
		t.Error("a conflict changed a password")
	}
}

func TestPreAuthRefused(t *testing.T) {
	e := setup(t, Options{Enabled: true, MaxPasswordLength: 10})
	notAcceptable := func(text string) string {
		return `<iq type='error' id='x'><error type='modify'><not-acceptable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>
			<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>` + text + `</text></error></iq>`
	}
	for _, tc := range []struct{ name, query, want string }{
		{"no username", `<password>pw</password>`, notAcceptable("a username and a password are required")},
		{"empty username", `<username/><password>pw</password>`, notAcceptable("a username and a password are required")},
		{"no password", `<username>zed</username>`, notAcceptable("a username and a password are required")},
		// XEP-0077 §3.1: an empty password element is missing information.
		{"empty password", `<username>zed</username><password></password>`, notAcceptable("a username and a password are required")},
		{"at sign", `<username>zed@evil</username><password>pw</password>`, notAcceptable("the username is not valid")},
		{"slash", `<username>zed/x</username><password>pw</password>`, notAcceptable("the username is not valid")},
		{"space", `<username>z ed</username><password>pw</password>`, notAcceptable("the username is not valid")},
		{"too long username", `<username>` + strings.Repeat("z", 1024) + `</username><password>pw</password>`, notAcceptable("the username is not valid")},
		{"too long password", `<username>zed</username><password>12345678901</password>`, notAcceptable("the password is longer than 10 bytes")},
		{"invalid password", "<username>zed</username><password>a\u0085b</password>", notAcceptable("the password is not acceptable")},
		{"remove", `<remove/>`, `<iq type='error' id='x'><error type='wait'><unexpected-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>
			<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>not registered</text></error></iq>`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.preOK(t, "example.org", ip1, `<iq type='set' id='x'><query xmlns='jabber:iq:register'>`+tc.query+`</query></iq>`, tc.want)
			if n, err := e.store.ListAccounts(t.Context(), "example.org"); err != nil || len(n) != 2 {
				t.Errorf("accounts %v, %v", n, err)
			}
		})
	}
}

func TestPreAuthHosts(t *testing.T) {
	e := setup(t, Options{Enabled: true, Hosts: []string{"other.org"}})
	if f := e.mod.PreAuthFeatures("example.org"); len(f) != 0 {
		t.Errorf("features offered on a host not allowed: %v", f)
	}
	if f := e.mod.PreAuthFeatures("other.org"); len(f) != 1 {
		t.Errorf("features on the allowed host: %v", f)
	}
	e.preOK(t, "example.org", ip1, `<iq type='set' id='1'><query xmlns='jabber:iq:register'><username>eve</username><password>pw</password></query></iq>`,
		`<iq type='error' id='1'>`+unavailable+`</iq>`)
	e.preOK(t, "other.org", ip1, `<iq type='set' id='2'><query xmlns='jabber:iq:register'><username>eve</username><password>pw</password></query></iq>`,
		`<iq type='result' id='2'/>`)
	if e.exists(t, "example.org", "eve") || !e.exists(t, "other.org", "eve") {
		t.Error("created on the wrong host")
	}
}

func TestPreAuthRateLimit(t *testing.T) {
	e := setup(t, Options{Enabled: true, MaxPerIP: 2, Window: time.Hour})
	try := func(ip netip.Addr, user string) string {
		t.Helper()
		got, ok := e.pre(t, "example.org", ip, `<iq type='set' id='x'><query xmlns='jabber:iq:register'><username>`+user+`</username><password>pw</password></query></iq>`)
		if !ok {
			t.Fatal("not handled")
		}
		if got.Attr("type") == "result" {
			return "ok"
		}
		return got.FirstChild().FirstChild().Local + "/" + got.FirstChild().Attr("type")
	}
	v6a, v6b, v6other := netip.MustParseAddr("2001:db8:1:2::1"), netip.MustParseAddr("2001:db8:1:2:ffff::9"), netip.MustParseAddr("2001:db8:1:3::1")
	for i, tc := range []struct {
		ip         netip.Addr
		user, want string
	}{
		{ip1, "u1", "ok"},
		{ip1, "u1", "conflict/cancel"}, // counts: probing is limited too
		{ip1, "u2", "not-acceptable/wait"},
		{ip1, "x y", "not-acceptable/modify"}, // refused before counting
		{ip2, "u2", "ok"},
		{v6a, "u3", "ok"},
		{v6b, "u4", "ok"}, // same /64
		{v6b, "u5", "not-acceptable/wait"},
		{v6other, "u5", "ok"},
	} {
		if got := try(tc.ip, tc.user); got != tc.want {
			t.Errorf("%d: %s as %s: %s, want %s", i, tc.user, tc.ip, got, tc.want)
		}
	}
	e.clock.Advance(time.Hour + time.Second)
	if got := try(ip1, "u6"); got != "ok" {
		t.Errorf("after the window: %s", got)
	}
	if got := New(nil, Options{}).opts; got.MaxPerIP != DefaultMaxPerIP || got.Window != DefaultWindow ||
		got.MaxPasswordLength != DefaultMaxPasswordLength || got.Iterations != DefaultIterations {
		t.Errorf("defaults %+v", got)
	}
	unlimited := &limiter{max: 0, now: time.Now}
	for range 100 {
		if !unlimited.take(ip1) {
			t.Fatal("a negative MaxPerIP limits")
		}
	}
}

func TestIterationsBelowMinimum(t *testing.T) {
	r := router.New(router.Config{Hosts: []string{"example.org"}})
	reg := module.NewRegistry(module.Env{Router: r})
	if err := reg.Add(New(nil, Options{Iterations: 1000})); err == nil {
		t.Error("1000 iterations accepted")
	}
}

// The limiter forgets addresses whose events are all older than the
// window once it tracks many.
func TestLimiterSweep(t *testing.T) {
	c := storetest.NewClock(time.Unix(0, 0))
	l := &limiter{max: 1, window: time.Minute, now: c.Now, hits: make(map[netip.Addr][]time.Time)}
	for i := range maxTracked {
		l.take(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}))
	}
	c.Advance(2 * time.Minute)
	if !l.take(ip1) || len(l.hits) != 1 {
		t.Errorf("%d addresses tracked after a sweep", len(l.hits))
	}
}
