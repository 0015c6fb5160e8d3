package storagetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"parley.im/parley/storage"
)

func runAreas(t *testing.T, open func(t *testing.T) storage.Store) {
	subtests(t, open, []namedTest{
		{"DeleteAccountWipesAll", testDeleteWipesAll},
		{"RecreatedRosterVersions", testRecreatedRosterVersions},
		{"CanceledContext", testAreasCanceledContext},
		{"MigrateKeepsData", testAreasMigrateKeepsData},
	})
}

// filled is what fill stored for one account.
type filled struct {
	host, user string
	roster     *rosterModel
	offline    []storage.OfflineMessage
	blocked    []string
	data       map[string][]byte // DataPrivate, by key
}

// fill stores something in every area for an account, all of it naming the
// account so that data seen under another account is recognizable.
func fill(t *testing.T, s storage.Store, host, user string) *filled {
	t.Helper()
	tag := user + "@" + host
	f := &filled{host: host, user: user, roster: newRosterModel(), data: map[string][]byte{}}
	for i := range 3 {
		f.roster.set(setItem(t, s, host, user, storage.RosterItem{JID: fmt.Sprint("c", i, "@x"), Name: tag,
			Subscription: storage.SubBoth, Groups: []string{tag}}))
	}
	f.roster.remove("c1@x", removeItem(t, s, host, user, "c1@x"))
	for i := range 2 {
		mustPush(t, s, host, user, stanza(tag), stamp(i), 10)
		f.offline = append(f.offline, offline(tag, i))
	}
	mustBlock(t, s, host, user, []string{tag, "spam@x"}, byteOrder([]string{tag, "spam@x"}))
	f.blocked = byteOrder([]string{tag, "spam@x"})
	mustPut(t, s, host, user, storage.DataVCard, "", value(tag))
	for _, k := range []string{"a", "b"} {
		mustPut(t, s, host, user, storage.DataPrivate, k, value(tag+k))
		f.data[k] = value(tag + k)
	}
	return f
}

func (f *filled) check(t *testing.T, s storage.Store) {
	t.Helper()
	f.roster.check(t, s, f.host, f.user, []int64{0})
	mustOffline(t, s, f.host, f.user, f.offline)
	mustBlocked(t, s, f.host, f.user, f.blocked)
	mustGet(t, s, f.host, f.user, storage.DataVCard, "", value(f.user+"@"+f.host))
	mustListData(t, s, f.host, f.user, storage.DataPrivate, []string{"a", "b"}, [][]byte{f.data["a"], f.data["b"]})
}

// mustBeEmpty checks that nothing is stored for an account in any area.
func mustBeEmpty(t *testing.T, s storage.Store, host, user string) {
	t.Helper()
	items, _, err := s.RosterItems(t.Context(), host, user)
	if err != nil || len(items) != 0 {
		t.Errorf("RosterItems(%q, %q) = %s, %v; want none", host, user, fmtItems(items), err)
	}
	changes, _, _, err := s.RosterChangesSince(t.Context(), host, user, 0)
	if err != nil || len(changes) != 0 {
		t.Errorf("RosterChangesSince(%q, %q, 0) = %s, %v; want none", host, user, fmtChanges(changes), err)
	}
	for i := range 3 {
		mustNoItem(t, s, host, user, fmt.Sprint("c", i, "@x"))
	}
	mustOffline(t, s, host, user, nil)
	mustBlocked(t, s, host, user, nil)
	mustNoData(t, s, host, user, storage.DataVCard, "")
	mustListData(t, s, host, user, storage.DataPrivate, nil, nil)
}

// testDeleteWipesAll fills every area for three accounts that share a
// username or a host, deletes one, and checks that all of its data is gone,
// that the others' is intact, and that the account created again starts
// empty, in every area.
func testDeleteWipesAll(t *testing.T, s storage.Store) {
	var all []*filled
	for _, a := range []struct{ host, user string }{{"example.org", "alice"}, {"example.org", "bob"}, {"example.net", "alice"}} {
		mustCreate(t, s, a.host, a.user, nil)
		all = append(all, fill(t, s, a.host, a.user))
	}
	for _, f := range all {
		f.check(t, s)
	}
	if err := s.DeleteAccount(t.Context(), "example.org", "alice"); err != nil {
		t.Fatalf("DeleteAccount: %v", err)
	}
	mustBeEmpty(t, s, "example.org", "alice")
	for _, f := range all[1:] {
		f.check(t, s)
	}
	mustCreate(t, s, "example.org", "alice", nil)
	mustBeEmpty(t, s, "example.org", "alice")
	mustRoster(t, s, "example.org", "alice", nil, 0)
	for _, f := range all[1:] {
		f.check(t, s)
	}
	// Filled again, it holds only the new data.
	all[0] = fill(t, s, "example.org", "alice")
	for _, f := range all {
		f.check(t, s)
	}
}

// testRecreatedRosterVersions: a client that cached the deleted account's
// roster must not have it merged with the new account's, so the versions
// it holds are unknown to the new roster, and the new roster's versions
// are all above them.
func testRecreatedRosterVersions(t *testing.T, s storage.Store) {
	const host, user = "example.org", "alice"
	mustCreate(t, s, host, user, nil)
	a := setItem(t, s, host, user, storage.RosterItem{JID: "a@x", Subscription: storage.SubBoth})
	b := setItem(t, s, host, user, storage.RosterItem{JID: "b@x", Subscription: storage.SubBoth})
	removed := removeItem(t, s, host, user, "b@x")
	old := []int64{a.Version, b.Version, removed}
	if err := s.DeleteAccount(t.Context(), host, user); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, host, user, nil)
	for _, v := range old {
		mustUnknownSince(t, s, host, user, v, 0)
	}
	mustChanges(t, s, host, user, 0, nil, 0)

	c := setItem(t, s, host, user, storage.RosterItem{JID: "c@x", Subscription: storage.SubTo})
	if c.Version <= removed {
		t.Errorf("first version of the re-created roster: %d, want above the old roster's %d", c.Version, removed)
	}
	for _, v := range old {
		mustUnknownSince(t, s, host, user, v, c.Version)
	}
	mustChanges(t, s, host, user, 0, []storage.RosterChange{{Item: c}}, c.Version)
	mustChanges(t, s, host, user, c.Version, nil, c.Version)
	d := setItem(t, s, host, user, storage.RosterItem{JID: "d@x", Subscription: storage.SubTo})
	mustChanges(t, s, host, user, c.Version, []storage.RosterChange{{Item: d}}, d.Version)
	for _, v := range old {
		mustUnknownSince(t, s, host, user, v, d.Version)
	}
}

// testAreasCanceledContext: with a canceled context every method reports
// the cancellation, never ErrNotFound, and writes nothing.
func testAreasCanceledContext(t *testing.T, s storage.Store) {
	const host, user = "example.org", "alice"
	mustCreate(t, s, host, user, nil)
	f := fill(t, s, host, user)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	called := false
	upd := func(cur *storage.RosterItem) (*storage.RosterItem, error) {
		called = true
		return nil, nil
	}
	calls := map[string]func() error{
		"RosterItems": func() error { _, _, err := s.RosterItems(ctx, host, user); return err },
		"RosterItem":  func() error { _, err := s.RosterItem(ctx, host, user, "c0@x"); return err },
		"UpdateRosterItem": func() error {
			_, _, err := s.UpdateRosterItem(ctx, host, user, "c0@x", upd)
			return err
		},
		"RosterChangesSince": func() error { _, _, _, err := s.RosterChangesSince(ctx, host, user, 0); return err },
		"PushOffline":        func() error { return s.PushOffline(ctx, host, user, stanza("x"), time.Now(), 0) },
		"OfflineMessages":    func() error { _, err := s.OfflineMessages(ctx, host, user); return err },
		"DeleteOffline":      func() error { return s.DeleteOffline(ctx, host, user, 1<<62) },
		"CountOffline":       func() error { _, err := s.CountOffline(ctx, host, user); return err },
		"BlockedJIDs":        func() error { _, err := s.BlockedJIDs(ctx, host, user); return err },
		"Block":              func() error { _, err := s.Block(ctx, host, user, []string{"x@x"}); return err },
		"Unblock":            func() error { _, err := s.Unblock(ctx, host, user, nil); return err },
		"GetData":            func() error { _, err := s.GetData(ctx, host, user, storage.DataVCard, ""); return err },
		"PutData":            func() error { return s.PutData(ctx, host, user, storage.DataVCard, "", nil) },
		"DeleteData":         func() error { return s.DeleteData(ctx, host, user, storage.DataVCard, "") },
		"ListData":           func() error { _, err := s.ListData(ctx, host, user, storage.DataPrivate); return err },
	}
	for name, call := range calls {
		wantErr(t, name, call(), context.Canceled)
	}
	if called {
		t.Error("UpdateRosterItem called f with a canceled context")
	}
	f.check(t, s)
}

func testAreasMigrateKeepsData(t *testing.T, s storage.Store) {
	mustCreate(t, s, "example.org", "alice", nil)
	f := fill(t, s, "example.org", "alice")
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	f.check(t, s)
}
