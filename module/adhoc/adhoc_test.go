package adhoc

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"

	"mellium.im/xmpp/jid"

	"parley.im/parley/internal/routertest"
	"parley.im/parley/module"
	"parley.im/parley/router"
	"parley.im/parley/xmppcore"
)

// setup runs a service with two commands: "echo" (one stage, anyone) and
// "ask" (two stages: a form, then the name submitted), only for alice.
func setup(t *testing.T) (*router.Router, *Service, *routertest.Session, *routertest.Session) {
	t.Helper()
	r := router.New(router.Config{Hosts: []string{"example.org"},
		AccountExists: routertest.Accounts("alice@example.org", "bob@example.org")})
	reg := module.NewRegistry(module.Env{Router: r})
	s := New()
	if err := reg.Add(owner{s}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Stop(context.Background()) })
	s.Add(Command{Node: "echo", Name: "Echo", Run: func(_ context.Context, req *Request) (*Response, error) {
		return &Response{Notes: []Note{{"info", "hello " + req.From.Localpart()}}}, nil
	}})
	s.Add(Command{Node: "ask", Name: "Ask",
		Allowed: func(host string, from jid.JID) bool { return host == "example.org" && from.Localpart() == "alice" },
		Run: func(_ context.Context, req *Request) (*Response, error) {
			if req.State == nil {
				return &Response{Executing: true, State: "asked", Form: Form("form", "", Field{Var: "name", Type: "text-single", Required: true})}, nil
			}
			name, _ := Value(req.Form, "name")
			if name == "" {
				return nil, BadPayload("a name is required")
			}
			return &Response{Form: Form("result", "urn:test", Field{Var: "greeting", Values: []string{req.State.(string) + " " + name}})}, nil
		}})
	return r, s, routertest.Bind(t, r, "alice@example.org/a"), routertest.Bind(t, r, "bob@example.org/b")
}

func send(t *testing.T, r *router.Router, s *routertest.Session, xml string) *xmppcore.Element {
	t.Helper()
	st := routertest.Stanza(t, s, xml)
	r.Route(t.Context(), st)
	return s.WaitFor(t, routertest.ByID(st.El.Attr("id")))
}

// owner registers the service as a module that owns it does.
type owner struct{ s *Service }

func (owner) Name() string { return "owner" }

func (o owner) Register(r *module.Registrar) error {
	r.IQ("set", NS, "command", module.Server, func(ctx context.Context, iq *module.IQ) (*xmppcore.Element, error) {
		el, err := o.s.Execute(ctx, Exec{From: iq.From, To: iq.To, Local: iq.Origin != nil, Payload: iq.Payload})
		var ce *Error
		if errors.As(err, &ce) {
			return nil, module.AppError{Err: ce.Err, App: ce.App}
		}
		return el, err
	})
	r.Feature(module.Server, NS)
	r.Hook(router.EventIQHost, DiscoPriority, func(ctx context.Context, st *router.Stanza) bool {
		return o.s.Disco(ctx, r.Router, st)
	})
	return nil
}

// conds returns the defined and the XEP-0050 specific condition.
func conds(el *xmppcore.Element) string {
	var out []string
	if e := el.Child("", "error"); el.Attr("type") == "error" && e != nil {
		for ch := range e.Children() {
			if ch.Local != "text" {
				out = append(out, ch.Local)
			}
		}
	}
	return strings.Join(out, "+")
}

func TestDisco(t *testing.T) {
	r, _, alice, bob := setup(t)
	res := send(t, r, alice, `<iq type='get' id='d1' to='example.org'><query xmlns='http://jabber.org/protocol/disco#items' node='http://jabber.org/protocol/commands'/></iq>`)
	routertest.AssertXML(t, res, `<iq type='result' id='d1' from='example.org' to='alice@example.org/a'><query xmlns='http://jabber.org/protocol/disco#items' node='http://jabber.org/protocol/commands'>`+
		`<item jid='example.org' node='echo' name='Echo'/><item jid='example.org' node='ask' name='Ask'/></query></iq>`)
	res = send(t, r, bob, `<iq type='get' id='d2' to='example.org'><query xmlns='http://jabber.org/protocol/disco#items' node='http://jabber.org/protocol/commands'/></iq>`)
	routertest.AssertXML(t, res, `<iq type='result' id='d2' from='example.org' to='bob@example.org/b'><query xmlns='http://jabber.org/protocol/disco#items' node='http://jabber.org/protocol/commands'>`+
		`<item jid='example.org' node='echo' name='Echo'/></query></iq>`)
	res = send(t, r, alice, `<iq type='get' id='d3' to='example.org'><query xmlns='http://jabber.org/protocol/disco#info' node='ask'/></iq>`)
	routertest.AssertXML(t, res, `<iq type='result' id='d3' from='example.org' to='alice@example.org/a'><query xmlns='http://jabber.org/protocol/disco#info' node='ask'>`+
		`<identity category='automation' type='command-node' name='Ask'/><feature var='http://jabber.org/protocol/commands'/><feature var='jabber:x:data'/></query></iq>`)
	if got := conds(send(t, r, bob, `<iq type='get' id='d4' to='example.org'><query xmlns='http://jabber.org/protocol/disco#info' node='ask'/></iq>`)); got != "forbidden" {
		t.Errorf("info of a command bob may not run: %s", got)
	}
	// A remote requester gets nothing.
	remote := &routertest.Remote{}
	r.SetRemote(remote)
	el := routertest.Parse(t, `<iq type='get' id='d5' from='eve@evil.example/x' to='example.org'><query xmlns='http://jabber.org/protocol/disco#items' node='http://jabber.org/protocol/commands'/></iq>`)
	r.Route(t.Context(), &router.Stanza{El: el, From: jid.MustParse("eve@evil.example/x"), To: jid.MustParse("example.org")})
	if got := remote.Got(); len(got) != 1 || conds(got[0].El) != "forbidden" {
		t.Errorf("remote disco: %v", got)
	}
}

func TestExecute(t *testing.T) {
	r, _, alice, bob := setup(t)
	res := send(t, r, bob, `<iq type='set' id='e1' to='example.org'><command xmlns='http://jabber.org/protocol/commands' node='echo' action='execute'/></iq>`)
	cmd := res.Child(NS, "command")
	if cmd == nil || cmd.Attr("status") != "completed" || cmd.ChildText(NS, "note") != "hello bob" || cmd.Attr("sessionid") == "" {
		t.Errorf("echo: %s", res)
	}
	res = send(t, r, alice, `<iq type='set' id='e2' to='example.org'><command xmlns='http://jabber.org/protocol/commands' node='ask'/></iq>`)
	cmd = res.Child(NS, "command")
	if cmd == nil || cmd.Attr("status") != "executing" || cmd.Child(NS, "actions").Attr("execute") != "complete" {
		t.Fatalf("ask: %s", res)
	}
	sid := cmd.Attr("sessionid")
	stage := func(id, who string, s *routertest.Session, action, form string) *xmppcore.Element {
		return send(t, r, s, `<iq type='set' id='`+id+`' to='example.org'><command xmlns='http://jabber.org/protocol/commands' node='ask' sessionid='`+sid+`' action='`+action+`'>`+form+`</command></iq>`)
	}
	empty := `<x xmlns='jabber:x:data' type='submit'/>`
	// Bob cannot use alice's session; an empty form is bad-payload, and
	// the session survives both.
	if got := conds(stage("e3", "bob", bob, "complete", empty)); got != "forbidden" {
		t.Errorf("bob on alice's session: %s", got)
	}
	if got := conds(stage("e4", "alice", alice, "complete", empty)); got != "bad-request+bad-payload" {
		t.Errorf("empty form: %s", got)
	}
	if got := conds(stage("e5", "alice", alice, "prev", "")); got != "bad-request+bad-action" {
		t.Errorf("prev: %s", got)
	}
	res = stage("e6", "alice", alice, "complete", `<x xmlns='jabber:x:data' type='submit'><field var='name'><value>Ann</value></field></x>`)
	cmd = res.Child(NS, "command")
	if cmd == nil || cmd.Attr("status") != "completed" || cmd.Attr("sessionid") != sid {
		t.Fatalf("complete: %s", res)
	}
	if v, _ := Value(cmd.Child(NSData, "x"), "greeting"); v != "asked Ann" {
		t.Errorf("greeting %q", v)
	}
	if got := conds(stage("e7", "alice", alice, "complete", empty)); got != "not-allowed+session-expired" {
		t.Errorf("a finished session: %s", got)
	}
	// Cancel.
	res = send(t, r, alice, `<iq type='set' id='e8' to='example.org'><command xmlns='http://jabber.org/protocol/commands' node='ask' action='execute'/></iq>`)
	sid = res.Child(NS, "command").Attr("sessionid")
	res = stage("e9", "alice", alice, "cancel", "")
	if c := res.Child(NS, "command"); c == nil || c.Attr("status") != "canceled" {
		t.Errorf("cancel: %s", res)
	}
	if got := conds(stage("e10", "alice", alice, "complete", empty)); got != "not-allowed+session-expired" {
		t.Errorf("a canceled session: %s", got)
	}
}

func TestExecuteErrors(t *testing.T) {
	r, _, alice, bob := setup(t)
	for i, tc := range []struct {
		s    *routertest.Session
		xml  string
		want string
	}{
		{alice, `<command xmlns='http://jabber.org/protocol/commands' node='nope' action='execute'/>`, "item-not-found"},
		{bob, `<command xmlns='http://jabber.org/protocol/commands' node='ask' action='execute'/>`, "forbidden"},
		{alice, `<command xmlns='http://jabber.org/protocol/commands' node='ask' action='jump'/>`, "bad-request+malformed-action"},
		{alice, `<command xmlns='http://jabber.org/protocol/commands' node='ask' action='complete'/>`, "bad-request+bad-sessionid"},
		{alice, `<command xmlns='http://jabber.org/protocol/commands' node='ask' sessionid='made-up' action='complete'/>`, "not-allowed+session-expired"},
	} {
		res := send(t, r, tc.s, `<iq type='set' id='x`+strconv.Itoa(i)+`' to='example.org'>`+tc.xml+`</iq>`)
		if got := conds(res); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.xml, got, tc.want)
		}
	}
}

func TestFormHelpers(t *testing.T) {
	x := routertest.Parse(t, `<x xmlns='jabber:x:data' type='submit'><field var='a'><value>1</value></field><field var='b'><value>maybe</value></field><field var='c'/></x>`)
	for _, tc := range []struct {
		v         string
		def, want bool
		ok        bool
	}{{"a", false, true, true}, {"b", false, false, false}, {"c", true, true, true}, {"missing", false, false, true}} {
		if got, ok := Bool(x, tc.v, tc.def); got != tc.want || ok != tc.ok {
			t.Errorf("Bool(%s) = %v, %v", tc.v, got, ok)
		}
	}
	if _, ok := Value(nil, "a"); ok {
		t.Error("Value of no form")
	}
}

// FuzzExecute runs command payloads of any shape from a local user.
func FuzzExecute(f *testing.F) {
	for _, s := range []string{
		`<command xmlns='http://jabber.org/protocol/commands' node='ask' action='execute'/>`,
		`<command xmlns='http://jabber.org/protocol/commands' node='ask' sessionid='x' action='complete'><x xmlns='jabber:x:data' type='submit'><field var='name'/></x></command>`,
		`<command xmlns='http://jabber.org/protocol/commands' node='echo' action='cancel'/>`,
	} {
		f.Add(s)
	}
	s := New()
	s.Add(Command{Node: "echo", Run: func(context.Context, *Request) (*Response, error) { return &Response{}, nil }})
	s.Add(Command{Node: "ask", Run: func(_ context.Context, req *Request) (*Response, error) {
		if req.State == nil {
			return &Response{Executing: true, State: 1}, nil
		}
		v, _ := Value(req.Form, "name")
		_, _ = Bool(req.Form, "name", false)
		return &Response{Notes: []Note{{"info", v}}}, nil
	}})
	from, to := jid.MustParse("alice@example.org/a"), jid.MustParse("example.org")
	f.Fuzz(func(t *testing.T, x string) {
		el, err := xmppcore.Parse([]byte(x))
		if err != nil {
			return
		}
		res, err := s.Execute(context.Background(), Exec{From: from, To: to, Local: true, Payload: el})
		if err == nil && res == nil {
			t.Errorf("no answer and no error for %s", x)
		}
	})
}
