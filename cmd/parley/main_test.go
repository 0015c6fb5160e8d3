package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"parley.im/parley/auth"
	"parley.im/parley/config"
	"parley.im/parley/server"
)

// freePort returns a loopback address nobody listens on right now.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func writeConfig(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "config.toml")
	body := fmt.Sprintf(`data_dir = %q
[[host]]
name = "example.test"
[auth]
scram_iterations = 4096
[c2s]
starttls = [%q]
direct_tls = [%q]
[web]
http = [%q]
https = [%q]
`, filepath.Join(dir, "data"), freePort(t), freePort(t), freePort(t), freePort(t))
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

type result struct {
	code           int
	stdout, stderr string
}

func runCLI(stdin string, args ...string) result {
	var out, errb bytes.Buffer
	code := run(args, strings.NewReader(stdin), &out, &errb)
	return result{code, out.String(), errb.String()}
}

func verifyPassword(t *testing.T, cfgPath, user, password string) bool {
	t.Helper()
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	st, err := server.OpenStore(context.Background(), cfg, true)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	acct, err := st.Account(context.Background(), "example.test", user)
	if err != nil {
		t.Fatalf("account %s: %v", user, err)
	}
	if len(acct.Credentials) != 3 {
		t.Fatalf("account %s has %d credentials, want one per SCRAM hash", user, len(acct.Credentials))
	}
	for _, c := range acct.Credentials {
		if !auth.VerifyPassword(c, password) {
			return false
		}
	}
	return true
}

func TestAccountLifecycle(t *testing.T) {
	cfg := writeConfig(t)
	if r := runCLI("s3cret\n", "adduser", "-config", cfg, "Alice@example.test"); r.code != 0 {
		t.Fatalf("adduser: %+v", r)
	}
	// The username is normalized (RFC 7622 localpart): Alice is alice.
	if !verifyPassword(t, cfg, "alice", "s3cret") {
		t.Fatal("stored credentials do not verify the password given on stdin")
	}
	if r := runCLI("other\n", "adduser", "-config", cfg, "alice@example.test"); r.code != 1 || !strings.Contains(r.stderr, "already exists") {
		t.Fatalf("duplicate adduser: %+v", r)
	}
	if r := runCLI("n3w-pass\n", "passwd", "-config", cfg, "alice@example.test"); r.code != 0 {
		t.Fatalf("passwd: %+v", r)
	}
	if !verifyPassword(t, cfg, "alice", "n3w-pass") || verifyPassword(t, cfg, "alice", "s3cret") {
		t.Fatal("passwd did not replace the password")
	}
	if r := runCLI("", "deluser", "-config", cfg, "alice@example.test"); r.code != 0 {
		t.Fatalf("deluser: %+v", r)
	}
	if r := runCLI("", "deluser", "-config", cfg, "alice@example.test"); r.code != 1 || !strings.Contains(r.stderr, "no account") {
		t.Fatalf("second deluser: %+v", r)
	}
	if r := runCLI("x\n", "passwd", "-config", cfg, "alice@example.test"); r.code != 1 || !strings.Contains(r.stderr, "no account") {
		t.Fatalf("passwd of a deleted account: %+v", r)
	}
}

func TestBadArguments(t *testing.T) {
	cfg := writeConfig(t)
	for i, tc := range []struct {
		stdin string
		args  []string
		code  int
		want  string
	}{
		{"pw\n", []string{"adduser", "-config", cfg, "nobody@other.test"}, 1, "not served"},
		{"pw\n", []string{"adduser", "-config", cfg, "not a jid@@"}, 1, "not a valid"},
		{"pw\n", []string{"adduser", "-config", cfg, "example.test"}, 1, "not a valid"},
		{"pw\n", []string{"adduser", "-config", cfg, "a@example.test/res"}, 1, "not a valid"},
		{"", []string{"adduser", "-config", cfg, "a@example.test"}, 1, "no password"},
		{"\n", []string{"adduser", "-config", cfg, "a@example.test"}, 1, "empty"},
		{"pw\n", []string{"adduser", "-config", cfg}, 2, "usage"},
		{"", []string{"adduser", "-config", filepath.Join(t.TempDir(), "missing.toml"), "a@example.test"}, 1, "missing.toml"},
		{"", []string{"frobnicate"}, 2, "unknown command"},
		{"", []string{"migrate", "-config", cfg, "extra"}, 2, "usage"},
		{"", nil, 2, "usage"},
	} {
		r := runCLI(tc.stdin, tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%d: %v: got code %d stderr %q, want code %d containing %q", i, tc.args, r.code, r.stderr, tc.code, tc.want)
		}
	}
}

func TestPasswordNeverOnCommandLine(t *testing.T) {
	// An extra argument must not be taken as a password.
	cfg := writeConfig(t)
	if r := runCLI("", "adduser", "-config", cfg, "a@example.test", "hunter2"); r.code != 2 {
		t.Fatalf("adduser with a password argument: %+v", r)
	}
}

func TestMigrateCheckVersion(t *testing.T) {
	cfg := writeConfig(t)
	if r := runCLI("", "migrate", "-config", cfg); r.code != 0 || !strings.Contains(r.stderr, "up to date") {
		t.Fatalf("migrate: %+v", r)
	}
	r := runCLI("", "check", "-config", cfg)
	if r.code != 0 || !strings.Contains(r.stdout, "ok   storage sqlite reachable") || strings.Contains(r.stdout, "FAIL") {
		t.Fatalf("check: %+v", r)
	}
	// A port in use is reported.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	busy := strings.Replace(mustRead(t, cfg), "starttls = [", fmt.Sprintf("starttls = [%q, ", l.Addr().String()), 1)
	if err := os.WriteFile(cfg, []byte(busy), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := runCLI("", "check", "-config", cfg); r.code != 1 || !strings.Contains(r.stdout, "FAIL port "+l.Addr().String()) {
		t.Fatalf("check with a busy port: %+v", r)
	}
	if r := runCLI("", "version"); r.code != 0 || !strings.HasPrefix(r.stdout, "parley ") {
		t.Fatalf("version: %+v", r)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
