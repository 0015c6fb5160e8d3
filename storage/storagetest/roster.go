package storagetest

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"parley.im/parley/storage"
)

func runRoster(t *testing.T, open func(t *testing.T) storage.Store) {
	subtests(t, open, []namedTest{
		{"Empty", testRosterEmpty},
		{"MissingAccount", testRosterMissingAccount},
		{"AddGet", testRosterAddGet},
		{"AllStates", testRosterAllStates},
		{"Modify", testRosterModify},
		{"RemoveTombstone", testRosterRemove},
		{"RemoveAbsent", testRosterRemoveAbsent},
		{"ReaddAfterRemove", testRosterReadd},
		{"ChangesSince", testRosterChangesSince},
		{"UnknownVersions", testRosterUnknownVersions},
		{"VersionSurvivesEmptying", testRosterVersionSurvivesEmptying},
		{"Unchanged", testRosterUnchanged},
		{"FuncError", testRosterFuncError},
		{"FuncPanics", testRosterFuncPanics},
		{"StoreSetsJIDAndVersion", testRosterStoreSetsJIDAndVersion},
		{"InvalidSubscription", testRosterInvalidSubscription},
		{"OddContacts", testRosterOddContacts},
		{"Groups", testRosterGroups},
		{"KeepsTombstones", testRosterKeepsTombstones},
		{"SeparateRosters", testRosterSeparate},
	})
}

func testRosterEmpty(t *testing.T, s storage.Store) {
	const host, user = "example.org", "alice"
	mustCreate(t, s, host, user, nil)
	mustRoster(t, s, host, user, nil, 0)
	mustNoItem(t, s, host, user, "bob@example.org")
	mustChanges(t, s, host, user, 0, nil, 0)
	mustUnknownSince(t, s, host, user, 1, 0)
}

// testRosterMissingAccount: reads see an empty roster, an update is
// refused before f runs, and nothing it would have written appears once
// the account exists.
func testRosterMissingAccount(t *testing.T, s storage.Store) {
	const host = "example.org"
	mustCreate(t, s, host, "alice", nil)
	for _, user := range []string{"bob", "Alice", ""} {
		mustRoster(t, s, host, user, nil, 0)
		mustNoItem(t, s, host, user, "carol@example.org")
		mustChanges(t, s, host, user, 0, nil, 0)
		called := false
		_, _, err := s.UpdateRosterItem(t.Context(), host, user, "carol@example.org",
			func(*storage.RosterItem) (*storage.RosterItem, error) {
				called = true
				return &storage.RosterItem{Subscription: storage.SubNone}, nil
			})
		wantErr(t, fmt.Sprintf("UpdateRosterItem for missing account %q", user), err, storage.ErrNotFound)
		if called {
			t.Errorf("UpdateRosterItem for missing account %q called f", user)
		}
	}
	mustCreate(t, s, host, "bob", nil)
	mustRoster(t, s, host, "bob", nil, 0)
	mustRoster(t, s, host, "alice", nil, 0)
}

func testRosterAddGet(t *testing.T, s storage.Store) {
	const host, user = "example.org", "alice"
	mustCreate(t, s, host, user, nil)
	want := storage.RosterItem{
		JID:          "bob@example.net",
		Name:         "Bob «the builder» 🛠",
		Subscription: storage.SubBoth,
		PendingOut:   true,
		Approved:     true,
		Groups:       []string{"Friends", "Work", "Ägypten"},
	}
	var gotF *storage.RosterItem
	stored, version, err := s.UpdateRosterItem(t.Context(), host, user, want.JID,
		func(cur *storage.RosterItem) (*storage.RosterItem, error) {
			gotF = cur
			it := want
			return &it, nil
		})
	if err != nil {
		t.Fatalf("UpdateRosterItem: %v", err)
	}
	if gotF != nil {
		t.Errorf("f got %s for an absent item, want nil", fmtItem(*gotF))
	}
	if version <= 0 {
		t.Fatalf("version after the first change: %d, want > 0", version)
	}
	want.Version = version
	if stored == nil || !equalItem(*stored, want) {
		t.Fatalf("UpdateRosterItem returned %v, want %s", stored, fmtItem(want))
	}
	mustItem(t, s, host, user, want)
	mustRoster(t, s, host, user, []storage.RosterItem{want}, version)
	mustChanges(t, s, host, user, 0, []storage.RosterChange{{Item: want}}, version)
	mustChanges(t, s, host, user, version, nil, version)

	// f sees the stored item, whole.
	_, _, err = s.UpdateRosterItem(t.Context(), host, user, want.JID,
		func(cur *storage.RosterItem) (*storage.RosterItem, error) {
			if cur == nil || !equalItem(*cur, want) {
				t.Errorf("f got %v, want %s", cur, fmtItem(want))
			}
			return nil, storage.ErrUnchanged
		})
	if err != nil {
		t.Fatalf("UpdateRosterItem: %v", err)
	}
}

// testRosterAllStates stores every subscription state with every
// combination of the three flags, each in its own item, and reads them
// back: a backend that mixes up columns or drops a flag fails here.
func testRosterAllStates(t *testing.T, s storage.Store) {
	const host, user = "example.org", "alice"
	mustCreate(t, s, host, user, nil)
	m := newRosterModel()
	subs := []string{storage.SubNone, storage.SubTo, storage.SubFrom, storage.SubBoth}
	for _, sub := range subs {
		for flags := range 8 {
			it := storage.RosterItem{
				JID:          fmt.Sprintf("%s-%d@example.net", sub, flags),
				Name:         fmt.Sprintf("%s %d", sub, flags),
				Subscription: sub,
				PendingOut:   flags&1 != 0,
				PendingIn:    flags&2 != 0,
				Approved:     flags&4 != 0,
			}
			if flags%3 == 0 {
				it.Groups = []string{sub, fmt.Sprint(flags)}
			}
			m.set(setItem(t, s, host, user, it))
		}
	}
	m.check(t, s, host, user, []int64{0})
}

func testRosterModify(t *testing.T, s storage.Store) {
	const host, user = "example.org", "alice"
	mustCreate(t, s, host, user, nil)
	m := newRosterModel()
	bob := storage.RosterItem{JID: "bob@example.net", Name: "Bob", Subscription: storage.SubNone,
		PendingOut: true, Groups: []string{"a", "b", "c"}}
	carol := storage.RosterItem{JID: "carol@example.net", Subscription: storage.SubFrom}
	m.set(setItem(t, s, host, user, bob))
	m.set(setItem(t, s, host, user, carol))
	carolVersion := m.latest[carol.JID].Item.Version
	versions := []int64{0, m.version}

	steps := []func(it *storage.RosterItem){
		func(it *storage.RosterItem) { it.Name = "Robert"; it.Groups = []string{"c", "a"} },
		func(it *storage.RosterItem) { it.Subscription = storage.SubTo; it.PendingOut = false },
		func(it *storage.RosterItem) { it.Name = ""; it.Groups = nil; it.PendingIn = true },
		func(it *storage.RosterItem) {
			it.Subscription = storage.SubBoth
			it.PendingIn = false
			it.Approved = true
		},
		func(it *storage.RosterItem) { it.Groups = []string{"only"} },
	}
	for i, step := range steps {
		prev := m.version
		stored, version, err := s.UpdateRosterItem(t.Context(), host, user, bob.JID,
			func(cur *storage.RosterItem) (*storage.RosterItem, error) {
				step(cur)
				return cur, nil
			})
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if version <= prev || stored == nil || stored.Version != version {
			t.Fatalf("step %d: stored %v at version %d after %d", i, stored, version, prev)
		}
		step(&bob)
		bob.Version = version
		if !equalItem(*stored, bob) {
			t.Errorf("step %d: stored %s, want %s", i, fmtItem(*stored), fmtItem(bob))
		}
		m.set(bob)
		versions = append(versions, version)
		m.check(t, s, host, user, versions)
	}
	mustItem(t, s, host, user, storage.RosterItem{JID: carol.JID, Subscription: storage.SubFrom, Version: carolVersion})
}

func testRosterRemove(t *testing.T, s storage.Store) {
	const host, user = "example.org", "alice"
	mustCreate(t, s, host, user, nil)
	m := newRosterModel()
	bob := storage.RosterItem{JID: "bob@example.net", Name: "Bob", Subscription: storage.SubBoth,
		PendingIn: true, Approved: true, Groups: []string{"g1", "g2"}}
	carol := storage.RosterItem{JID: "carol@example.net", Name: "Carol", Subscription: storage.SubTo}
	m.set(setItem(t, s, host, user, bob))
	m.set(setItem(t, s, host, user, carol))
	before := m.version

	v := removeItem(t, s, host, user, bob.JID)
	m.remove(bob.JID, v)
	mustNoItem(t, s, host, user, bob.JID)
	// The tombstone carries the JID and the version, and nothing of the
	// removed item.
	mustChanges(t, s, host, user, before, []storage.RosterChange{
		{Item: storage.RosterItem{JID: bob.JID, Version: v}, Removed: true},
	}, v)
	m.check(t, s, host, user, []int64{0, before, v})

	v = removeItem(t, s, host, user, carol.JID)
	m.remove(carol.JID, v)
	m.check(t, s, host, user, []int64{0, before, v})
	mustRoster(t, s, host, user, nil, v)
}

// testRosterRemoveAbsent: removing an item that is not there writes
// nothing, whether it never existed or is already a tombstone.
func testRosterRemoveAbsent(t *testing.T, s storage.Store) {
	const host, user = "example.org", "alice"
	mustCreate(t, s, host, user, nil)
	remove := func(contact string, wantVersion int64) {
		t.Helper()
		called := false
		stored, version, err := s.UpdateRosterItem(t.Context(), host, user, contact,
			func(cur *storage.RosterItem) (*storage.RosterItem, error) {
				called = true
				if cur != nil {
					t.Errorf("f got %s for an absent item", fmtItem(*cur))
				}
				return nil, nil
			})
		if err != nil || stored != nil || version != wantVersion || !called {
			t.Errorf("removing absent %q: %v, %d, %v (f called: %v), want nil, %d, nil", contact, stored, version, err, called, wantVersion)
		}
	}
	remove("nobody@example.net", 0)
	mustChanges(t, s, host, user, 0, nil, 0)

	bob := setItem(t, s, host, user, storage.RosterItem{JID: "bob@example.net", Subscription: storage.SubNone})
	v := removeItem(t, s, host, user, bob.JID)
	remove(bob.JID, v)
	remove("nobody@example.net", v)
	tomb := []storage.RosterChange{{Item: storage.RosterItem{JID: bob.JID, Version: v}, Removed: true}}
	mustChanges(t, s, host, user, 0, tomb, v)
	mustChanges(t, s, host, user, bob.Version, tomb, v)
}

// testRosterReadd removes an item with groups and flags and adds it back
// bare: nothing of the old item may come back with it.
func testRosterReadd(t *testing.T, s storage.Store) {
	const host, user = "example.org", "alice"
	mustCreate(t, s, host, user, nil)
	old := setItem(t, s, host, user, storage.RosterItem{JID: "bob@example.net", Name: "Old",
		Subscription: storage.SubBoth, PendingOut: true, PendingIn: true, Approved: true, Groups: []string{"x", "y"}})
	removed := removeItem(t, s, host, user, old.JID)
	var sawCur bool
	stored, version, err := s.UpdateRosterItem(t.Context(), host, user, old.JID,
		func(cur *storage.RosterItem) (*storage.RosterItem, error) {
			sawCur = cur != nil
			return &storage.RosterItem{Subscription: storage.SubNone}, nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if sawCur {
		t.Error("f got the removed item back")
	}
	want := storage.RosterItem{JID: old.JID, Subscription: storage.SubNone, Version: version}
	if version <= removed || stored == nil || !equalItem(*stored, want) {
		t.Errorf("re-added: %v at %d, want %s after %d", stored, version, fmtItem(want), removed)
	}
	mustItem(t, s, host, user, want)
	mustRoster(t, s, host, user, []storage.RosterItem{want}, version)
	mustChanges(t, s, host, user, old.Version, []storage.RosterChange{{Item: want}}, version)
	mustChanges(t, s, host, user, removed, []storage.RosterChange{{Item: want}}, version)
}

// testRosterChangesSince runs a mixed history over several contacts and
// then asks for the changes since every version it went through: each
// answer must hold the latest state of exactly the contacts changed after
// that version, by ascending version.
func testRosterChangesSince(t *testing.T, s storage.Store) {
	const host, user = "example.org", "alice"
	mustCreate(t, s, host, user, nil)
	m := newRosterModel()
	versions := []int64{0}
	contacts := []string{"a@x", "b@x", "c@x", "d@x", "e@x"}
	for round := range 4 {
		for i, c := range contacts {
			switch (round + i) % 4 {
			case 0, 1, 2:
				m.set(setItem(t, s, host, user, storage.RosterItem{JID: c, Name: fmt.Sprint(c, round),
					Subscription: storage.SubTo, Groups: []string{fmt.Sprint("round", round)}}))
			case 3:
				if c := m.latest[c]; c.Item.JID != "" && !c.Removed {
					m.remove(c.Item.JID, removeItem(t, s, host, user, c.Item.JID))
				}
			}
			versions = append(versions, m.version)
		}
	}
	for i := 1; i < len(versions); i++ {
		if versions[i] < versions[i-1] {
			t.Fatalf("versions went back: %v", versions)
		}
	}
	m.check(t, s, host, user, versions)
}

func testRosterUnknownVersions(t *testing.T, s storage.Store) {
	const host, user = "example.org", "alice"
	mustCreate(t, s, host, user, nil)
	mustUnknownSince(t, s, host, user, 1, 0)
	mustUnknownSince(t, s, host, user, -1, 0)
	it := setItem(t, s, host, user, storage.RosterItem{JID: "bob@example.net", Subscription: storage.SubNone})
	v := it.Version
	mustUnknownSince(t, s, host, user, v+1, v)
	mustUnknownSince(t, s, host, user, v+1000, v)
	mustUnknownSince(t, s, host, user, 1<<62, v)
	mustUnknownSince(t, s, host, user, -1, v)
	mustChanges(t, s, host, user, v, nil, v)
	mustChanges(t, s, host, user, 0, []storage.RosterChange{{Item: it}}, v)
}

// testRosterVersionSurvivesEmptying removes every item: the version stays
// where it was, and the next change goes above it, never back to a version
// a client may have cached.
func testRosterVersionSurvivesEmptying(t *testing.T, s storage.Store) {
	const host, user = "example.org", "alice"
	mustCreate(t, s, host, user, nil)
	var seen []int64
	for _, c := range []string{"a@x", "b@x"} {
		seen = append(seen, setItem(t, s, host, user, storage.RosterItem{JID: c, Subscription: storage.SubNone}).Version)
	}
	seen = append(seen, removeItem(t, s, host, user, "a@x"), removeItem(t, s, host, user, "b@x"))
	last := seen[len(seen)-1]
	mustRoster(t, s, host, user, nil, last)
	mustChanges(t, s, host, user, last, nil, last)

	it := setItem(t, s, host, user, storage.RosterItem{JID: "a@x", Subscription: storage.SubNone})
	if it.Version <= last {
		t.Errorf("version after emptying the roster: %d, want > %d", it.Version, last)
	}
	mustRoster(t, s, host, user, []storage.RosterItem{it}, it.Version)
	mustChanges(t, s, host, user, seen[0], []storage.RosterChange{
		{Item: storage.RosterItem{JID: "b@x", Version: last}, Removed: true},
		{Item: it},
	}, it.Version)
}

// testRosterUnchanged: ErrUnchanged, bare or wrapped, writes nothing even
// after f modified its copy, does not bump the version, and returns the
// item as it is stored.
func testRosterUnchanged(t *testing.T, s storage.Store) {
	const host, user = "example.org", "alice"
	mustCreate(t, s, host, user, nil)
	bob := setItem(t, s, host, user, storage.RosterItem{JID: "bob@example.net", Name: "Bob",
		Subscription: storage.SubTo, Groups: []string{"g"}})
	for _, unchanged := range []error{storage.ErrUnchanged, fmt.Errorf("nothing to do: %w", storage.ErrUnchanged)} {
		stored, version, err := s.UpdateRosterItem(t.Context(), host, user, bob.JID,
			func(cur *storage.RosterItem) (*storage.RosterItem, error) {
				cur.Name = "Mallory"
				cur.Subscription = storage.SubBoth
				cur.Groups[0] = "changed"
				cur.Groups = append(cur.Groups, "more")
				return cur, unchanged
			})
		if err != nil {
			t.Fatalf("UpdateRosterItem returning %v: %v", unchanged, err)
		}
		if version != bob.Version || stored == nil || !equalItem(*stored, bob) {
			t.Errorf("UpdateRosterItem returning %v: %v at %d, want %s at %d", unchanged, stored, version, fmtItem(bob), bob.Version)
		}
		mustItem(t, s, host, user, bob)
		mustRoster(t, s, host, user, []storage.RosterItem{bob}, bob.Version)
		mustChanges(t, s, host, user, bob.Version, nil, bob.Version)
	}

	// For an absent item: nothing returned, nothing created.
	stored, version, err := s.UpdateRosterItem(t.Context(), host, user, "carol@example.net",
		func(*storage.RosterItem) (*storage.RosterItem, error) {
			return &storage.RosterItem{Subscription: storage.SubNone}, storage.ErrUnchanged
		})
	if err != nil || stored != nil || version != bob.Version {
		t.Errorf("ErrUnchanged on an absent item: %v, %d, %v; want nil, %d, nil", stored, version, err, bob.Version)
	}
	mustNoItem(t, s, host, user, "carol@example.net")
	mustChanges(t, s, host, user, 0, []storage.RosterChange{{Item: bob}}, bob.Version)

	// On an account whose roster was never written: version 0, no roster.
	mustCreate(t, s, host, "dave", nil)
	stored, version, err = s.UpdateRosterItem(t.Context(), host, "dave", "bob@example.net",
		func(*storage.RosterItem) (*storage.RosterItem, error) { return nil, storage.ErrUnchanged })
	if err != nil || stored != nil || version != 0 {
		t.Errorf("ErrUnchanged on a new roster: %v, %d, %v; want nil, 0, nil", stored, version, err)
	}
	mustRoster(t, s, host, "dave", nil, 0)
	mustChanges(t, s, host, "dave", 0, nil, 0)
}

type funcError struct{ msg string }

func (e *funcError) Error() string { return e.msg }

// testRosterFuncError: an error of f's own comes back as the very same
// value, and nothing f returned alongside it is written.
func testRosterFuncError(t *testing.T, s storage.Store) {
	const host, user = "example.org", "alice"
	mustCreate(t, s, host, user, nil)
	bob := setItem(t, s, host, user, storage.RosterItem{JID: "bob@example.net", Subscription: storage.SubTo})
	fErr := &funcError{"policy says no"}
	for _, contact := range []string{bob.JID, "carol@example.net"} {
		for _, ret := range []*storage.RosterItem{nil, {Name: "X", Subscription: storage.SubBoth}} {
			_, _, err := s.UpdateRosterItem(t.Context(), host, user, contact,
				func(*storage.RosterItem) (*storage.RosterItem, error) { return ret, fErr })
			if err != fErr {
				t.Errorf("UpdateRosterItem(%q): error %#v, want f's own %#v", contact, err, fErr)
			}
		}
	}
	mustRoster(t, s, host, user, []storage.RosterItem{bob}, bob.Version)
	mustChanges(t, s, host, user, 0, []storage.RosterChange{{Item: bob}}, bob.Version)

	// A sentinel from f is f's error too, not the store's verdict.
	_, _, err := s.UpdateRosterItem(t.Context(), host, user, bob.JID,
		func(*storage.RosterItem) (*storage.RosterItem, error) { return nil, storage.ErrNotFound })
	if err != storage.ErrNotFound {
		t.Errorf("f returning ErrNotFound: got %v", err)
	}
	mustRoster(t, s, host, user, []storage.RosterItem{bob}, bob.Version)
}

// testRosterFuncPanics: a panic in f must not leave the roster locked or a
// transaction open: the next update works and nothing was written.
func testRosterFuncPanics(t *testing.T, s storage.Store) {
	const host, user = "example.org", "alice"
	mustCreate(t, s, host, user, nil)
	bob := setItem(t, s, host, user, storage.RosterItem{JID: "bob@example.net", Subscription: storage.SubTo})
	func() {
		defer func() {
			if recover() == nil {
				t.Error("the panic in f did not reach the caller")
			}
		}()
		s.UpdateRosterItem(t.Context(), host, user, bob.JID,
			func(*storage.RosterItem) (*storage.RosterItem, error) { panic("boom") })
	}()
	mustRoster(t, s, host, user, []storage.RosterItem{bob}, bob.Version)
	carol := setItem(t, s, host, user, storage.RosterItem{JID: "carol@example.net", Subscription: storage.SubNone})
	mustRoster(t, s, host, user, []storage.RosterItem{bob, carol}, carol.Version)
	mustCreate(t, s, host, "bob", nil)
}

func testRosterStoreSetsJIDAndVersion(t *testing.T, s storage.Store) {
	const host, user = "example.org", "alice"
	mustCreate(t, s, host, user, nil)
	stored, version, err := s.UpdateRosterItem(t.Context(), host, user, "bob@example.net",
		func(*storage.RosterItem) (*storage.RosterItem, error) {
			return &storage.RosterItem{JID: "mallory@example.net", Subscription: storage.SubTo, Version: 1 << 40}, nil
		})
	if err != nil {
		t.Fatal(err)
	}
	want := storage.RosterItem{JID: "bob@example.net", Subscription: storage.SubTo, Version: version}
	if stored == nil || !equalItem(*stored, want) || version >= 1<<40 {
		t.Errorf("stored %v at %d, want %s", stored, version, fmtItem(want))
	}
	mustItem(t, s, host, user, want)
	mustNoItem(t, s, host, user, "mallory@example.net")
	mustRoster(t, s, host, user, []storage.RosterItem{want}, version)
}

func testRosterInvalidSubscription(t *testing.T, s storage.Store) {
	const host, user = "example.org", "alice"
	mustCreate(t, s, host, user, nil)
	bob := setItem(t, s, host, user, storage.RosterItem{JID: "bob@example.net", Subscription: storage.SubTo})
	for _, sub := range []string{"", "Both", "pending", "both ", "none\x00"} {
		for _, contact := range []string{bob.JID, "carol@example.net"} {
			_, _, err := s.UpdateRosterItem(t.Context(), host, user, contact,
				func(*storage.RosterItem) (*storage.RosterItem, error) {
					return &storage.RosterItem{Subscription: sub, Name: "x"}, nil
				})
			wantOtherErr(t, fmt.Sprintf("UpdateRosterItem(%q) with subscription %q", contact, sub), err)
			if errors.Is(err, storage.ErrUnchanged) {
				t.Errorf("subscription %q: error is ErrUnchanged", sub)
			}
		}
	}
	mustRoster(t, s, host, user, []storage.RosterItem{bob}, bob.Version)
	mustChanges(t, s, host, user, 0, []storage.RosterChange{{Item: bob}}, bob.Version)
}

// oddContacts are JIDs, or at least valid UTF-8, that break code building
// SQL by hand, using LIKE, or normalizing strings.
var oddContacts = []string{
	`o'brien@example.net`, `"quoted"@example.net`, `back\slash@example.net`, `100%@example.net`,
	`%@example.net`, `_@example.net`, `a_b@example.net`, `axb@example.net`, `'; DROP TABLE roster_items; --@x`,
	`名前@例え.jp`, `emoji😀@example.net`, "caf\u00e9@example.net", "cafe\u0301@example.net",
	"ﬁ@example.net", "fi@example.net", `B@example.net`, `b@example.net`, `example.net`, `example.net/res`,
	strings.Repeat("x", 1023) + "@" + strings.Repeat("d", 1023),
}

func testRosterOddContacts(t *testing.T, s storage.Store) {
	const host = "example.org"
	m := newRosterModel()
	for _, user := range []string{`o'brien`, `%`, `名前`} {
		mustCreate(t, s, host, user, nil)
	}
	user := `o'brien`
	for i, c := range oddContacts {
		m.set(setItem(t, s, host, user, storage.RosterItem{JID: c, Name: oddUsernames[i%len(oddUsernames)],
			Subscription: storage.SubBoth, Groups: []string{oddUsernames[(i+1)%len(oddUsernames)], c}}))
	}
	m.check(t, s, host, user, []int64{0, m.latest[oddContacts[5]].Item.Version})
	for _, probe := range []string{"axb@example.net ", "a%@example.net", "_", "%", "cafe@example.net", "B@EXAMPLE.NET",
		"fi@example.net/", "o''brien@example.net", "example.net/", strings.Repeat("x", 1023) + "@" + strings.Repeat("d", 1022)} {
		mustNoItem(t, s, host, user, probe)
	}
	// Removing the wildcard-looking contacts removes nothing else.
	for _, c := range []string{`%@example.net`, `_@example.net`} {
		m.remove(c, removeItem(t, s, host, user, c))
	}
	m.check(t, s, host, user, []int64{0})
	mustRoster(t, s, host, `%`, nil, 0)
	mustRoster(t, s, host, `名前`, nil, 0)
}

// testRosterGroups: group names are stored as given, order and duplicates
// included, and replaced as a whole.
func testRosterGroups(t *testing.T, s storage.Store) {
	const host, user = "example.org", "alice"
	mustCreate(t, s, host, user, nil)
	many := make([]string, 40)
	for i := range many {
		many[i] = fmt.Sprintf("group %02d", 39-i)
	}
	sets := [][]string{
		{"z", "a", "m"},
		{"dup", "dup", "Dup"},
		{""},
		many,
		{`'`, `%`, `_`, `\`, "名前", "😀", "caf\u00e9", "cafe\u0301"},
		nil,
		{"back"},
	}
	for _, groups := range sets {
		it := setItem(t, s, host, user, storage.RosterItem{JID: "bob@example.net", Subscription: storage.SubBoth, Groups: groups})
		mustItem(t, s, host, user, it)
		mustRoster(t, s, host, user, []storage.RosterItem{it}, it.Version)
	}
}

// testRosterKeepsTombstones removes more items than fit in any small
// fixed buffer but fewer than storage.MinRosterTombstones: every tombstone
// must still be reported.
func testRosterKeepsTombstones(t *testing.T, s storage.Store) {
	const host, user, n = "example.org", "alice", 40
	mustCreate(t, s, host, user, nil)
	m := newRosterModel()
	for i := range n {
		m.set(setItem(t, s, host, user, storage.RosterItem{JID: fmt.Sprintf("c%02d@x", i), Subscription: storage.SubNone}))
	}
	first := m.version
	for i := range n {
		c := fmt.Sprintf("c%02d@x", i)
		m.remove(c, removeItem(t, s, host, user, c))
	}
	m.check(t, s, host, user, []int64{0, first, m.latest["c00@x"].Item.Version, m.version})
	if got := len(m.since(0)); got != n {
		t.Fatalf("test bug: %d tombstones in the model", got)
	}
}

func testRosterSeparate(t *testing.T, s storage.Store) {
	accounts := []struct{ host, user string }{
		{"example.org", "alice"}, {"example.org", "bob"}, {"example.net", "alice"},
	}
	models := make([]*rosterModel, len(accounts))
	for i, a := range accounts {
		mustCreate(t, s, a.host, a.user, nil)
		models[i] = newRosterModel()
	}
	for round := range 3 {
		for i, a := range accounts {
			// The same contact in every roster, with different contents.
			models[i].set(setItem(t, s, a.host, a.user, storage.RosterItem{JID: "shared@example.com",
				Name: fmt.Sprint(a.user, "@", a.host, round), Subscription: storage.SubTo, Groups: []string{a.host}}))
			models[i].set(setItem(t, s, a.host, a.user, storage.RosterItem{JID: fmt.Sprintf("own%d-%d@example.com", i, round),
				Subscription: storage.SubFrom}))
		}
	}
	a := accounts[0]
	models[0].remove("shared@example.com", removeItem(t, s, a.host, a.user, "shared@example.com"))
	for i, a := range accounts {
		models[i].check(t, s, a.host, a.user, []int64{0})
	}
	mustRoster(t, s, "EXAMPLE.ORG", "alice", nil, 0)
	mustRoster(t, s, "example.com", "alice", nil, 0)
}

// RunRosterPruning checks tombstone pruning on a store that keeps the newest
// keep tombstones of a roster (fewer than storage.MinRosterTombstones, so
// that the test stays short): open must return such a store, otherwise as
// for Run. Changes since a version older than the newest tombstone forgotten
// must be reported unknown, and those since any later version exactly. keep
// must be at least 2.
func RunRosterPruning(t *testing.T, keep int, open func(t *testing.T) storage.Store) {
	t.Run("Prune", func(t *testing.T) { testRosterPrune(t, open(t), keep) })
	t.Run("PruneAfterReadd", func(t *testing.T) { testRosterPruneAfterReadd(t, open(t), keep) })
}

func testRosterPrune(t *testing.T, s storage.Store, keep int) {
	const host, user, extra = "example.org", "alice", 3
	mustCreate(t, s, host, user, nil)
	mustCreate(t, s, host, "bob", nil)
	n := keep + extra
	m := newRosterModel()
	live := setItem(t, s, host, user, storage.RosterItem{JID: "live@x", Subscription: storage.SubBoth})
	m.set(live)
	var added, removed []int64
	for i := range n {
		it := setItem(t, s, host, user, storage.RosterItem{JID: fmt.Sprintf("c%03d@x", i), Subscription: storage.SubNone})
		m.set(it)
		added = append(added, it.Version)
	}
	// Bob's tombstones do not count against Alice's.
	bob := setItem(t, s, host, "bob", storage.RosterItem{JID: "b@x", Subscription: storage.SubNone})
	bobRemoved := removeItem(t, s, host, "bob", bob.JID)

	for i := range n {
		c := fmt.Sprintf("c%03d@x", i)
		v := removeItem(t, s, host, user, c)
		m.remove(c, v)
		removed = append(removed, v)
		// Up to keep tombstones, nothing is forgotten.
		if i < keep {
			mustChanges(t, s, host, user, added[0], m.since(added[0]), v)
		}
	}
	current := m.version
	forgotten := removed[extra-1] // the newest tombstone pruned
	kept := m.since(forgotten)
	if len(kept) != keep {
		t.Fatalf("test bug: %d kept tombstones", len(kept))
	}
	// From 0, the live item and the tombstones still kept.
	mustChanges(t, s, host, user, 0, append([]storage.RosterChange{{Item: live}}, kept...), current)
	mustChanges(t, s, host, user, forgotten, kept, current)
	mustChanges(t, s, host, user, removed[extra], kept[1:], current)
	mustChanges(t, s, host, user, current, nil, current)
	for _, v := range []int64{forgotten - 1, removed[0], added[0], added[n-1], live.Version, 1} {
		mustUnknownSince(t, s, host, user, v, current)
	}
	mustRoster(t, s, host, user, []storage.RosterItem{live}, current)
	mustChanges(t, s, host, "bob", 0, []storage.RosterChange{{Item: storage.RosterItem{JID: bob.JID, Version: bobRemoved}, Removed: true}}, bobRemoved)
	mustChanges(t, s, host, "bob", bob.Version, []storage.RosterChange{{Item: storage.RosterItem{JID: bob.JID, Version: bobRemoved}, Removed: true}}, bobRemoved)
}

// testRosterPruneAfterReadd: a tombstone replaced by a live item is no
// tombstone any more and does not count; the oldest tombstone goes first.
func testRosterPruneAfterReadd(t *testing.T, s storage.Store, keep int) {
	const host, user = "example.org", "alice"
	mustCreate(t, s, host, user, nil)
	m := newRosterModel()
	var removed []int64
	for i := range keep {
		c := fmt.Sprintf("c%03d@x", i)
		m.set(setItem(t, s, host, user, storage.RosterItem{JID: c, Subscription: storage.SubNone}))
		v := removeItem(t, s, host, user, c)
		m.remove(c, v)
		removed = append(removed, v)
	}
	// Re-add the oldest: keep-1 tombstones left, one more removal fits.
	m.set(setItem(t, s, host, user, storage.RosterItem{JID: "c000@x", Subscription: storage.SubTo}))
	m.set(setItem(t, s, host, user, storage.RosterItem{JID: "new@x", Subscription: storage.SubTo}))
	m.remove("new@x", removeItem(t, s, host, user, "new@x"))
	m.check(t, s, host, user, []int64{0, removed[0]})

	// One more: the oldest tombstone (c001's) goes.
	m.remove("c000@x", removeItem(t, s, host, user, "c000@x"))
	oldest := m.latest["c001@x"]
	delete(m.latest, "c001@x")
	mustRoster(t, s, host, user, nil, m.version)
	mustChanges(t, s, host, user, 0, m.since(0), m.version)
	mustChanges(t, s, host, user, oldest.Item.Version, m.since(oldest.Item.Version), m.version)
	mustUnknownSince(t, s, host, user, oldest.Item.Version-1, m.version)
}
