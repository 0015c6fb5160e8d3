package storagetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"parley.im/parley/storage"
)

// RunRoomArchive checks the RoomArchive area: appends without accounts,
// order, duplicate IDs, filters and paging as in Archive, replacement of
// an entry's stanza, separate rooms, deletion (also of more entries than
// one transaction deletes), the nickname filter, and the retention purge.
func RunRoomArchive(t *testing.T, open func(t *testing.T) storage.Store) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, s storage.Store)
	}{
		{"NoAccount", testRoomArchiveNoAccount},
		{"Paging", testRoomArchivePaging},
		{"Filters", testRoomArchiveFilters},
		{"Replace", testRoomArchiveReplace},
		{"SeparateRooms", testRoomArchiveSeparate},
		{"Delete", testRoomArchiveDelete},
		{"DeleteLarge", testRoomArchiveDeleteLarge},
		{"ByNick", testRoomArchiveByNick},
		{"Purge", testRoomArchivePurge},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

const roomService = "conference.example.org"

func roomEntry(room, id, nick string, i int) storage.ArchiveEntry {
	return storage.ArchiveEntry{Host: roomService, Username: room, ID: id,
		With: nick + "@example.org", WithResource: nick, Direction: storage.ArchiveIncoming,
		Stamp:  time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).Add(time.Duration(i) * time.Second),
		Stanza: []byte(fmt.Sprintf("<message xmlns='jabber:client' id='%s'/>", id))}
}

func roomFill(t *testing.T, s storage.Store, room string, n int) []string {
	t.Helper()
	var (
		es  []storage.ArchiveEntry
		ids []string
	)
	for i := range n {
		id := fmt.Sprintf("%s-%02d", room, i)
		es = append(es, roomEntry(room, id, []string{"alice", "bob"}[i%2], i))
		ids = append(ids, id)
	}
	if err := s.AppendRoomArchive(context.Background(), es); err != nil {
		t.Fatalf("AppendRoomArchive: %v", err)
	}
	return ids
}

func roomQuery(t *testing.T, s storage.Store, room string, q storage.ArchiveQuery) storage.ArchivePage {
	t.Helper()
	p, err := s.QueryRoomArchive(context.Background(), roomService, room, q)
	if err != nil {
		t.Fatalf("QueryRoomArchive(%+v): %v", q, err)
	}
	return p
}

func testRoomArchiveNoAccount(t *testing.T, s storage.Store) {
	ids := roomFill(t, s, "lobby", 3)
	p := roomQuery(t, s, "lobby", storage.ArchiveQuery{Max: 10})
	if got := archIDs(p); !slices.Equal(got, ids) || p.Count != 3 || !p.Complete {
		t.Fatalf("page = %v count %d complete %v, want %v", got, p.Count, p.Complete, ids)
	}
	e := p.Entries[1]
	want := roomEntry("lobby", ids[1], "bob", 1)
	if e.With != want.With || e.WithResource != want.WithResource || !e.Stamp.Equal(want.Stamp) ||
		string(e.Stanza) != string(want.Stanza) || e.Host != roomService || e.Username != "lobby" {
		t.Fatalf("entry = %+v, want %+v", e, want)
	}
	// A duplicate ID is skipped.
	dup := roomEntry("lobby", ids[0], "carol", 9)
	if err := s.AppendRoomArchive(context.Background(), []storage.ArchiveEntry{dup}); err != nil {
		t.Fatal(err)
	}
	if p := roomQuery(t, s, "lobby", storage.ArchiveQuery{Max: 10}); p.Count != 3 {
		t.Fatalf("count after duplicate = %d", p.Count)
	}
}

func testRoomArchivePaging(t *testing.T, s storage.Store) {
	ids := roomFill(t, s, "lobby", 10)
	p := roomQuery(t, s, "lobby", storage.ArchiveQuery{Max: 4})
	archWantPage(t, "first", p, ids[:4], 10, 0, false)
	p = roomQuery(t, s, "lobby", storage.ArchiveQuery{Max: 4, After: ids[3]})
	archWantPage(t, "second", p, ids[4:8], 10, 4, false)
	p = roomQuery(t, s, "lobby", storage.ArchiveQuery{Max: 4, Backward: true})
	archWantPage(t, "last", p, ids[6:], 10, 6, false)
	p = roomQuery(t, s, "lobby", storage.ArchiveQuery{Max: 4, Before: ids[2], Backward: true})
	archWantPage(t, "before", p, ids[:2], 10, 0, true)
	p = roomQuery(t, s, "lobby", storage.ArchiveQuery{Max: 3, Index: 8})
	archWantPage(t, "index", p, ids[8:], 10, 8, true)
	if _, err := s.QueryRoomArchive(context.Background(), roomService, "lobby", storage.ArchiveQuery{Max: 1, After: "nope"}); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("unknown after: %v, want ErrNotFound", err)
	}
}

func testRoomArchiveFilters(t *testing.T, s storage.Store) {
	ids := roomFill(t, s, "lobby", 6)
	p := roomQuery(t, s, "lobby", storage.ArchiveQuery{Max: 10, With: "bob@example.org"})
	archWantPage(t, "with", p, []string{ids[1], ids[3], ids[5]}, 3, 0, true)
	p = roomQuery(t, s, "lobby", storage.ArchiveQuery{Max: 10, AfterID: ids[1], BeforeID: ids[4]})
	archWantPage(t, "after-id before-id", p, ids[2:4], 2, 0, true)
	p = roomQuery(t, s, "lobby", storage.ArchiveQuery{Max: 10, IDs: []string{ids[5], ids[0]}})
	archWantPage(t, "ids", p, []string{ids[0], ids[5]}, 2, 0, true)
	p = roomQuery(t, s, "lobby", storage.ArchiveQuery{Max: 10, Start: roomEntry("", "", "", 2).Stamp, End: roomEntry("", "", "", 3).Stamp})
	archWantPage(t, "time", p, ids[2:4], 2, 0, true)
}

func testRoomArchiveReplace(t *testing.T, s storage.Store) {
	ctx := context.Background()
	ids := roomFill(t, s, "lobby", 3)
	if err := s.ReplaceRoomArchive(ctx, roomService, "lobby", ids[1], []byte("<tomb/>")); err != nil {
		t.Fatalf("ReplaceRoomArchive: %v", err)
	}
	p := roomQuery(t, s, "lobby", storage.ArchiveQuery{Max: 10})
	archWantPage(t, "after replace", p, ids, 3, 0, true)
	if got := string(p.Entries[1].Stanza); got != "<tomb/>" {
		t.Fatalf("stanza = %q", got)
	}
	if err := s.ReplaceRoomArchive(ctx, roomService, "lobby", "nope", nil); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("replace unknown: %v, want ErrNotFound", err)
	}
	if err := s.ReplaceRoomArchive(ctx, roomService, "other", ids[0], nil); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("replace in other room: %v, want ErrNotFound", err)
	}
}

func testRoomArchiveSeparate(t *testing.T, s storage.Store) {
	a := roomFill(t, s, "a", 2)
	b := roomFill(t, s, "b", 3)
	archWantPage(t, "a", roomQuery(t, s, "a", storage.ArchiveQuery{Max: 10}), a, 2, 0, true)
	archWantPage(t, "b", roomQuery(t, s, "b", storage.ArchiveQuery{Max: 10}), b, 3, 0, true)
	// A user archive of the same name is another area.
	p, err := s.QueryArchive(context.Background(), roomService, "a", storage.ArchiveQuery{Max: 10})
	if err != nil || p.Count != 0 {
		t.Fatalf("user archive = %+v, %v; want empty", p, err)
	}
}

func testRoomArchiveDelete(t *testing.T, s storage.Store) {
	ctx := context.Background()
	roomFill(t, s, "a", 2)
	b := roomFill(t, s, "b", 2)
	if err := s.DeleteRoomArchive(ctx, roomService, "a"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRoomArchive(ctx, roomService, "a"); err != nil {
		t.Fatalf("delete empty: %v", err)
	}
	archWantPage(t, "a", roomQuery(t, s, "a", storage.ArchiveQuery{Max: 10}), nil, 0, 0, true)
	archWantPage(t, "b", roomQuery(t, s, "b", storage.ArchiveQuery{Max: 10}), b, 2, 0, true)
}

// testRoomArchiveDeleteLarge deletes an archive of more entries than the
// backends delete per transaction, and leaves the other room's.
func testRoomArchiveDeleteLarge(t *testing.T, s storage.Store) {
	ctx := context.Background()
	const n = 2600 // more than two chunks
	es := make([]storage.ArchiveEntry, n)
	for i := range es {
		es[i] = roomEntry("big", fmt.Sprintf("big-%05d", i), "alice", i)
	}
	if err := s.AppendRoomArchive(ctx, es); err != nil {
		t.Fatal(err)
	}
	other := roomFill(t, s, "small", 2)
	if p := roomQuery(t, s, "big", storage.ArchiveQuery{}); p.Count != n {
		t.Fatalf("count before delete = %d, want %d", p.Count, n)
	}
	if err := s.DeleteRoomArchive(ctx, roomService, "big"); err != nil {
		t.Fatal(err)
	}
	archWantPage(t, "big", roomQuery(t, s, "big", storage.ArchiveQuery{Max: 10}), nil, 0, 0, true)
	archWantPage(t, "small", roomQuery(t, s, "small", storage.ArchiveQuery{Max: 10}), other, 2, 0, true)
}

// testRoomArchiveByNick: WithResource alone selects a nickname, whatever
// the real JID; with With too, both must match.
func testRoomArchiveByNick(t *testing.T, s storage.Store) {
	ids := roomFill(t, s, "lobby", 6) // alice, bob, alice, ...
	// A message under the nickname "bob" from another real JID.
	odd := roomEntry("lobby", "lobby-odd", "bob", 7)
	odd.With = "robert@example.net"
	if err := s.AppendRoomArchive(context.Background(), []storage.ArchiveEntry{odd}); err != nil {
		t.Fatal(err)
	}
	p := roomQuery(t, s, "lobby", storage.ArchiveQuery{Max: 10, WithResource: "bob"})
	archWantPage(t, "nick", p, []string{ids[1], ids[3], ids[5], odd.ID}, 4, 0, true)
	p = roomQuery(t, s, "lobby", storage.ArchiveQuery{Max: 10, With: "robert@example.net", WithResource: "bob"})
	archWantPage(t, "nick and jid", p, []string{odd.ID}, 1, 0, true)
	p = roomQuery(t, s, "lobby", storage.ArchiveQuery{Max: 10, WithResource: "nobody"})
	archWantPage(t, "unknown nick", p, nil, 0, 0, true)
}

// testRoomArchivePurge deletes the entries older than a time, per service
// or everywhere, and leaves user archives alone.
func testRoomArchivePurge(t *testing.T, s storage.Store) {
	ctx := context.Background()
	a := roomFill(t, s, "a", 4) // stamps t0, t0+1s, ...
	other := roomEntry("x", "x-0", "alice", 0)
	other.Host = "conference.example.net"
	if err := s.AppendRoomArchive(ctx, []storage.ArchiveEntry{other}); err != nil {
		t.Fatal(err)
	}
	cut := roomEntry("", "", "", 2).Stamp
	n, err := s.PurgeRoomArchive(ctx, roomService, cut)
	if err != nil || n != 2 {
		t.Fatalf("PurgeRoomArchive(service) = %d, %v; want 2", n, err)
	}
	archWantPage(t, "a", roomQuery(t, s, "a", storage.ArchiveQuery{Max: 10}), a[2:], 2, 0, true)
	p, err := s.QueryRoomArchive(ctx, other.Host, "x", storage.ArchiveQuery{Max: 10})
	if err != nil || p.Count != 1 {
		t.Fatalf("other service after a purge of one: %+v, %v", p, err)
	}
	n, err = s.PurgeRoomArchive(ctx, "", cut.Add(time.Hour))
	if err != nil || n != 3 {
		t.Fatalf("PurgeRoomArchive(all) = %d, %v; want 3", n, err)
	}
	archWantPage(t, "a after all", roomQuery(t, s, "a", storage.ArchiveQuery{Max: 10}), nil, 0, 0, true)
	if n, err := s.PurgeRoomArchive(ctx, "", cut.Add(time.Hour)); err != nil || n != 0 {
		t.Fatalf("purge of nothing = %d, %v", n, err)
	}
}
