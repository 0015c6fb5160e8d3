// Package e2e_test drives the modules together through a real server
// (internal/xmpptest: real sockets, TLS, SCRAM and storage) with raw
// clients: subscriptions, presence, chat and offline messages across
// several users and resources, blocking across modules, persistence
// across a restart on SQLite and PostgreSQL, and account removal. The
// benchmark of presence fan-out at login is here too.
//
// No test waits for something not to happen: a client proves that nothing
// more is on its way by a ping round trip to the server (sync), whose
// answer is queued after everything the server had already routed to it.
package e2e_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"parley.im/parley/config"
	"parley.im/parley/internal/xmpptest"
	"parley.im/parley/router"
	"parley.im/parley/xmppcore"
)

const (
	password = "correct horse"
	host     = "localhost"

	nsRoster   = "jabber:iq:roster"
	nsDelay    = "urn:xmpp:delay"
	nsBlocking = "urn:xmpp:blocking"
	nsVCard    = "vcard-temp"
	nsPrivate  = "jabber:iq:private"
	nsRegister = "jabber:iq:register"
)

// start runs a server with the given users.
func start(t *testing.T, users []string, configure ...func(*config.Config)) *xmpptest.Server {
	t.Helper()
	srv := xmpptest.Start(t, configure...)
	for _, u := range users {
		srv.AddUser(t, u, password)
	}
	return srv
}

// client is a logged-in raw client that keeps what it read but did not
// ask for yet (its backlog), so that nothing is skipped unseen.
type client struct {
	t       *testing.T
	c       *xmpptest.Client
	jid     string // full JID as bound
	bare    string
	backlog []*xmppcore.Element
	ids     int
}

// login logs user in with resource (SCRAM-SHA-256 over STARTTLS) and
// binds it; it sends no presence.
func login(t *testing.T, srv *xmpptest.Server, user, resource string) *client {
	t.Helper()
	c, full := xmpptest.Login(t, srv, user, password, resource)
	bare, _, _ := strings.Cut(full, "/")
	return &client{t: t, c: c, jid: full, bare: bare}
}

// online is login, a roster get (so that the session gets roster pushes)
// and initial presence with the given extra content, then sync; it
// returns the client and what arrived up to the sync.
func online(t *testing.T, srv *xmpptest.Server, user, resource, presence string) (*client, []*xmppcore.Element) {
	t.Helper()
	c := login(t, srv, user, resource)
	c.roster("")
	c.send(`<presence>` + presence + `</presence>`)
	return c, c.sync()
}

func (c *client) send(s string) {
	c.t.Helper()
	c.c.Send(s)
}

func (c *client) nextID(prefix string) string {
	c.ids++
	return prefix + "-" + strconv.Itoa(c.ids)
}

// take returns the first element that matches, from the backlog or read
// from the stream; elements read that do not match go to the backlog. It
// fails the test after xmpptest.Timeout.
func (c *client) take(what string, match func(*xmppcore.Element) bool) *xmppcore.Element {
	c.t.Helper()
	if i := slices.IndexFunc(c.backlog, match); i >= 0 {
		el := c.backlog[i]
		c.backlog = slices.Delete(c.backlog, i, i+1)
		return el
	}
	for {
		el, err := c.c.NextErr()
		if err != nil {
			c.t.Fatalf("%s: waiting for %s: %v; unread: %s", c.jid, what, err, dump(c.backlog))
		}
		if match(el) {
			return el
		}
		c.backlog = append(c.backlog, el)
	}
}

// sync makes sure the server has routed everything the client sent so
// far, and everything others had routed to it before: it pings the server
// and reads up to the answer. It returns, and forgets, all the elements
// received before the answer that nobody took yet.
func (c *client) sync() []*xmppcore.Element {
	c.t.Helper()
	id := c.nextID("sync")
	c.send(`<iq type='get' id='` + id + `' to='` + host + `'><ping xmlns='urn:xmpp:ping'/></iq>`)
	res := c.take("the answer to "+id, byID(id))
	if res.Attr("type") != "result" {
		c.t.Fatalf("%s: ping answered with %s", c.jid, res)
	}
	got := c.backlog
	c.backlog = nil
	return got
}

// iq sends an IQ of type typ (to may be empty) and returns the answer.
func (c *client) iq(typ, to, payload string) *xmppcore.Element {
	c.t.Helper()
	id := c.nextID("iq")
	attrTo := ""
	if to != "" {
		attrTo = ` to='` + to + `'`
	}
	c.send(`<iq type='` + typ + `' id='` + id + `'` + attrTo + `>` + payload + `</iq>`)
	return c.take("the answer to "+id, byID(id))
}

// mustIQ is iq that fails the test unless the answer is a result.
func (c *client) mustIQ(typ, to, payload string) *xmppcore.Element {
	c.t.Helper()
	res := c.iq(typ, to, payload)
	if res.Attr("type") != "result" {
		c.t.Fatalf("%s: %s %s answered with %s", c.jid, typ, payload, res)
	}
	return res
}

// roster gets the roster, with 'ver' when ver is not "-", and returns the
// result's query (nil for the empty result of an unchanged versioned
// roster).
func (c *client) roster(ver string) *xmppcore.Element {
	c.t.Helper()
	q := `<query xmlns='` + nsRoster + `'/>`
	if ver != "-" {
		q = `<query xmlns='` + nsRoster + `' ver='` + ver + `'/>`
	}
	return c.mustIQ("get", "", q).Child(nsRoster, "query")
}

// close ends the stream and waits for the server to end it too.
func (c *client) close() {
	c.t.Helper()
	c.send(`</stream:stream>`)
	for {
		_, err := c.c.NextErr()
		if err != nil {
			break
		}
	}
	_ = c.c.Conn.Close()
}

// --- matchers

func byID(id string) func(*xmppcore.Element) bool {
	return func(el *xmppcore.Element) bool { return el.Attr("id") == id }
}

// presence matches presence of type typ ("" for available) from from.
func presence(from, typ string) func(*xmppcore.Element) bool {
	return func(el *xmppcore.Element) bool {
		return el.Local == xmppcore.Presence && el.Attr("from") == from && el.Attr("type") == typ
	}
}

// anyPresenceFrom matches any presence from a resource of bare, or from
// bare itself.
func anyPresenceFrom(bare string) func(*xmppcore.Element) bool {
	return func(el *xmppcore.Element) bool {
		from := el.Attr("from")
		return el.Local == xmppcore.Presence && (from == bare || strings.HasPrefix(from, bare+"/"))
	}
}

// chat matches a message with body.
func chat(body string) func(*xmppcore.Element) bool {
	return func(el *xmppcore.Element) bool {
		return el.Local == xmppcore.Message && el.Attr("type") != "error" && el.ChildText("", "body") == body
	}
}

// anyBody matches any message with a body that is not an error.
func anyBody(el *xmppcore.Element) bool {
	return el.Local == xmppcore.Message && el.Attr("type") != "error" && el.Child("", "body") != nil
}

// push matches a roster push about contact.
func push(contact string) func(*xmppcore.Element) bool {
	return func(el *xmppcore.Element) bool {
		return el.Local == xmppcore.IQ && el.Attr("type") == "set" && pushItem(el) != nil &&
			pushItem(el).Attr("jid") == contact
	}
}

func pushItem(el *xmppcore.Element) *xmppcore.Element {
	return el.Child(nsRoster, "query").Child(nsRoster, "item")
}

// anyPush matches any roster push.
func anyPush(el *xmppcore.Element) bool {
	return el.Local == xmppcore.IQ && el.Attr("type") == "set" && el.Child(nsRoster, "query") != nil
}

// item describes a roster item as a client sees it: subscription and ask.
func item(it *xmppcore.Element) string {
	if it == nil {
		return "<absent>"
	}
	s := "subscription=" + it.Attr("subscription")
	if ask := it.Attr("ask"); ask != "" {
		s += " ask=" + ask
	}
	return s
}

// rosterItem returns the item for contact in a roster result's query.
func rosterItem(q *xmppcore.Element, contact string) *xmppcore.Element {
	for it := range q.Children() {
		if it.Is(nsRoster, "item") && it.Attr("jid") == contact {
			return it
		}
	}
	return nil
}

// errorCondition returns the defined condition of a stanza error ("" when
// el is not one).
func errorCondition(el *xmppcore.Element) string {
	e := el.Child("", "error")
	if el.Attr("type") != "error" || e == nil {
		return ""
	}
	for ch := range e.Children() {
		if ch.Space == xmppcore.NSStanzas && ch.Local != "text" {
			return ch.Local
		}
	}
	return ""
}

func count(els []*xmppcore.Element, match func(*xmppcore.Element) bool) int {
	n := 0
	for _, el := range els {
		if match(el) {
			n++
		}
	}
	return n
}

func filter(els []*xmppcore.Element, match func(*xmppcore.Element) bool) []*xmppcore.Element {
	var out []*xmppcore.Element
	for _, el := range els {
		if match(el) {
			out = append(out, el)
		}
	}
	return out
}

func dump(els []*xmppcore.Element) string {
	if len(els) == 0 {
		return "(nothing)"
	}
	var b strings.Builder
	for _, el := range els {
		b.WriteString("\n\t")
		b.WriteString(el.String())
	}
	return b.String()
}

// expectPush takes the roster push about contact and checks what it says.
func (c *client) expectPush(contact, want string) *xmppcore.Element {
	c.t.Helper()
	p := c.take("a roster push about "+contact, push(contact))
	if got := item(pushItem(p)); got != want {
		c.t.Errorf("%s: roster push about %s: %s, want %s (%s)", c.jid, contact, got, want, p)
	}
	return p
}

// noneOf fails the test if any element of els matches.
func noneOf(t *testing.T, who, what string, els []*xmppcore.Element, match func(*xmppcore.Element) bool) {
	t.Helper()
	if bad := filter(els, match); len(bad) > 0 {
		t.Errorf("%s got %s, which it must not: %s", who, what, dump(bad))
	}
}

// delayStamp returns the XEP-0203 stamp of el, checking that the delay
// comes from the host.
func delayStamp(t *testing.T, el *xmppcore.Element) time.Time {
	t.Helper()
	d := el.Child(nsDelay, "delay")
	if d == nil {
		t.Errorf("no XEP-0203 delay in %s", el)
		return time.Time{}
	}
	if d.Attr("from") != host {
		t.Errorf("delay from %q, want %q: %s", d.Attr("from"), host, el)
	}
	ts, err := time.Parse(time.RFC3339Nano, d.Attr("stamp"))
	if err != nil {
		t.Errorf("delay stamp: %v", err)
	}
	if !strings.HasSuffix(d.Attr("stamp"), "Z") {
		t.Errorf("delay stamp %q is not in UTC", d.Attr("stamp"))
	}
	return ts
}

// subscribe runs the whole subscription handshake between two available
// clients (a asks, b approves, b asks back, a approves) and leaves both
// with subscription both; it checks only the end state (the full
// sequence is TestSubscriptionHandshake's).
func subscribe(t *testing.T, a, b *client) {
	t.Helper()
	for _, p := range [][2]*client{{a, b}, {b, a}} {
		from, to := p[0], p[1]
		from.send(`<presence type='subscribe' to='` + to.bare + `'/>`)
		from.sync()
		to.take("the subscription request of "+from.bare, presence(from.bare, "subscribe"))
		to.send(`<presence type='subscribed' to='` + from.bare + `'/>`)
		to.sync()
		from.take("the approval of "+to.bare, presence(to.bare, "subscribed"))
	}
	for _, p := range [][2]*client{{a, b}, {b, a}} {
		q := p[0].roster("-")
		if got := item(rosterItem(q, p[1].bare)); got != "subscription=both" {
			t.Fatalf("%s's roster item for %s: %s after the handshake", p[0].bare, p[1].bare, got)
		}
	}
	a.sync()
	b.sync()
}

// ctx is a bounded context for direct store access.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func must(t *testing.T, err error, what string, args ...any) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", fmt.Sprintf(what, args...), err)
	}
}

// sessionsEnded returns a function that waits until n sessions of bare
// have ended and every module's session-ended hook has run for them: its
// own hook, added to the router after the modules', runs after theirs.
func sessionsEnded(t *testing.T, srv *xmpptest.Server, bare string, n int) (wait func()) {
	t.Helper()
	ch := make(chan struct{}, 64)
	remove := srv.Router().OnSessionEnded(func(_ context.Context, s router.Session, _ bool) {
		if s.JID().Bare().String() == bare {
			ch <- struct{}{}
		}
	})
	return func() {
		t.Helper()
		defer remove()
		timer := time.NewTimer(xmpptest.Timeout)
		defer timer.Stop()
		for range n {
			select {
			case <-ch:
			case <-timer.C:
				t.Fatalf("%d sessions of %s did not end within %v", n, bare, xmpptest.Timeout)
			}
		}
	}
}
