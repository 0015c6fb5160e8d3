package module

import (
	"context"
	"errors"
	"testing"

	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"parley.im/parley/internal/routertest"
	"parley.im/parley/xmppcore"
)

func TestAppError(t *testing.T) {
	r, reg := setup(t)
	defer reg.Stop(ctx)
	app := xmppcore.New("urn:example:errors", "too-odd", "limit", "3")
	var log []string
	err := reg.Add(newModule("m", &log, func(rg *Registrar) error {
		rg.IQ("set", nsTest, "q", Account, func(context.Context, *IQ) (*xmppcore.Element, error) {
			return nil, AppError{Err: xmppcore.NewError(stanza.Conflict, "not now"), App: app}
		})
		rg.IQ("get", nsTest, "q", Account, func(context.Context, *IQ) (*xmppcore.Element, error) {
			return nil, AppError{Err: xmppcore.NewError(stanza.BadRequest, "")} // no App: a plain error
		})
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	alice := routertest.Bind(t, r, "alice@example.org/phone")
	r.Route(ctx, routertest.Stanza(t, alice, `<iq type='set' id='1' to='Alice@example.org'><q xmlns='urn:example:test'/></iq>`))
	routertest.AssertXML(t, alice.TakeOne(t), `<iq type='error' id='1' from='alice@example.org' to='alice@example.org/phone'>
		<error type='cancel'><conflict xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>
			<too-odd xmlns='urn:example:errors' limit='3'/>
			<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>not now</text></error></iq>`)
	// Without 'to': from the account, as Router.Error answers.
	r.Route(ctx, routertest.Stanza(t, alice, `<iq type='set' id='2'><q xmlns='urn:example:test'/></iq>`))
	routertest.AssertXML(t, alice.TakeOne(t), `<iq type='error' id='2' from='alice@example.org' to='alice@example.org/phone'>
		<error type='cancel'><conflict xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>
			<too-odd xmlns='urn:example:errors' limit='3'/>
			<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>not now</text></error></iq>`)
	r.Route(ctx, routertest.Stanza(t, alice, `<iq type='get' id='3'><q xmlns='urn:example:test'/></iq>`))
	routertest.AssertXML(t, alice.TakeOne(t), `<iq type='error' id='3' from='alice@example.org' to='alice@example.org/phone'>
		<error type='modify'><bad-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`)

	// From another user (no origin session of the requester): routed.
	bob := routertest.Bind(t, r, "bob@example.org/pc")
	st := routertest.Stanza(t, bob, `<iq type='set' id='4' to='alice@example.org'><q xmlns='urn:example:test'/></iq>`)
	st.Origin = nil
	r.Route(ctx, st)
	routertest.AssertXML(t, bob.TakeOne(t), `<iq type='error' id='4' from='alice@example.org' to='bob@example.org/pc'>
		<error type='cancel'><conflict xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>
			<too-odd xmlns='urn:example:errors' limit='3'/>
			<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>not now</text></error></iq>`)
	if len(alice.Take()) != 0 {
		t.Error("alice was sent something for bob's request")
	}

	var se stanza.Error
	if !errors.As(error(AppError{Err: xmppcore.NewError(stanza.Conflict, "")}), &se) || se.Condition != stanza.Conflict {
		t.Errorf("errors.As did not find the stanza.Error in an AppError: %v", se)
	}
	// The registered App element is not changed by answering.
	if app.Attr("limit") != "3" || len(app.Nodes) != 0 {
		t.Errorf("App changed: %s", app)
	}
}

type nodesProvider struct{ name string }

func (p nodesProvider) AccountItems(context.Context, jid.JID, jid.JID, string) ([]DiscoItem, bool, error) {
	return []DiscoItem{{Name: p.name}}, true, nil
}

func (p nodesProvider) AccountNodeInfo(context.Context, jid.JID, jid.JID, string) (NodeInfo, bool, error) {
	return NodeInfo{Features: []string{p.name}}, true, nil
}

func TestAccountNodesRegistration(t *testing.T) {
	_, reg := setup(t)
	var log []string
	for _, name := range []string{"a", "b"} {
		err := reg.Add(newModule(name, &log, func(rg *Registrar) error {
			rg.AccountNodes(nodesProvider{name})
			return nil
		}))
		if err != nil {
			t.Fatal(err)
		}
	}
	got := reg.AccountNodes()
	if len(got) != 2 || got[0].(nodesProvider).name != "a" || got[1].(nodesProvider).name != "b" {
		t.Fatalf("AccountNodes = %v", got)
	}
	if err := reg.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if got := reg.AccountNodes(); len(got) != 0 {
		t.Errorf("after Stop, AccountNodes = %v", got)
	}
}
