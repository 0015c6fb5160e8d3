package register

import (
	"net/netip"
	"testing"
	"time"

	"parley.im/parley/internal/routertest"
	"parley.im/parley/storage"
	"parley.im/parley/xmppcore"
)

var (
	ipA = netip.MustParseAddr("192.0.2.1")
	ipB = netip.MustParseAddr("192.0.2.2")
)

// preIQ runs a pre-authentication IQ from ip on example.org.
func (e *env) preIQ(t *testing.T, ip netip.Addr, xml string) *xmppcore.Element {
	t.Helper()
	reply, ok := e.mod.PreAuthIQ(t.Context(), "example.org", ip, routertest.Parse(t, xml))
	if !ok {
		t.Fatalf("%s not handled", xml)
	}
	return reply
}

func (e *env) invite(t *testing.T, token string, inv storage.Invite) {
	t.Helper()
	inv.Host, inv.TokenHash, inv.Register = "example.org", storage.InviteTokenHash(token), true
	if inv.Expires.IsZero() {
		inv.Expires = e.clock.Now().Add(time.Hour)
	}
	if err := e.store.CreateInvite(t.Context(), inv); err != nil {
		t.Fatal(err)
	}
}

const (
	preauthTok = `<iq type='set' id='pa'><preauth xmlns='urn:xmpp:pars:0' token='tok'/></iq>`
	regCarol   = `<iq type='set' id='r'><query xmlns='jabber:iq:register'><username>carol</username><password>pw</password></query></iq>`
	regAlice   = `<iq type='set' id='r'><query xmlns='jabber:iq:register'><username>alice</username><password>pw</password></query></iq>`
)

func TestPreAuthFeatures(t *testing.T) {
	for _, tc := range []struct {
		opts Options
		want []string
	}{
		{Options{}, nil},
		{Options{Invites: true}, []string{NSTokenFeature}},
		{Options{Invites: true, Enabled: true}, []string{NSFeature, NSTokenFeature}},
	} {
		e := setup(t, tc.opts)
		var got []string
		for _, f := range e.mod.PreAuthFeatures("example.org") {
			got = append(got, f.Space)
		}
		if len(got) != len(tc.want) || (len(got) > 0 && (got[0] != tc.want[0] || got[len(got)-1] != tc.want[len(tc.want)-1])) {
			t.Errorf("%+v: features %q, want %q", tc.opts, got, tc.want)
		}
	}
}

// A token accepted from one address lets that address register; another
// address still cannot, and the window ends.
func TestPreAuthScope(t *testing.T) {
	e := setup(t, Options{Invites: true})
	e.invite(t, "tok", storage.Invite{})
	if r := e.preIQ(t, ipA, `<iq type='get' id='pa'><preauth xmlns='urn:xmpp:pars:0' token='tok'/></iq>`); routertest.ErrorCondition(r) != "bad-request" {
		t.Errorf("preauth get: %s", r)
	}
	if r := e.preIQ(t, ipA, `<iq type='set' id='pa'><preauth xmlns='urn:xmpp:pars:0'/></iq>`); routertest.ErrorCondition(r) != "bad-request" {
		t.Errorf("preauth without token: %s", r)
	}
	if r := e.preIQ(t, ipA, preauthTok); r.Attr("type") != "result" {
		t.Fatalf("preauth: %s", r)
	}
	if r := e.preIQ(t, ipB, regCarol); routertest.ErrorCondition(r) != "service-unavailable" {
		t.Errorf("registration from another address: %s", r)
	}
	e.clock.Advance(PreAuthWindow + time.Second)
	if r := e.preIQ(t, ipA, regCarol); routertest.ErrorCondition(r) != "service-unavailable" {
		t.Errorf("registration after the window: %s", r)
	}
	if e.exists(t, "example.org", "carol") {
		t.Error("carol registered")
	}
}

// XEP-0445 §4: expiry is checked at preauth; a registration afterwards
// works even if the invitation expired meanwhile.
func TestExpiryCheckedAtPreAuth(t *testing.T) {
	e := setup(t, Options{Invites: true})
	e.invite(t, "tok", storage.Invite{Expires: e.clock.Now().Add(time.Minute)})
	if r := e.preIQ(t, ipA, preauthTok); r.Attr("type") != "result" {
		t.Fatalf("preauth: %s", r)
	}
	e.clock.Advance(2 * time.Minute)
	if r := e.preIQ(t, ipA, regCarol); r.Attr("type") != "result" {
		t.Fatalf("registration after expiry, token accepted before: %s", r)
	}
	if !e.exists(t, "example.org", "carol") {
		t.Error("carol not registered")
	}
	e.invite(t, "old", storage.Invite{Expires: e.clock.Now().Add(-time.Second)})
	if r := e.preIQ(t, ipB, `<iq type='set' id='pa'><preauth xmlns='urn:xmpp:pars:0' token='old'/></iq>`); routertest.ErrorCondition(r) != "item-not-found" {
		t.Errorf("an expired token: %s", r)
	}
}

// A registration that fails (a taken name) leaves the invitation unused.
func TestFailedRegistrationKeepsInvite(t *testing.T) {
	e := setup(t, Options{Invites: true})
	e.invite(t, "tok", storage.Invite{Inviter: "bob"})
	e.preIQ(t, ipA, preauthTok)
	if r := e.preIQ(t, ipA, regAlice); routertest.ErrorCondition(r) != "conflict" {
		t.Fatalf("registering a taken name: %s", r)
	}
	if r := e.preIQ(t, ipA, regCarol); r.Attr("type") != "result" {
		t.Fatalf("then a free one: %s", r)
	}
	items, _, err := e.store.RosterItems(t.Context(), "example.org", "bob")
	if err != nil || len(items) != 1 || items[0].JID != "carol@example.org" || items[0].Subscription != storage.SubBoth {
		t.Errorf("bob's roster: %+v, %v", items, err)
	}
	if _, err := e.store.Invite(t.Context(), "example.org", storage.InviteTokenHash("tok"), e.clock.Now()); err == nil {
		t.Error("the invitation is still there after use")
	}
}

// A contact invitation that does not allow registering is refused at
// preauth.
func TestNoRegisterInvite(t *testing.T) {
	e := setup(t, Options{Invites: true})
	inv := storage.Invite{Host: "example.org", TokenHash: storage.InviteTokenHash("tok"), Inviter: "bob",
		Expires: e.clock.Now().Add(time.Hour)}
	if err := e.store.CreateInvite(t.Context(), inv); err != nil {
		t.Fatal(err)
	}
	if r := e.preIQ(t, ipA, preauthTok); routertest.ErrorCondition(r) != "item-not-found" {
		t.Errorf("preauth with a roster-only token: %s", r)
	}
}

// Token checks are bounded per address like registrations.
func TestPreAuthTokenRateLimit(t *testing.T) {
	e := setup(t, Options{Invites: true, MaxPerIP: 2})
	e.invite(t, "tok", storage.Invite{})
	bad := `<iq type='set' id='pa'><preauth xmlns='urn:xmpp:pars:0' token='guess'/></iq>`
	for range 2 {
		if r := e.preIQ(t, ipA, bad); routertest.ErrorCondition(r) != "item-not-found" {
			t.Fatalf("a wrong token: %s", r)
		}
	}
	if r := e.preIQ(t, ipA, preauthTok); routertest.ErrorCondition(r) != "not-acceptable" {
		t.Errorf("a third check from the address: %s, want not-acceptable (wait)", r)
	}
	if r := e.preIQ(t, ipB, preauthTok); r.Attr("type") != "result" {
		t.Errorf("from another address: %s", r)
	}
}
