package pubsub

import (
	"fmt"
	"testing"

	"parley.im/parley/internal/routertest"
	"parley.im/parley/storage"
)

const (
	errPresenceSub = `<error type='auth'><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>
		<presence-subscription-required xmlns='http://jabber.org/protocol/pubsub#errors'/></error>`
	errRosterGroup = `<error type='auth'><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>
		<not-in-roster-group xmlns='http://jabber.org/protocol/pubsub#errors'/></error>`
	errClosed = `<error type='cancel'><not-allowed xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>
		<closed-node xmlns='http://jabber.org/protocol/pubsub#errors'/></error>`
	errForbiddenXML = `<error type='auth'><forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>`
	errNotFoundXML  = `<error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>`
)

func configureReq(id, node string, pairs ...string) string {
	x := `<iq type='set' id='` + id + `'><pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><configure node='` + node + `'>
		<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#node_config</value></field>`
	for i := 0; i+1 < len(pairs); i += 2 {
		x += `<field var='` + pairs[i] + `'><value>` + pairs[i+1] + `</value></field>`
	}
	return x + `</x></configure></pubsub></iq>`
}

func itemsReq(id, owner, node string) string {
	return `<iq type='get' id='` + id + `' to='` + owner + `'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='` + node + `'/></pubsub></iq>`
}

// TestAccessModels checks who may retrieve items under each access model
// (XEP-0060 §4.5), and that the same rule decides who is notified and what
// disco#items lists.
func TestAccessModels(t *testing.T) {
	e := setup(t, Options{})
	// alice's roster: bob both (group Friends), carol from (group Work),
	// dave to only (no presence subscription to alice).
	e.subscribe(t, "alice", "bob@example.org", storage.SubBoth, "Friends")
	e.subscribe(t, "alice", "carol@example.org", storage.SubFrom, "Work")
	e.subscribe(t, "alice", "dave@example.org", storage.SubTo, "Friends")
	alice := e.bind(t, "alice@example.org/phone")
	sessions := map[string]*routertest.Session{}
	for _, u := range []string{"bob", "carol", "dave"} {
		sessions[u] = e.bind(t, u+"@example.org/r")
	}

	const item = `<tune xmlns='http://jabber.org/protocol/tune'><title>x</title></tune>`
	for _, tc := range []struct {
		model  string
		extra  []string // more configuration
		errors map[string]string
	}{
		{"open", nil, map[string]string{}},
		{"presence", nil, map[string]string{"dave": errPresenceSub}},
		{"roster", []string{"pubsub#roster_groups_allowed", "Friends"},
			map[string]string{"carol": errRosterGroup, "dave": errRosterGroup}},
		{"whitelist", nil, map[string]string{"bob": errClosed, "carol": errClosed, "dave": errClosed}},
	} {
		t.Run(tc.model, func(t *testing.T) {
			node := "node-" + tc.model
			e.ok(t, alice, publishReq("p", node, "i", item, ""))
			e.ok(t, alice, configureReq("c", node, append([]string{"pubsub#access_model", tc.model}, tc.extra...)...))
			alice.Take()
			e.ok(t, alice, itemsReq("o", "alice@example.org", node))
			for _, u := range []string{"bob", "carol", "dave"} {
				s := sessions[u]
				req := itemsReq("g-"+u, "alice@example.org", node)
				if want, denied := tc.errors[u]; denied {
					e.fails(t, s, req, want)
				} else {
					e.ok(t, s, req)
				}
			}
		})
	}

	// Affiliations override the model: a member reads a whitelist node,
	// an outcast reads nothing.
	e.ok(t, alice, `<iq type='set' id='a1'><pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><affiliations node='node-whitelist'>
		<affiliation jid='carol@example.org' affiliation='member'/></affiliations></pubsub></iq>`)
	e.ok(t, alice, `<iq type='set' id='a2'><pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><affiliations node='node-open'>
		<affiliation jid='dave@example.org/x' affiliation='outcast'/></affiliations></pubsub></iq>`)
	e.ok(t, sessions["carol"], itemsReq("m1", "alice@example.org", "node-whitelist"))
	e.fails(t, sessions["dave"], itemsReq("m2", "alice@example.org", "node-open"), errForbiddenXML)
	got := e.ok(t, alice, `<iq type='get' id='a3'><pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><affiliations node='node-open'/></pubsub></iq>`)
	routertest.AssertXML(t, got, `<pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><affiliations node='node-open'>
		<affiliation jid='alice@example.org' affiliation='owner'/><affiliation jid='dave@example.org' affiliation='outcast'/></affiliations></pubsub>`)
	got = e.ok(t, sessions["carol"], `<iq type='get' id='a4' to='alice@example.org'><pubsub xmlns='http://jabber.org/protocol/pubsub'><affiliations/></pubsub></iq>`)
	routertest.AssertXML(t, got, `<pubsub xmlns='http://jabber.org/protocol/pubsub'><affiliations>
		<affiliation node='node-whitelist' affiliation='member'/></affiliations></pubsub>`)

	// disco#items lists to each what each may see.
	for u, want := range map[string][]string{
		"bob":   {"node-open", "node-presence", "node-roster"},
		"carol": {"node-open", "node-presence", "node-whitelist"},
		"dave":  nil,
	} {
		got := e.ok(t, sessions[u], `<iq type='get' id='d' to='alice@example.org'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`)
		var nodes []string
		for it := range got.Children() {
			nodes = append(nodes, it.Attr("node"))
		}
		if fmt.Sprint(nodes) != fmt.Sprint(want) {
			t.Errorf("%s sees %v, want %v", u, nodes, want)
		}
	}
	got = e.ok(t, alice, `<iq type='get' id='d'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`)
	if got.ChildCount() != 4 {
		t.Errorf("alice sees %s", got)
	}
}
