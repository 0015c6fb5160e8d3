package blocking

import (
	"context"
	"errors"
	"slices"
	"testing"

	"mellium.im/xmpp/jid"

	"parley.im/parley/internal/routertest"
	"parley.im/parley/module"
	"parley.im/parley/router"
	"parley.im/parley/storage"
	"parley.im/parley/xmppcore"
)

const (
	unavailable  = `<error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>`
	blockedError = `<error type='modify'><not-acceptable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><blocked xmlns='urn:xmpp:blocking:errors'/></error>`
)

type env struct {
	r     *router.Router
	reg   *module.Registry
	mod   *Blocking
	store *faulty
}

// setup runs the module on example.org, where alice, bob and carol have
// accounts.
func setup(t *testing.T, opts Options) *env {
	t.Helper()
	e := &env{store: &faulty{Store: openStore(t, "alice", "bob", "carol")}}
	e.r = router.New(router.Config{Hosts: []string{"example.org"}, AccountExists: e.store.AccountExists})
	e.reg = module.NewRegistry(module.Env{Router: e.r})
	if opts.Roster == rosterFromStore {
		opts.Roster = e.store.Store
	}
	e.mod = New(e.store, opts)
	if err := e.reg.Add(e.mod); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.reg.Stop(context.Background()) })
	return e
}

func (e *env) send(t *testing.T, from *routertest.Session, xml string) {
	t.Helper()
	e.r.Route(t.Context(), routertest.Stanza(t, from, xml))
}

// online binds a session and makes it available.
func (e *env) online(t *testing.T, full string) *routertest.Session {
	t.Helper()
	s := routertest.Bind(t, e.r, full)
	e.send(t, s, `<presence/>`)
	s.Take()
	return s
}

// iq sends an IQ and returns the answer, failing unless there is exactly
// one stanza for the sender.
func (e *env) iq(t *testing.T, from *routertest.Session, xml string) *xmppcore.Element {
	t.Helper()
	e.send(t, from, xml)
	return from.TakeOne(t)
}

func (e *env) stored(t *testing.T, user string) []string {
	t.Helper()
	l, err := e.store.Store.BlockedJIDs(t.Context(), "example.org", user)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func (e *env) block(t *testing.T, s *routertest.Session, items ...string) {
	t.Helper()
	x := `<iq type='set' id='b'><block xmlns='urn:xmpp:blocking'>`
	for _, i := range items {
		x += `<item jid='` + i + `'/>`
	}
	got := e.iq(t, s, x+`</block></iq>`)
	if got.Attr("type") != "result" {
		t.Fatalf("block %v: %s", items, got)
	}
}

func TestBlockListLifecycle(t *testing.T) {
	e := setup(t, Options{})
	phone := routertest.Bind(t, e.r, "alice@example.org/phone")
	laptop := routertest.Bind(t, e.r, "alice@example.org/laptop")
	routertest.AssertXML(t, e.iq(t, phone, `<iq type='get' id='g1'><blocklist xmlns='urn:xmpp:blocking'/></iq>`),
		`<iq type='result' id='g1' to='alice@example.org/phone'><blocklist xmlns='urn:xmpp:blocking'/></iq>`)

	// Block: normalized, deduplicated; a push goes to the resource that
	// retrieved the list, not to the one that did not (§3.3).
	e.send(t, laptop, `<iq type='set' id='b1'><block xmlns='urn:xmpp:blocking'>
		<item jid='Romeo@Montague.NET'/><item jid='example.net'/><item jid='romeo@montague.net'/></block></iq>`)
	routertest.AssertXML(t, laptop.TakeOne(t), `<iq type='result' id='b1' to='alice@example.org/laptop'/>`)
	push := phone.TakeOne(t)
	if push.Attr("type") != "set" || push.Attr("id") == "" || push.Attr("to") != "alice@example.org/phone" {
		t.Errorf("push %s", push)
	}
	routertest.AssertXML(t, push.FirstChild(),
		`<block xmlns='urn:xmpp:blocking'><item jid='romeo@montague.net'/><item jid='example.net'/></block>`)
	if got := e.stored(t, "alice"); !slices.Equal(got, []string{"example.net", "romeo@montague.net"}) {
		t.Errorf("stored %v", got)
	}
	routertest.AssertXML(t, e.iq(t, laptop, `<iq type='get' id='g2' to='alice@example.org'><blocklist xmlns='urn:xmpp:blocking'/></iq>`),
		`<iq type='result' id='g2' from='alice@example.org' to='alice@example.org/laptop'><blocklist xmlns='urn:xmpp:blocking'>
			<item jid='example.net'/><item jid='romeo@montague.net'/></blocklist></iq>`)

	// Unblock one: now both resources retrieved the list.
	e.send(t, phone, `<iq type='set' id='u1'><unblock xmlns='urn:xmpp:blocking'><item jid='example.net'/></unblock></iq>`)
	got := phone.Take()
	if len(got) != 2 {
		t.Fatalf("phone got %v", got)
	}
	routertest.AssertXML(t, got[1], `<iq type='result' id='u1' to='alice@example.org/phone'/>`)
	routertest.AssertXML(t, got[0].FirstChild(), `<unblock xmlns='urn:xmpp:blocking'><item jid='example.net'/></unblock>`)
	routertest.AssertXML(t, laptop.TakeOne(t).FirstChild(), `<unblock xmlns='urn:xmpp:blocking'><item jid='example.net'/></unblock>`)
	if got := e.stored(t, "alice"); !slices.Equal(got, []string{"romeo@montague.net"}) {
		t.Errorf("stored %v", got)
	}

	// Unblock all (§3.5).
	e.send(t, phone, `<iq type='set' id='u2'><unblock xmlns='urn:xmpp:blocking'/></iq>`)
	if got := phone.Take(); len(got) != 2 {
		t.Fatalf("phone got %v", got)
	}
	routertest.AssertXML(t, laptop.TakeOne(t).FirstChild(), `<unblock xmlns='urn:xmpp:blocking'/>`)
	if got := e.stored(t, "alice"); len(got) != 0 {
		t.Errorf("stored %v", got)
	}
	routertest.AssertXML(t, e.iq(t, phone, `<iq type='get' id='g3'><blocklist xmlns='urn:xmpp:blocking'/></iq>`),
		`<iq type='result' id='g3' to='alice@example.org/phone'><blocklist xmlns='urn:xmpp:blocking'/></iq>`)
}

func TestBadRequests(t *testing.T) {
	e := setup(t, Options{})
	alice := routertest.Bind(t, e.r, "alice@example.org/phone")
	e.block(t, alice, "old@example.net")
	for _, tc := range []struct{ name, req, want string }{
		{"empty block", `<iq type='set' id='x'><block xmlns='urn:xmpp:blocking'/></iq>`,
			`<iq type='error' id='x' from='alice@example.org' to='alice@example.org/phone'><error type='modify'><bad-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>
				<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>block needs at least one item</text></error></iq>`},
		{"invalid JID", `<iq type='set' id='x'><block xmlns='urn:xmpp:blocking'><item jid='a@b@c'/></block></iq>`,
			`<iq type='error' id='x' from='alice@example.org' to='alice@example.org/phone'><error type='modify'><jid-malformed xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`},
		{"one invalid among valid", `<iq type='set' id='x'><block xmlns='urn:xmpp:blocking'><item jid='ok@example.net'/><item jid=''/></block></iq>`,
			`<iq type='error' id='x' from='alice@example.org' to='alice@example.org/phone'><error type='modify'><jid-malformed xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`},
		{"item without jid", `<iq type='set' id='x'><block xmlns='urn:xmpp:blocking'><item/></block></iq>`,
			`<iq type='error' id='x' from='alice@example.org' to='alice@example.org/phone'><error type='modify'><jid-malformed xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`},
		{"invalid JID in unblock", `<iq type='set' id='x'><unblock xmlns='urn:xmpp:blocking'><item jid='@example.net'/></unblock></iq>`,
			`<iq type='error' id='x' from='alice@example.org' to='alice@example.org/phone'><error type='modify'><jid-malformed xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`},
		{"other user's list", `<iq type='get' id='x' to='bob@example.org'><blocklist xmlns='urn:xmpp:blocking'/></iq>`,
			`<iq type='error' id='x' from='bob@example.org' to='alice@example.org/phone'><error type='auth'><forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>
				<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>only your own block list</text></error></iq>`},
		{"block for another user", `<iq type='set' id='x' to='bob@example.org'><block xmlns='urn:xmpp:blocking'><item jid='a@example.net'/></block></iq>`,
			`<iq type='error' id='x' from='bob@example.org' to='alice@example.org/phone'><error type='auth'><forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>
				<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>only your own block list</text></error></iq>`},
		{"unblock for another user", `<iq type='set' id='x' to='bob@example.org'><unblock xmlns='urn:xmpp:blocking'/></iq>`,
			`<iq type='error' id='x' from='bob@example.org' to='alice@example.org/phone'><error type='auth'><forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>
				<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>only your own block list</text></error></iq>`},
		{"blocklist set", `<iq type='set' id='x'><blocklist xmlns='urn:xmpp:blocking'/></iq>`,
			`<iq type='error' id='x' from='alice@example.org' to='alice@example.org/phone'>` + unavailable + `</iq>`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			routertest.AssertXML(t, e.iq(t, alice, tc.req), tc.want)
			if got := e.stored(t, "alice"); !slices.Equal(got, []string{"old@example.net"}) {
				t.Errorf("list changed to %v", got)
			}
			if got := e.stored(t, "bob"); len(got) != 0 {
				t.Errorf("bob's list changed to %v", got)
			}
		})
	}
}

func TestMaxItems(t *testing.T) {
	e := setup(t, Options{MaxItems: 2})
	alice := routertest.Bind(t, e.r, "alice@example.org/phone")
	tooMany := `<iq type='error' id='x' from='alice@example.org' to='alice@example.org/phone'><error type='modify'><policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>
		<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>too many blocked JIDs</text></error></iq>`
	routertest.AssertXML(t, e.iq(t, alice, `<iq type='set' id='x'><block xmlns='urn:xmpp:blocking'>
		<item jid='a@example.net'/><item jid='b@example.net'/><item jid='c@example.net'/></block></iq>`), tooMany)
	e.block(t, alice, "a@example.net", "b@example.net")
	e.block(t, alice, "b@example.net") // already there: no growth
	routertest.AssertXML(t, e.iq(t, alice, `<iq type='set' id='x'><block xmlns='urn:xmpp:blocking'><item jid='c@example.net'/></block></iq>`), tooMany)
	if got := e.stored(t, "alice"); len(got) != 2 {
		t.Errorf("stored %v", got)
	}
	if New(nil, Options{}).max != DefaultMaxItems || New(nil, Options{MaxItems: -1}).max != 0 {
		t.Error("MaxItems defaults wrong")
	}
}

func TestOutbound(t *testing.T) {
	e := setup(t, Options{})
	alice := e.online(t, "alice@example.org/phone")
	bob := e.online(t, "bob@example.org/pc")
	e.block(t, alice, "bob@example.org")
	bob.Take() // the unavailable presence

	routertest.AssertXML(t, e.iq(t, alice, `<message to='bob@example.org' type='chat' id='m1'><body>hi</body></message>`),
		`<message type='error' id='m1' from='bob@example.org' to='alice@example.org/phone'>`+blockedError+`</message>`)
	routertest.AssertXML(t, e.iq(t, alice, `<iq to='bob@example.org/pc' type='get' id='q1'><ping xmlns='urn:xmpp:ping'/></iq>`),
		`<iq type='error' id='q1' from='bob@example.org/pc' to='alice@example.org/phone'>`+blockedError+`</iq>`)
	for _, x := range []string{
		`<presence to='bob@example.org'/>`,
		`<presence to='bob@example.org' type='subscribe'/>`,
		`<iq to='bob@example.org/pc' type='result' id='r1'/>`,
		`<iq to='bob@example.org/pc' type='error' id='r2'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`,
		`<message to='bob@example.org' type='error' id='m2'/>`,
	} {
		e.send(t, alice, x)
		if got := alice.Take(); len(got) != 0 {
			t.Errorf("%s: alice got %v", x, got)
		}
	}
	if got := bob.Take(); len(got) != 0 {
		t.Errorf("bob got %v", got)
	}
	// Others are not concerned; alice's own resources neither.
	carol := e.online(t, "carol@example.org/x")
	e.send(t, alice, `<message to='carol@example.org' type='chat' id='m3'><body>hi</body></message>`)
	if got := carol.TakeOne(t); got.Attr("id") != "m3" {
		t.Errorf("carol got %s", got)
	}
}

func TestInbound(t *testing.T) {
	e := setup(t, Options{})
	alice := e.online(t, "alice@example.org/phone")
	bob := e.online(t, "bob@example.org/pc")
	e.block(t, alice, "bob@example.org")
	bob.Take()
	for _, tc := range []struct{ req, want string }{
		{`<message to='alice@example.org' type='chat' id='1'><body>hi</body></message>`,
			`<message type='error' id='1' from='alice@example.org' to='bob@example.org/pc'>` + unavailable + `</message>`},
		{`<message to='alice@example.org/phone' id='2'><body>hi</body></message>`,
			`<message type='error' id='2' from='alice@example.org/phone' to='bob@example.org/pc'>` + unavailable + `</message>`},
		{`<message to='alice@example.org/gone' type='chat' id='3'><body>hi</body></message>`,
			`<message type='error' id='3' from='alice@example.org/gone' to='bob@example.org/pc'>` + unavailable + `</message>`},
		{`<iq to='alice@example.org/phone' type='get' id='4'><ping xmlns='urn:xmpp:ping'/></iq>`,
			`<iq type='error' id='4' from='alice@example.org/phone' to='bob@example.org/pc'>` + unavailable + `</iq>`},
		{`<iq to='alice@example.org' type='get' id='5'><vCard xmlns='vcard-temp'/></iq>`,
			`<iq type='error' id='5' from='alice@example.org' to='bob@example.org/pc'>` + unavailable + `</iq>`},
		{`<presence to='alice@example.org'/>`, ""},
		{`<presence to='alice@example.org' type='subscribe'/>`, ""},
		{`<presence to='alice@example.org' type='probe'/>`, ""},
		{`<presence to='alice@example.org/phone'/>`, ""},
		{`<iq to='alice@example.org/phone' type='result' id='6'/>`, ""},
		{`<message to='alice@example.org' type='error' id='7'/>`, ""},
	} {
		e.send(t, bob, tc.req)
		if tc.want == "" {
			if got := bob.Take(); len(got) != 0 {
				t.Errorf("%s: bob got %v", tc.req, got)
			}
		} else {
			routertest.AssertXML(t, bob.TakeOne(t), tc.want)
		}
	}
	if got := alice.Take(); len(got) != 0 {
		t.Errorf("alice got %v", got)
	}
	// Unblocked: delivered again.
	e.send(t, alice, `<iq type='set' id='u'><unblock xmlns='urn:xmpp:blocking'><item jid='bob@example.org'/></unblock></iq>`)
	alice.Take()
	e.send(t, bob, `<message to='alice@example.org' type='chat' id='8'><body>hi</body></message>`)
	if got := alice.TakeOne(t); got.Attr("id") != "8" {
		t.Errorf("alice got %s", got)
	}
}

// A remote sender is blocked by domain, and the answer goes back through
// the federation link.
func TestInboundRemote(t *testing.T) {
	e := setup(t, Options{})
	alice := e.online(t, "alice@example.org/phone")
	e.block(t, alice, "montague.net")
	remote := &routertest.Remote{}
	e.r.SetRemote(remote)
	el := routertest.Parse(t, `<message from='romeo@montague.net/orchard' to='alice@example.org' type='chat' id='r'><body>hi</body></message>`)
	e.r.Route(t.Context(), &router.Stanza{El: el, From: jid.MustParse("romeo@montague.net/orchard"), To: jid.MustParse("alice@example.org")})
	if got := alice.Take(); len(got) != 0 {
		t.Errorf("alice got %v", got)
	}
	got := remote.Got()
	if len(got) != 1 {
		t.Fatalf("remote got %d", len(got))
	}
	routertest.AssertXML(t, got[0].El, `<message type='error' id='r' from='alice@example.org' to='romeo@montague.net/orchard'>`+unavailable+`</message>`)
}

// A user who is offline has no cached list: the stanza is checked against
// storage, and it never reaches the offline handlers.
func TestInboundOffline(t *testing.T) {
	e := setup(t, Options{})
	var offered []string
	e.r.Hook(router.EventMessageOffline, router.PriorityDefault, func(_ context.Context, st *router.Stanza) bool {
		offered = append(offered, st.El.Attr("id"))
		return true
	})
	if _, err := e.store.Store.Block(t.Context(), "example.org", "alice", []string{"bob@example.org"}); err != nil {
		t.Fatal(err)
	}
	bob := e.online(t, "bob@example.org/pc")
	carol := e.online(t, "carol@example.org/x")
	e.send(t, bob, `<message to='alice@example.org' type='chat' id='1'><body>hi</body></message>`)
	routertest.AssertXML(t, bob.TakeOne(t), `<message type='error' id='1' from='alice@example.org' to='bob@example.org/pc'>`+unavailable+`</message>`)
	e.send(t, carol, `<message to='alice@example.org' type='chat' id='2'><body>hi</body></message>`)
	if !slices.Equal(offered, []string{"2"}) {
		t.Errorf("offline handlers saw %v", offered)
	}
	if e.mod.cached(jid.MustParse("alice@example.org")) != nil {
		t.Error("a list is cached for alice, who has no session")
	}
}

func TestMatching(t *testing.T) {
	set := map[string]struct{}{
		"example.net":                 {},
		"other.net/res":               {},
		"carol@example.org/phone":     {},
		"dave@example.org":            {},
		"xn--caf-dma.example/kitchen": {},
	}
	for _, tc := range []struct {
		jid  string
		want bool
	}{
		{"example.net", true},
		{"anyone@example.net", true},
		{"anyone@example.net/r", true},
		{"example.net/r", true},
		{"sub.example.net", false},
		{"other.net/res", true},
		{"other.net/else", false},
		{"other.net", false},
		{"u@other.net/res", false},
		{"carol@example.org/phone", true},
		{"carol@example.org/laptop", false},
		{"carol@example.org", false},
		{"dave@example.org", true},
		{"dave@example.org/any", true},
		{"erin@example.org", false},
		{"example.org", false},
	} {
		if got := matches(set, jid.MustParse(tc.jid)); got != tc.want {
			t.Errorf("matches(%s) = %v, want %v", tc.jid, got, tc.want)
		}
	}
	if matches(nil, jid.MustParse("a@b")) {
		t.Error("empty list matches")
	}
}

// Blocking one's own server does not cut a user off from their own
// resources nor from the server itself (XEP-0191 §5 via XEP-0016).
func TestNeverBlocksSelfOrServer(t *testing.T) {
	e := setup(t, Options{})
	phone := e.online(t, "alice@example.org/phone")
	laptop := e.online(t, "alice@example.org/laptop")
	bob := e.online(t, "bob@example.org/pc")
	e.block(t, phone, "example.org")
	e.send(t, phone, `<message to='alice@example.org/laptop' type='chat' id='1'><body>hi</body></message>`)
	if got := laptop.TakeOne(t); got.Attr("id") != "1" {
		t.Errorf("laptop got %s", got)
	}
	el := routertest.Parse(t, `<message from='example.org' to='alice@example.org/phone' id='2'><body>notice</body></message>`)
	e.r.Route(t.Context(), &router.Stanza{El: el, From: jid.MustParse("example.org"), To: jid.MustParse("alice@example.org/phone")})
	if got := phone.TakeOne(t); got.Attr("id") != "2" {
		t.Errorf("phone got %s", got)
	}
	bob.Take()
	e.send(t, bob, `<message to='alice@example.org' type='chat' id='3'><body>hi</body></message>`)
	if got := bob.TakeOne(t); got.Attr("type") != "error" {
		t.Errorf("bob at the blocked domain got %s", got)
	}
}

func TestPresenceOnBlockAndUnblock(t *testing.T) {
	e := setup(t, Options{})
	phone := e.online(t, "alice@example.org/phone")
	laptop := routertest.Bind(t, e.r, "alice@example.org/laptop")
	e.send(t, laptop, `<presence><show>dnd</show></presence>`)
	routertest.Bind(t, e.r, "alice@example.org/idle") // bound, never available
	bob := e.online(t, "bob@example.org/pc")
	remote := &routertest.Remote{}
	e.r.SetRemote(remote)

	e.block(t, phone, "bob@example.org", "example.net")
	got := bob.Take()
	if len(got) != 2 {
		t.Fatalf("bob got %v", got)
	}
	for i, from := range []string{"alice@example.org/phone", "alice@example.org/laptop"} {
		if !slices.ContainsFunc(got, func(el *xmppcore.Element) bool {
			return routertest.Equal(el, routertest.Parse(t, `<presence type='unavailable' from='`+from+`' to='bob@example.org'/>`))
		}) {
			t.Errorf("%d: no unavailable presence from %s in %v", i, from, got)
		}
	}
	// Without a roster, nobody is known at a blocked domain.
	if n := len(remote.Got()); n != 0 {
		t.Errorf("remote got %d", n)
	}
	// Blocking again sends nothing: nothing changed.
	e.block(t, phone, "bob@example.org")
	if got := bob.Take(); len(got) != 0 {
		t.Errorf("bob got %v", got)
	}

	e.send(t, phone, `<iq type='set' id='u'><unblock xmlns='urn:xmpp:blocking'><item jid='bob@example.org'/></unblock></iq>`)
	got = bob.Take()
	if len(got) != 2 {
		t.Fatalf("bob got %v", got)
	}
	for _, want := range []string{`<presence from='alice@example.org/phone' to='bob@example.org'/>`,
		`<presence from='alice@example.org/laptop' to='bob@example.org'><show>dnd</show></presence>`} {
		if !slices.ContainsFunc(got, func(el *xmppcore.Element) bool { return routertest.Equal(el, routertest.Parse(t, want)) }) {
			t.Errorf("no %s in %v", want, got)
		}
	}
}

func TestPresenceFollowsRoster(t *testing.T) {
	e := setup(t, Options{Roster: rosterFromStore})
	subscribe(t, e.store.Store, "alice", "bob@example.org", storage.SubTo)
	subscribe(t, e.store.Store, "alice", "carol@example.org", storage.SubFrom)
	subscribe(t, e.store.Store, "alice", "romeo@montague.net", storage.SubBoth)
	subscribe(t, e.store.Store, "alice", "nurse@montague.net", storage.SubNone)
	alice := e.online(t, "alice@example.org/phone")
	bob := e.online(t, "bob@example.org/pc")
	carol := e.online(t, "carol@example.org/x")
	remote := &routertest.Remote{}
	e.r.SetRemote(remote)
	e.block(t, alice, "bob@example.org", "carol@example.org/x", "montague.net")
	if got := bob.Take(); len(got) != 0 {
		t.Errorf("bob, not subscribed to alice, got %v", got)
	}
	routertest.AssertXML(t, carol.TakeOne(t), `<presence type='unavailable' from='alice@example.org/phone' to='carol@example.org/x'/>`)
	got := remote.Got()
	if len(got) != 1 {
		t.Fatalf("remote got %d stanzas", len(got))
	}
	routertest.AssertXML(t, got[0].El, `<presence type='unavailable' from='alice@example.org/phone' to='romeo@montague.net'/>`)
}

// The list is read once while the user has sessions, and forgotten when
// the last one ends.
func TestCache(t *testing.T) {
	e := setup(t, Options{})
	alice := e.online(t, "alice@example.org/phone")
	laptop := routertest.Bind(t, e.r, "alice@example.org/laptop")
	bob := e.online(t, "bob@example.org/pc")
	e.block(t, alice, "romeo@montague.net")
	before := e.store.readCount()
	for range 10 {
		e.send(t, alice, `<message to='bob@example.org' type='chat'><body>hi</body></message>`)
		e.send(t, bob, `<message to='alice@example.org' type='chat'><body>hi</body></message>`)
	}
	// Alice's list is cached since the block; bob's is read once, at his
	// first stanza.
	if n := e.store.readCount() - before; n != 1 {
		t.Errorf("%d reads of the lists for 20 stanzas, want 1", n)
	}
	if got := alice.Take(); len(got) != 10 {
		t.Fatalf("alice got %d messages, want 10", len(got))
	}
	// One session ends: still cached, and it no longer gets pushes.
	e.iq(t, laptop, `<iq type='get' id='g'><blocklist xmlns='urn:xmpp:blocking'/></iq>`)
	e.r.SessionEnded(t.Context(), laptop)
	e.block(t, alice, "juliet@capulet.lit")
	if got := laptop.Take(); len(got) != 0 {
		t.Errorf("an ended session got %v", got)
	}
	if e.mod.cached(jid.MustParse("alice@example.org")) == nil {
		t.Fatal("list dropped while a session remains")
	}
	e.r.SessionEnded(t.Context(), alice)
	if e.mod.cached(jid.MustParse("alice@example.org")) != nil {
		t.Fatal("list still cached after the last session ended")
	}
	// Changed behind the module's back: a new session sees it.
	if _, err := e.store.Store.Unblock(t.Context(), "example.org", "alice", nil); err != nil {
		t.Fatal(err)
	}
	alice = e.online(t, "alice@example.org/phone")
	routertest.AssertXML(t, e.iq(t, alice, `<iq type='get' id='g'><blocklist xmlns='urn:xmpp:blocking'/></iq>`),
		`<iq type='result' id='g' to='alice@example.org/phone'><blocklist xmlns='urn:xmpp:blocking'/></iq>`)
}

func TestStorageErrors(t *testing.T) {
	e := setup(t, Options{})
	alice := e.online(t, "alice@example.org/phone")
	bob := e.online(t, "bob@example.org/pc")
	e.store.setErr(errors.New("disk on fire"))
	ise := `<error type='cancel'><internal-server-error xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>`
	routertest.AssertXML(t, e.iq(t, alice, `<iq type='get' id='g'><blocklist xmlns='urn:xmpp:blocking'/></iq>`),
		`<iq type='error' id='g' from='alice@example.org' to='alice@example.org/phone'>`+ise+`</iq>`)
	routertest.AssertXML(t, e.iq(t, alice, `<iq type='set' id='b'><block xmlns='urn:xmpp:blocking'><item jid='bob@example.org'/></block></iq>`),
		`<iq type='error' id='b' from='alice@example.org' to='alice@example.org/phone'>`+ise+`</iq>`)
	// Routing fails open.
	e.send(t, bob, `<message to='alice@example.org' type='chat' id='m'><body>hi</body></message>`)
	if got := alice.TakeOne(t); got.Attr("id") != "m" {
		t.Errorf("alice got %s", got)
	}
	// The failed load was not cached as an empty list.
	e.store.setErr(nil)
	if _, err := e.store.Store.Block(t.Context(), "example.org", "alice", []string{"bob@example.org"}); err != nil {
		t.Fatal(err)
	}
	e.send(t, bob, `<message to='alice@example.org' type='chat' id='m2'><body>hi</body></message>`)
	if got := bob.TakeOne(t); got.Attr("type") != "error" {
		t.Errorf("bob got %s", got)
	}
}

// rosterFromStore in Options.Roster asks setup for the test's store.
var rosterFromStore Contacts = sentinelRoster{}

type sentinelRoster struct{}

func (sentinelRoster) RosterItems(context.Context, string, string) ([]storage.RosterItem, int64, error) {
	return nil, 0, errors.New("not the store")
}

func TestFeature(t *testing.T) {
	e := setup(t, Options{})
	if !slices.Contains(e.reg.Features(module.Server), NS) {
		t.Errorf("server features %v lack %s", e.reg.Features(module.Server), NS)
	}
}
