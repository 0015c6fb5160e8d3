package main

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"mellium.im/sasl"

	"parley.im/parley/auth"
	"parley.im/parley/storage"
)

func TestPercentile(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		var out []time.Duration
		for _, n := range ns {
			out = append(out, time.Duration(n)*time.Millisecond)
		}
		return out
	}
	cases := []struct {
		vals []time.Duration
		p    float64
		want time.Duration
	}{
		{nil, 50, 0},
		{ms(7), 50, 7 * time.Millisecond},
		{ms(7), 100, 7 * time.Millisecond},
		{ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{ms(1, 2, 3, 4), 51, 3 * time.Millisecond},
		{ms(1, 2, 3, 4), 100, 4 * time.Millisecond},
		{ms(1, 2, 3, 4), 0.1, 1 * time.Millisecond},
		// Nearest rank: p99 of 100 values is the 99th, of 1,000 the 990th.
		{ms(seq(100)...), 99, 99 * time.Millisecond},
		{ms(seq(1000)...), 99, 990 * time.Millisecond},
		{ms(seq(1000)...), 50, 500 * time.Millisecond},
	}
	for _, c := range cases {
		if got := percentile(c.vals, c.p); got != c.want {
			t.Errorf("percentile(%d values, %v) = %v, want %v", len(c.vals), c.p, got, c.want)
		}
	}
	p := summarize(ms(5, 1, 4, 2, 3))
	if p.N != 5 || p.P50 != 3 || p.Max != 5 {
		t.Errorf("summarize = %+v", p)
	}
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i + 1
	}
	return out
}

func TestParseStatCPU(t *testing.T) {
	// A command name with spaces and parentheses; utime 1234, stime 56.
	stat := "4242 (weird ) name) S 1 4242 4242 0 -1 4194560 1234 0 0 0 1234 56 0 0 20 0 9 0 100 123456789 3000 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
	got, err := parseStatCPU([]byte(stat), 100)
	if err != nil {
		t.Fatal(err)
	}
	if want := 12*time.Second + 900*time.Millisecond; got != want {
		t.Errorf("CPU = %v, want %v", got, want)
	}
	if got, _ := parseStatCPU([]byte(stat), 1000); got != 1290*time.Millisecond {
		t.Errorf("CPU at 1000 ticks/s = %v", got)
	}
	for _, bad := range []string{"", "1 (x S 1 2", "1 (x) S 1 2 3", "1 (x) S 1 2 3 4 5 6 7 8 9 10 x 12"} {
		if _, err := parseStatCPU([]byte(bad), 100); err == nil {
			t.Errorf("parseStatCPU(%q) succeeded", bad)
		}
	}
}

func TestParseStatus(t *testing.T) {
	status := "Name:\tparley\nState:\tS (sleeping)\nVmPeak:\t 1300000 kB\nVmRSS:\t   54321 kB\nRssAnon:\t   40000 kB\nRssFile:\t   14321 kB\nThreads:\t9\n"
	s, err := parseStatus([]byte(status))
	if err != nil {
		t.Fatal(err)
	}
	if s.rss != 54321*1024 || s.rssAnon != 40000*1024 || s.threads != 9 {
		t.Errorf("parseStatus = %+v", s)
	}
	if _, err := parseStatus([]byte("Name:\tkthreadd\nThreads:\t1\n")); err == nil {
		t.Error("a status without VmRSS parsed")
	}
	if _, err := parseStatus([]byte("VmRSS:\t12 MB\n")); err == nil {
		t.Error("a VmRSS in MB parsed")
	}
}

func TestParseProcStat(t *testing.T) {
	stat := "cpu  100 5 50 1000 20 3 2 10 0 0\ncpu0 50 2 25 500 10 1 1 5 0 0\nintr 1\n"
	m, err := parseProcStat([]byte(stat), 100)
	if err != nil {
		t.Fatal(err)
	}
	if m.Busy != 1700*time.Millisecond || m.Idle != 10200*time.Millisecond {
		t.Errorf("parseProcStat = %+v", m)
	}
	if _, err := parseProcStat([]byte("intr 1\n"), 100); err == nil {
		t.Error("no cpu line parsed")
	}
}

func TestSampleSelf(t *testing.T) {
	s, err := SampleSelf()
	if err != nil {
		t.Fatal(err)
	}
	if s.RSS <= 0 || s.Threads <= 0 {
		t.Errorf("SampleSelf = %+v", s)
	}
}

func TestParseAuxvClockTicks(t *testing.T) {
	var b []byte
	for _, kv := range [][2]uint64{{6, 4096}, {atClkTck, 250}, {0, 0}} {
		b = binary.NativeEndian.AppendUint64(b, kv[0])
		b = binary.NativeEndian.AppendUint64(b, kv[1])
	}
	if got := parseAuxvClockTicks(b); got != 250 {
		t.Errorf("AT_CLKTCK = %d, want 250", got)
	}
	if got := parseAuxvClockTicks(nil); got != 100 {
		t.Errorf("default = %d, want 100", got)
	}
}

// The test vectors of RFC 7677 §3 (SCRAM-SHA-256) and RFC 5802 §5 (SCRAM-SHA-1).
func TestSCRAMVectors(t *testing.T) {
	cases := []struct {
		mech, nonce, serverFirst, final, serverFinal string
	}{
		{
			mech:        "SCRAM-SHA-256",
			nonce:       "rOprNGfwEbeRWgbNEkqO",
			serverFirst: "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
			final:       "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
			serverFinal: "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
		},
		{
			mech:        "SCRAM-SHA-1",
			nonce:       "fyko+d2lbbFgONRv9qkxdawL",
			serverFirst: "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
			final:       "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
			serverFinal: "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=",
		},
	}
	cache := newKeyCache()
	for _, c := range cases {
		fn := scramHashes[c.mech]
		bare := clientFirstBare([]byte("user"), []byte(c.nonce))
		if want := "n=user,r=" + c.nonce; string(bare) != want {
			t.Fatalf("client-first-bare = %q, want %q", bare, want)
		}
		for range 2 { // the second time from the cache
			final, sig, err := clientFinal(c.mech, fn, cache, []byte("pencil"), []byte(c.nonce), bare, []byte(c.serverFirst), []byte("n,,"))
			if err != nil {
				t.Fatal(err)
			}
			if string(final) != c.final {
				t.Errorf("%s client-final = %q, want %q", c.mech, final, c.final)
			}
			if err := verifyServerFinal([]byte(c.serverFinal), sig); err != nil {
				t.Errorf("%s server-final: %v", c.mech, err)
			}
			if err := verifyServerFinal([]byte("v=AAAA"), sig); err == nil {
				t.Errorf("%s: a wrong server signature was accepted", c.mech)
			}
		}
	}
	if n := cache.Derived(); n != 2 {
		t.Errorf("%d PBKDF2 derivations, want 2 (one per mechanism)", n)
	}
	if _, _, err := clientFinal("SCRAM-SHA-1", sha1.New, cache, []byte("pencil"), []byte("abc"), []byte("n=user,r=abc"), []byte("r=xyz,s=QSXCR+Q6sek8bf92,i=4096"), []byte("n,,")); err == nil {
		t.Error("a server nonce not extending the client's was accepted")
	}
	if _, _, err := clientFinal("SCRAM-SHA-256", sha256.New, cache, []byte("pencil"), []byte("abc"), []byte("n=user,r=abc"), []byte("r=abcd,s=QSXCR+Q6sek8bf92,i=0"), []byte("n,,")); err == nil {
		t.Error("iteration count 0 was accepted")
	}
	if got := string(clientFirstBare([]byte("a=b,c"), []byte("n"))); got != "n=a=3Db=2Cc,r=n" {
		t.Errorf("escaped username: %q", got)
	}
}

// Every mechanism the tool offers logs in against Parley's own SASL server,
// with and without the key cache.
func TestMechanismsAgainstParley(t *testing.T) {
	creds, err := auth.DeriveCredentials("secret pass", auth.MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	lookup := func(_ context.Context, user string) ([]storage.Credential, error) {
		if user != "alice" {
			return nil, storage.ErrNotFound
		}
		return creds, nil
	}
	for _, name := range []string{"SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"} {
		for _, cached := range []bool{true, false} {
			var cache *keyCache
			if cached {
				cache = newKeyCache()
			}
			mech, err := mechanism(name, cache)
			if err != nil {
				if !cached && name == "SCRAM-SHA-512" {
					continue // mellium has no SHA-512
				}
				t.Fatal(err)
			}
			for _, password := range []string{"secret pass", "wrong"} {
				ok := login(t, name, mech, lookup, password)
				if ok != (password == "secret pass") {
					t.Errorf("%s (cache %v) with password %q: success %v", name, cached, password, ok)
				}
			}
		}
	}
}

func login(t *testing.T, name string, mech sasl.Mechanism, lookup auth.CredentialLookup, password string) bool {
	t.Helper()
	ctx := context.Background()
	ex, err := auth.NewExchange(name, auth.Config{Lookup: lookup, Host: "localhost", TLSActive: true})
	if err != nil {
		t.Fatal(err)
	}
	neg := sasl.NewClient(mech, sasl.Credentials(func() ([]byte, []byte, []byte) {
		return []byte("alice"), []byte(password), nil
	}))
	_, resp, err := neg.Step(nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		out, done, err := ex.Step(ctx, resp)
		if err != nil {
			return false
		}
		if done {
			if strings.HasPrefix(name, "SCRAM") {
				if _, _, err := neg.Step(out); err != nil {
					t.Errorf("%s: the client refused the server signature: %v", name, err)
					return false
				}
			}
			return true
		}
		if _, resp, err = neg.Step(out); err != nil {
			t.Fatalf("%s: client step: %v", name, err)
		}
	}
	t.Fatalf("%s: too many steps", name)
	return false
}
