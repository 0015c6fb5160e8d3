package muc

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"mellium.im/xmpp/jid"

	"parley.im/parley/internal/routertest"
	"parley.im/parley/xmppcore"
)

// TestRecipientsChurn interleaves joins, leaves and groupchat messages in
// one room, in a random but reproducible order, and checks what each
// session got, in order: its own join and leave presence, and between
// them every message sent while it was in the room, each once, and none
// after it left. In the large case (1,100 sessions, only the owner's
// presence broadcast) the room drains on a goroutine of its own and
// splits each fan-out between workers while the next joins and leaves
// change the recipient list: a snapshot changed under a fan-out, or a
// removal that lost or kept the wrong session, shows here.
func TestRecipientsChurn(t *testing.T) {
	for _, tc := range []struct {
		name      string
		resident  int // sessions that join first and stay (besides the owner)
		churn     int // sessions that come and go
		ops       int
		large     bool
		waitEvery int // wait for the room's drains every so many operations
	}{
		{name: "small", resident: 5, churn: 30, ops: 600, waitEvery: 1},
		{name: "large", resident: 1100, churn: 150, ops: 900, large: true, waitEvery: 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func(f func() int) { fanoutWorkers = f }(fanoutWorkers)
			fanoutWorkers = func() int { return 4 }
			opts := Options{MaxOccupants: tc.resident + tc.churn + 10}
			if tc.large {
				opts.LargeRoom = 1
			}
			e := newEnv(t, opts)
			owner := e.coven()
			r := e.room("coven")
			n := tc.resident + tc.churn
			sessions := make([]*routertest.Session, n)
			in := make([]bool, n)
			want := make([][]string, n+1) // the owner last
			for i := range sessions {
				sessions[i] = routertest.Bind(t, e.rt, fmt.Sprintf("u%d@example.org/r", i))
			}
			joinAs := func(i int) {
				e.send(sessions[i], `<presence to='coven@conference.example.org/u%d'><x xmlns='http://jabber.org/protocol/muc'><history maxchars='0'/></x></presence>`, i)
				in[i] = true
				want[i] = append(want[i], "join")
			}
			leave := func(i int) {
				e.send(sessions[i], `<presence to='coven@conference.example.org/u%d' type='unavailable'/>`, i)
				in[i] = false
				want[i] = append(want[i], "leave")
			}
			say := func(from *routertest.Session, body string) {
				e.send(from, `<message to='coven@conference.example.org' type='groupchat'><body>%s</body></message>`, body)
				for i := range in {
					if in[i] {
						want[i] = append(want[i], body)
					}
				}
				want[n] = append(want[n], body)
			}
			for i := range tc.resident {
				joinAs(i)
			}
			e.m.drains.Wait()
			checkRecipients(t, r)
			rnd := rand.New(rand.NewPCG(9, 45))
			for op := range tc.ops {
				switch k := tc.resident + rnd.IntN(tc.churn); rnd.IntN(3) {
				case 0:
					if in[k] {
						leave(k)
					} else {
						joinAs(k)
					}
				case 1: // a mass departure or arrival of a few at once
					for j := range 1 + rnd.IntN(8) {
						if i := tc.resident + (k-tc.resident+j)%tc.churn; in[i] {
							leave(i)
						} else {
							joinAs(i)
						}
					}
				default:
					from, i := owner, rnd.IntN(n+1)
					if i < n && in[i] {
						from = sessions[i]
					}
					say(from, fmt.Sprintf("m%d", op))
				}
				if op%tc.waitEvery == tc.waitEvery-1 {
					e.m.drains.Wait()
					checkRecipients(t, r)
				}
			}
			e.m.drains.Wait()
			checkRecipients(t, r)
			for i, s := range append(sessions, owner) {
				got := churnEvents(s.Take())
				if i == n {
					got = slices.DeleteFunc(got, func(ev string) bool { return ev == "join" || ev == "leave" })
				}
				if !slices.Equal(got, want[i]) {
					t.Fatalf("session %d got %d events, want %d:\n got %s\nwant %s", i, len(got), len(want[i]),
						strings.Join(got, " "), strings.Join(want[i], " "))
				}
			}
		})
	}
}

// churnEvents reduces what a session got to its own joins and leaves (its
// presence with status 110) and the bodies of groupchat messages; an
// error is kept as such, to fail the comparison.
func churnEvents(els []*xmppcore.Element) []string {
	var out []string
	for _, el := range els {
		switch {
		case el.Attr("type") == "error":
			out = append(out, "error:"+list([]*xmppcore.Element{el}))
		case el.Local == xmppcore.Presence && hasStatus(el, statusSelf):
			if el.Attr("type") == "unavailable" {
				out = append(out, "leave")
			} else {
				out = append(out, "join")
			}
		case el.Local == xmppcore.Message && el.Attr("type") == "groupchat" && el.ChildText("", "body") != "":
			out = append(out, el.ChildText("", "body"))
		}
	}
	return out
}

// checkRecipients checks the room's indexes against its occupants: recips
// holds each session once, at its index, and byRole each occupant under
// its role.
func checkRecipients(t *testing.T, r *room) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.recips) != len(r.bySession) {
		t.Fatalf("%d recipients for %d sessions", len(r.recips), len(r.bySession))
	}
	for full, s := range r.bySession {
		if s.idx >= len(r.recips) || r.recips[s.idx].str != full {
			t.Fatalf("session %s at index %d is not there", full, s.idx)
		}
	}
	count := 0
	for rl, set := range r.byRole {
		for o := range set {
			if o.role != role(rl) || r.occupants[o.nick] != o {
				t.Fatalf("occupant %s (%s) listed as %s", o.nick, o.role, role(rl))
			}
		}
		count += len(set)
	}
	if count != len(r.occupants) {
		t.Fatalf("%d occupants by role, %d by nickname", count, len(r.occupants))
	}
}

// TestRecipientSnapshot: a fan-out's snapshot of the recipients stays as
// it was taken while sessions leave and join after it, and removals
// without a snapshot out work in place.
func TestRecipientSnapshot(t *testing.T) {
	e := newEnv(t, Options{})
	e.coven()
	r := e.room("coven")
	add := func(i int) *occSession {
		j := jid.MustParse(fmt.Sprintf("u%d@example.org/r", i))
		o := r.newOccupant(fmt.Sprintf("u%d", i), j, roleParticipant)
		s := &occSession{occ: o, full: j, rc: recipient{j, j.String()}, pres: xmppcore.New("", "presence")}
		r.addSession(s)
		return s
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var ss []*occSession
	for i := range 20 {
		ss = append(ss, add(i))
	}
	snap := r.everyone()
	strs := func(rcs []recipient) []string {
		var out []string
		for _, rc := range rcs {
			out = append(out, rc.str)
		}
		return out
	}
	before := strs(snap)
	for _, s := range ss[:10] {
		r.removeSession(s)
	}
	for i := 20; i < 40; i++ {
		add(i)
	}
	if got := strs(snap); !slices.Equal(got, before) {
		t.Fatalf("a snapshot changed under its fan-out:\n got %v\nwant %v", got, before)
	}
	// No snapshot out: the next removals swap in place, without copying.
	base := &r.recips[0]
	r.removeSession(ss[10])
	r.removeSession(ss[11])
	if &r.recips[0] != base {
		t.Error("a removal with no snapshot out copied the recipients")
	}
	r.mu.Unlock()
	checkRecipients(t, r)
	r.mu.Lock()
}

// TestRoleIndex: in a large room a newcomer gets the presence of the
// moderators alone, found through the room's index by role, which role
// changes, nickname changes, several sessions and kicks keep in step.
func TestRoleIndex(t *testing.T) {
	e := newEnv(t, Options{LargeRoom: 1})
	alice := e.coven()
	r := e.room("coven")
	bob, carol, dave := e.bind(bobPC), e.bind(carolPC), e.bind("dave@example.org/x")
	e.enter(bob, "bob")
	e.enter(carol, "carol")
	e.enter(dave, "dave")
	checkRecipients(t, r)
	roster := func(s *routertest.Session, nick string) []string {
		t.Helper()
		var from []string
		for _, el := range e.join(s, coven+"/"+nick, "") {
			if el.Local == xmppcore.Presence && !hasStatus(el, statusSelf) {
				from = append(from, el.Attr("from"))
			}
		}
		slices.Sort(from)
		e.drain()
		checkRecipients(t, r)
		return from
	}
	wantRoster := func(s *routertest.Session, nick string, want ...string) {
		t.Helper()
		if got := roster(s, nick); !slices.Equal(got, want) {
			t.Fatalf("%s joining got the presence of %v, want %v", nick, got, want)
		}
	}

	e.admin(alice, "g", `<item nick='carol' role='moderator'/>`)
	e.drain()
	checkRecipients(t, r)
	wantRoster(e.bind("eve@example.org/a"), "eve", coven+"/carol", coven+"/owner")

	// carol renames herself; bob's second session joins his nickname.
	e.send(carol, `<presence to='coven@conference.example.org/caroline'/>`)
	e.drain()
	checkRecipients(t, r)
	phone := e.bind("bob@example.org/phone")
	wantRoster(phone, "bob", coven+"/caroline", coven+"/owner")

	// Revoked, kicked: the next newcomer sees the owner only.
	e.admin(alice, "r", `<item nick='caroline' role='participant'/>`)
	e.admin(alice, "k", `<item nick='dave' role='none'/>`)
	e.drain()
	checkRecipients(t, r)
	wantRoster(e.bind("frank@example.org/a"), "frank", coven+"/owner")
}
