package module

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"parley.im/parley/internal/routertest"
	"parley.im/parley/router"
	"parley.im/parley/xmppcore"
)

var ctx = context.Background()

// testModule registers what its register function says and records its
// life.
type testModule struct {
	name     string
	register func(r *Registrar) error
	log      *[]string
	startErr error
}

func (m *testModule) Name() string                { return m.name }
func (m *testModule) Register(r *Registrar) error { return m.register(r) }
func (m *testModule) Start(context.Context) error {
	*m.log = append(*m.log, "start "+m.name)
	return m.startErr
}
func (m *testModule) Stop(context.Context) error { *m.log = append(*m.log, "stop "+m.name); return nil }

func newModule(name string, log *[]string, reg func(r *Registrar) error) *testModule {
	return &testModule{name: name, register: reg, log: log}
}

// calls records the IQs handlers were given.
type calls struct {
	mu  sync.Mutex
	got []*IQ
}

func (c *calls) add(iq *IQ) {
	c.mu.Lock()
	c.got = append(c.got, iq)
	c.mu.Unlock()
}

func (c *calls) take() []*IQ {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.got
	c.got = nil
	return g
}

const nsTest = "urn:example:test"

func setup(t *testing.T) (*router.Router, *Registry) {
	t.Helper()
	r := router.New(router.Config{
		Hosts:         []string{"example.org"},
		AccountExists: routertest.Accounts("alice@example.org", "bob@example.org"),
	})
	return r, NewRegistry(Env{Router: r, Logger: slog.New(slog.DiscardHandler)})
}

// echo answers with a payload naming the handler.
func echo(name string, c *calls) IQHandler {
	return func(_ context.Context, iq *IQ) (*xmppcore.Element, error) {
		c.add(iq)
		return xmppcore.New(nsTest, "answer", "by", name), nil
	}
}

func TestDispatch(t *testing.T) {
	r, reg := setup(t)
	var server, account, set calls
	var log []string
	err := reg.Add(newModule("test", &log, func(rg *Registrar) error {
		rg.IQ("get", nsTest, "q", Server, echo("server", &server))
		rg.IQ("get", nsTest, "q", Account, echo("account", &account))
		rg.IQ("set", nsTest, "only-server", Server, echo("set", &set))
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	alice := routertest.Bind(t, r, "alice@example.org/phone")

	// To the host: the Server handler.
	r.Route(ctx, routertest.Stanza(t, alice, `<iq type='get' id='1' to='EXAMPLE.org'><q xmlns='urn:example:test'/></iq>`))
	routertest.AssertXML(t, alice.TakeOne(t), `<iq type='result' id='1' from='example.org' to='alice@example.org/phone'><answer xmlns='urn:example:test' by='server'/></iq>`)
	if g := server.take(); len(g) != 1 || g[0].Type != "get" || g[0].From.String() != "alice@example.org/phone" ||
		g[0].To.String() != "example.org" || g[0].Origin != alice || g[0].Self || !g[0].Payload.Is(nsTest, "q") || g[0].Stanza == nil {
		t.Fatalf("server handler got %+v", g)
	}

	// To one's own bare JID: the Account handler, Self.
	r.Route(ctx, routertest.Stanza(t, alice, `<iq type='get' id='2' to='alice@example.org'><q xmlns='urn:example:test'/></iq>`))
	routertest.AssertXML(t, alice.TakeOne(t), `<iq type='result' id='2' from='alice@example.org' to='alice@example.org/phone'><answer xmlns='urn:example:test' by='account'/></iq>`)
	if g := account.take(); len(g) != 1 || !g[0].Self || g[0].To.String() != "alice@example.org" {
		t.Fatalf("account handler got %+v", g)
	}

	// To another user's bare JID (offline): the Account handler, not Self.
	r.Route(ctx, routertest.Stanza(t, alice, `<iq type='get' id='3' to='bob@example.org'><q xmlns='urn:example:test'/></iq>`))
	routertest.AssertXML(t, alice.TakeOne(t), `<iq type='result' id='3' from='bob@example.org' to='alice@example.org/phone'><answer xmlns='urn:example:test' by='account'/></iq>`)
	if g := account.take(); len(g) != 1 || g[0].Self || g[0].To.String() != "bob@example.org" {
		t.Fatalf("account handler got %+v", g)
	}

	// Without 'to': the Account handler, Self, and no 'from' on the answer.
	r.Route(ctx, routertest.Stanza(t, alice, `<iq type='get' id='4'><q xmlns='urn:example:test'/></iq>`))
	routertest.AssertXML(t, alice.TakeOne(t), `<iq type='result' id='4' to='alice@example.org/phone'><answer xmlns='urn:example:test' by='account'/></iq>`)
	if g := account.take(); len(g) != 1 || !g[0].Self {
		t.Fatalf("account handler got %+v", g)
	}

	// Without 'to' and no Account handler: the Server one.
	r.Route(ctx, routertest.Stanza(t, alice, `<iq type='set' id='5'><only-server xmlns='urn:example:test'/></iq>`))
	routertest.AssertXML(t, alice.TakeOne(t), `<iq type='result' id='5' to='alice@example.org/phone'><answer xmlns='urn:example:test' by='set'/></iq>`)
	if len(set.take()) != 1 {
		t.Fatal("no fallback to the server handler")
	}
	// ... but not when the bare JID was named.
	r.Route(ctx, routertest.Stanza(t, alice, `<iq type='set' id='6' to='alice@example.org'><only-server xmlns='urn:example:test'/></iq>`))
	routertest.AssertXML(t, alice.TakeOne(t), `<iq type='error' id='6' from='alice@example.org' to='alice@example.org/phone'>
		<error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`)
	if len(set.take()) != 0 {
		t.Fatal("server handler called for a bare-JID request")
	}

	// The type matters: a set where only get is registered.
	r.Route(ctx, routertest.Stanza(t, alice, `<iq type='set' id='7' to='example.org'><q xmlns='urn:example:test'/></iq>`))
	routertest.AssertXML(t, alice.TakeOne(t), `<iq type='error' id='7' from='example.org' to='alice@example.org/phone'>
		<error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`)
	// An unknown payload: service-unavailable.
	r.Route(ctx, routertest.Stanza(t, alice, `<iq type='get' id='8' to='example.org'><q xmlns='urn:example:other'/></iq>`))
	routertest.AssertXML(t, alice.TakeOne(t), `<iq type='error' id='8' from='example.org' to='alice@example.org/phone'>
		<error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`)
	// Results and errors are not requests: never dispatched nor answered.
	r.Route(ctx, routertest.Stanza(t, alice, `<iq type='result' id='9' to='example.org'><q xmlns='urn:example:test'/></iq>`))
	r.Route(ctx, routertest.Stanza(t, alice, `<iq type='error' id='10' to='example.org'><q xmlns='urn:example:test'/></iq>`))
	if len(alice.Take()) != 0 || len(server.take()) != 0 {
		t.Fatal("a result or error was dispatched")
	}
	if server.take() != nil || account.take() != nil {
		t.Fatal("unexpected handler calls")
	}
}

// TestRemoteRequester: a request with no local origin is answered through
// the router.
func TestRemoteRequester(t *testing.T) {
	r, reg := setup(t)
	var c calls
	if err := reg.Add(newModule("test", new([]string), func(rg *Registrar) error {
		rg.IQ("get", nsTest, "q", Server, echo("server", &c))
		return nil
	})); err != nil {
		t.Fatal(err)
	}
	alice := routertest.Bind(t, r, "alice@example.org/phone")
	bob := routertest.Bind(t, r, "bob@example.org/pc")
	// A stanza bob's session forwards on alice's behalf: the answer goes
	// to alice through the router, not to bob.
	st := routertest.Stanza(t, bob, `<iq type='get' id='r' to='example.org'><q xmlns='urn:example:test'/></iq>`)
	st.From = alice.JID()
	st.El.SetAttr("from", alice.JID().String())
	r.Route(ctx, st)
	routertest.AssertXML(t, alice.TakeOne(t), `<iq type='result' id='r' from='example.org' to='alice@example.org/phone'><answer xmlns='urn:example:test' by='server'/></iq>`)
	if len(bob.Take()) != 0 {
		t.Fatal("bob got alice's answer")
	}
	st = &router.Stanza{El: routertest.Parse(t, `<iq type='get' id='r2' to='example.org' from='alice@example.org/phone'><q xmlns='urn:example:test'/></iq>`),
		From: alice.JID(), To: jid.MustParse("example.org")}
	r.Route(ctx, st)
	if el := alice.TakeOne(t); el.Attr("type") != "result" || el.Attr("id") != "r2" {
		t.Fatalf("alice got %s", el)
	}
}

func TestPayloadCount(t *testing.T) {
	r, reg := setup(t)
	var c calls
	if err := reg.Add(newModule("test", new([]string), func(rg *Registrar) error {
		rg.IQ("get", nsTest, "q", Server, echo("server", &c))
		rg.IQ("get", nsTest, "q", Account, echo("account", &c))
		return nil
	})); err != nil {
		t.Fatal(err)
	}
	alice := routertest.Bind(t, r, "alice@example.org/phone")
	for _, xml := range []string{
		`<iq type='get' id='b' to='example.org'/>`,
		`<iq type='get' id='b' to='example.org'>text only</iq>`,
		`<iq type='get' id='b' to='example.org'><q xmlns='urn:example:test'/><q xmlns='urn:example:test'/></iq>`,
		`<iq type='get' id='b' to='alice@example.org'><q xmlns='urn:example:test'/><x xmlns='urn:x'/></iq>`,
		`<iq type='get' id='b'/>`,
	} {
		r.Route(ctx, routertest.Stanza(t, alice, xml))
		el := alice.TakeOne(t)
		if el.Attr("type") != "error" || el.Attr("id") != "b" || el.Child("", "error").Child(xmppcore.NSStanzas, "bad-request") == nil ||
			el.Child("", "error").Attr("type") != "modify" {
			t.Errorf("%s: answered %s", xml, el)
		}
	}
	if len(c.take()) != 0 {
		t.Fatal("a handler was called")
	}
}

func TestHandlerErrors(t *testing.T) {
	r, reg := setup(t)
	if err := reg.Add(newModule("test", new([]string), func(rg *Registrar) error {
		rg.IQ("get", nsTest, "forbidden", Server, func(context.Context, *IQ) (*xmppcore.Element, error) {
			return nil, xmppcore.NewError(stanza.Forbidden, "not you")
		})
		rg.IQ("get", nsTest, "wrapped", Server, func(context.Context, *IQ) (*xmppcore.Element, error) {
			return nil, errors.Join(errors.New("context"), stanza.Error{Type: stanza.Wait, Condition: stanza.ResourceConstraint})
		})
		rg.IQ("get", nsTest, "plain", Server, func(context.Context, *IQ) (*xmppcore.Element, error) {
			return nil, errors.New("database password is hunter2")
		})
		rg.IQ("get", nsTest, "panic", Server, func(context.Context, *IQ) (*xmppcore.Element, error) {
			panic("boom")
		})
		rg.IQ("get", nsTest, "nilpanic", Account, func(_ context.Context, iq *IQ) (*xmppcore.Element, error) {
			return iq.Payload.Nodes[3].Elem, nil // index out of range: a runtime panic
		})
		rg.IQ("get", nsTest, "empty", Server, func(context.Context, *IQ) (*xmppcore.Element, error) {
			return nil, nil
		})
		return nil
	})); err != nil {
		t.Fatal(err)
	}
	alice := routertest.Bind(t, r, "alice@example.org/phone")
	ask := func(payload, to string) *xmppcore.Element {
		r.Route(ctx, routertest.Stanza(t, alice, `<iq type='get' id='x' to='`+to+`'><`+payload+` xmlns='urn:example:test'/></iq>`))
		return alice.TakeOne(t)
	}
	routertest.AssertXML(t, ask("forbidden", "example.org"), `<iq type='error' id='x' from='example.org' to='alice@example.org/phone'>
		<error type='auth'><forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>not you</text></error></iq>`)
	routertest.AssertXML(t, ask("wrapped", "example.org"), `<iq type='error' id='x' from='example.org' to='alice@example.org/phone'>
		<error type='wait'><resource-constraint xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`)
	const internal = `<iq type='error' id='x' from='%s' to='alice@example.org/phone'>
		<error type='cancel'><internal-server-error xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`
	plain := ask("plain", "example.org")
	routertest.AssertXML(t, plain, strings.Replace(internal, "%s", "example.org", 1))
	if strings.Contains(plain.String(), "hunter2") {
		t.Fatal("the internal error leaked to the client")
	}
	routertest.AssertXML(t, ask("panic", "example.org"), strings.Replace(internal, "%s", "example.org", 1))
	routertest.AssertXML(t, ask("nilpanic", "alice@example.org"), strings.Replace(internal, "%s", "alice@example.org", 1))
	// Still serving after the panics; an empty result has no payload.
	routertest.AssertXML(t, ask("empty", "example.org"), `<iq type='result' id='x' from='example.org' to='alice@example.org/phone'/>`)
}

func TestDuplicateRegistration(t *testing.T) {
	_, reg := setup(t)
	h := func(context.Context, *IQ) (*xmppcore.Element, error) { return nil, nil }
	err := reg.Add(newModule("twice", new([]string), func(rg *Registrar) error {
		rg.IQ("get", nsTest, "q", Server, h)
		rg.IQ("get", nsTest, "q", Server, h)
		return nil
	}))
	if err == nil || !strings.Contains(err.Error(), "twice") || !strings.Contains(err.Error(), "registered twice") {
		t.Fatalf("Add with a duplicate IQ handler: %v", err)
	}
	// Another module taking the same pair fails too; other targets and
	// types are different pairs.
	if err := reg.Add(newModule("other", new([]string), func(rg *Registrar) error {
		rg.IQ("get", nsTest, "q", Server, h)
		return nil
	})); err == nil {
		t.Fatal("a second module took the same IQ")
	}
	if err := reg.Add(newModule("fine", new([]string), func(rg *Registrar) error {
		rg.IQ("get", nsTest, "q", Account, h)
		rg.IQ("set", nsTest, "q", Server, h)
		rg.IQ("get", nsTest+":2", "q", Server, h)
		return nil
	})); err != nil {
		t.Fatal(err)
	}
	// Register's own error is reported with the module's name.
	if err := reg.Add(newModule("broken", new([]string), func(*Registrar) error { return errors.New("no config") })); err == nil ||
		!strings.Contains(err.Error(), "broken") || !strings.Contains(err.Error(), "no config") {
		t.Fatalf("Add of a failing module: %v", err)
	}
	if mods := reg.modules(); len(mods) != 1 || mods[0].Name() != "fine" {
		t.Fatalf("modules after failures: %v", mods)
	}
}

func TestStartStop(t *testing.T) {
	r, reg := setup(t)
	var log []string
	var c calls
	hookCalls := 0
	first := newModule("first", &log, func(rg *Registrar) error {
		rg.IQ("get", nsTest, "q", Server, echo("first", &c))
		rg.Feature(Server, "urn:b")
		rg.Feature(Server, "urn:a")
		rg.Feature(Server, "urn:a") // once
		rg.Feature(Account, "urn:acct")
		rg.Identity(Server, Identity{Category: "server", Type: "im", Name: "Parley"})
		rg.Identity(Server, Identity{Category: "server", Type: "im", Name: "Parley"})
		rg.Item("muc.example.org")
		rg.Item("muc.example.org")
		rg.Hook(router.EventMessageHost, router.PriorityDefault, func(context.Context, *router.Stanza) bool {
			hookCalls++
			return true
		})
		rg.OnSessionBound(func(context.Context, router.Session, bool) { log = append(log, "bound") })
		rg.OnSessionEnded(func(context.Context, router.Session, bool) { log = append(log, "ended") })
		if rg.Router != r || rg.Logger == nil {
			return errors.New("registrar without env")
		}
		return nil
	})
	second := newModule("second", &log, func(rg *Registrar) error {
		rg.Feature(Server, "urn:a") // shared with first
		rg.Feature(Server, "urn:c")
		return nil
	})
	for _, m := range []Module{first, second} {
		if err := reg.Add(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := reg.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if got := reg.Features(Server); !slices.Equal(got, []string{"urn:a", "urn:b", "urn:c"}) {
		t.Fatalf("server features %v", got)
	}
	if got := reg.Features(Account); !slices.Equal(got, []string{"urn:acct"}) {
		t.Fatalf("account features %v", got)
	}
	if got := reg.Identities(Server); len(got) != 1 || got[0].Name != "Parley" {
		t.Fatalf("identities %v", got)
	}
	if got := reg.Items(); !slices.Equal(got, []string{"muc.example.org"}) {
		t.Fatalf("items %v", got)
	}
	alice := routertest.Bind(t, r, "alice@example.org/phone")
	r.SessionBound(ctx, alice)
	r.Route(ctx, routertest.Stanza(t, alice, `<message to='example.org'/>`))
	r.Route(ctx, routertest.Stanza(t, alice, `<iq type='get' id='1' to='example.org'><q xmlns='urn:example:test'/></iq>`))
	if el := alice.TakeOne(t); el.Attr("type") != "result" || hookCalls != 1 {
		t.Fatalf("before Stop: %s, %d hook calls", el, hookCalls)
	}

	if err := reg.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if want := []string{"start first", "start second", "bound", "stop second", "stop first"}; !slices.Equal(log, want) {
		t.Fatalf("life %v, want %v", log, want)
	}
	if len(reg.Features(Server)) != 0 || len(reg.Features(Account)) != 0 || len(reg.Identities(Server)) != 0 || len(reg.Items()) != 0 {
		t.Fatalf("left after Stop: %v %v %v %v", reg.Features(Server), reg.Features(Account), reg.Identities(Server), reg.Items())
	}
	// Handlers and hooks are gone: the router's own rules answer.
	r.Route(ctx, routertest.Stanza(t, alice, `<message to='example.org'/>`))
	r.Route(ctx, routertest.Stanza(t, alice, `<iq type='get' id='2' to='example.org'><q xmlns='urn:example:test'/></iq>`))
	routertest.AssertXML(t, alice.TakeOne(t), `<iq type='error' id='2' from='example.org' to='alice@example.org/phone'>
		<error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`)
	if hookCalls != 1 || len(c.take()) != 1 {
		t.Fatalf("after Stop: %d hook calls", hookCalls)
	}
	r.SessionEnded(ctx, alice)
	if slices.Contains(log, "ended") {
		t.Fatal("session hook ran after Stop")
	}
	// Stopping twice is harmless.
	if err := reg.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestStartError(t *testing.T) {
	_, reg := setup(t)
	var log []string
	bad := newModule("bad", &log, func(*Registrar) error { return nil })
	bad.startErr = errors.New("port taken")
	after := newModule("after", &log, func(*Registrar) error { return nil })
	for _, m := range []Module{bad, after} {
		if err := reg.Add(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := reg.Start(ctx); err == nil || !strings.Contains(err.Error(), "bad") || !strings.Contains(err.Error(), "port taken") {
		t.Fatalf("Start: %v", err)
	}
	if !slices.Equal(log, []string{"start bad"}) {
		t.Fatalf("started %v", log)
	}
}
