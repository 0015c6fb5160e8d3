package parley_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // the coturn REST scheme is HMAC-SHA1
	"encoding/base64"
	"strings"
	"sync/atomic"
	"testing"

	"parley.im/parley/config"
	"parley.im/parley/internal/routertest"
	"parley.im/parley/internal/xmpptest"
	"parley.im/parley/router"
	"parley.im/parley/xmppcore"
)

// The rows of docs/xeps.md for what phones need besides stream management
// (external services, push, invitations), with their live checks. They
// join the tables of docs_test.go here, so that the features can be added
// without rewriting that file's literals.
func init() {
	discoFeatures["urn:xmpp:extdisco:2"] = "XEP-0215"
	specChecks["XEP-0215"] = checkExtDisco
	discoFeatures["urn:xmpp:push:0"] = "XEP-0357"
	specChecks["XEP-0357"] = checkPush
	discoFeatures["http://jabber.org/protocol/commands"] = "XEP-0050"
	streamFeatures["urn:xmpp:ibr-token:0"] = "XEP-0445"
	specChecks["XEP-0050"] = checkAdHoc
	specChecks["XEP-0401"] = checkInviteCommands
	specChecks["XEP-0445"] = checkPreAuthRegistration
	specChecks["XEP-0379"] = checkInviteSubscription
}

const nsExtDisco = "urn:xmpp:extdisco:2"

// checkExtDisco runs a server with a STUN and a restricted TURN service
// and checks the list and the credentials, recomputing the password.
func checkExtDisco(t *testing.T, p *probe) {
	requireAdvertised(t, p, "XEP-0215")
	// The default server has no service: an empty list.
	res := mustResult(t, p.alice, "get", "localhost", `<services xmlns='`+nsExtDisco+`'/>`)
	if s := res.Child(nsExtDisco, "services"); s == nil || s.ChildCount() != 0 {
		t.Errorf("services with none configured: %s", res)
	}
	srv := xmpptest.Start(t, func(c *config.Config) {
		c.ExtDisco.Services = []config.ExtService{
			{Type: "stun", Host: "stun.example.org", Transport: "udp"},
			{Type: "turn", Host: "turn.example.org", Port: 3478, Transport: "udp", Restricted: true, Secret: "docs secret"},
		}
	})
	srv.AddUser(t, "x0215", testPassword)
	c, _ := xmpptest.Login(t, srv, "x0215", testPassword, "r")
	res = mustResult(t, c, "get", "localhost", `<services xmlns='`+nsExtDisco+`'/>`)
	var types []string
	for s := range res.Child(nsExtDisco, "services").Children() {
		types = append(types, s.Attr("type")+" "+s.Attr("host")+":"+s.Attr("port"))
	}
	if strings.Join(types, ",") != "stun stun.example.org:3478,turn turn.example.org:3478" {
		t.Errorf("services: %s", res)
	}
	res = mustResult(t, c, "get", "localhost", `<credentials xmlns='`+nsExtDisco+`'><service type='turn' host='turn.example.org'/></credentials>`)
	s := res.Child(nsExtDisco, "credentials").Child(nsExtDisco, "service")
	user, pass := s.Attr("username"), s.Attr("password")
	mac := hmac.New(sha1.New, []byte("docs secret"))
	mac.Write([]byte(user))
	if !strings.HasSuffix(user, ":x0215@localhost") || pass != base64.StdEncoding.EncodeToString(mac.Sum(nil)) || s.Attr("expires") == "" {
		t.Errorf("TURN credentials do not follow the coturn REST scheme: %s", res)
	}
	if r := request(t, c, "get", "localhost", `<credentials xmlns='`+nsExtDisco+`'><service type='turn' host='other.example.org'/></credentials>`); routertest.ErrorCondition(r) != "item-not-found" {
		t.Errorf("credentials for an unknown service: %s, want item-not-found", r)
	}
}

// appServer is a push service as a component of the probe's router: it
// answers every publish with the result or error answer gives, and hands
// the publishes to the check.
type appServer struct {
	r    *router.Router
	got  chan *xmppcore.Element
	fail atomic.Bool // answer item-not-found
}

func (a *appServer) Deliver(ctx context.Context, st *router.Stanza) {
	reply := xmppcore.New("", xmppcore.IQ, "type", "result", "id", st.El.Attr("id"))
	if a.fail.Load() {
		reply = xmppcore.ErrorReply(st.El, xmppcore.NewError("item-not-found", ""))
	}
	reply.SetAttr("from", st.To.String())
	reply.SetAttr("to", st.From.String())
	a.r.Route(ctx, &router.Stanza{El: reply, From: st.To, To: st.From})
	a.got <- st.El
}

// checkPush enables push for a user with publish options, sends the user
// a message while they are offline, and checks the publish the app server
// gets; an item-not-found answer then disables the registration.
func checkPush(t *testing.T, p *probe) {
	requireAdvertised(t, p, "XEP-0357")
	const svc = "push.x0357.example"
	app := &appServer{r: p.srv.Router(), got: make(chan *xmppcore.Element, 4)}
	p.srv.Router().SetComponent(svc, app)
	t.Cleanup(func() { p.srv.Router().SetComponent(svc, nil) })

	phone := p.newUser(t, "x0357", false)
	if r := request(t, phone, "set", "", `<enable xmlns='urn:xmpp:push:0' node='n1'/>`); routertest.ErrorCondition(r) != "bad-request" {
		t.Errorf("enable without jid: %s, want bad-request", r)
	}
	if r := request(t, phone, "set", "", `<enable xmlns='urn:xmpp:push:0' jid='a@@b' node='n1'/>`); routertest.ErrorCondition(r) != "jid-malformed" {
		t.Errorf("enable with a bogus jid: %s, want jid-malformed", r)
	}
	mustResult(t, phone, "set", "", `<enable xmlns='urn:xmpp:push:0' jid='`+svc+`' node='n1'><x xmlns='jabber:x:data' type='submit'>`+
		`<field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>`+
		`<field var='secret'><value>s3cr3t</value></field></x></enable>`)
	// The phone sent no presence: the message goes to offline storage,
	// as for a phone that is gone.
	sender := p.newUser(t, "x0357s", true)
	sender.Send(`<message type='chat' to='x0357@localhost'><body>do not leak me</body></message>`)
	var iq *xmppcore.Element
	select {
	case iq = <-app.got:
	case <-t.Context().Done():
		t.Fatal("no notification")
	}
	s := iq.String()
	if iq.Attr("from") != "x0357@localhost" || !strings.Contains(s, "urn:xmpp:push:summary") ||
		!strings.Contains(s, "<publish node=\"n1\">") || !strings.Contains(s, "s3cr3t") ||
		!strings.Contains(s, "x0357s@localhost") || strings.Contains(s, "leak") {
		t.Errorf("notification: %s", s)
	}
	// The app server no longer knows the node: the registration goes.
	app.fail.Store(true)
	sender.Send(`<message type='chat' to='x0357@localhost'><body>again</body></message>`)
	<-app.got
	if regs, err := p.srv.Store().PushRegistrations(t.Context(), "localhost", "x0357"); err != nil || len(regs) != 0 {
		t.Errorf("registrations after item-not-found: %v, %v", regs, err)
	}
}

const (
	nsCommands = "http://jabber.org/protocol/commands"
	nsItems    = "http://jabber.org/protocol/disco#items"
)

// inviteServer runs a server whose admin is admin@localhost, logged in.
func inviteServer(t *testing.T) (*xmpptest.Server, *xmpptest.Client) {
	t.Helper()
	srv := xmpptest.Start(t, func(c *config.Config) { c.Hosts[0].Admins = []string{"admin@localhost"} })
	srv.AddUser(t, "admin", testPassword)
	admin, _ := xmpptest.Login(t, srv, "admin", testPassword, "r")
	return srv, admin
}

// runInvite runs the invite command and returns the link's token.
func runInvite(t *testing.T, c *xmpptest.Client) (uri, token string) {
	t.Helper()
	res := mustResult(t, c, "set", "localhost", `<command xmlns='`+nsCommands+`' node='urn:xmpp:invite#invite' action='execute'/>`)
	cmd := res.Child(nsCommands, "command")
	if cmd == nil || cmd.Attr("status") != "completed" {
		t.Fatalf("invite command: %s", res)
	}
	for f := range cmd.Child("jabber:x:data", "x").Children() {
		if f.Attr("var") == "uri" {
			uri = f.ChildText("jabber:x:data", "value")
		}
	}
	_, token, _ = strings.Cut(uri, "preauth=")
	token, _, _ = strings.Cut(token, ";")
	return uri, token
}

// registerWith presents token and registers user over a new connection.
func registerWith(t *testing.T, srv *xmpptest.Server, token, user string) (features, pre, reg *xmppcore.Element) {
	t.Helper()
	c := xmpptest.Dial(t, srv.StartTLSAddr)
	c.OpenStream("localhost")
	c.StartTLS("localhost")
	pre = request(t, c, "set", "localhost", `<preauth xmlns='urn:xmpp:pars:0' token='`+token+`'/>`)
	reg = request(t, c, "set", "", `<query xmlns='`+nsRegister+`'><username>`+user+`</username><password>`+testPassword+`</password></query>`)
	return c.Features, pre, reg
}

func checkAdHoc(t *testing.T, p *probe) {
	requireAdvertised(t, p, "XEP-0050")
	// A user who is not an admin sees no command and may run none.
	res := mustResult(t, p.alice, "get", "localhost", `<query xmlns='`+nsItems+`' node='`+nsCommands+`'/>`)
	if q := res.Child(nsItems, "query"); q == nil || q.ChildCount() != 0 {
		t.Errorf("commands of a user: %s", res)
	}
	if r := request(t, p.alice, "set", "localhost", `<command xmlns='`+nsCommands+`' node='urn:xmpp:invite#invite' action='execute'/>`); routertest.ErrorCondition(r) != "forbidden" {
		t.Errorf("a user runs an admin command: %s", r)
	}
	_, admin := inviteServer(t)
	res = mustResult(t, admin, "get", "localhost", `<query xmlns='`+nsItems+`' node='`+nsCommands+`'/>`)
	if q := res.Child(nsItems, "query"); q == nil || q.ChildCount() != 2 {
		t.Errorf("commands of an admin: %s", res)
	}
	// Two stages with a session, then the session is gone.
	res = mustResult(t, admin, "set", "localhost", `<command xmlns='`+nsCommands+`' node='urn:xmpp:invite#create-account' action='execute'/>`)
	cmd := res.Child(nsCommands, "command")
	if cmd.Attr("status") != "executing" || cmd.Attr("sessionid") == "" {
		t.Fatalf("first stage: %s", res)
	}
	cancel := `<command xmlns='` + nsCommands + `' node='urn:xmpp:invite#create-account' sessionid='` + cmd.Attr("sessionid") + `' action='cancel'/>`
	if r := mustResult(t, admin, "set", "localhost", cancel); r.Child(nsCommands, "command").Attr("status") != "canceled" {
		t.Errorf("cancel: %s", r)
	}
	if r := request(t, admin, "set", "localhost", cancel); routertest.ErrorCondition(r) != "not-allowed" {
		t.Errorf("a canceled session again: %s, want not-allowed (session-expired)", r)
	}
}

func checkInviteCommands(t *testing.T, p *probe) {
	srv, admin := inviteServer(t)
	uri, token := runInvite(t, admin)
	if uri != "xmpp:admin@localhost?roster;preauth="+token+";ibr=y" || len(token) != 32 {
		t.Errorf("invitation URI %q", uri)
	}
	res := mustResult(t, admin, "set", "localhost", `<command xmlns='`+nsCommands+`' node='urn:xmpp:invite#create-account' action='execute'/>`)
	sid := res.Child(nsCommands, "command").Attr("sessionid")
	res = mustResult(t, admin, "set", "localhost", `<command xmlns='`+nsCommands+`' node='urn:xmpp:invite#create-account' sessionid='`+sid+`' action='complete'>`+
		`<x xmlns='jabber:x:data' type='submit'><field var='username'><value>newbie</value></field></x></command>`)
	if !strings.Contains(res.String(), "xmpp:newbie@localhost?register;preauth=") {
		t.Errorf("account invitation: %s", res)
	}
	_ = srv
}

func checkPreAuthRegistration(t *testing.T, p *probe) {
	srv, admin := inviteServer(t)
	_, token := runInvite(t, admin)
	features, pre, reg := registerWith(t, srv, token, "x0445")
	if features.Child("urn:xmpp:ibr-token:0", "register") == nil || features.Child(nsRegisterFeature, "register") != nil {
		t.Errorf("features with registration off and invitations on: %s", features)
	}
	if pre.Attr("type") != "result" || reg.Attr("type") != "result" {
		t.Fatalf("registration with a token: %s then %s", pre, reg)
	}
	if ok, err := srv.Store().AccountExists(t.Context(), "localhost", "x0445"); !ok || err != nil {
		t.Errorf("the invited account: %v, %v", ok, err)
	}
	// Single use.
	if _, pre, _ := registerWith(t, srv, token, "x0445b"); routertest.ErrorCondition(pre) != "item-not-found" {
		t.Errorf("the token again: %s, want item-not-found", pre)
	}
}

func checkInviteSubscription(t *testing.T, p *probe) {
	srv, admin := inviteServer(t)
	_, token := runInvite(t, admin)
	if _, _, reg := registerWith(t, srv, token, "x0379"); reg.Attr("type") != "result" {
		t.Fatalf("registration: %s", reg)
	}
	for _, pair := range [][2]string{{"admin", "x0379@localhost"}, {"x0379", "admin@localhost"}} {
		it, err := srv.Store().RosterItem(t.Context(), "localhost", pair[0], pair[1])
		if err != nil || it.Subscription != "both" {
			t.Errorf("%s's roster item for %s: %+v, %v; want subscription both", pair[0], pair[1], it, err)
		}
	}
	// The new user sees the inviter online at login.
	c, _ := xmpptest.Login(t, srv, "x0379", testPassword, "r")
	admin.Send(`<presence/>`)
	c.Send(`<presence/>`)
	c.Expect(isPresence("admin@localhost/r", ""))
	// An existing user's subscription request with a contact token is
	// approved at once, and the inviter asks back.
	_, token = runInvite(t, admin)
	srv.AddUser(t, "x0379b", testPassword)
	b, _ := xmpptest.Login(t, srv, "x0379b", testPassword, "r")
	b.Send(`<presence/>`)
	b.Send(`<presence type='subscribe' to='admin@localhost'><preauth xmlns='urn:xmpp:pars:0' token='` + token + `'/></presence>`)
	b.Expect(isPresence("admin@localhost", "subscribe"))
	b.Expect(isPresence("admin@localhost", "subscribed"))
}
