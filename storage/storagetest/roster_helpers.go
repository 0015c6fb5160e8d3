package storagetest

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"testing"

	"parley.im/parley/storage"
)

// equalItem compares two roster items field by field; nil and empty group
// lists are the same.
func equalItem(a, b storage.RosterItem) bool {
	return a.JID == b.JID && a.Name == b.Name && a.Subscription == b.Subscription &&
		a.PendingOut == b.PendingOut && a.PendingIn == b.PendingIn && a.Approved == b.Approved &&
		slices.Equal(a.Groups, b.Groups) && a.Version == b.Version
}

func equalChanges(a, b []storage.RosterChange) bool {
	return slices.EqualFunc(a, b, func(x, y storage.RosterChange) bool {
		return x.Removed == y.Removed && equalItem(x.Item, y.Item)
	})
}

func fmtItem(it storage.RosterItem) string {
	return fmt.Sprintf("{%q name=%q sub=%s out=%v in=%v appr=%v groups=%q v=%d}",
		it.JID, it.Name, it.Subscription, it.PendingOut, it.PendingIn, it.Approved, it.Groups, it.Version)
}

func fmtItems(items []storage.RosterItem) string {
	s := "["
	for i, it := range items {
		if i > 0 {
			s += " "
		}
		s += fmtItem(it)
	}
	return s + "]"
}

func fmtChanges(cs []storage.RosterChange) string {
	s := "["
	for i, c := range cs {
		if i > 0 {
			s += " "
		}
		if c.Removed {
			s += "removed"
		}
		s += fmtItem(c.Item)
	}
	return s + "]"
}

// setItem stores it for contact it.JID, checks what UpdateRosterItem
// returns, and returns the stored item (with its new version).
func setItem(t *testing.T, s storage.Roster, host, user string, it storage.RosterItem) storage.RosterItem {
	t.Helper()
	_, before, _, err := s.RosterChangesSince(t.Context(), host, user, 0)
	if err != nil {
		t.Fatalf("RosterChangesSince: %v", err)
	}
	stored, version, err := s.UpdateRosterItem(t.Context(), host, user, it.JID,
		func(*storage.RosterItem) (*storage.RosterItem, error) {
			cp := it
			cp.Groups = slices.Clone(it.Groups)
			return &cp, nil
		})
	if err != nil {
		t.Fatalf("UpdateRosterItem(%q, %q, %q): %v", host, user, it.JID, err)
	}
	if stored == nil {
		t.Fatalf("UpdateRosterItem(%q, %q, %q) stored nil", host, user, it.JID)
	}
	if version <= before {
		t.Errorf("UpdateRosterItem(%q): version %d after %d, want it to increase", it.JID, version, before)
	}
	want := it
	want.Version = version
	if !equalItem(*stored, want) {
		t.Errorf("UpdateRosterItem returned\n %s\nwant %s", fmtItem(*stored), fmtItem(want))
	}
	return *stored
}

// removeItem removes contact and returns the new roster version.
func removeItem(t *testing.T, s storage.Roster, host, user, contact string) int64 {
	t.Helper()
	_, before, _, err := s.RosterChangesSince(t.Context(), host, user, 0)
	if err != nil {
		t.Fatalf("RosterChangesSince: %v", err)
	}
	stored, version, err := s.UpdateRosterItem(t.Context(), host, user, contact,
		func(cur *storage.RosterItem) (*storage.RosterItem, error) {
			if cur == nil {
				t.Errorf("removing %q: f got nil, want the item", contact)
			}
			return nil, nil
		})
	if err != nil {
		t.Fatalf("UpdateRosterItem(%q) removing: %v", contact, err)
	}
	if stored != nil {
		t.Errorf("UpdateRosterItem(%q) removing returned %s, want nil", contact, fmtItem(*stored))
	}
	if version <= before {
		t.Errorf("removing %q: version %d after %d, want it to increase", contact, version, before)
	}
	return version
}

func mustRoster(t *testing.T, s storage.Roster, host, user string, want []storage.RosterItem, wantVersion int64) {
	t.Helper()
	got, version, err := s.RosterItems(t.Context(), host, user)
	if err != nil {
		t.Fatalf("RosterItems(%q, %q): %v", host, user, err)
	}
	if !slices.EqualFunc(got, want, equalItem) {
		t.Errorf("RosterItems(%q, %q):\n got %s\nwant %s", host, user, fmtItems(got), fmtItems(want))
	}
	if version != wantVersion {
		t.Errorf("RosterItems(%q, %q): version %d, want %d", host, user, version, wantVersion)
	}
}

func mustItem(t *testing.T, s storage.Roster, host, user string, want storage.RosterItem) {
	t.Helper()
	got, err := s.RosterItem(t.Context(), host, user, want.JID)
	if err != nil {
		t.Fatalf("RosterItem(%q, %q, %q): %v", host, user, want.JID, err)
	}
	if !equalItem(got, want) {
		t.Errorf("RosterItem(%q, %q, %q):\n got %s\nwant %s", host, user, want.JID, fmtItem(got), fmtItem(want))
	}
}

func mustNoItem(t *testing.T, s storage.Roster, host, user, contact string) {
	t.Helper()
	got, err := s.RosterItem(t.Context(), host, user, contact)
	if err == nil {
		t.Errorf("RosterItem(%q, %q, %q) = %s, want ErrNotFound", host, user, contact, fmtItem(got))
		return
	}
	wantErr(t, fmt.Sprintf("RosterItem(%q, %q, %q)", host, user, contact), err, storage.ErrNotFound)
}

func mustChanges(t *testing.T, s storage.Roster, host, user string, since int64, want []storage.RosterChange, wantCurrent int64) {
	t.Helper()
	got, current, ok, err := s.RosterChangesSince(t.Context(), host, user, since)
	if err != nil {
		t.Fatalf("RosterChangesSince(%q, %q, %d): %v", host, user, since, err)
	}
	if !ok {
		t.Errorf("RosterChangesSince(%q, %q, %d): ok=false, want true", host, user, since)
	}
	if current != wantCurrent {
		t.Errorf("RosterChangesSince(%q, %q, %d): current %d, want %d", host, user, since, current, wantCurrent)
	}
	if !equalChanges(got, want) {
		t.Errorf("RosterChangesSince(%q, %q, %d):\n got %s\nwant %s", host, user, since, fmtChanges(got), fmtChanges(want))
	}
}

// mustUnknownSince checks that the store cannot answer from since.
func mustUnknownSince(t *testing.T, s storage.Roster, host, user string, since, wantCurrent int64) {
	t.Helper()
	got, current, ok, err := s.RosterChangesSince(t.Context(), host, user, since)
	if err != nil {
		t.Fatalf("RosterChangesSince(%q, %q, %d): %v", host, user, since, err)
	}
	if ok {
		t.Errorf("RosterChangesSince(%q, %q, %d): ok=true with %s, want ok=false", host, user, since, fmtChanges(got))
	}
	if current != wantCurrent {
		t.Errorf("RosterChangesSince(%q, %q, %d): current %d, want %d", host, user, since, current, wantCurrent)
	}
}

// rosterModel is what a roster must hold after a sequence of changes.
type rosterModel struct {
	latest  map[string]storage.RosterChange // by JID, the last change
	version int64
}

func newRosterModel() *rosterModel {
	return &rosterModel{latest: make(map[string]storage.RosterChange)}
}

func (m *rosterModel) set(it storage.RosterItem) {
	m.latest[it.JID] = storage.RosterChange{Item: it}
	m.version = it.Version
}

func (m *rosterModel) remove(jid string, version int64) {
	m.latest[jid] = storage.RosterChange{Item: storage.RosterItem{JID: jid, Version: version}, Removed: true}
	m.version = version
}

func (m *rosterModel) items() []storage.RosterItem {
	var items []storage.RosterItem
	for _, jid := range slices.Sorted(maps.Keys(m.latest)) {
		if c := m.latest[jid]; !c.Removed {
			items = append(items, c.Item)
		}
	}
	return items
}

func (m *rosterModel) since(v int64) []storage.RosterChange {
	var cs []storage.RosterChange
	for _, c := range m.latest {
		if c.Item.Version > v {
			cs = append(cs, c)
		}
	}
	slices.SortFunc(cs, func(a, b storage.RosterChange) int { return cmp.Compare(a.Item.Version, b.Item.Version) })
	return cs
}

// check compares the store with the model, for the whole roster and for
// the changes since each version in versions.
func (m *rosterModel) check(t *testing.T, s storage.Roster, host, user string, versions []int64) {
	t.Helper()
	mustRoster(t, s, host, user, m.items(), m.version)
	for _, c := range m.latest {
		if c.Removed {
			mustNoItem(t, s, host, user, c.Item.JID)
		} else {
			mustItem(t, s, host, user, c.Item)
		}
	}
	for _, v := range versions {
		mustChanges(t, s, host, user, v, m.since(v), m.version)
	}
}
