package config

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad: Load must never panic, and whatever it accepts must validate.
func FuzzLoad(f *testing.F) {
	if ex, err := os.ReadFile(examplePath); err == nil {
		f.Add(ex)
	}
	for _, s := range []string{
		"",
		"[log]\nlevel = \"loud\"",
		"[[host]]\nname = \"a.org\"\n[[host]]\nnmae = 1",
		"host = [{ name = \"a.org\", admins = [\"x@a.org\"] }]",
		"data_dir = \"\"\"\nx\n\"\"\"\n[c2s]\nstarttls = [\n\":1\", # c\n]",
		"a.b.\"c\" = 'd'\n[x.'y'.z]\n[[x.w]]",
		"[storage]\nbackend = \"postgres\"\n[storage.postgres]\ndsn = \"host='a\\\\' b'\"",
		"[c2s]\nidle_timeout = 5\n[auth]\nmechanisms = [\"PLAIN\", 1]",
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "fuzz.toml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Load(path)
		if err != nil {
			if c != nil {
				t.Fatal("Load returned a config with an error")
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Load accepted a config that does not validate: %v", err)
		}
		_ = scanLines(string(data))
	})
}
