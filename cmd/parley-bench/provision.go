package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"parley.im/parley/auth"
	"parley.im/parley/storage"
	"parley.im/parley/storage/postgres"
	"parley.im/parley/storage/sqlite"
	"parley.im/parley/xmppcore"
)

// cmdProvision creates bench accounts directly in Parley's storage. `parley
// adduser` runs one PBKDF2 per account (three: one per SCRAM hash) and opens
// the store each time; for 10,000 accounts this derives the credentials once
// and stores the same credentials, salt included, for every account.
//
// That is for benchmarks only: accounts sharing a salt and a password have
// identical stored keys, which shows who shares a password and lets one
// precomputation attack them all. (It also lets parley-bench's SCRAM key
// cache log every account in with one client-side PBKDF2.)
func cmdProvision(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("parley-bench provision", flag.ContinueOnError)
	fs.SetOutput(stderr)
	store := fs.String("store", "", "Parley storage: sqlite:`PATH` (the server's database file) or postgres:DSN")
	prosodyDir := fs.String("prosody", "", "Prosody's data_path: write internal_hashed account files there (the server must use authentication = \"internal_hashed\")")
	prosodyHash := fs.String("prosody-hash", "SHA-256", "with -prosody: Prosody's password_hash, SHA-1 or SHA-256")
	ejabberdAPI := fs.String("ejabberd-api", "", "ejabberd mod_http_api base `URL` (e.g. http://127.0.0.1:5280/api): POST /register for each account")
	ibrAddr := fs.String("ibr", "", "register accounts in-band (XEP-0077) at this server `host:port`, one stream each")
	ibrTLS := fs.String("ibr-tls", "starttls", "with -ibr: starttls, direct or plaintext")
	execCmd := fs.String("exec", "", "run this `command` once per account (through sh -c), with %u, %h and %p replaced by the user, host and password: e.g. 'prosodyctl register %u %h %p' or 'ejabberdctl register %u %h %p'")
	domain := fs.String("domain", "localhost", "host (virtual host name in Parley's configuration)")
	pattern := fs.String("user", "user%d", "account name `pattern`, with one %d for the index")
	password := fs.String("password", "bench", "password of every account")
	first := fs.Int("first", 0, "index of the first account")
	count := fs.Int("count", 1000, "number of accounts")
	iterations := fs.Int("iterations", 10000, "PBKDF2 iterations (Parley's auth.scram_iterations)")
	workers := fs.Int("workers", 8, "accounts written concurrently (SQLite serializes writes anyway)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: parley-bench provision -store sqlite:PATH|postgres:DSN | -prosody DATA_PATH | -ejabberd-api URL | -ibr HOST:PORT | -exec CMD [flags]")
		fmt.Fprintln(stderr, "Creates accounts that all share one password and one salt: for benchmarks only.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	targets := 0
	for _, t := range []string{*store, *prosodyDir, *ejabberdAPI, *execCmd, *ibrAddr} {
		if t != "" {
			targets++
		}
	}
	if fs.NArg() != 0 || targets != 1 || *count < 1 || *first < 0 || *workers < 1 {
		fs.Usage()
		return 2
	}
	if strings.Count(*pattern, "%") != 1 || !strings.Contains(*pattern, "%d") {
		fmt.Fprintf(stderr, "parley-bench: -user %q: want exactly one %%d\n", *pattern)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	if *store == "" {
		p := &peerProvision{domain: *domain, password: *password, iterations: *iterations}
		var create func(ctx context.Context, user string) (bool, error)
		var err error
		switch {
		case *prosodyDir != "":
			create, err = p.prosody(*prosodyDir, *prosodyHash)
		case *ejabberdAPI != "":
			create = p.ejabberd(*ejabberdAPI)
		case *ibrAddr != "":
			switch m := TLSMode(*ibrTLS); m {
			case Plaintext, StartTLS, DirectTLS:
				create = p.ibr(*ibrAddr, m)
			default:
				fmt.Fprintf(stderr, "parley-bench: -ibr-tls %q: want starttls, direct or plaintext\n", *ibrTLS)
				return 2
			}
		default:
			create = p.exec(*execCmd)
		}
		if err != nil {
			fmt.Fprintln(stderr, "parley-bench:", err)
			return 1
		}
		return provisionEach(ctx, cancel, create, *pattern, *first, *count, *workers, *domain, stdout, stderr)
	}
	st, err := openStore(ctx, *store)
	if err != nil {
		fmt.Fprintln(stderr, "parley-bench:", err)
		return 1
	}
	defer st.Close()

	t0 := time.Now()
	creds, err := auth.DeriveCredentials(*password, *iterations)
	if err != nil {
		fmt.Fprintln(stderr, "parley-bench:", err)
		return 1
	}
	var created, existed atomic.Int64
	var firstErr error
	var errOnce sync.Once
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range *workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				err := st.CreateAccount(ctx, *domain, fmt.Sprintf(*pattern, i), creds)
				switch {
				case err == nil:
					created.Add(1)
				case errors.Is(err, storage.ErrConflict):
					existed.Add(1)
				default:
					errOnce.Do(func() { firstErr = err; cancel() })
				}
			}
		}()
	}
	progress := time.NewTicker(5 * time.Second)
	defer progress.Stop()
send:
	for i := *first; i < *first+*count; i++ {
		select {
		case jobs <- i:
		case <-ctx.Done():
			break send
		case <-progress.C:
			fmt.Fprintf(stderr, "provision: %d created, %d existed\n", created.Load(), existed.Load())
			i--
		}
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		fmt.Fprintln(stderr, "parley-bench: provision:", firstErr)
		return 1
	}
	fmt.Fprintf(stdout, "provision: %d accounts created, %d already existed (%s..%s@%s) in %.1f s\n",
		created.Load(), existed.Load(), fmt.Sprintf(*pattern, *first), fmt.Sprintf(*pattern, *first+*count-1), *domain, time.Since(t0).Seconds())
	return 0
}

// openStore opens sqlite:PATH or postgres:DSN and migrates the schema.
func openStore(ctx context.Context, spec string) (storage.Store, error) {
	kind, arg, ok := strings.Cut(spec, ":")
	if !ok || arg == "" {
		return nil, fmt.Errorf("-store %q: want sqlite:PATH or postgres:DSN", spec)
	}
	switch kind {
	case "sqlite":
		return sqlite.Open(ctx, arg)
	case "postgres", "postgresql":
		if kind == "postgresql" || strings.HasPrefix(arg, "//") {
			arg = kind + ":" + arg // a postgres:// URL given whole
		}
		return postgres.Open(ctx, postgres.Config{DSN: arg, MigrateOnOpen: true})
	}
	return nil, fmt.Errorf("-store %q: unknown backend %q (sqlite or postgres)", spec, kind)
}

// provisionEach creates accounts first..first+count-1 with create, workers
// at a time, and prints how many were created and how many existed.
func provisionEach(ctx context.Context, cancel context.CancelFunc, create func(ctx context.Context, user string) (bool, error),
	pattern string, first, count, workers int, domain string, stdout, stderr io.Writer) int {
	t0 := time.Now()
	var created, existed atomic.Int64
	var firstErr error
	var errOnce sync.Once
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				ok, err := create(ctx, fmt.Sprintf(pattern, i))
				switch {
				case err != nil:
					errOnce.Do(func() { firstErr = err; cancel() })
				case ok:
					created.Add(1)
				default:
					existed.Add(1)
				}
			}
		}()
	}
send:
	for i := first; i < first+count; i++ {
		select {
		case jobs <- i:
		case <-ctx.Done():
			break send
		}
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		fmt.Fprintln(stderr, "parley-bench: provision:", firstErr)
		return 1
	}
	fmt.Fprintf(stdout, "provision: %d accounts created, %d already existed (%s..%s@%s) in %.1f s\n",
		created.Load(), existed.Load(), fmt.Sprintf(pattern, first), fmt.Sprintf(pattern, first+count-1), domain, time.Since(t0).Seconds())
	return 0
}

// peerProvision creates accounts on other servers.
type peerProvision struct {
	domain, password string
	iterations       int
}

// prosody writes Prosody 0.12 internal_hashed account files
// (<data_path>/<host>/accounts/<user>.dat), all with one salt: the SCRAM
// keys are derived once. Prosody must not be running, or must not have
// cached the accounts yet.
func (p *peerProvision) prosody(dataPath, hashName string) (func(context.Context, string) (bool, error), error) {
	var h func() hash.Hash
	switch hashName {
	case "SHA-1":
		h = sha1.New
	case "SHA-256":
		h = sha256.New
	default:
		return nil, fmt.Errorf("-prosody-hash %q: want SHA-1 or SHA-256", hashName)
	}
	// A printable salt: Prosody keeps it as a Lua string and sends it as is.
	salt := "parley-bench-0f6c2a9e-" + strings.ToLower(hashName)
	salted, err := pbkdf2.Key(h, p.password, []byte(salt), p.iterations, h().Size())
	if err != nil {
		return nil, err
	}
	mac := func(key []byte, msg string) []byte { m := hmac.New(h, key); m.Write([]byte(msg)); return m.Sum(nil) }
	clientKey := mac(salted, "Client Key")
	sum := h()
	sum.Write(clientKey)
	storedKey, serverKey := sum.Sum(nil), mac(salted, "Server Key")
	body := fmt.Sprintf("return {\n\t[\"iteration_count\"] = %d;\n\t[\"salt\"] = %q;\n\t[\"server_key\"] = %q;\n\t[\"stored_key\"] = %q;\n};\n",
		p.iterations, salt, hex.EncodeToString(serverKey), hex.EncodeToString(storedKey))
	dir := filepath.Join(dataPath, prosodyEncode(p.domain), "accounts")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	return func(_ context.Context, user string) (bool, error) {
		f, err := os.OpenFile(filepath.Join(dir, prosodyEncode(user)+".dat"), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
		if errors.Is(err, os.ErrExist) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if _, err := io.WriteString(f, body); err != nil {
			f.Close()
			return false, err
		}
		return true, f.Close()
	}, nil
}

// prosodyEncode is Prosody's datamanager path encoding: every character
// other than ASCII letters and digits as %xx.
func prosodyEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02x", c)
		}
	}
	return b.String()
}

// ejabberd registers accounts through mod_http_api's register command.
func (p *peerProvision) ejabberd(base string) func(context.Context, string) (bool, error) {
	client := &http.Client{Timeout: 30 * time.Second}
	url := strings.TrimSuffix(base, "/") + "/register"
	return func(ctx context.Context, user string) (bool, error) {
		body, _ := json.Marshal(map[string]string{"user": user, "host": p.domain, "password": p.password})
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return false, err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return false, err
		}
		defer resp.Body.Close()
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		switch {
		case resp.StatusCode == http.StatusOK:
			return true, nil
		case resp.StatusCode == http.StatusConflict || bytes.Contains(msg, []byte("already")):
			return false, nil
		}
		return false, fmt.Errorf("%s: %s: %s", url, resp.Status, bytes.TrimSpace(msg))
	}
}

// exec runs a command per account.
func (p *peerProvision) exec(cmd string) func(context.Context, string) (bool, error) {
	return func(ctx context.Context, user string) (bool, error) {
		line := strings.NewReplacer("%u", shellQuote(user), "%h", shellQuote(p.domain), "%p", shellQuote(p.password)).Replace(cmd)
		out, err := osexec.CommandContext(ctx, "sh", "-c", line).CombinedOutput()
		if err != nil {
			if bytes.Contains(bytes.ToLower(out), []byte("exist")) {
				return false, nil
			}
			// The output may echo the command line: no password in errors.
			return false, fmt.Errorf("provisioning %s: %v", user, err)
		}
		return true, nil
	}
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// ibr registers accounts with XEP-0077 in-band registration before login:
// one stream per account (stream, TLS as asked, <iq type='set'> with
// username and password). The server must allow it (Parley:
// register.enabled with a high enough max_per_ip; Prosody:
// allow_registration; ejabberd: mod_register with ip_access).
func (p *peerProvision) ibr(addr string, mode TLSMode) func(context.Context, string) (bool, error) {
	cfg := &ClientConfig{
		Domain:    p.domain,
		TLS:       mode,
		TLSConfig: &tls.Config{ServerName: p.domain, InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}, //nolint:gosec // benchmark accounts on loopback
		MaxStanza: 1 << 16,
	}
	return func(ctx context.Context, user string) (bool, error) {
		var d net.Dialer
		nc, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return false, err
		}
		defer nc.Close()
		_ = nc.SetDeadline(time.Now().Add(30 * time.Second))
		s := &Session{nc: nc, c: nc, cfg: cfg}
		if mode == DirectTLS {
			if err := s.handshake(true); err != nil {
				return false, err
			}
		}
		features, err := s.openStream("register")
		if err != nil {
			return false, err
		}
		if mode == StartTLS {
			if features.Child(xmppcore.NSTLS, "starttls") == nil {
				return false, errors.New("the server offers no STARTTLS")
			}
			if err := s.send(`<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`); err != nil {
				return false, err
			}
			if el, err := s.next("starttls"); err != nil || !el.Is(xmppcore.NSTLS, "proceed") {
				return false, fmt.Errorf("STARTTLS refused: %v", err)
			}
			if err := s.handshake(false); err != nil {
				return false, err
			}
			if _, err := s.openStream("register"); err != nil {
				return false, err
			}
		}
		q := `<iq type='set' id='reg1'><query xmlns='jabber:iq:register'><username>` + xmppcore.EscapeAttr(user) +
			`</username><password>` + xmppcore.EscapeAttr(p.password) + `</password></query></iq>`
		if err := s.send(q); err != nil {
			return false, err
		}
		for {
			el, err := s.next("register")
			if err != nil {
				return false, err
			}
			if el.Local != "iq" || el.Attr("id") != "reg1" {
				continue
			}
			_ = s.send("</stream:stream>")
			switch cond := stanzaErrCond(el); {
			case el.Attr("type") == "result":
				return true, nil
			case cond == "conflict":
				return false, nil
			default:
				return false, fmt.Errorf("registering %s: %s", user, cond)
			}
		}
	}
}
