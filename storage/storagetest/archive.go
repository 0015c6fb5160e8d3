package storagetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"parley.im/parley/storage"
)

// archiveStore is what the archive tests use of a store.
type archiveStore interface {
	storage.Accounts
	storage.Archive
}

// archiveOf returns the store's archive area; every backend has one.
func archiveOf(t *testing.T, s storage.Store) archiveStore {
	t.Helper()
	a, ok := any(s).(archiveStore)
	if !ok {
		t.Fatalf("%T does not implement storage.Archive", s)
	}
	return a
}

// RunArchive checks the Archive area: appends in order and all or none,
// the filters and paging of XEP-0313 and XEP-0059 with their counts,
// missing IDs, metadata, purges, deletion (also with the account), and
// preferences.
func RunArchive(t *testing.T, open func(t *testing.T) storage.Store) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, s archiveStore)
	}{
		{"Empty", testArchiveEmpty},
		{"MissingAccount", testArchiveMissingAccount},
		{"RoundTrip", testArchiveRoundTrip},
		{"Order", testArchiveOrder},
		{"DuplicateID", testArchiveDuplicateID},
		{"AllOrNone", testArchiveAllOrNone},
		{"With", testArchiveWith},
		{"Time", testArchiveTime},
		{"AfterBeforeID", testArchiveAfterBeforeID},
		{"IDs", testArchiveIDs},
		{"PageForward", testArchivePageForward},
		{"PageBackward", testArchivePageBackward},
		{"PageIndex", testArchivePageIndex},
		{"PageOutsideFilter", testArchivePageOutsideFilter},
		{"CountOnly", testArchiveCountOnly},
		{"SeparateUsers", testArchiveSeparateUsers},
		{"Metadata", testArchiveMetadata},
		{"Purge", testArchivePurge},
		{"PurgeLarge", testArchivePurgeLarge},
		{"Delete", testArchiveDelete},
		{"DeleteAccount", testArchiveDeleteAccount},
		{"Prefs", testArchivePrefs},
		{"PrefsInvalid", testArchivePrefsInvalid},
		{"Concurrent", testArchiveConcurrent},
		{"CanceledContext", testArchiveCanceledContext},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, archiveOf(t, open(t))) })
	}
}

const archHost = "example.org"

// archStamp is a fixed time with microseconds, in a zone other than UTC,
// plus i seconds.
func archStamp(i int) time.Time {
	return time.Date(2026, 4, 1, 10, 20, 30, 123456000, time.FixedZone("Y", -3*3600-1800)).Add(time.Duration(i) * time.Second)
}

// archStanza is a message whose bytes are not text, so that a backend
// storing it as text or splicing it into SQL fails to round-trip it.
func archStanza(id string) []byte {
	return []byte("<message xmlns='jabber:client' id='" + id + "'><body>\x00\xff'\"\\" + id + "</body></message>")
}

// arch returns the entry id of user's archive: with bob@example.net/r
// unless with says otherwise ("bare" or "bare/resource"), at archStamp(i).
func arch(user, id, with string, i int) storage.ArchiveEntry {
	if with == "" {
		with = "bob@example.net/r"
	}
	bare, res, _ := strings.Cut(with, "/")
	dir := storage.ArchiveIncoming
	if i%2 == 1 {
		dir = storage.ArchiveOutgoing
	}
	return storage.ArchiveEntry{Host: archHost, Username: user, ID: id, With: bare, WithResource: res,
		Direction: dir, OriginID: "o-" + id, Stamp: archStamp(i), Stanza: archStanza(id)}
}

func archCreate(t *testing.T, s archiveStore, host, user string) {
	t.Helper()
	if err := s.CreateAccount(t.Context(), host, user, nil); err != nil {
		t.Fatalf("CreateAccount(%q, %q): %v", host, user, err)
	}
}

func archAppend(t *testing.T, s archiveStore, entries ...storage.ArchiveEntry) {
	t.Helper()
	if err := s.AppendArchive(t.Context(), entries); err != nil {
		t.Fatalf("AppendArchive: %v", err)
	}
}

func archQuery(t *testing.T, s archiveStore, user string, q storage.ArchiveQuery) storage.ArchivePage {
	t.Helper()
	p, err := s.QueryArchive(t.Context(), archHost, user, q)
	if err != nil {
		t.Fatalf("QueryArchive(%s, %+v): %v", user, q, err)
	}
	return p
}

// archIDs returns the IDs of a page's entries.
func archIDs(p storage.ArchivePage) []string {
	var out []string
	for _, e := range p.Entries {
		out = append(out, e.ID)
	}
	return out
}

// archWantPage checks a page's IDs, count, index and completeness.
func archWantPage(t *testing.T, what string, p storage.ArchivePage, want []string, count, index int, complete bool) {
	t.Helper()
	if !slices.Equal(archIDs(p), want) || p.Count != count || p.Complete != complete ||
		(len(want) > 0 && p.Index != index) {
		t.Errorf("%s: got ids %q count %d index %d complete %v; want %q count %d index %d complete %v",
			what, archIDs(p), p.Count, p.Index, p.Complete, want, count, index, complete)
	}
}

// archSeq returns prefix+from ... prefix+(to-1).
func archSeq(prefix string, from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprint(prefix, i))
	}
	return out
}

// archFill appends n entries m0..m<n-1> to user's archive, one second
// apart, in batches of three.
func archFill(t *testing.T, s archiveStore, user string, n int) []storage.ArchiveEntry {
	t.Helper()
	var all []storage.ArchiveEntry
	for i := range n {
		all = append(all, arch(user, fmt.Sprint("m", i), "", i))
	}
	for b := range slices.Chunk(all, 3) {
		archAppend(t, s, b...)
	}
	return all
}

func testArchiveEmpty(t *testing.T, s archiveStore) {
	archCreate(t, s, archHost, "alice")
	archWantPage(t, "empty archive", archQuery(t, s, "alice", storage.ArchiveQuery{Max: 10}), nil, 0, 0, true)
	archWantPage(t, "empty archive, backward", archQuery(t, s, "alice", storage.ArchiveQuery{Max: 10, Backward: true}), nil, 0, 0, true)
	m, err := s.ArchiveMetadata(t.Context(), archHost, "alice")
	if err != nil || !m.Empty() || m != (storage.ArchiveMetadata{}) {
		t.Errorf("ArchiveMetadata = %+v, %v; want empty", m, err)
	}
	_, err = s.ArchivePrefs(t.Context(), archHost, "alice")
	wantErr(t, "ArchivePrefs never set", err, storage.ErrNotFound)
	if n, err := s.PurgeArchive(t.Context(), archHost, "alice", archStamp(100)); n != 0 || err != nil {
		t.Errorf("PurgeArchive = %d, %v; want 0, nil", n, err)
	}
	if err := s.DeleteArchive(t.Context(), archHost, "alice"); err != nil {
		t.Errorf("DeleteArchive: %v", err)
	}
	if err := s.AppendArchive(t.Context(), nil); err != nil {
		t.Errorf("AppendArchive(nil): %v", err)
	}
}

func testArchiveMissingAccount(t *testing.T, s archiveStore) {
	archCreate(t, s, archHost, "alice")
	// Skipped without error, with the rest of the batch stored.
	archAppend(t, s, arch("bob", "b1", "", 0), arch("alice", "a1", "", 1), arch("ALICE", "x", "", 2))
	archWantPage(t, "alice", archQuery(t, s, "alice", storage.ArchiveQuery{Max: 10}), []string{"a1"}, 1, 0, true)
	archWantPage(t, "missing bob", archQuery(t, s, "bob", storage.ArchiveQuery{Max: 10}), nil, 0, 0, true)
	err := s.SetArchivePrefs(t.Context(), archHost, "bob", storage.ArchivePrefs{Default: storage.ArchiveAlways})
	wantErr(t, "SetArchivePrefs for a missing account", err, storage.ErrNotFound)
	archCreate(t, s, archHost, "bob")
	archWantPage(t, "bob created later", archQuery(t, s, "bob", storage.ArchiveQuery{Max: 10}), nil, 0, 0, true)
}

func testArchiveRoundTrip(t *testing.T, s archiveStore) {
	archCreate(t, s, archHost, "alice")
	in := []storage.ArchiveEntry{
		arch("alice", "first", "bob@example.net/r", 0),
		arch("alice", "second", "example.net", 1),
		{Host: archHost, Username: "alice", ID: "third", With: "carol@example.org", Direction: storage.ArchiveOutgoing,
			Stamp: archStamp(2), Stanza: nil},
	}
	archAppend(t, s, in...)
	p := archQuery(t, s, "alice", storage.ArchiveQuery{Max: 10})
	if len(p.Entries) != len(in) {
		t.Fatalf("got %d entries, want %d", len(p.Entries), len(in))
	}
	for i, g := range p.Entries {
		w := in[i]
		w.Stamp = w.Stamp.Truncate(time.Microsecond)
		if w.Stanza == nil {
			w.Stanza = []byte{}
		}
		if g.Host != w.Host || g.Username != w.Username || g.ID != w.ID || g.With != w.With ||
			g.WithResource != w.WithResource || g.Direction != w.Direction || g.OriginID != w.OriginID ||
			!g.Stamp.Equal(w.Stamp) || g.Stamp.Location() != time.UTC || string(g.Stanza) != string(w.Stanza) {
			t.Errorf("entry %d:\n got %+v\nwant %+v", i, g, w)
		}
	}
}

// testArchiveOrder: entries come back by stamp, and in append order for
// equal stamps, across batches.
func testArchiveOrder(t *testing.T, s archiveStore) {
	archCreate(t, s, archHost, "alice")
	archAppend(t, s, arch("alice", "z", "", 5), arch("alice", "y", "", 5), arch("alice", "late", "", 9))
	archAppend(t, s, arch("alice", "x", "", 5), arch("alice", "early", "", 1))
	archAppend(t, s, arch("alice", "a", "", 5))
	want := []string{"early", "z", "y", "x", "a", "late"}
	archWantPage(t, "forward", archQuery(t, s, "alice", storage.ArchiveQuery{Max: 10}), want, 6, 0, true)
	archWantPage(t, "backward", archQuery(t, s, "alice", storage.ArchiveQuery{Max: 10, Backward: true}), want, 6, 0, true)
	// Paging through the entries of equal stamps.
	archWantPage(t, "after y", archQuery(t, s, "alice", storage.ArchiveQuery{Max: 2, After: "y"}), []string{"x", "a"}, 6, 3, false)
	archWantPage(t, "before x", archQuery(t, s, "alice", storage.ArchiveQuery{Max: 2, Before: "x", Backward: true}), []string{"z", "y"}, 6, 1, false)
}

func testArchiveDuplicateID(t *testing.T, s archiveStore) {
	archCreate(t, s, archHost, "alice")
	archCreate(t, s, archHost, "bob")
	archAppend(t, s, arch("alice", "m", "carol@example.org", 0))
	dup := arch("alice", "m", "dave@example.org", 1)
	archAppend(t, s, dup, arch("alice", "n", "", 2), arch("bob", "m", "", 3))
	p := archQuery(t, s, "alice", storage.ArchiveQuery{Max: 10})
	archWantPage(t, "alice", p, []string{"m", "n"}, 2, 0, true)
	if len(p.Entries) > 0 && p.Entries[0].With != "carol@example.org" {
		t.Errorf("duplicate ID replaced the first entry: %+v", p.Entries[0])
	}
	archWantPage(t, "bob", archQuery(t, s, "bob", storage.ArchiveQuery{Max: 10}), []string{"m"}, 1, 0, true)
}

func testArchiveAllOrNone(t *testing.T, s archiveStore) {
	archCreate(t, s, archHost, "alice")
	bad := arch("alice", "bad", "", 1)
	bad.Direction = 0
	err := s.AppendArchive(t.Context(), []storage.ArchiveEntry{arch("alice", "good", "", 0), bad})
	if err == nil {
		t.Fatal("AppendArchive with an invalid direction succeeded")
	}
	wantOtherErr(t, "AppendArchive with an invalid direction", err)
	archWantPage(t, "after a failed batch", archQuery(t, s, "alice", storage.ArchiveQuery{Max: 10}), nil, 0, 0, true)
}

func testArchiveWith(t *testing.T, s archiveStore) {
	archCreate(t, s, archHost, "alice")
	archAppend(t, s,
		arch("alice", "1", "bob@example.net/phone", 0),
		arch("alice", "2", "bob@example.net/laptop", 1),
		arch("alice", "3", "bob@example.net", 2),
		arch("alice", "4", "carol@example.net/phone", 3),
		arch("alice", "5", "example.net", 4),
		arch("alice", "6", "alice@example.org/phone", 5), // to self
		arch("alice", "7", "bob@example.net.evil/phone", 6),
	)
	for _, tc := range []struct {
		with, res string
		want      []string
	}{
		{"bob@example.net", "", []string{"1", "2", "3"}},
		{"bob@example.net", "phone", []string{"1"}},
		{"bob@example.net", "tablet", nil},
		{"carol@example.net", "", []string{"4"}},
		{"example.net", "", []string{"5"}},
		{"alice@example.org", "", []string{"6"}},
		{"BOB@example.net", "", nil},
		{"nobody@example.net", "", nil},
	} {
		p := archQuery(t, s, "alice", storage.ArchiveQuery{With: tc.with, WithResource: tc.res, Max: 10})
		archWantPage(t, "with "+tc.with+"/"+tc.res, p, tc.want, len(tc.want), 0, true)
	}
}

func testArchiveTime(t *testing.T, s archiveStore) {
	archCreate(t, s, archHost, "alice")
	archFill(t, s, "alice", 6) // m0..m5 at archStamp(0..5)
	for _, tc := range []struct {
		start, end time.Time
		want       []string
	}{
		{archStamp(2), time.Time{}, archSeq("m", 2, 6)},
		{time.Time{}, archStamp(3), archSeq("m", 0, 4)},
		{archStamp(1), archStamp(4), archSeq("m", 1, 5)},
		{archStamp(2), archStamp(2), []string{"m2"}},
		{archStamp(2).Add(time.Microsecond), archStamp(3).Add(-time.Microsecond), nil},
		{archStamp(4), archStamp(1), nil},
		{archStamp(10), time.Time{}, nil},
		// The same instants in UTC.
		{archStamp(2).UTC(), archStamp(3).UTC(), archSeq("m", 2, 4)},
	} {
		p := archQuery(t, s, "alice", storage.ArchiveQuery{Start: tc.start, End: tc.end, Max: 10})
		archWantPage(t, fmt.Sprintf("start %v end %v", tc.start, tc.end), p, tc.want, len(tc.want), 0, true)
	}
}

func testArchiveAfterBeforeID(t *testing.T, s archiveStore) {
	archCreate(t, s, archHost, "alice")
	archCreate(t, s, archHost, "bob")
	archFill(t, s, "alice", 6)
	archFill(t, s, "bob", 8)
	archWantPage(t, "after-id m2", archQuery(t, s, "alice", storage.ArchiveQuery{AfterID: "m2", Max: 10}), archSeq("m", 3, 6), 3, 0, true)
	archWantPage(t, "before-id m2", archQuery(t, s, "alice", storage.ArchiveQuery{BeforeID: "m2", Max: 10}), archSeq("m", 0, 2), 2, 0, true)
	archWantPage(t, "between", archQuery(t, s, "alice", storage.ArchiveQuery{AfterID: "m1", BeforeID: "m4", Max: 10}), archSeq("m", 2, 4), 2, 0, true)
	archWantPage(t, "after the last", archQuery(t, s, "alice", storage.ArchiveQuery{AfterID: "m5", Max: 10}), nil, 0, 0, true)
	for _, q := range []storage.ArchiveQuery{
		{AfterID: "m6", Max: 10}, // bob's, not alice's
		{BeforeID: "nope", Max: 10},
		{AfterID: "m1", BeforeID: "x", Max: 10},
		{After: "m7", Max: 10},
		{Before: "m7", Backward: true, Max: 10},
	} {
		_, err := s.QueryArchive(t.Context(), archHost, "alice", q)
		wantErr(t, fmt.Sprintf("query %+v", q), err, storage.ErrNotFound)
	}
}

func testArchiveIDs(t *testing.T, s archiveStore) {
	archCreate(t, s, archHost, "alice")
	archCreate(t, s, archHost, "bob")
	archFill(t, s, "alice", 6)
	archFill(t, s, "bob", 8)
	p := archQuery(t, s, "alice", storage.ArchiveQuery{IDs: []string{"m4", "m1", "m4"}, Max: 10})
	archWantPage(t, "ids m4 m1", p, []string{"m1", "m4"}, 2, 0, true)
	p = archQuery(t, s, "alice", storage.ArchiveQuery{IDs: []string{"m4", "m1"}, Start: archStamp(2), Max: 10})
	archWantPage(t, "ids with start", p, []string{"m4"}, 1, 0, true)
	for _, l := range [][]string{{"m1", "m7"}, {"zz"}, {"M1"}} {
		_, err := s.QueryArchive(t.Context(), archHost, "alice", storage.ArchiveQuery{IDs: l, Max: 10})
		wantErr(t, fmt.Sprintf("ids %q", l), err, storage.ErrNotFound)
	}
}

func testArchivePageForward(t *testing.T, s archiveStore) {
	archCreate(t, s, archHost, "alice")
	archFill(t, s, "alice", 7)
	p := archQuery(t, s, "alice", storage.ArchiveQuery{Max: 3})
	archWantPage(t, "page 1", p, archSeq("m", 0, 3), 7, 0, false)
	p = archQuery(t, s, "alice", storage.ArchiveQuery{Max: 3, After: "m2"})
	archWantPage(t, "page 2", p, archSeq("m", 3, 6), 7, 3, false)
	p = archQuery(t, s, "alice", storage.ArchiveQuery{Max: 3, After: "m5"})
	archWantPage(t, "page 3", p, []string{"m6"}, 7, 6, true)
	p = archQuery(t, s, "alice", storage.ArchiveQuery{Max: 3, After: "m6"})
	archWantPage(t, "after the end", p, nil, 7, 0, true)
	// Exactly the rest fills the page: complete.
	p = archQuery(t, s, "alice", storage.ArchiveQuery{Max: 3, After: "m3"})
	archWantPage(t, "last full page", p, archSeq("m", 4, 7), 7, 4, true)
	// A filter changes count and index.
	p = archQuery(t, s, "alice", storage.ArchiveQuery{Max: 2, After: "m3", Start: archStamp(2)})
	archWantPage(t, "with start", p, archSeq("m", 4, 6), 5, 2, false)
	// After and Before together: the entries between, the first Max.
	p = archQuery(t, s, "alice", storage.ArchiveQuery{Max: 2, After: "m1", Before: "m5"})
	archWantPage(t, "between", p, archSeq("m", 2, 4), 7, 2, false)
}

func testArchivePageBackward(t *testing.T, s archiveStore) {
	archCreate(t, s, archHost, "alice")
	archFill(t, s, "alice", 7)
	p := archQuery(t, s, "alice", storage.ArchiveQuery{Max: 3, Backward: true})
	archWantPage(t, "last page", p, archSeq("m", 4, 7), 7, 4, false)
	p = archQuery(t, s, "alice", storage.ArchiveQuery{Max: 3, Before: "m4", Backward: true})
	archWantPage(t, "before m4", p, archSeq("m", 1, 4), 7, 1, false)
	p = archQuery(t, s, "alice", storage.ArchiveQuery{Max: 3, Before: "m1", Backward: true})
	archWantPage(t, "before m1", p, []string{"m0"}, 7, 0, true)
	p = archQuery(t, s, "alice", storage.ArchiveQuery{Max: 3, Before: "m3", Backward: true})
	archWantPage(t, "exactly the first three", p, archSeq("m", 0, 3), 7, 0, true)
	p = archQuery(t, s, "alice", storage.ArchiveQuery{Max: 3, Before: "m0", Backward: true})
	archWantPage(t, "before the first", p, nil, 7, 0, true)
	p = archQuery(t, s, "alice", storage.ArchiveQuery{Max: 2, Before: "m6", After: "m1", Backward: true})
	archWantPage(t, "between, the last two", p, archSeq("m", 4, 6), 7, 4, false)
	p = archQuery(t, s, "alice", storage.ArchiveQuery{Max: 2, Backward: true, End: archStamp(3)})
	archWantPage(t, "with end", p, archSeq("m", 2, 4), 4, 2, false)
}

func testArchivePageIndex(t *testing.T, s archiveStore) {
	archCreate(t, s, archHost, "alice")
	archFill(t, s, "alice", 7)
	archWantPage(t, "index 2", archQuery(t, s, "alice", storage.ArchiveQuery{Max: 2, Index: 2}), archSeq("m", 2, 4), 7, 2, false)
	archWantPage(t, "index 5", archQuery(t, s, "alice", storage.ArchiveQuery{Max: 2, Index: 5}), archSeq("m", 5, 7), 7, 5, true)
	archWantPage(t, "index 7", archQuery(t, s, "alice", storage.ArchiveQuery{Max: 2, Index: 7}), nil, 7, 0, true)
	archWantPage(t, "index -3", archQuery(t, s, "alice", storage.ArchiveQuery{Max: 2, Index: -3}), archSeq("m", 0, 2), 7, 0, false)
}

// testArchivePageOutsideFilter pages from an entry the filters leave out:
// it exists, so it is a valid bound.
func testArchivePageOutsideFilter(t *testing.T, s archiveStore) {
	archCreate(t, s, archHost, "alice")
	archAppend(t, s,
		arch("alice", "b0", "bob@example.net", 0),
		arch("alice", "c1", "carol@example.net", 1),
		arch("alice", "b2", "bob@example.net", 2),
		arch("alice", "c3", "carol@example.net", 3),
		arch("alice", "b4", "bob@example.net", 4))
	p := archQuery(t, s, "alice", storage.ArchiveQuery{With: "bob@example.net", After: "c1", Max: 10})
	archWantPage(t, "bob after c1", p, []string{"b2", "b4"}, 3, 1, true)
	p = archQuery(t, s, "alice", storage.ArchiveQuery{With: "bob@example.net", Before: "c3", Max: 10, Backward: true})
	archWantPage(t, "bob before c3", p, []string{"b0", "b2"}, 3, 0, true)
}

func testArchiveCountOnly(t *testing.T, s archiveStore) {
	archCreate(t, s, archHost, "alice")
	archFill(t, s, "alice", 4)
	archWantPage(t, "max 0", archQuery(t, s, "alice", storage.ArchiveQuery{}), nil, 4, 0, false)
	archWantPage(t, "max 0 after the last", archQuery(t, s, "alice", storage.ArchiveQuery{After: "m3"}), nil, 4, 0, true)
	archWantPage(t, "max 0 backward", archQuery(t, s, "alice", storage.ArchiveQuery{Backward: true}), nil, 4, 0, false)
	archWantPage(t, "max -1", archQuery(t, s, "alice", storage.ArchiveQuery{Max: -1}), nil, 4, 0, false)
}

func testArchiveSeparateUsers(t *testing.T, s archiveStore) {
	archCreate(t, s, archHost, "alice")
	archCreate(t, s, archHost, "bob")
	archCreate(t, s, "example.com", "alice")
	other := arch("alice", "m0", "", 9)
	other.Host = "example.com"
	archAppend(t, s, arch("alice", "m0", "", 0), arch("bob", "m0", "", 1), other, arch("alice", "m1", "", 2))
	archWantPage(t, "alice", archQuery(t, s, "alice", storage.ArchiveQuery{Max: 10}), []string{"m0", "m1"}, 2, 0, true)
	archWantPage(t, "bob", archQuery(t, s, "bob", storage.ArchiveQuery{Max: 10}), []string{"m0"}, 1, 0, true)
	p, err := s.QueryArchive(t.Context(), "example.com", "alice", storage.ArchiveQuery{Max: 10})
	if err != nil || len(p.Entries) != 1 || !p.Entries[0].Stamp.Equal(archStamp(9).Truncate(time.Microsecond)) {
		t.Errorf("alice@example.com: %+v, %v", p, err)
	}
}

func testArchiveMetadata(t *testing.T, s archiveStore) {
	archCreate(t, s, archHost, "alice")
	archCreate(t, s, archHost, "bob")
	archAppend(t, s, arch("alice", "mid", "", 5), arch("alice", "last", "", 9), arch("alice", "first", "", 1),
		arch("alice", "last2", "", 9), arch("bob", "bob", "", 20))
	m, err := s.ArchiveMetadata(t.Context(), archHost, "alice")
	if err != nil {
		t.Fatal(err)
	}
	want := storage.ArchiveMetadata{
		First: storage.ArchiveRef{ID: "first", Stamp: archStamp(1).Truncate(time.Microsecond)},
		Last:  storage.ArchiveRef{ID: "last2", Stamp: archStamp(9).Truncate(time.Microsecond)},
	}
	if m.Empty() || m.First.ID != want.First.ID || !m.First.Stamp.Equal(want.First.Stamp) ||
		m.Last.ID != want.Last.ID || !m.Last.Stamp.Equal(want.Last.Stamp) ||
		m.First.Stamp.Location() != time.UTC || m.Last.Stamp.Location() != time.UTC {
		t.Errorf("ArchiveMetadata = %+v, want %+v", m, want)
	}
}

func testArchivePurge(t *testing.T, s archiveStore) {
	for _, u := range []string{"alice", "bob"} {
		archCreate(t, s, archHost, u)
		archFill(t, s, u, 5)
	}
	archCreate(t, s, "example.com", "carol")
	for i := range 5 {
		e := arch("carol", fmt.Sprint("m", i), "", i)
		e.Host = "example.com"
		archAppend(t, s, e)
	}
	purge := func(host, user string, before time.Time, want int64) {
		t.Helper()
		n, err := s.PurgeArchive(t.Context(), host, user, before)
		if err != nil || n != want {
			t.Errorf("PurgeArchive(%q, %q, %v) = %d, %v; want %d", host, user, before, n, err, want)
		}
	}
	// One user: strictly before the time.
	purge(archHost, "alice", archStamp(2), 2)
	archWantPage(t, "alice", archQuery(t, s, "alice", storage.ArchiveQuery{Max: 10}), archSeq("m", 2, 5), 3, 0, true)
	archWantPage(t, "bob untouched", archQuery(t, s, "bob", storage.ArchiveQuery{Max: 10}), archSeq("m", 0, 5), 5, 0, true)
	// One host.
	purge(archHost, "", archStamp(3), 1+3)
	archWantPage(t, "alice", archQuery(t, s, "alice", storage.ArchiveQuery{Max: 10}), archSeq("m", 3, 5), 2, 0, true)
	archWantPage(t, "bob", archQuery(t, s, "bob", storage.ArchiveQuery{Max: 10}), archSeq("m", 3, 5), 2, 0, true)
	p, _ := s.QueryArchive(t.Context(), "example.com", "carol", storage.ArchiveQuery{Max: 10})
	if p.Count != 5 {
		t.Errorf("carol@example.com has %d entries after a purge of example.org, want 5", p.Count)
	}
	// Everyone.
	purge("", "", archStamp(4), 1+1+4)
	for _, u := range []string{"alice", "bob"} {
		archWantPage(t, u, archQuery(t, s, u, storage.ArchiveQuery{Max: 10}), []string{"m4"}, 1, 0, true)
	}
	// IDs of purged entries are gone: an error, as for any unknown ID.
	_, err := s.QueryArchive(t.Context(), archHost, "alice", storage.ArchiveQuery{After: "m0", Max: 10})
	wantErr(t, "after a purged entry", err, storage.ErrNotFound)
	purge("", "", archStamp(0), 0)
}

// testArchivePurgeLarge purges more entries than a backend deletes at once.
func testArchivePurgeLarge(t *testing.T, s archiveStore) {
	archCreate(t, s, archHost, "alice")
	const n = 2600
	var all []storage.ArchiveEntry
	for i := range n {
		all = append(all, arch("alice", fmt.Sprint("m", i), "", i))
	}
	for b := range slices.Chunk(all, 500) {
		archAppend(t, s, b...)
	}
	got, err := s.PurgeArchive(t.Context(), archHost, "alice", archStamp(n-100))
	if err != nil || got != n-100 {
		t.Fatalf("PurgeArchive = %d, %v; want %d", got, err, n-100)
	}
	archWantPage(t, "after purge", archQuery(t, s, "alice", storage.ArchiveQuery{Max: 1}), []string{fmt.Sprint("m", n-100)}, 100, 0, false)
	if err := s.DeleteArchive(t.Context(), archHost, "alice"); err != nil {
		t.Fatal(err)
	}
	archAppend(t, s, all[:2100]...)
	got, err = s.PurgeArchive(t.Context(), "", "", archStamp(n))
	if err != nil || got != 2100 {
		t.Fatalf("PurgeArchive of everything = %d, %v; want 2100", got, err)
	}
}

func testArchiveDelete(t *testing.T, s archiveStore) {
	archCreate(t, s, archHost, "alice")
	archCreate(t, s, archHost, "bob")
	archFill(t, s, "alice", 4)
	archFill(t, s, "bob", 2)
	prefs := storage.ArchivePrefs{Default: storage.ArchiveRoster, Always: []string{"x@y"}}
	if err := s.SetArchivePrefs(t.Context(), archHost, "alice", prefs); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteArchive(t.Context(), archHost, "alice"); err != nil {
		t.Fatal(err)
	}
	archWantPage(t, "alice", archQuery(t, s, "alice", storage.ArchiveQuery{Max: 10}), nil, 0, 0, true)
	archWantPage(t, "bob", archQuery(t, s, "bob", storage.ArchiveQuery{Max: 10}), archSeq("m", 0, 2), 2, 0, true)
	archMustPrefs(t, s, "alice", prefs)
	// The archive takes new entries; old IDs are unknown.
	archAppend(t, s, arch("alice", "new", "", 7))
	archWantPage(t, "alice", archQuery(t, s, "alice", storage.ArchiveQuery{Max: 10}), []string{"new"}, 1, 0, true)
}

func testArchiveDeleteAccount(t *testing.T, s archiveStore) {
	archCreate(t, s, archHost, "alice")
	archCreate(t, s, archHost, "bob")
	archFill(t, s, "alice", 4)
	archFill(t, s, "bob", 2)
	for _, u := range []string{"alice", "bob"} {
		err := s.SetArchivePrefs(t.Context(), archHost, u, storage.ArchivePrefs{Default: storage.ArchiveNever,
			Always: []string{"a@b"}, Never: []string{"c@d/e"}})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteAccount(t.Context(), archHost, "alice"); err != nil {
		t.Fatal(err)
	}
	archWantPage(t, "deleted alice", archQuery(t, s, "alice", storage.ArchiveQuery{Max: 10}), nil, 0, 0, true)
	if m, err := s.ArchiveMetadata(t.Context(), archHost, "alice"); err != nil || !m.Empty() {
		t.Errorf("ArchiveMetadata of a deleted account = %+v, %v", m, err)
	}
	_, err := s.ArchivePrefs(t.Context(), archHost, "alice")
	wantErr(t, "ArchivePrefs of a deleted account", err, storage.ErrNotFound)
	archCreate(t, s, archHost, "alice")
	archWantPage(t, "recreated alice", archQuery(t, s, "alice", storage.ArchiveQuery{Max: 10}), nil, 0, 0, true)
	_, err = s.ArchivePrefs(t.Context(), archHost, "alice")
	wantErr(t, "ArchivePrefs of a recreated account", err, storage.ErrNotFound)
	archWantPage(t, "bob", archQuery(t, s, "bob", storage.ArchiveQuery{Max: 10}), archSeq("m", 0, 2), 2, 0, true)
	archMustPrefs(t, s, "bob", storage.ArchivePrefs{Default: storage.ArchiveNever, Always: []string{"a@b"}, Never: []string{"c@d/e"}})
}

func archMustPrefs(t *testing.T, s archiveStore, user string, want storage.ArchivePrefs) {
	t.Helper()
	got, err := s.ArchivePrefs(t.Context(), archHost, user)
	if err != nil {
		t.Fatalf("ArchivePrefs(%s): %v", user, err)
	}
	if got.Default != want.Default || !slices.Equal(got.Always, want.Always) || !slices.Equal(got.Never, want.Never) {
		t.Errorf("ArchivePrefs(%s) = %+v, want %+v", user, got, want)
	}
}

func testArchivePrefs(t *testing.T, s archiveStore) {
	archCreate(t, s, archHost, "alice")
	archCreate(t, s, archHost, "bob")
	set := func(p storage.ArchivePrefs) {
		t.Helper()
		if err := s.SetArchivePrefs(t.Context(), archHost, "alice", p); err != nil {
			t.Fatalf("SetArchivePrefs(%+v): %v", p, err)
		}
	}
	set(storage.ArchivePrefs{Default: storage.ArchiveRoster,
		Always: []string{"romeo@example.net", "juliet@example.net/balcony", "romeo@example.net", "'\"odd\\"},
		Never:  []string{"example.com", "Z@example.net"}})
	archMustPrefs(t, s, "alice", storage.ArchivePrefs{Default: storage.ArchiveRoster,
		Always: []string{"'\"odd\\", "juliet@example.net/balcony", "romeo@example.net"},
		Never:  []string{"Z@example.net", "example.com"}})
	// Replaced as a whole; a JID may move from one list to the other.
	set(storage.ArchivePrefs{Default: storage.ArchiveNever, Always: []string{"example.com"}})
	archMustPrefs(t, s, "alice", storage.ArchivePrefs{Default: storage.ArchiveNever, Always: []string{"example.com"}})
	set(storage.ArchivePrefs{Default: storage.ArchiveAlways})
	archMustPrefs(t, s, "alice", storage.ArchivePrefs{Default: storage.ArchiveAlways})
	_, err := s.ArchivePrefs(t.Context(), archHost, "bob")
	wantErr(t, "bob's prefs", err, storage.ErrNotFound)
}

func testArchivePrefsInvalid(t *testing.T, s archiveStore) {
	archCreate(t, s, archHost, "alice")
	good := storage.ArchivePrefs{Default: storage.ArchiveRoster, Never: []string{"a@b"}}
	if err := s.SetArchivePrefs(t.Context(), archHost, "alice", good); err != nil {
		t.Fatal(err)
	}
	for _, p := range []storage.ArchivePrefs{
		{Default: ""},
		{Default: "Always"},
		{Default: storage.ArchiveAlways, Always: []string{"x@y", "a@b"}, Never: []string{"a@b"}},
	} {
		err := s.SetArchivePrefs(t.Context(), archHost, "alice", p)
		wantOtherErr(t, fmt.Sprintf("SetArchivePrefs(%+v)", p), err)
		if p.Validate() == nil {
			t.Errorf("Validate(%+v) accepted it", p)
		}
	}
	archMustPrefs(t, s, "alice", good)
}

// testArchiveConcurrent appends from several goroutines at once, with
// queries running alongside: every entry arrives, each writer's in its
// order.
func testArchiveConcurrent(t *testing.T, s archiveStore) {
	archCreate(t, s, archHost, "alice")
	const writers, batches, size = 4, 10, 5
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range writers {
		wg.Go(func() {
			for b := range batches {
				var es []storage.ArchiveEntry
				for i := range size {
					n := b*size + i
					es = append(es, arch("alice", fmt.Sprintf("w%d-%03d", w, n), "", 0))
				}
				if err := s.AppendArchive(context.Background(), es); err != nil {
					t.Errorf("AppendArchive: %v", err)
					return
				}
			}
		})
	}
	var rg sync.WaitGroup
	rg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := s.QueryArchive(context.Background(), archHost, "alice", storage.ArchiveQuery{Max: 20, Backward: true}); err != nil {
				t.Errorf("QueryArchive: %v", err)
				return
			}
		}
	})
	wg.Wait()
	close(stop)
	rg.Wait()
	p := archQuery(t, s, "alice", storage.ArchiveQuery{Max: writers * batches * size})
	if p.Count != writers*batches*size || !p.Complete {
		t.Fatalf("count %d complete %v, want %d entries", p.Count, p.Complete, writers*batches*size)
	}
	last := map[string]string{}
	for _, id := range archIDs(p) {
		w := id[:2]
		if id <= last[w] {
			t.Fatalf("%s came after %s", id, last[w])
		}
		last[w] = id
	}
}

func testArchiveCanceledContext(t *testing.T, s archiveStore) {
	archCreate(t, s, archHost, "alice")
	archFill(t, s, "alice", 2)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	check := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s: got %v, want context.Canceled", what, err)
		}
	}
	check("AppendArchive", s.AppendArchive(ctx, []storage.ArchiveEntry{arch("alice", "x", "", 5)}))
	_, err := s.QueryArchive(ctx, archHost, "alice", storage.ArchiveQuery{After: "m0", Max: 10})
	check("QueryArchive", err)
	_, err = s.ArchiveMetadata(ctx, archHost, "alice")
	check("ArchiveMetadata", err)
	_, err = s.PurgeArchive(ctx, archHost, "alice", archStamp(10))
	check("PurgeArchive", err)
	check("DeleteArchive", s.DeleteArchive(ctx, archHost, "alice"))
	_, err = s.ArchivePrefs(ctx, archHost, "alice")
	check("ArchivePrefs", err)
	check("SetArchivePrefs", s.SetArchivePrefs(ctx, archHost, "alice", storage.ArchivePrefs{Default: storage.ArchiveNever}))
	archWantPage(t, "untouched", archQuery(t, s, "alice", storage.ArchiveQuery{Max: 10}), archSeq("m", 0, 2), 2, 0, true)
}
