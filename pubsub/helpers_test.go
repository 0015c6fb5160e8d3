package pubsub

import (
	"context"
	"crypto/sha1"
	"encoding/base64"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"mellium.im/xmpp/jid"

	"parley.im/parley/disco"
	"parley.im/parley/internal/routertest"
	"parley.im/parley/internal/storetest"
	"parley.im/parley/module"
	"parley.im/parley/router"
	"parley.im/parley/storage"
	"parley.im/parley/storage/sqlite"
	"parley.im/parley/xmppcore"
)

const host = "example.org"

// Nodes the tests use, as real clients name them.
const (
	nodeDevices  = "eu.siacs.conversations.axolotl.devicelist" // OMEMO (legacy), Conversations
	nodeBundle   = "eu.siacs.conversations.axolotl.bundles:31415"
	nodeBundles2 = "urn:xmpp:omemo:2:bundles" // OMEMO 2, one item per device
	nodeTune     = "http://jabber.org/protocol/tune"
	nodeAvatar   = "urn:xmpp:avatar:metadata"
	nodeBookmark = "urn:xmpp:bookmarks:1" // XEP-0402, private (XEP-0223)
)

// openStore opens a SQLite store with accounts for users on example.org.
func openStore(t *testing.T, users ...string) *sqlite.Store {
	return storetest.Open(t, host, users...)
}

// faulty is the real store with failures injected on demand.
type faulty struct {
	*sqlite.Store
	mu  sync.Mutex
	err error
}

func (f *faulty) setErr(err error) {
	f.mu.Lock()
	f.err = err
	f.mu.Unlock()
}

func (f *faulty) check() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

func (f *faulty) GetPubSubNode(ctx context.Context, svc storage.PubSubService, node string) (storage.PubSubNode, error) {
	if err := f.check(); err != nil {
		return storage.PubSubNode{}, err
	}
	return f.Store.GetPubSubNode(ctx, svc, node)
}

func (f *faulty) PubSubNodes(ctx context.Context, svc storage.PubSubService) ([]storage.PubSubNode, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	return f.Store.PubSubNodes(ctx, svc)
}

type env struct {
	r     *router.Router
	reg   *module.Registry
	pep   *PEP
	store *faulty
}

// setup runs disco and PEP on example.org, where alice, bob, carol and dave
// have accounts and no roster.
func setup(t *testing.T, opts Options) *env {
	t.Helper()
	e := &env{store: &faulty{Store: openStore(t, "alice", "bob", "carol", "dave")}}
	e.r = router.New(router.Config{Hosts: []string{host}, AccountExists: e.store.AccountExists})
	e.reg = module.NewRegistry(module.Env{Router: e.r, Logger: slog.New(slog.DiscardHandler)})
	e.pep = NewPEP(e.store, opts)
	for _, m := range []module.Module{disco.New(e.reg), e.pep} {
		if err := e.reg.Add(m); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { e.reg.Stop(context.Background()) })
	return e
}

// subscribe sets user's roster item for contact.
func (e *env) subscribe(t *testing.T, user, contact, sub string, groups ...string) {
	t.Helper()
	_, _, err := e.store.UpdateRosterItem(t.Context(), host, user, contact, func(*storage.RosterItem) (*storage.RosterItem, error) {
		return &storage.RosterItem{JID: contact, Subscription: sub, Groups: groups}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// friends makes a and b (local usernames) subscribed both ways.
func (e *env) friends(t *testing.T, a, b string) {
	t.Helper()
	e.subscribe(t, a, b+"@"+host, storage.SubBoth)
	e.subscribe(t, b, a+"@"+host, storage.SubBoth)
}

func (e *env) bind(t *testing.T, full string) *routertest.Session {
	t.Helper()
	s := routertest.Bind(t, e.r, full)
	e.r.SessionBound(t.Context(), s)
	return s
}

func (e *env) send(t *testing.T, s *routertest.Session, xml string) {
	t.Helper()
	e.r.Route(t.Context(), routertest.Stanza(t, s, xml))
}

// call sends an IQ and returns its answer, failing unless exactly one
// answer with its id came; what else the session got is returned too.
func (e *env) call(t *testing.T, s *routertest.Session, xml string) (reply *xmppcore.Element, others []*xmppcore.Element) {
	t.Helper()
	req := routertest.Parse(t, xml)
	e.send(t, s, xml)
	for _, el := range s.Take() {
		if el.Local == xmppcore.IQ && el.Attr("id") == req.Attr("id") && reply == nil {
			reply = el
			continue
		}
		others = append(others, el)
	}
	if reply == nil {
		t.Fatalf("no answer to %s; got %v", xml, others)
	}
	return reply, others
}

// ok sends an IQ that must succeed and returns the result's payload.
func (e *env) ok(t *testing.T, s *routertest.Session, xml string) *xmppcore.Element {
	t.Helper()
	reply, others := e.call(t, s, xml)
	if reply.Attr("type") != "result" {
		t.Fatalf("%s\nanswered %s", xml, reply)
	}
	for _, o := range others {
		s.Send(o) // leave notifications to the test
	}
	return reply.FirstChild()
}

// fails sends an IQ that must fail and checks the <error/> element.
func (e *env) fails(t *testing.T, s *routertest.Session, xml, wantError string) {
	t.Helper()
	reply, others := e.call(t, s, xml)
	if reply.Attr("type") != "error" {
		t.Fatalf("%s\nanswered %s, want an error", xml, reply)
	}
	routertest.AssertXML(t, reply.Child("", "error"), wantError)
	if len(others) != 0 {
		t.Errorf("an error came with %v", others)
	}
}

// Client capabilities (XEP-0115) of the test clients.
type client struct {
	identity string // category/type/lang/name
	node     string
	features []string
}

func (c client) ver() string {
	fs := slices.Clone(c.features)
	slices.Sort(fs)
	s := c.identity + "<" + strings.Join(fs, "<") + "<"
	sum := sha1.Sum([]byte(s))
	return base64.StdEncoding.EncodeToString(sum[:])
}

func (c client) caps() string {
	return `<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='` + c.node + `' ver='` + c.ver() + `'/>`
}

func (c client) info() string {
	parts := strings.SplitN(c.identity, "/", 4)
	var b strings.Builder
	b.WriteString(`<query xmlns='http://jabber.org/protocol/disco#info' node='` + c.node + `#` + c.ver() + `'>`)
	b.WriteString(`<identity category='` + parts[0] + `' type='` + parts[1] + `' name='` + parts[3] + `'/>`)
	for _, f := range c.features {
		b.WriteString(`<feature var='` + f + `'/>`)
	}
	b.WriteString(`</query>`)
	return b.String()
}

// conversations is a Conversations-like client: OMEMO, avatars, nick.
var conversations = client{identity: "client/phone//Conversations", node: "http://conversations.im",
	features: []string{"http://jabber.org/protocol/caps", "http://jabber.org/protocol/disco#info",
		"urn:xmpp:avatar:metadata+notify", "http://jabber.org/protocol/nick+notify",
		nodeDevices + "+notify", "urn:xmpp:bookmarks:1+notify", "urn:xmpp:omemo:2:devices+notify"}}

// gajim is a desktop client interested in tunes too.
var gajim = client{identity: "client/pc//Gajim", node: "https://gajim.org",
	features: []string{"http://jabber.org/protocol/disco#info", nodeTune + "+notify", nodeAvatar + "+notify", nodeBookmark + "+notify"}}

// plain is a client interested in nothing.
var plain = client{identity: "client/pc//Plain", node: "https://example.net/plain",
	features: []string{"http://jabber.org/protocol/disco#info"}}

// online binds full, sends initial presence with c's caps and answers the
// caps query if the server asks; it returns the session and what it got
// after answering (last items).
func (e *env) online(t *testing.T, full string, c client) (*routertest.Session, []*xmppcore.Element) {
	t.Helper()
	s := e.bind(t, full)
	e.send(t, s, `<presence>`+c.caps()+`</presence>`)
	var got []*xmppcore.Element
	for _, el := range s.Take() {
		if q := el.Child(NSDiscoInfo, "query"); el.Local == xmppcore.IQ && q != nil && el.Attr("type") == "get" {
			if q.Attr("node") != c.node+"#"+c.ver() || el.Attr("from") != s.JID().Bare().String() {
				t.Fatalf("caps query %s", el)
			}
			e.send(t, s, `<iq type='result' id='`+el.Attr("id")+`' to='`+el.Attr("from")+`'>`+c.info()+`</iq>`)
			continue
		}
		got = append(got, el)
	}
	return s, append(got, s.Take()...)
}

// stripID returns el without its id, which is random in notifications.
func stripID(el *xmppcore.Element) *xmppcore.Element {
	c := el.ShallowClone()
	c.RemoveAttr("id")
	return c
}

// assertNotifications checks what s got against want, ignoring ids and
// <delay/> stamps (checked present when want has a delay).
func assertNotifications(t *testing.T, s *routertest.Session, want ...string) {
	t.Helper()
	got := s.Take()
	if len(got) != len(want) {
		t.Fatalf("%s got %d stanzas, want %d:\n%v", s.JID(), len(got), len(want), got)
	}
	for i := range got {
		el := stripID(got[i].Clone())
		if el.Attr("id") != "" || got[i].Attr("id") == "" {
			t.Errorf("notification without id: %s", got[i])
		}
		if d := el.Child(NSDelay, "delay"); d != nil {
			if d.Attr("stamp") == "" {
				t.Errorf("delay without stamp: %s", got[i])
			}
			d.SetAttr("stamp", "X")
		}
		routertest.AssertXML(t, el, want[i])
	}
}

func jidOf(s string) jid.JID { return jid.MustParse(s) }
