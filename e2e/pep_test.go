package e2e_test

import (
	"context"
	"crypto/sha1" //nolint:gosec // XEP-0115 verification strings
	"encoding/base64"
	"slices"
	"strings"
	"testing"
	"time"

	"parley.im/parley/config"
	"parley.im/parley/pubsub"
	"parley.im/parley/xmppcore"
)

// PEP (XEP-0163) as OMEMO (XEP-0384) uses it: device lists published with
// publish-options, notifications to contacts that ask for them through
// verified XEP-0115 caps, the last item for those who come online later,
// and all of it kept across a restart.

const (
	omemoDevices = "urn:xmpp:omemo:2:devices"
	omemoBundles = "urn:xmpp:omemo:2:bundles"
	omemoNS      = "urn:xmpp:omemo:2"
	pepCapsNode  = "https://parley.im/e2e"
)

// capsVerOf computes the XEP-0115 §5.1 verification string (SHA-1) of a
// client with the identity client/phone named E2E and these features,
// independently of the server's code.
func capsVerOf(features []string) string {
	s := "client/phone//E2E<"
	for _, f := range slices.Sorted(slices.Values(features)) {
		s += f + "<"
	}
	sum := sha1.Sum([]byte(s)) //nolint:gosec // XEP-0115 sha-1
	return base64.StdEncoding.EncodeToString(sum[:])
}

// capsPresence is available presence carrying caps for features.
func capsPresence(features []string) string {
	return `<presence><c xmlns='` + pubsub.NSCaps + `' hash='sha-1' node='` + pepCapsNode + `' ver='` + capsVerOf(features) + `'/></presence>`
}

// answerCaps waits for the server's disco#info query about the caps c
// announced (XEP-0115 §6.2: from c's own bare JID, for node#ver) and
// answers it with the features of answer.
func (c *client) answerCaps(features, answer []string) {
	c.t.Helper()
	ver := capsVerOf(features)
	q := c.take("the server's caps query", func(el *xmppcore.Element) bool {
		return el.Local == xmppcore.IQ && el.Attr("type") == "get" && el.Child(pubsub.NSDiscoInfo, "query") != nil
	})
	if q.Attr("from") != c.bare || q.Child(pubsub.NSDiscoInfo, "query").Attr("node") != pepCapsNode+"#"+ver {
		c.t.Errorf("%s: the caps query %s; want it from %s for %s#%s", c.jid, q, c.bare, pepCapsNode, ver)
	}
	var b strings.Builder
	b.WriteString(`<iq type='result' id='` + q.Attr("id") + `' to='` + q.Attr("from") + `'><query xmlns='` + pubsub.NSDiscoInfo +
		`' node='` + pepCapsNode + `#` + ver + `'><identity category='client' type='phone' name='E2E'/>`)
	for _, f := range answer {
		b.WriteString(`<feature var='` + f + `'/>`)
	}
	b.WriteString(`</query></iq>`)
	c.send(b.String())
}

// onlineWithCaps logs in, gets the roster, sends initial presence with
// caps for features and answers the server's query honestly; it returns
// what arrived up to the point where the server had the answer.
func onlineWithCaps(t *testing.T, c *client, features []string) []*xmppcore.Element {
	t.Helper()
	c.roster("")
	c.send(capsPresence(features))
	c.answerCaps(features, features)
	return c.sync()
}

// publishReq is a <pubsub/> publishing payload as item id to node, with
// publish-options var, value, ...
func publishReq(node, id, payload string, opts ...string) string {
	x := `<pubsub xmlns='` + pubsub.NS + `'><publish node='` + node + `'><item id='` + id + `'>` + payload + `</item></publish>`
	if len(opts) > 0 {
		x += `<publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>` +
			pubsub.NSPublishOptions + `</value></field>`
		for i := 0; i+1 < len(opts); i += 2 {
			x += `<field var='` + opts[i] + `'><value>` + opts[i+1] + `</value></field>`
		}
		x += `</x></publish-options>`
	}
	return x + `</pubsub>`
}

// pepEvent matches a notification from owner with the item of that ID of
// node.
func pepEvent(owner, node, id string) func(*xmppcore.Element) bool {
	return func(el *xmppcore.Element) bool {
		return el.Local == xmppcore.Message && el.Attr("from") == owner && pepItem(el, node, id) != nil
	}
}

// pepItem returns the <item/> of that ID of node in a notification.
func pepItem(el *xmppcore.Element, node, id string) *xmppcore.Element {
	ev := el.Child(pubsub.NSEvent, "event")
	if ev == nil {
		return nil
	}
	items := ev.Child(pubsub.NSEvent, "items")
	if items == nil || items.Attr("node") != node {
		return nil
	}
	for it := range items.Children() {
		if it.Is(pubsub.NSEvent, "item") && it.Attr("id") == id {
			return it
		}
	}
	return nil
}

// anyPEPEvent matches any pubsub notification.
func anyPEPEvent(el *xmppcore.Element) bool {
	return el.Local == xmppcore.Message && el.Child(pubsub.NSEvent, "event") != nil
}

// deviceIDs lists the device IDs of a device list notification or item.
func deviceIDs(it *xmppcore.Element) []string {
	var out []string
	if it == nil {
		return nil
	}
	if ds := it.Child(omemoNS, "devices"); ds != nil {
		for d := range ds.Children() {
			out = append(out, d.Attr("id"))
		}
	}
	return out
}

// pubsubItems returns the item IDs of owner's node as c reads them, or
// fails the test.
func (c *client) pubsubItems(owner, node string) []string {
	c.t.Helper()
	res := c.mustIQ("get", owner, `<pubsub xmlns='`+pubsub.NS+`'><items node='`+node+`'/></pubsub>`)
	var out []string
	for it := range res.Child(pubsub.NS, "pubsub").Child(pubsub.NS, "items").Children() {
		out = append(out, it.Attr("id"))
	}
	return out
}

// pubsubCondition returns the pubsub#errors condition of an error.
func pubsubCondition(el *xmppcore.Element) string {
	if e := el.Child("", "error"); e != nil {
		for ch := range e.Children() {
			if ch.Space == pubsub.NSErrors {
				return ch.Local
			}
		}
	}
	return ""
}

// TestOMEMODeviceList follows alice setting up OMEMO on her phone: her
// device list and bundles published with publish-options
// access_model=open (and max_items=max for the bundles). bob, a contact
// whose client announces +notify for device lists with a correct caps
// hash and answers the server's disco#info query, is notified; eve, a
// contact whose caps do not verify, and dave, a stranger, are not, but
// dave may fetch both nodes. carol, offline then, gets the list at her
// initial presence once her caps are verified; bob's second device at
// its initial presence at once (caps already known). Publishing with
// options the node does not have is refused with precondition-not-met
// and changes nothing.
func TestOMEMODeviceList(t *testing.T) {
	t.Parallel()
	srv := start(t, []string{"alice", "bob", "carol", "dave", "eve"})
	const aliceBare = "alice@localhost"
	notify := []string{"http://jabber.org/protocol/disco#info", omemoNS, omemoDevices + "+notify"}

	alice, _ := online(t, srv, "alice", "phone", "")
	bob, _ := online(t, srv, "bob", "phone", "")
	eve, _ := online(t, srv, "eve", "phone", "")
	dave, _ := online(t, srv, "dave", "phone", "")
	carol, _ := online(t, srv, "carol", "phone", "")
	subscribe(t, alice, bob)
	subscribe(t, alice, eve)
	subscribe(t, alice, carol)
	carol.close()
	alice.take("carol's unavailable presence", presence(carol.jid, "unavailable"))

	bob.send(capsPresence(notify))
	bob.answerCaps(notify, notify)
	bob.sync()
	// eve announces the same kind of client, but her answer does not hash
	// to her verification string: not trusted.
	evil := append(slices.Clone(notify), "urn:example:eve")
	eve.send(capsPresence(evil))
	eve.answerCaps(evil, append(slices.Clone(evil), "urn:example:not-announced"))
	eve.sync()
	alice.sync()

	list := `<devices xmlns='` + omemoNS + `'><device id='1001' label='phone'/></devices>`
	res := alice.mustIQ("set", "", publishReq(omemoDevices, "current", list, "pubsub#access_model", "open"))
	if it := res.Child(pubsub.NS, "pubsub").Child(pubsub.NS, "publish").Child(pubsub.NS, "item"); it == nil || it.Attr("id") != "current" {
		t.Errorf("publish answered with %s", res)
	}
	alice.mustIQ("set", "", publishReq(omemoBundles, "1001", `<bundle xmlns='`+omemoNS+`'><spk id='1'>c3Br</spk><ik>aWs=</ik></bundle>`,
		"pubsub#max_items", "max", "pubsub#access_model", "open"))

	// bob: the notification, a headline from alice's bare JID with the
	// replyto of XEP-0163 §4.3.2; once, and nothing about bundles (he did
	// not ask for them).
	n := bob.take("the device list notification", pepEvent(aliceBare, omemoDevices, "current"))
	if n.Attr("type") != "headline" || !slices.Equal(deviceIDs(pepItem(n, omemoDevices, "current")), []string{"1001"}) {
		t.Errorf("bob's notification: %s", n)
	}
	if a := n.Child(pubsub.NSAddress, "addresses"); a == nil || a.Child(pubsub.NSAddress, "address").Attr("jid") != alice.jid {
		t.Errorf("no replyto naming alice's phone in %s", n)
	}
	noneOf(t, "bob", "another notification", bob.sync(), anyPEPEvent)
	noneOf(t, "eve", "a notification (her caps did not verify)", eve.sync(), anyPEPEvent)
	noneOf(t, "dave", "a notification (no subscription)", dave.sync(), anyPEPEvent)

	// dave, a stranger, fetches both before writing to alice (open).
	if got := dave.pubsubItems(aliceBare, omemoDevices); !slices.Equal(got, []string{"current"}) {
		t.Errorf("the device list read by a stranger: %q", got)
	}
	if got := dave.pubsubItems(aliceBare, omemoBundles); !slices.Equal(got, []string{"1001"}) {
		t.Errorf("the bundles read by a stranger: %q", got)
	}

	// carol comes online later with caps the server has not seen: it asks
	// her, and once her answer is in, she gets the last item, with the
	// time it was published.
	carol = login(t, srv, "carol", "tablet")
	carolCaps := append(slices.Clone(notify), "urn:example:carol")
	got := onlineWithCaps(t, carol, carolCaps)
	last := filter(got, pepEvent(aliceBare, omemoDevices, "current"))
	if len(last) != 1 {
		t.Fatalf("carol at initial presence: %s; want alice's device list once", dump(got))
	}
	if d := last[0].Child(nsDelay, "delay"); d == nil || d.Attr("from") != aliceBare {
		t.Errorf("the last item at initial presence has no delay from alice: %s", last[0])
	}
	// bob's second device: caps known already, so no query, the item at
	// once.
	desk := login(t, srv, "bob", "desk")
	desk.roster("")
	desk.send(capsPresence(notify))
	got = desk.sync()
	if n := count(got, pepEvent(aliceBare, omemoDevices, "current")); n != 1 {
		t.Errorf("bob's desk at initial presence: %s; want the device list once", dump(got))
	}
	noneOf(t, "bob's desk", "a caps query for known caps", got, func(el *xmppcore.Element) bool {
		return el.Local == xmppcore.IQ && el.Attr("type") == "get"
	})

	// A second device of alice's adds itself: everyone asking is told.
	list2 := `<devices xmlns='` + omemoNS + `'><device id='1001' label='phone'/><device id='2002' label='desk'/></devices>`
	alice.mustIQ("set", "", publishReq(omemoDevices, "current", list2, "pubsub#access_model", "open"))
	for _, c := range []*client{bob, desk, carol} {
		n := c.take("the new device list", pepEvent(aliceBare, omemoDevices, "current"))
		if !slices.Equal(deviceIDs(pepItem(n, omemoDevices, "current")), []string{"1001", "2002"}) {
			t.Errorf("%s: the new device list: %s", c.jid, n)
		}
	}

	// Options the node does not have: conflict + precondition-not-met,
	// and nothing changes: still open, still the last list.
	res = alice.iq("set", "", publishReq(omemoDevices, "current", list, "pubsub#access_model", "presence"))
	if errorCondition(res) != "conflict" || pubsubCondition(res) != "precondition-not-met" {
		t.Errorf("publish-options that do not match: %s, want conflict with precondition-not-met", res)
	}
	res = dave.mustIQ("get", aliceBare, `<pubsub xmlns='`+pubsub.NS+`'><items node='`+omemoDevices+`'/></pubsub>`)
	if ids := deviceIDs(res.Child(pubsub.NS, "pubsub").Child(pubsub.NS, "items").Child(pubsub.NS, "item")); !slices.Equal(ids, []string{"1001", "2002"}) {
		t.Errorf("the device list after the refused publish: %s", res)
	}
	for _, c := range []*client{bob, desk, carol} {
		noneOf(t, c.jid, "a notification of the refused publish", c.sync(), anyPEPEvent)
	}
}

// TestRestartKeepsArchiveAndPEP: the archive and PEP nodes, with their
// items and configuration, survive a restart: the same messages under the
// same IDs, the device list still open to strangers and sent to a contact
// at initial presence (the caps cache is memory: the server asks again),
// private bookmarks still private.
func TestRestartKeepsArchiveAndPEP(t *testing.T) {
	t.Parallel()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		restartArchivePEP(t, func(*config.Config) {})
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		restartArchivePEP(t, withPostgres(t))
	})
}

func restartArchivePEP(t *testing.T, backend func(*config.Config)) {
	dir := t.TempDir()
	conf := func(c *config.Config) {
		c.DataDir = dir
		backend(c)
	}
	const aliceBare, bookmarks = "alice@localhost", "urn:xmpp:bookmarks:1"
	srv := start(t, []string{"alice", "bob", "dave"}, conf)
	alice, _ := online(t, srv, "alice", "phone", "")
	bob, _ := online(t, srv, "bob", "phone", "")
	subscribe(t, alice, bob)
	for _, b := range []string{"one", "two", "three"} {
		alice.send(`<message type='chat' to='bob@localhost'><body>` + b + `</body></message>`)
		alice.sync()
		bob.take(b, chat(b))
	}
	before := alice.queryMAM("")
	bobBefore := bob.queryMAM("")
	list := `<devices xmlns='` + omemoNS + `'><device id='1001'/></devices>`
	alice.mustIQ("set", "", publishReq(omemoDevices, "current", list, "pubsub#access_model", "open"))
	alice.mustIQ("set", "", publishReq(bookmarks, "room@conference.localhost",
		`<conference xmlns='urn:xmpp:bookmarks:1' name='Room' autojoin='true'/>`,
		"pubsub#persist_items", "true", "pubsub#access_model", "whitelist", "pubsub#max_items", "max", "pubsub#send_last_published_item", "never"))

	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	srv = start(t, nil, conf)

	laptop := login(t, srv, "alice", "laptop")
	after := laptop.queryMAM("")
	if !slices.Equal(after.ids, before.ids) || !slices.Equal(after.bodies(), []string{"one", "two", "three"}) {
		t.Errorf("alice's archive after the restart: %q %q, want %q %q", after.bodies(), after.ids, before.bodies(), before.ids)
	}
	// Paging still works across what was written before.
	if p := laptop.queryMAM(rsm(1, `<after>`+before.ids[0]+`</after>`)); !slices.Equal(p.ids, before.ids[1:2]) {
		t.Errorf("a page after the first entry: %q, want %q", p.ids, before.ids[1:2])
	}
	if got := laptop.pubsubItems(aliceBare, bookmarks); !slices.Equal(got, []string{"room@conference.localhost"}) {
		t.Errorf("alice's bookmarks after the restart: %q", got)
	}
	dave := login(t, srv, "dave", "phone")
	if got := dave.pubsubItems(aliceBare, omemoDevices); !slices.Equal(got, []string{"current"}) {
		t.Errorf("the device list read by a stranger after the restart: %q", got)
	}
	res := dave.iq("get", aliceBare, `<pubsub xmlns='`+pubsub.NS+`'><items node='`+bookmarks+`'/></pubsub>`)
	if pubsubCondition(res) != "closed-node" {
		t.Errorf("alice's bookmarks read by a stranger after the restart: %s, want closed-node", res)
	}
	// The node's configuration too: the same options meet the
	// precondition, others do not.
	laptop.mustIQ("set", "", publishReq(omemoDevices, "current", list, "pubsub#access_model", "open"))
	if res := laptop.iq("set", "", publishReq(omemoDevices, "current", list, "pubsub#access_model", "presence")); pubsubCondition(res) != "precondition-not-met" {
		t.Errorf("mismatched publish-options after the restart: %s", res)
	}

	// bob comes back with +notify caps: asked again, then the last item.
	bob = login(t, srv, "bob", "phone")
	bobBack := bob.queryMAM("")
	if !slices.Equal(bobBack.ids, bobBefore.ids) {
		t.Errorf("bob's archive after the restart: %q, want %q", bobBack.ids, bobBefore.ids)
	}
	notify := []string{"http://jabber.org/protocol/disco#info", omemoDevices + "+notify", "urn:example:restart"}
	got := onlineWithCaps(t, bob, notify)
	if n := count(got, pepEvent(aliceBare, omemoDevices, "current")); n != 1 {
		t.Errorf("bob at initial presence after the restart: %s; want alice's device list once", dump(got))
	}
}

// TestPublishOnlyAffiliation checks what XEP-0060 §4.1 (table
// "Affiliations and their Privileges", and the definition of the
// affiliation) gives a publish-only entity, which Parley advertises
// (pubsub#publish-only-affiliation): it may publish, but neither retrieve
// items nor receive notifications, and SHOULD delete only the items it
// published. bob, a contact of alice with a presence subscription, is made
// publish-only on a node of hers with the presence access model.
func TestPublishOnlyAffiliation(t *testing.T) {
	t.Parallel()
	srv := start(t, []string{"alice", "bob"})
	const aliceBare, node = "alice@localhost", "urn:example:sensor"
	alice, _ := online(t, srv, "alice", "phone", "")
	bob, _ := online(t, srv, "bob", "phone", "")
	subscribe(t, alice, bob)
	notify := []string{"http://jabber.org/protocol/disco#info", node + "+notify"}
	bob.send(capsPresence(notify))
	bob.answerCaps(notify, notify)
	bob.sync()
	alice.mustIQ("set", "", publishReq(node, "by-alice", `<reading xmlns='urn:example:sensor'>1</reading>`))
	alice.mustIQ("set", "", `<pubsub xmlns='`+pubsub.NSOwner+`'><affiliations node='`+node+`'>`+
		`<affiliation jid='bob@localhost' affiliation='publish-only'/></affiliations></pubsub>`)
	bob.sync()

	// Publishing works.
	bob.mustIQ("set", aliceBare, publishReq(node, "by-bob", `<reading xmlns='urn:example:sensor'>2</reading>`))
	// No notification of it, nor of alice's next item.
	alice.mustIQ("set", "", publishReq(node, "by-alice-2", `<reading xmlns='urn:example:sensor'>3</reading>`))
	noneOf(t, "bob (publish-only)", "a notification", bob.sync(), anyPEPEvent)
	// No items.
	if res := bob.iq("get", aliceBare, `<pubsub xmlns='`+pubsub.NS+`'><items node='`+node+`'/></pubsub>`); res.Attr("type") != "error" {
		t.Errorf("a publish-only entity retrieved the items: %s", res)
	}
	// Only its own items to retract.
	res := bob.iq("set", aliceBare, `<pubsub xmlns='`+pubsub.NS+`'><retract node='`+node+`'><item id='by-alice-2'/></retract></pubsub>`)
	if res.Attr("type") != "error" {
		t.Errorf("a publish-only entity retracted alice's item: %s", res)
	}
}

// TestSubscriptionNotifications checks XEP-0060 §13.14, "Notification of
// Subscription State Changes" (feature pubsub#subscription-notifications,
// which Parley advertises), and §8.8.4: when a subscription changes, the
// service SHOULD send the (new, former or denied) subscriber an <event/>
// with a <subscription/> child. Here the owner cancels bob's subscription
// (§8.8.2) and then subscribes him again.
func TestSubscriptionNotifications(t *testing.T) {
	t.Parallel()
	srv := start(t, []string{"alice", "bob"})
	const aliceBare, node = "alice@localhost", "urn:example:news"
	alice, _ := online(t, srv, "alice", "phone", "")
	bob, _ := online(t, srv, "bob", "phone", "")
	alice.mustIQ("set", "", `<pubsub xmlns='`+pubsub.NS+`'><create node='`+node+`'/><configure>`+
		`<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>`+pubsub.NSNodeConfig+`</value></field>`+
		`<field var='pubsub#access_model'><value>open</value></field></x></configure></pubsub>`)
	bob.mustIQ("set", aliceBare, `<pubsub xmlns='`+pubsub.NS+`'><subscribe node='`+node+`' jid='bob@localhost'/></pubsub>`)
	bob.sync()

	isSubscriptionEvent := func(state string) func(*xmppcore.Element) bool {
		return func(el *xmppcore.Element) bool {
			ev := el.Child(pubsub.NSEvent, "event")
			if el.Local != xmppcore.Message || ev == nil {
				return false
			}
			s := ev.Child(pubsub.NSEvent, "subscription")
			return s != nil && s.Attr("node") == node && s.Attr("jid") == "bob@localhost" && s.Attr("subscription") == state
		}
	}
	for _, state := range []string{"none", "subscribed"} {
		alice.mustIQ("set", "", `<pubsub xmlns='`+pubsub.NSOwner+`'><subscriptions node='`+node+`'>`+
			`<subscription jid='bob@localhost' subscription='`+state+`'/></subscriptions></pubsub>`)
		if got := bob.sync(); count(got, isSubscriptionEvent(state)) != 1 {
			t.Errorf("bob after the owner set his subscription to %s: %s; want a <subscription subscription='%s'/> event", state, dump(got), state)
		}
	}
}
