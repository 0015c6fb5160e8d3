package bookmarks_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"parley.im/parley/bookmarks"
	"parley.im/parley/internal/xmpptest"
	"parley.im/parley/module"
	"parley.im/parley/xmppcore"
)

// start runs a server with the module added, and logs alice in.
func start(t *testing.T) (*xmpptest.Server, *module.Registry, *xmpptest.Client) {
	t.Helper()
	s := xmpptest.Start(t)
	reg := module.NewRegistry(module.Env{Router: s.Router(), Store: s.Store()})
	if err := reg.Add(bookmarks.New(s.Store())); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = reg.Stop(ctx)
	})
	s.AddUser(t, "alice", "pw")
	c, _ := xmpptest.Login(t, s, "alice", "pw", "phone")
	return s, reg, c
}

func result(t *testing.T, c *xmpptest.Client, id string) *xmppcore.Element {
	t.Helper()
	el := c.Expect(func(el *xmppcore.Element) bool { return el.Local == "iq" && el.Attr("id") == id })
	if el.Attr("type") != "result" {
		t.Fatalf("%s: %s", id, el)
	}
	return el
}

func items(t *testing.T, c *xmpptest.Client, node string) *xmppcore.Element {
	t.Helper()
	c.Send(`<iq type='get' id='items-` + node + `'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='` + node + `'/></pubsub></iq>`)
	return result(t, c, "items-"+node).Child("http://jabber.org/protocol/pubsub", "pubsub").Child("http://jabber.org/protocol/pubsub", "items")
}

func privateGet(t *testing.T, c *xmpptest.Client) *xmppcore.Element {
	t.Helper()
	c.Send(`<iq type='get' id='pget'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query></iq>`)
	return result(t, c, "pget").Child("jabber:iq:private", "query").Child(bookmarks.NSLegacy, "storage")
}

func TestFeatures(t *testing.T) {
	_, reg, _ := start(t)
	f := reg.Features(module.Account)
	for _, want := range []string{bookmarks.FeatureCompat, bookmarks.FeatureCompatPEP} {
		found := false
		for _, g := range f {
			found = found || g == want
		}
		if !found {
			t.Errorf("%s not advertised: %v", want, f)
		}
	}
}

func TestPrivateToPEP(t *testing.T) {
	_, _, c := start(t)
	c.Send(`<iq type='set' id='p1'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'>` +
		`<conference jid='a@muc.localhost' name='A' autojoin='true'><nick>al</nick></conference>` +
		`<conference jid='b@muc.localhost'/><url name='x' url='https://x'/></storage></query></iq>`)
	result(t, c, "p1")
	it := items(t, c, bookmarks.NS)
	got := map[string]*xmppcore.Element{}
	for i := range it.Children() {
		got[i.Attr("id")] = i.Child(bookmarks.NS, "conference")
	}
	if len(got) != 2 || got["a@muc.localhost"] == nil || got["b@muc.localhost"] == nil {
		t.Fatalf("native items: %s", it)
	}
	a := got["a@muc.localhost"]
	if a.Attr("name") != "A" || a.Attr("autojoin") != "true" || a.ChildText(bookmarks.NS, "nick") != "al" {
		t.Errorf("converted a: %s", a)
	}
	legacy := items(t, c, bookmarks.NSLegacy)
	if !strings.Contains(legacy.String(), "b@muc.localhost") {
		t.Errorf("legacy PEP: %s", legacy)
	}

	// Dropping a room retracts its item.
	c.Send(`<iq type='set' id='p2'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'>` +
		`<conference jid='b@muc.localhost'/></storage></query></iq>`)
	result(t, c, "p2")
	it = items(t, c, bookmarks.NS)
	if n := it.ChildCount(); n != 1 || it.FirstChild().Attr("id") != "b@muc.localhost" {
		t.Errorf("after removal: %s", it)
	}
}

func TestPEPToPrivate(t *testing.T) {
	_, _, c := start(t)
	c.Send(`<iq type='set' id='n1'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='urn:xmpp:bookmarks:1'>` +
		`<item id='r@muc.localhost'><conference xmlns='urn:xmpp:bookmarks:1' name='R' autojoin='true'><nick>me</nick></conference></item></publish>` +
		`<publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>` +
		`<field var='pubsub#persist_items'><value>true</value></field><field var='pubsub#access_model'><value>whitelist</value></field></x></publish-options></pubsub></iq>`)
	result(t, c, "n1")
	s := privateGet(t, c)
	conf := s.Child(bookmarks.NSLegacy, "conference")
	if conf == nil || conf.Attr("jid") != "r@muc.localhost" || conf.Attr("name") != "R" || conf.ChildText(bookmarks.NSLegacy, "nick") != "me" {
		t.Fatalf("private XML: %s", s)
	}
	if l := items(t, c, bookmarks.NSLegacy); !strings.Contains(l.String(), "r@muc.localhost") {
		t.Errorf("legacy PEP: %s", l)
	}

	c.Send(`<iq type='set' id='n2'><pubsub xmlns='http://jabber.org/protocol/pubsub'><retract node='urn:xmpp:bookmarks:1' notify='true'>` +
		`<item id='r@muc.localhost'/></retract></pubsub></iq>`)
	result(t, c, "n2")
	if s := privateGet(t, c); s.ChildCount() != 0 {
		t.Errorf("private XML after retraction: %s", s)
	}
}

func TestLegacyPEPToNative(t *testing.T) {
	_, _, c := start(t)
	c.Send(`<iq type='set' id='l1'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='storage:bookmarks'>` +
		`<item id='current'><storage xmlns='storage:bookmarks'><conference jid='z@muc.localhost' name='Z'/></storage></item></publish></pubsub></iq>`)
	result(t, c, "l1")
	if it := items(t, c, bookmarks.NS); it.ChildCount() != 1 || it.FirstChild().Attr("id") != "z@muc.localhost" {
		t.Errorf("native: %s", it)
	}
	if s := privateGet(t, c); s.Child(bookmarks.NSLegacy, "conference") == nil {
		t.Errorf("private: %s", s)
	}
}

// A failed request is answered as it was, under the client's id, and
// converts nothing.
func TestErrorPassesThrough(t *testing.T) {
	_, _, c := start(t)
	c.Send(`<iq type='set' id='bad'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='urn:xmpp:bookmarks:1'>` +
		`<item id='r@muc.localhost'><conference xmlns='urn:xmpp:bookmarks:1'/></item></publish>` +
		`<publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>` +
		`<field var='pubsub#bogus'><value>1</value></field></x></publish-options></pubsub></iq>`)
	el := c.Expect(func(el *xmppcore.Element) bool { return el.Attr("id") == "bad" })
	if el.Attr("type") != "error" {
		t.Fatalf("expected an error: %s", el)
	}
	if s := privateGet(t, c); s.ChildCount() != 0 {
		t.Errorf("private XML: %s", s)
	}
}
