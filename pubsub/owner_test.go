package pubsub

import (
	"errors"
	"strings"
	"testing"

	"parley.im/parley/internal/routertest"
	"parley.im/parley/storage"
	"parley.im/parley/xmppcore"
)

func badRequest(app string) string {
	if app == "" {
		return `<error type='modify'><bad-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>`
	}
	return `<error type='modify'><bad-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><` + app + ` xmlns='http://jabber.org/protocol/pubsub#errors'/></error>`
}

func withText(cond, text string) string {
	return `<error type='modify'><` + cond + ` xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>` + text + `</text></error>`
}

// TestBadInput: every malformed or refused request gets the error of
// XEP-0060, and changes nothing.
func TestBadInput(t *testing.T) {
	e := setup(t, Options{MaxItemSize: 100, MaxNodes: 3})
	alice := e.bind(t, "alice@example.org/desk")
	bob := e.bind(t, "bob@example.org/pc")
	e.ok(t, alice, publishReq("p0", nodeTune, "t", tune, ""))
	alice.Take()
	const ps = `<pubsub xmlns='http://jabber.org/protocol/pubsub'>`
	const owner = `<pubsub xmlns='http://jabber.org/protocol/pubsub#owner'>`
	for _, tc := range []struct{ name, req, want string }{
		{"publish without node", ps + `<publish><item>` + tune + `</item></publish></pubsub>`, badRequest("nodeid-required")},
		{"publish without item", ps + `<publish node='` + nodeTune + `'/></pubsub>`, badRequest("item-required")},
		{"two items", ps + `<publish node='x'><item>` + tune + `</item><item>` + tune + `</item></publish></pubsub>`,
			withText("bad-request", "one item per publish")},
		{"no payload", ps + `<publish node='x'><item id='1'/></publish></pubsub>`, badRequest("payload-required")},
		{"two payloads", ps + `<publish node='x'><item id='1'>` + tune + tune + `</item></publish></pubsub>`, badRequest("invalid-payload")},
		{"too big", ps + `<publish node='x'><item id='1'><x xmlns='urn:example'>` + strings.Repeat("a", 100) + `</x></item></publish></pubsub>`,
			`<error type='modify'><not-acceptable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><payload-too-big xmlns='http://jabber.org/protocol/pubsub#errors'/>
				<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>items are limited to 100 bytes</text></error>`},
		{"foreign child", ps + `<publish node='x'><thing xmlns='urn:example'/></publish></pubsub>`, badRequest("")},
		{"unknown action", ps + `<frobnicate node='x'/></pubsub>`, badRequest("")},
		{"empty pubsub", ps + `</pubsub>`, badRequest("")},
		{"two actions", ps + `<retract node='x'><item id='1'/></retract><retract node='y'><item id='1'/></retract></pubsub>`, withText("bad-request", "one action per request")},
		{"retract without item", ps + `<retract node='` + nodeTune + `'/></pubsub>`, badRequest("item-required")},
		{"retract item without id", ps + `<retract node='` + nodeTune + `'><item/></retract></pubsub>`, badRequest("item-required")},
		{"create instant node", ps + `<create/></pubsub>`,
			`<error type='modify'><not-acceptable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><nodeid-required xmlns='http://jabber.org/protocol/pubsub#errors'/></error>`},
		{"create existing", ps + `<create node='` + nodeTune + `'/></pubsub>`, `<error type='cancel'><conflict xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>`},
		{"create with bad config", ps + `<create node='n1'/><configure><x xmlns='jabber:x:data' type='submit'>
			<field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#node_config</value></field>
			<field var='pubsub#max_items'><value>1000</value></field></x></configure></pubsub>`,
			withText("not-acceptable", `pubsub#max_items: &quot;1000&quot; is not a number from 1 to 256, nor max`)},
		{"subscription options", ps + `<options node='x' jid='alice@example.org'/></pubsub>`,
			`<error type='cancel'><feature-not-implemented xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><unsupported xmlns='http://jabber.org/protocol/pubsub#errors' feature='subscription-options'/></error>`},
		{"subscribe someone else", ps + `<subscribe node='` + nodeTune + `' jid='bob@example.org'/></pubsub>`, badRequest("invalid-jid")},
		{"subscribe without jid", ps + `<subscribe node='` + nodeTune + `'/></pubsub>`, badRequest("invalid-jid")},
		{"subscribe bad jid", ps + `<subscribe node='` + nodeTune + `' jid='@@'/></pubsub>`, badRequest("invalid-jid")},
		{"subscribe missing node", ps + `<subscribe node='nope' jid='alice@example.org'/></pubsub>`, errNotFoundXML},
		{"unsubscribe not subscribed", ps + `<unsubscribe node='` + nodeTune + `' jid='alice@example.org'/></pubsub>`,
			`<error type='cancel'><unexpected-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><not-subscribed xmlns='http://jabber.org/protocol/pubsub#errors'/></error>`},
		{"configure bad value", owner + `<configure node='` + nodeTune + `'><x xmlns='jabber:x:data' type='submit'>
			<field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#node_config</value></field>
			<field var='pubsub#deliver_payloads'><value>maybe</value></field></x></configure></pubsub>`,
			withText("not-acceptable", `pubsub#deliver_payloads: &quot;maybe&quot; is not a boolean`)},
		{"configure without form", owner + `<configure node='` + nodeTune + `'/></pubsub>`, badRequest("")},
		{"configure other form", owner + `<configure node='` + nodeTune + `'><x xmlns='jabber:x:data' type='submit'>
			<field var='FORM_TYPE' type='hidden'><value>urn:example</value></field></x></configure></pubsub>`,
			withText("bad-request", "the configuration form's FORM_TYPE is not http://jabber.org/protocol/pubsub#node_config")},
		{"malformed form", owner + `<configure node='` + nodeTune + `'><x xmlns='jabber:x:data' type='submit'>
			<field var='pubsub#title'/><field var='pubsub#title'/></x></configure></pubsub>`, withText("bad-request", "malformed data form")},
		{"delete without node", owner + `<delete/></pubsub>`, badRequest("nodeid-required")},
		{"affiliation of the owner", owner + `<affiliations node='` + nodeTune + `'><affiliation jid='alice@example.org' affiliation='none'/></affiliations></pubsub>`,
			withText("not-acceptable", "the owner's affiliation cannot change")},
		{"second owner", owner + `<affiliations node='` + nodeTune + `'><affiliation jid='bob@example.org' affiliation='owner'/></affiliations></pubsub>`,
			withText("not-acceptable", "a personal eventing node has one owner")},
		{"unknown affiliation", owner + `<affiliations node='` + nodeTune + `'><affiliation jid='bob@example.org' affiliation='king'/></affiliations></pubsub>`,
			withText("bad-request", "unknown affiliation king")},
		{"unknown owner action", owner + `<frob node='x'/></pubsub>`, badRequest("")},
		{"too many retractions", ps + `<retract node='` + nodeTune + `'>` + strings.Repeat(`<item id='x'/>`, 101) + `</retract></pubsub>`,
			`<error type='modify'><policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>at most 100 changes per request</text></error>`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.fails(t, alice, `<iq type='set' id='x'>`+tc.req+`</iq>`, tc.want)
		})
	}
	for _, tc := range []struct{ name, req, want string }{
		{"items without node", ps + `<items/></pubsub>`, badRequest("nodeid-required")},
		{"items of nothing", ps + `<items node='nope'/></pubsub>`, errNotFoundXML},
		{"bad max_items", ps + `<items node='` + nodeTune + `' max_items='0'/></pubsub>`, withText("bad-request", "max_items is not a positive number")},
		{"item without id", ps + `<items node='` + nodeTune + `'><item/></items></pubsub>`, badRequest("")},
		{"no such item", ps + `<items node='` + nodeTune + `'><item id='nope'/></items></pubsub>`, errNotFoundXML},
		{"default subscription options", ps + `<default/></pubsub>`,
			`<error type='cancel'><feature-not-implemented xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><unsupported xmlns='http://jabber.org/protocol/pubsub#errors' feature='retrieve-default-sub'/></error>`},
		{"configure of nothing", owner + `<configure node='nope'/></pubsub>`, errNotFoundXML},
		{"owner element in the wrong namespace", ps + `<configure node='` + nodeTune + `'/></pubsub>`, badRequest("")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.fails(t, alice, `<iq type='get' id='x'>`+tc.req+`</iq>`, tc.want)
		})
	}

	// What others may not do to alice's nodes.
	for _, tc := range []struct{ name, typ, req, want string }{
		{"publish", "set", ps + `<publish node='` + nodeTune + `'><item>` + tune + `</item></publish></pubsub>`, errForbiddenXML},
		{"auto-create", "set", ps + `<publish node='new'><item>` + tune + `</item></publish></pubsub>`, errNotFoundXML},
		{"create", "set", ps + `<create node='new'/></pubsub>`, errForbiddenXML},
		{"configure", "get", owner + `<configure node='` + nodeTune + `'/></pubsub>`, errForbiddenXML},
		{"configure set", "set", owner + `<configure node='` + nodeTune + `'><x xmlns='jabber:x:data' type='submit'/></configure></pubsub>`, errForbiddenXML},
		{"delete", "set", owner + `<delete node='` + nodeTune + `'/></pubsub>`, errForbiddenXML},
		{"purge", "set", owner + `<purge node='` + nodeTune + `'/></pubsub>`, errForbiddenXML},
		{"affiliations", "get", owner + `<affiliations node='` + nodeTune + `'/></pubsub>`, errForbiddenXML},
		{"subscriptions", "set", owner + `<subscriptions node='` + nodeTune + `'/></pubsub>`, errForbiddenXML},
		{"default", "get", owner + `<default/></pubsub>`, errForbiddenXML},
		{"unsubscribe alice", "set", ps + `<unsubscribe node='` + nodeTune + `' jid='alice@example.org'/></pubsub>`, errForbiddenXML},
		{"items", "get", ps + `<items node='` + nodeTune + `'/></pubsub>`, errPresenceSub},
	} {
		t.Run("bob "+tc.name, func(t *testing.T) {
			e.fails(t, bob, `<iq type='`+tc.typ+`' id='x' to='alice@example.org'>`+tc.req+`</iq>`, tc.want)
		})
	}

	// An answer carries a few items' worth of payload at most, newest
	// first.
	big := `<x xmlns='urn:example'>` + strings.Repeat("b", 60) + `</x>`
	e.ok(t, alice, publishReq("b0", "big", "0", big, options("pubsub#max_items", "10")))
	for _, id := range []string{"1", "2", "3", "4", "5"} {
		e.ok(t, alice, publishReq("b"+id, "big", id, big, ""))
	}
	got := e.ok(t, alice, itemsReq("b", "alice@example.org", "big"))
	var ids []string
	for it := range got.Child(NS, "items").Children() {
		ids = append(ids, it.Attr("id"))
	}
	if strings.Join(ids, ",") != "5,4,3,2" { // 87 bytes each, 400 at most
		t.Errorf("items answered: %v", ids)
	}
	alice.Take()

	// The node limit.
	e.ok(t, alice, publishReq("n1", "n1", "i", tune, ""))
	e.fails(t, alice, publishReq("n3", "n3", "i", tune, ""),
		`<error type='cancel'><not-allowed xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><max-nodes-exceeded xmlns='http://jabber.org/protocol/pubsub#errors'/></error>`)
	e.fails(t, alice, `<iq type='set' id='n4'><pubsub xmlns='http://jabber.org/protocol/pubsub'><create node='n4'/></pubsub></iq>`,
		`<error type='cancel'><not-allowed xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><max-nodes-exceeded xmlns='http://jabber.org/protocol/pubsub#errors'/></error>`)
	nodes, _ := e.store.PubSubNodes(t.Context(), storage.PubSubService{Host: host, Username: "alice"})
	if len(nodes) != 3 {
		t.Errorf("nodes: %v", nodes)
	}

	// Storage trouble is internal-server-error, and the next request
	// works again.
	e.store.setErr(errors.New("disk on fire"))
	e.fails(t, alice, itemsReq("s1", "alice@example.org", nodeTune),
		`<error type='cancel'><internal-server-error xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>`)
	e.fails(t, alice, publishReq("s2", nodeTune, "t", tune, ""),
		`<error type='cancel'><internal-server-error xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>`)
	e.store.setErr(nil)
	e.ok(t, alice, itemsReq("s3", "alice@example.org", nodeTune))
}

// TestExplicitSubscriptions: anyone the access model lets in may
// subscribe (XEP-0060 §6.1), gets the last item at once, and is notified
// whatever its caps say, until it unsubscribes.
func TestExplicitSubscriptions(t *testing.T) {
	e := setup(t, Options{})
	alice := e.bind(t, "alice@example.org/desk")
	e.send(t, alice, `<presence/>`)
	carol := e.bind(t, "carol@example.org/pc") // no caps, no roster
	e.send(t, carol, `<presence/>`)
	e.ok(t, alice, publishReq("p1", nodeAvatar, "a1", `<metadata xmlns='urn:xmpp:avatar:metadata'/>`, options("pubsub#access_model", "open", "pubsub#notify_sub", "true")))
	alice.Take()

	got := e.ok(t, carol, `<iq type='set' id='s1' to='alice@example.org'><pubsub xmlns='http://jabber.org/protocol/pubsub'><subscribe node='`+nodeAvatar+`' jid='carol@example.org'/></pubsub></iq>`)
	sub := got.Child(NS, "subscription")
	if sub == nil || sub.Attr("subscription") != "subscribed" || sub.Attr("subid") == "" || sub.Attr("jid") != "carol@example.org" || sub.Attr("node") != nodeAvatar {
		t.Fatalf("subscribe answered %s", got)
	}
	item := `<items node='` + nodeAvatar + `'><item id='a1'><metadata xmlns='urn:xmpp:avatar:metadata'/></item></items>`
	assertNotifications(t, carol, `<message from='alice@example.org' to='carol@example.org/pc' type='headline'><event xmlns='http://jabber.org/protocol/pubsub#event'>`+
		item+`</event><delay xmlns='urn:xmpp:delay' from='alice@example.org' stamp='X'/></message>`)
	// notify_sub: the owner hears of it.
	assertNotifications(t, alice, `<message from='alice@example.org' to='alice@example.org/desk' type='headline'><event xmlns='http://jabber.org/protocol/pubsub#event'>
		<subscription node='`+nodeAvatar+`' jid='carol@example.org' subid='`+sub.Attr("subid")+`' subscription='subscribed'/></event></message>`)
	// Subscribing again answers the same.
	again := e.ok(t, carol, `<iq type='set' id='s2' to='alice@example.org'><pubsub xmlns='http://jabber.org/protocol/pubsub'><subscribe node='`+nodeAvatar+`' jid='carol@example.org'/></pubsub></iq>`)
	routertest.AssertXML(t, again, got.String())
	carol.Take()

	e.ok(t, alice, publishReq("p2", nodeAvatar, "a2", `<metadata xmlns='urn:xmpp:avatar:metadata'/>`, ""))
	alice.Take()
	if got := carol.Take(); len(got) != 1 || got[0].Attr("to") != "carol@example.org/pc" {
		t.Fatalf("subscriber got %v", got)
	}

	got = e.ok(t, carol, `<iq type='get' id='l1' to='alice@example.org'><pubsub xmlns='http://jabber.org/protocol/pubsub'><subscriptions/></pubsub></iq>`)
	routertest.AssertXML(t, got, `<pubsub xmlns='http://jabber.org/protocol/pubsub'><subscriptions>
		<subscription node='`+nodeAvatar+`' jid='carol@example.org' subid='`+sub.Attr("subid")+`' subscription='subscribed'/></subscriptions></pubsub>`)
	got = e.ok(t, alice, `<iq type='get' id='l2'><pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><subscriptions node='`+nodeAvatar+`'/></pubsub></iq>`)
	routertest.AssertXML(t, got, `<pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><subscriptions node='`+nodeAvatar+`'>
		<subscription jid='carol@example.org' subid='`+sub.Attr("subid")+`' subscription='subscribed'/></subscriptions></pubsub>`)

	e.fails(t, carol, `<iq type='set' id='u0' to='alice@example.org'><pubsub xmlns='http://jabber.org/protocol/pubsub'><unsubscribe node='`+nodeAvatar+`' jid='carol@example.org' subid='wrong'/></pubsub></iq>`,
		`<error type='modify'><not-acceptable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><invalid-subid xmlns='http://jabber.org/protocol/pubsub#errors'/></error>`)
	e.ok(t, carol, `<iq type='set' id='u1' to='alice@example.org'><pubsub xmlns='http://jabber.org/protocol/pubsub'><unsubscribe node='`+nodeAvatar+`' jid='carol@example.org'/></pubsub></iq>`)
	alice.Take()
	e.ok(t, alice, publishReq("p3", nodeAvatar, "a3", `<metadata xmlns='urn:xmpp:avatar:metadata'/>`, ""))
	alice.Take()
	assertNotifications(t, carol)

	// A subscription stops counting once the access model shuts the
	// subscriber out.
	e.ok(t, carol, `<iq type='set' id='s3' to='alice@example.org'><pubsub xmlns='http://jabber.org/protocol/pubsub'><subscribe node='`+nodeAvatar+`' jid='carol@example.org/pc'/></pubsub></iq>`)
	carol.Take()
	alice.Take()
	e.ok(t, alice, configureReq("c", nodeAvatar, "pubsub#access_model", "presence"))
	e.ok(t, alice, publishReq("p4", nodeAvatar, "a4", `<metadata xmlns='urn:xmpp:avatar:metadata'/>`, ""))
	alice.Take()
	assertNotifications(t, carol)
	e.fails(t, carol, `<iq type='set' id='s4' to='alice@example.org'><pubsub xmlns='http://jabber.org/protocol/pubsub'><subscribe node='`+nodeAvatar+`' jid='carol@example.org'/></pubsub></iq>`, errPresenceSub)

	// The owner removes a subscription.
	e.ok(t, alice, `<iq type='set' id='o1'><pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><subscriptions node='`+nodeAvatar+`'>
		<subscription jid='carol@example.org/pc' subscription='none'/></subscriptions></pubsub></iq>`)
	got = e.ok(t, alice, `<iq type='get' id='o2'><pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><subscriptions node='`+nodeAvatar+`'/></pubsub></iq>`)
	routertest.AssertXML(t, got, `<pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><subscriptions node='`+nodeAvatar+`'/></pubsub>`)
}

// TestConfiguration: the owner reads and changes a node's configuration;
// lowering max_items drops the oldest items; notify_config tells the
// subscribers; create-and-configure; the default configuration.
func TestConfiguration(t *testing.T) {
	e := setup(t, Options{})
	e.friends(t, "alice", "bob")
	e.subscribe(t, "alice", "carol@example.org", storage.SubBoth, "Work", "Friends")
	alice, _ := e.online(t, "alice@example.org/desk", gajim)
	bob, _ := e.online(t, "bob@example.org/pc", gajim)

	e.ok(t, alice, `<iq type='set' id='c1'><pubsub xmlns='http://jabber.org/protocol/pubsub'><create node='`+nodeTune+`'/><configure>
		<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#node_config</value></field>
		<field var='pubsub#max_items'><value>3</value></field><field var='pubsub#title'><value>Tunes</value></field>
		<field var='pubsub#x-other-server'><value>ignored</value></field></x></configure></pubsub></iq>`)
	for _, id := range []string{"1", "2", "3"} {
		e.ok(t, alice, publishReq("p"+id, nodeTune, id, tune, ""))
	}
	alice.Take()
	bob.Take()
	form := e.ok(t, alice, `<iq type='get' id='g1'><pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><configure node='`+nodeTune+`'/></pubsub></iq>`)
	x := form.Child(NSOwner, "configure").Child(NSData, "x")
	if x.Attr("type") != "form" || fieldValue(x, "FORM_TYPE") != NSNodeConfig {
		t.Fatalf("form %s", x)
	}
	for v, want := range map[string]string{"pubsub#title": "Tunes", "pubsub#max_items": "3", "pubsub#access_model": "presence",
		"pubsub#send_last_published_item": "on_sub_and_presence", "pubsub#deliver_payloads": "true", "pubsub#notify_retract": "true"} {
		if got := fieldValue(x, v); got != want {
			t.Errorf("%s = %q, want %q", v, got, want)
		}
	}
	// The roster's groups are offered for the roster access model.
	for f := range x.Children() {
		if f.Attr("var") == "pubsub#roster_groups_allowed" {
			var opts []string
			for o := range f.Children() {
				opts = append(opts, o.ChildText(NSData, "value"))
			}
			if strings.Join(opts, ",") != "Friends,Work" {
				t.Errorf("group options %v", opts)
			}
		}
	}

	e.ok(t, alice, configureReq("c2", nodeTune, "pubsub#max_items", "1", "pubsub#notify_config", "1"))
	got := e.ok(t, alice, itemsReq("i", "alice@example.org", nodeTune))
	routertest.AssertXML(t, got, `<pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='`+nodeTune+`'><item id='3'>`+tune+`</item></items></pubsub>`)
	n := bob.Take()
	if len(n) != 1 || n[0].Child(NSEvent, "event").Child(NSEvent, "configuration").Attr("node") != nodeTune ||
		n[0].Child(NSEvent, "event").Child(NSEvent, "configuration").Child(NSData, "x") == nil {
		t.Errorf("configuration notification: %v", n)
	}
	alice.Take()
	// A cancelled form changes nothing.
	e.ok(t, alice, `<iq type='set' id='c3'><pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><configure node='`+nodeTune+`'><x xmlns='jabber:x:data' type='cancel'/></configure></pubsub></iq>`)

	def := e.ok(t, alice, `<iq type='get' id='d'><pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><default/></pubsub></iq>`)
	dx := def.Child(NSOwner, "default").Child(NSData, "x")
	if fieldValue(dx, "pubsub#access_model") != "presence" || fieldValue(dx, "pubsub#max_items") != "1" {
		t.Errorf("default %s", def)
	}

	// deliver_payloads=false: notifications name the item only.
	e.ok(t, alice, configureReq("c4", nodeTune, "pubsub#deliver_payloads", "0", "pubsub#notify_config", "0"))
	e.ok(t, alice, publishReq("p4", nodeTune, "4", tune, ""))
	alice.Take()
	assertNotifications(t, bob, `<message from='alice@example.org' to='bob@example.org/pc' type='headline'><event xmlns='http://jabber.org/protocol/pubsub#event'>
		<items node='`+nodeTune+`'><item id='4'/></items></event>
		<addresses xmlns='http://jabber.org/protocol/address'><address type='replyto' jid='alice@example.org/desk'/></addresses></message>`)

	// A transient notification node: no items, no payloads (§4.3).
	e.ok(t, alice, configureReq("c5", nodeTune, "pubsub#persist_items", "0", "pubsub#notification_type", "normal"))
	e.fails(t, alice, publishReq("p5", nodeTune, "5", tune, ""), badRequest("item-forbidden"))
	e.ok(t, alice, `<iq type='set' id='p6'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='`+nodeTune+`'/></pubsub></iq>`)
	alice.Take()
	assertNotifications(t, bob, `<message from='alice@example.org' to='bob@example.org/pc' type='normal'><event xmlns='http://jabber.org/protocol/pubsub#event'>
		<items node='`+nodeTune+`'/></event></message>`)
}

// TestDisco: the account advertises PEP (XEP-0163 §6, XEP-0223 §6) and
// describes its nodes (XEP-0060 §5).
func TestDisco(t *testing.T) {
	e := setup(t, Options{})
	e.friends(t, "alice", "bob")
	alice := e.bind(t, "alice@example.org/desk")
	bob := e.bind(t, "bob@example.org/pc")
	info := e.ok(t, alice, `<iq type='get' id='i1' to='alice@example.org'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	var ids, feats []string
	for el := range info.Children() {
		switch el.Local {
		case "identity":
			ids = append(ids, el.Attr("category")+"/"+el.Attr("type"))
		case "feature":
			feats = append(feats, el.Attr("var"))
		}
	}
	if strings.Join(ids, " ") != "account/registered pubsub/pep" {
		t.Errorf("identities %v", ids)
	}
	for _, f := range []string{NS + "#publish", NS + "#publish-options", NS + "#auto-create", NS + "#access-open",
		NS + "#access-presence", NS + "#access-roster", NS + "#access-whitelist", NS + "#persistent-items",
		NS + "#retrieve-items", NS + "#last-published", NS + "#retract-items", NS + "#delete-nodes", NS + "#purge-nodes",
		NS + "#config-node", NS + "#filtered-notifications", NS + "#auto-subscribe"} {
		if !containsString(feats, f) {
			t.Errorf("account disco#info lacks %s", f)
		}
	}
	if containsString(feats, NS+"#multi-items") || containsString(feats, NS+"#access-authorize") {
		t.Error("advertises what it does not do")
	}
	server := e.ok(t, alice, `<iq type='get' id='i2' to='example.org'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	if !strings.Contains(server.String(), `category="pubsub" type="pep"`) || !strings.Contains(server.String(), NS+"#publish-options") {
		t.Errorf("server disco#info %s", server)
	}

	e.ok(t, alice, publishReq("p1", nodeTune, "t1", tune, options("pubsub#title", "My tunes")))
	alice.Take()
	items := e.ok(t, bob, `<iq type='get' id='i3' to='alice@example.org'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`)
	routertest.AssertXML(t, items, `<query xmlns='http://jabber.org/protocol/disco#items'><item jid='alice@example.org' node='`+nodeTune+`' name='My tunes'/></query>`)
	items = e.ok(t, bob, `<iq type='get' id='i4' to='alice@example.org'><query xmlns='http://jabber.org/protocol/disco#items' node='`+nodeTune+`'/></iq>`)
	routertest.AssertXML(t, items, `<query xmlns='http://jabber.org/protocol/disco#items' node='`+nodeTune+`'><item jid='alice@example.org' name='t1'/></query>`)
	ni := e.ok(t, bob, `<iq type='get' id='i5' to='alice@example.org'><query xmlns='http://jabber.org/protocol/disco#info' node='`+nodeTune+`'/></iq>`)
	if ni.Attr("node") != nodeTune || ni.Child(NSDiscoInfo, "identity").Attr("type") != "leaf" {
		t.Errorf("node info %s", ni)
	}
	x := ni.Child(NSData, "x")
	for v, want := range map[string]string{"FORM_TYPE": NSMetaData, "pubsub#owner": "alice@example.org", "pubsub#creator": "alice@example.org/desk",
		"pubsub#access_model": "presence", "pubsub#title": "My tunes", "pubsub#max_items": "1"} {
		if got := fieldValue(x, v); got != want {
			t.Errorf("meta-data %s = %q, want %q", v, got, want)
		}
	}
	carol := e.bind(t, "carol@example.org/pc")
	items = e.ok(t, carol, `<iq type='get' id='i6' to='alice@example.org'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`)
	routertest.AssertXML(t, items, `<query xmlns='http://jabber.org/protocol/disco#items'/>`)
	e.fails(t, carol, `<iq type='get' id='i7' to='alice@example.org'><query xmlns='http://jabber.org/protocol/disco#info' node='`+nodeTune+`'/></iq>`, errNotFoundXML)
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestVerString checks the verification string against the examples of
// XEP-0115 §5.2 and §5.3.
func TestVerString(t *testing.T) {
	simple := routertest.Parse(t, `<query xmlns='http://jabber.org/protocol/disco#info'>
		<identity category='client' name='Exodus 0.9.1' type='pc'/>
		<feature var='http://jabber.org/protocol/caps'/>
		<feature var='http://jabber.org/protocol/disco#info'/>
		<feature var='http://jabber.org/protocol/disco#items'/>
		<feature var='http://jabber.org/protocol/muc'/></query>`)
	complexQ := routertest.Parse(t, `<query xmlns='http://jabber.org/protocol/disco#info' node='http://psi-im.org#q07IKJEyjvHSyhy//CH0CxmKi8w='>
		<identity xml:lang='en' category='client' name='Psi 0.11' type='pc'/>
		<identity xml:lang='el' category='client' name='Ψ 0.11' type='pc'/>
		<feature var='http://jabber.org/protocol/caps'/>
		<feature var='http://jabber.org/protocol/disco#info'/>
		<feature var='http://jabber.org/protocol/disco#items'/>
		<feature var='http://jabber.org/protocol/muc'/>
		<x xmlns='jabber:x:data' type='result'>
			<field var='FORM_TYPE' type='hidden'><value>urn:xmpp:dataforms:softwareinfo</value></field>
			<field var='ip_version' type='text-multi'><value>ipv4</value><value>ipv6</value></field>
			<field var='os'><value>Mac</value></field>
			<field var='os_version'><value>10.5.1</value></field>
			<field var='software'><value>Psi</value></field>
			<field var='software_version'><value>0.11</value></field>
		</x></query>`)
	for _, tc := range []struct {
		q    *xmppcore.Element
		want string
	}{{simple, "QgayPKawpkPSDYmwT/WM94uAlu0="}, {complexQ, "q07IKJEyjvHSyhy//CH0CxmKi8w="}} {
		got, _, err := verString(tc.q, hashFunc("sha-1"))
		if err != nil || got != tc.want {
			t.Errorf("verString = %q, %v; want %q", got, err, tc.want)
		}
	}
	// §5.4: a form without a hidden FORM_TYPE is left out; two forms of
	// one FORM_TYPE, or a duplicate identity, are ill-formed.
	noType := complexQ.Clone()
	noType.Append(routertest.Parse(t, `<x xmlns='jabber:x:data' type='result'><field var='FORM_TYPE'><value>urn:x</value></field></x>`))
	if got, _, err := verString(noType, hashFunc("sha-1")); err != nil || got != "q07IKJEyjvHSyhy//CH0CxmKi8w=" {
		t.Errorf("a form without hidden FORM_TYPE counted: %q, %v", got, err)
	}
	twice := complexQ.Clone()
	twice.Append(complexQ.Child(NSData, "x").Clone())
	if _, _, err := verString(twice, hashFunc("sha-1")); err == nil {
		t.Error("two forms of one FORM_TYPE accepted")
	}
	dupID := simple.Clone()
	dupID.Append(simple.Child(NSDiscoInfo, "identity").Clone())
	if _, _, err := verString(dupID, hashFunc("sha-1")); err == nil {
		t.Error("a duplicate identity accepted")
	}
	if hashFunc("sha-256") == nil || hashFunc("md5") != nil {
		t.Error("hash functions")
	}
}

// TestPublishModels: who besides the owner may publish (XEP-0060
// pubsub#publish_model and the publisher affiliations).
func TestPublishModels(t *testing.T) {
	e := setup(t, Options{})
	alice := e.bind(t, "alice@example.org/desk")
	bob := e.bind(t, "bob@example.org/pc")
	carol := e.bind(t, "carol@example.org/pc")
	dave := e.bind(t, "dave@example.org/pc")
	e.ok(t, alice, publishReq("p1", "wall", "a", tune, options("pubsub#access_model", "open", "pubsub#max_items", "10")))
	toAlice := func(id, itemID string) string {
		return strings.Replace(publishReq(id, "wall", itemID, tune, ""), "<iq type='set' id='"+id+"'>", "<iq type='set' id='"+id+"' to='alice@example.org'>", 1)
	}
	e.fails(t, bob, toAlice("b1", "b"), errForbiddenXML)
	// A publisher may publish and retract; publish-only may publish.
	e.ok(t, alice, `<iq type='set' id='a1'><pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><affiliations node='wall'>
		<affiliation jid='bob@example.org' affiliation='publisher'/><affiliation jid='dave@example.org' affiliation='publish-only'/></affiliations></pubsub></iq>`)
	e.ok(t, bob, toAlice("b2", "b"))
	e.ok(t, bob, `<iq type='set' id='b3' to='alice@example.org'><pubsub xmlns='http://jabber.org/protocol/pubsub'><retract node='wall'><item id='b'/></retract></pubsub></iq>`)
	e.ok(t, dave, toAlice("d1", "d"))
	// subscribers: a subscriber may publish.
	e.ok(t, alice, configureReq("c1", "wall", "pubsub#publish_model", "subscribers"))
	e.fails(t, carol, toAlice("c2", "c"), errForbiddenXML)
	e.ok(t, carol, `<iq type='set' id='c3' to='alice@example.org'><pubsub xmlns='http://jabber.org/protocol/pubsub'><subscribe node='wall' jid='carol@example.org/pc'/></pubsub></iq>`)
	e.ok(t, carol, toAlice("c4", "c"))
	// open: anyone.
	e.ok(t, alice, `<iq type='set' id='a2'><pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><affiliations node='wall'>
		<affiliation jid='bob@example.org' affiliation='none'/></affiliations></pubsub></iq>`)
	e.fails(t, bob, toAlice("b4", "b"), errForbiddenXML)
	e.ok(t, alice, configureReq("c5", "wall", "pubsub#publish_model", "open"))
	e.ok(t, bob, toAlice("b5", "b"))
	got := e.ok(t, alice, itemsReq("i", "alice@example.org", "wall"))
	var ids []string
	for it := range got.Child(NS, "items").Children() {
		ids = append(ids, it.Attr("id"))
	}
	if strings.Join(ids, ",") != "b,c,d,a" {
		t.Errorf("items %v", ids)
	}
	// The requester's affiliations, as the owner sees them.
	got = e.ok(t, alice, `<iq type='get' id='f'><pubsub xmlns='http://jabber.org/protocol/pubsub'><affiliations node='wall'/></pubsub></iq>`)
	routertest.AssertXML(t, got, `<pubsub xmlns='http://jabber.org/protocol/pubsub'><affiliations node='wall'><affiliation node='wall' affiliation='owner'/></affiliations></pubsub>`)
}

// TestSessionEnd: what was learned of a resource goes with its session.
func TestSessionEnd(t *testing.T) {
	e := setup(t, Options{})
	s := e.bind(t, "bob@example.org/x")
	e.send(t, s, `<presence><c xmlns='http://jabber.org/protocol/caps' hash='md5' node='n' ver='v'/></presence>`)
	q := s.TakeOne(t)
	e.send(t, s, `<iq type='result' id='`+q.Attr("id")+`' to='bob@example.org'><query xmlns='http://jabber.org/protocol/disco#info'><feature var='f'/></query></iq>`)
	if _, ok := e.pep.caps.features(s.JID(), capsRef{hash: "md5", node: "n", ver: "v"}); !ok {
		t.Fatal("not learned")
	}
	e.r.SessionEnded(t.Context(), s)
	if _, ok := e.pep.caps.features(s.JID(), capsRef{hash: "md5", node: "n", ver: "v"}); ok {
		t.Error("kept after the session ended")
	}
}
