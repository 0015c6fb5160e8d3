package upload

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzNames checks the two parsers of what a client names: the file name
// of a slot request and the path of an HTTP request. Whatever they accept
// must be safe to use: a name with no separator or control character, an
// id of the server's alphabet.
func FuzzNames(f *testing.F) {
	for _, s := range []string{"a.txt", "../etc/passwd", "/abcdefghijklmnopqrstuvwxyz/a.txt",
		"/aaaaaaaaaaaaaaaaaaaaaaaaaa/..", "très cool.jpg", "a\u202Eb", "e\u0301", "..", "a\x00b", "text/plain; charset=utf-8"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if validName(s) == "" {
			if s == "" || s == "." || s == ".." || strings.ContainsAny(s, "/\\\x00\r\n") || !utf8.ValidString(s) || len(s) > maxNameBytes {
				t.Errorf("validName accepted %q", s)
			}
		}
		if id, name, ok := splitPath(s); ok {
			if !validID(id) || strings.ContainsAny(id, "./\\") || name == "" || strings.Contains(name, "/") {
				t.Errorf("splitPath(%q) = %q, %q", s, id, name)
			}
		}
		if ct, ok := validType(s); ok && ct != "" {
			if again, ok := validType(ct); !ok || again != ct {
				t.Errorf("validType(%q) = %q, not stable: %q", s, ct, again)
			}
		}
	})
}
