package e2e_test

import (
	"slices"
	"strconv"
	"testing"

	"parley.im/parley/carbons"
	"parley.im/parley/mam"
	"parley.im/parley/xmppcore"
)

// History on every device: carbons (XEP-0280) between the resources of
// one account while a contact chats with it, the archive (XEP-0313) read
// by a device that was not there, and offline messages and the archive
// agreeing on one stanza-id (XEP-0359). Namespaces come from the modules;
// docs_test.go checks the same behaviour with the XEPs' literal strings.

// carbonOf returns the message inside a carbon copy of kind ("sent" or
// "received"), nil when el is not one. It checks that the copy comes from
// the account's bare JID.
func carbonOf(t *testing.T, el *xmppcore.Element, kind, bare string) *xmppcore.Element {
	t.Helper()
	w := el.Child(carbons.NS, kind)
	if el.Local != xmppcore.Message || w == nil {
		return nil
	}
	if el.Attr("from") != bare {
		t.Errorf("a %s carbon from %q, want %s: %s", kind, el.Attr("from"), bare, el)
	}
	fwd := w.Child(carbons.NSForward, "forwarded")
	if fwd == nil || fwd.Child("", xmppcore.Message) == nil {
		t.Errorf("a %s carbon without a forwarded jabber:client message: %s", kind, el)
		return nil
	}
	return fwd.Child("", xmppcore.Message)
}

// isCarbon matches a carbon copy of kind of the message with that body.
func isCarbon(kind, body string) func(*xmppcore.Element) bool {
	return func(el *xmppcore.Element) bool {
		w := el.Child(carbons.NS, kind)
		if el.Local != xmppcore.Message || w == nil || w.Child(carbons.NSForward, "forwarded") == nil {
			return false
		}
		m := w.Child(carbons.NSForward, "forwarded").Child("", xmppcore.Message)
		return m != nil && m.ChildText("", "body") == body
	}
}

// anyCarbon matches any carbon copy.
func anyCarbon(el *xmppcore.Element) bool {
	return el.Local == xmppcore.Message && (el.Child(carbons.NS, "sent") != nil || el.Child(carbons.NS, "received") != nil)
}

// archivedID returns the id of the XEP-0359 stanza-id by 'by' in el, ""
// without one; more than one fails the test.
func archivedID(t *testing.T, el *xmppcore.Element, by string) string {
	t.Helper()
	id, n := "", 0
	for ch := range el.Children() {
		if ch.Is(mam.NSSID, "stanza-id") && ch.Attr("by") == by {
			id = ch.Attr("id")
			n++
		}
	}
	if n > 1 {
		t.Errorf("%d stanza-ids by %s in %s", n, by, el)
	}
	return id
}

// mamPage is one answer to an archive query.
type mamPage struct {
	ids      []string            // result IDs, in the order received
	msgs     []*xmppcore.Element // the forwarded messages
	complete bool
	first    string
	last     string
	count    string
}

func (p mamPage) bodies() []string {
	var out []string
	for _, m := range p.msgs {
		out = append(out, m.ChildText("", "body"))
	}
	return out
}

// queryMAM queries the client's own archive with inner as the content of
// <query/>, and reads the results and the answer. Everything else that
// arrives meanwhile goes to the backlog.
func (c *client) queryMAM(inner string) mamPage {
	c.t.Helper()
	id := c.nextID("mam")
	qid := "q-" + id
	c.send(`<iq type='set' id='` + id + `'><query xmlns='` + mam.NS + `' queryid='` + qid + `'>` + inner + `</query></iq>`)
	var p mamPage
	for {
		el := c.take("archive results for "+id, func(el *xmppcore.Element) bool {
			if el.Attr("id") == id && el.Local == xmppcore.IQ {
				return true
			}
			r := el.Child(mam.NS, "result")
			return el.Local == xmppcore.Message && r != nil && r.Attr("queryid") == qid
		})
		if el.Local == xmppcore.IQ {
			fin := el.Child(mam.NS, "fin")
			if el.Attr("type") != "result" || fin == nil {
				c.t.Fatalf("%s: archive query %s answered with %s", c.jid, inner, el)
			}
			set := fin.Child(mam.NSRSM, "set")
			p.complete = fin.Attr("complete") == "true"
			p.first, p.last, p.count = set.ChildText(mam.NSRSM, "first"), set.ChildText(mam.NSRSM, "last"), set.ChildText(mam.NSRSM, "count")
			return p
		}
		if el.Attr("from") != c.bare {
			c.t.Errorf("%s: an archive result from %q, want %s", c.jid, el.Attr("from"), c.bare)
		}
		r := el.Child(mam.NS, "result")
		fwd := r.Child(mam.NSForward, "forwarded")
		var m *xmppcore.Element
		if fwd != nil && fwd.Child(mam.NSDelay, "delay") != nil {
			m = fwd.Child("", xmppcore.Message)
		}
		if m == nil {
			c.t.Errorf("%s: an archive result without delay and jabber:client message: %s", c.jid, el)
			m = xmppcore.New("", xmppcore.Message)
		}
		p.ids = append(p.ids, r.Attr("id"))
		p.msgs = append(p.msgs, m)
	}
}

// rsm is an RSM set: max and the elements of extra.
func rsm(max int, extra string) string {
	return `<set xmlns='` + mam.NSRSM + `'><max>` + strconv.Itoa(max) + `</max>` + extra + `</set>`
}

// TestCarbonsBetweenResources has alice on her phone and her desk, both
// with carbons, and a tablet without, while bob chats with her: each of
// her carbon-enabled resources sees the whole conversation once, as the
// message itself or as a copy (a message to the bare JID that reaches
// several resources is copied to none); <private/> and <no-copy/> keep a
// message to the resource that sent or got it; disabling stops the
// copies; the tablet never gets one.
func TestCarbonsBetweenResources(t *testing.T) {
	t.Parallel()
	srv := start(t, []string{"alice", "bob"})
	const aliceBare = "alice@localhost"
	phone, _ := online(t, srv, "alice", "phone", "<priority>1</priority>")
	desk, _ := online(t, srv, "alice", "desk", "")
	tablet, _ := online(t, srv, "alice", "tablet", "")
	bob, _ := online(t, srv, "bob", "desk", "")
	subscribe(t, phone, bob)
	desk.sync()
	tablet.sync()
	for _, c := range []*client{phone, desk} {
		c.mustIQ("set", "", `<enable xmlns='`+carbons.NS+`'/>`)
		c.mustIQ("set", "", `<enable xmlns='`+carbons.NS+`'/>`) // twice is no error
	}

	// bob writes to alice's bare JID: the phone (priority 1) gets it, the
	// desk a received copy with the same stanza-id, the tablet nothing.
	bob.send(`<message type='chat' id='b1' to='alice@localhost'><body>hi alice</body></message>`)
	bob.sync()
	got := phone.take("b1", chat("hi alice"))
	sid := archivedID(t, got, aliceBare)
	cp := carbonOf(t, desk.take("the received copy of b1", isCarbon("received", "hi alice")), "received", aliceBare)
	if cp.Attr("from") != bob.jid || cp.Attr("to") != aliceBare || cp.Attr("id") != "b1" || archivedID(t, cp, aliceBare) != sid || sid == "" {
		t.Errorf("the desk's copy of b1: %s; want it from %s with stanza-id %q", cp, bob.jid, sid)
	}

	// The phone answers: bob gets it without alice's own stanza-id; the
	// desk a sent copy that carries it.
	phone.send(`<message type='chat' id='a1' to='bob@localhost/desk'><body>hi bob</body></message>`)
	phone.sync()
	if got := bob.take("a1", chat("hi bob")); archivedID(t, got, aliceBare) != "" {
		t.Errorf("bob sees alice's stanza-id: %s", got)
	}
	cp = carbonOf(t, desk.take("the sent copy of a1", isCarbon("sent", "hi bob")), "sent", aliceBare)
	if cp.Attr("from") != phone.jid || cp.Attr("to") != bob.jid || archivedID(t, cp, aliceBare) == "" {
		t.Errorf("the desk's copy of a1: %s; want it from the phone, to bob, with alice's stanza-id", cp)
	}
	noneOf(t, "the phone", "a copy of its own message", phone.sync(), anyCarbon)

	// The desk writes too: the phone gets the sent copy.
	desk.send(`<message type='chat' id='a2' to='bob@localhost'><body>from the desk</body></message>`)
	desk.sync()
	bob.take("a2", chat("from the desk"))
	carbonOf(t, phone.take("the sent copy of a2", isCarbon("sent", "from the desk")), "sent", aliceBare)

	// Private, both ways: <private/> with <no-copy/> (XEP-0280 §6, §9),
	// and the XEP-0334 hint alone.
	phone.send(`<message type='chat' id='p1' to='bob@localhost'><body>just us</body><private xmlns='` + carbons.NS + `'/><no-copy xmlns='urn:xmpp:hints'/></message>`)
	phone.send(`<message type='chat' id='p2' to='bob@localhost'><body>no copy</body><no-copy xmlns='urn:xmpp:hints'/></message>`)
	phone.sync()
	bob.take("p1", chat("just us"))
	bob.take("p2", chat("no copy"))
	bob.send(`<message type='chat' id='p3' to='alice@localhost'><body>private back</body><private xmlns='` + carbons.NS + `'/></message>`)
	bob.sync()
	phone.take("p3", chat("private back"))
	noneOf(t, "the desk", "a copy of a private message", desk.sync(), anyCarbon)

	// With the phone at the others' priority, a message to the bare JID
	// goes to all three (RFC 6121 §8.5.2.1.1): each has it once, and no
	// copy besides.
	phone.send(`<presence/>`)
	phone.sync()
	bob.sync()
	bob.send(`<message type='chat' id='b3' to='alice@localhost'><body>to both</body></message>`)
	bob.sync()
	for _, c := range []*client{phone, desk, tablet} {
		got := c.sync()
		if n, k := count(got, chat("to both")), count(got, anyCarbon); n != 1 || k != 0 {
			t.Errorf("%s got a message to the bare JID at equal priorities %d times and %d copies: %s", c.jid, n, k, dump(got))
		}
	}

	// Disabled on the desk: no more copies there; the phone still gets its.
	desk.mustIQ("set", "", `<disable xmlns='`+carbons.NS+`'/>`)
	desk.send(`<message type='chat' id='a3' to='bob@localhost'><body>after disable</body></message>`)
	desk.sync()
	bob.take("a3", chat("after disable"))
	carbonOf(t, phone.take("the sent copy of a3", isCarbon("sent", "after disable")), "sent", aliceBare)
	bob.send(`<message type='chat' id='b2' to='alice@localhost/phone'><body>still there?</body></message>`)
	bob.sync()
	phone.take("b2", chat("still there?"))
	noneOf(t, "the desk", "a copy after disabling", desk.sync(), anyCarbon)

	// The tablet never enabled carbons: it saw nothing but the message
	// to all three.
	noneOf(t, "the tablet", "a carbon copy or a message of the conversation", tablet.sync(), func(el *xmppcore.Element) bool {
		return el.Local == xmppcore.Message
	})
	// Nothing was copied twice.
	noneOf(t, "the phone", "another copy", phone.sync(), anyCarbon)
}

// conversation is one message of TestArchiveOnANewDevice as alice's desk
// saw it live.
type conversation struct {
	body, sid string
}

// TestArchiveOnANewDevice: alice chats with bob on her phone while her
// desk follows with carbons; then she logs in on a laptop that was never
// there and reads the archive in pages (RSM after, then before from the
// end, flipped): every message in order, with the stanza-id the desk saw
// live, and bob's archive has his side of it.
func TestArchiveOnANewDevice(t *testing.T) {
	t.Parallel()
	srv := start(t, []string{"alice", "bob"})
	const aliceBare, bobBare = "alice@localhost", "bob@localhost"
	phone, _ := online(t, srv, "alice", "phone", "<priority>1</priority>")
	desk, _ := online(t, srv, "alice", "desk", "")
	bob, _ := online(t, srv, "bob", "desk", "")
	subscribe(t, phone, bob)
	desk.sync()
	desk.mustIQ("set", "", `<enable xmlns='`+carbons.NS+`'/>`)

	var live []conversation // as the desk saw them: sent and received copies
	var bobSaw []string     // the stanza-ids bob got, for his messages received
	for i := range 7 {
		body := "message " + strconv.Itoa(i+1)
		if i%2 == 0 {
			phone.send(`<message type='chat' to='bob@localhost'><body>` + body + `</body></message>`)
			phone.sync()
			got := bob.take(body, chat(body))
			bobSaw = append(bobSaw, archivedID(t, got, bobBare))
			cp := carbonOf(t, desk.take("the sent copy of "+body, isCarbon("sent", body)), "sent", aliceBare)
			live = append(live, conversation{body, archivedID(t, cp, aliceBare)})
		} else {
			bob.send(`<message type='chat' to='alice@localhost'><body>` + body + `</body></message>`)
			bob.sync()
			phone.take(body, chat(body))
			cp := carbonOf(t, desk.take("the received copy of "+body, isCarbon("received", body)), "received", aliceBare)
			live = append(live, conversation{body, archivedID(t, cp, aliceBare)})
		}
	}
	for _, c := range live {
		if c.sid == "" {
			t.Fatalf("the desk saw %q without stanza-id: %v", c.body, live)
		}
	}

	laptop := login(t, srv, "alice", "laptop")
	// Forward, three at a time.
	var got []conversation
	after := ""
	for n := 0; ; n++ {
		extra := ""
		if after != "" {
			extra = `<after>` + after + `</after>`
		}
		p := laptop.queryMAM(rsm(3, extra))
		if p.count != "7" {
			t.Errorf("page %d: count %q, want 7", n, p.count)
		}
		for i, m := range p.msgs {
			got = append(got, conversation{m.ChildText("", "body"), p.ids[i]})
		}
		if p.complete {
			break
		}
		if n == 3 || p.last == "" {
			t.Fatalf("paging forward: page %d incomplete: %+v", n, p)
		}
		after = p.last
	}
	if !slices.Equal(got, live) {
		t.Errorf("the archive paged forward:\n%v\nwant what the desk saw live:\n%v", got, live)
	}

	// Backward from the end with flipped pages: newest first, page by
	// page, until the start.
	got = nil
	before := `<before/>`
	for n := 0; ; n++ {
		p := laptop.queryMAM(rsm(3, before) + `<flip-page/>`)
		for i, m := range p.msgs {
			got = append(got, conversation{m.ChildText("", "body"), p.ids[i]})
		}
		if p.complete {
			break
		}
		if n == 3 || len(p.ids) == 0 {
			t.Fatalf("paging backward: page %d incomplete: %+v", n, p)
		}
		// Flipped, the page's oldest entry is its last; RSM first and
		// last stay in archive order.
		if p.first != p.ids[len(p.ids)-1] {
			t.Errorf("flipped page: RSM first %q, want the oldest result %q", p.first, p.ids[len(p.ids)-1])
		}
		before = `<before>` + p.first + `</before>`
	}
	slices.Reverse(got)
	if !slices.Equal(got, live) {
		t.Errorf("the archive paged backward, flipped, reversed:\n%v\nwant:\n%v", got, live)
	}

	// The forwarded messages are the conversation: from and to as sent.
	p := laptop.queryMAM(rsm(2, ""))
	if m := p.msgs[0]; m.Attr("from") != phone.jid || m.Attr("to") != bobBare || m.Attr("type") != "chat" {
		t.Errorf("the first archived message: %s", m)
	}
	if m := p.msgs[1]; m.Attr("from") != bob.jid || m.Attr("to") != aliceBare {
		t.Errorf("the second archived message: %s", m)
	}
	// The results went to the laptop only.
	for _, c := range []*client{phone, desk} {
		noneOf(t, c.jid, "archive results for the laptop", c.sync(), func(el *xmppcore.Element) bool { return el.Child(mam.NS, "result") != nil })
	}

	// bob's archive: the same seven, with the IDs he saw for the
	// messages he received.
	bp := bob.queryMAM(rsm(10, ""))
	var bodies []string
	for _, c := range live {
		bodies = append(bodies, c.body)
	}
	if !slices.Equal(bp.bodies(), bodies) {
		t.Errorf("bob's archive: %q, want %q", bp.bodies(), bodies)
	}
	for i, sid := range bobSaw {
		if bp.ids[2*i] != sid {
			t.Errorf("bob's archive entry of %q is %q, but he got it with stanza-id %q", bodies[2*i], bp.ids[2*i], sid)
		}
	}
}

// TestOfflineMessageArchivedOnce: messages sent to bob while he is offline
// (to his bare JID, and a chat to a full JID of his that is not bound) are
// archived once for him, not again when offline storage takes them, and
// delivered once, at his next login, with the stanza-id of that archive
// entry; a device that then syncs from the archive finds the same IDs,
// so it can tell them for messages it already has.
func TestOfflineMessageArchivedOnce(t *testing.T) {
	t.Parallel()
	srv := start(t, []string{"alice", "bob"})
	const bobBare = "bob@localhost"
	alice, _ := online(t, srv, "alice", "phone", "")
	bodies := []string{"while you were out", "and another one", "to your phone"}
	alice.send(`<message type='chat' to='bob@localhost'><body>` + bodies[0] + `</body></message>`)
	alice.send(`<message type='chat' to='bob@localhost'><body>` + bodies[1] + `</body></message>`)
	alice.send(`<message type='chat' to='bob@localhost/phone'><body>` + bodies[2] + `</body></message>`)
	noneOf(t, "alice", "an error", alice.sync(), func(el *xmppcore.Element) bool { return el.Attr("type") == "error" })
	if n, err := srv.Store().CountOffline(ctx(t), host, "bob"); err != nil || n != 3 {
		t.Fatalf("offline messages for bob: %d, %v; want 3", n, err)
	}

	bob, got := online(t, srv, "bob", "phone", "")
	delivered := filter(got, anyBody)
	var gotBodies, sids []string
	for _, m := range delivered {
		gotBodies = append(gotBodies, m.ChildText("", "body"))
		sids = append(sids, archivedID(t, m, bobBare))
		delayStamp(t, m)
	}
	if !slices.Equal(gotBodies, bodies) || slices.Contains(sids, "") {
		t.Fatalf("bob's offline messages at login: %s; want %q, each with a stanza-id", dump(delivered), bodies)
	}

	// The archive has each once, under the ID it was delivered with.
	p := bob.queryMAM("")
	if !slices.Equal(p.bodies(), bodies) || !slices.Equal(p.ids, sids) {
		t.Errorf("bob's archive: %q with IDs %q; want %q with the delivered stanza-ids %q", p.bodies(), p.ids, bodies, sids)
	}
	if p := alice.queryMAM(""); !slices.Equal(p.bodies(), bodies) {
		t.Errorf("alice's archive: %q, want %q once each", p.bodies(), bodies)
	}

	// Delivered once: not at the next login; a new device syncing from
	// the archive gets the same IDs.
	bob.close()
	again, got := online(t, srv, "bob", "phone", "")
	noneOf(t, "bob", "the offline messages a second time", got, anyBody)
	laptop := login(t, srv, "bob", "laptop")
	if p := laptop.queryMAM(""); !slices.Equal(p.ids, sids) {
		t.Errorf("the archive from bob's laptop: IDs %q, want %q", p.ids, sids)
	}
	noneOf(t, "bob's phone", "anything more", again.sync(), anyBody)
}
