package invites_test

import (
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"mellium.im/sasl"

	"parley.im/parley/config"
	"parley.im/parley/internal/routertest"
	"parley.im/parley/internal/xmpptest"
	"parley.im/parley/invites"
	"parley.im/parley/storage"
	"parley.im/parley/xmppcore"
)

const (
	nsCommands = "http://jabber.org/protocol/commands"
	nsData     = "jabber:x:data"
	nsItems    = "http://jabber.org/protocol/disco#items"
	password   = "correct horse"
)

// start runs a server with open registration off (the default), admin as
// the host's admin, and accounts admin and alice.
func start(t *testing.T, configure ...func(*config.Config)) *xmpptest.Server {
	t.Helper()
	srv := xmpptest.Start(t, append([]func(*config.Config){func(c *config.Config) {
		c.Hosts[0].Admins = []string{"admin@localhost"}
		c.Invites.LandingURL = "https://localhost/invite/"
	}}, configure...)...)
	srv.AddUser(t, "admin", password)
	srv.AddUser(t, "alice", password)
	return srv
}

var n int

func request(t *testing.T, c *xmpptest.Client, typ, to, payload string) *xmppcore.Element {
	t.Helper()
	n++
	id := "i" + strconv.Itoa(n)
	attrs := ""
	if to != "" {
		attrs = ` to='` + to + `'`
	}
	c.Send(`<iq type='` + typ + `' id='` + id + `'` + attrs + `>` + payload + `</iq>`)
	return c.Expect(func(el *xmppcore.Element) bool { return el.Local == "iq" && el.Attr("id") == id })
}

func field(x *xmppcore.Element, v string) string {
	for f := range x.Children() {
		if f.Attr("var") == v {
			return f.ChildText(nsData, "value")
		}
	}
	return ""
}

// link runs a command to completion and returns its result form.
func inviteCommand(t *testing.T, c *xmpptest.Client) *xmppcore.Element {
	t.Helper()
	res := request(t, c, "set", "localhost", `<command xmlns='`+nsCommands+`' node='`+invites.NodeInvite+`' action='execute'/>`)
	cmd := res.Child(nsCommands, "command")
	if res.Attr("type") != "result" || cmd == nil || cmd.Attr("status") != "completed" {
		t.Fatalf("invite command: %s", res)
	}
	return cmd.Child(nsData, "x")
}

// token returns the preauth token of an xmpp: URI.
func token(t *testing.T, uri string) string {
	t.Helper()
	_, q, ok := strings.Cut(uri, "?")
	if !ok {
		t.Fatalf("no query in %q", uri)
	}
	for _, p := range strings.Split(q, ";") {
		if v, ok := strings.CutPrefix(p, "preauth="); ok {
			return v
		}
	}
	t.Fatalf("no preauth in %q", uri)
	return ""
}

// preconnect opens a stream, negotiates TLS and returns the client, not
// logged in.
func preconnect(t *testing.T, srv *xmpptest.Server) *xmpptest.Client {
	t.Helper()
	c := xmpptest.Dial(t, srv.StartTLSAddr)
	c.OpenStream("localhost")
	c.StartTLS("localhost")
	return c
}

// register presents token and registers user; it returns the answers to
// the preauth and to the registration.
func register(t *testing.T, srv *xmpptest.Server, tok, user string) (pre, reg *xmppcore.Element) {
	t.Helper()
	c := preconnect(t, srv)
	if c.Features.Child("urn:xmpp:ibr-token:0", "register") == nil {
		t.Fatalf("no ibr-token stream feature: %s", c.Features)
	}
	pre = request(t, c, "set", "localhost", `<preauth xmlns='urn:xmpp:pars:0' token='`+tok+`'/>`)
	reg = request(t, c, "set", "", `<query xmlns='jabber:iq:register'><username>`+user+`</username><password>`+password+`</password></query>`)
	return pre, reg
}

func canLogin(t *testing.T, srv *xmpptest.Server, user string) bool {
	t.Helper()
	c := preconnect(t, srv)
	return c.Auth(sasl.ScramSha256, user, password).Is(xmppcore.NSSASL, "success")
}

func roster(t *testing.T, srv *xmpptest.Server, user string) map[string]string {
	t.Helper()
	items, _, err := srv.Store().RosterItems(t.Context(), "localhost", user)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, it := range items {
		out[it.JID] = it.Subscription
	}
	return out
}

// An admin lists and runs the commands; a user who is not an admin sees
// none and is refused.
func TestCommandsAdminOnly(t *testing.T) {
	srv := start(t)
	admin, _ := xmpptest.Login(t, srv, "admin", password, "r")
	res := request(t, admin, "get", "localhost", `<query xmlns='`+nsItems+`' node='`+nsCommands+`'/>`)
	var nodes []string
	for it := range res.Child(nsItems, "query").Children() {
		nodes = append(nodes, it.Attr("node")+"="+it.Attr("name"))
	}
	if strings.Join(nodes, ",") != invites.NodeInvite+"=Invite user,"+invites.NodeCreateAccount+"=Create account" {
		t.Errorf("admin's commands: %q in %s", nodes, res)
	}
	x := inviteCommand(t, admin)
	uri, landing, expire := field(x, "uri"), field(x, "landing-url"), field(x, "expire")
	tok := token(t, uri)
	if field(x, "FORM_TYPE") != invites.FormType || uri != "xmpp:admin@localhost?roster;preauth="+tok+";ibr=y" ||
		landing != "https://localhost/invite/"+tok || len(tok) != 32 {
		t.Errorf("invitation form: %s", x)
	}
	if exp, err := time.Parse(time.RFC3339, expire); err != nil || exp.Before(time.Now().Add(6*24*time.Hour)) {
		t.Errorf("expire %q: %v; want about a week from now", expire, err)
	}
	// Stored hashed: the token itself is nowhere in the invite.
	inv, err := srv.Store().Invite(t.Context(), "localhost", storage.InviteTokenHash(tok), time.Now())
	if err != nil || inv.Inviter != "admin" || inv.TokenHash == tok || !inv.Register {
		t.Errorf("stored invite %+v, %v", inv, err)
	}

	alice, _ := xmpptest.Login(t, srv, "alice", password, "r")
	res = request(t, alice, "get", "localhost", `<query xmlns='`+nsItems+`' node='`+nsCommands+`'/>`)
	if q := res.Child(nsItems, "query"); q == nil || q.ChildCount() != 0 {
		t.Errorf("a user's commands: %s, want none", res)
	}
	for _, node := range []string{invites.NodeInvite, invites.NodeCreateAccount} {
		res := request(t, alice, "set", "localhost", `<command xmlns='`+nsCommands+`' node='`+node+`' action='execute'/>`)
		if routertest.ErrorCondition(res) != "forbidden" {
			t.Errorf("%s by a user: %s, want forbidden", node, res)
		}
	}
}

// With invites.allow_users, a user may invite contacts but not create
// accounts.
func TestUserInvites(t *testing.T) {
	srv := start(t, func(c *config.Config) { c.Invites.AllowUsers = true })
	alice, _ := xmpptest.Login(t, srv, "alice", password, "r")
	x := inviteCommand(t, alice)
	if !strings.HasPrefix(field(x, "uri"), "xmpp:alice@localhost?roster;preauth=") {
		t.Errorf("user invitation: %s", x)
	}
	res := request(t, alice, "set", "localhost", `<command xmlns='`+nsCommands+`' node='`+invites.NodeCreateAccount+`' action='execute'/>`)
	if routertest.ErrorCondition(res) != "forbidden" {
		t.Errorf("create-account by a user: %s, want forbidden", res)
	}
}

// The contact invitation registers an account with open registration off,
// once, and makes it the inviter's mutual contact, whom the inviter's
// client hears of by a roster push.
func TestRegisterWithContactInvite(t *testing.T) {
	srv := start(t)
	admin, _ := xmpptest.Login(t, srv, "admin", password, "r")
	request(t, admin, "get", "", `<query xmlns='jabber:iq:roster'/>`)
	tok := token(t, field(inviteCommand(t, admin), "uri"))

	// Without a token: refused, registration is off.
	c := preconnect(t, srv)
	if c.Features.Child("http://jabber.org/features/iq-register", "register") != nil {
		t.Errorf("open registration offered while it is off: %s", c.Features)
	}
	if res := request(t, c, "set", "", `<query xmlns='jabber:iq:register'><username>mallory</username><password>x</password></query>`); routertest.ErrorCondition(res) != "service-unavailable" {
		t.Errorf("registration without a token: %s", res)
	}
	if res := request(t, c, "set", "", `<preauth xmlns='urn:xmpp:pars:0' token='wrong'/>`); routertest.ErrorCondition(res) != "item-not-found" {
		t.Errorf("a wrong token: %s, want item-not-found", res)
	}

	pre, reg := register(t, srv, tok, "juliet")
	if pre.Attr("type") != "result" || reg.Attr("type") != "result" {
		t.Fatalf("registration with the token: %s then %s", pre, reg)
	}
	if !canLogin(t, srv, "juliet") {
		t.Error("the invited account cannot log in")
	}
	if r := roster(t, srv, "juliet"); r["admin@localhost"] != storage.SubBoth {
		t.Errorf("juliet's roster %v, want admin with both", r)
	}
	if r := roster(t, srv, "admin"); r["juliet@localhost"] != storage.SubBoth {
		t.Errorf("admin's roster %v, want juliet with both", r)
	}
	push := admin.Expect(func(el *xmppcore.Element) bool {
		return el.Attr("type") == "set" && el.Child("jabber:iq:roster", "query") != nil
	})
	if it := push.Child("jabber:iq:roster", "query").Child("jabber:iq:roster", "item"); it == nil || it.Attr("jid") != "juliet@localhost" || it.Attr("subscription") != "both" {
		t.Errorf("roster push to the inviter: %s", push)
	}
	// Single use.
	pre, reg = register(t, srv, tok, "romeo")
	if routertest.ErrorCondition(pre) != "item-not-found" || reg.Attr("type") != "error" {
		t.Errorf("the token again: %s then %s", pre, reg)
	}
	if ok, _ := srv.Store().AccountExists(t.Context(), "localhost", "romeo"); ok {
		t.Error("a used token registered a second account")
	}
}

// The account invitation of create-account: a reserved username, which
// only the token registers, and with roster-subscription the admin as
// contact.
func TestCreateAccount(t *testing.T) {
	srv := start(t, func(c *config.Config) { c.Register.Enabled = true })
	admin, _ := xmpptest.Login(t, srv, "admin", password, "r")
	res := request(t, admin, "set", "localhost", `<command xmlns='`+nsCommands+`' node='`+invites.NodeCreateAccount+`' action='execute'/>`)
	cmd := res.Child(nsCommands, "command")
	if cmd == nil || cmd.Attr("status") != "executing" || cmd.Child(nsData, "x") == nil || cmd.Attr("sessionid") == "" {
		t.Fatalf("create-account form: %s", res)
	}
	sid := cmd.Attr("sessionid")
	submit := func(user, sub string) *xmppcore.Element {
		return request(t, admin, "set", "localhost", `<command xmlns='`+nsCommands+`' node='`+invites.NodeCreateAccount+`' sessionid='`+sid+`' action='complete'>`+
			`<x xmlns='jabber:x:data' type='submit'><field var='username'><value>`+user+`</value></field>`+
			`<field var='roster-subscription'><value>`+sub+`</value></field></x></command>`)
	}
	// A taken name is refused, and the session stays for a correction.
	if res := submit("alice", "1"); routertest.ErrorCondition(res) != "conflict" {
		t.Errorf("create-account for an existing user: %s, want conflict", res)
	}
	res = submit("Juliet", "1")
	cmd = res.Child(nsCommands, "command")
	if cmd == nil || cmd.Attr("status") != "completed" {
		t.Fatalf("create-account: %s", res)
	}
	uri := field(cmd.Child(nsData, "x"), "uri")
	tok := token(t, uri)
	if uri != "xmpp:juliet@localhost?register;preauth="+tok {
		t.Errorf("account invitation URI %q", uri)
	}
	// The session is over.
	if res := submit("x", "0"); routertest.ErrorCondition(res) != "not-allowed" {
		t.Errorf("the finished session again: %s, want not-allowed (session-expired)", res)
	}
	// Open registration cannot take the reserved name.
	c := preconnect(t, srv)
	if res := request(t, c, "set", "", `<query xmlns='jabber:iq:register'><username>juliet</username><password>x</password></query>`); routertest.ErrorCondition(res) != "conflict" {
		t.Errorf("open registration of a reserved name: %s, want conflict", res)
	}
	// The token registers that name only.
	if pre, reg := register(t, srv, tok, "romeo"); pre.Attr("type") != "result" || routertest.ErrorCondition(reg) != "not-acceptable" {
		t.Errorf("another name with the token: %s then %s", pre, reg)
	}
	if pre, reg := register(t, srv, tok, "juliet"); pre.Attr("type") != "result" || reg.Attr("type") != "result" {
		t.Fatalf("the reserved name with the token: %s then %s", pre, reg)
	}
	if r := roster(t, srv, "juliet"); r["admin@localhost"] != storage.SubBoth {
		t.Errorf("juliet's roster %v", r)
	}
}

// An expired invitation is refused at preauth.
func TestExpired(t *testing.T) {
	srv := start(t)
	link, err := invites.Create(t.Context(), srv.Store(), invites.Spec{Host: "localhost", Register: true,
		TTL: time.Hour, Now: time.Now().Add(-2 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	pre, reg := register(t, srv, token(t, link.URI), "late")
	if routertest.ErrorCondition(pre) != "item-not-found" || routertest.ErrorCondition(reg) != "service-unavailable" {
		t.Errorf("an expired token: %s then %s", pre, reg)
	}
	// The same while valid works, and no subscription without an inviter.
	link, err = invites.Create(t.Context(), srv.Store(), invites.Spec{Host: "localhost", Register: true})
	if err != nil {
		t.Fatal(err)
	}
	if u, _ := url.Parse(link.URI); u.Scheme != "xmpp" || u.Opaque != "localhost" {
		t.Errorf("a host invitation URI %q", link.URI)
	}
	if pre, reg := register(t, srv, token(t, link.URI), "early"); pre.Attr("type") != "result" || reg.Attr("type") != "result" {
		t.Fatalf("a valid token: %s then %s", pre, reg)
	}
	if r := roster(t, srv, "early"); len(r) != 0 {
		t.Errorf("roster without inviter: %v", r)
	}
}

// With invitations off, there is no token feature and a preauth is not
// understood.
func TestDisabled(t *testing.T) {
	srv := start(t, func(c *config.Config) { c.Invites.Enabled = false })
	c := preconnect(t, srv)
	if c.Features.Child("urn:xmpp:ibr-token:0", "register") != nil {
		t.Errorf("token feature with invites off: %s", c.Features)
	}
	// As any IQ before authentication that nothing handles.
	c.Send(`<iq type='set' id='p' to='localhost'><preauth xmlns='urn:xmpp:pars:0' token='x'/></iq>`)
	if cond := c.ExpectStreamError(); cond != "not-authorized" {
		t.Errorf("preauth with invites off: %s, want the not-authorized stream error", cond)
	}
}

// An existing user who opens a contact invitation sends a subscription
// request with the token (XEP-0379): the inviter's server approves it at
// once and asks back; a wrong token is an ordinary request.
func TestSubscriptionWithToken(t *testing.T) {
	srv := start(t, func(c *config.Config) { c.Invites.AllowUsers = true })
	srv.AddUser(t, "bob", password)
	srv.AddUser(t, "carol", password)
	alice, _ := xmpptest.Login(t, srv, "alice", password, "r")
	alice.Send(`<presence/>`)
	tok := token(t, field(inviteCommand(t, alice), "uri"))
	isPresence := func(from, typ string) func(*xmppcore.Element) bool {
		return func(el *xmppcore.Element) bool {
			return el.Local == "presence" && el.Attr("from") == from && el.Attr("type") == typ
		}
	}

	bob, _ := xmpptest.Login(t, srv, "bob", password, "r")
	bob.Send(`<presence/>`)
	bob.Send(`<presence type='subscribe' to='alice@localhost'><preauth xmlns='urn:xmpp:pars:0' token='` + tok + `'/></presence>`)
	bob.Expect(isPresence("alice@localhost", "subscribe"))
	bob.Expect(isPresence("alice@localhost", "subscribed"))
	bob.Send(`<presence type='subscribed' to='alice@localhost'/>`)
	bob.Expect(isPresence("alice@localhost/r", ""))
	request(t, bob, "get", "localhost", `<ping xmlns='urn:xmpp:ping'/>`)
	if r := roster(t, srv, "alice"); r["bob@localhost"] != storage.SubBoth {
		t.Errorf("alice's roster %v, want bob with both", r)
	}
	if r := roster(t, srv, "bob"); r["alice@localhost"] != storage.SubBoth {
		t.Errorf("bob's roster %v, want alice with both", r)
	}

	// The token is used up: carol's request with it waits for alice.
	carol, _ := xmpptest.Login(t, srv, "carol", password, "r")
	carol.Send(`<presence type='subscribe' to='alice@localhost'><preauth xmlns='urn:xmpp:pars:0' token='` + tok + `'/></presence>`)
	alice.Expect(isPresence("carol@localhost", "subscribe"))
	request(t, carol, "get", "localhost", `<ping xmlns='urn:xmpp:ping'/>`)
	if r := roster(t, srv, "alice"); r["carol@localhost"] == storage.SubFrom || r["carol@localhost"] == storage.SubBoth {
		t.Errorf("a used token approved carol: %v", r)
	}
}
