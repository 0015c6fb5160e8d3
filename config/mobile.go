package config

import (
	"net/url"
	"slices"
	"strings"
	"time"

	"mellium.im/xmpp/jid"
)

// ExtDisco configures external service discovery (XEP-0215): the STUN and
// TURN servers clients use for audio and video calls.
type ExtDisco struct {
	// CredentialTTL is how long the TURN credentials handed out stay
	// valid (the coturn REST scheme's expiry).
	CredentialTTL time.Duration `toml:"credential_ttl"`
	// Services are listed to clients in this order.
	Services []ExtService `toml:"services"`
}

// ExtService is one external service.
type ExtService struct {
	Type      string `toml:"type"`      // stun | stuns | turn | turns
	Host      string `toml:"host"`      // DNS name or IP address
	Port      int    `toml:"port"`      // 0 = the type's default
	Transport string `toml:"transport"` // udp | tcp
	Name      string `toml:"name"`      // shown to users; may be empty
	// Restricted services need credentials; they are computed from
	// Secret (coturn's static-auth-secret), which is then required.
	Restricted bool   `toml:"restricted"`
	Secret     string `toml:"secret"` // never logged
}

// Push configures push notifications (XEP-0357).
type Push struct {
	Enabled bool `toml:"enabled"`
	// IncludeBody puts the message body in notifications; the app server
	// (a third party) then reads it. Off by default.
	IncludeBody bool `toml:"include_body"`
	// IncludeSender puts the sender's bare JID in notifications.
	IncludeSender bool `toml:"include_sender"`
	// Services, when not empty, are the only app server domains a user
	// may enable.
	Services []string `toml:"services"`
	// MaxPerAccount bounds the devices registered per account.
	MaxPerAccount int `toml:"max_per_account"`
}

// Invites configures invitations (XEP-0401, XEP-0445, XEP-0379).
type Invites struct {
	Enabled bool `toml:"enabled"`
	// AllowUsers lets every user create contact invitations (which let
	// the invitee register); account invitations stay with the admins.
	AllowUsers bool `toml:"allow_users"`
	// TTL is how long an invitation stays valid.
	TTL time.Duration `toml:"ttl"`
	// LandingURL, when set, is an https URL to which the token is
	// appended to make the invitation's web page.
	LandingURL string `toml:"landing_url"`
}

// defaultPort is the port of a service type when none is configured.
func (s ExtService) defaultPort() int {
	if s.Type == "stuns" || s.Type == "turns" {
		return 5349
	}
	return 3478
}

// EffectivePort is the configured port or the type's standard one.
func (s ExtService) EffectivePort() int {
	if s.Port == 0 {
		return s.defaultPort()
	}
	return s.Port
}

func (c *Config) validateMobile(add func(*Error), intRange func(string, int, int, int),
	durRange func(string, time.Duration, time.Duration, time.Duration)) {
	durRange("extdisco.credential_ttl", c.ExtDisco.CredentialTTL, time.Minute, 30*24*time.Hour)
	for i, s := range c.ExtDisco.Services {
		p := indexKey("extdisco.services", i)
		if !slices.Contains([]string{"stun", "stuns", "turn", "turns"}, s.Type) {
			add(c.at(p+".type", []string{p}, "must be one of stun, stuns, turn, turns, got %q", s.Type))
		}
		if h := strings.TrimSpace(s.Host); h == "" || h != s.Host || strings.ContainsAny(h, "/?#@ ") {
			add(c.at(p+".host", []string{p}, "must be a DNS name or an IP address, got %q", s.Host))
		}
		if s.Port < 0 || s.Port > 65535 {
			add(c.at(p+".port", []string{p}, "must be between 0 (the type's default) and 65535, got %d", s.Port))
		}
		if s.Transport != "udp" && s.Transport != "tcp" {
			add(c.at(p+".transport", []string{p}, "must be udp or tcp, got %q", s.Transport))
		}
		if (s.Type == "stuns" || s.Type == "turns") && s.Transport == "udp" {
			add(c.at(p+".transport", []string{p}, "%s runs over TLS, so its transport is tcp", s.Type))
		}
		switch {
		case s.Restricted && s.Secret == "":
			add(c.at(p+".secret", []string{p}, "must be set for a restricted service: credentials are computed from it"))
		case !s.Restricted && s.Secret != "":
			add(c.at(p+".restricted", []string{p + ".secret", p}, "must be true when a secret is set"))
		}
	}

	for i, s := range c.Push.Services {
		if j, err := jid.Parse(s); err != nil || j.Localpart() != "" || j.Resourcepart() != "" || j.String() != s {
			add(c.at(indexKey("push.services", i), []string{"push.services"}, "%q must be a domain in canonical form, such as \"push.example.org\"", s))
		}
	}
	intRange("push.max_per_account", c.Push.MaxPerAccount, 1, 100)

	durRange("invites.ttl", c.Invites.TTL, time.Minute, 365*24*time.Hour)
	if u := c.Invites.LandingURL; u != "" {
		pu, err := url.Parse(u)
		if err != nil || pu.Scheme != "https" || pu.Host == "" || pu.User != nil {
			add(c.at("invites.landing_url", nil, "must be an https URL to which the token is appended, such as \"https://example.org/invite/\", got %q", u))
		}
	}
}
