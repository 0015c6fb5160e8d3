//go:build unix

package interop_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"mellium.im/sasl"
	"mellium.im/xmpp/jid"

	"parley.im/parley/config"
	"parley.im/parley/internal/xmpptest"
	"parley.im/parley/xmppcore"
)

// python is the interpreter the Debian client libraries are installed for.
// The first python3 on PATH may be another one (pyenv) without them.
const python = "/usr/bin/python3"

// testTimeout bounds each test as a whole; the clients get a little less,
// so that they report their own timeout first.
const (
	testTimeout   = 60 * time.Second
	clientTimeout = "30"
)

// requireClient skips the test when a client is not installed, with the
// reason; under CI=true (where scripts/deps.sh installs them) it fails.
func requireClient(t *testing.T, what string, probe func() error) {
	t.Helper()
	err := probe()
	if err == nil {
		return
	}
	msg := fmt.Sprintf("%s is not available (%v); install it with scripts/deps.sh", what, err)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + " — required under CI=true")
	}
	t.Skip(msg)
}

func requirePythonModule(t *testing.T, pkg, module string) {
	t.Helper()
	requireClient(t, pkg+" ("+python+" -c 'import "+module+"')", func() error {
		if _, err := os.Stat(python); err != nil {
			return err
		}
		out, err := exec.Command(python, "-c", "import "+module).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v: %s", err, bytes.TrimSpace(out))
		}
		return nil
	})
}

func requireSlixmpp(t *testing.T) { t.Helper(); requirePythonModule(t, "python3-slixmpp", "slixmpp") }
func requireNbxmpp(t *testing.T) {
	t.Helper()
	requirePythonModule(t, "python3-nbxmpp", "nbxmpp.client")
}

func requireSendxmpp(t *testing.T) string {
	t.Helper()
	var path string
	requireClient(t, "go-sendxmpp", func() (err error) {
		path, err = exec.LookPath("go-sendxmpp")
		return err
	})
	return path
}

// testContext is the test's deadline.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// logBuffer collects output written concurrently and lets a test wait for
// a piece of text to appear in it.
type logBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{} // closed and replaced on every write
}

func newLogBuffer() *logBuffer { return &logBuffer{changed: make(chan struct{})} }

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	close(b.changed)
	b.changed = make(chan struct{})
	return len(p), nil
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor waits until the text contains s, or ctx ends, or stop (which may
// be nil) is closed.
func (b *logBuffer) waitFor(ctx context.Context, s string, stop <-chan struct{}) error {
	for {
		b.mu.Lock()
		found := strings.Contains(b.buf.String(), s)
		changed := b.changed
		b.mu.Unlock()
		if found {
			return nil
		}
		select {
		case <-changed:
		case <-stop:
			// One last look: the process may have written it and exited.
			if strings.Contains(b.String(), s) {
				return nil
			}
			return fmt.Errorf("%q not seen: the process exited", s)
		case <-ctx.Done():
			return fmt.Errorf("%q not seen: %w", s, ctx.Err())
		}
	}
}

// clientTest begins a test of a client that require checks for (it
// skips the test without the client): the test runs in parallel, with its
// deadline and a server configured with configure.
func clientTest(t *testing.T, require func(*testing.T), configure ...func(*config.Config)) (context.Context, *xmpptest.Server, *logBuffer) {
	t.Helper()
	t.Parallel()
	require(t)
	ctx := testContext(t)
	srv, logs := startServer(t, configure...)
	return ctx, srv, logs
}

// startServer runs Parley in-process and keeps its log, printed if the
// test fails.
func startServer(t *testing.T, configure ...func(*config.Config)) (*xmpptest.Server, *logBuffer) {
	t.Helper()
	logs := newLogBuffer()
	srv := xmpptest.StartWithLog(t, logs, configure...)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", logs)
		}
	})
	return srv, logs
}

// authMechanisms lists, in order, the SASL mechanisms of the successful
// logins of user (user@host) in a server log.
func authMechanisms(log, user string) []string {
	var out []string
	for line := range strings.Lines(log) {
		f := strings.Fields(line)
		if !contains(f, "msg=authenticated") || !contains(f, "user="+user) {
			continue
		}
		for _, kv := range f {
			if m, ok := strings.CutPrefix(kv, "mechanism="); ok {
				out = append(out, m)
			}
		}
	}
	return out
}

func contains(fields []string, s string) bool {
	for _, f := range fields {
		if f == s {
			return true
		}
	}
	return false
}

// process is a client (or server) run as a subprocess in its own process
// group, killed with its group when the test ends.
type process struct {
	name   string
	cmd    *exec.Cmd
	stdout *logBuffer
	stderr *logBuffer
	done   chan struct{} // closed when it has exited
	err    error         // from Wait; read after done
}

// startProcess starts argv. stdin may be nil. env is added to the
// environment. The process is killed (with its whole process group) when
// ctx ends or the test ends, whichever comes first; if the test failed,
// its output is printed.
func startProcess(t *testing.T, ctx context.Context, name string, stdin io.Reader, env []string, argv ...string) *process {
	t.Helper()
	return startProcessIn(t, ctx, "", name, stdin, env, argv...)
}

// startProcessIn is startProcess in working directory dir.
func startProcessIn(t *testing.T, ctx context.Context, dir, name string, stdin io.Reader, env []string, argv ...string) *process {
	t.Helper()
	pctx, cancel := context.WithCancel(ctx)
	cmd := exec.CommandContext(pctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Stdin = stdin
	p := &process{name: name, cmd: cmd, stdout: newLogBuffer(), stderr: newLogBuffer(), done: make(chan struct{})}
	cmd.Stdout = p.stdout
	cmd.Stderr = p.stderr
	cmd.Env = append(cleanEnv(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// exec calls Cancel only while the process has not been waited for, so
	// the group id cannot have been reused yet.
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		cancel()
		<-p.done
		t.Logf("%s (%s): %v\n--- stdout:\n%s", name, strings.Join(argv, " "), p.exitStatus(), p.stdout)
		if t.Failed() {
			t.Logf("%s --- stderr:\n%s", name, p.stderr)
		}
	})
	return p
}

// cleanEnv is the environment for clients: this one, without what could
// point /usr/bin/python3 at another installation's modules, and with no
// bytecode written into testdata/.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE":
			continue
		}
		env = append(env, kv)
	}
	return append(env, "PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1")
}

// wait waits for the process to exit, at most until ctx ends, and returns
// how it exited.
func (p *process) wait(ctx context.Context) error {
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		return fmt.Errorf("%s still running: %w", p.name, ctx.Err())
	}
}

func (p *process) exitStatus() string {
	select {
	case <-p.done:
	default:
		return "running"
	}
	if p.err == nil {
		return "exit status 0"
	}
	return p.err.Error()
}

// mustSucceed waits for the process and fails the test unless it exits 0.
func (p *process) mustSucceed(t *testing.T, ctx context.Context) {
	t.Helper()
	if err := p.wait(ctx); err != nil {
		t.Fatalf("%s failed: %v (its output is printed below)", p.name, err)
	}
}

// script is the path of a file in testdata/.
func script(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// account adds user, with password, on localhost to srv and returns the
// account as the scripts take it: "user@localhost:password".
func account(t *testing.T, srv *xmpptest.Server, user, password string) string {
	t.Helper()
	srv.AddUser(t, user, password)
	return user + "@localhost:" + password
}

// startPython starts testdata/file with python as the client name, against
// the listener at addr and trusting srv's certificate (--addr, --cafile),
// with args and then the clients' timeout and debug log (--timeout,
// --debug).
func startPython(t *testing.T, ctx context.Context, srv *xmpptest.Server, name, file, addr string, args ...string) *process {
	t.Helper()
	argv := append([]string{python, script(t, file), "--addr", addr, "--cafile", certFile(srv)}, args...)
	return startProcess(t, ctx, name, nil, nil, append(argv, "--timeout", clientTimeout, "--debug")...)
}

// runSlixmpp runs the slixmpp script testdata/file against srv's STARTTLS
// listener (see startPython) and fails the test unless it exits 0.
func runSlixmpp(t *testing.T, ctx context.Context, srv *xmpptest.Server, file string, args ...string) *process {
	t.Helper()
	p := startPython(t, ctx, srv, "slixmpp", file, srv.StartTLSAddr, args...)
	p.mustSucceed(t, ctx)
	return p
}

// expectOutput reports each of wants that the process's standard output
// lacks.
func (p *process) expectOutput(t *testing.T, wants ...string) {
	t.Helper()
	out := p.stdout.String()
	for _, want := range wants {
		if !strings.Contains(out, want) {
			t.Errorf("%s output lacks %q", p.name, want)
		}
	}
}

// freePort returns a loopback address with a port the kernel just had
// free, for a listener whose address must be known before it starts.
// Another process could take it first; the listener would then fail to
// start and say so.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// certFile is the self-signed certificate the server generated for
// localhost, for clients to trust.
func certFile(srv *xmpptest.Server) string {
	return filepath.Join(srv.Config.CertDir(), "localhost.crt")
}

// rawLogin logs a raw Go client in (STARTTLS, or direct TLS when direct)
// with SASL mechanism m, binds resource, sends initial presence and waits
// until the server has processed it (a ping answered after it), so that
// messages to the bare JID reach this client. It returns the client and
// its full JID.
func rawLogin(t *testing.T, srv *xmpptest.Server, direct bool, m sasl.Mechanism, user, password, resource string) (*xmpptest.Client, jid.JID) {
	t.Helper()
	var c *xmpptest.Client
	if direct {
		c = xmpptest.DialTLS(t, srv.DirectTLSAddr, nil)
		c.OpenStream("localhost")
	} else {
		c = xmpptest.Dial(t, srv.StartTLSAddr)
		c.OpenStream("localhost")
		c.StartTLS("localhost")
	}
	if el := c.Auth(m, user, password); !el.Is(xmppcore.NSSASL, "success") {
		t.Fatalf("raw client %s: %s failed: %s", user, m.Name, el)
	}
	c.OpenStream("localhost")
	full, err := jid.Parse(c.Bind(resource))
	if err != nil {
		t.Fatalf("raw client %s: bound JID: %v", user, err)
	}
	c.Send(`<presence/><iq type='get' id='ready' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`)
	c.Expect(func(el *xmppcore.Element) bool { return el.Local == xmppcore.IQ && el.Attr("id") == "ready" })
	return c, full
}

// expectChat reads until a chat message arrives and checks its body and
// that it comes from a resource of fromBare (or from exactly fromFull when
// that is not empty). It returns the sender's full JID. The stream's
// content namespace (jabber:client) is "" in parsed elements.
func expectChat(t *testing.T, c *xmpptest.Client, fromBare, fromFull, body string) string {
	t.Helper()
	el := c.Expect(func(el *xmppcore.Element) bool {
		return el.Local == "message" && el.Attr("type") != "error" && el.ChildText("", "body") != ""
	})
	from := el.Attr("from")
	got := strings.TrimSpace(el.ChildText("", "body"))
	if got != body {
		t.Errorf("message body %q, want %q (%s)", got, body, el)
	}
	f, err := jid.Parse(from)
	switch {
	case err != nil:
		t.Errorf("message from %q: %v", from, err)
	case fromFull != "" && from != fromFull:
		t.Errorf("message from %q, want %q", from, fromFull)
	case f.Bare().String() != fromBare || f.Resourcepart() == "":
		t.Errorf("message from %q, want a resource of %s", from, fromBare)
	}
	return from
}
