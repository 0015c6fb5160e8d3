//go:build unix

package interop_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// stopBound bounds how long `parley serve` may take to exit after SIGTERM:
// its shutdown grace (10s) and some margin.
const stopBound = 20 * time.Second

// TestReadmePath walks the path a new user takes, with the real binary:
// build it, write a configuration (listeners on free loopback ports), add
// two accounts with `parley adduser` (password on standard input), run
// `parley check`, start `parley serve`, let two slixmpp clients chat
// through it, then stop it with SIGTERM: it must exit 0 within a bound,
// and both clients must have seen their streams end with system-shutdown.
func TestReadmePath(t *testing.T) {
	t.Parallel()
	requireSlixmpp(t)
	ctx := testContext(t)
	dir := t.TempDir()

	bin := filepath.Join(dir, "parley")
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build parley: %v", err)
	}
	if out, err := exec.CommandContext(ctx, goTool, "build", "-o", bin, "parley.im/parley/cmd/parley").CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/parley: %v\n%s", err, out)
	}

	starttls, direct := freePort(t), freePort(t)
	config := filepath.Join(dir, "config.toml")
	writeFile(t, config, fmt.Sprintf(`# written by TestReadmePath
data_dir = "parley-data"

[log]
level = "debug"

[c2s]
starttls = ["%s"]
direct_tls = ["%s"]

[auth]
scram_iterations = 4096

[web]
http = ["%s"]
https = ["%s"]
`, starttls, direct, freePort(t), freePort(t)))

	// parley run from the temporary directory, where the relative data_dir
	// lives, as a user would run it from theirs.
	parley := func(name string, stdin string, args ...string) *process {
		var in io.Reader
		if stdin != "" {
			in = strings.NewReader(stdin)
		}
		return startProcessIn(t, ctx, dir, name, in, nil, append([]string{bin}, args...)...)
	}
	for _, acct := range [][2]string{{"alice@localhost", "alice secret"}, {"bob@localhost", "bob secret"}} {
		p := parley("parley adduser "+acct[0], acct[1]+"\n", "adduser", "-config", "config.toml", acct[0])
		p.mustSucceed(t, ctx)
		if want := "account " + acct[0] + " created"; !strings.Contains(p.stderr.String(), want) {
			t.Errorf("parley adduser printed %q, want %q", p.stderr, want)
		}
	}
	check := parley("parley check", "", "check", "-config", "config.toml")
	check.mustSucceed(t, ctx)
	for _, want := range []string{"ok   configuration config.toml", "ok   storage sqlite reachable", "ok   port " + starttls + " free", "ok   port " + direct + " free"} {
		if !strings.Contains(check.stdout.String(), want) {
			t.Errorf("parley check output lacks %q", want)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	serve := parley("parley serve", "", "serve", "-config", "config.toml")
	if err := serve.stderr.waitFor(ctx, `msg="parley started"`, serve.done); err != nil {
		t.Fatalf("parley serve did not start: %v", err)
	}

	chat := startProcess(t, ctx, "slixmpp", nil, nil,
		python, script(t, "slixmpp_chat.py"),
		"--addr", starttls,
		"--cafile", filepath.Join(dir, "parley-data", "certs", "localhost.crt"),
		"--alice", "alice@localhost:alice secret",
		"--bob", "bob@localhost:bob secret",
		"--wait-shutdown", "system-shutdown",
		"--timeout", clientTimeout, "--debug")
	if err := chat.stdout.waitFor(ctx, "chat-ok\n", chat.done); err != nil {
		t.Fatalf("the clients did not chat: %v", err)
	}

	if err := serve.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	sctx, cancel := context.WithTimeout(ctx, stopBound)
	defer cancel()
	if err := serve.wait(sctx); err != nil {
		t.Errorf("parley serve after SIGTERM: %v (want exit status 0 within %v)", err, stopBound)
	}
	if !strings.Contains(serve.stderr.String(), "msg=stopped") {
		t.Errorf("parley serve did not log that it stopped")
	}

	chat.mustSucceed(t, ctx)
	chat.expectOutput(t, "alice stream-error system-shutdown", "bob stream-error system-shutdown", "shutdown-ok\n")
	for _, user := range []string{"alice@localhost", "bob@localhost"} {
		if len(authMechanisms(serve.stderr.String(), user)) != 1 {
			t.Errorf("server log: want one login of %s", user)
		}
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
