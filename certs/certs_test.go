package certs

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"parley.im/parley/config"
)

// pair is a certificate and key written to disk for a test.
type pair struct {
	certFile, keyFile string
	cert              *x509.Certificate
	key               *ecdsa.PrivateKey
}

type pairOpts struct {
	names               []string
	notBefore, notAfter time.Time
	issuer              *pair // nil: self-signed
	isCA                bool
}

func writePair(t *testing.T, dir, base string, o pairOpts) *pair {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if o.notBefore.IsZero() {
		o.notBefore = time.Now().Add(-time.Hour)
	}
	if o.notAfter.IsZero() {
		o.notAfter = time.Now().Add(90 * 24 * time.Hour)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: base},
		DNSNames:              o.names,
		NotBefore:             o.notBefore,
		NotAfter:              o.notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  o.isCA,
	}
	parent, signer := tmpl, key
	if o.issuer != nil {
		parent, signer = o.issuer.cert, o.issuer.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	p := &pair{certFile: filepath.Join(dir, base+".crt"), keyFile: filepath.Join(dir, base+".key"), cert: cert, key: key}
	chain := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if o.issuer != nil {
		chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: o.issuer.cert.Raw})...)
	}
	if err := os.WriteFile(p.certFile, chain, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func testConfig(t *testing.T, hosts ...config.Host) *config.Config {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	if len(hosts) > 0 {
		cfg.Hosts = hosts
	}
	return cfg
}

// logBuffer captures log output; safe for the concurrent test.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newManager(t *testing.T, cfg *config.Config) (*Manager, *logBuffer) {
	t.Helper()
	var logs logBuffer
	m, err := New(cfg, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs.String(), "PRIVATE") {
		t.Errorf("key material in logs:\n%s", logs.String())
	}
	return m, &logs
}

func mustCert(t *testing.T, m *Manager, host string) *tls.Certificate {
	t.Helper()
	c, err := m.Certificate(host)
	if err != nil {
		t.Fatal(err)
	}
	if c.Leaf == nil {
		t.Fatal("Leaf not set")
	}
	return c
}

func TestGenerateAndReuse(t *testing.T) {
	cfg := testConfig(t)
	m, logs := newManager(t, cfg)
	c := mustCert(t, m, "localhost")

	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "SELF-SIGNED") {
		t.Errorf("no loud self-signed warning in logs:\n%s", logs)
	}
	leaf := c.Leaf
	if !slices.Equal(leaf.DNSNames, []string{"localhost", "*.localhost"}) {
		t.Errorf("DNSNames = %v", leaf.DNSNames)
	}
	if k, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok || k.Curve != elliptic.P256() {
		t.Errorf("public key %T, want ECDSA P-256", leaf.PublicKey)
	}
	if life := time.Until(leaf.NotAfter); life < 364*24*time.Hour || life > 366*24*time.Hour {
		t.Errorf("validity %v, want about a year", life)
	}
	if err := leaf.VerifyHostname("conference.localhost"); err != nil {
		t.Errorf("wildcard SAN missing: %v", err)
	}

	for path, want := range map[string]os.FileMode{
		cfg.CertDir(): 0o700 | os.ModeDir,
		filepath.Join(cfg.CertDir(), "localhost.key"): 0o600,
	} {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode() != want {
			t.Errorf("%s: mode %v, want %v", path, st.Mode(), want)
		}
	}

	m2, _ := newManager(t, cfg)
	if c2 := mustCert(t, m2, "localhost"); !bytes.Equal(c.Certificate[0], c2.Certificate[0]) {
		t.Error("second New generated a new certificate instead of reusing the first")
	}
}

func TestGeneratedReplacedWhenDue(t *testing.T) {
	for name, prepare := range map[string]func(dir string){
		"expiring": func(dir string) {
			writePair(t, dir, "localhost", pairOpts{names: []string{"localhost"}, notAfter: time.Now().Add(10 * 24 * time.Hour)})
		},
		"expired": func(dir string) {
			writePair(t, dir, "localhost", pairOpts{names: []string{"localhost"}, notBefore: time.Now().Add(-48 * time.Hour), notAfter: time.Now().Add(-24 * time.Hour)})
		},
		"wrong name": func(dir string) {
			writePair(t, dir, "localhost", pairOpts{names: []string{"other.example"}})
		},
		"corrupt": func(dir string) {
			writePair(t, dir, "localhost", pairOpts{names: []string{"localhost"}})
			os.WriteFile(filepath.Join(dir, "localhost.crt"), []byte("garbage"), 0o644)
		},
		"key lost": func(dir string) {
			writePair(t, dir, "localhost", pairOpts{names: []string{"localhost"}})
			os.Remove(filepath.Join(dir, "localhost.key"))
		},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig(t)
			if err := os.MkdirAll(cfg.CertDir(), 0o700); err != nil {
				t.Fatal(err)
			}
			prepare(cfg.CertDir())
			m, _ := newManager(t, cfg)
			leaf := mustCert(t, m, "localhost").Leaf
			if time.Until(leaf.NotAfter) < 364*24*time.Hour || !slices.Contains(leaf.DNSNames, "*.localhost") {
				t.Errorf("not regenerated: %v %v", leaf.DNSNames, leaf.NotAfter)
			}
		})
	}
}

func TestConfiguredPair(t *testing.T) {
	dir := t.TempDir()
	ca := writePair(t, dir, "ca", pairOpts{isCA: true})
	p := writePair(t, dir, "example.org", pairOpts{names: []string{"example.org", "*.example.org"}, issuer: ca})
	cfg := testConfig(t, config.Host{Name: "example.org", Cert: p.certFile, Key: p.keyFile})
	m, logs := newManager(t, cfg)

	c := mustCert(t, m, "example.org")
	if !c.Leaf.Equal(p.cert) || len(c.Certificate) != 2 {
		t.Errorf("served %d certificates, leaf %v; want the file's chain of 2", len(c.Certificate), c.Leaf.Subject)
	}
	if strings.Contains(logs.String(), "SELF-SIGNED") {
		t.Error("self-signed warning for a configured certificate")
	}
	if _, err := os.Stat(cfg.CertDir()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("cert dir created although no host needs it: %v", err)
	}
}

// With GODEBUG=x509keypairleaf=0, tls.X509KeyPair leaves Leaf nil; the
// manager must still set it.
func TestLeafAlwaysSet(t *testing.T) {
	t.Setenv("GODEBUG", "x509keypairleaf=0")
	dir := t.TempDir()
	p := writePair(t, dir, "example.org", pairOpts{names: []string{"example.org"}})
	certPEM, _ := os.ReadFile(p.certFile)
	keyPEM, _ := os.ReadFile(p.keyFile)
	if c, err := tls.X509KeyPair(certPEM, keyPEM); err != nil || c.Leaf != nil {
		t.Logf("GODEBUG not honoured (err %v): the fallback is not exercised", err)
	}
	m, _ := newManager(t, testConfig(t, config.Host{Name: "example.org", Cert: p.certFile, Key: p.keyFile}, config.Host{Name: "b.example"}))
	mustCert(t, m, "example.org")
	mustCert(t, m, "b.example")
}

func TestBadFilesRefused(t *testing.T) {
	dir := t.TempDir()
	a := writePair(t, dir, "a", pairOpts{names: []string{"example.org"}})
	b := writePair(t, dir, "b", pairOpts{names: []string{"example.org"}})
	garbage := filepath.Join(dir, "garbage.pem")
	os.WriteFile(garbage, []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), 0o644)
	empty := filepath.Join(dir, "empty.pem")
	os.WriteFile(empty, nil, 0o644)

	tests := []struct {
		name, cert, key string
		want            []string
	}{
		{"mismatched key", a.certFile, b.keyFile, []string{b.keyFile, "does not match", a.certFile}},
		{"missing cert", filepath.Join(dir, "nope.crt"), a.keyFile, []string{filepath.Join(dir, "nope.crt")}},
		{"missing key", a.certFile, filepath.Join(dir, "nope.key"), []string{filepath.Join(dir, "nope.key")}},
		{"broken cert", garbage, a.keyFile, []string{garbage, "parsing certificate"}},
		{"no PEM", empty, a.keyFile, []string{empty, "no CERTIFICATE PEM block"}},
		{"cert as key", a.certFile, a.certFile, []string{a.certFile}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(testConfig(t, config.Host{Name: "example.org", Cert: tt.cert, Key: tt.key}), slog.New(slog.DiscardHandler))
			if err == nil {
				t.Fatal("New succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "PRIVATE") {
				t.Errorf("key material in error: %v", err)
			}
		})
	}
}

func TestSNI(t *testing.T) {
	dir := t.TempDir()
	a := writePair(t, dir, "example.org", pairOpts{names: []string{"example.org", "*.example.org"}})
	b := writePair(t, dir, "other.net", pairOpts{names: []string{"other.net"}})
	m, _ := newManager(t, testConfig(t,
		config.Host{Name: "example.org", Cert: a.certFile, Key: a.keyFile},
		config.Host{Name: "other.net", Cert: b.certFile, Key: b.keyFile},
		config.Host{Name: "local.test"}, // self-signed, covers *.local.test
	))
	for sni, want := range map[string]string{
		"example.org":            "example.org",
		"EXAMPLE.Org.":           "example.org",
		"conference.example.org": "example.org",
		"other.net":              "other.net",
		"Other.NET":              "other.net",
		"upload.local.test":      "local.test",
		"sub.other.net":          "example.org", // other.net's cert does not cover it: default
		"a.b.example.org":        "example.org", // no cert covers it: default
		"unknown.example":        "example.org",
		"":                       "example.org",
	} {
		c, err := m.GetCertificate(&tls.ClientHelloInfo{ServerName: sni})
		if err != nil {
			t.Fatalf("GetCertificate(%q): %v", sni, err)
		}
		if got := c.Leaf.Subject.CommonName; got != want {
			t.Errorf("GetCertificate(%q) = %s, want %s", sni, got, want)
		}
	}
	if _, err := m.Certificate("sub.other.net"); err == nil {
		t.Error("Certificate(sub.other.net) succeeded with no covering certificate")
	}
	if c := mustCert(t, m, "Other.Net"); c.Leaf.Subject.CommonName != "other.net" {
		t.Errorf("Certificate(Other.Net) = %s", c.Leaf.Subject.CommonName)
	}
}

func TestReload(t *testing.T) {
	dir := t.TempDir()
	p := writePair(t, dir, "example.org", pairOpts{names: []string{"example.org"}})
	m, _ := newManager(t, testConfig(t, config.Host{Name: "example.org", Cert: p.certFile, Key: p.keyFile}))
	old := mustCert(t, m, "example.org")

	// A half-written or wrong file: the old certificate stays in service.
	if err := os.WriteFile(p.certFile, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := m.Reload()
	if err == nil || !strings.Contains(err.Error(), p.certFile) {
		t.Fatalf("Reload with a broken file = %v, want an error naming %s", err, p.certFile)
	}
	if c := mustCert(t, m, "example.org"); c != old {
		t.Error("broken Reload replaced the certificate")
	}

	// A renewed pair is picked up.
	renewed := writePair(t, dir, "example.org", pairOpts{names: []string{"example.org"}})
	if err := m.Reload(); err != nil {
		t.Fatal(err)
	}
	c := mustCert(t, m, "example.org")
	if !c.Leaf.Equal(renewed.cert) {
		t.Error("Reload did not swap in the renewed certificate")
	}
	hello, err := m.GetCertificate(&tls.ClientHelloInfo{ServerName: "example.org"})
	if err != nil || hello != c {
		t.Errorf("GetCertificate after Reload = %v, %v", hello, err)
	}
}

func TestReloadConcurrent(t *testing.T) {
	dir := t.TempDir()
	p := writePair(t, dir, "example.org", pairOpts{names: []string{"example.org"}})
	m, _ := newManager(t, testConfig(t, config.Host{Name: "example.org", Cert: p.certFile, Key: p.keyFile}, config.Host{Name: "b.test"}))
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if c, err := m.GetCertificate(&tls.ClientHelloInfo{ServerName: "b.test"}); err != nil || c.Leaf == nil {
					t.Error("GetCertificate failed during Reload")
					return
				}
			}
		})
	}
	for range 20 {
		if err := m.Reload(); err != nil {
			t.Error(err)
		}
	}
	close(stop)
	wg.Wait()
}

// handshake runs a real TLS handshake over an in-memory pipe.
func handshake(server, client *tls.Config) (tls.ConnectionState, error, error) {
	sc, cc := net.Pipe()
	defer sc.Close()
	defer cc.Close()
	srv := tls.Server(sc, server)
	errc := make(chan error, 1)
	go func() {
		err := srv.Handshake()
		if err != nil {
			sc.Close() // unblock the client
		}
		errc <- err
	}()
	cli := tls.Client(cc, client)
	cerr := cli.Handshake()
	if cerr != nil {
		cc.Close()
	}
	serr := <-errc
	return cli.ConnectionState(), serr, cerr
}

func TestTLSConfig(t *testing.T) {
	dir := t.TempDir()
	p := writePair(t, dir, "example.org", pairOpts{names: []string{"example.org", "*.example.org"}})
	m, _ := newManager(t, testConfig(t, config.Host{Name: "example.org", Cert: p.certFile, Key: p.keyFile}))
	server := m.TLSConfig()
	if server.MinVersion != tls.VersionTLS12 || len(server.NextProtos) != 0 || server.SessionTicketsDisabled {
		t.Errorf("TLSConfig = min %x, NextProtos %v, tickets disabled %v", server.MinVersion, server.NextProtos, server.SessionTicketsDisabled)
	}
	roots := x509.NewCertPool()
	roots.AddCert(p.cert)

	t.Run("TLS 1.1 refused", func(t *testing.T) {
		_, serr, cerr := handshake(server, &tls.Config{
			ServerName: "example.org", RootCAs: roots,
			MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11,
		})
		if serr == nil || cerr == nil {
			t.Fatalf("TLS 1.1 handshake: server %v, client %v; want both to fail", serr, cerr)
		}
		if !strings.Contains(serr.Error(), "version") {
			t.Errorf("server error %q does not mention the protocol version", serr)
		}
	})
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(v), func(t *testing.T) {
			st, serr, cerr := handshake(server, &tls.Config{
				ServerName: "conference.example.org", RootCAs: roots,
				MinVersion: v, MaxVersion: v,
			})
			if serr != nil || cerr != nil {
				t.Fatalf("handshake: server %v, client %v", serr, cerr)
			}
			if st.Version != v || !st.PeerCertificates[0].Equal(p.cert) {
				t.Errorf("negotiated %s with %v", tls.VersionName(st.Version), st.PeerCertificates[0].Subject)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	good := writePair(t, dir, "good.example", pairOpts{names: []string{"good.example"}})
	expired := writePair(t, dir, "expired.example", pairOpts{names: []string{"expired.example"}, notBefore: now.Add(-400 * 24 * time.Hour), notAfter: now.Add(-24 * time.Hour)})
	soon := writePair(t, dir, "soon.example", pairOpts{names: []string{"soon.example"}, notAfter: now.Add(10 * 24 * time.Hour)})
	wrong := writePair(t, dir, "wrong.example", pairOpts{names: []string{"elsewhere.example"}})
	future := writePair(t, dir, "future.example", pairOpts{names: []string{"future.example"}, notBefore: now.Add(48 * time.Hour), notAfter: now.Add(96 * time.Hour)})

	m, logs := newManager(t, testConfig(t,
		config.Host{Name: "good.example", Cert: good.certFile, Key: good.keyFile},
		config.Host{Name: "expired.example", Cert: expired.certFile, Key: expired.keyFile},
		config.Host{Name: "soon.example", Cert: soon.certFile, Key: soon.keyFile},
		config.Host{Name: "wrong.example", Cert: wrong.certFile, Key: wrong.keyFile},
		config.Host{Name: "future.example", Cert: future.certFile, Key: future.keyFile},
		config.Host{Name: "self.example"},
	))
	// New loads a problem certificate rather than refusing to start, but
	// says so loudly.
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "expired") {
		t.Errorf("no error logged for the expired certificate:\n%s", logs)
	}

	var msgs []string
	for _, err := range m.Check() {
		msgs = append(msgs, err.Error())
	}
	has := func(host, prefix, text string) bool {
		return slices.ContainsFunc(msgs, func(s string) bool {
			return strings.HasPrefix(s, prefix) && strings.Contains(s, `"`+host+`"`) && strings.Contains(s, text)
		})
	}
	for _, want := range []struct{ host, prefix, text string }{
		{"expired.example", "certs:", "certificate expired on"},
		{"wrong.example", "certs:", `does not cover "wrong.example" (it names elsewhere.example)`},
		{"future.example", "certs:", "not valid before"},
		{"soon.example", "warning:", "expires in 9 days"},
		{"self.example", "warning:", "self-signed certificate in use"},
		{"good.example", "warning:", "not trusted by this system's CA roots"},
	} {
		if !has(want.host, want.prefix, want.text) {
			t.Errorf("Check() lacks %q for %s; got:\n%s", want.prefix+" ... "+want.text, want.host, strings.Join(msgs, "\n"))
		}
	}
	if has("good.example", "certs:", "") || has("soon.example", "certs:", "") || has("self.example", "certs:", "") {
		t.Errorf("Check() reports an error (not a warning) for a usable certificate:\n%s", strings.Join(msgs, "\n"))
	}
}
