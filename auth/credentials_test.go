package auth

import (
	"bytes"
	"context"
	"encoding/base64"
	"strings"
	"testing"

	"parley.im/parley/storage"
)

// TestRFCVectors replays the example exchanges of RFC 5802 §5 (SCRAM-SHA-1)
// and RFC 7677 §3 (SCRAM-SHA-256), which pin down key derivation, the auth
// message and both signatures.
func TestRFCVectors(t *testing.T) {
	tests := []struct {
		name, mech, salt   string
		clientNonce        string
		serverNonce        string
		clientFinal        string
		wantServerFinal    string
		wantServerFirstFmt string
	}{
		{
			name:            "RFC 5802",
			mech:            SCRAMSHA1,
			salt:            "QSXCR+Q6sek8bf92",
			clientNonce:     "fyko+d2lbbFgONRv9qkxdawL",
			serverNonce:     "3rfcNHYJY1ZVvWVs7j",
			clientFinal:     "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
			wantServerFinal: "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=",
		},
		{
			name:            "RFC 7677",
			mech:            SCRAMSHA256,
			salt:            "W22ZaJ0SNY7soEsUEjb6gQ==",
			clientNonce:     "rOprNGfwEbeRWgbNEkqO",
			serverNonce:     "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
			clientFinal:     "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
			wantServerFinal: "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, _ := scramHashFor(tt.mech)
			salt, _ := base64.StdEncoding.DecodeString(tt.salt)
			cred, err := deriveCredential(h, "pencil", salt, 4096)
			if err != nil {
				t.Fatal(err)
			}
			if !VerifyPassword(cred, "pencil") || VerifyPassword(cred, "pencil2") {
				t.Fatal("VerifyPassword disagrees with the derived credential")
			}
			db := &userDB{users: map[string][]storage.Credential{"user": {cred}}}
			e, err := NewExchange(tt.mech, testConfig(db))
			if err != nil {
				t.Fatal(err)
			}
			e.newNonce = func() string { return tt.serverNonce }
			ctx := context.Background()

			serverFirst, _, err := e.Step(ctx, []byte("n,,n=user,r="+tt.clientNonce))
			if err != nil {
				t.Fatal(err)
			}
			want := "r=" + tt.clientNonce + tt.serverNonce + ",s=" + tt.salt + ",i=4096"
			if string(serverFirst) != want {
				t.Fatalf("server-first = %q, want %q", serverFirst, want)
			}
			serverFinal, done, err := e.Step(ctx, []byte(tt.clientFinal))
			if err != nil || !done {
				t.Fatalf("client-final: done=%v err=%v", done, err)
			}
			if string(serverFinal) != tt.wantServerFinal {
				t.Fatalf("server-final = %q, want %q", serverFinal, tt.wantServerFinal)
			}
			if e.Username() != "user" {
				t.Fatalf("Username() = %q", e.Username())
			}
		})
	}
}

func TestDeriveCredentials(t *testing.T) {
	creds, err := DeriveCredentials("correct horse", MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	wantHashes := []string{storage.HashSHA512, storage.HashSHA256, storage.HashSHA1}
	if len(creds) != len(wantHashes) {
		t.Fatalf("got %d credentials, want %d", len(creds), len(wantHashes))
	}
	for i, c := range creds {
		h, _ := hashByName(wantHashes[i])
		if c.Hash != h.name || len(c.StoredKey) != h.size || len(c.ServerKey) != h.size ||
			c.Iterations != MinIterations || len(c.Salt) < 16 {
			t.Errorf("credential %d malformed: hash %s, salt %d bytes, iterations %d", i, c.Hash, len(c.Salt), c.Iterations)
		}
		for j := range i {
			if bytes.Equal(c.Salt, creds[j].Salt) {
				t.Errorf("credentials %d and %d share a salt", i, j)
			}
		}
		if !VerifyPassword(c, "correct horse") {
			t.Errorf("%s: right password rejected", c.Hash)
		}
		if VerifyPassword(c, "correct horsE") {
			t.Errorf("%s: wrong password accepted", c.Hash)
		}
	}
	again, _ := DeriveCredentials("correct horse", MinIterations)
	if bytes.Equal(again[0].Salt, creds[0].Salt) {
		t.Error("salt is not fresh per call")
	}
}

func TestDeriveCredentialsErrors(t *testing.T) {
	tests := []struct {
		name       string
		password   string
		iterations int
	}{
		{"too few iterations", "secret", MinIterations - 1},
		{"zero iterations", "secret", 0},
		{"empty password", "", MinIterations},
		{"control character", "sec\x01ret", MinIterations},
		{"NUL", "sec\x00ret", MinIterations},
		{"invalid UTF-8", "sec\xffret", MinIterations},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			creds, err := DeriveCredentials(tt.password, tt.iterations)
			if err == nil || creds != nil {
				t.Fatalf("got %v, %v; want error", creds, err)
			}
			if tt.password != "" && strings.Contains(err.Error(), tt.password) {
				t.Fatalf("error %q leaks the password", err)
			}
		})
	}
}

// TestPasswordNormalization checks that the password is prepared with PRECIS
// OpaqueString on both sides: non-ASCII spaces become ASCII spaces and
// decomposed characters are composed (NFC).
func TestPasswordNormalization(t *testing.T) {
	creds, err := DeriveCredentials("caf\u00e9\u00a0bar", MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	for _, same := range []string{"caf\u00e9 bar", "cafe\u0301\u00a0bar"} {
		if !VerifyPassword(creds[0], same) {
			t.Errorf("%q should match after normalization", same)
		}
	}
	if VerifyPassword(creds[0], "cafe bar") {
		t.Error("different password accepted")
	}
}

func TestVerifyPasswordRejectsDamagedCredential(t *testing.T) {
	good := testCreds()[1]
	tests := map[string]func(*storage.Credential){
		"unknown hash":    func(c *storage.Credential) { c.Hash = "MD5" },
		"short key":       func(c *storage.Credential) { c.StoredKey = c.StoredKey[:5] },
		"no salt":         func(c *storage.Credential) { c.Salt = nil },
		"zero iterations": func(c *storage.Credential) { c.Iterations = 0 },
	}
	for name, damage := range tests {
		t.Run(name, func(t *testing.T) {
			c := good
			damage(&c)
			if VerifyPassword(c, testPassword) {
				t.Fatal("damaged credential accepted")
			}
		})
	}
	if !VerifyPassword(good, testPassword) {
		t.Fatal("good credential rejected")
	}
	if VerifyPassword(good, "") {
		t.Fatal("empty password accepted")
	}
}
