package config

import (
	"strings"
	"testing"
	"time"
)

func TestMobileValidation(t *testing.T) {
	svc := func(lines ...string) string {
		return "[[extdisco.services]]\n" + strings.Join(lines, "\n")
	}
	for _, tc := range []struct{ name, src, want string }{
		{"ttl", "[extdisco]\ncredential_ttl = \"1s\"", `config.toml:2: extdisco.credential_ttl: must be at least 1m0s`},
		{"type", svc(`type = "ftp"`, `host = "h.example"`, `transport = "udp"`), `config.toml:2: extdisco.services[0].type: must be one of stun, stuns, turn, turns, got "ftp"`},
		{"host empty", svc(`type = "stun"`, `host = ""`, `transport = "udp"`), `config.toml:3: extdisco.services[0].host: must be a DNS name or an IP address, got ""`},
		{"host path", svc(`type = "stun"`, `host = "h.example/x"`, `transport = "udp"`), `extdisco.services[0].host: must be a DNS name or an IP address`},
		{"port", svc(`type = "stun"`, `host = "h.example"`, `port = 70000`, `transport = "udp"`), `config.toml:4: extdisco.services[0].port: must be between 0 (the type's default) and 65535, got 70000`},
		{"transport", svc(`type = "stun"`, `host = "h.example"`, `transport = "sctp"`), `config.toml:4: extdisco.services[0].transport: must be udp or tcp, got "sctp"`},
		{"turns over udp", svc(`type = "turns"`, `host = "h.example"`, `transport = "udp"`, `restricted = true`, `secret = "s"`), `extdisco.services[0].transport: turns runs over TLS, so its transport is tcp`},
		{"restricted without secret", svc(`type = "turn"`, `host = "h.example"`, `transport = "udp"`, `restricted = true`), `extdisco.services[0].secret: must be set for a restricted service`},
		{"secret unrestricted", svc(`type = "turn"`, `host = "h.example"`, `transport = "udp"`, `secret = "s"`), `config.toml:5: extdisco.services[0].restricted: must be true when a secret is set`},
		{"push service", "[push]\nservices = [\"p2.siacs.eu\", \"Push.Example\"]", `config.toml:2: push.services[1]: "Push.Example" must be a domain in canonical form`},
		{"push service jid", "[push]\nservices = [\"a@p2.siacs.eu\"]", `push.services[0]: "a@p2.siacs.eu" must be a domain`},
		{"push max", "[push]\nmax_per_account = 0", `config.toml:2: push.max_per_account: must be between 1 and 100, got 0`},
		{"invites ttl", "[invites]\nttl = \"720000h\"", `config.toml:2: invites.ttl: must be at most 8760h0m0s`},
		{"landing http", "[invites]\nlanding_url = \"http://example.org/i/\"", `config.toml:2: invites.landing_url: must be an https URL to which the token is appended`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, tc.src, tc.want)
		})
	}
}

func TestMobileValid(t *testing.T) {
	c, err := load(t, `
[extdisco]
credential_ttl = "12h"
[[extdisco.services]]
type = "stun"
host = "turn.example.org"
transport = "udp"
[[extdisco.services]]
type = "turns"
host = "2001:db8::1"
port = 443
transport = "tcp"
restricted = true
secret = "s3cret"
[push]
services = ["p2.siacs.eu"]
include_body = true
[invites]
allow_users = true
landing_url = "https://example.org/invite/"
`)
	if err != nil {
		t.Fatal(err)
	}
	s := c.ExtDisco.Services
	if len(s) != 2 || s[0].EffectivePort() != 3478 || s[1].EffectivePort() != 443 || c.ExtDisco.CredentialTTL != 12*time.Hour {
		t.Errorf("extdisco %+v", c.ExtDisco)
	}
	if (ExtService{Type: "turns"}).EffectivePort() != 5349 {
		t.Error("turns default port")
	}
	if !c.Push.IncludeBody || !c.Push.IncludeSender || !c.Invites.AllowUsers || !c.Invites.Enabled {
		t.Errorf("push %+v invites %+v", c.Push, c.Invites)
	}
}
