package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"parley.im/parley/config"
)

const (
	// renewBefore: a generated certificate this close to expiry is replaced,
	// and `parley check` warns about configured ones.
	renewBefore = 30 * 24 * time.Hour
	// selfSignedLifetime is the validity of generated certificates.
	selfSignedLifetime = 365 * 24 * time.Hour
)

// Manager holds one certificate per virtual host and serves them by SNI. It
// is safe for concurrent use: handshakes read an immutable set through an
// atomic pointer, and Reload replaces the whole set at once.
type Manager struct {
	logger  *slog.Logger
	certDir string
	sources []source // from the configuration, fixed after New

	mu  sync.Mutex // serializes Reload; readers never take it
	cur atomic.Pointer[certSet]
	now func() time.Time
}

// source says where one host's certificate comes from.
type source struct {
	host              string
	certFile, keyFile string // both empty: self-signed in certDir
}

func (s source) generated() bool { return s.certFile == "" }

// certSet is one consistent generation of certificates; never modified.
type certSet struct {
	hosts  []*hostCert // configuration order; hosts[0] is the default
	byName map[string]*hostCert
}

type hostCert struct {
	host              string
	cert              *tls.Certificate // Leaf always set
	certFile, keyFile string
	generated         bool
}

// New loads the configured certificate of every host in cfg and, for hosts
// without one, loads or creates a self-signed certificate in cfg.CertDir().
// cfg must have been validated. A nil logger means slog.Default().
func New(cfg *config.Config, logger *slog.Logger) (*Manager, error) {
	if logger == nil {
		logger = slog.Default()
	}
	if len(cfg.Hosts) == 0 {
		return nil, errors.New("certs: no hosts configured")
	}
	m := &Manager{logger: logger, certDir: cfg.CertDir(), now: time.Now}
	for _, h := range cfg.Hosts {
		name := strings.ToLower(h.Name)
		if (h.Cert == "") != (h.Key == "") {
			return nil, fmt.Errorf("certs: host %q: cert and key must be set together", name)
		}
		m.sources = append(m.sources, source{host: name, certFile: h.Cert, keyFile: h.Key})
	}
	set, err := m.load()
	if err != nil {
		return nil, err
	}
	m.cur.Store(set)
	return m, nil
}

// Reload re-reads every configured certificate and key (and renews generated
// ones that are due), for SIGHUP after certificates were replaced on disk.
// On any error the certificates in use stay as they were and the error
// names the offending file.
func (m *Manager) Reload() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	set, err := m.load()
	if err != nil {
		return err
	}
	m.cur.Store(set)
	return nil
}

func (m *Manager) load() (*certSet, error) {
	set := &certSet{byName: map[string]*hostCert{}}
	for _, src := range m.sources {
		var hc *hostCert
		var err error
		if src.generated() {
			hc, err = m.selfSigned(src.host)
		} else {
			hc, err = m.configured(src)
		}
		if err != nil {
			return nil, err
		}
		set.hosts = append(set.hosts, hc)
		set.byName[hc.host] = hc
	}
	return set, nil
}

// configured loads an operator-provided pair. A certificate that is expired
// or does not name the host is still used, with an error logged: refusing
// to start over it would take the whole server down while a renewal is
// pending. `parley check` (Check) reports it as an error.
func (m *Manager) configured(src source) (*hostCert, error) {
	cert, err := loadPair(src.certFile, src.keyFile)
	if err != nil {
		return nil, fmt.Errorf("certs: host %q: %w", src.host, err)
	}
	hc := &hostCert{host: src.host, cert: cert, certFile: src.certFile, keyFile: src.keyFile}
	leaf := cert.Leaf
	switch now := m.now(); {
	case now.After(leaf.NotAfter):
		m.logger.Error("TLS certificate has expired; clients will refuse to connect",
			"host", src.host, "cert", src.certFile, "expired", leaf.NotAfter)
	case leaf.VerifyHostname(src.host) != nil:
		m.logger.Error("TLS certificate does not cover the host name; clients will refuse to connect",
			"host", src.host, "cert", src.certFile, "names", leaf.DNSNames)
	case leaf.NotAfter.Sub(now) < renewBefore:
		m.logger.Warn("TLS certificate expires soon", "host", src.host, "cert", src.certFile, "expires", leaf.NotAfter)
	}
	return hc, nil
}

// loadPair reads a PEM certificate chain and its key. Errors name the file
// at fault and never contain key material.
func loadPair(certFile, keyFile string) (*tls.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, err
	}
	// Parse the chain first so that a broken certificate is blamed on the
	// certificate file rather than on the key.
	if _, err := parseLeaf(certPEM); err != nil {
		return nil, fmt.Errorf("%s: %w", certFile, err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w (certificate %s)", keyFile, err, certFile)
	}
	// Go 1.23+ fills Leaf unless GODEBUG=x509keypairleaf=0; c2s needs it
	// for tls-server-end-point channel binding, so never rely on that.
	if cert.Leaf == nil {
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("%s: %w", certFile, err)
		}
	}
	return &cert, nil
}

// parseLeaf returns the first certificate of a PEM chain.
func parseLeaf(certPEM []byte) (*x509.Certificate, error) {
	for rest := certPEM; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("no CERTIFICATE PEM block found")
		}
		if block.Type == "CERTIFICATE" {
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parsing certificate: %w", err)
			}
			return c, nil
		}
	}
}

// selfSigned reuses the host's generated certificate, or creates one when
// there is none, it cannot be used, or it is due for renewal. Reuse matters:
// clients that pinned the certificate would warn again on every restart.
func (m *Manager) selfSigned(host string) (*hostCert, error) {
	if host == "" || host == "." || host == ".." || strings.ContainsAny(host, `/\`) {
		// Config validation rules these out; the name becomes a file name.
		return nil, fmt.Errorf("certs: host %q cannot name a certificate file", host)
	}
	certFile := filepath.Join(m.certDir, host+".crt")
	keyFile := filepath.Join(m.certDir, host+".key")
	hc := &hostCert{host: host, certFile: certFile, keyFile: keyFile, generated: true}

	cert, err := loadPair(certFile, keyFile)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// First run for this host.
	case err != nil:
		m.logger.Warn("generated certificate unusable, creating a new one", "host", host, "error", err)
	case cert.Leaf.VerifyHostname(host) != nil:
		m.logger.Warn("generated certificate does not cover the host, creating a new one", "host", host, "cert", certFile)
	case cert.Leaf.NotAfter.Sub(m.now()) < renewBefore:
		m.logger.Info("generated certificate expires soon, creating a new one", "host", host, "cert", certFile, "expires", cert.Leaf.NotAfter)
	default:
		hc.cert = cert
	}
	if hc.cert == nil {
		if hc.cert, err = m.generate(host, certFile, keyFile); err != nil {
			return nil, fmt.Errorf("certs: host %q: %w", host, err)
		}
	}
	m.logger.Warn("using a SELF-SIGNED certificate: clients will warn about it or refuse to connect; set cert and key for this [[host]] for production",
		"host", host, "cert", certFile, "sha256", fingerprint(hc.cert.Leaf), "expires", hc.cert.Leaf.NotAfter.Format(time.DateOnly))
	return hc, nil
}

func (m *Manager) generate(host, certFile, keyFile string) (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, err
	}
	now := m.now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: host, Organization: []string{"Parley self-signed"}},
		// The wildcard covers conference.<host>, upload.<host> and the like.
		DNSNames:              []string{host, "*." + host},
		NotBefore:             now.Add(-time.Hour), // tolerate small clock skew
		NotAfter:              now.Add(selfSignedLifetime),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})

	if err := os.MkdirAll(m.certDir, 0o700); err != nil {
		return nil, err
	}
	// Key first: a crash in between leaves a key without a certificate,
	// which the next start simply regenerates.
	if err := writeFileAtomic(keyFile, keyPEM, 0o600); err != nil {
		return nil, err
	}
	if err := writeFileAtomic(certFile, certPEM, 0o644); err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	if cert.Leaf == nil {
		if cert.Leaf, err = x509.ParseCertificate(der); err != nil {
			return nil, err
		}
	}
	m.logger.Info("generated a self-signed certificate", "host", host, "cert", certFile)
	return &cert, nil
}

// writeFileAtomic writes through a temporary file and a rename so a reader
// never sees half a file. The temporary file is created 0600, so the key is
// never readable by others, not even briefly.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

// GetCertificate picks the certificate for a handshake by SNI, ignoring case
// and a trailing dot. A name below a host (conference.example.org) gets that
// host's certificate when it covers the name. No SNI, or a name nothing
// covers, gets the first host's certificate: the client will then decide
// whether it accepts it, which is more useful than failing the handshake.
func (m *Manager) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	set := m.cur.Load()
	if hc := set.lookup(normalize(hello.ServerName)); hc != nil {
		return hc.cert, nil
	}
	return set.hosts[0].cert, nil
}

// Certificate returns the certificate serving host (or a name below it, as
// in GetCertificate), or an error when no configured certificate covers it.
func (m *Manager) Certificate(host string) (*tls.Certificate, error) {
	if hc := m.cur.Load().lookup(normalize(host)); hc != nil {
		return hc.cert, nil
	}
	return nil, fmt.Errorf("certs: no certificate for %q", host)
}

func normalize(name string) string {
	return strings.ToLower(strings.TrimSuffix(name, "."))
}

func (s *certSet) lookup(name string) *hostCert {
	if name == "" {
		return nil
	}
	if hc, ok := s.byName[name]; ok {
		return hc
	}
	// The closest enclosing host first: a.b.example.org prefers b.example.org
	// over example.org.
	for rest := name; ; {
		i := strings.IndexByte(rest, '.')
		if i < 0 {
			break
		}
		rest = rest[i+1:]
		if hc, ok := s.byName[rest]; ok && hc.cert.Leaf.VerifyHostname(name) == nil {
			return hc
		}
	}
	// Then any certificate that names it among its SANs.
	for _, hc := range s.hosts {
		if hc.cert.Leaf.VerifyHostname(name) == nil {
			return hc
		}
	}
	return nil
}

// TLSConfig returns a new server configuration: TLS 1.2 or later,
// certificates by SNI, session tickets on (crypto/tls rotates their keys).
// NextProtos is left empty for the caller to set (xmpp-client for direct
// TLS). Create one per listener and reuse it: ticket keys live in the
// returned value, so a fresh one per connection defeats resumption.
func (m *Manager) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: m.GetCertificate,
	}
}

// Check reports problems with the certificates in use, for `parley check`:
// a key that does not match, a certificate that does not cover its host, is
// expired or not yet valid are errors; an expiry within 30 days, a
// self-signed certificate and a chain the system's roots do not trust are
// returned as errors whose text starts with "warning:".
func (m *Manager) Check() []error {
	var errs []error
	now := m.now()
	for _, hc := range m.cur.Load().hosts {
		leaf, file := hc.cert.Leaf, hc.certFile
		bad := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("certs: host %q: %s: "+format, append([]any{hc.host, file}, args...)...))
		}
		warn := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("warning: certs: host %q: %s: "+format, append([]any{hc.host, file}, args...)...))
		}

		ok := true
		if signer, isSigner := hc.cert.PrivateKey.(crypto.Signer); !isSigner || !publicKeysEqual(signer.Public(), leaf.PublicKey) {
			bad("private key %s does not match the certificate", hc.keyFile)
			ok = false
		}
		if err := leaf.VerifyHostname(hc.host); err != nil {
			bad("certificate does not cover %q (it names %s)", hc.host, strings.Join(leaf.DNSNames, ", "))
			ok = false
		}
		switch {
		case now.After(leaf.NotAfter):
			bad("certificate expired on %s", leaf.NotAfter.Format(time.DateOnly))
			ok = false
		case now.Before(leaf.NotBefore):
			bad("certificate is not valid before %s", leaf.NotBefore.Format(time.RFC3339))
			ok = false
		case leaf.NotAfter.Sub(now) < renewBefore:
			warn("certificate expires in %d days, on %s", int(leaf.NotAfter.Sub(now).Hours()/24), leaf.NotAfter.Format(time.DateOnly))
		}
		if !ok {
			continue
		}
		if hc.generated {
			warn("self-signed certificate in use; clients will warn about it (sha256 %s)", fingerprint(leaf))
			continue
		}
		inter := x509.NewCertPool()
		for _, der := range hc.cert.Certificate[1:] {
			if c, err := x509.ParseCertificate(der); err == nil {
				inter.AddCert(c)
			}
		}
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: hc.host, Intermediates: inter, CurrentTime: now}); err != nil {
			warn("certificate chain is not trusted by this system's CA roots (self-signed, or intermediates missing from the file?): %v", err)
		}
	}
	return errs
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	ea, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ea.Equal(b)
}
