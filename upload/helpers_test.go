package upload

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"parley.im/parley/internal/routertest"
	"parley.im/parley/internal/storetest"
	"parley.im/parley/module"
	"parley.im/parley/router"
	"parley.im/parley/xmppcore"
)

const (
	host = "example.org"
	svc  = "upload.example.org"
)

type env struct {
	t     testing.TB
	u     *Upload
	r     *router.Router
	clock *storetest.Clock
	srv   *httptest.Server
	dir   string
	alice *routertest.Session
	bob   *routertest.Session
}

// newEnv runs the module against a real router and registry, with its
// handler on a real HTTP server under /upload/.
func newEnv(t testing.TB, opts Options) *env {
	t.Helper()
	e := &env{t: t, clock: storetest.NewClock(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))}
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	e.dir = opts.Dir
	opts.Now = e.clock.Now
	opts.Secret = []byte("0123456789abcdef0123456789abcdef")
	opts.SweepInterval = time.Hour
	mux := http.NewServeMux()
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	opts.BaseURL = func(h string) string {
		if h != host {
			t.Errorf("BaseURL(%q)", h)
		}
		return e.srv.URL + "/upload/"
	}
	e.u = New(opts)
	mux.Handle("/upload/", http.StripPrefix("/upload", e.u.Handler()))
	e.r = router.New(router.Config{Hosts: []string{host},
		AccountExists: routertest.Accounts("alice@example.org", "bob@example.org")})
	reg := module.NewRegistry(module.Env{Router: e.r, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := reg.Add(e.u); err != nil {
		t.Fatal(err)
	}
	if err := reg.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Stop(context.Background()) })
	e.alice = routertest.Bind(t, e.r, "alice@example.org/phone")
	e.bob = routertest.Bind(t, e.r, "bob@example.org/pc")
	return e
}

// iq sends an IQ from s to the service and returns the answer.
func (e *env) iq(s *routertest.Session, payload string) *xmppcore.Element {
	e.t.Helper()
	s.Take()
	e.r.Route(e.t.Context(), routertest.Stanza(e.t, s, `<iq type='get' id='q1' to='`+svc+`'>`+payload+`</iq>`))
	return s.TakeOne(e.t)
}

// slot asks for a slot and returns its PUT and GET URLs.
func (e *env) slot(s *routertest.Session, name string, size int, ctype string) (put, get string) {
	e.t.Helper()
	res := e.iq(s, `<request xmlns='urn:xmpp:http:upload:0' filename='`+xmppcore.EscapeAttr(name)+
		`' size='`+strconv.Itoa(size)+`' content-type='`+ctype+`'/>`)
	sl := res.Child(NS, "slot")
	if res.Attr("type") != "result" || sl == nil {
		e.t.Fatalf("slot request: %s", res)
	}
	return sl.Child(NS, "put").Attr("url"), sl.Child(NS, "get").Attr("url")
}

// do sends an HTTP request and returns the response with its body read.
func (e *env) do(method, url, ctype string, body string, hdr ...string) (*http.Response, string) {
	e.t.Helper()
	var rd io.Reader
	if body != "" || method == http.MethodPut {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp, string(b)
}

// errorCondition returns the stanza error condition of an IQ error.
func errorCondition(el *xmppcore.Element) (typ, cond string) {
	er := el.Child("", "error")
	if el.Attr("type") != "error" || er == nil {
		return "", ""
	}
	for c := range er.Children() {
		if c.Space == xmppcore.NSStanzas && c.Local != "text" {
			return er.Attr("type"), c.Local
		}
	}
	return er.Attr("type"), ""
}
