package pubsub

import (
	"testing"

	"parley.im/parley/internal/routertest"
)

func publishReq(id, node, itemID, payload, options string) string {
	x := `<iq type='set' id='` + id + `'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='` + node + `'>`
	if itemID != "" {
		x += `<item id='` + itemID + `'>` + payload + `</item>`
	} else {
		x += `<item>` + payload + `</item>`
	}
	x += `</publish>`
	if options != "" {
		x += `<publish-options>` + options + `</publish-options>`
	}
	return x + `</pubsub></iq>`
}

// options is a publish-options form: var, value, var, value...
func options(pairs ...string) string {
	x := `<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>`
	for i := 0; i+1 < len(pairs); i += 2 {
		x += `<field var='` + pairs[i] + `'><value>` + pairs[i+1] + `</value></field>`
	}
	return x + `</x>`
}

const deviceList = `<list xmlns='eu.siacs.conversations.axolotl'><device id='31415'/></list>`

// TestOMEMO follows Conversations setting up OMEMO (XEP-0384, legacy
// namespace): the device list and the bundle published with
// pubsub#access_model=open. A contact whose client asks for the device
// list through caps is notified; a stranger is not, but may fetch both.
func TestOMEMO(t *testing.T) {
	e := setup(t, Options{})
	e.friends(t, "alice", "bob")
	phone, _ := e.online(t, "alice@example.org/phone", conversations)
	// alice's other resources: one whose caps show no interest, one
	// without caps (interest unknown: her own data, so it is sent).
	aliceDesk, _ := e.online(t, "alice@example.org/desk", plain)
	aliceBot := e.bind(t, "alice@example.org/bot")
	e.send(t, aliceBot, `<presence/>`)
	bobPhone, _ := e.online(t, "bob@example.org/phone", conversations)
	bobDesk, _ := e.online(t, "bob@example.org/desk", plain)
	carol, _ := e.online(t, "carol@example.org/phone", conversations)

	got := e.ok(t, phone, publishReq("p1", nodeDevices, "current", deviceList, options("pubsub#access_model", "open")))
	routertest.AssertXML(t, got, `<pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='`+nodeDevices+`'><item id='current'/></publish></pubsub>`)
	event := `<event xmlns='http://jabber.org/protocol/pubsub#event'><items node='` + nodeDevices + `'><item id='current'>` + deviceList + `</item></items></event>`
	assertNotifications(t, phone, `<message from='alice@example.org' to='alice@example.org/phone' type='headline'>`+event+`</message>`)
	assertNotifications(t, bobPhone, `<message from='alice@example.org' to='bob@example.org/phone' type='headline'>`+event+
		`<addresses xmlns='http://jabber.org/protocol/address'><address type='replyto' jid='alice@example.org/phone'/></addresses></message>`)
	assertNotifications(t, bobDesk)
	assertNotifications(t, carol)
	assertNotifications(t, aliceDesk)
	assertNotifications(t, aliceBot, `<message from='alice@example.org' to='alice@example.org/bot' type='headline'>`+event+`</message>`)

	// The bundle: a node per device, open too.
	bundle := `<bundle xmlns='eu.siacs.conversations.axolotl'><signedPreKeyPublic signedPreKeyId='1'>BASE64</signedPreKeyPublic></bundle>`
	e.ok(t, phone, publishReq("p2", nodeBundle, "current", bundle, options("pubsub#access_model", "open")))
	assertNotifications(t, phone) // nobody asked for bundles with +notify
	assertNotifications(t, bobPhone)

	// A stranger fetches both, as a client does before a first message.
	for _, tc := range []struct{ node, payload string }{{nodeDevices, deviceList}, {nodeBundle, bundle}} {
		got := e.ok(t, carol, `<iq type='get' id='g' to='alice@example.org'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='`+tc.node+`'/></pubsub></iq>`)
		routertest.AssertXML(t, got, `<pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='`+tc.node+`'><item id='current'>`+tc.payload+`</item></items></pubsub>`)
	}

	// Publishing again with the same options meets the precondition.
	e.ok(t, phone, publishReq("p3", nodeDevices, "current", deviceList, options("pubsub#access_model", "open")))
	assertNotifications(t, bobPhone, `<message from='alice@example.org' to='bob@example.org/phone' type='headline'>`+event+
		`<addresses xmlns='http://jabber.org/protocol/address'><address type='replyto' jid='alice@example.org/phone'/></addresses></message>`)
	phone.Take()

	// OMEMO 2 (XEP-0384 §5.3.2): one node of bundles, one item per device,
	// max_items=max with access_model=open.
	opts := options("pubsub#max_items", "max", "pubsub#access_model", "open")
	e.ok(t, phone, publishReq("p4", nodeBundles2, "31415", `<bundle xmlns='urn:xmpp:omemo:2'/>`, opts))
	e.ok(t, phone, publishReq("p5", nodeBundles2, "27182", `<bundle xmlns='urn:xmpp:omemo:2'/>`, opts))
	got = e.ok(t, carol, `<iq type='get' id='g2' to='alice@example.org'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='`+nodeBundles2+`'/></pubsub></iq>`)
	routertest.AssertXML(t, got, `<pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='`+nodeBundles2+`'>
		<item id='27182'><bundle xmlns='urn:xmpp:omemo:2'/></item><item id='31415'><bundle xmlns='urn:xmpp:omemo:2'/></item></items></pubsub>`)
	got = e.ok(t, carol, `<iq type='get' id='g3' to='alice@example.org'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='`+nodeBundles2+`'><item id='31415'/></items></pubsub></iq>`)
	routertest.AssertXML(t, got, `<pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='`+nodeBundles2+`'>
		<item id='31415'><bundle xmlns='urn:xmpp:omemo:2'/></item></items></pubsub>`)
	assertNotifications(t, carol)
}

// TestPreconditionNotMet follows a client whose node exists with another
// access model: the publish fails with precondition-not-met, the client
// reconfigures the node (XEP-0384 §5.3.2) and publishes again.
func TestPreconditionNotMet(t *testing.T) {
	e := setup(t, Options{})
	phone := e.bind(t, "alice@example.org/phone")
	e.ok(t, phone, publishReq("p1", nodeDevices, "current", deviceList, "")) // created with the defaults
	precondition := func(text string) string {
		return `<error type='cancel'><conflict xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>
			<precondition-not-met xmlns='http://jabber.org/protocol/pubsub#errors'/>
			<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>` + text + `</text></error>`
	}
	e.fails(t, phone, publishReq("p2", nodeDevices, "current", deviceList, options("pubsub#access_model", "open")),
		precondition(`pubsub#access_model is [&quot;presence&quot;], not [&quot;open&quot;]`))
	e.fails(t, phone, publishReq("p3", nodeDevices, "current", deviceList, options("pubsub#x-unknown", "1")),
		precondition(`pubsub#x-unknown is not a known option`))
	e.fails(t, phone, publishReq("p4", nodeDevices, "current", deviceList, options("pubsub#max_items", "2")),
		precondition(`pubsub#max_items is [&quot;1&quot;], not [&quot;2&quot;]`))
	// Equal values spelled otherwise meet it.
	e.ok(t, phone, publishReq("p5", nodeDevices, "current", deviceList, options("pubsub#persist_items", "1", "pubsub#max_items", "1", "pubsub#deliver_payloads", "true")))

	// Reconfigure, then publish.
	form := e.ok(t, phone, `<iq type='get' id='c1'><pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><configure node='`+nodeDevices+`'/></pubsub></iq>`)
	if form.Child(NSOwner, "configure").Child(NSData, "x") == nil {
		t.Fatalf("no form in %s", form)
	}
	e.ok(t, phone, `<iq type='set' id='c2'><pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><configure node='`+nodeDevices+`'>
		<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#node_config</value></field>
		<field var='pubsub#access_model'><value>open</value></field></x></configure></pubsub></iq>`)
	e.ok(t, phone, publishReq("p6", nodeDevices, "current", deviceList, options("pubsub#access_model", "open")))

	// Auto-create with a value the option does not take fails and creates
	// nothing.
	e.fails(t, phone, publishReq("p7", "new-node", "i", deviceList, options("pubsub#access_model", "authorize")),
		precondition(`pubsub#access_model: &quot;authorize&quot; is not one of [&quot;open&quot; &quot;presence&quot; &quot;roster&quot; &quot;whitelist&quot;]`))
	e.fails(t, phone, `<iq type='get' id='g'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='new-node'/></pubsub></iq>`,
		`<error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>`)
	// A form of another FORM_TYPE is a bad request.
	e.fails(t, phone, publishReq("p8", nodeDevices, "current", deviceList,
		`<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>urn:example</value></field></x>`),
		`<error type='modify'><bad-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>
			<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>publish-options need a form of FORM_TYPE http://jabber.org/protocol/pubsub#publish-options</text></error>`)
	phone.Take()
}
