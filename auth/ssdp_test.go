package auth

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"strings"
	"testing"
)

// TestSSDPSpecExample checks the value XEP-0474 0.5.0 gives in its
// example: SHA-1 of "SCRAM-SHA-1 0x1E SCRAM-SHA-1-PLUS 0x1F tls-exporter
// 0x1E tls-server-end-point".
func TestSSDPSpecExample(t *testing.T) {
	d := &DowngradeProtection{
		Mechanisms:      []string{"SCRAM-SHA-1-PLUS", "SCRAM-SHA-1"},
		ChannelBindings: []string{"tls-server-end-point", "tls-exporter"},
	}
	if got, want := d.SSDP(SCRAMSHA1Plus), "G6k/rBLDqgOhRRaCuuatSDFkJ08="; got != want {
		t.Errorf("SSDP = %s, want %s (the XEP's example)", got, want)
	}
}

// TestSSDPIndependent computes the hash here, by hand, for each SCRAM
// hash, with and without XEP-0440.
func TestSSDPIndependent(t *testing.T) {
	mechs := []string{"SCRAM-SHA-512-PLUS", "SCRAM-SHA-256", "PLAIN", "SCRAM-SHA-1"}
	// i;octet order, written out by hand.
	sorted := "PLAIN\x1eSCRAM-SHA-1\x1eSCRAM-SHA-256\x1eSCRAM-SHA-512-PLUS"
	cbs := "\x1ftls-exporter\x1etls-server-end-point\x1etls-unique"
	s1 := sha1.Sum([]byte(sorted + cbs))
	s256 := sha256.Sum256([]byte(sorted + cbs))
	s512 := sha512.Sum512([]byte(sorted + cbs))
	noCB := sha256.Sum256([]byte(sorted))
	emptyCB := sha256.Sum256([]byte(sorted + "\x1f"))
	with := &DowngradeProtection{Mechanisms: mechs, ChannelBindings: []string{"tls-unique", "tls-server-end-point", "tls-exporter"}}
	for _, tc := range []struct {
		d    *DowngradeProtection
		mech string
		want []byte
	}{
		{with, SCRAMSHA1, s1[:]},
		{with, SCRAMSHA256Plus, s256[:]},
		{with, SCRAMSHA512, s512[:]},
		{&DowngradeProtection{Mechanisms: mechs}, SCRAMSHA256, noCB[:]},
		// XEP-0440 used with no type: the separator stays.
		{&DowngradeProtection{Mechanisms: mechs, ChannelBindings: []string{}}, SCRAMSHA256, emptyCB[:]},
	} {
		if got := tc.d.SSDP(tc.mech); got != base64.StdEncoding.EncodeToString(tc.want) {
			t.Errorf("SSDP(%s, cb %q) = %s, want %s", tc.mech, tc.d.ChannelBindings, got, base64.StdEncoding.EncodeToString(tc.want))
		}
	}
	if got := with.SSDP(PLAIN); got != "" {
		t.Errorf("SSDP(PLAIN) = %q, want none", got)
	}
	if mechs[0] != "SCRAM-SHA-512-PLUS" {
		t.Error("SSDP sorted its caller's slice")
	}
}

// TestSCRAMSendsSSDP: with Downgrade set, server-first carries h= with
// the value, and the exchange (whose proof covers it) succeeds; without,
// no h=.
func TestSCRAMSendsSSDP(t *testing.T) {
	d := &DowngradeProtection{Mechanisms: []string{SCRAMSHA256, SCRAMSHA1}}
	want := sha256.Sum256([]byte("SCRAM-SHA-1\x1eSCRAM-SHA-256"))
	for _, withSSDP := range []bool{true, false} {
		cfg := testConfig(newUserDB())
		if withSSDP {
			cfg.Downgrade = d
		}
		e, err := NewExchange(SCRAMSHA256, cfg)
		if err != nil {
			t.Fatal(err)
		}
		c := newSCRAMClient(SCRAMSHA256)
		first, _, err := e.Step(t.Context(), c.first())
		if err != nil {
			t.Fatal(err)
		}
		h := ""
		for _, a := range strings.Split(string(first), ",") {
			if v, ok := strings.CutPrefix(a, "h="); ok {
				h = v
			}
		}
		if wantH := base64.StdEncoding.EncodeToString(want[:]); withSSDP && h != wantH || !withSSDP && h != "" {
			t.Errorf("server-first %q (SSDP %v): h = %q", first, withSSDP, h)
		}
		final, err := c.final(first)
		if err != nil {
			t.Fatal(err)
		}
		if _, done, err := e.Step(t.Context(), final); err != nil || !done {
			t.Fatalf("client-final: done %v, %v", done, err)
		}
	}
}
