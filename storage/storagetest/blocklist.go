package storagetest

import (
	"fmt"
	"slices"
	"testing"

	"parley.im/parley/storage"
)

func runBlocklist(t *testing.T, open func(t *testing.T) storage.Store) {
	subtests(t, open, []namedTest{
		{"Empty", testBlockEmpty},
		{"MissingAccount", testBlockMissingAccount},
		{"BlockUnblock", testBlockUnblock},
		{"Idempotent", testBlockIdempotent},
		{"UnblockAll", testBlockUnblockAll},
		{"OddJIDs", testBlockOddJIDs},
		{"SeparateUsers", testBlockSeparate},
	})
}

func mustBlocked(t *testing.T, s storage.Blocklist, host, user string, want []string) {
	t.Helper()
	got, err := s.BlockedJIDs(t.Context(), host, user)
	if err != nil {
		t.Fatalf("BlockedJIDs(%q, %q): %v", host, user, err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("BlockedJIDs(%q, %q):\n got %q\nwant %q", host, user, got, want)
	}
}

func mustBlock(t *testing.T, s storage.Blocklist, host, user string, jids, wantAdded []string) {
	t.Helper()
	added, err := s.Block(t.Context(), host, user, jids)
	if err != nil {
		t.Fatalf("Block(%q, %q, %q): %v", host, user, jids, err)
	}
	if !slices.Equal(added, wantAdded) {
		t.Errorf("Block(%q, %q, %q) added\n %q\nwant %q", host, user, jids, added, wantAdded)
	}
}

func mustUnblock(t *testing.T, s storage.Blocklist, host, user string, jids, wantRemoved []string) {
	t.Helper()
	removed, err := s.Unblock(t.Context(), host, user, jids)
	if err != nil {
		t.Fatalf("Unblock(%q, %q, %q): %v", host, user, jids, err)
	}
	if !slices.Equal(removed, wantRemoved) {
		t.Errorf("Unblock(%q, %q, %q) removed\n %q\nwant %q", host, user, jids, removed, wantRemoved)
	}
}

func testBlockEmpty(t *testing.T, s storage.Store) {
	const host, user = "example.org", "alice"
	mustCreate(t, s, host, user, nil)
	mustBlocked(t, s, host, user, nil)
	mustUnblock(t, s, host, user, nil, nil)
	mustUnblock(t, s, host, user, []string{"bob@example.net"}, nil)
	mustBlock(t, s, host, user, nil, nil)
	mustBlock(t, s, host, user, []string{}, nil)
	mustBlocked(t, s, host, user, nil)
}

func testBlockMissingAccount(t *testing.T, s storage.Store) {
	const host = "example.org"
	mustCreate(t, s, host, "alice", nil)
	for _, user := range []string{"bob", "Alice", ""} {
		for _, jids := range [][]string{{"x@example.net"}, nil} {
			_, err := s.Block(t.Context(), host, user, jids)
			wantErr(t, fmt.Sprintf("Block(%q, %q)", user, jids), err, storage.ErrNotFound)
		}
		mustBlocked(t, s, host, user, nil)
		mustUnblock(t, s, host, user, []string{"x@example.net"}, nil)
		mustUnblock(t, s, host, user, nil, nil)
	}
	mustCreate(t, s, host, "bob", nil)
	mustBlocked(t, s, host, "bob", nil)
	mustBlocked(t, s, host, "alice", nil)
}

func testBlockUnblock(t *testing.T, s storage.Store) {
	const host, user = "example.org", "alice"
	mustCreate(t, s, host, user, nil)
	// The four forms of XEP-0191 §3.2, given out of order.
	mustBlock(t, s, host, user,
		[]string{"spam.example/bot", "eve@example.net/phone", "spam.example", "eve@example.net"},
		[]string{"eve@example.net", "eve@example.net/phone", "spam.example", "spam.example/bot"})
	mustBlocked(t, s, host, user, []string{"eve@example.net", "eve@example.net/phone", "spam.example", "spam.example/bot"})
	mustBlock(t, s, host, user, []string{"mallory@example.com", "eve@example.net", "aaron@example.com"},
		[]string{"aaron@example.com", "mallory@example.com"})
	mustBlocked(t, s, host, user, []string{"aaron@example.com", "eve@example.net", "eve@example.net/phone",
		"mallory@example.com", "spam.example", "spam.example/bot"})
	mustUnblock(t, s, host, user, []string{"spam.example", "nobody@example.com", "eve@example.net/phone"},
		[]string{"eve@example.net/phone", "spam.example"})
	mustBlocked(t, s, host, user, []string{"aaron@example.com", "eve@example.net", "mallory@example.com", "spam.example/bot"})
	// Unblocking a bare JID leaves its full JIDs alone and the other way
	// round: the store matches exactly.
	mustBlock(t, s, host, user, []string{"eve@example.net/laptop"}, []string{"eve@example.net/laptop"})
	mustUnblock(t, s, host, user, []string{"eve@example.net"}, []string{"eve@example.net"})
	mustBlocked(t, s, host, user, []string{"aaron@example.com", "eve@example.net/laptop", "mallory@example.com", "spam.example/bot"})
}

func testBlockIdempotent(t *testing.T, s storage.Store) {
	const host, user = "example.org", "alice"
	mustCreate(t, s, host, user, nil)
	mustBlock(t, s, host, user, []string{"b@x", "a@x", "b@x", "a@x"}, []string{"a@x", "b@x"})
	mustBlock(t, s, host, user, []string{"a@x", "b@x"}, nil)
	mustBlock(t, s, host, user, []string{"c@x", "c@x"}, []string{"c@x"})
	mustBlocked(t, s, host, user, []string{"a@x", "b@x", "c@x"})
	mustUnblock(t, s, host, user, []string{"b@x", "b@x", "z@x"}, []string{"b@x"})
	mustUnblock(t, s, host, user, []string{"b@x"}, nil)
	mustBlocked(t, s, host, user, []string{"a@x", "c@x"})
	mustBlock(t, s, host, user, []string{"b@x"}, []string{"b@x"})
	mustBlocked(t, s, host, user, []string{"a@x", "b@x", "c@x"})
}

func testBlockUnblockAll(t *testing.T, s storage.Store) {
	const host, user = "example.org", "alice"
	mustCreate(t, s, host, user, nil)
	mustCreate(t, s, host, "bob", nil)
	jids := []string{"z@x", "a@x", "m@x/r", "x"}
	mustBlock(t, s, host, user, jids, byteOrder(jids))
	mustBlock(t, s, host, "bob", []string{"a@x"}, []string{"a@x"})
	mustUnblock(t, s, host, user, []string{}, byteOrder(jids))
	mustBlocked(t, s, host, user, nil)
	mustUnblock(t, s, host, user, nil, nil)
	mustBlocked(t, s, host, "bob", []string{"a@x"})
	mustBlock(t, s, host, user, []string{"a@x"}, []string{"a@x"})
	mustUnblock(t, s, host, user, nil, []string{"a@x"})
}

func testBlockOddJIDs(t *testing.T, s storage.Store) {
	const host, user = "example.org", "alice"
	mustCreate(t, s, host, user, nil)
	mustBlock(t, s, host, user, oddContacts, byteOrder(oddContacts))
	mustBlocked(t, s, host, user, byteOrder(oddContacts))
	// Probes a LIKE, a case-insensitive or a normalizing comparison would
	// match; none is blocked, so unblocking them removes nothing.
	probes := []string{"a%@example.net", "axb@example.net ", "cafe@example.net", "B@EXAMPLE.NET", "fi@example.net/", "%", "_"}
	mustUnblock(t, s, host, user, probes, nil)
	mustUnblock(t, s, host, user, []string{`%@example.net`, `_@example.net`, "ﬁ@example.net"},
		[]string{`%@example.net`, `_@example.net`, "ﬁ@example.net"})
	rest := slices.DeleteFunc(slices.Clone(oddContacts), func(j string) bool {
		return j == `%@example.net` || j == `_@example.net` || j == "ﬁ@example.net"
	})
	mustBlocked(t, s, host, user, byteOrder(rest))
}

func testBlockSeparate(t *testing.T, s storage.Store) {
	accounts := []struct{ host, user string }{
		{"example.org", "alice"}, {"example.org", "bob"}, {"example.net", "alice"},
	}
	for i, a := range accounts {
		mustCreate(t, s, a.host, a.user, nil)
		mustBlock(t, s, a.host, a.user, []string{"shared@x", fmt.Sprint("own", i, "@x")}, []string{fmt.Sprint("own", i, "@x"), "shared@x"})
	}
	mustUnblock(t, s, "example.org", "alice", nil, []string{"own0@x", "shared@x"})
	mustBlocked(t, s, "example.org", "alice", nil)
	mustBlocked(t, s, "example.org", "bob", []string{"own1@x", "shared@x"})
	mustBlocked(t, s, "example.net", "alice", []string{"own2@x", "shared@x"})
	mustUnblock(t, s, "example.net", "alice", []string{"shared@x"}, []string{"shared@x"})
	mustBlocked(t, s, "example.org", "bob", []string{"own1@x", "shared@x"})
}
