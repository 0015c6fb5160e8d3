package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"parley.im/parley/config"
	"parley.im/parley/internal/xmpptest"
)

// The load tool against a real Parley in this process, over real sockets
// and TLS: every scenario runs for about a second with a few sessions, so
// that the tool keeps working as the server changes. No timing is checked;
// the messages sent must all arrive (the drain is generous).
func TestSmokeScenarios(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server")
	}
	srv := xmpptest.Start(t, func(c *config.Config) {
		c.MUC.Enabled = false
	})
	const password = "bench pass"
	for i := range 6 {
		srv.AddUser(t, fmt.Sprintf("load%d", i), password)
	}
	pid := strconv.Itoa(os.Getpid())
	common := []string{"-addr", srv.StartTLSAddr, "-domain", "localhost", "-user", "load%d", "-password", password,
		"-count", "6", "-concurrency", "3", "-tls", "starttls", "-mech", "SCRAM-SHA-256,PLAIN", "-pid", pid,
		"-source", "127.0.0.1", "-max-duration", "60s"}
	cases := []struct {
		name  string
		args  []string
		check func(t *testing.T, r *Result)
	}{
		{"chat-open", []string{"chat", "-rate", "200", "-duration", "500ms", "-drain", "10s", "-settle", "500ms"}, func(t *testing.T, r *Result) {
			lr := r.Load
			if lr.Mode != "open" || lr.Sent == 0 || lr.Delivered != lr.Sent || lr.Latency.N != lr.Delivered {
				t.Errorf("chat: %d sent, %d delivered, %d timed, mode %s", lr.Sent, lr.Delivered, lr.Latency.N, lr.Mode)
			}
			if lr.CPU.ServerS <= 0 || lr.CPU.RSSStartKiB <= 0 {
				t.Errorf("server not sampled: %+v", lr.CPU)
			}
		}},
		{"chat-closed", []string{"chat", "-rate", "0", "-window", "2", "-duration", "500ms", "-drain", "10s", "-settle", "500ms", "-to", "full"}, func(t *testing.T, r *Result) {
			lr := r.Load
			if lr.Mode != "closed" || lr.Sent == 0 || lr.Delivered != lr.Sent {
				t.Errorf("chat closed loop: %d sent, %d delivered", lr.Sent, lr.Delivered)
			}
		}},
		{"presence", []string{"presence", "-contacts", "2", "-rate", "50", "-duration", "500ms", "-drain", "10s", "-settle", "500ms"}, func(t *testing.T, r *Result) {
			lr := r.Load
			if lr.Sent == 0 || lr.Delivered != lr.Sent*2 {
				t.Errorf("presence: %d updates, %d deliveries (want 2 each); %v", lr.Sent, lr.Delivered, r.Notes)
			}
		}},
		{"presence-reconnect", []string{"presence", "-contacts", "2", "-rate", "50", "-duration", "1s", "-drain", "5s", "-settle", "500ms", "-reconnect", "4"}, func(t *testing.T, r *Result) {
			lr := r.Load
			if lr.Sent == 0 || lr.Delivered == 0 || !strings.Contains(fmt.Sprint(lr.Extra["reconnects"]), "(0 failed)") || len(lr.SendErrors) > 0 || len(lr.Dropped) > 0 {
				t.Errorf("presence with reconnects: %d updates, %d deliveries, %v, send errors %v, dropped %v", lr.Sent, lr.Delivered, lr.Extra, lr.SendErrors, lr.Dropped)
			}
		}},
		{"mam", []string{"mam", "-fill", "3", "-fill-wait", "300ms", "-rate", "20", "-page", "5", "-duration", "500ms", "-drain", "10s"}, func(t *testing.T, r *Result) {
			lr := r.Load
			if lr.Sent == 0 || lr.Delivered != lr.Sent || len(lr.RecvErrors) > 0 {
				t.Errorf("mam: %d queries, %d answered, errors %v", lr.Sent, lr.Delivered, lr.RecvErrors)
			}
			if lr.Extra["results per query"] == nil {
				t.Errorf("mam: no results counted: %v", lr.Extra)
			}
		}},
		{"login-idle", []string{"login-idle", "-hold", "300ms", "-settle", "100ms", "-after-close", "0s"}, func(t *testing.T, r *Result) {
			if r.Login.OK != 6 || r.Idle == nil || r.Idle.Alive != 6 {
				t.Errorf("login-idle: %d logged in, idle %+v", r.Login.OK, r.Idle)
			}
		}},
	}
	dir := t.TempDir()
	var files []string
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			file := filepath.Join(dir, c.name+".json")
			args := append(append([]string{c.args[0]}, common...), c.args[1:]...)
			args = append(args, "-json", file, "-label", c.name)
			var out, errb bytes.Buffer
			if code := run(args, &out, &errb); code != 0 {
				t.Fatalf("parley-bench %s: exit %d\n%s\n%s", strings.Join(args, " "), code, out.String(), errb.String())
			}
			r, err := readResult(file)
			if err != nil {
				t.Fatal(err)
			}
			if r.Login.OK != 6 || r.MechUsed != "SCRAM-SHA-256" {
				t.Errorf("%d of 6 logged in with %q: %v", r.Login.OK, r.MechUsed, r.Login.Errors)
			}
			if c.check != nil {
				c.check(t, r)
			}
			if t.Failed() {
				t.Log(out.String())
			}
			if r.Load != nil {
				files = append(files, file)
			}
		})
	}
	var out, errb bytes.Buffer
	if code := run(append([]string{"table"}, files...), &out, &errb); code != 0 || strings.Count(out.String(), "\n") != len(files)+2 {
		t.Errorf("table: exit %d\n%s%s", code, out.String(), errb.String())
	}
}

func TestRawSplitter(t *testing.T) {
	stream := `<message to='a@b' id="x>y"><body>1 &lt; 2 &amp; a&gt;b</body><!-- c<d --></message> ` +
		`<iq type='get' id='p1' from='b'><ping xmlns='urn:xmpp:ping'/></iq>` + "\n\t" +
		`<presence/><r><![CDATA[<not a tag>]]></r><?pi x?><a><b/><c></c></a></stream:stream>`
	want := []string{
		`<message to='a@b' id="x>y"><body>1 &lt; 2 &amp; a&gt;b</body><!-- c<d --></message>`,
		`<iq type='get' id='p1' from='b'><ping xmlns='urn:xmpp:ping'/></iq>`,
		`<presence/>`,
		`<r><![CDATA[<not a tag>]]></r>`,
	}
	// Fed one byte at a time, and whole.
	for _, chunk := range []int{1, 7, len(stream)} {
		sp := &rawSplitter{buf: make([]byte, 8), max: 1 << 16}
		src := &chunkReader{b: []byte(stream), n: chunk}
		var got []string
		for {
			el, done, err := sp.next()
			if err != nil {
				t.Fatal(err)
			}
			if done {
				break
			}
			if el == nil {
				if err := sp.fill(src); err != nil {
					t.Fatalf("chunk %d: %v after %q", chunk, err, got)
				}
				continue
			}
			got = append(got, string(el))
		}
		// The processing instruction is its own "element" at the top: the
		// tool ignores what it does not know.
		if len(got) < len(want) {
			t.Fatalf("chunk %d: got %q", chunk, got)
		}
		for i, w := range want {
			if got[i] != w {
				t.Errorf("chunk %d: element %d = %q, want %q", chunk, i, got[i], w)
			}
		}
		if last := got[len(got)-1]; last != `<a><b/><c></c></a>` {
			t.Errorf("chunk %d: last element %q", chunk, last)
		}
	}
	sp := &rawSplitter{buf: []byte("text<x/>"), w: 8, max: 100}
	if _, _, err := sp.next(); err == nil {
		t.Error("text between stanzas accepted")
	}
}

type chunkReader struct {
	b []byte
	n int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, fmt.Errorf("end of test input")
	}
	n := copy(p[:min(len(p), c.n)], c.b)
	c.b = c.b[n:]
	return n, nil
}

func TestRawAttrAndConditions(t *testing.T) {
	el := []byte(`<iq  type = "error" id='a&apos;b' from='x@y/z'><error type='cancel'><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>t</text><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`)
	if got := rawAttr(el, "type"); got != "error" {
		t.Errorf("type = %q", got)
	}
	if got := rawAttr(el, "id"); got != "a'b" {
		t.Errorf("id = %q", got)
	}
	if got := rawAttr(el, "to"); got != "" {
		t.Errorf("to = %q", got)
	}
	if got := rawAttr([]byte(`<message><body type='x'/></message>`), "type"); got != "" {
		t.Errorf("an attribute of a child was found: %q", got)
	}
	if got := rawStanzaErrorCondition(el); got != "item-not-found" {
		t.Errorf("condition = %q", got)
	}
	se := []byte(`<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>`)
	if got := rawStreamErrorCondition(se); got != "conflict" {
		t.Errorf("stream condition = %q", got)
	}
}

func TestStamp(t *testing.T) {
	st := Stamp{Sched: 1700000000123456789, Write: 1700000000223456789, Sender: 42, Seq: 7}
	for _, pad := range []int{0, 100} {
		b := appendStamp([]byte("<body>"), st, pad)
		if len(b) < pad {
			t.Errorf("pad %d: %d bytes", pad, len(b))
		}
		got, ok := findStamp(append(b, "</body>"...))
		if !ok || got != st {
			t.Errorf("findStamp = %+v %v", got, ok)
		}
	}
	for _, bad := range []string{"", "~pb~", "~pb~1~2~3~", "~pb~1~2~3~x~", "~pb~~2~3~4~", "~pb~1~2~3~4"} {
		if _, ok := findStamp([]byte(bad)); ok {
			t.Errorf("findStamp(%q) accepted", bad)
		}
	}
	b, _ := json.Marshal(st)
	if len(b) == 0 {
		t.Fatal("marshal")
	}
}

// Provisioning other than Parley's own store: in-band registration against
// a real Parley, Prosody's account files, and a command per account.
func TestProvisionPeers(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server")
	}
	srv := xmpptest.Start(t, func(c *config.Config) {
		c.MUC.Enabled = false
		c.Register.Enabled = true
		c.Register.MaxPerIP = 100
	})
	provision := func(args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		if code := run(append([]string{"provision"}, args...), &out, &errb); code != 0 {
			t.Fatalf("provision %q: exit %d: %s%s", args, code, out.String(), errb.String())
		}
		return out.String()
	}
	ibr := []string{"-ibr", srv.StartTLSAddr, "-user", "ibr%d", "-password", "pw ibr", "-count", "3", "-workers", "2"}
	if out := provision(ibr...); !strings.Contains(out, "3 accounts created, 0 already existed") {
		t.Errorf("in-band registration: %s", out)
	}
	if out := provision(ibr...); !strings.Contains(out, "0 accounts created, 3 already existed") {
		t.Errorf("in-band registration again: %s", out)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"login-idle", "-addr", srv.StartTLSAddr, "-user", "ibr%d", "-password", "pw ibr", "-count", "3",
		"-hold", "100ms", "-settle", "0s", "-after-close", "0s"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "3 ok, 0 failed") {
		t.Errorf("login with registered accounts: exit %d\n%s%s", code, out.String(), errb.String())
	}

	dir := t.TempDir()
	if out := provision("-prosody", dir, "-count", "2", "-iterations", "4096", "-password", "pencil"); !strings.Contains(out, "2 accounts created") {
		t.Errorf("prosody: %s", out)
	}
	b, err := os.ReadFile(filepath.Join(dir, "localhost", "accounts", "user1.dat"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`["iteration_count"] = 4096;`, `["salt"] = "parley-bench-0f6c2a9e-sha-256";`, `["stored_key"] = "`, `["server_key"] = "`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("prosody account file lacks %s:\n%s", want, b)
		}
	}
	if got := prosodyEncode("a.b@c"); got != "a%2eb%40c" {
		t.Errorf("prosodyEncode = %q", got)
	}

	list := filepath.Join(dir, "list")
	if out := provision("-exec", "echo %u %h %p >> "+list, "-count", "2", "-password", "it's", "-workers", "1"); !strings.Contains(out, "2 accounts created") {
		t.Errorf("exec: %s", out)
	}
	if b, _ := os.ReadFile(list); string(b) != "user0 localhost it's\nuser1 localhost it's\n" {
		t.Errorf("exec ran: %q", b)
	}
}
