package upload

import (
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"parley.im/parley/internal/routertest"
)

func TestDiscoInfo(t *testing.T) {
	e := newEnv(t, Options{MaxFileSize: 5242880})
	res := e.iq(e.alice, `<query xmlns='http://jabber.org/protocol/disco#info'/>`)
	routertest.AssertXML(t, res, `<iq type='result' id='q1' from='upload.example.org' to='alice@example.org/phone'>
		<query xmlns='http://jabber.org/protocol/disco#info'>
			<identity category='store' type='file' name='HTTP File Upload'/>
			<feature var='http://jabber.org/protocol/disco#info'/>
			<feature var='http://jabber.org/protocol/disco#items'/>
			<feature var='urn:xmpp:ping'/>
			<feature var='urn:xmpp:http:upload:0'/>
			<x xmlns='jabber:x:data' type='result'>
				<field var='FORM_TYPE' type='hidden'><value>urn:xmpp:http:upload:0</value></field>
				<field var='max-file-size'><value>5242880</value></field>
			</x>
		</query></iq>`)
	if d := e.u.Domains(); !slices.Equal(d, []string{svc}) {
		t.Errorf("Domains() = %v", d)
	}
	// Unknown payloads and addresses under the service.
	if _, c := errorCondition(e.iq(e.alice, `<query xmlns='jabber:iq:version'/>`)); c != "service-unavailable" {
		t.Errorf("version query: %s", c)
	}
}

func TestPutAndGet(t *testing.T) {
	e := newEnv(t, Options{Expiry: 24 * time.Hour})
	data := strings.Repeat("0123456789", 100)
	put, get := e.slot(e.alice, "très cool.png", len(data), "image/png")
	if !strings.HasPrefix(get, e.srv.URL+"/upload/") || !strings.HasSuffix(get, "/tr%C3%A8s%20cool.png") {
		t.Errorf("GET URL %s", get)
	}
	if !strings.HasPrefix(put, get+"?") {
		t.Errorf("PUT URL %s does not extend GET URL %s", put, get)
	}
	// Not there before the PUT.
	if resp, _ := e.do("GET", get, "", ""); resp.StatusCode != 404 {
		t.Fatalf("GET before PUT: %d", resp.StatusCode)
	}
	resp, _ := e.do("PUT", put, "image/png", data)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT: %d", resp.StatusCode)
	}
	if got := e.u.Usage("alice@example.org"); got != int64(len(data)) {
		t.Errorf("usage %d, want %d", got, len(data))
	}

	resp, body := e.do("GET", get, "", "")
	if resp.StatusCode != 200 || body != data {
		t.Fatalf("GET: %d %q", resp.StatusCode, body[:min(len(body), 20)])
	}
	h := resp.Header
	for k, want := range map[string]string{
		"Content-Type":                "image/png",
		"Content-Length":              strconv.Itoa(len(data)),
		"Etag":                        `"` + strings.Split(strings.TrimPrefix(get, e.srv.URL+"/upload/"), "/")[0] + `"`,
		"Last-Modified":               "Fri, 01 May 2026 12:00:00 GMT",
		"Cache-Control":               "public, max-age=86400, immutable",
		"Content-Disposition":         "inline; filename*=utf-8''tr%C3%A8s%20cool.png",
		"X-Content-Type-Options":      "nosniff",
		"Access-Control-Allow-Origin": "*",
		"Accept-Ranges":               "bytes",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if !strings.Contains(h.Get("Content-Security-Policy"), "sandbox") {
		t.Errorf("CSP %q", h.Get("Content-Security-Policy"))
	}

	// Range, conditional and HEAD requests.
	resp, body = e.do("GET", get, "", "", "Range", "bytes=10-19")
	if resp.StatusCode != http.StatusPartialContent || body != "0123456789" ||
		resp.Header.Get("Content-Range") != "bytes 10-19/1000" {
		t.Errorf("range: %d %q %q", resp.StatusCode, body, resp.Header.Get("Content-Range"))
	}
	resp, _ = e.do("GET", get, "", "", "Range", "bytes=2000-")
	if resp.StatusCode != http.StatusRequestedRangeNotSatisfiable {
		t.Errorf("range beyond the end: %d", resp.StatusCode)
	}
	resp, _ = e.do("GET", get, "", "", "If-None-Match", h.Get("Etag"))
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match: %d", resp.StatusCode)
	}
	resp, body = e.do("HEAD", get, "", "")
	if resp.StatusCode != 200 || body != "" || resp.Header.Get("Content-Length") != "1000" {
		t.Errorf("HEAD: %d %q %q", resp.StatusCode, body, resp.Header.Get("Content-Length"))
	}
	// Another user downloads it too; the name must match.
	if resp, _ := e.do("GET", strings.TrimSuffix(get, ".png")+".html", "", ""); resp.StatusCode != 404 {
		t.Errorf("GET with another name: %d", resp.StatusCode)
	}
	// The file is on disk under the id, never under the user's name.
	id := strings.Split(strings.TrimPrefix(get, e.srv.URL+"/upload/"), "/")[0]
	if b, err := os.ReadFile(filepath.Join(e.dir, id, "data")); err != nil || string(b) != data {
		t.Errorf("stored data: %v", err)
	}
}

func TestDangerousTypesAreAttachments(t *testing.T) {
	e := newEnv(t, Options{})
	for i, ct := range []string{"text/html", "image/svg+xml", "application/xhtml+xml", "text/javascript", "application/octet-stream", "text/xml; charset=utf-8"} {
		put, get := e.slot(e.alice, "x"+strconv.Itoa(i), 4, ct)
		if resp, _ := e.do("PUT", put, ct, "<b/>"); resp.StatusCode != 201 {
			t.Fatalf("%s: PUT %d", ct, resp.StatusCode)
		}
		resp, _ := e.do("GET", get, "", "")
		if d := resp.Header.Get("Content-Disposition"); !strings.HasPrefix(d, "attachment;") {
			t.Errorf("%s: Content-Disposition %q", ct, d)
		}
		if c := resp.Header.Get("Content-Type"); c != ct {
			t.Errorf("%s: Content-Type %q", ct, c)
		}
	}
}

func TestSlotErrors(t *testing.T) {
	e := newEnv(t, Options{MaxFileSize: 1000})
	req := func(name, size, ctype string) string {
		return `<request xmlns='urn:xmpp:http:upload:0' filename='` + name + `' size='` + size + `' content-type='` + ctype + `'/>`
	}
	for i, tc := range []struct {
		payload   string
		typ, cond string
	}{
		{req("a.txt", "1001", "text/plain"), "modify", "not-acceptable"},
		{req("a.txt", "0", "text/plain"), "modify", "bad-request"},
		{req("a.txt", "-5", "text/plain"), "modify", "bad-request"},
		{req("a.txt", "ten", "text/plain"), "modify", "bad-request"},
		{req("a.txt", "10", "text"), "modify", "bad-request"},
		{req("a.txt", "10", "text/plain; ="), "modify", "bad-request"},
		{`<request xmlns='urn:xmpp:http:upload:0' size='10'/>`, "modify", "not-acceptable"},
		{req("../../etc/passwd", "10", ""), "modify", "not-acceptable"},
		{req("a/b", "10", ""), "modify", "not-acceptable"},
		{req(`a\b`, "10", ""), "modify", "not-acceptable"},
		{req("..", "10", ""), "modify", "not-acceptable"},
		{req(".", "10", ""), "modify", "not-acceptable"},
		{req("/etc/passwd", "10", ""), "modify", "not-acceptable"},
		{req("a&#x9;b", "10", ""), "modify", "not-acceptable"},
		{req("a&#xA;b", "10", ""), "modify", "not-acceptable"},
		{req("invoice\u202Efdp.exe", "10", ""), "modify", "not-acceptable"}, // right-to-left override
		{req("a\u200Bb", "10", ""), "modify", "not-acceptable"},             // zero-width space
		{req("e\u0301.txt", "10", ""), "modify", "not-acceptable"},          // not NFC
		{req("\uE000.txt", "10", ""), "modify", "not-acceptable"},           // private use
		{req(" a.txt", "10", ""), "modify", "not-acceptable"},
		{req(strings.Repeat("é", 128), "10", ""), "modify", "not-acceptable"}, // 256 bytes
		{`<request xmlns='urn:xmpp:http:upload:0' filename='a' size='10'><ephemeral xmlns='urn:xmpp:http:upload:purpose:0' expire-before='2020-01-01T00:00:00Z'/></request>`, "modify", "not-acceptable"},
		{`<slot xmlns='urn:xmpp:http:upload:0'/>`, "cancel", "service-unavailable"},
	} {
		res := e.iq(e.alice, tc.payload)
		if typ, cond := errorCondition(res); typ != tc.typ || cond != tc.cond {
			t.Errorf("%d: %s: got %s/%s, want %s/%s", i, tc.payload, typ, cond, tc.typ, tc.cond)
		}
	}
	// file-too-large carries the maximum.
	res := e.iq(e.alice, req("a.txt", "1001", "text/plain"))
	ftl := res.Child("", "error").Child(NS, "file-too-large")
	if ftl == nil || ftl.ChildText(NS, "max-file-size") != "1000" {
		t.Errorf("file-too-large: %s", res)
	}
	if e.u.Usage("alice@example.org") != 0 {
		t.Errorf("refused requests hold quota: %d", e.u.Usage("alice@example.org"))
	}
	// A user of another server may not upload.
	st := routertest.Stanza(t, e.alice, `<iq type='get' id='x' to='upload.example.org'>`+req("a", "1", "")+`</iq>`)
	st.From = jid.MustParse("mallory@evil.example/x")
	if res, se, _ := e.u.requestSlot(st, host, st.El.FirstChild()); res != nil || se.Condition != stanza.Forbidden {
		t.Errorf("remote user: %v %v", res, se)
	}
}

func TestValidNameAccepts(t *testing.T) {
	for _, n := range []string{"a.txt", "très cool.jpg", "файл.pdf", "写真 1.png", "a b-c_d (1).tar.gz", "...", ".hidden", "%2e%2e"} {
		if why := validName(n); why != "" {
			t.Errorf("%q refused: %s", n, why)
		}
	}
}

func TestPutErrors(t *testing.T) {
	e := newEnv(t, Options{SlotTimeout: 5 * time.Minute})
	put, get := e.slot(e.alice, "a.txt", 5, "text/plain")
	u, _ := url.Parse(put)
	q := u.Query()
	forge := func(k, v string) string {
		q2 := url.Values{}
		for kk, vv := range q {
			q2[kk] = vv
		}
		q2.Set(k, v)
		u2 := *u
		u2.RawQuery = q2.Encode()
		return u2.String()
	}
	otherName := strings.Replace(put, "/a.txt?", "/b.txt?", 1)
	for i, tc := range []struct {
		url, ctype, body string
		status           int
	}{
		{forge("s", "AAAA"), "text/plain", "hello", 403},
		{forge("e", strconv.FormatInt(e.clock.Now().Add(time.Hour).Unix(), 10)), "text/plain", "hello", 403},
		{forge("e", "x"), "text/plain", "hello", 403},
		{get, "text/plain", "hello", 403},       // no signature at all
		{otherName, "text/plain", "hello", 403}, // signature for another name
		{e.srv.URL + "/upload/" + newID() + "/a.txt?" + u.RawQuery, "text/plain", "hello", 403},
		{put, "text/plain", "hello!", 413},
		{put, "text/plain", "hell", 400},
		{put, "text/html", "hello", 400},
		{put, "", "hello", 400},
	} {
		resp, _ := e.do("PUT", tc.url, tc.ctype, tc.body)
		if resp.StatusCode != tc.status {
			t.Errorf("%d: PUT %s: %d, want %d", i, tc.url, resp.StatusCode, tc.status)
		}
	}
	// No length: chunked encoding.
	req, _ := http.NewRequest("PUT", put, io.MultiReader(strings.NewReader("hel"), strings.NewReader("lo")))
	req.Header.Set("Content-Type", "text/plain")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusLengthRequired {
		t.Errorf("chunked PUT: %d", resp.StatusCode)
	}
	// None of that used the slot: the right PUT works, once.
	if resp, _ := e.do("PUT", put, "text/plain; charset=utf-8", "hello"); resp.StatusCode != 400 {
		t.Errorf("PUT with other parameters: %d", resp.StatusCode)
	}
	if resp, _ := e.do("PUT", put, "text/plain", "hello"); resp.StatusCode != 201 {
		t.Fatalf("PUT: %d", resp.StatusCode)
	}
	if resp, _ := e.do("PUT", put, "text/plain", "HELLO"); resp.StatusCode != 403 {
		t.Errorf("replayed PUT: %d", resp.StatusCode)
	}
	if resp, body := e.do("GET", get, "", ""); body != "hello" {
		t.Errorf("GET after replay: %d %q", resp.StatusCode, body)
	}

	// An expired slot.
	put, _ = e.slot(e.alice, "b.txt", 5, "")
	e.clock.Advance(5 * time.Minute)
	if resp, _ := e.do("PUT", put, "", "hello"); resp.StatusCode != 403 {
		t.Errorf("expired PUT: %d", resp.StatusCode)
	}
	if got := e.u.Usage("alice@example.org"); got != 5 {
		t.Errorf("usage after expired slot: %d", got)
	}
	// Methods.
	if resp, _ := e.do("DELETE", get, "", ""); resp.StatusCode != 405 || resp.Header.Get("Allow") == "" {
		t.Errorf("DELETE: %d", resp.StatusCode)
	}
}

func TestSlotWithoutTypeKeepsPutType(t *testing.T) {
	e := newEnv(t, Options{})
	put, get := e.slot(e.alice, "a.jpg", 3, "")
	if resp, _ := e.do("PUT", put, "image/jpeg", "abc"); resp.StatusCode != 201 {
		t.Fatalf("PUT %d", resp.StatusCode)
	}
	if resp, _ := e.do("GET", get, "", ""); resp.Header.Get("Content-Type") != "image/jpeg" {
		t.Errorf("type %q", resp.Header.Get("Content-Type"))
	}
	put, get = e.slot(e.alice, "b", 3, "")
	if resp, _ := e.do("PUT", put, "", "abc"); resp.StatusCode != 201 {
		t.Fatalf("PUT %d", resp.StatusCode)
	}
	if resp, _ := e.do("GET", get, "", ""); resp.Header.Get("Content-Type") != "application/octet-stream" {
		t.Errorf("type %q", resp.Header.Get("Content-Type"))
	}
}

// TestTraversal sends path tricks to both methods: nothing is read or
// written outside the upload directory, which sits next to a secret file.
func TestTraversal(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "uploads")
	secret := filepath.Join(parent, "secret")
	if err := os.WriteFile(secret, []byte("SECRET"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, Options{Dir: dir})
	put, _ := e.slot(e.alice, "a.txt", 6, "")
	q := put[strings.Index(put, "?"):]
	id := newID()
	for _, p := range []string{
		"/upload/../secret", "/upload/..%2fsecret", "/upload/%2e%2e/secret", "/upload/%2e%2e%2fsecret",
		"/upload/" + id + "/..%2f..%2fsecret", "/upload/..%2f..%2fsecret/x", "/upload/" + id + "/../../secret",
		"/upload/" + id + "/%2e%2e", "/upload//etc/passwd", "/upload/" + strings.ToUpper(id) + "/a.txt",
		"/upload/" + id + "%00/a.txt", "/upload/" + id + "/a.txt/..", "/upload/x/../" + id + "/a.txt",
	} {
		for _, m := range []string{"GET", "PUT"} {
			req, err := http.NewRequest(m, e.srv.URL+"/", strings.NewReader("HACKED"))
			if err != nil {
				t.Fatal(err)
			}
			req.URL.RawPath, req.URL.Path = "", ""
			req.URL.Opaque = "//" + req.URL.Host + p // sent as written, not cleaned by the client
			if m == "PUT" {
				req.URL.RawQuery = q[1:]
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode < 300 || strings.Contains(string(b), "SECRET") {
				t.Errorf("%s %s: %d %q", m, p, resp.StatusCode, b)
			}
		}
	}
	if b, _ := os.ReadFile(secret); string(b) != "SECRET" {
		t.Errorf("secret overwritten: %q", b)
	}
	entries, _ := os.ReadDir(parent)
	if len(entries) != 2 {
		t.Errorf("files created next to the upload directory: %v", entries)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("files created in the upload directory: %v", entries)
	}
}

func TestCORSPreflight(t *testing.T) {
	e := newEnv(t, Options{})
	put, get := e.slot(e.alice, "a.txt", 1, "")
	for _, u := range []string{put, get} {
		resp, _ := e.do("OPTIONS", u, "", "", "Origin", "https://chat.example.net",
			"Access-Control-Request-Method", "PUT", "Access-Control-Request-Headers", "content-type")
		h := resp.Header
		if resp.StatusCode != 204 || h.Get("Access-Control-Allow-Origin") != "*" ||
			!strings.Contains(h.Get("Access-Control-Allow-Methods"), "PUT") ||
			!strings.Contains(h.Get("Access-Control-Allow-Methods"), "GET") ||
			!strings.Contains(h.Get("Access-Control-Allow-Headers"), "Content-Type") ||
			h.Get("Access-Control-Max-Age") == "" {
			t.Errorf("preflight: %d %v", resp.StatusCode, h)
		}
	}
	// The slot is untouched by the preflight.
	if resp, _ := e.do("PUT", put, "", "x", "Origin", "https://chat.example.net"); resp.StatusCode != 201 ||
		resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("PUT after preflight: %d %v", resp.StatusCode, resp.Header)
	}
}

func TestQuota(t *testing.T) {
	e := newEnv(t, Options{Quota: 100, Expiry: time.Hour})
	put, _ := e.slot(e.alice, "a", 60, "")
	if resp, _ := e.do("PUT", put, "", strings.Repeat("a", 60)); resp.StatusCode != 201 {
		t.Fatalf("PUT %d", resp.StatusCode)
	}
	e.clock.Advance(10 * time.Minute)
	put2, _ := e.slot(e.alice, "b", 30, "") // pending: counts too
	res := e.iq(e.alice, `<request xmlns='urn:xmpp:http:upload:0' filename='c' size='20'/>`)
	if typ, cond := errorCondition(res); typ != "wait" || cond != "resource-constraint" {
		t.Fatalf("over quota: %s", res)
	}
	// Enough is freed when the pending slot expires, 5 minutes from now.
	retry := res.Child("", "error").Child(NS, "retry")
	if retry == nil || retry.Attr("stamp") != "2026-05-01T12:15:01Z" {
		t.Errorf("retry: %s", res)
	}
	// Bob has his own quota.
	e.slot(e.bob, "c", 100, "")
	// Larger than the quota itself: no retry can help.
	res = e.iq(e.alice, `<request xmlns='urn:xmpp:http:upload:0' filename='c' size='101'/>`)
	if _, cond := errorCondition(res); cond != "resource-constraint" || res.Child("", "error").Child(NS, "retry") != nil {
		t.Errorf("larger than the quota: %s", res)
	}
	// Using the pending slot, then a request that only fits once the
	// first file expires.
	if resp, _ := e.do("PUT", put2, "", strings.Repeat("b", 30)); resp.StatusCode != 201 {
		t.Fatalf("PUT %d", resp.StatusCode)
	}
	res = e.iq(e.alice, `<request xmlns='urn:xmpp:http:upload:0' filename='c' size='50'/>`)
	if retry := res.Child("", "error").Child(NS, "retry"); retry == nil || retry.Attr("stamp") != "2026-05-01T13:00:01Z" {
		t.Errorf("retry: %s", res)
	}
	e.clock.Advance(50 * time.Minute)
	e.u.Sweep()
	e.slot(e.alice, "c", 50, "")
}

func TestPendingSlotsBounded(t *testing.T) {
	e := newEnv(t, Options{MaxPendingSlots: 3})
	for i := range 3 {
		e.slot(e.alice, "f"+strconv.Itoa(i), 1, "")
	}
	res := e.iq(e.alice, `<request xmlns='urn:xmpp:http:upload:0' filename='x' size='1'/>`)
	if _, cond := errorCondition(res); cond != "resource-constraint" {
		t.Errorf("fourth pending slot: %s", res)
	}
	e.slot(e.bob, "x", 1, "")
}

func TestExpirySweep(t *testing.T) {
	e := newEnv(t, Options{Expiry: time.Hour})
	put, get := e.slot(e.alice, "a.txt", 3, "")
	if resp, _ := e.do("PUT", put, "", "abc"); resp.StatusCode != 201 {
		t.Fatalf("PUT %d", resp.StatusCode)
	}
	id := strings.Split(strings.TrimPrefix(get, e.srv.URL+"/upload/"), "/")[0]
	e.clock.Advance(59 * time.Minute)
	e.u.Sweep()
	resp, _ := e.do("GET", get, "", "")
	if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "public, max-age=60, immutable" {
		t.Errorf("GET before expiry: %d %q", resp.StatusCode, resp.Header.Get("Cache-Control"))
	}
	e.clock.Advance(time.Minute)
	e.u.Sweep()
	if resp, _ := e.do("GET", get, "", ""); resp.StatusCode != 404 {
		t.Errorf("GET after expiry: %d", resp.StatusCode)
	}
	if _, err := os.Stat(filepath.Join(e.dir, id)); !os.IsNotExist(err) {
		t.Errorf("expired file still on disk: %v", err)
	}
	if got := e.u.Usage("alice@example.org"); got != 0 {
		t.Errorf("usage after expiry: %d", got)
	}
}

func TestReloadFromDisk(t *testing.T) {
	dir := t.TempDir()
	e := newEnv(t, Options{Dir: dir})
	put, get := e.slot(e.alice, "a.txt", 3, "text/plain")
	if resp, _ := e.do("PUT", put, "text/plain", "abc"); resp.StatusCode != 201 {
		t.Fatalf("PUT %d", resp.StatusCode)
	}
	put2, _ := e.slot(e.alice, "b.txt", 3, "")
	// What a crash during an upload leaves, and a stranger's file.
	partial := filepath.Join(dir, newID())
	os.Mkdir(partial, 0o750)
	os.WriteFile(filepath.Join(partial, "data.part"), []byte("ab"), 0o640)
	os.WriteFile(filepath.Join(dir, "README"), []byte("keep"), 0o640)

	e2 := newEnv(t, Options{Dir: dir})
	get2 := strings.Replace(get, e.srv.URL, e2.srv.URL, 1)
	if resp, body := e2.do("GET", get2, "", ""); resp.StatusCode != 200 || body != "abc" || resp.Header.Get("Content-Type") != "text/plain" {
		t.Errorf("GET after reload: %d %q", resp.StatusCode, body)
	}
	if got := e2.u.Usage("alice@example.org"); got != 3 {
		t.Errorf("usage after reload: %d", got)
	}
	if _, err := os.Stat(partial); !os.IsNotExist(err) {
		t.Errorf("partial upload kept: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "README")); err != nil {
		t.Errorf("stranger's file removed: %v", err)
	}
	// Slots do not survive a restart.
	put2 = strings.Replace(put2, e.srv.URL, e2.srv.URL, 1)
	if resp, _ := e2.do("PUT", put2, "", "abc"); resp.StatusCode != 403 {
		t.Errorf("PUT of a slot from before the restart: %d", resp.StatusCode)
	}
}

// TestRequestFloodBounded holds the only request slot with a PUT whose body
// never ends: other requests get 503 until it is done.
func TestRequestFloodBounded(t *testing.T) {
	e := newEnv(t, Options{MaxConcurrent: 1})
	put, get := e.slot(e.alice, "a", 10, "")
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("PUT", put, pr)
	req.ContentLength = 10
	done := make(chan int)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	pw.Write([]byte("01234"))
	for len(e.u.sem) == 0 {
		time.Sleep(time.Millisecond) // until the PUT holds the slot
	}
	if resp, _ := e.do("GET", get, "", ""); resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("GET during the PUT: %d", resp.StatusCode)
	}
	pw.Write([]byte("56789"))
	pw.Close()
	if st := <-done; st != 201 {
		t.Fatalf("PUT: %d", st)
	}
	for len(e.u.sem) != 0 {
		time.Sleep(time.Millisecond) // the handler returns just after answering
	}
	if resp, body := e.do("GET", get, "", ""); resp.StatusCode != 200 || body != "0123456789" {
		t.Errorf("GET after the PUT: %d %q", resp.StatusCode, body)
	}
}

// TestIncompletePutReleasesSlot: a PUT cut short leaves nothing and the
// slot can be used again until it expires.
func TestIncompletePutReleasesSlot(t *testing.T) {
	e := newEnv(t, Options{})
	put, get := e.slot(e.alice, "a", 10, "")
	busy := func() bool {
		e.u.mu.Lock()
		defer e.u.mu.Unlock()
		for _, s := range e.u.slots {
			if s.busy {
				return true
			}
		}
		return false
	}
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("PUT", put, pr)
	req.ContentLength = 10
	done := make(chan struct{})
	go func() {
		defer close(done)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	pw.Write([]byte("01234"))
	for !busy() {
		time.Sleep(time.Millisecond) // until the server is storing it
	}
	pw.CloseWithError(io.ErrUnexpectedEOF)
	<-done
	for busy() {
		time.Sleep(time.Millisecond) // until the server has given it back
	}
	if resp, _ := e.do("PUT", put, "", "0123456789"); resp.StatusCode != 201 {
		t.Fatalf("PUT after an incomplete one: %d", resp.StatusCode)
	}
	if _, body := e.do("GET", get, "", ""); body != "0123456789" {
		t.Errorf("GET: %q", body)
	}
}
