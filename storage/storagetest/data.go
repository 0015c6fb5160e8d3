package storagetest

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"parley.im/parley/storage"
)

func runAccountData(t *testing.T, open func(t *testing.T) storage.Store) {
	subtests(t, open, []namedTest{
		{"Empty", testDataEmpty},
		{"MissingAccount", testDataMissingAccount},
		{"PutGetReplaceDelete", testDataPutGet},
		{"ListByKey", testDataList},
		{"KindsApart", testDataKinds},
		{"OddKeys", testDataOddKeys},
		{"SeparateUsers", testDataSeparate},
	})
}

// value returns bytes that a text column or SQL splicing would mangle.
func value(seed string) []byte {
	return append([]byte{0x00, 0xff, '\'', '\\', 0x80, '"'}, seed...)
}

func mustPut(t *testing.T, s storage.AccountData, host, user, kind, key string, v []byte) {
	t.Helper()
	if err := s.PutData(t.Context(), host, user, kind, key, v); err != nil {
		t.Fatalf("PutData(%q, %q, %q, %q): %v", host, user, kind, key, err)
	}
}

func mustGet(t *testing.T, s storage.AccountData, host, user, kind, key string, want []byte) {
	t.Helper()
	got, err := s.GetData(t.Context(), host, user, kind, key)
	if err != nil {
		t.Fatalf("GetData(%q, %q, %q, %q): %v", host, user, kind, key, err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("GetData(%q, %q, %q, %q) = %q, want %q", host, user, kind, key, got, want)
	}
}

func mustNoData(t *testing.T, s storage.AccountData, host, user, kind, key string) {
	t.Helper()
	got, err := s.GetData(t.Context(), host, user, kind, key)
	if err == nil {
		t.Errorf("GetData(%q, %q, %q, %q) = %q, want ErrNotFound", host, user, kind, key, got)
		return
	}
	wantErr(t, fmt.Sprintf("GetData(%q, %q, %q, %q)", host, user, kind, key), err, storage.ErrNotFound)
}

// mustListData checks keys and values (in that order) and returns the
// items read.
func mustListData(t *testing.T, s storage.AccountData, host, user, kind string, keys []string, values [][]byte) []storage.DataItem {
	t.Helper()
	got, err := s.ListData(t.Context(), host, user, kind)
	if err != nil {
		t.Fatalf("ListData(%q, %q, %q): %v", host, user, kind, err)
	}
	ok := len(got) == len(keys)
	for i := 0; ok && i < len(got); i++ {
		ok = got[i].Key == keys[i] && bytes.Equal(got[i].Value, values[i]) && !got[i].Updated.IsZero() &&
			got[i].Updated.Location() == time.UTC
	}
	if !ok {
		var b strings.Builder
		for _, it := range got {
			fmt.Fprintf(&b, "{%q %q %v} ", it.Key, it.Value, it.Updated)
		}
		t.Errorf("ListData(%q, %q, %q):\n got %s\nwant keys %q, values %q", host, user, kind, b.String(), keys, values)
	}
	return got
}

func testDataEmpty(t *testing.T, s storage.Store) {
	const host, user = "example.org", "alice"
	mustCreate(t, s, host, user, nil)
	mustNoData(t, s, host, user, storage.DataVCard, "")
	mustListData(t, s, host, user, storage.DataPrivate, nil, nil)
	wantErr(t, "DeleteData of nothing", s.DeleteData(t.Context(), host, user, storage.DataVCard, ""), storage.ErrNotFound)
}

func testDataMissingAccount(t *testing.T, s storage.Store) {
	const host = "example.org"
	mustCreate(t, s, host, "alice", nil)
	for _, user := range []string{"bob", "alice ", ""} {
		err := s.PutData(t.Context(), host, user, storage.DataVCard, "", value("x"))
		wantErr(t, fmt.Sprintf("PutData for missing %q", user), err, storage.ErrNotFound)
		mustNoData(t, s, host, user, storage.DataVCard, "")
		mustListData(t, s, host, user, storage.DataVCard, nil, nil)
		wantErr(t, "DeleteData", s.DeleteData(t.Context(), host, user, storage.DataVCard, ""), storage.ErrNotFound)
	}
	mustCreate(t, s, host, "bob", nil)
	mustNoData(t, s, host, "bob", storage.DataVCard, "")
	mustListData(t, s, host, "alice", storage.DataVCard, nil, nil)
}

func testDataPutGet(t *testing.T, s storage.Store) {
	const host, user, kind = "example.org", "alice", storage.DataVCard
	mustCreate(t, s, host, user, nil)
	before := time.Now()
	mustPut(t, s, host, user, kind, "", value("first"))
	after := time.Now()
	mustGet(t, s, host, user, kind, "", value("first"))
	first := mustListData(t, s, host, user, kind, []string{""}, [][]byte{value("first")})
	assertCreatedNear(t, first[0].Updated, before, after)

	time.Sleep(2 * time.Millisecond)
	big := bytes.Repeat(value("photo"), 40000)
	mustPut(t, s, host, user, kind, "", big)
	mustGet(t, s, host, user, kind, "", big)
	second := mustListData(t, s, host, user, kind, []string{""}, [][]byte{big})
	if !second[0].Updated.After(first[0].Updated) {
		t.Errorf("Updated after replacing: %v, want after %v", second[0].Updated, first[0].Updated)
	}

	mustPut(t, s, host, user, kind, "", nil)
	mustGet(t, s, host, user, kind, "", nil)
	mustPut(t, s, host, user, kind, "", []byte{})
	mustGet(t, s, host, user, kind, "", nil)

	if err := s.DeleteData(t.Context(), host, user, kind, ""); err != nil {
		t.Fatalf("DeleteData: %v", err)
	}
	mustNoData(t, s, host, user, kind, "")
	wantErr(t, "second DeleteData", s.DeleteData(t.Context(), host, user, kind, ""), storage.ErrNotFound)
	mustListData(t, s, host, user, kind, nil, nil)
	mustPut(t, s, host, user, kind, "", value("again"))
	mustGet(t, s, host, user, kind, "", value("again"))
}

func testDataList(t *testing.T, s storage.Store) {
	const host, user, kind = "example.org", "alice", storage.DataPrivate
	mustCreate(t, s, host, user, nil)
	keys := []string{"storage:bookmarks", "jabber:iq:private", "", "Z", "urn:xmpp:x", "a", "ä", "10", "9", "a b", "a-b", "a_b"}
	for _, k := range keys {
		mustPut(t, s, host, user, kind, k, value(k))
	}
	sorted := byteOrder(keys)
	values := make([][]byte, len(sorted))
	for i, k := range sorted {
		values[i] = value(k)
	}
	mustListData(t, s, host, user, kind, sorted, values)
	// Replacing keeps one entry per key.
	mustPut(t, s, host, user, kind, "a", value("new a"))
	values[indexOf(sorted, "a")] = value("new a")
	mustListData(t, s, host, user, kind, sorted, values)
	if err := s.DeleteData(t.Context(), host, user, kind, "a_b"); err != nil {
		t.Fatal(err)
	}
	i := indexOf(sorted, "a_b")
	sorted = append(sorted[:i:i], sorted[i+1:]...)
	values = append(values[:i:i], values[i+1:]...)
	mustListData(t, s, host, user, kind, sorted, values)
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	panic("not found: " + v)
}

// testDataKinds: one key under several kinds is several values, and
// deleting one leaves the others.
func testDataKinds(t *testing.T, s storage.Store) {
	const host, user, key = "example.org", "alice", "bob@example.net"
	mustCreate(t, s, host, user, nil)
	kinds := []string{storage.DataVCard, storage.DataPrivate, storage.DataLastActivity, storage.DataSubscribeRequest, "", "Private", "private "}
	for _, k := range kinds {
		mustPut(t, s, host, user, k, key, value(k))
	}
	for _, k := range kinds {
		mustGet(t, s, host, user, k, key, value(k))
		mustListData(t, s, host, user, k, []string{key}, [][]byte{value(k)})
	}
	if err := s.DeleteData(t.Context(), host, user, storage.DataPrivate, key); err != nil {
		t.Fatal(err)
	}
	mustNoData(t, s, host, user, storage.DataPrivate, key)
	for _, k := range kinds {
		if k != storage.DataPrivate {
			mustGet(t, s, host, user, k, key, value(k))
		}
	}
	mustListData(t, s, host, user, "priv%", nil, nil)
}

func testDataOddKeys(t *testing.T, s storage.Store) {
	const host, user, kind = "example.org", "alice", storage.DataSubscribeRequest
	mustCreate(t, s, host, user, nil)
	for _, k := range oddContacts {
		mustPut(t, s, host, user, kind, k, value(k))
	}
	sorted := byteOrder(oddContacts)
	values := make([][]byte, len(sorted))
	for i, k := range sorted {
		values[i] = value(k)
	}
	mustListData(t, s, host, user, kind, sorted, values)
	for _, probe := range []string{"a%@example.net", "cafe@example.net", "B@EXAMPLE.NET", "%", "_", "axb@example.net "} {
		mustNoData(t, s, host, user, kind, probe)
		wantErr(t, fmt.Sprintf("DeleteData(%q)", probe), s.DeleteData(t.Context(), host, user, kind, probe), storage.ErrNotFound)
	}
	for _, k := range []string{`%@example.net`, `_@example.net`} {
		if err := s.DeleteData(t.Context(), host, user, kind, k); err != nil {
			t.Fatalf("DeleteData(%q): %v", k, err)
		}
		i := indexOf(sorted, k)
		sorted = append(sorted[:i:i], sorted[i+1:]...)
		values = append(values[:i:i], values[i+1:]...)
	}
	mustListData(t, s, host, user, kind, sorted, values)
}

func testDataSeparate(t *testing.T, s storage.Store) {
	accounts := []struct{ host, user string }{
		{"example.org", "alice"}, {"example.org", "bob"}, {"example.net", "alice"},
	}
	for _, a := range accounts {
		mustCreate(t, s, a.host, a.user, nil)
		mustPut(t, s, a.host, a.user, storage.DataVCard, "", value(a.user+"@"+a.host))
		mustPut(t, s, a.host, a.user, storage.DataPrivate, "ns", value(a.user+"@"+a.host))
	}
	if err := s.DeleteData(t.Context(), "example.org", "alice", storage.DataVCard, ""); err != nil {
		t.Fatal(err)
	}
	mustNoData(t, s, "example.org", "alice", storage.DataVCard, "")
	for _, a := range accounts[1:] {
		mustGet(t, s, a.host, a.user, storage.DataVCard, "", value(a.user+"@"+a.host))
	}
	for _, a := range accounts {
		mustListData(t, s, a.host, a.user, storage.DataPrivate, []string{"ns"}, [][]byte{value(a.user + "@" + a.host)})
	}
}
