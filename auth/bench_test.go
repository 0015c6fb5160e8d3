package auth

import (
	"context"
	"testing"

	"parley.im/parley/storage"
)

const benchIterations = 10000

// BenchmarkSCRAMExchange measures the server side of one SCRAM-SHA-256
// login: both steps, lookup included. The client's messages are computed
// once, with a fixed server nonce, since the client does the PBKDF2 work.
func BenchmarkSCRAMExchange(b *testing.B) {
	creds, err := DeriveCredentials(testPassword, benchIterations)
	if err != nil {
		b.Fatal(err)
	}
	db := &userDB{users: map[string][]storage.Credential{testUser: creds}, noRecord: true}
	cfg := testConfig(db)
	const serverNonce = "benchservernonce"

	c := newSCRAMClient(SCRAMSHA256)
	first := c.first()
	e, _ := NewExchange(SCRAMSHA256, cfg)
	e.newNonce = func() string { return serverNonce }
	serverFirst, _, err := e.Step(context.Background(), first)
	if err != nil {
		b.Fatal(err)
	}
	final, err := c.final(serverFirst)
	if err != nil {
		b.Fatal(err)
	}

	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		e, _ := NewExchange(SCRAMSHA256, cfg)
		e.newNonce = func() string { return serverNonce }
		if _, _, err := e.Step(ctx, first); err != nil {
			b.Fatal(err)
		}
		if _, done, err := e.Step(ctx, final); err != nil || !done {
			b.Fatal(err)
		}
	}
}

// BenchmarkPLAIN is dominated by PBKDF2-SHA-512 over the stored iteration
// count: the price of PLAIN for the server.
func BenchmarkPLAIN(b *testing.B) {
	creds, err := DeriveCredentials(testPassword, benchIterations)
	if err != nil {
		b.Fatal(err)
	}
	db := &userDB{users: map[string][]storage.Credential{testUser: creds}, noRecord: true}
	cfg := testConfig(db)
	cfg.TLSActive = true
	msg := []byte("\x00" + testUser + "\x00" + testPassword)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		e, _ := NewExchange(PLAIN, cfg)
		if _, done, err := e.Step(ctx, msg); err != nil || !done {
			b.Fatal(err)
		}
	}
}
