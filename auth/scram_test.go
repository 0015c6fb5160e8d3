package auth

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"parley.im/parley/storage"
)

func TestNewExchange(t *testing.T) {
	db := newUserDB()
	tlsCB := &ChannelBinding{exporter: make([]byte, 32), preferred: []string{CBTLSExporter}}
	tests := []struct {
		name   string
		mech   string
		modify func(*Config)
		want   string
	}{
		{"SCRAM without TLS", SCRAMSHA256, nil, ""},
		{"PLAIN with TLS", PLAIN, func(c *Config) { c.TLSActive = true }, ""},
		{"PLUS with binding", SCRAMSHA1Plus, func(c *Config) { c.TLSActive, c.CB = true, tlsCB }, ""},
		{"unknown", "DIGEST-MD5", nil, ConditionInvalidMechanism},
		{"case matters", "scram-sha-256", nil, ConditionInvalidMechanism},
		{"empty", "", nil, ConditionInvalidMechanism},
		{"PLAIN without TLS", PLAIN, nil, ConditionEncryptionRequired},
		{"PLUS without TLS", SCRAMSHA256Plus, nil, ConditionInvalidMechanism},
		{"PLUS on TLS without bindings", SCRAMSHA256Plus, func(c *Config) { c.TLSActive, c.CB = true, &ChannelBinding{} }, ConditionInvalidMechanism},
		{"not in Offered", PLAIN, func(c *Config) { c.TLSActive, c.Offered = true, []string{SCRAMSHA256} }, ConditionInvalidMechanism},
		{"in Offered", SCRAMSHA256, func(c *Config) { c.Offered = []string{SCRAMSHA256} }, ""},
		{"no lookup", SCRAMSHA256, func(c *Config) { c.Lookup = nil }, ConditionTemporaryAuthFailure},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(db)
			if tt.modify != nil {
				tt.modify(&cfg)
			}
			e, err := NewExchange(tt.mech, cfg)
			wantCondition(t, err, tt.want)
			if tt.want == "" && e.Mechanism() != tt.mech {
				t.Fatalf("Mechanism() = %q", e.Mechanism())
			}
		})
	}
}

// TestSCRAMMechanisms runs a correct exchange for every non-PLUS hash with
// the hand-written client, plus a wrong password.
func TestSCRAMMechanisms(t *testing.T) {
	for _, mech := range []string{SCRAMSHA1, SCRAMSHA256, SCRAMSHA512} {
		t.Run(mech, func(t *testing.T) {
			e, _ := NewExchange(mech, testConfig(newUserDB()))
			if err := runSCRAM(t, e, newSCRAMClient(mech)); err != nil {
				t.Fatal(err)
			}
			if e.Username() != testUser || e.ChannelBindingType() != "" {
				t.Fatalf("Username() = %q, ChannelBindingType() = %q", e.Username(), e.ChannelBindingType())
			}

			e, _ = NewExchange(mech, testConfig(newUserDB()))
			c := newSCRAMClient(mech)
			c.corruptPass = true
			wantCondition(t, runSCRAM(t, e, c), ConditionNotAuthorized, testPassword)
			if e.Username() != "" {
				t.Fatal("Username() set after a failure")
			}
		})
	}
}

// TestSCRAMClientFirst covers the gs2 header and client-first-message-bare
// grammar, and the channel binding and authzid policy applied to them.
func TestSCRAMClientFirst(t *testing.T) {
	cb := &ChannelBinding{exporter: bytes.Repeat([]byte{1}, 32), preferred: []string{CBTLSExporter}}
	tests := []struct {
		name        string
		mech        string
		advertised  bool // AdvertisedPlus
		msg         string
		want        string // condition, "" for a server-first answer
		wantClaimed string
	}{
		// gs2 header.
		{"n flag", SCRAMSHA256, false, "n,,n=user,r=abc", "", "user"},
		{"y flag, nothing advertised", SCRAMSHA256, false, "y,,n=user,r=abc", "", "user"},
		{"p flag", SCRAMSHA256Plus, true, "p=tls-exporter,,n=user,r=abc", "", "user"},
		{"authzid", SCRAMSHA256, false, "n,a=user@example.org,n=user,r=abc", "", "user"},
		{"unknown flag", SCRAMSHA256, false, "x,,n=user,r=abc", ConditionMalformedRequest, ""},
		{"uppercase flag", SCRAMSHA256, false, "N,,n=user,r=abc", ConditionMalformedRequest, ""},
		{"empty flag", SCRAMSHA256, false, ",,n=user,r=abc", ConditionMalformedRequest, ""},
		{"p without name", SCRAMSHA256Plus, true, "p=,,n=user,r=abc", ConditionMalformedRequest, ""},
		{"p with bad name", SCRAMSHA256Plus, true, "p=tls exporter,,n=user,r=abc", ConditionMalformedRequest, ""},
		{"authzid without a=", SCRAMSHA256, false, "n,b=user,n=user,r=abc", ConditionMalformedRequest, ""},
		{"empty authzid", SCRAMSHA256, false, "n,a=,n=user,r=abc", ConditionMalformedRequest, ""},
		{"authzid bad escape", SCRAMSHA256, false, "n,a=us=er,n=user,r=abc", ConditionMalformedRequest, ""},
		{"header without second comma", SCRAMSHA256, false, "n,n=user", ConditionMalformedRequest, ""},
		{"only flag", SCRAMSHA256, false, "n", ConditionMalformedRequest, ""},
		{"empty message", SCRAMSHA256, false, "", ConditionMalformedRequest, ""},

		// Attribute order and syntax.
		{"mandatory extension", SCRAMSHA256, false, "n,,m=ext,n=user,r=abc", ConditionMalformedRequest, ""},
		{"nonce before name", SCRAMSHA256, false, "n,,r=abc,n=user", ConditionMalformedRequest, ""},
		{"missing nonce", SCRAMSHA256, false, "n,,n=user", ConditionMalformedRequest, ""},
		{"missing name", SCRAMSHA256, false, "n,,r=abc", ConditionMalformedRequest, ""},
		{"empty nonce", SCRAMSHA256, false, "n,,n=user,r=", ConditionMalformedRequest, ""},
		{"nonce with space", SCRAMSHA256, false, "n,,n=user,r=a c", ConditionMalformedRequest, ""},
		{"nonce with DEL", SCRAMSHA256, false, "n,,n=user,r=a\x7fc", ConditionMalformedRequest, ""},
		{"nonce with non-ASCII", SCRAMSHA256, false, "n,,n=user,r=a\u00e9c", ConditionMalformedRequest, ""},
		{"nonce with control", SCRAMSHA256, false, "n,,n=user,r=a\tc", ConditionMalformedRequest, ""},
		{"unknown extension ignored", SCRAMSHA256, false, "n,,n=user,r=abc,x=whatever,y=more", "", "user"},
		{"duplicate name", SCRAMSHA256, false, "n,,n=user,r=abc,n=other", ConditionMalformedRequest, ""},
		{"duplicate nonce", SCRAMSHA256, false, "n,,n=user,r=abc,r=def", ConditionMalformedRequest, ""},
		{"late mandatory extension", SCRAMSHA256, false, "n,,n=user,r=abc,m=ext", ConditionMalformedRequest, ""},
		{"extension without value", SCRAMSHA256, false, "n,,n=user,r=abc,x=", ConditionMalformedRequest, ""},
		{"extension with digit name", SCRAMSHA256, false, "n,,n=user,r=abc,1=x", ConditionMalformedRequest, ""},
		{"trailing comma", SCRAMSHA256, false, "n,,n=user,r=abc,", ConditionMalformedRequest, ""},
		{"attribute without =", SCRAMSHA256, false, "n,,n=user,r=abc,xyz", ConditionMalformedRequest, ""},
		{"invalid UTF-8", SCRAMSHA256, false, "n,,n=us\xffer,r=abc", ConditionMalformedRequest, ""},
		{"NUL in name", SCRAMSHA256, false, "n,,n=us\x00er,r=abc", ConditionMalformedRequest, ""},

		// Name escaping.
		{"escaped comma", SCRAMSHA256, false, "n,,n=us=2Cer,r=abc", "", "us,er"},
		{"escaped equals", SCRAMSHA256, false, "n,,n=a=3Db=3D,r=abc", "", "a=b="},
		{"lone equals", SCRAMSHA256, false, "n,,n=a=b,r=abc", ConditionMalformedRequest, ""},
		{"trailing equals", SCRAMSHA256, false, "n,,n=ab=,r=abc", ConditionMalformedRequest, ""},
		{"lowercase escape", SCRAMSHA256, false, "n,,n=a=2cb,r=abc", ConditionMalformedRequest, ""},
		{"empty name", SCRAMSHA256, false, "n,,n=,r=abc", ConditionMalformedRequest, ""},

		// Channel binding policy (RFC 5802 §6).
		{"y after PLUS advertised", SCRAMSHA256, true, "y,,n=user,r=abc", ConditionNotAuthorized, "user"},
		{"n after PLUS advertised", SCRAMSHA256, true, "n,,n=user,r=abc", "", "user"},
		{"p with non-PLUS", SCRAMSHA256, true, "p=tls-exporter,,n=user,r=abc", ConditionMalformedRequest, "user"},
		{"n with PLUS", SCRAMSHA256Plus, true, "n,,n=user,r=abc", ConditionMalformedRequest, "user"},
		{"y with PLUS", SCRAMSHA256Plus, true, "y,,n=user,r=abc", ConditionMalformedRequest, "user"},
		{"type not offered", SCRAMSHA256Plus, true, "p=tls-server-end-point,,n=user,r=abc", ConditionNotAuthorized, "user"},
		{"unknown type", SCRAMSHA256Plus, true, "p=tls-unique,,n=user,r=abc", ConditionNotAuthorized, "user"},

		// Authorization identity.
		{"authzid domain case", SCRAMSHA256, false, "n,a=user@EXAMPLE.org,n=user,r=abc", "", "user"},
		{"authzid localpart case", SCRAMSHA256, false, "n,a=User@example.org,n=user,r=abc", "", "user"},
		{"authzid other user", SCRAMSHA256, false, "n,a=admin@example.org,n=user,r=abc", ConditionInvalidAuthzid, "user"},
		{"authzid other host", SCRAMSHA256, false, "n,a=user@example.com,n=user,r=abc", ConditionInvalidAuthzid, "user"},
		{"authzid full JID", SCRAMSHA256, false, "n,a=user@example.org/res,n=user,r=abc", ConditionInvalidAuthzid, "user"},
		{"authzid domain only", SCRAMSHA256, false, "n,a=example.org,n=user,r=abc", ConditionInvalidAuthzid, "user"},
		{"authzid bare localpart", SCRAMSHA256, false, "n,a=user,n=user,r=abc", ConditionInvalidAuthzid, "user"},
		{"authzid empty domain", SCRAMSHA256, false, "n,a=user@,n=user,r=abc", ConditionInvalidAuthzid, "user"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(newUserDB())
			cfg.AdvertisedPlus = tt.advertised
			cfg.TLSActive = true
			cfg.CB = cb
			e, err := NewExchange(tt.mech, cfg)
			if err != nil {
				t.Fatal(err)
			}
			out, done, err := e.Step(context.Background(), []byte(tt.msg))
			wantCondition(t, err, tt.want)
			if done {
				t.Fatal("done after client-first")
			}
			if tt.want == "" && !strings.HasPrefix(string(out), "r=abc") {
				t.Fatalf("server-first = %q", out)
			}
			if e.ClaimedUsername() != tt.wantClaimed {
				t.Fatalf("ClaimedUsername() = %q, want %q", e.ClaimedUsername(), tt.wantClaimed)
			}
			if e.Username() != "" {
				t.Fatal("Username() set before success")
			}
		})
	}
}

// TestSCRAMUsernameReachesLookupRaw checks that the lookup gets the unescaped
// authcid as sent, case included: normalizing is its job.
func TestSCRAMUsernameReachesLookupRaw(t *testing.T) {
	db := newUserDB()
	e, _ := NewExchange(SCRAMSHA256, testConfig(db))
	c := newSCRAMClient(SCRAMSHA256)
	c.user = "USER"
	if err := runSCRAM(t, e, c); err != nil {
		t.Fatal(err)
	}
	if len(db.asked) != 1 || db.asked[0] != "USER" {
		t.Fatalf("lookup asked %q", db.asked)
	}
	if e.Username() != "USER" {
		t.Fatalf("Username() = %q, want the raw authcid", e.Username())
	}
}

// TestSCRAMClientFinal covers the client-final grammar and its checks:
// channel binding, nonce and proof.
func TestSCRAMClientFinal(t *testing.T) {
	biws := "c=" + base64.StdEncoding.EncodeToString([]byte("n,,"))
	tests := []struct {
		name   string
		tamper func(*scramClient)
		want   string
	}{
		{"correct", func(*scramClient) {}, ""},
		{"unknown extension ignored", func(c *scramClient) { c.extraAttrs = ",x=ext" }, ""},
		{"mandatory extension", func(c *scramClient) { c.extraAttrs = ",m=ext" }, ConditionMalformedRequest},
		{"duplicate nonce", func(c *scramClient) { c.extraAttrs = ",r=again" }, ConditionMalformedRequest},
		{"empty extension", func(c *scramClient) { c.extraAttrs = "," }, ConditionMalformedRequest},
		{"missing proof", func(c *scramClient) { c.proofAttr = "x=1" }, ConditionMalformedRequest},
		{"empty proof", func(c *scramClient) { c.proofAttr = "p=" }, ConditionMalformedRequest},
		{"short proof", func(c *scramClient) { c.proofAttr = "p=AAAA" }, ConditionMalformedRequest},
		{"proof not base64", func(c *scramClient) { c.proofAttr = "p=!!!!" }, ConditionMalformedRequest},
		{"wrong proof", func(c *scramClient) {
			c.proofAttr = "p=" + base64.StdEncoding.EncodeToString(make([]byte, 32))
		}, ConditionNotAuthorized},
		{"wrong password", func(c *scramClient) { c.corruptPass = true }, ConditionNotAuthorized},
		{"missing channel binding", func(c *scramClient) { c.cbAttr = "x=biws" }, ConditionMalformedRequest},
		{"channel binding not base64", func(c *scramClient) { c.cbAttr = "c=b!ws" }, ConditionMalformedRequest},
		{"channel binding bad padding bits", func(c *scramClient) { c.cbAttr = "c=bh==" }, ConditionMalformedRequest},
		{"channel binding other flag", func(c *scramClient) { c.cbAttr = "c=" + base64.StdEncoding.EncodeToString([]byte("y,,")) }, ConditionNotAuthorized},
		{"channel binding with data", func(c *scramClient) { c.cbData = []byte("extra") }, ConditionNotAuthorized},
		{"channel binding empty", func(c *scramClient) { c.cbAttr = "c=" }, ConditionNotAuthorized},
		{"nonce missing", func(c *scramClient) { c.nonceAttr = "x=1" }, ConditionMalformedRequest},
		{"nonce empty", func(c *scramClient) { c.nonceAttr = "r=" }, ConditionMalformedRequest},
		{"nonce only client part", func(c *scramClient) { c.nonceAttr = "r=" + c.nonce }, ConditionNotAuthorized},
		{"nonce changed", func(c *scramClient) { c.nonceAttr = "r=" + c.nonce + "forged" }, ConditionNotAuthorized},
		{"nonce with space", func(c *scramClient) { c.nonceAttr = "r=a b" }, ConditionMalformedRequest},
		{"order swapped", func(c *scramClient) { c.cbAttr, c.nonceAttr = "r=x", biws }, ConditionMalformedRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, _ := NewExchange(SCRAMSHA256, testConfig(newUserDB()))
			c := newSCRAMClient(SCRAMSHA256)
			tt.tamper(c)
			serverFirst, _, err := e.Step(context.Background(), c.first())
			if err != nil {
				t.Fatal(err)
			}
			serverNonce := strings.TrimPrefix(strings.Split(string(serverFirst), ",")[0], "r="+c.nonce)
			final, err := c.final(serverFirst)
			if err != nil {
				t.Fatal(err)
			}
			out, done, err := e.Step(context.Background(), final)
			wantCondition(t, err, tt.want, testPassword, serverNonce, c.nonce)
			if (tt.want == "") != done || (tt.want != "" && out != nil) {
				t.Fatalf("done=%v out=%q", done, out)
			}
			// The exchange is over either way.
			_, _, err = e.Step(context.Background(), final)
			wantCondition(t, err, ConditionMalformedRequest)
		})
	}
}

// TestSCRAMUnknownUser checks that an unknown user, and a user without a
// credential for the hash in use, get a plausible, deterministic answer and
// fail only at the end, exactly like a wrong password.
func TestSCRAMUnknownUser(t *testing.T) {
	db := newUserDB()
	db.users["sha1only"] = []storage.Credential{testCreds()[2]}
	damaged := testCreds()[1]
	damaged.StoredKey = damaged.StoredKey[:3]
	db.users["damaged"] = []storage.Credential{damaged}
	cfg := testConfig(db)
	cfg.FakeIterations = 10000

	serverFirst := func(user string) (salt, iterations string) {
		t.Helper()
		e, _ := NewExchange(SCRAMSHA256, cfg)
		out, _, err := e.Step(context.Background(), []byte("n,,n="+user+",r=abc"))
		if err != nil {
			t.Fatal(err)
		}
		attrs := strings.Split(string(out), ",")
		if len(attrs) != 3 {
			t.Fatalf("server-first %q", out)
		}
		return attrs[1], attrs[2]
	}
	realSalt, _ := serverFirst(testUser)
	for _, user := range []string{"nobody", "sha1only", "damaged"} {
		t.Run(user, func(t *testing.T) {
			salt, iterations := serverFirst(user)
			if iterations != "i=10000" {
				t.Errorf("fake iterations %q, want FakeIterations", iterations)
			}
			decoded, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(salt, "s="))
			if err != nil || len(decoded) != saltLen || len(salt) != len(realSalt) {
				t.Errorf("fake salt %q does not look like a real one (%q)", salt, realSalt)
			}
			if again, _ := serverFirst(user); again != salt {
				t.Error("fake salt is not deterministic")
			}
			if upper, _ := serverFirst(strings.ToUpper(user)); upper != salt {
				t.Error("fake salt differs by case, unlike a real user's")
			}

			e, _ := NewExchange(SCRAMSHA256, cfg)
			c := newSCRAMClient(SCRAMSHA256)
			c.user = user
			err = runSCRAM(t, e, c)
			wantCondition(t, err, ConditionNotAuthorized, user)
			// Same text as a wrong password for a real user.
			e2, _ := NewExchange(SCRAMSHA256, cfg)
			c2 := newSCRAMClient(SCRAMSHA256)
			c2.corruptPass = true
			wrong := runSCRAM(t, e2, c2)
			var f1, f2 *Failure
			errors.As(err, &f1)
			errors.As(wrong, &f2)
			if f1.Condition != f2.Condition || f1.Text != f2.Text {
				t.Fatalf("unknown user %q/%q differs from wrong password %q/%q", f1.Condition, f1.Text, f2.Condition, f2.Text)
			}
		})
	}

	// Another key gives other fake salts: they depend on the secret.
	other := cfg
	other.FakeSaltKey = []byte("another key")
	e, _ := NewExchange(SCRAMSHA256, other)
	out, _, _ := e.Step(context.Background(), []byte("n,,n=nobody,r=abc"))
	if salt, _ := serverFirst("nobody"); strings.Contains(string(out), salt) {
		t.Fatal("fake salt does not depend on FakeSaltKey")
	}
}

func TestSCRAMFakeSaltDefaults(t *testing.T) {
	cfg := testConfig(newUserDB())
	cfg.FakeSaltKey = nil
	e, _ := NewExchange(SCRAMSHA1, cfg)
	out, _, err := e.Step(context.Background(), []byte("n,,n=nobody,r=abc"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(string(out), ",i=4096") {
		t.Fatalf("server-first %q: want MinIterations by default", out)
	}
}

func TestSCRAMLookupErrors(t *testing.T) {
	for name, lookupErr := range map[string]error{
		"storage down": errors.New("connection refused"),
		"canceled":     context.Canceled,
	} {
		t.Run(name, func(t *testing.T) {
			db := newUserDB()
			db.err = lookupErr
			e, _ := NewExchange(SCRAMSHA256, testConfig(db))
			_, _, err := e.Step(context.Background(), []byte("n,,n=user,r=abc"))
			wantCondition(t, err, ConditionTemporaryAuthFailure)
			if !errors.Is(err, lookupErr) {
				t.Fatal("lookup error not kept for the logs")
			}
			var f *Failure
			errors.As(err, &f)
			if strings.Contains(f.Text, lookupErr.Error()) {
				t.Fatal("storage error shown to the client")
			}
		})
	}
}

func TestSCRAMNoInitialResponse(t *testing.T) {
	e, _ := NewExchange(SCRAMSHA256, testConfig(newUserDB()))
	out, done, err := e.Step(context.Background(), nil)
	if err != nil || done || out == nil || len(out) != 0 {
		t.Fatalf("got %q, %v, %v; want an empty challenge", out, done, err)
	}
	if err := runSCRAM(t, e, newSCRAMClient(SCRAMSHA256)); err != nil {
		t.Fatal(err)
	}

	// Only one empty challenge: a second missing message is malformed.
	e, _ = NewExchange(SCRAMSHA256, testConfig(newUserDB()))
	e.Step(context.Background(), nil)
	_, _, err = e.Step(context.Background(), nil)
	wantCondition(t, err, ConditionMalformedRequest)

	// An empty initial response ("=") is a message, and an empty one is
	// malformed.
	e, _ = NewExchange(SCRAMSHA256, testConfig(newUserDB()))
	_, _, err = e.Step(context.Background(), []byte{})
	wantCondition(t, err, ConditionMalformedRequest)
}

func TestSCRAMOverlong(t *testing.T) {
	long := "n,,n=user,r=" + strings.Repeat("a", MaxMessageLen)
	e, _ := NewExchange(SCRAMSHA256, testConfig(newUserDB()))
	_, _, err := e.Step(context.Background(), []byte(long))
	wantCondition(t, err, ConditionMalformedRequest)

	// Right at the limit is fine.
	atLimit := long[:MaxMessageLen]
	e, _ = NewExchange(SCRAMSHA256, testConfig(newUserDB()))
	if _, _, err := e.Step(context.Background(), []byte(atLimit)); err != nil {
		t.Fatal(err)
	}
	c := newSCRAMClient(SCRAMSHA256)
	c.extraAttrs = ",x=" + strings.Repeat("b", MaxMessageLen)
	e, _ = NewExchange(SCRAMSHA256, testConfig(newUserDB()))
	wantCondition(t, runSCRAM(t, e, c), ConditionMalformedRequest)
}

// TestSCRAMPlusServerEndPoint runs SCRAM-SHA-512-PLUS and SCRAM-SHA-256-PLUS
// with tls-server-end-point over a real TLS connection, the client side
// written by hand from the certificate it received.
func TestSCRAMPlusServerEndPoint(t *testing.T) {
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		p := newTLSPair(t, version)
		cb := NewChannelBinding(&p.server, p.leaf)
		for _, mech := range []string{SCRAMSHA512Plus, SCRAMSHA256Plus, SCRAMSHA1Plus} {
			t.Run(tls.VersionName(version)+"/"+mech, func(t *testing.T) {
				cfg := testConfig(newUserDB())
				cfg.TLSActive, cfg.CB, cfg.AdvertisedPlus = true, cb, true
				e, _ := NewExchange(mech, cfg)
				c := newSCRAMClient(mech)
				c.gs2 = "p=tls-server-end-point,a=user@example.org,"
				c.cbData = endPointFromClientSide(p.client)
				if err := runSCRAM(t, e, c); err != nil {
					t.Fatal(err)
				}
				if e.ChannelBindingType() != CBTLSServerEndPoint {
					t.Fatalf("ChannelBindingType() = %q", e.ChannelBindingType())
				}

				// A man in the middle terminates TLS with his own
				// certificate: the client's binding data differs.
				e, _ = NewExchange(mech, cfg)
				c = newSCRAMClient(mech)
				c.gs2 = "p=tls-server-end-point,,"
				c.cbData = bytes.Repeat([]byte{0xAA}, 32)
				wantCondition(t, runSCRAM(t, e, c), ConditionNotAuthorized)

				// Binding data of the wrong type.
				e, _ = NewExchange(mech, cfg)
				c = newSCRAMClient(mech)
				c.gs2 = "p=tls-server-end-point,,"
				c.cbData, _ = p.client.ExportKeyingMaterial("EXPORTER-Channel-Binding", nil, 32)
				wantCondition(t, runSCRAM(t, e, c), ConditionNotAuthorized)

				// Right data but without the gs2 header in c=.
				e, _ = NewExchange(mech, cfg)
				c = newSCRAMClient(mech)
				c.gs2 = "p=tls-server-end-point,,"
				c.cbAttr = "c=" + base64.StdEncoding.EncodeToString(endPointFromClientSide(p.client))
				wantCondition(t, runSCRAM(t, e, c), ConditionNotAuthorized)
			})
		}
	}
}

// endPointFromClientSide computes tls-server-end-point as a client does:
// from the certificate it was shown (ECDSA-SHA256, hence SHA-256).
func endPointFromClientSide(cs tls.ConnectionState) []byte {
	h := hashSHA256.new()
	h.Write(cs.PeerCertificates[0].Raw)
	return h.Sum(nil)
}

// TestSCRAMUnsupportedBindingTypeCause lets the negotiator tell an
// unsupported channel binding type (a client it may let retry) from other
// failures.
func TestSCRAMUnsupportedBindingTypeCause(t *testing.T) {
	cfg := testConfig(newUserDB())
	cfg.TLSActive, cfg.AdvertisedPlus = true, true
	cfg.CB = &ChannelBinding{exporter: make([]byte, 32), preferred: []string{CBTLSExporter}}
	e, _ := NewExchange(SCRAMSHA256Plus, cfg)
	_, _, err := e.Step(context.Background(), []byte("p=tls-unique,,n=user,r=abc"))
	wantCondition(t, err, ConditionNotAuthorized)
	if !errors.Is(err, ErrChannelBindingType) {
		t.Fatalf("cause of %v is not ErrChannelBindingType", err)
	}
	e, _ = NewExchange(SCRAMSHA256, cfg)
	_, _, err = e.Step(context.Background(), []byte("y,,n=user,r=abc"))
	if errors.Is(err, ErrChannelBindingType) {
		t.Fatal("a downgrade is not an unsupported binding type")
	}
}
