package push

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"parley.im/parley/internal/routertest"
	"parley.im/parley/internal/storetest"
	"parley.im/parley/module"
	"parley.im/parley/router"
	"parley.im/parley/storage"
	"parley.im/parley/xmppcore"
)

const (
	host    = "example.org"
	service = "push.example.net"
)

// appServer is a push service run as a local component: it records the
// publishes it gets and answers each with what answer returns (nil: a
// result), routed back before Deliver returns.
type appServer struct {
	t      *testing.T
	r      *router.Router
	got    chan *xmppcore.Element
	answer func(iq *xmppcore.Element) *xmppcore.Element
}

func (a *appServer) Deliver(ctx context.Context, st *router.Stanza) {
	var reply *xmppcore.Element
	if a.answer != nil {
		reply = a.answer(st.El)
	}
	if reply == nil {
		reply = xmppcore.New("", xmppcore.IQ, "type", "result", "id", st.El.Attr("id"))
	}
	reply.SetAttr("from", st.To.String())
	reply.SetAttr("to", st.From.String())
	a.r.Route(ctx, &router.Stanza{El: reply, From: st.To, To: st.From})
	a.got <- st.El
}

// next returns the next publish the app server got.
func (a *appServer) next() *xmppcore.Element {
	a.t.Helper()
	select {
	case el := <-a.got:
		return el
	case <-time.After(routertest.WaitTimeout):
		a.t.Fatal("the app server got no notification")
		return nil
	}
}

type env struct {
	r     *router.Router
	st    storage.Store
	m     *Push
	app   *appServer
	alice *routertest.Session
	bob   *routertest.Session
}

func setup(t *testing.T, opts Options) *env {
	t.Helper()
	st := storetest.Open(t, host, "alice", "bob", "carol")
	r := router.New(router.Config{Hosts: []string{host}, AccountExists: st.AccountExists})
	reg := module.NewRegistry(module.Env{Router: r, Store: st})
	m := New(st, opts)
	if err := reg.Add(m); err != nil {
		t.Fatal(err)
	}
	if err := reg.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Stop(context.Background()) })
	app := &appServer{t: t, r: r, got: make(chan *xmppcore.Element, 16)}
	r.SetComponent(service, app)
	if f := reg.Features(module.Account); len(f) != 1 || f[0] != NS {
		t.Errorf("account features %q, want %s", f, NS)
	}
	// alice's session never sends presence: messages to her bare JID go
	// to EventMessageOffline, as for a user with no available resource.
	return &env{r: r, st: st, m: m, app: app,
		alice: routertest.Bind(t, r, "alice@example.org/phone"),
		bob:   routertest.Bind(t, r, "bob@example.org/laptop")}
}

// iq sends an IQ from s and returns the answer.
func (e *env) iq(t *testing.T, s *routertest.Session, xml string) *xmppcore.Element {
	t.Helper()
	st := routertest.Stanza(t, s, xml)
	e.r.Route(t.Context(), st)
	return s.WaitFor(t, routertest.ByID(st.El.Attr("id")))
}

func condition(el *xmppcore.Element) string {
	c, _ := errorCondition(el)
	if el.Attr("type") != "error" {
		return ""
	}
	return c
}

var ids int

func enableXML(jidAttr, node, form string) string {
	ids++
	attrs := ""
	if jidAttr != "" {
		attrs += ` jid='` + jidAttr + `'`
	}
	if node != "" {
		attrs += ` node='` + node + `'`
	}
	return fmt.Sprintf(`<iq type='set' id='e%d'><enable xmlns='urn:xmpp:push:0'%s>%s</enable></iq>`, ids, attrs, form)
}

const secretForm = `<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field><field var='secret'><value>eruio234vzxc2kla-91</value></field></x>`

func mustEnable(t *testing.T, e *env, s *routertest.Session, svc, node, form string) {
	t.Helper()
	if res := e.iq(t, s, enableXML(svc, node, form)); res.Attr("type") != "result" {
		t.Fatalf("enable %s %s: %s", svc, node, res)
	}
}

func regs(t *testing.T, e *env, user string) string {
	t.Helper()
	rs, err := e.st.PushRegistrations(t.Context(), host, user)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rs {
		out = append(out, r.Service+"/"+r.Node)
	}
	return strings.Join(out, " ")
}

// message routes a message from bob's session to alice.
func (e *env) message(t *testing.T, body string) {
	t.Helper()
	xml := `<message type='chat' to='alice@example.org'><body>` + body + `</body></message>`
	if body == "" {
		xml = `<message type='chat' to='alice@example.org'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>`
	}
	e.r.Route(t.Context(), routertest.Stanza(t, e.bob, xml))
}

func TestEnableAndNotify(t *testing.T) {
	e := setup(t, Options{IncludeSender: true})
	mustEnable(t, e, e.alice, service, "yxs32uqsflafdk3iuqo", secretForm)
	if got := regs(t, e, "alice"); got != service+"/yxs32uqsflafdk3iuqo" {
		t.Fatalf("registrations %q", got)
	}
	// A chat state alone is not worth a push; the message after it is.
	// The worker keeps order, so a push for the first would come first.
	e.message(t, "")
	e.message(t, "Wherefore art thou, Romeo?")
	assertPublish(t, e.app.next(), `<iq type='set' id='ID' from='alice@example.org' to='push.example.net'>`+
		`<pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='yxs32uqsflafdk3iuqo'><item>`+
		`<notification xmlns='urn:xmpp:push:0'><x xmlns='jabber:x:data' type='submit'>`+
		`<field var='FORM_TYPE'><value>urn:xmpp:push:summary</value></field>`+
		`<field var='message-count'><value>1</value></field>`+
		`<field var='last-message-sender'><value>bob@example.org</value></field>`+
		`</x></notification></item></publish>`+
		`<publish-options>`+secretForm+`</publish-options></pubsub></iq>`)
}

// assertPublish compares a publish with want, whose id is "ID".
func assertPublish(t *testing.T, got *xmppcore.Element, want string) {
	t.Helper()
	c := got.Clone()
	if !strings.HasPrefix(c.Attr("id"), "push-") {
		t.Errorf("publish id %q", c.Attr("id"))
	}
	c.SetAttr("id", "ID")
	routertest.AssertXML(t, c, want)
}

func summaryFields(t *testing.T, iq *xmppcore.Element) map[string]string {
	t.Helper()
	n := iq.Child(NSPubSub, "pubsub").Child(NSPubSub, "publish").Child(NSPubSub, "item").Child(NS, "notification")
	out := map[string]string{}
	for f := range n.Child(NSData, "x").Children() {
		out[f.Attr("var")] = f.ChildText(NSData, "value")
	}
	return out
}

func TestBodyOnlyWhenAllowed(t *testing.T) {
	for _, tc := range []struct {
		name       string
		opts       Options
		msg        string
		body, from string
	}{
		{"default", Options{IncludeSender: true}, `<message type='chat' to='alice@example.org'><body>secret words</body></message>`, "", "bob@example.org"},
		{"body allowed", Options{IncludeBody: true}, `<message type='chat' to='alice@example.org'><body>hello</body></message>`, "hello", ""},
		{"encrypted, body allowed", Options{IncludeBody: true, IncludeSender: true},
			`<message type='chat' to='alice@example.org'><body>I sent you an OMEMO encrypted message</body><encrypted xmlns='eu.siacs.conversations.axolotl'><payload>x</payload></encrypted></message>`, "", "bob@example.org"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := setup(t, tc.opts)
			mustEnable(t, e, e.alice, service, "n", "")
			e.r.Route(t.Context(), routertest.Stanza(t, e.bob, tc.msg))
			iq := e.app.next()
			if iq.Child(NSPubSub, "pubsub").Child(NSPubSub, "publish-options") != nil {
				t.Errorf("publish-options without any enabled: %s", iq)
			}
			f := summaryFields(t, iq)
			if f["last-message-body"] != tc.body || f["last-message-sender"] != tc.from || f["message-count"] != "1" {
				t.Errorf("summary %q, want body %q, sender %q", f, tc.body, tc.from)
			}
		})
	}
}

func TestEnableErrors(t *testing.T) {
	e := setup(t, Options{Services: []string{service, "other.example.net"}, MaxPerAccount: 2})
	for _, tc := range []struct{ name, xml, cond string }{
		{"no jid", enableXML("", "n", ""), "bad-request"},
		{"no node", enableXML(service, "", ""), "bad-request"},
		{"malformed jid", enableXML("@@bad@", "n", ""), "jid-malformed"},
		{"local host", enableXML(host, "n", ""), "not-acceptable"},
		{"local user", enableXML("bob@example.org", "n", ""), "not-acceptable"},
		{"not allowed", enableXML("push.evil.example", "n", ""), "not-allowed"},
		{"other form", enableXML(service, "n", `<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>urn:other</value></field></x>`), "bad-request"},
		{"huge form", enableXML(service, "n", `<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field><field var='s'><value>`+strings.Repeat("a", MaxOptionsSize)+`</value></field></x>`), "not-acceptable"},
		{"another account", strings.Replace(enableXML(service, "n", ""), "type='set'", "type='set' to='carol@example.org'", 1), "forbidden"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := condition(e.iq(t, e.alice, tc.xml)); got != tc.cond {
				t.Errorf("condition %q, want %q", got, tc.cond)
			}
		})
	}
	if got := regs(t, e, "alice"); got != "" {
		t.Errorf("refused enables stored %q", got)
	}
	// The quota: two devices, then resource-constraint; the same one
	// again is a replacement, not a third.
	mustEnable(t, e, e.alice, service, "a", "")
	mustEnable(t, e, e.alice, "other.example.net", "b", "")
	if got := condition(e.iq(t, e.alice, enableXML(service, "c", ""))); got != "resource-constraint" {
		t.Errorf("a third device: %q, want resource-constraint", got)
	}
	mustEnable(t, e, e.alice, service, "a", secretForm)
	if got := regs(t, e, "alice"); got != "other.example.net/b push.example.net/a" {
		t.Errorf("registrations %q", got)
	}
}

func TestDisable(t *testing.T) {
	e := setup(t, Options{})
	for _, n := range []string{"a", "b"} {
		mustEnable(t, e, e.alice, service, n, "")
	}
	mustEnable(t, e, e.alice, "other.example.net", "c", "")
	ok := func(xml string) {
		t.Helper()
		if res := e.iq(t, e.alice, xml); res.Attr("type") != "result" {
			t.Fatalf("%s: %s", xml, res)
		}
	}
	ok(`<iq type='set' id='d1'><disable xmlns='urn:xmpp:push:0' jid='push.example.net' node='a'/></iq>`)
	if got := regs(t, e, "alice"); got != "other.example.net/c push.example.net/b" {
		t.Errorf("after disabling one node: %q", got)
	}
	ok(`<iq type='set' id='d2' to='alice@example.org'><disable xmlns='urn:xmpp:push:0' jid='other.example.net'/></iq>`)
	ok(`<iq type='set' id='d3'><disable xmlns='urn:xmpp:push:0' jid='push.example.net'/></iq>`)
	if got := regs(t, e, "alice"); got != "" {
		t.Errorf("after disabling the services: %q", got)
	}
	if got := condition(e.iq(t, e.alice, `<iq type='set' id='d4'><disable xmlns='urn:xmpp:push:0'/></iq>`)); got != "bad-request" {
		t.Errorf("disable without jid: %q", got)
	}
	// Nothing is published any more.
	mustEnable(t, e, e.bob, service, "barrier", "")
	e.message(t, "hello")
	e.r.Route(t.Context(), routertest.Stanza(t, e.alice, `<message type='chat' to='bob@example.org'><body>x</body></message>`))
	if iq := e.app.next(); iq.Attr("from") != "bob@example.org" {
		t.Errorf("a notification after disable: %s", iq)
	}
}

// An error answer disables the registration; a transient one does not.
func TestErrorAnswers(t *testing.T) {
	e := setup(t, Options{})
	e.app.answer = func(iq *xmppcore.Element) *xmppcore.Element {
		switch iq.Child(NSPubSub, "pubsub").Child(NSPubSub, "publish").Attr("node") {
		case "gone":
			return xmppcore.ErrorReply(iq, xmppcore.NewError("item-not-found", ""))
		case "busy":
			return xmppcore.ErrorReply(iq, xmppcore.NewError("resource-constraint", ""))
		}
		return nil
	}
	// Sorted by node, so the app server sees busy, gone, ok, in order.
	for _, n := range []string{"busy", "gone", "ok"} {
		mustEnable(t, e, e.alice, service, n, "")
	}
	// A service nobody serves: the router's remote-server-not-found is
	// transient too. It sorts first, so it is handled before the others.
	mustEnable(t, e, e.alice, "nowhere.example", "x", "")
	e.message(t, "one")
	for _, want := range []string{"busy", "gone", "ok"} {
		if n := e.app.next().Child(NSPubSub, "pubsub").Child(NSPubSub, "publish").Attr("node"); n != want {
			t.Errorf("publish to node %q, want %q", n, want)
		}
	}
	if got := regs(t, e, "alice"); got != "nowhere.example/x push.example.net/busy push.example.net/ok" {
		t.Errorf("after the answers: %q", got)
	}
}

// An answer from another JID than the service, with a publish's id, is
// not taken as the service's.
func TestForgedAnswer(t *testing.T) {
	e := setup(t, Options{})
	var id string
	e.app.answer = func(iq *xmppcore.Element) *xmppcore.Element {
		id = iq.Attr("id")
		// bob answers in the service's place, before the service does.
		forged := xmppcore.ErrorReply(iq, xmppcore.NewError("item-not-found", ""))
		forged.SetAttr("from", "bob@example.org/laptop")
		forged.SetAttr("to", "alice@example.org")
		e.r.Route(t.Context(), routertest.Stanza(t, e.bob, forged.String()))
		return nil
	}
	mustEnable(t, e, e.alice, service, "n", "")
	e.message(t, "hi")
	e.app.next()
	if id == "" {
		t.Fatal("no publish")
	}
	if got := regs(t, e, "alice"); got != service+"/n" {
		t.Errorf("a forged error disabled the registration: %q", got)
	}
}

// A message held for a detached session pushes to the registration that
// session enabled, and not at all for a session that enabled none.
func TestHeld(t *testing.T) {
	e := setup(t, Options{})
	mustEnable(t, e, e.alice, service, "phone", "")
	tablet := routertest.Bind(t, e.r, "alice@example.org/tablet")
	mustEnable(t, e, tablet, service, "tablet", "")
	laptop := routertest.Bind(t, e.r, "alice@example.org/laptop")
	msg := routertest.Parse(t, `<message type='chat' from='bob@example.org/laptop' to='alice@example.org/laptop'><body>hi</body></message>`)
	e.r.MessageHeld(t.Context(), laptop, msg) // no registration: nothing
	chatState := routertest.Parse(t, `<message type='chat' from='bob@example.org/laptop' to='alice@example.org/phone'><active xmlns='http://jabber.org/protocol/chatstates'/></message>`)
	e.r.MessageHeld(t.Context(), e.alice, chatState) // not important: nothing
	e.r.MessageHeld(t.Context(), tablet, msg)
	if n := e.app.next().Child(NSPubSub, "pubsub").Child(NSPubSub, "publish").Attr("node"); n != "tablet" {
		t.Errorf("held for the tablet: pushed to %q", n)
	}
	// Once the tablet's session ends, its memory goes.
	e.r.SessionEnded(t.Context(), tablet)
	e.r.MessageHeld(t.Context(), tablet, msg)
	e.r.MessageHeld(t.Context(), e.alice, msg)
	if n := e.app.next().Child(NSPubSub, "pubsub").Child(NSPubSub, "publish").Attr("node"); n != "phone" {
		t.Errorf("held for the phone: pushed to %q", n)
	}
}

// A message delivered to the desktop wakes the phone whose session is gone,
// not the tablet that is still connected.
func TestDeliveredElsewhere(t *testing.T) {
	e := setup(t, Options{IncludeSender: true})
	mustEnable(t, e, e.alice, service, "phone", "")
	tablet := routertest.Bind(t, e.r, "alice@example.org/tablet")
	mustEnable(t, e, tablet, service, "tablet", "")
	e.r.SessionEnded(t.Context(), e.alice) // the phone is gone
	desktop := routertest.Bind(t, e.r, "alice@example.org/desktop")
	e.r.Route(t.Context(), routertest.Stanza(t, desktop, `<presence/>`))
	// A chat state is delivered too, but wakes nobody.
	e.message(t, "")
	e.message(t, "are you there?")
	desktop.WaitFor(t, func(el *xmppcore.Element) bool { return el.ChildText("", "body") == "are you there?" })
	if n := e.app.next().Child(NSPubSub, "pubsub").Child(NSPubSub, "publish").Attr("node"); n != "phone" {
		t.Errorf("pushed to %q, want the phone", n)
	}
	// Groupchat is left out; the next push is for the chat after it.
	gc := routertest.Parse(t, `<message type='groupchat' from='room@muc.example.org/bob' to='alice@example.org/desktop'><body>in the room</body></message>`)
	e.r.Route(t.Context(), &router.Stanza{El: gc, From: jid.MustParse("room@muc.example.org/bob"), To: jid.MustParse("alice@example.org/desktop")})
	e.message(t, "again")
	iq := e.app.next()
	if n := iq.Child(NSPubSub, "pubsub").Child(NSPubSub, "publish").Attr("node"); n != "phone" {
		t.Errorf("second push to %q", n)
	}
	if f := summaryFields(t, iq); f["last-message-sender"] != "bob@example.org" {
		t.Errorf("second push is about %q, want bob's chat (not the groupchat)", f["last-message-sender"])
	}
}

// When a detached session ends unresumed, the session layer hands what it
// held to offline storage: what was notified while held is not notified
// again, the rest is.
func TestHeldThenOffline(t *testing.T) {
	e := setup(t, Options{IncludeBody: true})
	mustEnable(t, e, e.alice, service, "phone", "")
	held := routertest.Parse(t, `<message type='chat' from='bob@example.org/laptop' to='alice@example.org/phone'><body>held</body></message>`)
	e.r.MessageHeld(t.Context(), e.alice, held)
	if f := summaryFields(t, e.app.next()); f["last-message-body"] != "held" {
		t.Fatalf("held: %v", f)
	}
	e.r.SessionEnded(t.Context(), e.alice)
	other := routertest.Parse(t, `<message type='chat' from='bob@example.org/laptop' to='alice@example.org/phone'><body>never held</body></message>`)
	for _, el := range []*xmppcore.Element{held, other} {
		e.r.StoreOffline(t.Context(), &router.Stanza{El: el, From: jid.MustParse("bob@example.org/laptop"), To: jid.MustParse("alice@example.org/phone")})
	}
	if f := summaryFields(t, e.app.next()); f["last-message-body"] != "never held" {
		t.Errorf("after the session ended: %v, want only the message never held", f)
	}
}

func TestImportant(t *testing.T) {
	for i, tc := range []struct {
		xml  string
		want bool
	}{
		{`<message type='chat'><body>hi</body></message>`, true},
		{`<message><body>hi</body></message>`, true},
		{`<message type='groupchat'><body>hi</body></message>`, true},
		{`<message type='chat'><body/></message>`, false},
		{`<message type='error'><body>hi</body></message>`, false},
		{`<message type='headline'><body>news</body></message>`, false},
		{`<message type='chat'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>`, false},
		{`<message><received xmlns='urn:xmpp:receipts' id='x'/></message>`, false},
		{`<message><displayed xmlns='urn:xmpp:chat-markers:0' id='x'/></message>`, false},
		{`<message type='chat'><encrypted xmlns='urn:xmpp:omemo:2'/></message>`, true},
		{`<message type='chat'><encrypted xmlns='eu.siacs.conversations.axolotl'/></message>`, true},
		{`<message type='chat'><openpgp xmlns='urn:xmpp:openpgp:0'>x</openpgp></message>`, true},
		{`<message><propose xmlns='urn:xmpp:jingle-message:0' id='c'/></message>`, true},
		{`<message><x xmlns='jabber:x:conference' jid='room@muc'/></message>`, true},
		{`<message><x xmlns='http://jabber.org/protocol/muc#user'><invite from='a@b'/></x></message>`, true},
		{`<message><x xmlns='http://jabber.org/protocol/muc#user'><item/></x></message>`, false},
		{`<message><received xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' type='chat'><body>hi</body></message></forwarded></received></message>`, true},
		{`<message><received xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' type='chat'><active xmlns='http://jabber.org/protocol/chatstates'/></message></forwarded></received></message>`, false},
		{`<message><sent xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' type='chat'><body>mine</body></message></forwarded></sent></message>`, false},
		{`<message><result xmlns='urn:xmpp:mam:2' id='x'><forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client'><body>old</body></message></forwarded></result></message>`, false},
		{`<presence/>`, false},
	} {
		if got := Important(routertest.Parse(t, tc.xml)); got != tc.want {
			t.Errorf("%d: Important(%s) = %v, want %v", i, tc.xml, got, tc.want)
		}
	}
}

// FuzzImportant feeds messages of any shape to the filter and the summary,
// which read what remote senders wrote.
func FuzzImportant(f *testing.F) {
	for _, s := range []string{
		`<message type='chat'><body>hi</body></message>`,
		`<message><received xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' from='a@b/c'><body>x</body></message></forwarded></received></message>`,
		`<message><received xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client'><received xmlns='urn:xmpp:carbons:2'/></message></forwarded></received></message>`,
		`<message from='@@'><encrypted xmlns='urn:xmpp:omemo:2'/></message>`,
	} {
		f.Add(s)
	}
	m := New(nil, Options{IncludeBody: true, IncludeSender: true})
	f.Fuzz(func(t *testing.T, s string) {
		el, err := xmppcore.Parse([]byte(s))
		if err != nil {
			return
		}
		if Important(el) {
			x := m.summary(el)
			if formType(x) != NSSummary {
				t.Errorf("summary without its FORM_TYPE: %s", x)
			}
		}
	})
}

// awaitKnownNone waits until the worker has found alice without
// registrations.
func (e *env) awaitKnownNone(t *testing.T) {
	t.Helper()
	alice := jid.MustParse("alice@example.org")
	deadline := time.Now().Add(routertest.WaitTimeout)
	for !e.m.knownNone(alice) {
		if time.Now().After(deadline) {
			t.Fatal("alice never known to have no registrations")
		}
		time.Sleep(time.Millisecond)
	}
}

// A user found without registrations is not looked up again for messages
// delivered to another session until the worker has rotated that
// knowledge out twice; enabling push in band forgets it at once.
func TestKnownWithoutRegistrations(t *testing.T) {
	e := setup(t, Options{IncludeSender: true})
	alice := jid.MustParse("alice@example.org")
	desktop := routertest.Bind(t, e.r, "alice@example.org/desktop")
	e.r.Route(t.Context(), routertest.Stanza(t, desktop, `<presence/>`))
	e.message(t, "first")
	e.awaitKnownNone(t)

	// A registration made behind the module's back (another process).
	err := e.st.PutPushRegistration(t.Context(), host, "alice", storage.PushRegistration{Service: service, Node: "elsewhere"}, 10)
	if err != nil {
		t.Fatal(err)
	}
	e.m.rotateNone()
	if !e.m.knownNone(alice) {
		t.Fatal("forgotten after one rotation")
	}
	e.m.rotateNone()
	if e.m.knownNone(alice) {
		t.Fatal("still known after two rotations")
	}
	e.message(t, "second")
	if n := e.app.next().Child(NSPubSub, "pubsub").Child(NSPubSub, "publish").Attr("node"); n != "elsewhere" {
		t.Errorf("pushed to %q, want the registration made elsewhere", n)
	}

	// Known again, and retired once: enabling forgets it in both
	// generations.
	if _, err := e.st.DeletePushRegistrations(t.Context(), host, "alice", service, ""); err != nil {
		t.Fatal(err)
	}
	e.message(t, "third")
	e.awaitKnownNone(t)
	e.m.rotateNone()
	mustEnable(t, e, e.alice, service, "phone", "")
	e.r.SessionEnded(t.Context(), e.alice) // the phone is gone
	e.message(t, "fourth")
	iq := e.app.next()
	if n := iq.Child(NSPubSub, "pubsub").Child(NSPubSub, "publish").Attr("node"); n != "phone" {
		t.Errorf("pushed to %q, want the phone", n)
	}
	desktop.Take()
}

// slowLookups is a store whose registration lookups wait for release and
// are counted.
type slowLookups struct {
	Store
	release chan struct{}
	lookups atomic.Int64
}

func (s *slowLookups) PushRegistrations(ctx context.Context, host, username string) ([]storage.PushRegistration, error) {
	s.lookups.Add(1)
	<-s.release
	return s.Store.PushRegistrations(ctx, host, username)
}

// A burst of messages delivered to a user not yet looked up costs one
// queued job and one lookup, and drops nothing, however small the queue.
func TestBurstToColdUserCoalesces(t *testing.T) {
	st := storetest.Open(t, host, "alice", "bob")
	slow := &slowLookups{Store: st, release: make(chan struct{})}
	r := router.New(router.Config{Hosts: []string{host}, AccountExists: st.AccountExists})
	reg := module.NewRegistry(module.Env{Router: r, Store: st})
	m := New(slow, Options{QueueSize: 2})
	if err := reg.Add(m); err != nil {
		t.Fatal(err)
	}
	if err := reg.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Stop(context.Background()) })
	desktop := routertest.Bind(t, r, "alice@example.org/desktop")
	r.Route(t.Context(), routertest.Stanza(t, desktop, `<presence/>`))
	bob := routertest.Bind(t, r, "bob@example.org/laptop")
	for i := range 50 {
		r.Route(t.Context(), routertest.Stanza(t, bob, fmt.Sprintf(`<message type='chat' to='alice@example.org'><body>%d</body></message>`, i)))
	}
	close(slow.release)
	alice := jid.MustParse("alice@example.org")
	deadline := time.Now().Add(routertest.WaitTimeout)
	for !m.knownNone(alice) {
		if time.Now().After(deadline) {
			t.Fatal("alice never known to have no registrations")
		}
		time.Sleep(time.Millisecond)
	}
	if n := slow.lookups.Load(); n != 1 {
		t.Errorf("%d lookups for a burst to one user, want 1", n)
	}
	if n := m.dropped.Load(); n != 0 {
		t.Errorf("%d notifications dropped on a full queue, want 0", n)
	}
	desktop.Take()
}
