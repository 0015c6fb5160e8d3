package storagetest

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"time"

	"parley.im/parley/storage"
)

func runOffline(t *testing.T, open func(t *testing.T) storage.Store) {
	subtests(t, open, []namedTest{
		{"Empty", testOfflineEmpty},
		{"MissingAccount", testOfflineMissingAccount},
		{"PushOrder", testOfflinePushOrder},
		{"Stamps", testOfflineStamps},
		{"Limit", testOfflineLimit},
		{"Delete", testOfflineDelete},
		{"IDsNeverReused", testOfflineIDsNeverReused},
		{"SeparateUsers", testOfflineSeparate},
	})
}

// stanza returns a message whose bytes include a NUL, bytes that are not
// UTF-8 and quotes, so a backend storing it as text or splicing it into SQL
// fails to round-trip it.
func stanza(body string) []byte {
	return append([]byte("<message xmlns='jabber:client'><body>"+body+"</body>\x00\xff\xfe'\"\\"), "</message>"...)
}

// stamp is a fixed time with microseconds and a zone other than UTC.
func stamp(i int) time.Time {
	return time.Date(2026, 3, 14, 15, 9, 26, 535897000, time.FixedZone("X", 5*3600+1800)).Add(time.Duration(i) * time.Second)
}

func mustPush(t *testing.T, s storage.Offline, host, user string, stanza []byte, stamp time.Time, limit int) {
	t.Helper()
	if err := s.PushOffline(t.Context(), host, user, stanza, stamp, limit); err != nil {
		t.Fatalf("PushOffline(%q, %q, limit %d): %v", host, user, limit, err)
	}
}

// mustOffline checks the stored messages against want (IDs ignored; they
// must increase) and returns what was read.
func mustOffline(t *testing.T, s storage.Offline, host, user string, want []storage.OfflineMessage) []storage.OfflineMessage {
	t.Helper()
	got, err := s.OfflineMessages(t.Context(), host, user)
	if err != nil {
		t.Fatalf("OfflineMessages(%q, %q): %v", host, user, err)
	}
	ok := len(got) == len(want)
	for i := 0; ok && i < len(got); i++ {
		g, w := got[i], want[i]
		ok = bytes.Equal(g.Stanza, w.Stanza) && g.Stamp.Equal(w.Stamp) && g.Stamp.Location() == time.UTC &&
			(w.ID == 0 || g.ID == w.ID) && (i == 0 || g.ID > got[i-1].ID) && g.ID > 0
	}
	if !ok {
		t.Errorf("OfflineMessages(%q, %q):\n got %s\nwant %s", host, user, fmtOffline(got), fmtOffline(want))
	}
	n, err := s.CountOffline(t.Context(), host, user)
	if err != nil {
		t.Fatalf("CountOffline(%q, %q): %v", host, user, err)
	}
	if n != len(want) {
		t.Errorf("CountOffline(%q, %q) = %d, want %d", host, user, n, len(want))
	}
	return got
}

func fmtOffline(ms []storage.OfflineMessage) string {
	s := "["
	for i, m := range ms {
		if i > 0 {
			s += " "
		}
		s += fmt.Sprintf("{%d %s %q}", m.ID, m.Stamp.Format(time.RFC3339Nano), m.Stanza)
	}
	return s + "]"
}

// offline returns what a push of stanza(body) at stamp(i) reads back as.
func offline(body string, i int) storage.OfflineMessage {
	return storage.OfflineMessage{Stanza: stanza(body), Stamp: stamp(i).Truncate(time.Microsecond)}
}

func testOfflineEmpty(t *testing.T, s storage.Store) {
	const host, user = "example.org", "alice"
	mustCreate(t, s, host, user, nil)
	mustOffline(t, s, host, user, nil)
	if err := s.DeleteOffline(t.Context(), host, user, 1<<62); err != nil {
		t.Errorf("DeleteOffline on no messages: %v", err)
	}
}

func testOfflineMissingAccount(t *testing.T, s storage.Store) {
	const host = "example.org"
	mustCreate(t, s, host, "alice", nil)
	for _, user := range []string{"bob", "ALICE", ""} {
		for _, limit := range []int{0, 10} {
			err := s.PushOffline(t.Context(), host, user, stanza("x"), stamp(0), limit)
			wantErr(t, fmt.Sprintf("PushOffline to missing %q, limit %d", user, limit), err, storage.ErrNotFound)
		}
		mustOffline(t, s, host, user, nil)
		if err := s.DeleteOffline(t.Context(), host, user, 1<<62); err != nil {
			t.Errorf("DeleteOffline(%q): %v", user, err)
		}
	}
	mustOffline(t, s, "example.net", "alice", nil)
	mustOffline(t, s, host, "alice", nil)
	mustCreate(t, s, host, "bob", nil)
	mustOffline(t, s, host, "bob", nil)
}

// testOfflinePushOrder pushes with stamps out of order: the messages come
// back in the order pushed, whatever their stamps.
func testOfflinePushOrder(t *testing.T, s storage.Store) {
	const host, user = "example.org", "alice"
	mustCreate(t, s, host, user, nil)
	big := bytes.Repeat([]byte("0123456789abcdef\x00"), 16<<10)
	order := []int{3, 1, 4, 1, 5, 9, 2, 6}
	var want []storage.OfflineMessage
	for n, i := range order {
		body := fmt.Sprint("message ", n)
		mustPush(t, s, host, user, stanza(body), stamp(i), 0)
		want = append(want, offline(body, i))
	}
	mustPush(t, s, host, user, big, stamp(0), 0)
	want = append(want, storage.OfflineMessage{Stanza: big, Stamp: stamp(0).Truncate(time.Microsecond)})
	mustPush(t, s, host, user, nil, stamp(1), 0)
	want = append(want, storage.OfflineMessage{Stanza: nil, Stamp: stamp(1).Truncate(time.Microsecond)})
	mustOffline(t, s, host, user, want)
}

// testOfflineStamps: a stamp comes back equal to the pushed one to the
// microsecond, in UTC, including times a backend might mangle.
func testOfflineStamps(t *testing.T, s storage.Store) {
	const host, user = "example.org", "alice"
	mustCreate(t, s, host, user, nil)
	stamps := []time.Time{
		time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 59, 999999000, time.UTC),
		time.Date(2038, 1, 19, 3, 14, 8, 1000, time.UTC),
		time.Date(2262, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 10, 25, 1, 30, 0, 123456789, time.FixedZone("CET-ish", -11*3600)),
		time.Now(),
	}
	var want []storage.OfflineMessage
	for i, st := range stamps {
		mustPush(t, s, host, user, stanza(fmt.Sprint(i)), st, 0)
		want = append(want, storage.OfflineMessage{Stanza: stanza(fmt.Sprint(i)), Stamp: st.Truncate(time.Microsecond)})
	}
	mustOffline(t, s, host, user, want)
}

func testOfflineLimit(t *testing.T, s storage.Store) {
	const host, user = "example.org", "alice"
	mustCreate(t, s, host, user, nil)
	mustCreate(t, s, host, "bob", nil)
	var want []storage.OfflineMessage
	push := func(i, limit int) {
		t.Helper()
		body := fmt.Sprint("m", i)
		mustPush(t, s, host, user, stanza(body), stamp(i), limit)
		want = append(want, offline(body, i))
	}
	full := func(limit int) {
		t.Helper()
		err := s.PushOffline(t.Context(), host, user, stanza("over"), stamp(99), limit)
		wantErr(t, fmt.Sprintf("PushOffline with %d stored, limit %d", len(want), limit), err, storage.ErrQuota)
		mustOffline(t, s, host, user, want)
	}
	for i := range 3 {
		push(i, 3)
	}
	full(3)
	full(3)
	full(1)
	full(2)
	// Another user's messages do not count.
	mustPush(t, s, host, "bob", stanza("bob"), stamp(0), 1)
	err := s.PushOffline(t.Context(), host, "bob", stanza("bob"), stamp(0), 1)
	wantErr(t, "PushOffline to bob over his limit", err, storage.ErrQuota)
	// No limit, or a higher one.
	push(3, 0)
	push(4, -1)
	push(5, 6)
	full(6)
	full(5)
	got := mustOffline(t, s, host, user, want)
	if err := s.DeleteOffline(t.Context(), host, user, got[1].ID); err != nil {
		t.Fatal(err)
	}
	want = want[2:]
	push(6, 6)
	push(7, 6)
	full(6)
	mustOffline(t, s, host, user, want)
	mustOffline(t, s, host, "bob", []storage.OfflineMessage{{Stanza: stanza("bob"), Stamp: stamp(0).Truncate(time.Microsecond)}})
}

func testOfflineDelete(t *testing.T, s storage.Store) {
	const host, user = "example.org", "alice"
	mustCreate(t, s, host, user, nil)
	mustCreate(t, s, host, "bob", nil)
	// Interleaved with Bob's, so that Alice's IDs have gaps.
	var want, bobs []storage.OfflineMessage
	for i := range 8 {
		mustPush(t, s, host, user, stanza(fmt.Sprint("a", i)), stamp(i), 0)
		want = append(want, offline(fmt.Sprint("a", i), i))
		mustPush(t, s, host, "bob", stanza(fmt.Sprint("b", i)), stamp(i), 0)
		bobs = append(bobs, offline(fmt.Sprint("b", i), i))
	}
	got := mustOffline(t, s, host, user, want)
	bobGot := mustOffline(t, s, host, "bob", bobs)
	for i := range want {
		want[i].ID = got[i].ID
	}
	del := func(upTo int64) {
		t.Helper()
		if err := s.DeleteOffline(t.Context(), host, user, upTo); err != nil {
			t.Fatalf("DeleteOffline(%d): %v", upTo, err)
		}
		want = slices.DeleteFunc(want, func(m storage.OfflineMessage) bool { return m.ID <= upTo })
		mustOffline(t, s, host, user, want)
	}
	del(0)
	del(-1)
	del(want[0].ID - 1)
	del(want[0].ID)
	del(want[1].ID + 1) // one of Bob's IDs, between two of Alice's
	del(want[1].ID)
	del(want[1].ID - 1)
	del(want[len(want)-1].ID - 1)
	del(1 << 62)
	if len(want) != 0 {
		t.Fatalf("test bug: %d left", len(want))
	}
	mustOffline(t, s, host, "bob", bobGot)
}

// testOfflineIDsNeverReused: after every message is deleted, a new one gets
// an ID above all of them, so a DeleteOffline for a delivery that raced it
// cannot delete it.
func testOfflineIDsNeverReused(t *testing.T, s storage.Store) {
	const host, user = "example.org", "alice"
	mustCreate(t, s, host, user, nil)
	var maxID int64
	for round := range 3 {
		for i := range 3 {
			mustPush(t, s, host, user, stanza(fmt.Sprint(round, i)), stamp(i), 0)
		}
		got := mustOffline(t, s, host, user, []storage.OfflineMessage{
			offline(fmt.Sprint(round, 0), 0), offline(fmt.Sprint(round, 1), 1), offline(fmt.Sprint(round, 2), 2),
		})
		if got[0].ID <= maxID {
			t.Errorf("round %d: ID %d after %d was deleted", round, got[0].ID, maxID)
		}
		maxID = got[2].ID
		if err := s.DeleteOffline(t.Context(), host, user, maxID); err != nil {
			t.Fatal(err)
		}
		mustOffline(t, s, host, user, nil)
	}
}

func testOfflineSeparate(t *testing.T, s storage.Store) {
	accounts := []struct{ host, user string }{
		{"example.org", "alice"}, {"example.org", "bob"}, {"example.net", "alice"}, {"example.org", "alice_"},
	}
	wants := make([][]storage.OfflineMessage, len(accounts))
	for i, a := range accounts {
		mustCreate(t, s, a.host, a.user, nil)
		for j := range i + 1 {
			body := fmt.Sprint(a.user, "@", a.host, j)
			mustPush(t, s, a.host, a.user, stanza(body), stamp(j), 0)
			wants[i] = append(wants[i], offline(body, j))
		}
	}
	for i, a := range accounts {
		mustOffline(t, s, a.host, a.user, wants[i])
	}
	if err := s.DeleteOffline(t.Context(), "example.org", "alice", 1<<62); err != nil {
		t.Fatal(err)
	}
	wants[0] = nil
	for i, a := range accounts {
		mustOffline(t, s, a.host, a.user, wants[i])
	}
}
