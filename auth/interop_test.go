package auth

import (
	"context"
	"crypto/tls"
	"testing"

	"mellium.im/sasl"
)

// These tests use mellium.im/sasl's client as an independent implementation.

func runMellium(t *testing.T, e *Exchange, client *sasl.Negotiator) error {
	t.Helper()
	ctx := context.Background()
	more, msg, err := client.Step(nil)
	if err != nil {
		t.Fatal(err)
	}
	for {
		out, done, err := e.Step(ctx, msg)
		if err != nil {
			return err
		}
		if done {
			if !more {
				return nil // PLAIN: nothing for the client to check
			}
			// mellium verifies the server signature in its last step.
			if _, _, err := client.Step(out); err != nil {
				t.Fatalf("client rejects server-final %q: %v", out, err)
			}
			return nil
		}
		more, msg, err = client.Step(out)
		if err != nil {
			t.Fatalf("client: %v", err)
		}
	}
}

func melliumCredentials(user, password, authzid string) sasl.Option {
	return sasl.Credentials(func() ([]byte, []byte, []byte) {
		return []byte(user), []byte(password), []byte(authzid)
	})
}

func TestMelliumSCRAM(t *testing.T) {
	for _, m := range []sasl.Mechanism{sasl.ScramSha1, sasl.ScramSha256} {
		t.Run(m.Name, func(t *testing.T) {
			e, _ := NewExchange(m.Name, testConfig(newUserDB()))
			client := sasl.NewClient(m, melliumCredentials(testUser, testPassword, ""))
			if err := runMellium(t, e, client); err != nil {
				t.Fatal(err)
			}
			if e.Username() != testUser {
				t.Fatalf("Username() = %q", e.Username())
			}

			e, _ = NewExchange(m.Name, testConfig(newUserDB()))
			client = sasl.NewClient(m, melliumCredentials(testUser, "not the password", "user@example.org"))
			wantCondition(t, runMellium(t, e, client), ConditionNotAuthorized, "not the password")
		})
	}
}

// TestMelliumSCRAMPlusExporter binds to a real TLS 1.3 connection with
// tls-exporter (RFC 9266).
func TestMelliumSCRAMPlusExporter(t *testing.T) {
	p := newTLSPair(t, tls.VersionTLS13)
	cb := NewChannelBinding(&p.server, p.leaf)
	for _, m := range []sasl.Mechanism{sasl.ScramSha1Plus, sasl.ScramSha256Plus} {
		t.Run(m.Name, func(t *testing.T) {
			cfg := testConfig(newUserDB())
			cfg.TLSActive, cfg.CB, cfg.AdvertisedPlus = true, cb, true
			e, _ := NewExchange(m.Name, cfg)
			client := sasl.NewClient(m, melliumCredentials(testUser, testPassword, "user@example.org"),
				sasl.TLSState(p.client), sasl.RemoteMechanisms(m.Name))
			if err := runMellium(t, e, client); err != nil {
				t.Fatal(err)
			}
			if e.ChannelBindingType() != CBTLSExporter {
				t.Fatalf("ChannelBindingType() = %q", e.ChannelBindingType())
			}

			// The same client on another TLS connection (a man in the
			// middle relaying the SASL exchange) must fail.
			other := newTLSPair(t, tls.VersionTLS13)
			e, _ = NewExchange(m.Name, cfg)
			client = sasl.NewClient(m, melliumCredentials(testUser, testPassword, ""),
				sasl.TLSState(other.client), sasl.RemoteMechanisms(m.Name))
			wantCondition(t, runMellium(t, e, client), ConditionNotAuthorized, testPassword)
		})
	}
}

// TestMelliumDowngrade: a binding-capable client that was shown no -PLUS
// mechanism sends "y"; since the server did advertise them, a man in the
// middle stripped them.
func TestMelliumDowngrade(t *testing.T) {
	p := newTLSPair(t, tls.VersionTLS13)
	cfg := testConfig(newUserDB())
	cfg.TLSActive, cfg.CB, cfg.AdvertisedPlus = true, NewChannelBinding(&p.server, p.leaf), true
	e, _ := NewExchange(SCRAMSHA256, cfg)
	// mellium sends "y" for a -PLUS mechanism the remote did not list; the
	// stripped exchange then runs as SCRAM-SHA-256 on the server.
	client := sasl.NewClient(sasl.ScramSha256Plus, melliumCredentials(testUser, testPassword, ""), sasl.TLSState(p.client))
	wantCondition(t, runMellium(t, e, client), ConditionNotAuthorized)
}

func TestMelliumPLAIN(t *testing.T) {
	e, _ := NewExchange(PLAIN, plainConfig(newUserDB()))
	client := sasl.NewClient(sasl.Plain, melliumCredentials(testUser, testPassword, ""))
	if err := runMellium(t, e, client); err != nil {
		t.Fatal(err)
	}
}
