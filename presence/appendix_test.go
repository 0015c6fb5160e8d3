package presence

import (
	"slices"
	"strings"
	"testing"

	"mellium.im/xmpp/jid"

	"parley.im/parley/internal/routertest"
)

// appendixRow is one row of the RFC 6121 Appendix A tables: alice's item
// for romeo (a contact on another domain) before, the stanza, alice's item
// after, and what else happens.
type appendixRow struct {
	before, after string
	forward       bool // routed to romeo (outbound) or delivered to alice (inbound)
	// What romeo is sent besides the forwarded stanza: "subscribed" (an
	// auto-reply), "presence" (alice's current presence), "unavailable".
	extra string
}

// The tables, written from the RFC, not from the code. The states with
// "approved" are the pre-approval cases of §3.4. "-" is no item.
var appendix = map[string]map[string][]appendixRow{
	"outbound": {
		// A.2.1: the user's server routes a subscribe in every state.
		Subscribe: {
			{"-", "none+out", true, ""},
			{"none", "none+out", true, ""},
			{"none+out", "none+out", true, ""},
			{"none+in", "none+out+in", true, ""},
			{"none+out+in", "none+out+in", true, ""},
			{"to", "to", true, ""},
			{"to+in", "to+in", true, ""},
			{"from", "from+out", true, ""},
			{"from+out", "from+out", true, ""},
			{"both", "both", true, ""},
			{"none+approved", "none+out+approved", true, ""},
			{"to+approved", "to+approved", true, ""},
		},
		// A.3.1, §3.4 (pre-approval where no request is pending).
		Subscribed: {
			{"-", "none+approved", false, ""},
			{"none", "none+approved", false, ""},
			{"none+out", "none+out+approved", false, ""},
			{"none+in", "from", true, "presence"},
			{"none+out+in", "from+out", true, "presence"},
			{"to", "to+approved", false, ""},
			{"to+in", "both", true, "presence"},
			{"from", "from", false, ""},
			{"from+out", "from+out", false, ""},
			{"both", "both", false, ""},
			{"none+approved", "none+approved", false, ""},
		},
		// A.4.1: routed in every state.
		Unsubscribe: {
			{"-", "-", true, ""},
			{"none", "none", true, ""},
			{"none+out", "none", true, ""},
			{"none+in", "none+in", true, ""},
			{"none+out+in", "none+in", true, ""},
			{"to", "none", true, ""},
			{"to+in", "none+in", true, ""},
			{"from", "from", true, ""},
			{"from+out", "from", true, ""},
			{"both", "from", true, ""},
		},
		// A.5.1; a tracking item (none+in, nothing else) is removed (§3.2.2);
		// an unsubscribed cancels a pre-approval (§3.4).
		Unsubscribed: {
			{"-", "-", false, ""},
			{"none", "none", false, ""},
			{"none+out", "none+out", false, ""},
			{"none+in", "-", true, ""},
			{"none+out+in", "none+out", true, ""},
			{"to", "to", false, ""},
			{"to+in", "to", true, ""},
			{"from", "none", true, "unavailable"},
			{"from+out", "none+out", true, "unavailable"},
			{"both", "to", true, "unavailable"},
			{"none+approved", "none", false, ""},
			{"to+approved", "to", false, ""},
		},
	},
	"inbound": {
		// A.2.2; "From" states get an auto-reply (§3.1.3), pre-approved
		// ones are approved without asking the user (§3.4).
		Subscribe: {
			{"-", "none+in", true, ""},
			{"none", "none+in", true, ""},
			{"none+out", "none+out+in", true, ""},
			{"none+in", "none+in", false, ""},
			{"none+out+in", "none+out+in", false, ""},
			{"to", "to+in", true, ""},
			{"to+in", "to+in", false, ""},
			{"from", "from", false, "subscribed"},
			{"from+out", "from+out", false, "subscribed"},
			{"both", "both", false, "subscribed"},
			{"none+approved", "from", false, "subscribed presence"},
			{"none+out+approved", "from+out", false, "subscribed presence"},
			{"to+approved", "both", false, "subscribed presence"},
		},
		// A.3.2.
		Subscribed: {
			{"-", "-", false, ""},
			{"none", "none", false, ""},
			{"none+out", "to", true, ""},
			{"none+in", "none+in", false, ""},
			{"none+out+in", "to+in", true, ""},
			{"to", "to", false, ""},
			{"to+in", "to+in", false, ""},
			{"from", "from", false, ""},
			{"from+out", "both", true, ""},
			{"both", "both", false, ""},
		},
		// A.4.2; the contact then gets unavailable from the user's
		// resources (§3.3.3), and a tracking item goes.
		Unsubscribe: {
			{"-", "-", false, ""},
			{"none", "none", false, ""},
			{"none+out", "none+out", false, ""},
			{"none+in", "-", true, ""},
			{"none+out+in", "none+out", true, ""},
			{"to", "to", false, ""},
			{"to+in", "to", true, ""},
			{"from", "none", true, "unavailable"},
			{"from+out", "none+out", true, "unavailable"},
			{"both", "to", true, "unavailable"},
		},
		// A.5.2.
		Unsubscribed: {
			{"-", "-", false, ""},
			{"none", "none", false, ""},
			{"none+out", "none", true, ""},
			{"none+in", "none+in", false, ""},
			{"none+out+in", "none+in", true, ""},
			{"to", "none", true, ""},
			{"to+in", "none+in", true, ""},
			{"from", "from", false, ""},
			{"from+out", "from", true, ""},
			{"both", "from", true, ""},
		},
	},
}

const (
	romeo       = "romeo@remote.example"
	alicePres   = `<presence><show>away</show><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='n' ver='v'/></presence>`
	toRomeoPres = `<presence from='alice@example.org/phone' to='romeo@remote.example'><show>away</show><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='n' ver='v'/></presence>`
)

// TestAppendixA runs every row of every table: alice (available on her
// phone, bound but unavailable on her laptop) and romeo on a federated
// domain. Each row checks the stored state, the push, the forwarded
// stanza, what romeo is sent, and that the kept subscription request
// lives exactly as long as the request is pending.
func TestAppendixA(t *testing.T) {
	for _, dir := range []string{"outbound", "inbound"} {
		for _, typ := range []string{Subscribe, Subscribed, Unsubscribe, Unsubscribed} {
			rows := appendix[dir][typ]
			if len(rows) < 10 {
				t.Fatalf("%s %s: only %d rows", dir, typ, len(rows))
			}
			for _, row := range rows {
				t.Run(dir+"/"+typ+"/"+row.before, func(t *testing.T) {
					t.Parallel()
					runRow(t, dir, typ, row)
				})
			}
		}
	}
}

func runRow(t *testing.T, dir, typ string, row appendixRow) {
	e := setup(t, true)
	phone := e.bind(t, "alice@example.org/phone")
	laptop := e.bind(t, "alice@example.org/laptop")
	e.available(t, phone, alicePres)
	before := item(t, romeo, row.before)
	e.put(t, "alice@example.org", before)
	if before != nil && before.PendingIn {
		e.p.keepRequest(t.Context(), phone.JID().Bare(), jid.MustParse(romeo), routertest.Parse(t,
			`<presence type='subscribe' from='romeo@remote.example' to='alice@example.org'/>`))
	}
	e.pusher.take()

	var sent []string // romeo's stanzas, in order
	if dir == "outbound" {
		// The client may address a full JID: the server stamps bare JIDs.
		e.send(t, phone, `<presence type='`+typ+`' id='x1' to='romeo@remote.example/balcony'><status>hi</status></presence>`)
		if row.forward {
			sent = append(sent, `<presence type='`+typ+`' id='x1' from='alice@example.org' to='romeo@remote.example'><status>hi</status></presence>`)
		}
	} else {
		e.fromServer(t, `<presence type='`+typ+`' id='x1' from='romeo@remote.example' to='alice@example.org'><status>hi</status></presence>`)
	}
	for _, x := range strings.Fields(row.extra) {
		switch x {
		case "subscribed":
			sent = append(sent, `<presence type='subscribed' from='alice@example.org' to='romeo@remote.example'/>`)
		case "presence":
			sent = append(sent, toRomeoPres)
		case "unavailable":
			sent = append(sent, `<presence type='unavailable' from='alice@example.org/phone' to='romeo@remote.example'/>`)
		}
	}

	if got := e.state(t, "alice@example.org", romeo); got != row.after {
		t.Errorf("state after: %s, want %s", got, row.after)
	}
	pushes := e.pusher.take()
	if row.before == row.after {
		if len(pushes) != 0 {
			t.Errorf("no state change, yet %d pushes", len(pushes))
		}
	} else if len(pushes) != 1 {
		t.Errorf("%d pushes, want 1", len(pushes))
	} else {
		p := pushes[0]
		if p.account != "alice@example.org" || stateString(p.before) != row.before || stateString(p.after) != row.after || p.version == 0 {
			t.Errorf("push %s %s -> %s v%d", p.account, stateString(p.before), stateString(p.after), p.version)
		}
	}
	assertAll(t, "romeo", e.remoteGot(t), sent...)
	var delivered []string
	if dir == "inbound" && row.forward {
		delivered = append(delivered, `<presence type='`+typ+`' id='x1' from='romeo@remote.example' to='alice@example.org'><status>hi</status></presence>`)
	}
	assertAll(t, "alice/phone", phone.Take(), delivered...)
	assertAll(t, "alice/laptop (unavailable)", laptop.Take())

	wantKept := strings.Contains(row.after, "+in")
	if kept := slices.Contains(e.requests(t, "alice@example.org"), romeo); kept != wantKept {
		t.Errorf("request kept: %v, want %v", kept, wantKept)
	}
}
