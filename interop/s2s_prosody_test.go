//go:build unix

package interop_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"mellium.im/sasl"

	"parley.im/parley/config"
	"parley.im/parley/internal/xmpptest"
)

// TestS2SProsody: Parley (a.localhost) federates with Prosody from Debian
// (b.localhost), both on loopback ports mapped statically (Prosody through
// the test module testdata/s2s-prosody/mod_s2s_static_hosts.lua). Both use
// self-signed certificates, so each authenticates the other by dialback.
// Users on each side subscribe to each other and chat, the Prosody user
// joins a room on Parley, and the Parley user joins a room on Prosody.
func TestS2SProsody(t *testing.T) {
	t.Run("dialback", func(t *testing.T) { testS2SProsody(t, false) })
	t.Run("certificates", func(t *testing.T) { testS2SProsody(t, true) })
}

// testS2SProsody runs the scenario; with certs, each side trusts the
// other's certificate and requires valid ones (SASL EXTERNAL both ways).
func testS2SProsody(t *testing.T, certs bool) {
	requireClient(t, "prosody (Debian package prosody)", func() error {
		_, err := exec.LookPath("prosody")
		return err
	})
	dir := t.TempDir()
	data := filepath.Join(dir, "p")
	for _, d := range []string{"certs", "data/b%2elocalhost/accounts"} {
		if err := os.MkdirAll(filepath.Join(data, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	writeSelfSigned(t, filepath.Join(data, "certs", "b.localhost"), "b.localhost")
	if err := os.WriteFile(filepath.Join(data, "data/b%2elocalhost/accounts/bob.dat"),
		[]byte(`return { ["password"] = "bob-secret"; };`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	plugins, err := filepath.Abs("testdata/s2s-prosody")
	if err != nil {
		t.Fatal(err)
	}

	addrA, c2sB, s2sB := freePort(t), freePort(t), freePort(t)
	port := func(a string) string { _, p, _ := net.SplitHostPort(a); return p }
	logA := newLogBuffer()
	a := xmpptest.StartWithLog(t, logA, func(c *config.Config) {
		c.Hosts = []config.Host{{Name: "a.localhost"}}
		c.S2S.Enabled = true
		c.S2S.Listen = []string{addrA}
		c.S2S.StaticHosts = []string{"b.localhost=" + s2sB, "conference.b.localhost=" + s2sB}
		if certs {
			c.S2S.Auth = "certificate"
			c.S2S.CAFile = filepath.Join(data, "certs", "b.localhost.crt")
		}
	})
	a.AddUser(t, "alice", "alice-secret")
	cafile := ""
	if certs {
		cafile = filepath.Join(a.Config.CertDir(), "a.localhost.crt")
	}

	out := newLogBuffer()
	cmd := exec.Command("prosody", "-F", "--config", filepath.Join(plugins, "prosody.cfg.lua"))
	cmd.Env = append(os.Environ(), "S2S_DATA="+data, "S2S_C2S="+port(c2sB), "S2S_S2S="+port(s2sB),
		"S2S_DOMAIN=b.localhost", "S2S_PEER=a.localhost", "S2S_PEER_PORT="+port(addrA), "S2S_PLUGINS="+plugins, "S2S_CAFILE="+cafile)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	})
	defer func() {
		if t.Failed() {
			plog, _ := os.ReadFile(filepath.Join(data, "prosody.log"))
			t.Logf("prosody output:\n%s\nprosody log:\n%s\nparley log:\n%s", out.String(), plog, logA.String())
		}
	}()
	waitListening(t, c2sB, exited)
	waitListening(t, s2sB, exited)

	alice := s2sLogin(t, a.StartTLSAddr, "a.localhost", "alice", "alice-secret", sasl.ScramSha256)
	bob := s2sLogin(t, c2sB, "b.localhost", "bob", "bob-secret", sasl.ScramSha1)
	federate(t, alice, bob, "alice@a.localhost", "bob@b.localhost", "tea@conference.b.localhost")
	want := []string{"outbound stream authenticated", "inbound domain authenticated by dialback", "answered a dialback verification"}
	if certs {
		want = []string{"outbound stream authenticated", "inbound stream authenticated by certificate"}
		if strings.Contains(logA.String(), "by dialback") {
			t.Errorf("dialback used although both sides require certificates")
		}
	}
	for _, w := range want {
		if !strings.Contains(logA.String(), w) {
			t.Errorf("no %q in Parley's log", w)
		}
	}
}

// waitListening polls until addr accepts connections (Prosody starting).
func waitListening(t *testing.T, addr string, exited <-chan struct{}) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-exited:
			t.Fatalf("prosody exited before listening on %s", addr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// writeSelfSigned writes base.crt and base.key: an ECDSA certificate for
// host and *.host.
func writeSelfSigned(t *testing.T, base, host string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: host},
		DNSNames:     []string{host, "*." + host},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	kd, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(base+".crt", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(base+".key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}), 0o600); err != nil {
		t.Fatal(err)
	}
}
