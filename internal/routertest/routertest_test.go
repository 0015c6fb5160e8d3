package routertest

import (
	"context"
	"testing"
	"time"

	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stream"

	"parley.im/parley/router"
	"parley.im/parley/xmppcore"
)

func TestSessionRecords(t *testing.T) {
	s := NewSession(jid.MustParse("a@example.org/r"))
	one, two := xmppcore.New("", "message", "id", "1"), xmppcore.New("", "message", "id", "2")
	if !s.Send(one) || !s.Send(two) {
		t.Fatal("Send refused on an open session")
	}
	if got := s.Sent(); len(got) != 2 || got[0] != one || got[1] != two {
		t.Fatalf("Sent = %v", got)
	}
	if got := s.Take(); len(got) != 2 || len(s.Sent()) != 0 {
		t.Fatalf("Take = %v, then Sent = %v", got, s.Sent())
	}
	s.Refuse(true)
	if s.Send(one) || len(s.Sent()) != 0 {
		t.Fatal("Send accepted while refusing")
	}
	s.Refuse(false)
	s.Close(stream.Conflict, "replaced")
	s.Close(stream.SystemShutdown, "") // the first close wins
	if se, text, ok := s.Closed(); !ok || se.Err != stream.Conflict.Err || text != "replaced" {
		t.Fatalf("Closed = %v %q %v", se, text, ok)
	}
	if s.Send(one) {
		t.Fatal("Send accepted after Close")
	}
}

func TestWaitFor(t *testing.T) {
	s := NewSession(jid.MustParse("a@example.org/r"))
	s.Send(xmppcore.New("", "iq", "id", "early"))
	if el := s.WaitFor(t, ByID("early")); el.Attr("id") != "early" {
		t.Fatalf("WaitFor found %v", el)
	}
	s.Take()
	go func() {
		time.Sleep(10 * time.Millisecond)
		s.Send(xmppcore.New("", "iq", "id", "other"))
		s.Send(xmppcore.New("", "iq", "id", "late"))
	}()
	if el := s.WaitFor(t, ByID("late")); el.Attr("id") != "late" {
		t.Fatalf("WaitFor found %v", el)
	}
}

func TestParseAndEqual(t *testing.T) {
	a := Parse(t, `<iq type='get' id='1'><query xmlns='urn:x' a='1' b='2'/></iq>`)
	if a.Space != "" || a.Local != "iq" || a.FirstChild().Space != "urn:x" {
		t.Fatalf("Parse gave %#v", a)
	}
	b := Parse(t, "<iq id='1' type='get'>\n  <query b='2' a='1' xmlns='urn:x'/>\n</iq>")
	if !Equal(a, b) {
		t.Errorf("%s and %s differ", a, b)
	}
	for _, other := range []string{
		`<iq type='get' id='2'><query xmlns='urn:x' a='1' b='2'/></iq>`,
		`<iq type='get' id='1'><query xmlns='urn:y' a='1' b='2'/></iq>`,
		`<iq type='get' id='1'><query xmlns='urn:x' a='1'/></iq>`,
		`<iq type='get' id='1'><query xmlns='urn:x' a='1' b='2'>text</query></iq>`,
		`<iq type='get' id='1'><query xmlns='urn:x' a='1' b='2'/><x/></iq>`,
	} {
		if Equal(a, Parse(t, other)) {
			t.Errorf("%s equals %s", a, other)
		}
	}
	if Equal(a, nil) || !Equal(nil, nil) {
		t.Error("Equal mishandles nil")
	}
}

func TestStanzaAndAccounts(t *testing.T) {
	r := router.New(router.Config{Hosts: []string{"example.org"}, AccountExists: Accounts("bob@example.org")})
	alice := Bind(t, r, "alice@example.org/phone")
	st := Stanza(t, alice, `<iq type='get' id='x' to='bob@example.org'><ping xmlns='urn:xmpp:ping'/></iq>`)
	if st.El.Attr("from") != "alice@example.org/phone" || !st.To.Equal(jid.MustParse("bob@example.org")) || st.Origin != alice {
		t.Fatalf("Stanza gave %+v", st)
	}
	exists := Accounts("bob@example.org")
	for user, want := range map[string]bool{"bob": true, "alice": false} {
		if got, err := exists(context.Background(), "example.org", user); got != want || err != nil {
			t.Errorf("exists(%s) = %v, %v", user, got, err)
		}
	}
	// Unknown bare JID, unclaimed IQ: the router answers the requester.
	r.Route(context.Background(), Stanza(t, alice, `<iq type='get' id='y' to='carol@example.org'><q xmlns='urn:x'/></iq>`))
	AssertXML(t, alice.TakeOne(t), `<iq type='error' id='y' from='carol@example.org' to='alice@example.org/phone'>
		<error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`)
}
