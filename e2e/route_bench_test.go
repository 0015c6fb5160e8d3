package e2e_test

import (
	"context"
	"testing"

	"mellium.im/xmpp/jid"

	"parley.im/parley/config"
	"parley.im/parley/internal/routertest"
	"parley.im/parley/internal/xmpptest"
	"parley.im/parley/router"
	"parley.im/parley/xmppcore"
)

// BenchmarkRouteChat measures the user-space work of one 1:1 chat message
// between two online users, from the moment c2s hands the parsed stanza
// to the router until the recipient session's Send: the router and every
// standard module's hooks (blocking, mam, carbons, presence, push, ...),
// as in a real server (xmpptest.Start: SQLite, the modules cmd/parley
// wires). The sessions are fakes bound to the server's router, each
// available after its initial presence; archiving is off
// (mam.default = "never"), as in the chat benchmark of bench/README.md,
// or on ("always", the default) for comparison. The message is parsed
// once, with the 'from' c2s stamps, and routed again each op.
func BenchmarkRouteChat(b *testing.B) {
	for _, mam := range []string{"never", "always"} {
		for _, to := range []string{"bare", "full"} {
			b.Run("mam="+mam+"/to="+to, func(b *testing.B) { benchRouteChat(b, mam, to) })
		}
	}
}

func benchRouteChat(b *testing.B, mam, to string) {
	srv := xmpptest.Start(b, func(c *config.Config) { c.MAM.Default = mam })
	srv.AddUser(b, "romeo", password)
	srv.AddUser(b, "juliet", password)
	rt := srv.Router()
	ctx := context.Background()
	bind := func(full string) *routertest.Counting {
		s := &routertest.Counting{J: jid.MustParse(full)}
		if _, err := rt.Bind(s); err != nil {
			b.Fatal(err)
		}
		rt.SessionBound(ctx, s)
		rt.Route(ctx, &router.Stanza{El: xmppcore.New("", xmppcore.Presence, "from", full), From: s.J, Origin: s})
		return s
	}
	from := bind("romeo@" + host + "/balcony")
	dest := bind("juliet@" + host + "/garden")
	toJID := dest.J
	if to == "bare" {
		toJID = toJID.Bare()
	}
	el, err := xmppcore.Parse([]byte(`<message type='chat' id='m1' from='` + from.J.String() + `' to='` + toJID.String() +
		`'><body>Art thou not Romeo, and a Montague?</body><active xmlns='http://jabber.org/protocol/chatstates'/></message>`))
	if err != nil {
		b.Fatal(err)
	}
	before := dest.Sent()
	b.ReportAllocs()
	for b.Loop() {
		rt.Route(ctx, &router.Stanza{El: el, From: from.J, To: toJID, Origin: from})
	}
	if got := dest.Sent() - before; got != int64(b.N) {
		b.Fatalf("%d of %d messages delivered", got, b.N)
	}
}
