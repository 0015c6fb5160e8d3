package disco

import (
	"context"
	"errors"
	"testing"

	"mellium.im/xmpp/jid"

	"parley.im/parley/internal/routertest"
	"parley.im/parley/module"
	"parley.im/parley/router"
	"parley.im/parley/xmppcore"
)

const (
	notAvailable = `<error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>`
	notFound     = `<error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>`
	internal     = `<error type='cancel'><internal-server-error xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>`
)

// fake stands for the other modules: it registers what disco must report.
type fake struct{}

func (fake) Name() string { return "fake" }

func (fake) Register(r *module.Registrar) error {
	r.Feature(module.Server, "urn:example:z")
	r.Feature(module.Server, "urn:example:a")
	r.Feature(module.Account, "urn:example:pep")
	r.Identity(module.Server, module.Identity{Category: "pubsub", Type: "service", Name: "Parley"})
	r.Identity(module.Server, module.Identity{Category: "server", Type: "im", Name: "Other"}) // a duplicate
	r.Identity(module.Account, module.Identity{Category: "pubsub", Type: "pep"})
	r.Item("upload.example.org")
	r.Item("conference.example.org")
	return nil
}

type env struct {
	r     *router.Router
	reg   *module.Registry
	d     *Disco
	alice *routertest.Session
}

// setup returns a router for example.org where alice (bound) and bob
// (offline) have accounts, with disco and, if withFake, the fake module.
func setup(t *testing.T, withFake bool) *env {
	t.Helper()
	r := router.New(router.Config{Hosts: []string{"example.org"},
		AccountExists: routertest.Accounts("alice@example.org", "bob@example.org")})
	reg := module.NewRegistry(module.Env{Router: r})
	d := New(reg)
	if err := reg.Add(d); err != nil {
		t.Fatal(err)
	}
	if withFake {
		if err := reg.Add(fake{}); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { reg.Stop(context.Background()) })
	return &env{r, reg, d, routertest.Bind(t, r, "alice@example.org/phone")}
}

// ask routes req from alice and checks her one answer.
func (e *env) ask(t *testing.T, req, want string) {
	t.Helper()
	e.r.Route(t.Context(), routertest.Stanza(t, e.alice, req))
	routertest.AssertXML(t, e.alice.TakeOne(t), want)
}

const (
	serverInfo = `<query xmlns='http://jabber.org/protocol/disco#info'>
		<identity category='server' type='im' name='Parley'/>
		<identity category='pubsub' type='service' name='Parley'/>
		<feature var='http://jabber.org/protocol/disco#info'/>
		<feature var='http://jabber.org/protocol/disco#items'/>
		<feature var='urn:example:a'/>
		<feature var='urn:example:z'/>
	</query>`
	accountInfo = `<query xmlns='http://jabber.org/protocol/disco#info'>
		<identity category='account' type='registered'/>
		<identity category='pubsub' type='pep'/>
		<feature var='http://jabber.org/protocol/disco#info'/>
		<feature var='http://jabber.org/protocol/disco#items'/>
		<feature var='urn:example:pep'/>
	</query>`
	emptyItems = `<query xmlns='http://jabber.org/protocol/disco#items'/>`
)

func TestServer(t *testing.T) {
	e := setup(t, true)
	for _, tc := range []struct{ name, req, want string }{
		{"info",
			`<iq type='get' id='i1' to='example.org'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`,
			`<iq type='result' id='i1' from='example.org' to='alice@example.org/phone'>` + serverInfo + `</iq>`},
		{"items",
			`<iq type='get' id='i2' to='example.org'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`,
			`<iq type='result' id='i2' from='example.org' to='alice@example.org/phone'>
				<query xmlns='http://jabber.org/protocol/disco#items'>
					<item jid='upload.example.org'/><item jid='conference.example.org'/>
				</query></iq>`},
		{"info node",
			`<iq type='get' id='i3' to='example.org'><query xmlns='http://jabber.org/protocol/disco#info' node='http://jabber.org/protocol/commands'/></iq>`,
			`<iq type='error' id='i3' from='example.org' to='alice@example.org/phone'>` + notFound + `</iq>`},
		{"items node",
			`<iq type='get' id='i4' to='example.org'><query xmlns='http://jabber.org/protocol/disco#items' node='x'/></iq>`,
			`<iq type='error' id='i4' from='example.org' to='alice@example.org/phone'>` + notFound + `</iq>`},
		{"empty node is no node",
			`<iq type='get' id='i5' to='example.org'><query xmlns='http://jabber.org/protocol/disco#info' node=''/></iq>`,
			`<iq type='result' id='i5' from='example.org' to='alice@example.org/phone'>` + serverInfo + `</iq>`},
		{"set info",
			`<iq type='set' id='i6' to='example.org'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`,
			`<iq type='error' id='i6' from='example.org' to='alice@example.org/phone'>` + notAvailable + `</iq>`},
		{"set items",
			`<iq type='set' id='i7' to='example.org'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`,
			`<iq type='error' id='i7' from='example.org' to='alice@example.org/phone'>` + notAvailable + `</iq>`},
		{"wrong element",
			`<iq type='get' id='i8' to='example.org'><info xmlns='http://jabber.org/protocol/disco#info'/></iq>`,
			`<iq type='error' id='i8' from='example.org' to='alice@example.org/phone'>` + notAvailable + `</iq>`},
	} {
		t.Run(tc.name, func(t *testing.T) { e.ask(t, tc.req, tc.want) })
	}
}

// With no other module, the server still has its identity, the two disco
// features, and an empty item list rather than an error (XEP-0030 §7).
func TestServerAlone(t *testing.T) {
	e := setup(t, false)
	e.ask(t, `<iq type='get' id='a1' to='example.org'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`,
		`<iq type='result' id='a1' from='example.org' to='alice@example.org/phone'>
			<query xmlns='http://jabber.org/protocol/disco#info'>
				<identity category='server' type='im' name='Parley'/>
				<feature var='http://jabber.org/protocol/disco#info'/>
				<feature var='http://jabber.org/protocol/disco#items'/>
			</query></iq>`)
	e.ask(t, `<iq type='get' id='a2' to='example.org'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`,
		`<iq type='result' id='a2' from='example.org' to='alice@example.org/phone'>`+emptyItems+`</iq>`)
}

func TestAccount(t *testing.T) {
	e := setup(t, true)
	for _, tc := range []struct{ name, req, want string }{
		{"own info",
			`<iq type='get' id='b1' to='alice@example.org'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`,
			`<iq type='result' id='b1' from='alice@example.org' to='alice@example.org/phone'>` + accountInfo + `</iq>`},
		// RFC 6120 §10.3.3: no 'to' is the account itself, not the server.
		{"no to info",
			`<iq type='get' id='b2'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`,
			`<iq type='result' id='b2' to='alice@example.org/phone'>` + accountInfo + `</iq>`},
		{"other user's info",
			`<iq type='get' id='b3' to='bob@example.org'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`,
			`<iq type='result' id='b3' from='bob@example.org' to='alice@example.org/phone'>` + accountInfo + `</iq>`},
		{"own items",
			`<iq type='get' id='b4' to='alice@example.org'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`,
			`<iq type='result' id='b4' from='alice@example.org' to='alice@example.org/phone'>` + emptyItems + `</iq>`},
		{"no to items",
			`<iq type='get' id='b5'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`,
			`<iq type='result' id='b5' to='alice@example.org/phone'>` + emptyItems + `</iq>`},
		{"other user's items",
			`<iq type='get' id='b6' to='bob@example.org'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`,
			`<iq type='result' id='b6' from='bob@example.org' to='alice@example.org/phone'>` + emptyItems + `</iq>`},
		{"info node",
			`<iq type='get' id='b7' to='alice@example.org'><query xmlns='http://jabber.org/protocol/disco#info' node='urn:xmpp:avatar:data'/></iq>`,
			`<iq type='error' id='b7' from='alice@example.org' to='alice@example.org/phone'>` + notFound + `</iq>`},
		{"items node",
			`<iq type='get' id='b8' to='bob@example.org'><query xmlns='http://jabber.org/protocol/disco#items' node='urn:xmpp:avatar:data'/></iq>`,
			`<iq type='error' id='b8' from='bob@example.org' to='alice@example.org/phone'>` + notFound + `</iq>`},
		// XEP-0030 §8: an unknown account is service-unavailable.
		{"unknown user",
			`<iq type='get' id='b9' to='nobody@example.org'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`,
			`<iq type='error' id='b9' from='nobody@example.org' to='alice@example.org/phone'>` + notAvailable + `</iq>`},
		{"set",
			`<iq type='set' id='b10' to='bob@example.org'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`,
			`<iq type='error' id='b10' from='bob@example.org' to='alice@example.org/phone'>` + notAvailable + `</iq>`},
	} {
		t.Run(tc.name, func(t *testing.T) { e.ask(t, tc.req, tc.want) })
	}
}

// A full JID belongs to a client: disco for it must reach the client.
func TestFullJIDReachesClient(t *testing.T) {
	e := setup(t, true)
	bob := routertest.Bind(t, e.r, "bob@example.org/laptop")
	const req = `<iq type='get' id='c1' to='bob@example.org/laptop'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`
	e.r.Route(t.Context(), routertest.Stanza(t, e.alice, req))
	routertest.AssertXML(t, bob.TakeOne(t),
		`<iq type='get' id='c1' from='alice@example.org/phone' to='bob@example.org/laptop'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	if got := e.alice.Take(); len(got) != 0 {
		t.Fatalf("the server answered for a client: %v", got)
	}
}

func TestAccountPolicy(t *testing.T) {
	e := setup(t, true)
	var asked [][2]string
	e.d.SetAccountPolicy(func(_ context.Context, requester, account jid.JID) (bool, error) {
		asked = append(asked, [2]string{requester.String(), account.String()})
		return false, nil
	})
	e.ask(t, `<iq type='get' id='d1' to='bob@example.org'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`,
		`<iq type='error' id='d1' from='bob@example.org' to='alice@example.org/phone'>`+notAvailable+`</iq>`)
	// A denied requester learns nothing about nodes either.
	e.ask(t, `<iq type='get' id='d2' to='bob@example.org'><query xmlns='http://jabber.org/protocol/disco#info' node='n'/></iq>`,
		`<iq type='error' id='d2' from='bob@example.org' to='alice@example.org/phone'>`+notAvailable+`</iq>`)
	// The account's own requests are not subject to the policy.
	e.ask(t, `<iq type='get' id='d3' to='alice@example.org'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`,
		`<iq type='result' id='d3' from='alice@example.org' to='alice@example.org/phone'>`+accountInfo+`</iq>`)
	e.ask(t, `<iq type='get' id='d4'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`,
		`<iq type='result' id='d4' to='alice@example.org/phone'>`+accountInfo+`</iq>`)
	want := [2]string{"alice@example.org/phone", "bob@example.org"}
	if len(asked) != 2 || asked[0] != want || asked[1] != want {
		t.Errorf("policy asked %v, want twice %v", asked, want)
	}

	e.d.SetAccountPolicy(func(context.Context, jid.JID, jid.JID) (bool, error) { return true, nil })
	e.ask(t, `<iq type='get' id='d5' to='bob@example.org'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`,
		`<iq type='result' id='d5' from='bob@example.org' to='alice@example.org/phone'>`+accountInfo+`</iq>`)

	// A failing policy must neither allow nor look like "no such account".
	e.d.SetAccountPolicy(func(context.Context, jid.JID, jid.JID) (bool, error) { return true, errors.New("roster down") })
	e.ask(t, `<iq type='get' id='d6' to='bob@example.org'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`,
		`<iq type='error' id='d6' from='bob@example.org' to='alice@example.org/phone'>`+internal+`</iq>`)
}

// contactForm is a XEP-0157 form as a module would add it.
func contactForm() *xmppcore.Element {
	const x = "jabber:x:data"
	field := func(v string, values ...string) *xmppcore.Element {
		f := xmppcore.New(x, "field", "var", v)
		for _, val := range values {
			f.Append(xmppcore.New(x, "value").AppendText(val))
		}
		return f
	}
	ft := field("FORM_TYPE", "http://jabber.org/network/serverinfo")
	ft.SetAttr("type", "hidden")
	return xmppcore.New(x, "x", "type", "result").Append(ft, field("abuse-addresses", "mailto:abuse@example.org"))
}

func TestServerInfoForm(t *testing.T) {
	e := setup(t, false)
	e.d.AddServerInfoForm(contactForm)
	e.d.AddServerInfoForm(func() *xmppcore.Element { return nil }) // nothing to say this time
	e.ask(t, `<iq type='get' id='f1' to='example.org'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`,
		`<iq type='result' id='f1' from='example.org' to='alice@example.org/phone'>
			<query xmlns='http://jabber.org/protocol/disco#info'>
				<identity category='server' type='im' name='Parley'/>
				<feature var='http://jabber.org/protocol/disco#info'/>
				<feature var='http://jabber.org/protocol/disco#items'/>
				<x xmlns='jabber:x:data' type='result'>
					<field var='FORM_TYPE' type='hidden'><value>http://jabber.org/network/serverinfo</value></field>
					<field var='abuse-addresses'><value>mailto:abuse@example.org</value></field>
				</x>
			</query></iq>`)
	// The server's forms describe the server, not its accounts.
	e.ask(t, `<iq type='get' id='f2' to='alice@example.org'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`,
		`<iq type='result' id='f2' from='alice@example.org' to='alice@example.org/phone'>
			<query xmlns='http://jabber.org/protocol/disco#info'>
				<identity category='account' type='registered'/>
				<feature var='http://jabber.org/protocol/disco#info'/>
				<feature var='http://jabber.org/protocol/disco#items'/>
			</query></iq>`)
}

// A module registered after disco shows up in the next answer: disco reads
// the registry per request, not once at registration.
func TestLateRegistration(t *testing.T) {
	e := setup(t, false)
	if err := e.reg.Add(fake{}); err != nil {
		t.Fatal(err)
	}
	e.ask(t, `<iq type='get' id='l1' to='example.org'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`,
		`<iq type='result' id='l1' from='example.org' to='alice@example.org/phone'>`+serverInfo+`</iq>`)
}

// A remote server's disco is answered back over the federation link.
func TestRemoteRequester(t *testing.T) {
	e := setup(t, true)
	remote := &routertest.Remote{}
	e.r.SetRemote(remote)
	req := routertest.Parse(t, `<iq type='get' id='s1' from='montague.example' to='example.org'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`)
	e.r.Route(t.Context(), &router.Stanza{El: req, From: jid.MustParse("montague.example"), To: jid.MustParse("example.org")})
	got := remote.Got()
	if len(got) != 1 {
		t.Fatalf("remote got %d stanzas, want 1", len(got))
	}
	routertest.AssertXML(t, got[0].El, `<iq type='result' id='s1' from='example.org' to='montague.example'>
		<query xmlns='http://jabber.org/protocol/disco#items'>
			<item jid='upload.example.org'/><item jid='conference.example.org'/>
		</query></iq>`)
}
