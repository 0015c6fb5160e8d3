package disco

import (
	"context"
	"errors"
	"testing"

	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"parley.im/parley/internal/routertest"
	"parley.im/parley/module"
	"parley.im/parley/xmppcore"
)

// nodes is a module with nodes under accounts, as PEP has: alice has
// "open" (items a and b) for all and "secret" for herself only; bob has
// none. Asking for "boom" fails.
type nodes struct{ prefix string }

func (nodes) Name() string { return "nodes" }

func (n nodes) Register(r *module.Registrar) error {
	r.AccountNodes(n)
	return nil
}

func (n nodes) visible(requester, account jid.JID) []string {
	if account.Localpart() != "alice" {
		return nil
	}
	if requester.Bare().Equal(account) {
		return []string{n.prefix + "open", n.prefix + "secret"}
	}
	return []string{n.prefix + "open"}
}

func (n nodes) AccountItems(_ context.Context, requester, account jid.JID, node string) ([]module.DiscoItem, bool, error) {
	if node == "boom" {
		return nil, false, errors.New("storage down")
	}
	if node == "" {
		var out []module.DiscoItem
		for _, v := range n.visible(requester, account) {
			out = append(out, module.DiscoItem{JID: account.String(), Node: v})
		}
		return out, true, nil
	}
	for _, v := range n.visible(requester, account) {
		if v == node {
			return []module.DiscoItem{{JID: account.String(), Name: "a"}, {JID: account.String(), Name: "b"}}, true, nil
		}
	}
	return nil, false, nil
}

func (n nodes) AccountNodeInfo(_ context.Context, requester, account jid.JID, node string) (module.NodeInfo, bool, error) {
	if node == n.prefix+"forbidden" {
		return module.NodeInfo{}, false, xmppcore.NewError(stanza.Forbidden, "")
	}
	for _, v := range n.visible(requester, account) {
		if v == node {
			form := xmppcore.New("jabber:x:data", "x", "type", "result")
			return module.NodeInfo{Identities: []module.Identity{{Category: "pubsub", Type: "leaf"}},
				Features: []string{"urn:b", "urn:a", "urn:b"}, Forms: []*xmppcore.Element{form}}, true, nil
		}
	}
	return module.NodeInfo{}, false, nil
}

func TestAccountNodes(t *testing.T) {
	e := setup(t, true)
	if err := e.reg.Add(nodes{}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, req, want string }{
		{"own items",
			`<iq type='get' id='n1'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`,
			`<iq type='result' id='n1' to='alice@example.org/phone'><query xmlns='http://jabber.org/protocol/disco#items'>
				<item jid='alice@example.org' node='open'/><item jid='alice@example.org' node='secret'/></query></iq>`},
		{"items of a node",
			`<iq type='get' id='n2' to='alice@example.org'><query xmlns='http://jabber.org/protocol/disco#items' node='secret'/></iq>`,
			`<iq type='result' id='n2' from='alice@example.org' to='alice@example.org/phone'><query xmlns='http://jabber.org/protocol/disco#items' node='secret'>
				<item jid='alice@example.org' name='a'/><item jid='alice@example.org' name='b'/></query></iq>`},
		{"unknown node",
			`<iq type='get' id='n3' to='alice@example.org'><query xmlns='http://jabber.org/protocol/disco#items' node='nope'/></iq>`,
			`<iq type='error' id='n3' from='alice@example.org' to='alice@example.org/phone'>` + notFound + `</iq>`},
		{"account without nodes",
			`<iq type='get' id='n4' to='bob@example.org'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`,
			`<iq type='result' id='n4' from='bob@example.org' to='alice@example.org/phone'>` + emptyItems + `</iq>`},
		{"node info",
			`<iq type='get' id='n5'><query xmlns='http://jabber.org/protocol/disco#info' node='open'/></iq>`,
			`<iq type='result' id='n5' to='alice@example.org/phone'><query xmlns='http://jabber.org/protocol/disco#info' node='open'>
				<identity category='pubsub' type='leaf'/><feature var='urn:a'/><feature var='urn:b'/>
				<x xmlns='jabber:x:data' type='result'/></query></iq>`},
		{"unknown node info",
			`<iq type='get' id='n6'><query xmlns='http://jabber.org/protocol/disco#info' node='nope'/></iq>`,
			`<iq type='error' id='n6' from='alice@example.org' to='alice@example.org/phone'>` + notFound + `</iq>`},
		{"provider error",
			`<iq type='get' id='n7'><query xmlns='http://jabber.org/protocol/disco#items' node='boom'/></iq>`,
			`<iq type='error' id='n7' from='alice@example.org' to='alice@example.org/phone'>` + internal + `</iq>`},
		{"provider stanza error",
			`<iq type='get' id='n8'><query xmlns='http://jabber.org/protocol/disco#info' node='forbidden'/></iq>`,
			`<iq type='error' id='n8' from='alice@example.org' to='alice@example.org/phone'><error type='auth'><forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`},
		{"server still has no nodes",
			`<iq type='get' id='n9' to='example.org'><query xmlns='http://jabber.org/protocol/disco#items' node='open'/></iq>`,
			`<iq type='error' id='n9' from='example.org' to='alice@example.org/phone'>` + notFound + `</iq>`},
	} {
		t.Run(tc.name, func(t *testing.T) { e.ask(t, tc.req, tc.want) })
	}

	// Another module's nodes are listed after the first's; a node goes to
	// the first module that knows it.
	if err := e.reg.Add(otherNodes{nodes{prefix: "x-"}}); err != nil {
		t.Fatal(err)
	}
	e.ask(t, `<iq type='get' id='m1'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`,
		`<iq type='result' id='m1' to='alice@example.org/phone'><query xmlns='http://jabber.org/protocol/disco#items'>
			<item jid='alice@example.org' node='open'/><item jid='alice@example.org' node='secret'/>
			<item jid='alice@example.org' node='x-open'/><item jid='alice@example.org' node='x-secret'/></query></iq>`)
	e.ask(t, `<iq type='get' id='m2'><query xmlns='http://jabber.org/protocol/disco#items' node='x-open'/></iq>`,
		`<iq type='result' id='m2' to='alice@example.org/phone'><query xmlns='http://jabber.org/protocol/disco#items' node='x-open'>
			<item jid='alice@example.org' name='a'/><item jid='alice@example.org' name='b'/></query></iq>`)
}

type otherNodes struct{ nodes }

func (otherNodes) Name() string { return "other-nodes" }

func (n otherNodes) Register(r *module.Registrar) error {
	r.AccountNodes(n)
	return nil
}

// The account policy applies to node info as to the account's: a denied
// requester cannot tell a node from none.
func TestAccountNodesPolicy(t *testing.T) {
	e := setup(t, true)
	if err := e.reg.Add(nodes{}); err != nil {
		t.Fatal(err)
	}
	e.d.SetAccountPolicy(func(context.Context, jid.JID, jid.JID) (bool, error) { return false, nil })
	bob := routertest.Bind(t, e.r, "bob@example.org/pc")
	askAs(t, e, bob, `<iq type='get' id='p1' to='alice@example.org'><query xmlns='http://jabber.org/protocol/disco#info' node='open'/></iq>`,
		`<iq type='error' id='p1' from='alice@example.org' to='bob@example.org/pc'>`+notAvailable+`</iq>`)
	// Items are the module's to filter: bob sees the open node only.
	askAs(t, e, bob, `<iq type='get' id='p2' to='alice@example.org'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`,
		`<iq type='result' id='p2' from='alice@example.org' to='bob@example.org/pc'><query xmlns='http://jabber.org/protocol/disco#items'>
			<item jid='alice@example.org' node='open'/></query></iq>`)
	askAs(t, e, bob, `<iq type='get' id='p3' to='alice@example.org'><query xmlns='http://jabber.org/protocol/disco#items' node='secret'/></iq>`,
		`<iq type='error' id='p3' from='alice@example.org' to='bob@example.org/pc'>`+notFound+`</iq>`)
}

// askAs routes req from s and checks its one answer.
func askAs(t *testing.T, e *env, s *routertest.Session, req, want string) {
	t.Helper()
	e.r.Route(t.Context(), routertest.Stanza(t, s, req))
	routertest.AssertXML(t, s.TakeOne(t), want)
}
