package auth

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"

	"parley.im/parley/storage"
)

const fuzzServerNonce = "SERVERNONCE"

// fuzzDB keeps PBKDF2 cheap (one iteration) so the fuzzer spends its time
// in the parsers.
func fuzzDB() *userDB {
	var creds []storage.Credential
	for _, h := range hashesStrongestFirst {
		c, err := deriveCredential(h, testPassword, []byte("fuzz salt"), 1)
		if err != nil {
			panic(err)
		}
		creds = append(creds, c)
	}
	return &userDB{users: map[string][]storage.Credential{testUser: creds}, noRecord: true}
}

func fuzzConfig(db *userDB, advertisedPlus bool) Config {
	cfg := testConfig(db)
	cfg.TLSActive = true
	cfg.AdvertisedPlus = advertisedPlus
	cfg.FakeIterations = 1
	cfg.CB = &ChannelBinding{
		exporter:  bytes.Repeat([]byte{0xE1}, 32),
		endPoint:  bytes.Repeat([]byte{0xE2}, 32),
		preferred: []string{CBTLSExporter, CBTLSServerEndPoint},
	}
	return cfg
}

var (
	fuzzSCRAMMechanisms = []string{SCRAMSHA1, SCRAMSHA256, SCRAMSHA512, SCRAMSHA1Plus, SCRAMSHA256Plus, SCRAMSHA512Plus}
	allConditions       = []string{
		ConditionAborted, ConditionAccountDisabled, ConditionCredentialsExpired,
		ConditionEncryptionRequired, ConditionIncorrectEncoding, ConditionInvalidAuthzid,
		ConditionInvalidMechanism, ConditionMalformedRequest, ConditionMechanismTooWeak,
		ConditionNotAuthorized, ConditionTemporaryAuthFailure,
	}
	allTexts = []string{
		textMalformed, textAuthFailed, textTryLater, textBadAuthzid, textBadMechanism,
		textNeedTLS, textTooLong, textFinished, textChannelBinding,
	}
)

// checkFuzzFailure requires a *Failure with a known condition and one of
// the fixed texts, which is what keeps secrets and input out of them.
func checkFuzzFailure(t *testing.T, err error) {
	t.Helper()
	var f *Failure
	if !errors.As(err, &f) {
		t.Fatalf("error %v (%T) is not a *Failure", err, err)
	}
	if !slices.Contains(allConditions, f.Condition) || !slices.Contains(allTexts, f.Text) {
		t.Fatalf("unexpected failure %q / %q", f.Condition, f.Text)
	}
}

func FuzzSCRAM(f *testing.F) {
	db := fuzzDB()
	// Seed with correct exchanges for every mechanism and binding, so the
	// fuzzer starts from the paths that reach proof verification.
	for i, mech := range fuzzSCRAMMechanisms {
		cfg := fuzzConfig(db, true)
		c := newSCRAMClient(mech)
		switch {
		case isPlus(mech) && i%2 == 0:
			c.gs2 = "p=tls-exporter,a=user@example.org,"
			c.cbData = cfg.CB.exporter
		case isPlus(mech):
			c.gs2 = "p=tls-server-end-point,,"
			c.cbData = cfg.CB.endPoint
		}
		first := c.first()
		serverFirst := "r=" + c.nonce + fuzzServerNonce + ",s=" + "ZnV6eiBzYWx0" + ",i=1"
		final, err := c.final([]byte(serverFirst))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(i), true, first, final)
	}
	f.Add(uint8(0), false, []byte("y,,n=nobody,r=x"), []byte("c=eSws,r=xSERVERNONCE,x=y,p=AAAA"))
	f.Add(uint8(1), false, []byte("n,a=us=3Der@example.org,n=us=2Cer,r=x,e=1"), []byte("c=biws,r=x,p="))

	f.Fuzz(func(t *testing.T, mechIndex uint8, advertisedPlus bool, clientFirst, clientFinal []byte) {
		mech := fuzzSCRAMMechanisms[int(mechIndex)%len(fuzzSCRAMMechanisms)]
		e, err := NewExchange(mech, fuzzConfig(db, advertisedPlus))
		if err != nil {
			t.Fatal(err)
		}
		e.newNonce = func() string { return fuzzServerNonce }
		ctx := context.Background()

		out, done, err := e.Step(ctx, clientFirst)
		if err != nil {
			checkFuzzFailure(t, err)
			if e.Username() != "" {
				t.Fatal("Username set after failure")
			}
			return
		}
		if done {
			t.Fatal("done after client-first")
		}
		if clientFirst == nil {
			return // empty challenge; nothing more to check
		}
		if !bytes.HasPrefix(out, []byte("r=")) {
			t.Fatalf("server-first %q", out)
		}

		out, done, err = e.Step(ctx, clientFinal)
		if err != nil {
			checkFuzzFailure(t, err)
			if e.Username() != "" {
				t.Fatal("Username set after failure")
			}
			return
		}
		if !done || !bytes.HasPrefix(out, []byte("v=")) || e.Username() == "" {
			t.Fatalf("success without a proper end: done=%v out=%q user=%q", done, out, e.Username())
		}
		// Only the real user, with the real password, can get here.
		if n, _ := db.lookup(ctx, e.Username()); n == nil {
			t.Fatalf("unknown user %q authenticated", e.Username())
		}
	})
}

func FuzzPLAIN(f *testing.F) {
	db := fuzzDB()
	f.Add([]byte("\x00user\x00pencil"))
	f.Add([]byte("user@example.org\x00user\x00pencil"))
	f.Add([]byte("\x00nobody\x00pencil"))
	f.Add([]byte("\x00user\x00"))
	f.Add([]byte("a\x00b\x00c\x00d"))
	f.Add([]byte("\x00us\xffer\x00pencil"))

	f.Fuzz(func(t *testing.T, msg []byte) {
		cfg := fuzzConfig(db, false)
		e, err := NewExchange(PLAIN, cfg)
		if err != nil {
			t.Fatal(err)
		}
		out, done, err := e.Step(context.Background(), msg)
		if err != nil {
			checkFuzzFailure(t, err)
			if e.Username() != "" {
				t.Fatal("Username set after failure")
			}
			return
		}
		if !done || out != nil {
			t.Fatalf("done=%v out=%q", done, out)
		}
		if !bytes.HasSuffix(msg, []byte("\x00"+testPassword)) {
			t.Fatalf("authenticated without the password: %q", msg)
		}
	})
}
