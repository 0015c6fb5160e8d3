package roster

import (
	"context"

	"strconv"
	"strings"
	"testing"

	"mellium.im/xmpp/jid"

	"parley.im/parley/internal/routertest"
	"parley.im/parley/module"
	"parley.im/parley/router"
	"parley.im/parley/storage"
	"parley.im/parley/storage/sqlite"
	"parley.im/parley/xmppcore"
)

const (
	alice = "alice@example.org"
	host  = "example.org"
)

type env struct {
	r       *router.Router
	reg     *module.Registry
	ros     *Roster
	store   *sqlite.Store
	phone   *routertest.Session // alice/phone
	laptop  *routertest.Session // alice/laptop
	removed []storage.RosterItem
}

func setup(t *testing.T, opts ...Option) *env {
	t.Helper()
	store := openStore(t, alice, "bob@example.org")
	r := router.New(router.Config{Hosts: []string{host}, AccountExists: store.AccountExists})
	reg := module.NewRegistry(module.Env{Router: r})
	e := &env{r: r, reg: reg, store: store}
	e.ros = New(store, opts...)
	e.ros.OnRemove(func(_ context.Context, h, u string, old storage.RosterItem) {
		if h != host || u != "alice" {
			t.Errorf("remove hook for %s@%s", u, h)
		}
		e.removed = append(e.removed, old)
	})
	if err := reg.Add(e.ros); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Stop(context.Background()) })
	e.phone = routertest.Bind(t, r, alice+"/phone")
	e.laptop = routertest.Bind(t, r, alice+"/laptop")
	return e
}

// send routes req from s.
func (e *env) send(t *testing.T, s *routertest.Session, req string) {
	t.Helper()
	e.r.Route(t.Context(), routertest.Stanza(t, s, req))
}

// put stores an item directly, as presence processing would.
func (e *env) put(t *testing.T, it storage.RosterItem) int64 {
	t.Helper()
	_, v, err := e.store.UpdateRosterItem(t.Context(), host, "alice", it.JID, func(*storage.RosterItem) (*storage.RosterItem, error) {
		return &it, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// version is alice's roster version as a string.
func (e *env) version(t *testing.T) string {
	t.Helper()
	_, v, err := e.store.RosterItems(t.Context(), host, "alice")
	if err != nil {
		t.Fatal(err)
	}
	return strconv.FormatInt(v, 10)
}

// assertPush checks a roster push, whatever its generated id.
func assertPush(t *testing.T, got *xmppcore.Element, to, query string) {
	t.Helper()
	if got == nil || !strings.HasPrefix(got.Attr("id"), "push-") {
		t.Fatalf("not a push: %v", got)
	}
	c := got.ShallowClone()
	c.RemoveAttr("id")
	routertest.AssertXML(t, c, `<iq type='set' to='`+to+`'>`+query+`</iq>`)
}

func errorReply(id, cond, typ, text string) string {
	s := `<iq type='error' id='` + id + `' from='alice@example.org' to='alice@example.org/phone'><error type='` + typ + `'><` + cond +
		` xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>`
	if text != "" {
		s += `<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>` + text + `</text>`
	}
	return s + `</error></iq>`
}

func TestGetFullRoster(t *testing.T) {
	e := setup(t)
	e.put(t, storage.RosterItem{JID: "bob@example.org", Name: "Bob", Subscription: storage.SubBoth, Groups: []string{"Friends", "Work"}})
	e.put(t, storage.RosterItem{JID: "carol@example.net", Subscription: storage.SubNone, PendingOut: true})
	// Only a pending inbound request: not in the roster (RFC 6121 §3.1.3).
	e.put(t, storage.RosterItem{JID: "mallory@example.com", Subscription: storage.SubNone, PendingIn: true})
	// Pending inbound on an item the user named: shown, without a trace of it.
	e.put(t, storage.RosterItem{JID: "dave@example.org", Name: "Dave", Subscription: storage.SubTo, PendingIn: true})
	e.put(t, storage.RosterItem{JID: "erin@example.org", Subscription: storage.SubNone, Approved: true})

	e.send(t, e.phone, `<iq type='get' id='g1'><query xmlns='jabber:iq:roster'/></iq>`)
	routertest.AssertXML(t, e.phone.TakeOne(t), `<iq type='result' id='g1' to='alice@example.org/phone'>
		<query xmlns='jabber:iq:roster'>
			<item jid='bob@example.org' name='Bob' subscription='both'><group>Friends</group><group>Work</group></item>
			<item jid='carol@example.net' subscription='none' ask='subscribe'/>
			<item jid='dave@example.org' name='Dave' subscription='to'/>
			<item jid='erin@example.org' subscription='none' approved='true'/>
		</query></iq>`)

	// Addressed to the own bare JID: the same, answered from it.
	e.send(t, e.phone, `<iq type='get' id='g2' to='alice@example.org'><query xmlns='jabber:iq:roster'/></iq>`)
	got := e.phone.TakeOne(t)
	if got.Attr("from") != alice || got.Attr("type") != "result" || got.FirstChild().ChildCount() != 4 {
		t.Fatalf("get to own bare JID: %v", got)
	}
}

func TestGetEmpty(t *testing.T) {
	e := setup(t)
	e.send(t, e.phone, `<iq type='get' id='g1'><query xmlns='jabber:iq:roster'/></iq>`)
	routertest.AssertXML(t, e.phone.TakeOne(t), `<iq type='result' id='g1' to='alice@example.org/phone'><query xmlns='jabber:iq:roster'/></iq>`)
	e.send(t, e.phone, `<iq type='get' id='g2'><query xmlns='jabber:iq:roster' ver=''/></iq>`)
	routertest.AssertXML(t, e.phone.TakeOne(t), `<iq type='result' id='g2' to='alice@example.org/phone'><query xmlns='jabber:iq:roster' ver='0'/></iq>`)
}

// A set is answered, then pushed to every interested resource (the
// requester included), and to no other.
func TestSetPushesToInterestedOnly(t *testing.T) {
	e := setup(t)
	e.send(t, e.phone, `<iq type='get' id='g'><query xmlns='jabber:iq:roster'/></iq>`)
	e.phone.Take()

	e.send(t, e.phone, `<iq type='set' id='s1'><query xmlns='jabber:iq:roster'>
		<item jid='Bob@Example.org' name='Bobby'><group>Friends</group></item></query></iq>`)
	got := e.phone.Take()
	if len(got) != 2 {
		t.Fatalf("phone got %d stanzas, want result and push: %v", len(got), got)
	}
	routertest.AssertXML(t, got[0], `<iq type='result' id='s1' to='alice@example.org/phone'/>`)
	assertPush(t, got[1], "alice@example.org/phone", `<query xmlns='jabber:iq:roster'>
		<item jid='bob@example.org' name='Bobby' subscription='none'><group>Friends</group></item></query>`)
	if l := e.laptop.Take(); len(l) != 0 {
		t.Fatalf("laptop never asked for the roster but got %v", l)
	}

	// The laptop asks (with versioning): from then on it gets pushes, with ver.
	e.send(t, e.laptop, `<iq type='get' id='g'><query xmlns='jabber:iq:roster' ver=''/></iq>`)
	e.laptop.Take()
	e.send(t, e.phone, `<iq type='set' id='s2'><query xmlns='jabber:iq:roster'>
		<item jid='bob@example.org' name='Bob'/></query></iq>`)
	const item = `<item jid='bob@example.org' name='Bob' subscription='none'/>`
	got = e.phone.Take()
	if len(got) != 2 {
		t.Fatalf("phone got %v", got)
	}
	assertPush(t, got[1], "alice@example.org/phone", `<query xmlns='jabber:iq:roster'>`+item+`</query>`)
	v := e.version(t)
	assertPush(t, e.laptop.TakeOne(t), "alice@example.org/laptop", `<query xmlns='jabber:iq:roster' ver='`+v+`'>`+item+`</query>`)

	// Name and groups are stored as set; an identical set still pushes.
	it, err := e.store.RosterItem(t.Context(), host, "alice", "bob@example.org")
	if err != nil || it.Name != "Bob" || len(it.Groups) != 0 {
		t.Fatalf("stored %+v, %v", it, err)
	}
	e.send(t, e.laptop, `<iq type='set' id='s3'><query xmlns='jabber:iq:roster'><item jid='bob@example.org' name='Bob'/></query></iq>`)
	if got := e.laptop.Take(); len(got) != 2 {
		t.Fatalf("identical set: laptop got %v", got)
	} else {
		assertPush(t, got[1], "alice@example.org/laptop", `<query xmlns='jabber:iq:roster' ver='`+v+`'>`+item+`</query>`)
	}
	e.phone.Take()

	// A session that ends is no longer interested; a new session bound to
	// the same full JID is not interested until it asks.
	e.r.SessionEnded(t.Context(), e.laptop)
	laptop2 := routertest.Bind(t, e.r, alice+"/laptop")
	e.r.SessionBound(t.Context(), laptop2)
	e.send(t, e.phone, `<iq type='set' id='s4'><query xmlns='jabber:iq:roster'><item jid='bob@example.org'/></query></iq>`)
	if got := laptop2.Take(); len(got) != 0 {
		t.Fatalf("new laptop session got %v", got)
	}
	if got := e.laptop.Take(); len(got) != 0 {
		t.Fatalf("ended laptop session got %v", got)
	}
	e.ros.mu.Lock()
	n := len(e.ros.interested)
	e.ros.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d interested sessions remembered, want 1 (phone)", n)
	}
}

// Subscription states are presence's business: a set keeps them whatever
// the client says.
func TestSetKeepsSubscription(t *testing.T) {
	e := setup(t)
	e.put(t, storage.RosterItem{JID: "bob@example.org", Subscription: storage.SubFrom, PendingOut: true})
	e.put(t, storage.RosterItem{JID: "carol@example.org", Subscription: storage.SubNone, PendingIn: true})
	e.send(t, e.phone, `<iq type='get' id='g'><query xmlns='jabber:iq:roster'/></iq>`)
	e.phone.Take()
	e.send(t, e.phone, `<iq type='set' id='s1'><query xmlns='jabber:iq:roster'>
		<item jid='bob@example.org' subscription='both' ask='unsubscribe' approved='true' name='B'/></query></iq>`)
	got := e.phone.Take()
	if len(got) != 2 {
		t.Fatalf("got %v", got)
	}
	assertPush(t, got[1], alice+"/phone", `<query xmlns='jabber:iq:roster'>
		<item jid='bob@example.org' name='B' subscription='from' ask='subscribe'/></query>`)
	// Naming a contact whose request is pending shows the item.
	e.send(t, e.phone, `<iq type='set' id='s2'><query xmlns='jabber:iq:roster'><item jid='carol@example.org' name='C'/></query></iq>`)
	got = e.phone.Take()
	if len(got) != 2 {
		t.Fatalf("got %v", got)
	}
	assertPush(t, got[1], alice+"/phone", `<query xmlns='jabber:iq:roster'><item jid='carol@example.org' name='C' subscription='none'/></query>`)
	it, _ := e.store.RosterItem(t.Context(), host, "alice", "carol@example.org")
	if !it.PendingIn || it.Subscription != storage.SubNone {
		t.Fatalf("set lost the pending request: %+v", it)
	}
}

func TestRemove(t *testing.T) {
	e := setup(t)
	e.put(t, storage.RosterItem{JID: "bob@example.org", Name: "Bob", Subscription: storage.SubBoth})
	e.send(t, e.laptop, `<iq type='get' id='g'><query xmlns='jabber:iq:roster' ver='0'/></iq>`)
	e.laptop.Take()
	e.send(t, e.phone, `<iq type='set' id='r1'><query xmlns='jabber:iq:roster'>
		<item jid='bob@example.org' subscription='remove'/></query></iq>`)
	routertest.AssertXML(t, e.phone.TakeOne(t), `<iq type='result' id='r1' to='alice@example.org/phone'/>`)
	assertPush(t, e.laptop.TakeOne(t), alice+"/laptop", `<query xmlns='jabber:iq:roster' ver='`+e.version(t)+`'>
		<item jid='bob@example.org' subscription='remove'/></query>`)
	if len(e.removed) != 1 || e.removed[0].JID != "bob@example.org" || e.removed[0].Subscription != storage.SubBoth {
		t.Fatalf("remove hook got %+v", e.removed)
	}
	if _, err := e.store.RosterItem(t.Context(), host, "alice", "bob@example.org"); err != storage.ErrNotFound {
		t.Fatalf("item still stored: %v", err)
	}
	// RFC 6121 §2.5.3: removing an item that is not there.
	e.send(t, e.phone, `<iq type='set' id='r2'><query xmlns='jabber:iq:roster'>
		<item jid='bob@example.org' subscription='remove'/></query></iq>`)
	routertest.AssertXML(t, e.phone.TakeOne(t), errorReply("r2", "item-not-found", "cancel", ""))
	if len(e.removed) != 1 || len(e.laptop.Take()) != 0 {
		t.Fatal("a failed removal ran the hook or pushed")
	}
}

func TestBadRequests(t *testing.T) {
	e := setup(t, WithLimits(Limits{MaxItems: 2, MaxNameLength: 8, MaxGroupLength: 5, MaxGroups: 2}))
	v0 := e.put(t, storage.RosterItem{JID: "full1@example.org", Subscription: storage.SubNone})
	set := func(items string) string { return `<query xmlns='jabber:iq:roster'>` + items + `</query>` }
	for _, tc := range []struct{ name, typ, to, query, cond, errType, text string }{
		{"several items", "set", "", set(`<item jid='a@example.org'/><item jid='b@example.org'/>`), "bad-request", "modify", "a roster set carries exactly one item"},
		{"no item", "set", "", set(``), "bad-request", "modify", "a roster set carries exactly one item"},
		{"other child", "set", "", set(`<foo/>`), "bad-request", "modify", "a roster set carries exactly one item"},
		{"no jid", "set", "", set(`<item name='x'/>`), "bad-request", "modify", "the item has no 'jid'"},
		{"malformed jid", "set", "", set(`<item jid='a@b@example.org'/>`), "jid-malformed", "modify", ""},
		{"empty localpart", "set", "", set(`<item jid='@example.org'/>`), "jid-malformed", "modify", ""},
		{"full jid", "set", "", set(`<item jid='a@example.org/res'/>`), "bad-request", "modify", "a roster item is a bare JID"},
		{"unknown subscription", "set", "", set(`<item jid='a@example.org' subscription='maybe'/>`), "bad-request", "modify", "unknown 'subscription' value"},
		{"duplicate groups", "set", "", set(`<item jid='a@example.org'><group>x</group><group>x</group></item>`), "bad-request", "modify", "duplicate group"},
		{"empty group", "set", "", set(`<item jid='a@example.org'><group/></item>`), "not-acceptable", "modify", "empty group name"},
		{"long name", "set", "", set(`<item jid='a@example.org' name='123456789'/>`), "not-acceptable", "modify", "the name is too long"},
		{"long group", "set", "", set(`<item jid='a@example.org'><group>123456</group></item>`), "not-acceptable", "modify", "a group name is too long"},
		{"too many groups", "set", "", set(`<item jid='a@example.org'><group>a</group><group>b</group><group>c</group></item>`), "not-acceptable", "modify", "too many groups"},
		{"get with items", "get", "", set(`<item jid='a@example.org'/>`), "bad-request", "modify", "a roster get carries no items"},
		{"get other's roster", "get", "bob@example.org", set(``), "forbidden", "auth", ""},
		{"set other's roster", "set", "bob@example.org", set(`<item jid='a@example.org'/>`), "forbidden", "auth", ""},
		{"get to own full JID", "get", "alice@example.org/laptop", set(``), "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			to := ""
			if tc.to != "" {
				to = ` to='` + tc.to + `'`
			}
			e.send(t, e.phone, `<iq type='`+tc.typ+`' id='x'`+to+`>`+tc.query+`</iq>`)
			if tc.cond == "" {
				// A full JID's IQs belong to that client: not claimed.
				if got := e.phone.Take(); len(got) != 0 {
					t.Fatalf("answered %v", got)
				}
				if got := e.laptop.TakeOne(t); got.Attr("type") != "get" {
					t.Fatalf("laptop got %v", got)
				}
				return
			}
			want := errorReply("x", tc.cond, tc.errType, tc.text)
			if tc.to != "" {
				want = strings.Replace(want, `from='alice@example.org'`, `from='`+tc.to+`'`, 1)
			}
			routertest.AssertXML(t, e.phone.TakeOne(t), want)
		})
	}
	if items, v, _ := e.store.RosterItems(t.Context(), host, "alice"); len(items) != 1 || v != v0 {
		t.Fatalf("a refused set changed the roster: %+v version %d", items, v)
	}

	// Limits are inclusive, and the roster limit counts items, not sets.
	e.send(t, e.phone, `<iq type='set' id='ok1'>`+set(`<item jid='a@example.org' name='12345678'><group>12345</group><group>b</group></item>`)+`</iq>`)
	routertest.AssertXML(t, e.phone.TakeOne(t), `<iq type='result' id='ok1' to='alice@example.org/phone'/>`)
	e.send(t, e.phone, `<iq type='set' id='full'>`+set(`<item jid='c@example.org'/>`)+`</iq>`)
	routertest.AssertXML(t, e.phone.TakeOne(t), errorReply("full", "policy-violation", "modify", "the roster is full"))
	e.send(t, e.phone, `<iq type='set' id='ok2'>`+set(`<item jid='a@example.org' name='renamed'/>`)+`</iq>`)
	routertest.AssertXML(t, e.phone.TakeOne(t), `<iq type='result' id='ok2' to='alice@example.org/phone'/>`)
}

// Roster IQs from another account, local or remote, are refused.
func TestForeignRequester(t *testing.T) {
	e := setup(t)
	bob := routertest.Bind(t, e.r, "bob@example.org/desk")
	e.send(t, bob, `<iq type='get' id='b1' to='alice@example.org'><query xmlns='jabber:iq:roster'/></iq>`)
	routertest.AssertXML(t, bob.TakeOne(t), `<iq type='error' id='b1' from='alice@example.org' to='bob@example.org/desk'>
		<error type='auth'><forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`)
	remote := &routertest.Remote{}
	e.r.SetRemote(remote)
	el := routertest.Parse(t, `<iq type='set' id='b2' from='eve@remote.example/x' to='alice@example.org'>
		<query xmlns='jabber:iq:roster'><item jid='x@example.org'/></query></iq>`)
	e.r.Route(t.Context(), &router.Stanza{El: el, From: jid.MustParse("eve@remote.example/x"), To: jid.MustParse(alice)})
	if got := remote.Got(); len(got) != 1 {
		t.Fatalf("remote got %d stanzas", len(got))
	} else {
		routertest.AssertXML(t, got[0].El, `<iq type='error' id='b2' from='alice@example.org' to='eve@remote.example/x'>
			<error type='auth'><forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`)
	}
	if items, _, _ := e.store.RosterItems(t.Context(), host, "alice"); len(items) != 0 {
		t.Fatalf("foreign set stored %+v", items)
	}
}

func TestVersioning(t *testing.T) {
	e := setup(t)
	v1 := e.put(t, storage.RosterItem{JID: "a@example.org", Subscription: storage.SubBoth})
	v2 := e.put(t, storage.RosterItem{JID: "b@example.org", Subscription: storage.SubTo})
	e.put(t, storage.RosterItem{JID: "c@example.org", Subscription: storage.SubFrom})
	v4 := e.put(t, storage.RosterItem{JID: "b@example.org", Subscription: storage.SubBoth})
	_, v5, err := e.store.UpdateRosterItem(t.Context(), host, "alice", "c@example.org",
		func(*storage.RosterItem) (*storage.RosterItem, error) { return nil, nil })
	if err != nil {
		t.Fatal(err)
	}
	v6 := e.put(t, storage.RosterItem{JID: "m@example.org", Subscription: storage.SubNone, PendingIn: true}) // hidden
	ver := func(v int64) string { return strconv.FormatInt(v, 10) }

	items := `<item jid='a@example.org' subscription='both'/><item jid='b@example.org' subscription='both'/>`
	full := `<query xmlns='jabber:iq:roster' ver='` + ver(v6) + `'>` + items + `</query>`
	pushB := `<query xmlns='jabber:iq:roster' ver='` + ver(v4) + `'><item jid='b@example.org' subscription='both'/></query>`
	pushC := `<query xmlns='jabber:iq:roster' ver='` + ver(v5) + `'><item jid='c@example.org' subscription='remove'/></query>`
	pushM := `<query xmlns='jabber:iq:roster' ver='` + ver(v6) + `'><item jid='m@example.org' subscription='remove'/></query>`
	for _, tc := range []struct {
		name, ver string
		result    string   // payload of the result, "" for empty
		pushes    []string // queries of the pushes that follow
	}{
		{"no ver", "", `<query xmlns='jabber:iq:roster'>` + items + `</query>`, nil},
		{"empty ver", "ver=''", full, nil},
		{"current", "ver='" + ver(v6) + "'", "", nil},
		{"incremental", "ver='" + ver(v2) + "'", "", []string{pushB, pushC, pushM}},
		{"from zero", "ver='0'", "", []string{
			`<query xmlns='jabber:iq:roster' ver='` + ver(v1) + `'><item jid='a@example.org' subscription='both'/></query>`,
			pushB, pushC, pushM}},
		{"from the future", "ver='" + ver(v6+1000) + "'", full, nil},
		{"not ours", "ver='abc'", full, nil},
		{"negative", "ver='-1'", full, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.send(t, e.phone, `<iq type='get' id='v'><query xmlns='jabber:iq:roster' `+tc.ver+`/></iq>`)
			got := e.phone.Take()
			if len(got) != 1+len(tc.pushes) {
				t.Fatalf("got %d stanzas, want %d: %v", len(got), 1+len(tc.pushes), got)
			}
			routertest.AssertXML(t, got[0], `<iq type='result' id='v' to='alice@example.org/phone'>`+tc.result+`</iq>`)
			for i, p := range tc.pushes {
				assertPush(t, got[1+i], alice+"/phone", p)
			}
		})
	}
}

func TestPush(t *testing.T) {
	e := setup(t)
	e.send(t, e.phone, `<iq type='get' id='g'><query xmlns='jabber:iq:roster' ver=''/></iq>`)
	e.phone.Take()
	hidden := &storage.RosterItem{JID: "m@example.org", Subscription: storage.SubNone, PendingIn: true}
	pendingOut := &storage.RosterItem{JID: "m@example.org", Subscription: storage.SubNone, PendingOut: true}
	both := &storage.RosterItem{JID: "m@example.org", Subscription: storage.SubNone, PendingOut: true, PendingIn: true}
	from := &storage.RosterItem{JID: "m@example.org", Subscription: storage.SubFrom, Groups: []string{"g"}}
	for _, tc := range []struct {
		name          string
		before, after *storage.RosterItem
		want          string // item in the push, "" for none
	}{
		{"nothing", nil, nil, ""},
		{"hidden appears", nil, hidden, ""},
		{"hidden goes", hidden, nil, ""},
		{"hidden to visible", hidden, from, `<item jid='m@example.org' subscription='from'><group>g</group></item>`},
		{"visible to hidden", pendingOut, hidden, `<item jid='m@example.org' subscription='remove'/>`},
		{"only PendingIn changes", pendingOut, both, ""},
		{"visible change", pendingOut, from, `<item jid='m@example.org' subscription='from'><group>g</group></item>`},
		{"removed", from, nil, `<item jid='m@example.org' subscription='remove'/>`},
		{"added", nil, pendingOut, `<item jid='m@example.org' subscription='none' ask='subscribe'/>`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.ros.Push(t.Context(), host, "alice", tc.before, tc.after, 42)
			got := e.phone.Take()
			if tc.want == "" {
				if len(got) != 0 {
					t.Fatalf("pushed %v", got)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("got %v", got)
			}
			assertPush(t, got[0], alice+"/phone", `<query xmlns='jabber:iq:roster' ver='42'>`+tc.want+`</query>`)
		})
	}
	// Another account's pushes reach none of alice's resources.
	e.ros.Push(t.Context(), host, "bob", nil, from, 1)
	if got := e.phone.Take(); len(got) != 0 {
		t.Fatalf("bob's push reached alice: %v", got)
	}
}

func TestStreamFeature(t *testing.T) {
	e := setup(t)
	fs := e.reg.StreamFeatures()
	if len(fs) != 1 || !fs[0].Is(NSVer, "ver") {
		t.Fatalf("stream features %v", fs)
	}
}

// Hidden must only match items that record nothing but a pending request.
func TestHidden(t *testing.T) {
	for _, tc := range []struct {
		it   storage.RosterItem
		want bool
	}{
		{storage.RosterItem{PendingIn: true}, true},
		{storage.RosterItem{Subscription: storage.SubNone, PendingIn: true}, true},
		{storage.RosterItem{Subscription: storage.SubNone}, false},
		{storage.RosterItem{Subscription: storage.SubTo, PendingIn: true}, false},
		{storage.RosterItem{Subscription: storage.SubNone, PendingIn: true, PendingOut: true}, false},
		{storage.RosterItem{Subscription: storage.SubNone, PendingIn: true, Approved: true}, false},
		{storage.RosterItem{Subscription: storage.SubNone, PendingIn: true, Name: "n"}, false},
		{storage.RosterItem{Subscription: storage.SubNone, PendingIn: true, Groups: []string{"g"}}, false},
	} {
		if got := Hidden(&tc.it); got != tc.want {
			t.Errorf("Hidden(%+v) = %v", tc.it, got)
		}
	}
}
