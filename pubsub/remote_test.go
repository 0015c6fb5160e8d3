package pubsub

import (
	"testing"

	"mellium.im/xmpp/jid"

	"parley.im/parley/internal/routertest"
	"parley.im/parley/router"
	"parley.im/parley/storage"
	"parley.im/parley/xmppcore"
)

// fromRemote routes stanza text as a remote server hands it over: no
// origin session.
func (e *env) fromRemote(t *testing.T, text string) {
	t.Helper()
	el := routertest.Parse(t, text)
	st := &router.Stanza{El: el, From: jid.MustParse(el.Attr("from"))}
	if to := el.Attr("to"); to != "" {
		st.To = jid.MustParse(to)
	}
	e.r.Route(t.Context(), st)
}

// remoteGot returns what was handed to the remote link since the last
// call.
type remoteLog struct {
	r    *routertest.Remote
	seen int
}

func (l *remoteLog) take() []*xmppcore.Element {
	got := l.r.Got()
	var out []*xmppcore.Element
	for _, st := range got[l.seen:] {
		out = append(out, st.El)
	}
	l.seen = len(got)
	return out
}

// TestRemoteContact: with Federation, a contact on another domain is
// followed through the presence it sends: its caps are asked for from the
// local user it wrote to and verified, it gets the last items at its
// initial presence and the notifications afterwards, until unavailable.
func TestRemoteContact(t *testing.T) {
	e := setup(t, Options{Federation: true})
	remote := &remoteLog{r: &routertest.Remote{}}
	e.r.SetRemote(remote.r)
	e.subscribe(t, "alice", "romeo@montague.net", storage.SubBoth)
	e.subscribe(t, "alice", "tybalt@capulet.net", storage.SubTo) // alice does not share with him
	alice := e.bind(t, "alice@example.org/desk")
	e.send(t, alice, `<presence/>`)
	e.ok(t, alice, publishReq("p1", nodeTune, "t1", tune, ""))
	alice.Take()

	e.fromRemote(t, `<presence from='romeo@montague.net/orchard' to='alice@example.org'>`+gajim.caps()+`</presence>`)
	got := remote.take()
	if len(got) != 1 || got[0].Local != "iq" || got[0].Attr("from") != "alice@example.org" || got[0].Attr("to") != "romeo@montague.net/orchard" {
		t.Fatalf("caps query: %v", got)
	}
	alice.Take() // the presence itself
	e.fromRemote(t, `<iq type='result' id='`+got[0].Attr("id")+`' from='romeo@montague.net/orchard' to='alice@example.org'>`+gajim.info()+`</iq>`)
	got = remote.take()
	if len(got) != 1 || got[0].Local != "message" || got[0].Attr("to") != "romeo@montague.net/orchard" ||
		got[0].Child(NSDelay, "delay") == nil {
		t.Fatalf("last item: %v", got)
	}

	// A contact alice does not share her presence with gets nothing,
	// though his caps are asked for (now known: no query).
	e.fromRemote(t, `<presence from='tybalt@capulet.net/x' to='alice@example.org'>`+gajim.caps()+`</presence>`)
	if got := remote.take(); len(got) != 0 {
		t.Fatalf("tybalt: %v", got)
	}
	alice.Take()

	e.ok(t, alice, publishReq("p2", nodeTune, "t2", tune, ""))
	alice.Take()
	got = remote.take()
	if len(got) != 1 || got[0].Attr("to") != "romeo@montague.net/orchard" || got[0].Child(NSAddress, "addresses") == nil {
		t.Fatalf("notification: %v", got)
	}

	e.fromRemote(t, `<presence type='unavailable' from='romeo@montague.net/orchard' to='alice@example.org'/>`)
	alice.Take()
	e.ok(t, alice, publishReq("p3", nodeTune, "t3", tune, ""))
	alice.Take()
	if got := remote.take(); len(got) != 0 {
		t.Fatalf("after unavailable: %v", got)
	}

	// Without Federation nothing goes to other domains, not even to an
	// explicit subscriber.
	e2 := setup(t, Options{})
	r2 := &remoteLog{r: &routertest.Remote{}}
	e2.r.SetRemote(r2.r)
	a2 := e2.bind(t, "alice@example.org/desk")
	e2.ok(t, a2, publishReq("p1", nodeTune, "t1", tune, options("pubsub#access_model", "open")))
	st := routertest.Stanza(t, routertest.NewSession(jid.MustParse("romeo@montague.net/orchard")),
		`<iq type='set' id='s' to='alice@example.org'><pubsub xmlns='http://jabber.org/protocol/pubsub'><subscribe node='`+nodeTune+`' jid='romeo@montague.net/orchard'/></pubsub></iq>`)
	st.Origin = nil
	e2.r.Route(t.Context(), st)
	got = r2.take()
	if len(got) != 1 || got[0].Attr("type") != "result" {
		t.Fatalf("subscribe answer: %v", got)
	}
	e2.ok(t, a2, publishReq("p2", nodeTune, "t2", tune, ""))
	if got := r2.take(); len(got) != 0 {
		t.Fatalf("notification without federation: %v", got)
	}
}
