package storagetest

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"parley.im/parley/storage"
)

func runAreaConcurrency(t *testing.T, open func(t *testing.T) storage.Store) {
	subtests(t, open, []namedTest{
		{"RosterNoLostUpdate", testRosterNoLostUpdate},
		{"RosterDistinctContacts", testRosterConcurrentContacts},
		{"RosterReadsOneSnapshot", testRosterReadsOneSnapshot},
		{"OfflineQuota", testOfflineConcurrentQuota},
		{"BlockOverlapping", testBlockConcurrent},
		{"PutDataSameKey", testPutDataConcurrent},
		{"DeleteWhileWriting", testDeleteWhileWriting},
	})
}

// testRosterNoLostUpdate has 16 goroutines increment a counter kept in one
// item's name through UpdateRosterItem. With the read and the write one
// atomic step, no increment is lost: each call sees a different value, the
// final count is the number of calls, and every call got its own version.
func testRosterNoLostUpdate(t *testing.T, s storage.Store) {
	const goroutines, each = 16, 10
	const host, user, contact = "example.org", "alice", "counter@example.net"
	mustCreate(t, s, host, user, nil)
	setItem(t, s, host, user, storage.RosterItem{JID: contact, Name: "0", Subscription: storage.SubNone})
	var (
		mu       sync.Mutex
		seen     = map[int]bool{}
		versions = map[int64]bool{}
	)
	together(goroutines, func(g int) {
		for range each {
			stored, version, err := s.UpdateRosterItem(t.Context(), host, user, contact,
				func(cur *storage.RosterItem) (*storage.RosterItem, error) {
					n, err := strconv.Atoi(cur.Name)
					if err != nil {
						return nil, err
					}
					cur.Name = strconv.Itoa(n + 1)
					cur.Groups = append(cur.Groups, fmt.Sprint(g))
					return cur, nil
				})
			if err != nil {
				t.Errorf("UpdateRosterItem: %v", err)
				return
			}
			n, _ := strconv.Atoi(stored.Name)
			mu.Lock()
			if seen[n] || versions[version] {
				t.Errorf("two updates stored count %d or version %d", n, version)
			}
			seen[n], versions[version] = true, true
			mu.Unlock()
		}
	})
	it, err := s.RosterItem(t.Context(), host, user, contact)
	if err != nil {
		t.Fatal(err)
	}
	if it.Name != strconv.Itoa(goroutines*each) || len(it.Groups) != goroutines*each {
		t.Errorf("after %d increments: count %s, %d groups", goroutines*each, it.Name, len(it.Groups))
	}
	if it.Version != slices.Max(slices.Collect(maps.Keys(versions))) {
		t.Errorf("item version %d is not the last one handed out", it.Version)
	}
	mustRoster(t, s, host, user, []storage.RosterItem{it}, it.Version)
}

// testRosterConcurrentContacts updates different contacts of one roster
// at once: every change gets its own version and none is missing from the
// changes since 0.
func testRosterConcurrentContacts(t *testing.T, s storage.Store) {
	const goroutines, each = 16, 5
	const host, user = "example.org", "alice"
	mustCreate(t, s, host, user, nil)
	together(goroutines, func(g int) {
		for i := range each {
			_, _, err := s.UpdateRosterItem(t.Context(), host, user, fmt.Sprintf("c%02d@x", g),
				func(cur *storage.RosterItem) (*storage.RosterItem, error) {
					if i == each-1 && g%2 == 0 {
						return nil, nil
					}
					return &storage.RosterItem{Name: fmt.Sprint(i), Subscription: storage.SubTo}, nil
				})
			if err != nil {
				t.Errorf("UpdateRosterItem: %v", err)
			}
		}
	})
	changes, current, ok, err := s.RosterChangesSince(t.Context(), host, user, 0)
	if err != nil || !ok {
		t.Fatalf("RosterChangesSince: %v, %v", ok, err)
	}
	if len(changes) != goroutines {
		t.Fatalf("%d changes, want %d: %s", len(changes), goroutines, fmtChanges(changes))
	}
	for i, c := range changes {
		if i > 0 && c.Item.Version <= changes[i-1].Item.Version {
			t.Errorf("changes not by strictly ascending version: %s", fmtChanges(changes))
		}
		g, _ := strconv.Atoi(c.Item.JID[1:3])
		if c.Removed != (g%2 == 0) || !c.Removed && c.Item.Name != fmt.Sprint(each-1) {
			t.Errorf("change %s", fmtChanges([]storage.RosterChange{c}))
		}
	}
	if last := changes[len(changes)-1].Item.Version; current != last {
		t.Errorf("current version %d, last change at %d", current, last)
	}
}

// testRosterReadsOneSnapshot reads a roster while one item changes: the
// version returned must be that of the items returned, never one read
// before or after them, or a client would cache items under a version they
// do not belong to.
func testRosterReadsOneSnapshot(t *testing.T, s storage.Store) {
	const writers, readers, rounds = 2, 4, 25
	const host, user, contact = "example.org", "alice", "bob@example.net"
	mustCreate(t, s, host, user, nil)
	setItem(t, s, host, user, storage.RosterItem{JID: contact, Subscription: storage.SubNone})
	var writing atomic.Int32
	writing.Store(writers)
	together(writers+readers, func(g int) {
		if g < writers {
			defer writing.Add(-1)
			for i := range rounds {
				_, _, err := s.UpdateRosterItem(t.Context(), host, user, contact,
					func(cur *storage.RosterItem) (*storage.RosterItem, error) {
						cur.Name = fmt.Sprint(g, "-", i)
						return cur, nil
					})
				if err != nil {
					t.Errorf("UpdateRosterItem: %v", err)
					return
				}
			}
			return
		}
		for reads := 0; writing.Load() > 0 || reads == 0; reads++ {
			items, version, err := s.RosterItems(t.Context(), host, user)
			if err != nil || len(items) != 1 || items[0].Version != version {
				t.Errorf("RosterItems: %s at version %d, %v", fmtItems(items), version, err)
				return
			}
			changes, current, ok, err := s.RosterChangesSince(t.Context(), host, user, 0)
			if err != nil || !ok || len(changes) != 1 || changes[0].Item.Version != current {
				t.Errorf("RosterChangesSince: %s at version %d, %v, %v", fmtChanges(changes), current, ok, err)
				return
			}
		}
	})
}

// testOfflineConcurrentQuota pushes more messages than the limit at once:
// exactly limit pushes succeed, the others get ErrQuota.
func testOfflineConcurrentQuota(t *testing.T, s storage.Store) {
	const goroutines, limit = 16, 10
	const host, user = "example.org", "alice"
	mustCreate(t, s, host, user, nil)
	errs := make([]error, goroutines)
	together(goroutines, func(g int) {
		errs[g] = s.PushOffline(t.Context(), host, user, stanza(fmt.Sprint(g)), stamp(g), limit)
	})
	stored := 0
	for g, err := range errs {
		switch {
		case err == nil:
			stored++
		case !errors.Is(err, storage.ErrQuota):
			t.Errorf("goroutine %d: %v", g, err)
		}
	}
	if stored != limit {
		t.Errorf("%d pushes succeeded, want %d", stored, limit)
	}
	msgs, err := s.OfflineMessages(t.Context(), host, user)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != limit {
		t.Errorf("%d messages stored, want %d", len(msgs), limit)
	}
	for i := 1; i < len(msgs); i++ {
		if msgs[i].ID <= msgs[i-1].ID {
			t.Errorf("messages not in ID order: %s", fmtOffline(msgs))
		}
	}
}

// testBlockConcurrent blocks overlapping sets at once: each JID is reported
// added by exactly one call.
func testBlockConcurrent(t *testing.T, s storage.Store) {
	const goroutines, jids = 8, 20
	const host, user = "example.org", "alice"
	mustCreate(t, s, host, user, nil)
	var all []string
	for i := range jids {
		all = append(all, fmt.Sprintf("j%02d@x", i))
	}
	added := make([][]string, goroutines)
	together(goroutines, func(g int) {
		// Each goroutine blocks a window of half the JIDs, overlapping others.
		var mine []string
		for i := range jids / 2 {
			mine = append(mine, all[(g*3+i)%jids])
		}
		var err error
		added[g], err = s.Block(t.Context(), host, user, mine)
		if err != nil {
			t.Errorf("Block: %v", err)
		}
	})
	count := map[string]int{}
	for _, a := range added {
		for _, j := range a {
			count[j]++
		}
	}
	var blocked []string
	for j, n := range count {
		if n != 1 {
			t.Errorf("%s reported added %d times", j, n)
		}
		blocked = append(blocked, j)
	}
	mustBlocked(t, s, host, user, byteOrder(blocked))
}

// testPutDataConcurrent: concurrent puts of one key leave one of the
// values whole, never an error for the lost race.
func testPutDataConcurrent(t *testing.T, s storage.Store) {
	const goroutines = 16
	const host, user = "example.org", "alice"
	mustCreate(t, s, host, user, nil)
	together(goroutines, func(g int) {
		if err := s.PutData(t.Context(), host, user, storage.DataVCard, "", value(fmt.Sprint(g))); err != nil {
			t.Errorf("PutData: %v", err)
		}
	})
	got, err := s.GetData(t.Context(), host, user, storage.DataVCard, "")
	if err != nil {
		t.Fatal(err)
	}
	for g := range goroutines {
		if string(got) == string(value(fmt.Sprint(g))) {
			mustListData(t, s, host, user, storage.DataVCard, []string{""}, [][]byte{got})
			return
		}
	}
	t.Errorf("value after concurrent puts: %q", got)
}

// testDeleteWhileWriting races writes in every area with the account's
// deletion. Each write either happens before the delete or reports
// ErrNotFound, the delete never fails or deadlocks, and nothing written
// survives into the re-created account.
func testDeleteWhileWriting(t *testing.T, s storage.Store) {
	const rounds = 15
	const host = "example.org"
	for r := range rounds {
		user := fmt.Sprint("victim-", r)
		mustCreate(t, s, host, user, nil)
		setItem(t, s, host, user, storage.RosterItem{JID: "old@x", Subscription: storage.SubNone})
		errs := make([]error, 6)
		together(len(errs), func(i int) {
			switch i {
			case 0:
				errs[i] = s.DeleteAccount(t.Context(), host, user)
			case 1:
				_, _, errs[i] = s.UpdateRosterItem(t.Context(), host, user, "new@x",
					func(*storage.RosterItem) (*storage.RosterItem, error) {
						return &storage.RosterItem{Subscription: storage.SubTo}, nil
					})
			case 2:
				_, _, errs[i] = s.UpdateRosterItem(t.Context(), host, user, "old@x",
					func(*storage.RosterItem) (*storage.RosterItem, error) { return nil, nil })
			case 3:
				errs[i] = s.PushOffline(t.Context(), host, user, stanza("x"), stamp(0), 10)
			case 4:
				_, errs[i] = s.Block(t.Context(), host, user, []string{"x@x"})
			case 5:
				errs[i] = s.PutData(t.Context(), host, user, storage.DataVCard, "", value("x"))
			}
		})
		if errs[0] != nil {
			t.Errorf("round %d: DeleteAccount: %v", r, errs[0])
		}
		for i, err := range errs[1:] {
			if err != nil && !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("round %d: write %d racing DeleteAccount: %v", r, i+1, err)
			}
		}
		mustExist(t, s, host, user, false)
		mustBeEmpty(t, s, host, user)
		mustCreate(t, s, host, user, nil)
		mustBeEmpty(t, s, host, user)
		mustRoster(t, s, host, user, nil, 0)
	}
}
