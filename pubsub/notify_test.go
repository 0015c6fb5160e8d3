package pubsub

import (
	"testing"

	"parley.im/parley/blocking"
	"parley.im/parley/internal/routertest"
	"parley.im/parley/storage"
	"parley.im/parley/xmppcore"
)

const bookmark = `<conference xmlns='urn:xmpp:bookmarks:1' name='The Play' autojoin='true'><nick>JC</nick></conference>`

// TestPrivateStorage stores bookmarks as XEP-0402 does, following
// XEP-0223: persist_items=true and access_model=whitelist as
// publish-options. Only the owner's resources hear of them or read them.
func TestPrivateStorage(t *testing.T) {
	e := setup(t, Options{})
	e.friends(t, "alice", "bob")
	balcony, _ := e.online(t, "alice@example.org/balcony", gajim)
	chamber, _ := e.online(t, "alice@example.org/chamber", conversations)
	bob, _ := e.online(t, "bob@example.org/pc", gajim)

	opts := options("pubsub#persist_items", "true", "pubsub#access_model", "whitelist",
		"pubsub#max_items", "max", "pubsub#send_last_published_item", "never")
	e.ok(t, balcony, publishReq("b1", nodeBookmark, "theplay@conference.shakespeare.lit", bookmark, opts))
	e.ok(t, balcony, publishReq("b2", nodeBookmark, "orchard@conference.shakespeare.lit", bookmark, opts))
	event := func(id string) string {
		return `<message from='alice@example.org' to='alice@example.org/chamber' type='headline'>
			<event xmlns='http://jabber.org/protocol/pubsub#event'><items node='` + nodeBookmark + `'>
			<item id='` + id + `'>` + bookmark + `</item></items></event></message>`
	}
	assertNotifications(t, chamber, event("theplay@conference.shakespeare.lit"), event("orchard@conference.shakespeare.lit"))
	if got := balcony.Take(); len(got) != 2 {
		t.Errorf("the publishing resource got %v", got)
	}
	assertNotifications(t, bob)

	// All items are kept (max_items=max) and only alice reads them.
	got := e.ok(t, chamber, `<iq type='get' id='g1'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='`+nodeBookmark+`'/></pubsub></iq>`)
	if got.Child(NS, "items").ChildCount() != 2 {
		t.Errorf("items: %s", got)
	}
	e.fails(t, bob, itemsReq("g2", "alice@example.org", nodeBookmark), errClosed)
	e.fails(t, bob, `<iq type='get' id='g3' to='alice@example.org'><query xmlns='http://jabber.org/protocol/disco#items' node='`+nodeBookmark+`'/></iq>`, errNotFoundXML)
	e.fails(t, bob, `<iq type='set' id='g4' to='alice@example.org'><pubsub xmlns='http://jabber.org/protocol/pubsub'><subscribe node='`+nodeBookmark+`' jid='bob@example.org'/></pubsub></iq>`, errClosed)

	// The configuration is what the options asked for.
	form := e.ok(t, chamber, `<iq type='get' id='c'><pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><configure node='`+nodeBookmark+`'/></pubsub></iq>`)
	for v, want := range map[string]string{"pubsub#access_model": "whitelist", "pubsub#persist_items": "true",
		"pubsub#max_items": "256", "pubsub#send_last_published_item": "never"} {
		if got := fieldValue(form.Child(NSOwner, "configure").Child(NSData, "x"), v); got != want {
			t.Errorf("%s = %q, want %q", v, got, want)
		}
	}

	// send_last_published_item=never: a resource coming online gets none.
	_, last := e.online(t, "alice@example.org/garden", gajim)
	if len(last) != 0 {
		t.Errorf("last items of a never node: %v", last)
	}
}

// fieldValue returns the first value of a form field.
func fieldValue(x *xmppcore.Element, v string) string {
	if x == nil {
		return "(no form)"
	}
	for f := range x.Children() {
		if f.Attr("var") == v {
			return f.ChildText(NSData, "value")
		}
	}
	return "(no field)"
}

const tune = `<tune xmlns='http://jabber.org/protocol/tune'><artist>Yes</artist></tune>`

// TestLastItemAtLogin: a resource coming online with caps asking for a
// node gets the node's last item, from its own account and from contacts
// sharing their presence with it (XEP-0163 §4.3.3), with a delay stamp;
// strangers, and nodes it does not ask for, send nothing.
func TestLastItemAtLogin(t *testing.T) {
	e := setup(t, Options{})
	e.friends(t, "alice", "bob")
	e.subscribe(t, "carol", "alice@example.org", storage.SubTo) // carol thinks she may; alice did not agree
	alice := e.bind(t, "alice@example.org/desk")
	e.ok(t, alice, publishReq("p1", nodeTune, "t1", `<tune xmlns='http://jabber.org/protocol/tune'><artist>Old</artist></tune>`, ""))
	e.ok(t, alice, publishReq("p2", nodeTune, "t2", tune, ""))
	e.ok(t, alice, publishReq("p3", nodeAvatar, "a", `<metadata xmlns='urn:xmpp:avatar:metadata'/>`, ""))
	alice.Take()

	event := `<event xmlns='http://jabber.org/protocol/pubsub#event'><items node='` + nodeTune + `'><item id='t2'>` + tune + `</item></items></event>`
	delay := `<delay xmlns='urn:xmpp:delay' from='alice@example.org' stamp='X'/>`
	// bob's Gajim asks for tunes and avatars: both, last items only.
	_, got := e.online(t, "bob@example.org/pc", gajim)
	s := routertest.NewSession(jidOf("bob@example.org/pc"))
	for _, el := range got {
		s.Send(el)
	}
	assertNotifications(t, s,
		`<message from='alice@example.org' to='bob@example.org/pc' type='headline'>`+event+delay+`</message>`,
		`<message from='alice@example.org' to='bob@example.org/pc' type='headline'><event xmlns='http://jabber.org/protocol/pubsub#event'>
			<items node='`+nodeAvatar+`'><item id='a'><metadata xmlns='urn:xmpp:avatar:metadata'/></item></items></event>`+delay+`</message>`)
	// A plain client gets nothing; so does carol, without a subscription.
	if _, got := e.online(t, "bob@example.org/plain", plain); len(got) != 0 {
		t.Errorf("plain client got %v", got)
	}
	if _, got := e.online(t, "carol@example.org/pc", gajim); len(got) != 0 {
		t.Errorf("carol got %v", got)
	}
	// alice's own new resource gets her own last items.
	_, got = e.online(t, "alice@example.org/laptop", gajim)
	if len(got) != 2 || got[0].Attr("to") != "alice@example.org/laptop" {
		t.Errorf("alice's new resource got %v", got)
	}
	// Known caps: the next login gets its items at once, without a query.
	s2 := e.bind(t, "bob@example.org/pc2")
	e.send(t, s2, `<presence>`+gajim.caps()+`</presence>`)
	if got := s2.Take(); len(got) != 2 || got[0].Local != "message" {
		t.Errorf("second login got %v", got)
	}
	// Presence that is not initial sends nothing again.
	e.send(t, s2, `<presence><show>away</show>`+gajim.caps()+`</presence>`)
	if got := s2.Take(); len(got) != 0 {
		t.Errorf("a presence update got %v", got)
	}
}

// TestCapsVerification: a verification string is trusted only once a
// disco#info answer hashes to it (XEP-0115 §5.4). A wrong answer is not
// cached; the same string from another resource is asked again.
func TestCapsVerification(t *testing.T) {
	e := setup(t, Options{})
	e.friends(t, "alice", "bob")
	alice := e.bind(t, "alice@example.org/desk")
	e.ok(t, alice, publishReq("p1", nodeTune, "t1", tune, ""))
	alice.Take()

	// bob's client claims gajim's string but answers with other features
	// (a poisoning attempt): no last item, no notification.
	liar := e.bind(t, "bob@example.org/liar")
	e.send(t, liar, `<presence>`+gajim.caps()+`</presence>`)
	q := liar.TakeOne(t)
	if q.Attr("type") != "get" || q.Child(NSDiscoInfo, "query") == nil {
		t.Fatalf("no caps query: %s", q)
	}
	wrong := client{identity: gajim.identity, node: gajim.node, features: append([]string{"urn:example:evil"}, gajim.features...)}
	info := routertest.Parse(t, wrong.info())
	info.SetAttr("node", gajim.node+"#"+gajim.ver())
	e.send(t, liar, `<iq type='result' id='`+q.Attr("id")+`' to='bob@example.org'>`+info.String()+`</iq>`)
	assertNotifications(t, liar)
	e.ok(t, alice, publishReq("p2", nodeTune, "t2", tune, ""))
	assertNotifications(t, liar)
	alice.Take()
	// Asked once: the same resource is not asked again for that string.
	e.send(t, liar, `<presence><show>dnd</show>`+gajim.caps()+`</presence>`)
	assertNotifications(t, liar)

	// An honest resource with the same string is asked, and trusted.
	honest, got := e.online(t, "bob@example.org/honest", gajim)
	if len(got) != 1 {
		t.Fatalf("honest resource got %v", got)
	}
	// The liar's string is now known good (it was the right one); the
	// liar gets notifications from now on like anyone advertising it.
	e.ok(t, alice, publishReq("p3", nodeTune, "t3", tune, ""))
	alice.Take()
	if len(honest.Take()) != 1 || len(liar.Take()) != 1 {
		t.Error("notifications after verification")
	}

	// A reply from another JID with the right id is not taken as the
	// answer (and not claimed: the router drops the stray result).
	carol := e.bind(t, "carol@example.org/x")
	e.subscribe(t, "carol", "bob@example.org", storage.SubBoth)
	other := client{identity: "client/pc//Other", node: "https://example.net/other", features: []string{nodeTune + "+notify"}}
	s := e.bind(t, "bob@example.org/other")
	e.send(t, s, `<presence>`+other.caps()+`</presence>`)
	q = s.TakeOne(t)
	e.send(t, carol, `<iq type='result' id='`+q.Attr("id")+`' to='bob@example.org'>`+other.info()+`</iq>`)
	e.send(t, s, `<iq type='result' id='`+q.Attr("id")+`' to='bob@example.org'>`+other.info()+`</iq>`)
	if got := s.Take(); len(got) != 1 {
		t.Errorf("after the real answer: %v", got)
	}

	// An error answer is not trusted either.
	errc := client{identity: "client/pc//Err", node: "https://example.net/err", features: []string{nodeTune + "+notify"}}
	s = e.bind(t, "bob@example.org/err")
	e.send(t, s, `<presence>`+errc.caps()+`</presence>`)
	q = s.TakeOne(t)
	e.send(t, s, `<iq type='error' id='`+q.Attr("id")+`' to='bob@example.org'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`)
	assertNotifications(t, s)

	// An ill-formed answer (a feature twice) is not trusted, even if the
	// hash would match the features deduplicated.
	dup := client{identity: "client/pc//Dup", node: "https://example.net/dup", features: []string{nodeTune + "+notify"}}
	s = e.bind(t, "bob@example.org/dup")
	e.send(t, s, `<presence>`+dup.caps()+`</presence>`)
	q = s.TakeOne(t)
	bad := routertest.Parse(t, dup.info())
	bad.Append(routertest.Parse(t, `<feature xmlns='http://jabber.org/protocol/disco#info' var='`+nodeTune+`+notify'/>`))
	e.send(t, s, `<iq type='result' id='`+q.Attr("id")+`' to='bob@example.org'>`+bad.String()+`</iq>`)
	assertNotifications(t, s)
}

// TestUnsupportedHash: caps with a hash function the server does not
// know are asked for and used for that JID only.
func TestUnsupportedHash(t *testing.T) {
	e := setup(t, Options{})
	e.friends(t, "alice", "bob")
	alice := e.bind(t, "alice@example.org/desk")
	e.ok(t, alice, publishReq("p1", nodeTune, "t1", tune, ""))
	alice.Take()
	s := e.bind(t, "bob@example.org/md5")
	e.send(t, s, `<presence><c xmlns='http://jabber.org/protocol/caps' hash='md5' node='https://example.net/m' ver='abc'/></presence>`)
	q := s.TakeOne(t)
	e.send(t, s, `<iq type='result' id='`+q.Attr("id")+`' to='bob@example.org'><query xmlns='http://jabber.org/protocol/disco#info' node='https://example.net/m#abc'>
		<feature var='`+nodeTune+`+notify'/></query></iq>`)
	if got := s.Take(); len(got) != 1 {
		t.Fatalf("last item: %v", got)
	}
	// Another resource with the same string is asked on its own.
	s2 := e.bind(t, "bob@example.org/md5b")
	e.send(t, s2, `<presence><c xmlns='http://jabber.org/protocol/caps' hash='md5' node='https://example.net/m' ver='abc'/></presence>`)
	if q := s2.TakeOne(t); q.Local != "iq" {
		t.Fatalf("no query: %s", q)
	}
	// Legacy caps (no hash) are ignored.
	s3 := e.bind(t, "bob@example.org/legacy")
	e.send(t, s3, `<presence><c xmlns='http://jabber.org/protocol/caps' node='https://example.net/l' ver='1.0' ext='x'/></presence>`)
	assertNotifications(t, s3)
}

// TestRetractPurgeDelete: the owner's interested resources and contacts
// hear of retractions (notify='true' or pubsub#notify_retract), purges
// and deletions.
func TestRetractPurgeDelete(t *testing.T) {
	e := setup(t, Options{})
	e.friends(t, "alice", "bob")
	alice, _ := e.online(t, "alice@example.org/desk", gajim)
	bob, _ := e.online(t, "bob@example.org/pc", gajim)
	carol, _ := e.online(t, "carol@example.org/pc", gajim)
	e.ok(t, alice, publishReq("p1", nodeTune, "t1", tune, options("pubsub#max_items", "10")))
	e.ok(t, alice, publishReq("p2", nodeTune, "t2", tune, ""))
	alice.Take()
	bob.Take()

	e.ok(t, alice, `<iq type='set' id='r1'><pubsub xmlns='http://jabber.org/protocol/pubsub'><retract node='`+nodeTune+`' notify='true'><item id='t1'/></retract></pubsub></iq>`)
	retract := `<event xmlns='http://jabber.org/protocol/pubsub#event'><items node='` + nodeTune + `'><retract id='t1'/></items></event>`
	assertNotifications(t, alice, `<message from='alice@example.org' to='alice@example.org/desk' type='headline'>`+retract+`</message>`)
	assertNotifications(t, bob, `<message from='alice@example.org' to='bob@example.org/pc' type='headline'>`+retract+`</message>`)
	assertNotifications(t, carol)
	e.fails(t, alice, `<iq type='set' id='r2'><pubsub xmlns='http://jabber.org/protocol/pubsub'><retract node='`+nodeTune+`'><item id='t1'/></retract></pubsub></iq>`, errNotFoundXML)
	e.fails(t, bob, `<iq type='set' id='r3' to='alice@example.org'><pubsub xmlns='http://jabber.org/protocol/pubsub'><retract node='`+nodeTune+`'><item id='t2'/></retract></pubsub></iq>`, errForbiddenXML)

	// Without notify_retract and without notify='true': silence.
	e.ok(t, alice, configureReq("c1", nodeTune, "pubsub#notify_retract", "0"))
	e.ok(t, alice, publishReq("p3", nodeTune, "t3", tune, ""))
	alice.Take()
	bob.Take()
	e.ok(t, alice, `<iq type='set' id='r4'><pubsub xmlns='http://jabber.org/protocol/pubsub'><retract node='`+nodeTune+`'><item id='t3'/></retract></pubsub></iq>`)
	assertNotifications(t, bob)
	e.ok(t, alice, configureReq("c2", nodeTune, "pubsub#notify_retract", "1"))

	e.ok(t, alice, `<iq type='set' id='u1'><pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><purge node='`+nodeTune+`'/></pubsub></iq>`)
	purge := `<event xmlns='http://jabber.org/protocol/pubsub#event'><purge node='` + nodeTune + `'/></event>`
	assertNotifications(t, bob, `<message from='alice@example.org' to='bob@example.org/pc' type='headline'>`+purge+`</message>`)
	assertNotifications(t, alice, `<message from='alice@example.org' to='alice@example.org/desk' type='headline'>`+purge+`</message>`)
	got := e.ok(t, alice, itemsReq("i1", "alice@example.org", nodeTune))
	routertest.AssertXML(t, got, `<pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='`+nodeTune+`'/></pubsub>`)

	e.ok(t, alice, `<iq type='set' id='d1'><pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><delete node='`+nodeTune+`'/></pubsub></iq>`)
	del := `<event xmlns='http://jabber.org/protocol/pubsub#event'><delete node='` + nodeTune + `'/></event>`
	assertNotifications(t, bob, `<message from='alice@example.org' to='bob@example.org/pc' type='headline'>`+del+`</message>`)
	assertNotifications(t, alice, `<message from='alice@example.org' to='alice@example.org/desk' type='headline'>`+del+`</message>`)
	assertNotifications(t, carol)
	e.fails(t, alice, itemsReq("i2", "alice@example.org", nodeTune), errNotFoundXML)
	e.fails(t, alice, `<iq type='set' id='d2'><pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><delete node='`+nodeTune+`'/></pubsub></iq>`, errNotFoundXML)
	e.fails(t, alice, `<iq type='set' id='d3'><pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><purge node='`+nodeTune+`'/></pubsub></iq>`, errNotFoundXML)
}

// TestBlocked: XEP-0163 §4.3.2 says no notifications to a contact the
// owner blocked; the blocking module stops them on the owner's behalf.
func TestBlocked(t *testing.T) {
	e := setup(t, Options{})
	if err := e.reg.Add(blocking.New(e.store, blocking.Options{})); err != nil {
		t.Fatal(err)
	}
	e.friends(t, "alice", "bob")
	alice, _ := e.online(t, "alice@example.org/desk", gajim)
	bob, _ := e.online(t, "bob@example.org/pc", gajim)
	e.ok(t, alice, `<iq type='set' id='b'><block xmlns='urn:xmpp:blocking'><item jid='bob@example.org'/></block></iq>`)
	alice.Take()
	bob.Take()
	e.ok(t, alice, publishReq("p1", nodeTune, "t1", tune, ""))
	assertNotifications(t, bob)
	if got := alice.Take(); len(got) != 1 {
		t.Errorf("alice got %v", got)
	}
	_, got := e.online(t, "bob@example.org/pc2", gajim)
	if len(got) != 0 {
		t.Errorf("blocked contact got last items %v", got)
	}
}
