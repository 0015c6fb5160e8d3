package config

import (
	"slices"
	"testing"
)

// A federation setup loads: enabled, allow and deny lists, static hosts.
func TestS2SSection(t *testing.T) {
	c, err := load(t, `[[host]]
name = "a.example"

[s2s]
enabled = true
allow = ["push.example"]
deny = ["spam.example"]
auth = "certificate"
direct_tls = [":5270"]
static_hosts = ["b.example=127.0.0.1:5269", "c.example=tls:[::1]:5270"]
`)
	if err != nil {
		t.Fatal(err)
	}
	if !c.S2S.Enabled || !c.S2SActive() || !slices.Equal(c.S2S.StaticHosts, []string{"b.example=127.0.0.1:5269", "c.example=tls:[::1]:5270"}) {
		t.Fatalf("s2s: %+v", c.S2S)
	}
	for i, tc := range []struct {
		enabled bool
		allow   []string
		active  bool
	}{{false, nil, false}, {false, []string{"push.example"}, true}, {true, nil, true}} {
		c := Default()
		c.S2S.Enabled, c.S2S.Allow = tc.enabled, tc.allow
		if c.S2SActive() != tc.active {
			t.Errorf("%d: S2SActive() = %v", i, !tc.active)
		}
	}
	if Default().S2SActive() {
		t.Error("federation is on by default")
	}
}
