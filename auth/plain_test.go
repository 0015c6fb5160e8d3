package auth

import (
	"context"
	"errors"
	"strings"
	"testing"

	"parley.im/parley/storage"
)

func plainConfig(db *userDB) Config {
	cfg := testConfig(db)
	cfg.TLSActive = true
	return cfg
}

func TestPLAIN(t *testing.T) {
	db := newUserDB()
	// Inconsistent credentials: SHA-512 for one password, SHA-1 for another.
	// PLAIN must check the strongest.
	strong, _ := DeriveCredentials("strong one", MinIterations)
	weak, _ := DeriveCredentials("weak one", MinIterations)
	db.users["mixed"] = []storage.Credential{weak[2], strong[0]}
	db.users["sha1only"] = []storage.Credential{weak[2]}
	db.users["nocreds"] = nil
	spacey, _ := DeriveCredentials("open\u00a0sesame", MinIterations)
	db.users["spacey"] = spacey
	damaged := strong[0]
	damaged.ServerKey = nil
	db.users["damaged"] = []storage.Credential{damaged}

	tests := []struct {
		name     string
		msg      string
		want     string
		wantUser string
	}{
		{"correct", "\x00user\x00pencil", "", "user"},
		{"authzid bare JID", "user@example.org\x00user\x00pencil", "", "user"},
		{"authzid other case", "USER@Example.ORG\x00user\x00pencil", "", "user"},
		{"raw case kept", "\x00User\x00pencil", "", "User"},
		{"password normalized", "\x00spacey\x00open sesame", "", "spacey"},
		{"strongest credential wins", "\x00mixed\x00strong one", "", "mixed"},
		{"weaker credential ignored", "\x00mixed\x00weak one", ConditionNotAuthorized, ""},
		{"only SHA-1 stored", "\x00sha1only\x00weak one", "", "sha1only"},
		{"wrong password", "\x00user\x00pencil2", ConditionNotAuthorized, ""},
		{"unknown user", "\x00nobody\x00pencil", ConditionNotAuthorized, ""},
		{"no credentials", "\x00nocreds\x00pencil", ConditionNotAuthorized, ""},
		{"damaged credential", "\x00damaged\x00strong one", ConditionNotAuthorized, ""},
		{"password with control char", "\x00user\x00pen\x01cil", ConditionNotAuthorized, ""},
		{"authzid other user", "admin@example.org\x00user\x00pencil", ConditionInvalidAuthzid, ""},
		{"authzid other host", "user@example.net\x00user\x00pencil", ConditionInvalidAuthzid, ""},
		{"authzid with resource", "user@example.org/r\x00user\x00pencil", ConditionInvalidAuthzid, ""},
		{"one NUL", "user\x00pencil", ConditionMalformedRequest, ""},
		{"no NUL", "userpencil", ConditionMalformedRequest, ""},
		{"three NULs", "\x00user\x00pen\x00cil", ConditionMalformedRequest, ""},
		{"empty authcid", "\x00\x00pencil", ConditionMalformedRequest, ""},
		{"empty password", "\x00user\x00", ConditionMalformedRequest, ""},
		{"only NULs", "\x00\x00", ConditionMalformedRequest, ""},
		{"empty", "", ConditionMalformedRequest, ""},
		{"invalid UTF-8", "\x00us\xc3er\x00pencil", ConditionMalformedRequest, ""},
		{"overlong", "\x00user\x00" + strings.Repeat("p", MaxMessageLen), ConditionMalformedRequest, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := NewExchange(PLAIN, plainConfig(db))
			if err != nil {
				t.Fatal(err)
			}
			out, done, err := e.Step(context.Background(), []byte(tt.msg))
			wantCondition(t, err, tt.want, "pencil", "strong one", "weak one")
			if done != (tt.want == "") || out != nil {
				t.Fatalf("done=%v out=%q", done, out)
			}
			if e.Username() != tt.wantUser {
				t.Fatalf("Username() = %q, want %q", e.Username(), tt.wantUser)
			}
			_, _, err = e.Step(context.Background(), []byte(tt.msg))
			wantCondition(t, err, ConditionMalformedRequest)
		})
	}
}

// TestPLAINUnknownUserLooksLikeWrongPassword compares what the client sees.
func TestPLAINUnknownUserLooksLikeWrongPassword(t *testing.T) {
	run := func(msg string) *Failure {
		e, _ := NewExchange(PLAIN, plainConfig(newUserDB()))
		_, _, err := e.Step(context.Background(), []byte(msg))
		var f *Failure
		if !errors.As(err, &f) {
			t.Fatalf("got %v", err)
		}
		return f
	}
	unknown, wrong := run("\x00nobody\x00pencil"), run("\x00user\x00nope")
	if unknown.Condition != wrong.Condition || unknown.Text != wrong.Text {
		t.Fatalf("unknown user %q/%q, wrong password %q/%q", unknown.Condition, unknown.Text, wrong.Condition, wrong.Text)
	}
}

func TestPLAINNoInitialResponse(t *testing.T) {
	e, _ := NewExchange(PLAIN, plainConfig(newUserDB()))
	out, done, err := e.Step(context.Background(), nil)
	if err != nil || done || out == nil || len(out) != 0 {
		t.Fatalf("got %q, %v, %v; want an empty challenge", out, done, err)
	}
	out, done, err = e.Step(context.Background(), []byte("\x00user\x00pencil"))
	if err != nil || !done || out != nil {
		t.Fatalf("got %q, %v, %v", out, done, err)
	}
}

func TestPLAINLookup(t *testing.T) {
	db := newUserDB()
	e, _ := NewExchange(PLAIN, plainConfig(db))
	if _, _, err := e.Step(context.Background(), []byte("\x00USER\x00pencil")); err != nil {
		t.Fatal(err)
	}
	if len(db.asked) != 1 || db.asked[0] != "USER" {
		t.Fatalf("lookup asked %q, want the raw authcid", db.asked)
	}

	db.err = errors.New("database on fire")
	e, _ = NewExchange(PLAIN, plainConfig(db))
	_, _, err := e.Step(context.Background(), []byte("\x00user\x00pencil"))
	wantCondition(t, err, ConditionTemporaryAuthFailure, "pencil")
}
