package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"parley.im/parley/config"
	"parley.im/parley/server"
	"parley.im/parley/storage"
)

// inviteOf reads back the stored invitation of the token in uri.
func inviteOf(t *testing.T, cfgPath, uri string) (storage.Invite, error) {
	t.Helper()
	_, tok, ok := strings.Cut(uri, "preauth=")
	if !ok {
		t.Fatalf("no token in %q", uri)
	}
	tok, _, _ = strings.Cut(tok, ";")
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	st, err := server.OpenStore(context.Background(), cfg, true)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	return st.Invite(context.Background(), "example.test", storage.InviteTokenHash(tok), time.Now())
}

func TestInviteCreate(t *testing.T) {
	cfg := writeConfig(t)
	if r := runCLI("pw\n", "adduser", "-config", cfg, "admin@example.test"); r.code != 0 {
		t.Fatalf("adduser: %+v", r)
	}
	r := runCLI("", "invite", "-config", cfg, "create", "-user", "Juliet@example.test", "-inviter", "admin@example.test", "-ttl", "2h")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "xmpp:juliet@example.test?register;preauth=") {
		t.Fatalf("invite create -user: %+v", r)
	}
	inv, err := inviteOf(t, cfg, strings.TrimSpace(r.stdout))
	if err != nil || inv.Username != "juliet" || inv.Inviter != "admin" || !inv.Register ||
		time.Until(inv.Expires) > 2*time.Hour || time.Until(inv.Expires) < time.Hour {
		t.Errorf("stored invite %+v, %v", inv, err)
	}
	if strings.Contains(r.stderr, strings.TrimSpace(r.stdout)) {
		t.Errorf("the link went to stderr too: %q", r.stderr)
	}
	// -config after the subcommand, a contact invitation, the host default.
	r = runCLI("", "invite", "create", "-config", cfg, "-inviter", "admin@example.test")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "xmpp:admin@example.test?roster;preauth=") || !strings.HasSuffix(strings.TrimSpace(r.stdout), ";ibr=y") {
		t.Fatalf("contact invitation: %+v", r)
	}
	r = runCLI("", "invite", "create", "-config", cfg)
	if r.code != 0 || !strings.HasPrefix(r.stdout, "xmpp:example.test?register;preauth=") {
		t.Fatalf("host invitation: %+v", r)
	}
	for i, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"invite", "-config", cfg, "create", "-user", "admin@example.test"}, "already exists"},
		{[]string{"invite", "-config", cfg, "create", "-user", "juliet@example.test"}, "reserved"},
		{[]string{"invite", "-config", cfg, "create", "-user", "x@other.test"}, "not served"},
		{[]string{"invite", "-config", cfg, "create", "-inviter", "ghost@example.test"}, "no such account"},
		{[]string{"invite", "-config", cfg, "create", "-ttl", "1s"}, "shorter than a minute"},
		{[]string{"invite", "-config", cfg, "create", "extra"}, "usage"},
		{[]string{"invite", "-config", cfg}, "usage"},
	} {
		r := runCLI("", tc.args...)
		if r.code == 0 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%d: %v: %+v, want an error with %q", i, tc.args, r, tc.want)
		}
	}
}
