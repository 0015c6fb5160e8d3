package c2s

import (
	"testing"
)

// FuzzJID checks the address handling the session layer relies on: an
// address parseJID accepts prints to a string that parses to the same
// address (so a stamped 'from', or the 'from' of an error reply, reads back
// as it was), and username normalization is idempotent and gives the
// localpart an address would have.
func FuzzJID(f *testing.F) {
	for _, s := range []string{
		"alice", "Alice", "ALICE@localhost", "alice@localhost/res", "a@b/c/d", "@localhost", "alice@",
		"localhost", "localhost/r", "alice@LOCALHOST.", "..", "a@b..", "[::1]", "a@[::1]/r", "a@127.0.0.1",
		"ﬀ", "ǅ", "\u212bngström", "a\u0301", "a\u0085b", "user name", "a/b", "a@b@c", "\x00", "",
		"Ⅸ@example.org", "user@xn--bcher-kva.example", "user@bücher.example/Résource ", "\u00c5\u2136",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if j, err := parseJID(s); err == nil {
			again, err := parseJID(j.String())
			if err != nil {
				t.Fatalf("%q parsed to %q, which does not parse: %v", s, j, err)
			}
			if !again.Equal(j) || again.String() != j.String() {
				t.Fatalf("%q parsed to %q, which parses to %q", s, j, again)
			}
			if j.Localpart() != "" {
				// The localpart of an address is a normalized username.
				if local, err := normalizeUsername(j.Localpart(), "localhost"); err != nil || local != j.Localpart() {
					t.Fatalf("localpart %q of %q normalizes to %q (%v)", j.Localpart(), s, local, err)
				}
			}
		}
		local, err := normalizeUsername(s, "localhost")
		if err != nil {
			return
		}
		if local == "" {
			t.Fatalf("%q normalizes to an empty username", s)
		}
		if again, err := normalizeUsername(local, "localhost"); err != nil || again != local {
			t.Fatalf("normalizing %q twice: %q then %q (%v)", s, local, again, err)
		}
		j, err := parseJID(local + "@localhost/r")
		if err != nil || j.Localpart() != local {
			t.Fatalf("username %q (from %q) is not the localpart of %q (%v)", local, s, j, err)
		}
	})
}
