package muc

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"parley.im/parley/internal/routertest"
	"parley.im/parley/xmppcore"
)

// TestConcurrentRoom has occupants join, talk, change status and leave
// at once, with disco and admin requests in between: every occupant gets
// every message, all in one order (the room's), and the room is gone once
// empty.
func TestConcurrentRoom(t *testing.T) {
	const n, each = 16, 25
	e := newEnv(t, Options{})
	alice := e.coven()
	sessions := make([]*routertest.Session, n)
	for i := range sessions {
		sessions[i] = e.bind(fmt.Sprintf("u%d@example.org/r", i))
	}
	var wg sync.WaitGroup
	for i, s := range sessions {
		wg.Go(func() {
			e.send(s, `<presence to='coven@conference.example.org/u%d'><x xmlns='http://jabber.org/protocol/muc'/></presence>`, i)
		})
	}
	wg.Wait()
	if got := len(e.room("coven").occupants); got != n+1 {
		t.Fatalf("%d occupants, want %d", got, n+1)
	}
	e.drain()
	start := make(chan struct{})
	for i, s := range sessions {
		wg.Go(func() {
			<-start
			for j := range each {
				e.send(s, `<message to='coven@conference.example.org' type='groupchat' id='%d-%d'><body>x</body></message>`, i, j)
				if j%10 == 0 {
					e.send(s, `<presence to='coven@conference.example.org/u%d'><show>away</show></presence>`, i)
					e.send(s, `<iq type='get' id='d' to='coven@conference.example.org'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`)
				}
			}
		})
	}
	wg.Go(func() {
		<-start
		for j := range 10 {
			e.admin(alice, "a", fmt.Sprintf(`<item affiliation='member' jid='u%d@example.org'/>`, j))
		}
	})
	close(start)
	wg.Wait()

	messages := func(s *routertest.Session) []string {
		var ids []string
		for _, el := range s.Take() {
			if el.Local == xmppcore.Message && el.Attr("type") == "groupchat" {
				ids = append(ids, el.Attr("id"))
			}
		}
		return ids
	}
	ref := messages(alice)
	if len(ref) != n*each {
		t.Fatalf("alice got %d messages, want %d", len(ref), n*each)
	}
	for _, s := range sessions {
		if got := messages(s); !slices.Equal(got, ref) {
			t.Errorf("%s got %d messages, not in alice's order", s.JID(), len(got))
		}
	}

	e.send(alice, `<presence to='coven@conference.example.org/owner' type='unavailable'/>`)
	for _, s := range sessions {
		wg.Go(func() { e.send(s, `<presence to='coven@conference.example.org/x' type='unavailable'/>`) })
	}
	wg.Wait()
	if r, _ := e.m.services[svcJID].lookup(t.Context(), "coven"); r != nil {
		t.Error("the emptied temporary room is still live")
	}
}

// TestIdleEviction checks that a persistent room without occupants is
// unloaded after the idle timeout, and comes back from storage when
// addressed, without its history.
func TestIdleEviction(t *testing.T) {
	e := newEnv(t, Options{IdleTimeout: time.Minute})
	alice := e.coven(fPersistent, "1")
	e.send(alice, `<message to='coven@conference.example.org' type='groupchat'><body>old</body></message>`)
	e.send(alice, `<presence to='coven@conference.example.org/owner' type='unavailable'/>`)
	svc := e.m.services[svcJID]
	before := e.room("coven")
	e.clock.Advance(59 * time.Second)
	svc.evictIdle()
	if len(svc.liveRooms()) != 1 {
		t.Fatal("evicted before the timeout")
	}
	e.clock.Advance(time.Second)
	svc.evictIdle()
	if len(svc.liveRooms()) != 0 {
		t.Fatal("not evicted after the timeout")
	}
	e.drain()
	got := e.join(alice, coven+"/owner", "")
	if len(got) != 2 || hasStatus(got[0], 201) { // no history: it went with the room
		t.Fatalf("joining the evicted room: %s", list(got))
	}
	if e.room("coven") == before {
		t.Error("the same room object after eviction")
	}
	// A room with occupants is never evicted.
	e.clock.Advance(time.Hour)
	svc.evictIdle()
	if len(svc.liveRooms()) != 1 {
		t.Error("a room with occupants was evicted")
	}
}

// TestLargeRoomFanout: in a room large enough to drain on a goroutine of
// its own and to split each fan-out between workers (four here, whatever
// the machine), messages from several senders at once reach every
// occupant, each once, all in the same order; the senders' Route returns
// before the fan-out is done, and the module's Stop waits for it.
func TestLargeRoomFanout(t *testing.T) {
	defer func(f func() int) { fanoutWorkers = f }(fanoutWorkers)
	fanoutWorkers = func() int { return 4 }
	const n, senders, each = 4*parallelMin + 100, 4, 10
	e := newEnv(t, Options{MaxOccupants: n + 10})
	e.coven()
	r := e.room("coven")
	sessions := make([]*routertest.Session, n)
	r.mu.Lock()
	for i := range sessions {
		full := fmt.Sprintf("u%d@example.org/r", i)
		sessions[i] = routertest.Bind(t, e.rt, full)
		o := r.newOccupant(fmt.Sprintf("u%d", i), sessions[i].JID(), roleParticipant)
		r.addSession(&occSession{occ: o, full: sessions[i].JID(), rc: recipient{sessions[i].JID(), full}, pres: xmppcore.New("", "presence")})
	}
	r.mu.Unlock()
	var wg sync.WaitGroup
	for i := range senders {
		wg.Go(func() {
			for j := range each {
				e.send(sessions[i], `<message to='coven@conference.example.org' type='groupchat' id='%d-%d'><body>x</body></message>`, i, j)
			}
		})
	}
	wg.Wait()
	e.m.drains.Wait()
	var want []string
	for k, s := range sessions {
		var got []string
		for _, el := range s.Take() {
			if el.Local == xmppcore.Message && el.Attr("type") == "groupchat" {
				got = append(got, el.Attr("id"))
			}
		}
		if k == 0 {
			want = got
			if len(want) != senders*each {
				t.Fatalf("u0 got %d messages, want %d: %v", len(want), senders*each, want)
			}
			continue
		}
		if !slices.Equal(got, want) {
			t.Fatalf("u%d got %v\nu0 got %v", k, got, want)
		}
	}
}
