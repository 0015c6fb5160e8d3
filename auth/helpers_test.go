package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/text/secure/precis"

	"parley.im/parley/storage"
)

const (
	testHost     = "example.org"
	testUser     = "user"
	testPassword = "pencil"
	// testIterations is low to keep tests fast; the server does no PBKDF2
	// for SCRAM anyway, so the count only matters to clients.
	testIterations = MinIterations
)

// testCreds caches the credentials of testPassword: PBKDF2 at test speed
// for every test would add up.
var testCreds = sync.OnceValue(func() []storage.Credential {
	c, err := DeriveCredentials(testPassword, testIterations)
	if err != nil {
		panic(err)
	}
	return c
})

// userDB is a CredentialLookup over a map, normalizing usernames like a
// real one, and recording what it was asked.
type userDB struct {
	mu       sync.Mutex
	users    map[string][]storage.Credential
	err      error // returned for every lookup when set
	asked    []string
	noRecord bool // fuzzing: do not grow asked forever
}

func newUserDB() *userDB {
	return &userDB{users: map[string][]storage.Credential{testUser: testCreds()}}
}

func (db *userDB) lookup(ctx context.Context, username string) ([]storage.Credential, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	if !db.noRecord {
		db.asked = append(db.asked, username)
	}
	if db.err != nil {
		return nil, db.err
	}
	n, err := precis.UsernameCaseMapped.String(username)
	if err != nil || n == "" {
		return nil, storage.ErrNotFound
	}
	c, ok := db.users[n]
	if !ok {
		return nil, storage.ErrNotFound
	}
	return c, nil
}

func testConfig(db *userDB) Config {
	return Config{
		Lookup:      db.lookup,
		Host:        testHost,
		FakeSaltKey: []byte("test fake salt key"),
	}
}

// scramClient is an independent, hand-written SCRAM client used where
// mellium.im/sasl cannot help (SCRAM-SHA-512, tls-server-end-point) and to
// produce deliberately wrong messages. Its knobs default to correct
// behaviour.
type scramClient struct {
	h        scramHash
	user     string // already escaped
	password string
	gs2      string // gs2 header, default "n,,"
	cbData   []byte
	nonce    string

	// Tampering knobs.
	cbAttr      string // replaces the whole "c=..." attribute
	nonceAttr   string // replaces the whole "r=..." attribute
	extraAttrs  string // inserted before ",p=" (with its leading comma)
	proofAttr   string // replaces the whole "p=..." attribute
	corruptPass bool   // use a wrong password

	clientFirstBare string
	serverSignature []byte
}

func newSCRAMClient(mech string) *scramClient {
	h, _ := scramHashFor(mech)
	return &scramClient{h: h, user: testUser, password: testPassword, gs2: "n,,", nonce: "clientnonce0123456789"}
}

func (c *scramClient) first() []byte {
	c.clientFirstBare = "n=" + c.user + ",r=" + c.nonce
	return []byte(c.gs2 + c.clientFirstBare)
}

func (c *scramClient) final(serverFirst []byte) ([]byte, error) {
	var nonce, salt string
	iter := -1
	for _, a := range strings.Split(string(serverFirst), ",") {
		switch {
		case strings.HasPrefix(a, "r="):
			nonce = a[2:]
		case strings.HasPrefix(a, "s="):
			salt = a[2:]
		case strings.HasPrefix(a, "i="):
			iter, _ = strconv.Atoi(a[2:])
		}
	}
	if !strings.HasPrefix(nonce, c.nonce) || len(nonce) == len(c.nonce) || iter < 1 {
		return nil, fmt.Errorf("bad server-first %q", serverFirst)
	}
	saltBytes, err := base64.StdEncoding.DecodeString(salt)
	if err != nil {
		return nil, err
	}
	cb := "c=" + base64.StdEncoding.EncodeToString(append([]byte(c.gs2), c.cbData...))
	if c.cbAttr != "" {
		cb = c.cbAttr
	}
	r := "r=" + nonce
	if c.nonceAttr != "" {
		r = c.nonceAttr
	}
	withoutProof := cb + "," + r + c.extraAttrs
	password := c.password
	if c.corruptPass {
		password += "x"
	}
	salted, err := pbkdf2.Key(c.h.new, password, saltBytes, iter, c.h.size)
	if err != nil {
		return nil, err
	}
	authMessage := []byte(c.clientFirstBare + "," + string(serverFirst) + "," + withoutProof)
	clientKey := hmacSum(c.h, salted, clientKeyLabel)
	clientSignature := hmacSum(c.h, hashSum(c.h, clientKey), authMessage)
	proof := make([]byte, len(clientKey))
	subtle.XORBytes(proof, clientKey, clientSignature)
	c.serverSignature = hmacSum(c.h, hmacSum(c.h, salted, serverKeyLabel), authMessage)
	p := "p=" + base64.StdEncoding.EncodeToString(proof)
	if c.proofAttr != "" {
		p = c.proofAttr
	}
	return []byte(withoutProof + "," + p), nil
}

func (c *scramClient) verifyServerFinal(msg []byte) bool {
	v, ok := strings.CutPrefix(string(msg), "v=")
	if !ok {
		return false
	}
	got, err := base64.StdEncoding.DecodeString(v)
	return err == nil && hmac.Equal(got, c.serverSignature)
}

// runSCRAM drives one exchange with c and returns the final error.
func runSCRAM(t *testing.T, e *Exchange, c *scramClient) error {
	t.Helper()
	ctx := context.Background()
	serverFirst, done, err := e.Step(ctx, c.first())
	if err != nil {
		return err
	}
	if done {
		t.Fatal("done after client-first")
	}
	clientFinal, err := c.final(serverFirst)
	if err != nil {
		t.Fatal(err)
	}
	serverFinal, done, err := e.Step(ctx, clientFinal)
	if err != nil {
		return err
	}
	if !done {
		t.Fatal("not done after client-final")
	}
	if !c.verifyServerFinal(serverFinal) {
		t.Fatalf("server signature %q does not verify", serverFinal)
	}
	return nil
}

// wantCondition checks that err is a *Failure with the condition, and that
// neither its text nor its log message leaks any of secrets.
func wantCondition(t *testing.T, err error, condition string, secrets ...string) {
	t.Helper()
	if condition == "" {
		if err != nil {
			t.Fatalf("unexpected failure: %v", err)
		}
		return
	}
	var f *Failure
	if !errors.As(err, &f) {
		t.Fatalf("got error %v (%T), want *Failure %s", err, err, condition)
	}
	if f.Condition != condition {
		t.Fatalf("got condition %q (%v), want %q", f.Condition, err, condition)
	}
	for _, s := range secrets {
		if s != "" && (strings.Contains(f.Text, s) || strings.Contains(err.Error(), s)) {
			t.Fatalf("failure %q leaks %q", err, s)
		}
	}
}

// tlsPair is both ends of a completed TLS handshake over a pipe.
type tlsPair struct {
	server, client tls.ConnectionState
	leaf           *x509.Certificate
}

func newTestCert(t testing.TB) (tls.Certificate, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: testHost},
		DNSNames:     []string{testHost},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, leaf
}

func newTLSPair(t testing.TB, version uint16) tlsPair {
	t.Helper()
	cert, leaf := newTestCert(t)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	cs, cc := net.Pipe()
	defer cs.Close()
	defer cc.Close()
	server := tls.Server(cs, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: version, MaxVersion: version})
	client := tls.Client(cc, &tls.Config{RootCAs: pool, ServerName: testHost, MinVersion: version, MaxVersion: version})
	errc := make(chan error, 1)
	go func() { errc <- server.Handshake() }()
	if err := client.Handshake(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	return tlsPair{server: server.ConnectionState(), client: client.ConnectionState(), leaf: leaf}
}
