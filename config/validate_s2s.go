package config

import (
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// validateS2S checks the [s2s] section. Listen addresses are checked with
// the other listeners (validateListeners).
func (c *Config) validateS2S(add func(*Error), oneOf func(string, string, ...string),
	intRange func(string, int, int, int), durRange func(string, time.Duration, time.Duration, time.Duration)) {
	s := c.S2S
	domains := func(key string, list []string) map[string]int {
		seen := map[string]int{}
		for i, d := range list {
			k := indexKey(key, i)
			if msg := checkHostName(d); msg != "" {
				add(c.at(k, []string{key}, "%s", msg))
				continue
			}
			if _, ok := c.Host(d); ok {
				add(c.at(k, []string{key}, "%q is one of this server's own [[host]] names", d))
			}
			if j, dup := seen[d]; dup {
				add(c.at(k, []string{key}, "%q is listed twice, first as %s", d, indexKey(key, j)))
			}
			seen[d] = i
		}
		return seen
	}
	allow := domains("s2s.allow", s.Allow)
	deny := domains("s2s.deny", s.Deny)
	for d, i := range allow {
		if j, ok := deny[d]; ok {
			add(c.at(indexKey("s2s.allow", i), []string{"s2s.allow"}, "%q is also in s2s.deny (s2s.deny[%d]); a domain is either allowed or denied", d, j))
		}
	}
	if c.S2SActive() && len(s.Listen)+len(s.DirectTLS) == 0 {
		add(c.at("s2s.listen", []string{"s2s.enabled", "s2s.allow"}, "federation is on but no s2s listener is configured: remote servers could not reach this one"))
	}
	oneOf("s2s.auth", s.Auth, "certificate", "dialback")
	if s.CAFile != "" {
		if st, err := os.Stat(s.CAFile); err != nil {
			add(c.at("s2s.ca_file", nil, "cannot read %q: %v", s.CAFile, err))
		} else if st.IsDir() {
			add(c.at("s2s.ca_file", nil, "%q is a directory, expected a PEM file", s.CAFile))
		}
	}
	seen := map[string]int{}
	for i, e := range s.StaticHosts {
		k := indexKey("s2s.static_hosts", i)
		d, msg := checkStaticHost(e)
		if msg != "" {
			add(c.at(k, []string{"s2s.static_hosts"}, "%s", msg))
			continue
		}
		if j, dup := seen[d]; dup {
			add(c.at(k, []string{"s2s.static_hosts"}, "domain %q is mapped twice, first by s2s.static_hosts[%d]", d, j))
		}
		seen[d] = i
	}
	durRange("s2s.connect_timeout", s.ConnectTimeout, time.Second, 5*time.Minute)
	durRange("s2s.negotiation_timeout", s.NegotiationTimeout, time.Second, 10*time.Minute)
	durRange("s2s.idle_timeout", s.IdleTimeout, 10*time.Second, 24*time.Hour)
	intRange("s2s.queue_size", s.QueueSize, 16, 100000)
	intRange("s2s.max_connections_per_domain", s.MaxConnections, 1, 100)
}

// checkStaticHost parses "domain=host:port" or "domain=tls:host:port" and
// returns the domain, or a message saying what is wrong.
func checkStaticHost(e string) (string, string) {
	d, target, ok := strings.Cut(e, "=")
	if !ok {
		return "", `expected "domain=host:port" or "domain=tls:host:port", got "` + e + `"`
	}
	if msg := checkHostName(d); msg != "" {
		return "", msg
	}
	target = strings.TrimPrefix(target, "tls:")
	host, port, err := net.SplitHostPort(target)
	if err != nil || host == "" {
		return "", `"` + e + `": the address must be host:port, such as "127.0.0.1:5269"`
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return "", `"` + e + `": port must be a number from 1 to 65535`
	}
	return d, ""
}
