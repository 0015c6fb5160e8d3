package storagetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"parley.im/parley/storage"
)

// RunMUC runs the subtests of the MUC area (persistent rooms); Run calls
// it.
func RunMUC(t *testing.T, open func(t *testing.T) storage.Store) {
	subtests(t, open, []namedTest{
		{"CreateAndRead", testMUCCreateAndRead},
		{"CreateConflict", testMUCCreateConflict},
		{"Missing", testMUCMissing},
		{"Update", testMUCUpdate},
		{"EmptyListKept", testMUCEmptyListKept},
		{"List", testMUCList},
		{"DeleteCascades", testMUCDelete},
		{"Affiliations", testMUCAffiliations},
		{"AffiliationsAllOrNothing", testMUCAffiliationsAtomic},
		{"NickSwap", testMUCNickSwap},
		{"RoomsWithAffiliation", testMUCRoomsWithAffiliation},
		{"BytesExact", testMUCBytesExact},
		{"Independent", testMUCIndependent},
		{"CanceledContext", testMUCCanceledContext},
		{"ConcurrentAffiliations", testMUCConcurrentAffiliations},
		{"ConcurrentCreate", testMUCConcurrentCreate},
	})
}

const mucService = "conference.example.org"

// mucTime is a time with microseconds (the precision stores keep) in a
// zone other than UTC, which must come back as the same instant in UTC.
func mucTime(i int) time.Time {
	return time.Date(2026, 3, 1, 12, 0, i, 123456000, time.FixedZone("X", 3600))
}

// fullConfig sets every field, so that a backend dropping one is caught.
func fullConfig(tag string) storage.MUCConfig {
	return storage.MUCConfig{
		Name: "Room " + tag, Description: "About " + tag, Lang: "en",
		Public: true, MembersOnly: true, Moderated: true, Password: "s3cret " + tag,
		MaxUsers: 42, WhoisAnyone: true, AllowInvites: true, ChangeSubject: true,
		HistoryLength: 17, PresenceBroadcast: []string{"moderator", "participant"},
		AllowPM: "moderators", Archive: true, NoVoiceRequests: true,
		MemberListRoles: []string{"moderator", "visitor"},
	}
}

func mustCreateRoom(t *testing.T, s storage.Store, r storage.MUCRoom) {
	t.Helper()
	if err := s.CreateMUCRoom(t.Context(), r); err != nil {
		t.Fatalf("CreateMUCRoom(%q, %q): %v", r.Service, r.Name, err)
	}
}

func mustRoom(t *testing.T, s storage.Store, service, name string) storage.MUCRoom {
	t.Helper()
	r, err := s.MUCRoom(t.Context(), service, name)
	if err != nil {
		t.Fatalf("MUCRoom(%q, %q): %v", service, name, err)
	}
	return r
}

// wantRoom is r as a store returns it: times in UTC.
func wantRoom(r storage.MUCRoom) storage.MUCRoom {
	r.Created = r.Created.UTC()
	if !r.SubjectAt.IsZero() {
		r.SubjectAt = r.SubjectAt.UTC()
	}
	return r
}

func assertRoom(t *testing.T, got, want storage.MUCRoom) {
	t.Helper()
	want = wantRoom(want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("room:\n got %+v\nwant %+v", got, want)
	}
}

func mustSetAffs(t *testing.T, s storage.Store, name string, changes ...storage.MUCAffiliation) {
	t.Helper()
	if err := s.SetMUCAffiliations(t.Context(), mucService, name, changes); err != nil {
		t.Fatalf("SetMUCAffiliations(%q, %+v): %v", name, changes, err)
	}
}

func assertAffs(t *testing.T, s storage.Store, name string, want ...storage.MUCAffiliation) {
	t.Helper()
	got := mustRoom(t, s, mucService, name).Affiliations
	if len(want) == 0 {
		want = nil
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("affiliations of %q:\n got %+v\nwant %+v", name, got, want)
	}
}

func aff(jid, affiliation, nick, reason string) storage.MUCAffiliation {
	return storage.MUCAffiliation{JID: jid, Affiliation: affiliation, Nick: nick, Reason: reason}
}

func testMUCCreateAndRead(t *testing.T, s storage.Store) {
	r := storage.MUCRoom{
		Service: mucService, Name: "coven", Config: fullConfig("coven"),
		Subject: "Fire Burn", SubjectBy: "secondwitch", SubjectAt: mucTime(1), Created: mucTime(0),
		// Given out of order: read back in JID order.
		Affiliations: []storage.MUCAffiliation{
			aff("wiccarocks@shakespeare.lit", storage.AffAdmin, "secondwitch", ""),
			aff("crone1@shakespeare.lit", storage.AffOwner, "firstwitch", "founder"),
			aff("shakespeare.lit", storage.AffOutcast, "", "the whole domain"),
			aff("hag66@shakespeare.lit", storage.AffMember, "thirdwitch", ""),
			aff("nobody@shakespeare.lit", storage.AffNone, "", ""), // nothing to store
		},
	}
	mustCreateRoom(t, s, r)
	want := r
	want.Affiliations = []storage.MUCAffiliation{
		aff("crone1@shakespeare.lit", storage.AffOwner, "firstwitch", "founder"),
		aff("hag66@shakespeare.lit", storage.AffMember, "thirdwitch", ""),
		aff("shakespeare.lit", storage.AffOutcast, "", "the whole domain"),
		aff("wiccarocks@shakespeare.lit", storage.AffAdmin, "secondwitch", ""),
	}
	assertRoom(t, mustRoom(t, s, mucService, "coven"), want)

	// A room with the zero configuration, no subject and no affiliations.
	bare := storage.MUCRoom{Service: mucService, Name: "empty", Created: mucTime(2)}
	mustCreateRoom(t, s, bare)
	assertRoom(t, mustRoom(t, s, mucService, "empty"), bare)

	// A cleared subject is not a subject never set.
	cleared := storage.MUCRoom{Service: mucService, Name: "cleared", Created: mucTime(3), SubjectAt: mucTime(4)}
	mustCreateRoom(t, s, cleared)
	assertRoom(t, mustRoom(t, s, mucService, "cleared"), cleared)
}

func testMUCCreateConflict(t *testing.T, s storage.Store) {
	first := storage.MUCRoom{Service: mucService, Name: "coven", Config: fullConfig("first"), Created: mucTime(0),
		Affiliations: []storage.MUCAffiliation{aff("crone1@shakespeare.lit", storage.AffOwner, "", "")}}
	mustCreateRoom(t, s, first)
	second := storage.MUCRoom{Service: mucService, Name: "coven", Config: fullConfig("second"), Created: mucTime(1),
		Affiliations: []storage.MUCAffiliation{aff("hag66@shakespeare.lit", storage.AffOwner, "", "")}}
	wantErr(t, "CreateMUCRoom of an existing room", s.CreateMUCRoom(t.Context(), second), storage.ErrConflict)
	assertRoom(t, mustRoom(t, s, mucService, "coven"), first)

	// Two affiliations registering one nickname: nothing is created.
	dup := storage.MUCRoom{Service: mucService, Name: "dup", Created: mucTime(0), Affiliations: []storage.MUCAffiliation{
		aff("a@x", storage.AffOwner, "nick", ""), aff("b@x", storage.AffMember, "nick", "")}}
	wantErr(t, "CreateMUCRoom with a nickname twice", s.CreateMUCRoom(t.Context(), dup), storage.ErrConflict)
	_, err := s.MUCRoom(t.Context(), mucService, "dup")
	wantErr(t, "MUCRoom after a failed create", err, storage.ErrNotFound)

	// An unknown affiliation is refused, and is not a sentinel.
	bad := storage.MUCRoom{Service: mucService, Name: "bad", Created: mucTime(0),
		Affiliations: []storage.MUCAffiliation{aff("a@x", "visitor", "", "")}}
	wantOtherErr(t, "CreateMUCRoom with affiliation visitor", s.CreateMUCRoom(t.Context(), bad))
	_, err = s.MUCRoom(t.Context(), mucService, "bad")
	wantErr(t, "MUCRoom after a refused create", err, storage.ErrNotFound)
}

func testMUCMissing(t *testing.T, s storage.Store) {
	ctx := t.Context()
	_, err := s.MUCRoom(ctx, mucService, "nowhere")
	wantErr(t, "MUCRoom", err, storage.ErrNotFound)
	wantErr(t, "UpdateMUCRoom", s.UpdateMUCRoom(ctx, storage.MUCRoom{Service: mucService, Name: "nowhere"}), storage.ErrNotFound)
	wantErr(t, "DeleteMUCRoom", s.DeleteMUCRoom(ctx, mucService, "nowhere"), storage.ErrNotFound)
	wantErr(t, "SetMUCAffiliations", s.SetMUCAffiliations(ctx, mucService, "nowhere",
		[]storage.MUCAffiliation{aff("a@x", storage.AffMember, "", "")}), storage.ErrNotFound)
	rooms, err := s.ListMUCRooms(ctx, mucService)
	if err != nil || len(rooms) != 0 {
		t.Errorf("ListMUCRooms on an empty store = %+v, %v", rooms, err)
	}
	names, err := s.MUCRoomsWithAffiliation(ctx, mucService, "a@x", storage.AffOwner)
	if err != nil || len(names) != 0 {
		t.Errorf("MUCRoomsWithAffiliation on an empty store = %q, %v", names, err)
	}
	// Nothing was created along the way.
	_, err = s.MUCRoom(ctx, mucService, "nowhere")
	wantErr(t, "MUCRoom after the failed calls", err, storage.ErrNotFound)
}

func testMUCUpdate(t *testing.T, s storage.Store) {
	owner := aff("crone1@shakespeare.lit", storage.AffOwner, "firstwitch", "")
	r := storage.MUCRoom{Service: mucService, Name: "coven", Config: fullConfig("old"), Subject: "old",
		SubjectBy: "firstwitch", SubjectAt: mucTime(1), Created: mucTime(0), Affiliations: []storage.MUCAffiliation{owner}}
	mustCreateRoom(t, s, r)

	// Every field changes, back to zero values: a backend that merges
	// instead of replacing keeps the old ones.
	upd := storage.MUCRoom{Service: mucService, Name: "coven", Config: storage.MUCConfig{Name: "New"},
		Subject: "", SubjectBy: "", SubjectAt: mucTime(5),
		Created:      mucTime(9),                                                                       // ignored
		Affiliations: []storage.MUCAffiliation{aff("hag66@shakespeare.lit", storage.AffOwner, "", "")}, // ignored
	}
	if err := s.UpdateMUCRoom(t.Context(), upd); err != nil {
		t.Fatal(err)
	}
	want := upd
	want.Created, want.Affiliations = r.Created, r.Affiliations
	assertRoom(t, mustRoom(t, s, mucService, "coven"), want)

	// And back to a subject never set.
	upd2 := want
	upd2.SubjectAt = time.Time{}
	upd2.Config = fullConfig("again")
	if err := s.UpdateMUCRoom(t.Context(), upd2); err != nil {
		t.Fatal(err)
	}
	assertRoom(t, mustRoom(t, s, mucService, "coven"), upd2)
}

func testMUCList(t *testing.T, s storage.Store) {
	names := []string{"b", "a", "B", "é", "a-b", "aa"}
	for i, n := range names {
		mustCreateRoom(t, s, storage.MUCRoom{Service: mucService, Name: n, Config: fullConfig(n), Created: mucTime(i),
			Affiliations: []storage.MUCAffiliation{aff("owner@x", storage.AffOwner, "", "")}})
	}
	mustCreateRoom(t, s, storage.MUCRoom{Service: "conference.example.net", Name: "other", Created: mucTime(0)})
	rooms, err := s.ListMUCRooms(t.Context(), mucService)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rooms {
		got = append(got, r.Name)
		want := storage.MUCRoom{Service: mucService, Name: r.Name, Config: fullConfig(r.Name),
			Created: mucTime(slices.Index(names, r.Name))}
		assertRoom(t, r, want) // without affiliations
	}
	if want := byteOrder(names); !slices.Equal(got, want) {
		t.Errorf("ListMUCRooms names = %q, want %q", got, want)
	}
	other, err := s.ListMUCRooms(t.Context(), "conference.example.net")
	if err != nil || len(other) != 1 || other[0].Name != "other" {
		t.Errorf("ListMUCRooms of the other service = %+v, %v", other, err)
	}
}

func testMUCDelete(t *testing.T, s storage.Store) {
	r := storage.MUCRoom{Service: mucService, Name: "coven", Config: fullConfig("x"), Created: mucTime(0),
		Affiliations: []storage.MUCAffiliation{
			aff("crone1@shakespeare.lit", storage.AffOwner, "firstwitch", ""),
			aff("hag66@shakespeare.lit", storage.AffMember, "thirdwitch", "")}}
	mustCreateRoom(t, s, r)
	mustCreateRoom(t, s, storage.MUCRoom{Service: mucService, Name: "other", Created: mucTime(0),
		Affiliations: []storage.MUCAffiliation{aff("crone1@shakespeare.lit", storage.AffOwner, "firstwitch", "")}})
	if err := s.DeleteMUCRoom(t.Context(), mucService, "coven"); err != nil {
		t.Fatal(err)
	}
	_, err := s.MUCRoom(t.Context(), mucService, "coven")
	wantErr(t, "MUCRoom after delete", err, storage.ErrNotFound)
	wantErr(t, "DeleteMUCRoom twice", s.DeleteMUCRoom(t.Context(), mucService, "coven"), storage.ErrNotFound)
	names, err := s.MUCRoomsWithAffiliation(t.Context(), mucService, "crone1@shakespeare.lit", storage.AffOwner)
	if err != nil || !slices.Equal(names, []string{"other"}) {
		t.Errorf("MUCRoomsWithAffiliation after delete = %q, %v; want [other]", names, err)
	}
	// A room created again under the name starts without the old
	// affiliations, and the old nicknames are free.
	mustCreateRoom(t, s, storage.MUCRoom{Service: mucService, Name: "coven", Created: mucTime(1),
		Affiliations: []storage.MUCAffiliation{aff("wiccarocks@shakespeare.lit", storage.AffOwner, "thirdwitch", "")}})
	assertAffs(t, s, "coven", aff("wiccarocks@shakespeare.lit", storage.AffOwner, "thirdwitch", ""))
	assertAffs(t, s, "other", aff("crone1@shakespeare.lit", storage.AffOwner, "firstwitch", ""))
}

func testMUCAffiliations(t *testing.T, s storage.Store) {
	mustCreateRoom(t, s, storage.MUCRoom{Service: mucService, Name: "coven", Created: mucTime(0),
		Affiliations: []storage.MUCAffiliation{aff("crone1@shakespeare.lit", storage.AffOwner, "firstwitch", "")}})
	owner := aff("crone1@shakespeare.lit", storage.AffOwner, "firstwitch", "")

	mustSetAffs(t, s, "coven",
		aff("hag66@shakespeare.lit", storage.AffMember, "thirdwitch", "a worthy witch"),
		aff("earlofcambridge@shakespeare.lit", storage.AffOutcast, "", "Treason"))
	assertAffs(t, s, "coven", owner,
		aff("earlofcambridge@shakespeare.lit", storage.AffOutcast, "", "Treason"),
		aff("hag66@shakespeare.lit", storage.AffMember, "thirdwitch", "a worthy witch"))

	// Replacing sets every field: the reason goes, the nick changes.
	mustSetAffs(t, s, "coven", aff("hag66@shakespeare.lit", storage.AffAdmin, "hag", ""))
	// Removing, also of a JID that has nothing, and the last change of a
	// JID named twice wins.
	mustSetAffs(t, s, "coven",
		aff("earlofcambridge@shakespeare.lit", storage.AffNone, "", ""),
		aff("nobody@shakespeare.lit", storage.AffNone, "", ""),
		aff("wiccarocks@shakespeare.lit", storage.AffMember, "x", ""),
		aff("wiccarocks@shakespeare.lit", storage.AffAdmin, "secondwitch", "twice"))
	assertAffs(t, s, "coven", owner,
		aff("hag66@shakespeare.lit", storage.AffAdmin, "hag", ""),
		aff("wiccarocks@shakespeare.lit", storage.AffAdmin, "secondwitch", "twice"))

	// A nickname freed by one change can be taken by another JID later.
	mustSetAffs(t, s, "coven", aff("hag66@shakespeare.lit", storage.AffNone, "", ""))
	mustSetAffs(t, s, "coven", aff("hecate@shakespeare.lit", storage.AffMember, "hag", ""))
	// An empty batch changes nothing.
	mustSetAffs(t, s, "coven")
	assertAffs(t, s, "coven", owner,
		aff("hecate@shakespeare.lit", storage.AffMember, "hag", ""),
		aff("wiccarocks@shakespeare.lit", storage.AffAdmin, "secondwitch", "twice"))

	// Removing every affiliation leaves the room.
	mustSetAffs(t, s, "coven", aff("hecate@shakespeare.lit", storage.AffNone, "", ""),
		aff("wiccarocks@shakespeare.lit", storage.AffNone, "", ""), aff("crone1@shakespeare.lit", storage.AffNone, "", ""))
	assertAffs(t, s, "coven")
}

func testMUCAffiliationsAtomic(t *testing.T, s storage.Store) {
	mustCreateRoom(t, s, storage.MUCRoom{Service: mucService, Name: "coven", Created: mucTime(0),
		Affiliations: []storage.MUCAffiliation{
			aff("crone1@shakespeare.lit", storage.AffOwner, "firstwitch", ""),
			aff("hag66@shakespeare.lit", storage.AffMember, "thirdwitch", "")}})
	before := mustRoom(t, s, mucService, "coven")

	// The nickname of another JID: ErrConflict, and the change before it
	// in the batch is not applied either.
	err := s.SetMUCAffiliations(t.Context(), mucService, "coven", []storage.MUCAffiliation{
		aff("a@x", storage.AffMember, "", ""),
		aff("wiccarocks@shakespeare.lit", storage.AffMember, "thirdwitch", ""),
	})
	wantErr(t, "SetMUCAffiliations with a taken nickname", err, storage.ErrConflict)
	// An unknown affiliation: a non-sentinel error, nothing applied.
	err = s.SetMUCAffiliations(t.Context(), mucService, "coven", []storage.MUCAffiliation{
		aff("a@x", storage.AffMember, "", ""), aff("b@x", "moderator", "", "")})
	wantOtherErr(t, "SetMUCAffiliations with affiliation moderator", err)
	err = s.SetMUCAffiliations(t.Context(), mucService, "coven", []storage.MUCAffiliation{aff("", storage.AffMember, "", "")})
	wantOtherErr(t, "SetMUCAffiliations with an empty JID", err)
	assertRoom(t, mustRoom(t, s, mucService, "coven"), before)

	// Any number of JIDs may have no nickname.
	mustSetAffs(t, s, "coven", aff("a@x", storage.AffMember, "", ""), aff("b@x", storage.AffOutcast, "", ""))
	assertAffs(t, s, "coven", aff("a@x", storage.AffMember, "", ""), aff("b@x", storage.AffOutcast, "", ""),
		aff("crone1@shakespeare.lit", storage.AffOwner, "firstwitch", ""),
		aff("hag66@shakespeare.lit", storage.AffMember, "thirdwitch", ""))
}

// testMUCNickSwap checks that nicknames are judged on the end state of a
// batch: two JIDs may swap theirs in one call.
func testMUCNickSwap(t *testing.T, s storage.Store) {
	mustCreateRoom(t, s, storage.MUCRoom{Service: mucService, Name: "coven", Created: mucTime(0),
		Affiliations: []storage.MUCAffiliation{
			aff("a@x", storage.AffOwner, "one", ""), aff("b@x", storage.AffMember, "two", "")}})
	mustSetAffs(t, s, "coven", aff("a@x", storage.AffOwner, "two", ""), aff("b@x", storage.AffMember, "one", ""))
	assertAffs(t, s, "coven", aff("a@x", storage.AffOwner, "two", ""), aff("b@x", storage.AffMember, "one", ""))
	// Nicknames are per room: another room may register the same.
	mustCreateRoom(t, s, storage.MUCRoom{Service: mucService, Name: "other", Created: mucTime(0),
		Affiliations: []storage.MUCAffiliation{aff("c@x", storage.AffOwner, "one", "")}})
	assertAffs(t, s, "other", aff("c@x", storage.AffOwner, "one", ""))
}

func testMUCRoomsWithAffiliation(t *testing.T, s storage.Store) {
	for i, n := range []string{"c", "a", "b", "d"} {
		affs := []storage.MUCAffiliation{aff("alice@x", storage.AffOwner, "", "")}
		if n == "b" {
			affs[0].Affiliation = storage.AffMember
		}
		mustCreateRoom(t, s, storage.MUCRoom{Service: mucService, Name: n, Created: mucTime(i), Affiliations: affs})
	}
	mustCreateRoom(t, s, storage.MUCRoom{Service: "conference.example.net", Name: "z", Created: mucTime(0),
		Affiliations: []storage.MUCAffiliation{aff("alice@x", storage.AffOwner, "", "")}})
	for _, tc := range []struct {
		jid, affiliation string
		want             []string
	}{
		{"alice@x", storage.AffOwner, []string{"a", "c", "d"}},
		{"alice@x", storage.AffMember, []string{"b"}},
		{"alice@x", storage.AffAdmin, nil},
		{"Alice@x", storage.AffOwner, nil},
	} {
		got, err := s.MUCRoomsWithAffiliation(t.Context(), mucService, tc.jid, tc.affiliation)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("MUCRoomsWithAffiliation(%q, %q) = %q, %v; want %q", tc.jid, tc.affiliation, got, err, tc.want)
		}
	}
}

// testMUCBytesExact checks that names, JIDs and text compare byte for
// byte: no case folding, no normalization, quotes kept.
func testMUCBytesExact(t *testing.T, s storage.Store) {
	odd := `it's "odd" \ <&> ünïcode`
	for i, n := range []string{"room", "Room", "röom", "ro\u0308om"} {
		cfg := storage.MUCConfig{Name: odd + n, Description: odd, Password: odd}
		mustCreateRoom(t, s, storage.MUCRoom{Service: mucService, Name: n, Config: cfg, Subject: odd, SubjectBy: odd,
			SubjectAt: mucTime(i), Created: mucTime(i),
			Affiliations: []storage.MUCAffiliation{aff("o'brien@x", storage.AffOwner, n, odd)}})
	}
	for i, n := range []string{"room", "Room", "röom", "ro\u0308om"} {
		cfg := storage.MUCConfig{Name: odd + n, Description: odd, Password: odd}
		assertRoom(t, mustRoom(t, s, mucService, n), storage.MUCRoom{Service: mucService, Name: n, Config: cfg,
			Subject: odd, SubjectBy: odd, SubjectAt: mucTime(i), Created: mucTime(i),
			Affiliations: []storage.MUCAffiliation{aff("o'brien@x", storage.AffOwner, n, odd)}})
	}
	// Nicknames differing in case or normalization are different.
	mustSetAffs(t, s, "room", aff("a@x", storage.AffMember, "Room", ""), aff("b@x", storage.AffMember, "röom", ""))
	_, err := s.MUCRoom(t.Context(), "Conference.example.org", "room")
	wantErr(t, "MUCRoom with the service in another case", err, storage.ErrNotFound)
}

// testMUCIndependent checks that rooms outlive the accounts named in
// their affiliations.
func testMUCIndependent(t *testing.T, s storage.Store) {
	mustCreate(t, s, "example.org", "alice", nil)
	mustCreateRoom(t, s, storage.MUCRoom{Service: mucService, Name: "coven", Created: mucTime(0),
		Affiliations: []storage.MUCAffiliation{aff("alice@example.org", storage.AffOwner, "alice", "")}})
	if err := s.DeleteAccount(t.Context(), "example.org", "alice"); err != nil {
		t.Fatal(err)
	}
	assertAffs(t, s, "coven", aff("alice@example.org", storage.AffOwner, "alice", ""))
}

func testMUCCanceledContext(t *testing.T, s storage.Store) {
	r := storage.MUCRoom{Service: mucService, Name: "coven", Config: fullConfig("x"), Created: mucTime(0),
		Affiliations: []storage.MUCAffiliation{aff("a@x", storage.AffOwner, "", "")}}
	mustCreateRoom(t, s, r)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	other := storage.MUCRoom{Service: mucService, Name: "new", Created: mucTime(0)}
	changed := r
	changed.Config = storage.MUCConfig{}
	calls := map[string]func() error{
		"CreateMUCRoom": func() error { return s.CreateMUCRoom(ctx, other) },
		"MUCRoom":       func() error { _, err := s.MUCRoom(ctx, mucService, "coven"); return err },
		"UpdateMUCRoom": func() error { return s.UpdateMUCRoom(ctx, changed) },
		"DeleteMUCRoom": func() error { return s.DeleteMUCRoom(ctx, mucService, "coven") },
		"ListMUCRooms":  func() error { _, err := s.ListMUCRooms(ctx, mucService); return err },
		"SetMUCAffiliations": func() error {
			return s.SetMUCAffiliations(ctx, mucService, "coven", []storage.MUCAffiliation{aff("b@x", storage.AffMember, "", "")})
		},
		"MUCRoomsWithAffiliation": func() error {
			_, err := s.MUCRoomsWithAffiliation(ctx, mucService, "a@x", storage.AffOwner)
			return err
		},
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a canceled context: %v, want context.Canceled", name, err)
		}
	}
	assertRoom(t, mustRoom(t, s, mucService, "coven"), r)
	_, err := s.MUCRoom(t.Context(), mucService, "new")
	wantErr(t, "MUCRoom of the room a canceled call created", err, storage.ErrNotFound)
}

// testMUCConcurrentAffiliations has goroutines add members to one room at
// once, each its own JIDs plus one they all rewrite: none of the additions
// may be lost, and no batch may fail.
func testMUCConcurrentAffiliations(t *testing.T, s storage.Store) {
	const goroutines, each = 8, 10
	mustCreateRoom(t, s, storage.MUCRoom{Service: mucService, Name: "coven", Created: mucTime(0)})
	together(goroutines, func(g int) {
		for i := range each {
			j := fmt.Sprintf("u%d-%d@x", g, i)
			err := s.SetMUCAffiliations(t.Context(), mucService, "coven", []storage.MUCAffiliation{
				aff(j, storage.AffMember, fmt.Sprintf("n%d-%d", g, i), ""),
				// Every goroutine also rewrites the same shared JID.
				aff("shared@x", storage.AffMember, "", fmt.Sprint(g)),
			})
			if err != nil {
				t.Errorf("SetMUCAffiliations: %v", err)
				return
			}
		}
	})
	affs := mustRoom(t, s, mucService, "coven").Affiliations
	if len(affs) != goroutines*each+1 {
		t.Errorf("%d affiliations after concurrent additions, want %d", len(affs), goroutines*each+1)
	}
}

// testMUCConcurrentCreate is two users creating one room at once: exactly
// one wins, and the room holds the winner's owner only.
func testMUCConcurrentCreate(t *testing.T, s storage.Store) {
	const n = 8
	errs := make([]error, n)
	together(n, func(i int) {
		errs[i] = s.CreateMUCRoom(t.Context(), storage.MUCRoom{Service: mucService, Name: "race", Created: mucTime(i),
			Config:       storage.MUCConfig{Name: fmt.Sprint(i)},
			Affiliations: []storage.MUCAffiliation{aff(fmt.Sprintf("u%d@x", i), storage.AffOwner, "", "")}})
	})
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Errorf("both %d and %d created the room", winner, i)
			}
			winner = i
		case !errors.Is(err, storage.ErrConflict):
			t.Errorf("create %d: %v, want nil or ErrConflict", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("nobody created the room")
	}
	r := mustRoom(t, s, mucService, "race")
	want := []storage.MUCAffiliation{aff(fmt.Sprintf("u%d@x", winner), storage.AffOwner, "", "")}
	if r.Config.Name != fmt.Sprint(winner) || !reflect.DeepEqual(r.Affiliations, want) {
		t.Errorf("the room is %+v, want the one of creator %d", r, winner)
	}
}

// testMUCEmptyListKept: a configuration list set empty reads back empty,
// not nil (nil means the service's default).
func testMUCEmptyListKept(t *testing.T, s storage.Store) {
	r := storage.MUCRoom{Service: mucService, Name: "coven", Created: mucTime(0),
		Config: storage.MUCConfig{Name: "Empty", MemberListRoles: []string{}}}
	mustCreateRoom(t, s, r)
	if got := mustRoom(t, s, mucService, "coven").Config.MemberListRoles; got == nil || len(got) != 0 {
		t.Errorf("MemberListRoles set empty reads back %#v", got)
	}
	r.Config.MemberListRoles = nil
	if err := s.UpdateMUCRoom(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	if got := mustRoom(t, s, mucService, "coven").Config.MemberListRoles; got != nil {
		t.Errorf("MemberListRoles nil reads back %#v", got)
	}
}
