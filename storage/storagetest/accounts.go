package storagetest

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"parley.im/parley/storage"
)

func runAccounts(t *testing.T, open func(t *testing.T) storage.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s storage.Store)
	}{
		{"CreateGet", testCreateGet},
		{"CreateDuplicate", testCreateDuplicate},
		{"CreateWithoutCredentials", testCreateWithoutCredentials},
		{"Missing", testMissing},
		{"Exists", testExists},
		{"SetCredentials", testSetCredentials},
		{"InvalidCredentials", testInvalidCredentials},
		{"DeleteRecreate", testDeleteRecreate},
		{"ListSortedPerHost", testListSortedPerHost},
		{"OddUsernames", testOddUsernames},
		{"LongUsername", testLongUsername},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

func testCreateGet(t *testing.T, s storage.Store) {
	const host, user = "example.org", "alice"
	before := time.Now()
	mustCreate(t, s, host, user, credentials("alice"))
	after := time.Now()

	a := mustAccount(t, s, host, user)
	assertCredentials(t, a.Credentials, credentials("alice"))
	assertCreatedNear(t, a.Created, before, after)

	again := mustAccount(t, s, host, user)
	if !again.Created.Equal(a.Created) {
		t.Errorf("Created changed between reads: %v, then %v", a.Created, again.Created)
	}
}

func testCreateDuplicate(t *testing.T, s storage.Store) {
	const host, user = "example.org", "alice"
	mustCreate(t, s, host, user, credentials("first"))
	created := mustAccount(t, s, host, user).Created

	err := s.CreateAccount(t.Context(), host, user, credentials("second"))
	wantErr(t, "second CreateAccount", err, storage.ErrConflict)

	a := mustAccount(t, s, host, user)
	assertCredentials(t, a.Credentials, credentials("first"))
	if !a.Created.Equal(created) {
		t.Errorf("failed CreateAccount changed Created from %v to %v", created, a.Created)
	}
}

func testCreateWithoutCredentials(t *testing.T, s storage.Store) {
	mustCreate(t, s, "example.org", "nopass", nil)
	mustExist(t, s, "example.org", "nopass", true)
	if got := mustAccount(t, s, "example.org", "nopass").Credentials; len(got) != 0 {
		t.Errorf("account created without credentials has %+v", got)
	}
}

// testMissing also probes near misses of an existing account: another host,
// other case, trailing space. A backend comparing case-insensitively or
// padding strings would find them.
func testMissing(t *testing.T, s storage.Store) {
	ctx := t.Context()
	mustCreate(t, s, "example.org", "alice", credentials("alice"))
	missing := []struct{ host, user string }{
		{"example.org", "bob"},
		{"example.net", "alice"},
		{"example.org", "Alice"},
		{"EXAMPLE.ORG", "alice"},
		{"example.org", "alice "},
		{"example.org", "alic"},
		{"example.org", ""},
	}
	for _, m := range missing {
		_, err := s.Account(ctx, m.host, m.user)
		wantErr(t, "Account("+m.host+", "+m.user+")", err, storage.ErrNotFound)
		err = s.SetCredentials(ctx, m.host, m.user, credentials("intruder"))
		wantErr(t, "SetCredentials("+m.host+", "+m.user+")", err, storage.ErrNotFound)
		err = s.DeleteAccount(ctx, m.host, m.user)
		wantErr(t, "DeleteAccount("+m.host+", "+m.user+")", err, storage.ErrNotFound)
		mustExist(t, s, m.host, m.user, false)
	}
	assertCredentials(t, mustAccount(t, s, "example.org", "alice").Credentials, credentials("alice"))
	mustList(t, s, "example.org", []string{"alice"})
}

func testExists(t *testing.T, s storage.Store) {
	mustExist(t, s, "example.org", "alice", false)
	mustCreate(t, s, "example.org", "alice", credentials("alice"))
	mustExist(t, s, "example.org", "alice", true)
	mustExist(t, s, "example.net", "alice", false)
	mustExist(t, s, "example.org", "ALICE", false)
	if err := s.DeleteAccount(t.Context(), "example.org", "alice"); err != nil {
		t.Fatalf("DeleteAccount: %v", err)
	}
	mustExist(t, s, "example.org", "alice", false)
}

func testSetCredentials(t *testing.T, s storage.Store) {
	ctx := t.Context()
	const host = "example.org"
	mustCreate(t, s, host, "alice", credentials("alice-1"))
	mustCreate(t, s, host, "bob", credentials("bob"))
	created := mustAccount(t, s, host, "alice").Created

	// Fewer credentials than before: the old ones must go, not linger.
	onlySHA256 := credentials("alice-2")[1:2]
	if err := s.SetCredentials(ctx, host, "alice", onlySHA256); err != nil {
		t.Fatalf("SetCredentials: %v", err)
	}
	assertCredentials(t, mustAccount(t, s, host, "alice").Credentials, onlySHA256)

	if err := s.SetCredentials(ctx, host, "alice", credentials("alice-3")); err != nil {
		t.Fatalf("SetCredentials: %v", err)
	}
	a := mustAccount(t, s, host, "alice")
	assertCredentials(t, a.Credentials, credentials("alice-3"))
	if !a.Created.Equal(created) {
		t.Errorf("SetCredentials changed Created from %v to %v", created, a.Created)
	}

	if err := s.SetCredentials(ctx, host, "alice", nil); err != nil {
		t.Fatalf("SetCredentials(nil): %v", err)
	}
	assertCredentials(t, mustAccount(t, s, host, "alice").Credentials, nil)
	mustExist(t, s, host, "alice", true)

	assertCredentials(t, mustAccount(t, s, host, "bob").Credentials, credentials("bob"))
}

// invalidCredentialSets are rejected by CreateAccount and SetCredentials as a
// whole. Two credentials for one hash would make the login ambiguous; the
// others cannot come from a SCRAM derivation.
func invalidCredentialSets() map[string][]storage.Credential {
	edit := func(f func(c *storage.Credential)) []storage.Credential {
		creds := credentials("bad")
		f(&creds[2])
		return creds
	}
	return map[string][]storage.Credential{
		"duplicate hash":   append(credentials("bad"), credentials("other")[1]),
		"empty hash":       edit(func(c *storage.Credential) { c.Hash = "" }),
		"zero iterations":  edit(func(c *storage.Credential) { c.Iterations = 0 }),
		"empty salt":       edit(func(c *storage.Credential) { c.Salt = nil }),
		"empty stored key": edit(func(c *storage.Credential) { c.StoredKey = []byte{} }),
		"empty server key": edit(func(c *storage.Credential) { c.ServerKey = nil }),
		"iterations beyond int32": edit(func(c *storage.Credential) {
			c.Iterations = math.MaxInt32
			c.Iterations++ // on 32-bit platforms this wraps to negative, also invalid
		}),
	}
}

func testInvalidCredentials(t *testing.T, s storage.Store) {
	ctx := t.Context()
	const host = "example.org"
	mustCreate(t, s, host, "alice", credentials("alice"))
	for name, creds := range invalidCredentialSets() {
		wantOtherErr(t, "CreateAccount with "+name, s.CreateAccount(ctx, host, "bob", creds))
		mustExist(t, s, host, "bob", false)

		wantOtherErr(t, "SetCredentials with "+name, s.SetCredentials(ctx, host, "alice", creds))
		assertCredentials(t, mustAccount(t, s, host, "alice").Credentials, credentials("alice"))
	}
}

func testDeleteRecreate(t *testing.T, s storage.Store) {
	ctx := t.Context()
	mustCreate(t, s, "example.org", "alice", credentials("alice-1"))
	mustCreate(t, s, "example.org", "bob", credentials("bob"))
	mustCreate(t, s, "example.net", "alice", credentials("alice-net"))

	if err := s.DeleteAccount(ctx, "example.org", "alice"); err != nil {
		t.Fatalf("DeleteAccount: %v", err)
	}
	_, err := s.Account(ctx, "example.org", "alice")
	wantErr(t, "Account after delete", err, storage.ErrNotFound)
	wantErr(t, "second DeleteAccount", s.DeleteAccount(ctx, "example.org", "alice"), storage.ErrNotFound)
	mustList(t, s, "example.org", []string{"bob"})
	assertCredentials(t, mustAccount(t, s, "example.org", "bob").Credentials, credentials("bob"))
	assertCredentials(t, mustAccount(t, s, "example.net", "alice").Credentials, credentials("alice-net"))

	// Re-created without credentials: none of the deleted account's may
	// reappear, which they would if the delete left them behind.
	mustCreate(t, s, "example.org", "alice", nil)
	assertCredentials(t, mustAccount(t, s, "example.org", "alice").Credentials, nil)
	if err := s.SetCredentials(ctx, "example.org", "alice", credentials("alice-2")); err != nil {
		t.Fatalf("SetCredentials on re-created account: %v", err)
	}
	assertCredentials(t, mustAccount(t, s, "example.org", "alice").Credentials, credentials("alice-2"))
}

// testListSortedPerHost uses names whose byte order differs from any
// linguistic collation (upper case before lower case, punctuation that
// collations skip, accented letters after z) and hosts that a LIKE pattern
// would confuse.
func testListSortedPerHost(t *testing.T, s storage.Store) {
	org := []string{"b", "a", "B", "a_b", "ab", "a-b", "a b", "é", "z", "ä", "Z", "10", "9", "shared", "ß", "ａ"}
	net := []string{"shared", "zed", "able"}
	for _, u := range org {
		mustCreate(t, s, "example.org", u, nil)
	}
	for _, u := range net {
		mustCreate(t, s, "example.net", u, nil)
	}
	mustCreate(t, s, "xay.example", "lonely", nil)
	mustCreate(t, s, "x%.example", "percent", nil)

	mustList(t, s, "example.org", byteOrder(org))
	mustList(t, s, "example.net", byteOrder(net))
	mustList(t, s, "x_y.example", nil)
	mustList(t, s, "x%.example", []string{"percent"})
	mustList(t, s, "%", nil)
	mustList(t, s, "", nil)
	mustList(t, s, "EXAMPLE.ORG", nil)
}

// oddUsernames are valid localparts, or at least valid UTF-8, that break
// code which builds SQL by hand, uses LIKE, or normalizes strings.
var oddUsernames = []string{
	`o'brien`, `"quoted"`, `back\slash`, `\`, `\\`, `100%`, `%`, `under_score`, `_`,
	`'; DROP TABLE accounts; --`, `a*b`, `[x]`, `名前`, `emoji😀`, `ǅ`,
	"caf\u00e9", "cafe\u0301", // NFC and NFD: two different accounts
	"ﬁ", "fi", // compatibility ligature and its decomposition
}

func testOddUsernames(t *testing.T, s storage.Store) {
	const host = "example.org"
	for _, u := range oddUsernames {
		mustCreate(t, s, host, u, credentials(u))
	}
	for _, u := range oddUsernames {
		assertCredentials(t, mustAccount(t, s, host, u).Credentials, credentials(u))
	}
	mustList(t, s, host, byteOrder(oddUsernames))

	// Probes that a LIKE or GLOB would match against the names above.
	probes := []string{"1000", "100", "underXscore", "x", "backslash", `back\\slash`, "o''brien", "cafe",
		"o_brien", "caf_", "%%", "名%", "emoji_", "*", "[x", "under*"}
	for _, probe := range probes {
		mustExist(t, s, host, probe, false)
	}

	// Deleting the wildcard-looking names must not delete anything else.
	for _, u := range []string{"%", "_", `\`} {
		if err := s.DeleteAccount(t.Context(), host, u); err != nil {
			t.Fatalf("DeleteAccount(%q): %v", u, err)
		}
	}
	rest := slices.DeleteFunc(slices.Clone(oddUsernames), func(u string) bool {
		return u == "%" || u == "_" || u == `\`
	})
	mustList(t, s, host, byteOrder(rest))
}

// testLongUsername stores localparts at the 1023-byte limit of RFC 7622, in
// one- and two-byte characters, and two that differ only in the last byte to
// catch truncation or prefix-only indexes.
func testLongUsername(t *testing.T, s storage.Store) {
	const host = "example.org"
	names := []string{
		strings.Repeat("x", 1023),
		strings.Repeat("x", 1022) + "y",
		strings.Repeat("é", 511) + "a",
	}
	for _, u := range names {
		if len(u) != 1023 {
			t.Fatalf("test bug: %d-byte name", len(u))
		}
		mustCreate(t, s, host, u, credentials(u[1000:]))
	}
	for _, u := range names {
		assertCredentials(t, mustAccount(t, s, host, u).Credentials, credentials(u[1000:]))
	}
	mustList(t, s, host, byteOrder(names))
}
