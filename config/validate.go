package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"mellium.im/xmpp/jid"
)

// Validate checks every value and the relations between them. It reports all
// problems at once (see Error). It only stats certificate files; it never
// parses them (package certs does) and never touches storage or the network.
func (c *Config) Validate() error { return c.validate().err() }

func (c *Config) validate() errorList {
	var errs errorList
	add := func(e *Error) { errs = append(errs, e) }
	oneOf := func(key, v string, allowed ...string) {
		if !slices.Contains(allowed, v) {
			add(c.at(key, nil, "must be one of %s, got %q", strings.Join(allowed, ", "), v))
		}
	}
	intRange := func(key string, v, lo, hi int) {
		if v < lo || v > hi {
			add(c.at(key, nil, "must be between %d and %d, got %d", lo, hi, v))
		}
	}
	durRange := func(key string, v, lo, hi time.Duration) {
		switch {
		case v < lo:
			add(c.at(key, nil, "must be at least %s, got %q", lo, v))
		case v > hi:
			add(c.at(key, nil, "must be at most %s, got %q", hi, v))
		}
	}

	if strings.TrimSpace(c.DataDir) == "" {
		add(c.at("data_dir", nil, "must not be empty"))
	}

	oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	oneOf("log.format", c.Log.Format, "text", "json")

	c.validateHosts(add)

	oneOf("storage.backend", c.Storage.Backend, "sqlite", "postgres")
	if c.Storage.Backend == "postgres" && c.Storage.Postgres.DSN == "" {
		add(c.at("storage.postgres.dsn", []string{"storage.backend"},
			`required when storage.backend is "postgres", e.g. "postgres://parley@localhost/parley?sslmode=disable"`))
	}
	if c.Storage.Postgres.DSN != "" {
		// The DSN may carry a password, so the message never quotes it.
		if msg := checkDSN(c.Storage.Postgres.DSN); msg != "" {
			add(c.at("storage.postgres.dsn", nil, "%s", msg))
		}
	}
	intRange("storage.postgres.max_conns", c.Storage.Postgres.MaxConns, 1, 1000)

	c.validateListeners(add)
	durRange("c2s.negotiation_timeout", c.C2S.NegotiationTimeout, time.Second, time.Hour)
	durRange("c2s.idle_timeout", c.C2S.IdleTimeout, time.Second, 24*time.Hour)
	durRange("c2s.ping_timeout", c.C2S.PingTimeout, time.Second, time.Hour)
	durRange("c2s.write_timeout", c.C2S.WriteTimeout, time.Second, time.Hour)
	oneOf("c2s.resource_conflict", c.C2S.ResourceConflict, "replace", "refuse")
	intRange("c2s.max_sessions_per_account", c.C2S.MaxSessionsPerAccount, 1, 1000)
	intRange("c2s.queue_size", c.C2S.QueueSize, 16, 65536)
	zeroOr := func(key string, v, lo, hi int) {
		if v != 0 && (v < lo || v > hi) {
			add(c.at(key, nil, "must be 0 or between %d and %d, got %d", lo, hi, v))
		}
	}
	zeroOr("c2s.receive_buffer", c.C2S.ReceiveBuffer, 4096, 16<<20)
	zeroOr("c2s.read_rate", c.C2S.ReadRate, 1024, 1<<30)
	zeroOr("c2s.read_burst", c.C2S.ReadBurst, 4096, 1<<30)
	durRange("c2s.sm_resume_timeout", c.C2S.SMResumeTimeout, 0, 24*time.Hour)
	if c.C2S.SMMaxUnacked != 0 {
		intRange("c2s.sm_max_unacked", c.C2S.SMMaxUnacked, 16, 1000000)
	}
	if c.C2S.SMMaxUnacked >= 16 && c.C2S.QueueSize >= 16 && c.C2S.SMMaxUnacked < c.C2S.QueueSize {
		// A login burst fills the queue and is written before the client
		// can acknowledge any of it.
		add(c.at("c2s.sm_max_unacked", []string{"c2s.queue_size"}, "must be at least c2s.queue_size (%d): a burst of queued stanzas is written before the client can acknowledge it", c.C2S.QueueSize))
	}
	if loc := c.C2S.SMLocation; loc != "" {
		host, port, err := net.SplitHostPort(loc)
		if p, perr := strconv.Atoi(port); err != nil || host == "" || perr != nil || p < 1 || p > 65535 {
			add(c.at("c2s.sm_location", nil, `must be "host:port" (an IPv6 address in brackets), got %q`, loc))
		}
	}

	intRange("auth.scram_iterations", c.Auth.ScramIterations, 4096, 1000000)
	seen := map[string]int{}
	for i, m := range c.Auth.Mechanisms {
		key := indexKey("auth.mechanisms", i)
		switch j, dup := seen[m]; {
		case !slices.Contains(knownMechanisms, m):
			add(c.at(key, nil, "unknown SASL mechanism %q, expected one of %s", m, strings.Join(knownMechanisms, ", ")))
		case dup:
			add(c.at(key, nil, "%q is listed twice, first as auth.mechanisms[%d]", m, j))
		case m == "PLAIN" && !c.Auth.AllowPlain:
			add(c.at(key, []string{"auth.allow_plain"}, "PLAIN is listed but auth.allow_plain is false%s", c.lineNote("auth.allow_plain")))
		}
		seen[m] = i
	}
	if len(c.Mechanisms()) == 0 {
		add(c.at("auth.mechanisms", []string{"auth.allow_plain"}, "no SASL mechanism is left enabled; nobody could log in"))
	}
	intRange("auth.max_attempts", c.Auth.MaxAttempts, 1, 5)
	intRange("auth.account_failures", c.Auth.AccountFailures, 0, 1000000)
	intRange("auth.ip_failures", c.Auth.IPFailures, 0, 1000000)
	durRange("auth.failure_window", c.Auth.FailureWindow, time.Second, 24*time.Hour)
	if c.Auth.FastTokenLifetime != 0 {
		durRange("auth.fast_token_lifetime", c.Auth.FastTokenLifetime, time.Minute, 365*24*time.Hour)
	}

	intRange("limits.max_stanza_size", c.Limits.MaxStanzaSize, 1024, 16777216)
	intRange("limits.max_depth", c.Limits.MaxDepth, 4, 256)
	intRange("limits.max_stream_header", c.Limits.MaxStreamHeader, 256, 65536)
	intRange("limits.max_connections_per_ip", c.Limits.MaxConnectionsPerIP, 0, 1000000)

	intRange("roster.max_items", c.Roster.MaxItems, 1, 100000)
	if c.C2S.QueueSize >= 16 && c.Roster.MaxItems >= 1 && c.C2S.QueueSize < c.Roster.MaxItems+16 {
		// At login every contact online answers the probe at once: a
		// queue smaller than the roster would close the session.
		add(c.at("c2s.queue_size", []string{"roster.max_items"}, "must be at least roster.max_items + 16 (%d): at login every online contact's presence is queued at once", c.Roster.MaxItems+16))
	}
	if c.Offline.MaxMessages != -1 {
		intRange("offline.max_messages", c.Offline.MaxMessages, 1, 1000000)
	}
	if c.Blocking.MaxItems != -1 {
		intRange("blocking.max_items", c.Blocking.MaxItems, 1, 1000000)
	}
	intRange("vcard.max_size", c.VCard.MaxSize, 1024, 16777216)
	intRange("private.max_size", c.Private.MaxSize, 1024, 16777216)
	intRange("register.max_per_ip", c.Register.MaxPerIP, 1, 1000000)
	durRange("register.window", c.Register.Window, time.Second, 7*24*time.Hour)
	intRange("register.max_password_length", c.Register.MaxPasswordLength, 8, 65536)
	for i, h := range c.Register.Hosts {
		if _, ok := c.Host(h); !ok {
			add(c.at(indexKey("register.hosts", i), []string{"register.hosts"}, "%q is not one of the [[host]] names", h))
		}
	}

	oneOf("mam.default", c.MAM.Default, "always", "never", "roster")
	intRange("mam.retention_days", c.MAM.RetentionDays, 0, 100000)
	intRange("mam.max_page_size", c.MAM.MaxPageSize, 1, 1000)
	intRange("mam.default_page_size", c.MAM.DefaultPageSize, 1, 1000)
	if c.MAM.DefaultPageSize > c.MAM.MaxPageSize {
		add(c.at("mam.default_page_size", []string{"mam.max_page_size"}, "must not exceed mam.max_page_size (%d)", c.MAM.MaxPageSize))
	}
	if c.C2S.QueueSize >= 16 && c.MAM.MaxPageSize+16 > c.C2S.QueueSize {
		// A full page is queued at once; it must fit the session's queue.
		add(c.at("mam.max_page_size", []string{"c2s.queue_size"}, "must be at least 16 below c2s.queue_size (%d)", c.C2S.QueueSize))
	}
	intRange("pep.max_item_size", c.PEP.MaxItemSize, 1024, 16777216)
	intRange("pep.max_items", c.PEP.MaxItems, 1, 100000)
	intRange("pep.node_max_items", c.PEP.NodeMaxItems, 1, 100000)
	if c.PEP.NodeMaxItems > c.PEP.MaxItems {
		add(c.at("pep.node_max_items", []string{"pep.max_items"}, "must not exceed pep.max_items (%d)", c.PEP.MaxItems))
	}
	if c.PEP.MaxItemSize >= 1024 && c.Limits.MaxStanzaSize >= 1024 && c.PEP.MaxItemSize > c.Limits.MaxStanzaSize-1024 {
		// An item travels inside a publish IQ and a notification message.
		add(c.at("pep.max_item_size", []string{"limits.max_stanza_size"}, "must be at least 1024 below limits.max_stanza_size (%d): items travel inside stanzas", c.Limits.MaxStanzaSize))
	}
	intRange("pep.max_nodes", c.PEP.MaxNodes, 1, 100000)
	intRange("pep.max_subscriptions", c.PEP.MaxSubscriptions, 1, 1000000)
	intRange("pep.caps_cache_size", c.PEP.CapsCacheSize, 16, 10000000)

	c.validateMUC(add, oneOf, intRange, durRange)
	c.validateWeb(add, intRange, durRange)
	c.validateUpload(add, intRange, durRange)
	c.validateMobile(add, intRange, durRange)

	c.validateS2S(add, oneOf, intRange, durRange)
	return errs
}

func (c *Config) validateHosts(add func(*Error)) {
	if len(c.Hosts) == 0 {
		add(c.at("host", nil, "at least one [[host]] is required"))
		return
	}
	first := map[string]int{}
	for i, h := range c.Hosts {
		p := indexKey("host", i)
		if msg := checkHostName(h.Name); msg != "" {
			add(c.at(p+".name", nil, "%s", msg))
		} else if j, dup := first[h.Name]; dup {
			add(c.at(p+".name", nil, "host %q is already defined as host[%d]%s", h.Name, j, c.lineNote(indexKey("host", j)+".name")))
		} else {
			first[h.Name] = i
		}

		switch {
		case h.Cert == "" && h.Key != "":
			add(c.at(p+".cert", []string{p + ".key"}, "must be set when key is set (or leave both empty for a self-signed certificate)"))
		case h.Cert != "" && h.Key == "":
			add(c.at(p+".key", []string{p + ".cert"}, "must be set when cert is set (or leave both empty for a self-signed certificate)"))
		}
		for _, f := range []struct{ key, path string }{{p + ".cert", h.Cert}, {p + ".key", h.Key}} {
			if f.path == "" {
				continue
			}
			if msg := checkReadable(f.path); msg != "" {
				add(c.at(f.key, nil, "%s", msg))
			}
		}

		for j, a := range h.Admins {
			if msg := checkAdmin(a); msg != "" {
				add(c.at(indexKey(p+".admins", j), nil, "%s", msg))
			}
		}
	}
}

// checkHostName applies the XMPP domainpart rules (RFC 7622 via mellium's
// jid package) and then DNS rules: the name is what certificates, SRV
// records and every JID of the host are built from.
func checkHostName(name string) string {
	if name == "" {
		return "must not be empty"
	}
	j, err := jid.Parse(name)
	if err != nil {
		return fmt.Sprintf("%q is not a valid XMPP domain: %v", name, err)
	}
	if j.Localpart() != "" || j.Resourcepart() != "" {
		return fmt.Sprintf("%q must be a bare domain name, without user@ or /resource", name)
	}
	if j.Domainpart() != name {
		return fmt.Sprintf("%q must be written in canonical form %q", name, j.Domainpart())
	}
	if _, err := netip.ParseAddr(strings.Trim(name, "[]")); err == nil {
		return fmt.Sprintf("%q must be a DNS name, not an IP address", name)
	}
	if len(name) > 253 {
		return fmt.Sprintf("%q is longer than 253 bytes", name)
	}
	for _, l := range strings.Split(name, ".") {
		if l == "" || len(l) > 63 {
			return fmt.Sprintf("%q must be dot-separated labels of 1 to 63 bytes", name)
		}
		if strings.HasPrefix(l, "-") || strings.HasSuffix(l, "-") {
			return fmt.Sprintf("%q has a label that starts or ends with '-'", name)
		}
		for _, r := range l {
			// Non-ASCII is fine (IDN U-labels are canonical for XMPP);
			// ASCII must be letters, digits and hyphens.
			if r < 0x80 && !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return fmt.Sprintf("%q may only contain letters, digits, '-' and '.'", name)
			}
		}
	}
	return ""
}

func checkAdmin(s string) string {
	j, err := jid.Parse(s)
	if err != nil {
		return fmt.Sprintf("%q is not a valid JID: %v", s, err)
	}
	if j.Localpart() == "" || j.Resourcepart() != "" {
		return fmt.Sprintf("%q must be a bare JID such as \"admin@example.org\"", s)
	}
	if j.String() != s {
		return fmt.Sprintf("%q must be written in canonical form %q", s, j.String())
	}
	return ""
}

// checkReadable only opens the file: parsing certificates is package certs'
// job, and doing it here would split that logic in two.
func checkReadable(path string) string {
	f, err := os.Open(path)
	if err != nil {
		if os.IsNotExist(err) {
			return fmt.Sprintf("file %q does not exist", path)
		}
		return fmt.Sprintf("cannot read %q: %v", path, errUnwrapPath(err))
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Sprintf("cannot read %q: %v", path, errUnwrapPath(err))
	}
	if st.IsDir() {
		return fmt.Sprintf("%q is a directory, expected a PEM file", path)
	}
	return ""
}

// errUnwrapPath drops the path from an *os.PathError, which the message
// already names.
func errUnwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// checkDSN accepts what pgx accepts: a postgres:// URL or a libpq key=value
// string. It returns a message that never contains the DSN.
func checkDSN(dsn string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		if _, err := url.Parse(dsn); err != nil {
			return "is not a valid postgres:// URL (value not shown: it may contain a password)"
		}
		return ""
	}
	if strings.Contains(dsn, "://") {
		return `must use the postgres:// or postgresql:// scheme, or be a key=value string such as "host=localhost dbname=parley"`
	}
	if !validKeyValueDSN(dsn) {
		return `must be a postgres:// URL or a key=value string such as "host=localhost user=parley dbname=parley" (value not shown: it may contain a password)`
	}
	return ""
}

// validKeyValueDSN parses libpq's keyword=value syntax: values may be
// single-quoted with backslash escapes; spaces around '=' are allowed.
func validKeyValueDSN(s string) bool {
	i, pairs := 0, 0
	skip := func() {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
			i++
		}
	}
	for {
		skip()
		if i == len(s) {
			return pairs > 0
		}
		start := i
		for i < len(s) && s[i] != '=' && s[i] != ' ' && s[i] != '\t' {
			i++
		}
		if i == start {
			return false
		}
		skip()
		if i == len(s) || s[i] != '=' {
			return false
		}
		i++
		skip()
		if i < len(s) && s[i] == '\'' {
			i++
			for i < len(s) && s[i] != '\'' {
				if s[i] == '\\' {
					i++
				}
				i++
			}
			if i >= len(s) {
				return false // unterminated quote
			}
			i++
		} else {
			for i < len(s) && s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r' {
				if s[i] == '\\' {
					i++
				}
				i++
			}
		}
		pairs++
	}
}

// listener is one listen address in the two c2s lists.
type listener struct {
	key, addr, host string
	port            int
}

func (c *Config) validateListeners(add func(*Error)) {
	var ok []listener
	for _, list := range []struct {
		name  string
		addrs []string
	}{{"c2s.starttls", c.C2S.StartTLS}, {"c2s.direct_tls", c.C2S.DirectTLS},
		{"web.http", c.Web.HTTP}, {"web.https", c.Web.HTTPS},
		{"s2s.listen", c.S2S.Listen}, {"s2s.direct_tls", c.S2S.DirectTLS}} {
		for i, a := range list.addrs {
			key := indexKey(list.name, i)
			l, msg := parseListen(a)
			if msg != "" {
				add(c.at(key, []string{list.name}, "%s", msg))
				continue
			}
			l.key = key
			for _, o := range ok {
				if conflicts(l, o) {
					add(c.at(key, []string{list.name}, "listen address %q conflicts with %s %q%s: both would bind port %d",
						a, o.key, o.addr, c.lineNote(o.key), l.port))
					break
				}
			}
			ok = append(ok, l)
		}
	}
}

func parseListen(a string) (listener, string) {
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return listener{}, fmt.Sprintf(`%q is not a listen address: expected host:port such as ":5222", "0.0.0.0:5222" or "[::1]:5222"`, a)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return listener{}, fmt.Sprintf("%q: port must be a number from 1 to 65535, got %q", a, port)
	}
	if host != "" {
		if _, err := netip.ParseAddr(host); err != nil && checkListenHost(host) != nil {
			return listener{}, fmt.Sprintf("%q: %q is neither an IP address nor a host name", a, host)
		}
	}
	return listener{addr: a, host: strings.ToLower(host), port: p}, ""
}

func checkListenHost(h string) error {
	if len(h) > 253 {
		return fmt.Errorf("too long")
	}
	for _, l := range strings.Split(h, ".") {
		if l == "" || len(l) > 63 {
			return fmt.Errorf("bad label")
		}
		for i := 0; i < len(l); i++ {
			if c := l[i] | 0x20; !(c >= 'a' && c <= 'z' || l[i] >= '0' && l[i] <= '9' || l[i] == '-') {
				return fmt.Errorf("bad character")
			}
		}
	}
	return nil
}

// conflicts reports whether two listeners would fight over the same port.
// Go listens dual-stack for an empty host and "::", so those take the port on
// every address; "0.0.0.0" takes it on every IPv4 address.
func conflicts(a, b listener) bool {
	if a.port != b.port {
		return false
	}
	all := func(l listener) bool { return l.host == "" || l.host == "::" }
	v6 := func(l listener) bool {
		ip, err := netip.ParseAddr(l.host)
		return err == nil && ip.Is6() && !ip.Is4In6()
	}
	switch {
	case a.host == b.host, all(a), all(b):
		return true
	case a.host == "0.0.0.0":
		return !v6(b)
	case b.host == "0.0.0.0":
		return !v6(a)
	}
	return false
}

func (c *Config) validateWeb(add func(*Error), intRange func(string, int, int, int),
	durRange func(string, time.Duration, time.Duration, time.Duration)) {
	w := c.Web
	if w.PublicURL != "" {
		u, err := url.Parse(w.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			add(c.at("web.public_url", nil, "must be an http or https URL without query, such as \"https://chat.example.org\", got %q", w.PublicURL))
		}
	}
	prefixes := func(key string, list []string) {
		for i, p := range list {
			if _, err := netip.ParsePrefix(p); err != nil {
				if _, err := netip.ParseAddr(p); err != nil {
					add(c.at(indexKey(key, i), []string{key}, "%q is neither an IP address nor a CIDR prefix such as \"10.0.0.0/8\"", p))
				}
			}
		}
	}
	prefixes("web.trusted_proxies", w.TrustedProxies)
	prefixes("web.metrics.allow", w.Metrics.Allow)
	durRange("web.read_header_timeout", w.ReadHeaderTimeout, time.Second, 10*time.Minute)
	durRange("web.idle_timeout", w.IdleTimeout, time.Second, time.Hour)
	intRange("web.max_header_bytes", w.MaxHeaderBytes, 1024, 1<<20)
	durRange("web.websocket.ping_interval", w.WebSocket.PingInterval, time.Second, time.Hour)
	for i, o := range w.WebSocket.AllowedOrigins {
		if o == "*" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
			add(c.at(indexKey("web.websocket.allowed_origins", i), []string{"web.websocket.allowed_origins"},
				"%q is not an origin: expected scheme://host[:port] such as \"https://chat.example.org\", or \"*\"", o))
		}
	}
	if w.Chat.Enabled && strings.TrimSpace(w.Chat.Dir) == "" {
		add(c.at("web.chat.dir", []string{"web.chat.enabled"}, "must name the Converse.js dist directory when web.chat.enabled is true"))
	}
	b := w.BOSH
	durRange("web.bosh.max_wait", b.MaxWait, time.Second, 10*time.Minute)
	intRange("web.bosh.max_hold", b.MaxHold, 1, 10)
	durRange("web.bosh.inactivity", b.Inactivity, 5*time.Second, time.Hour)
	durRange("web.bosh.max_pause", b.MaxPause, time.Second, 24*time.Hour)
	durRange("web.bosh.polling", b.Polling, time.Second, time.Minute)
	intRange("web.bosh.max_sessions", b.MaxSessions, 1, 10000000)
	for i, o := range b.AllowedOrigins {
		if o == "*" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
			add(c.at(indexKey("web.bosh.allowed_origins", i), []string{"web.bosh.allowed_origins"},
				"%q is not an origin: expected scheme://host[:port] such as \"https://chat.example.org\", or \"*\"", o))
		}
	}
}

func (c *Config) validateUpload(add func(*Error), intRange func(string, int, int, int),
	durRange func(string, time.Duration, time.Duration, time.Duration)) {
	u := c.Upload
	if msg := checkHostName(u.Subdomain + ".example"); u.Subdomain == "" || strings.Contains(u.Subdomain, ".") || msg != "" {
		add(c.at("upload.subdomain", nil, "must be one DNS label such as \"upload\", got %q", u.Subdomain))
	}
	if u.Enabled && u.Subdomain == c.MUC.Subdomain && c.MUC.Enabled {
		add(c.at("upload.subdomain", []string{"muc.subdomain"}, "must differ from muc.subdomain (%q)", c.MUC.Subdomain))
	}
	if u.URL != "" {
		p, err := url.Parse(u.URL)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" || p.RawQuery != "" || p.Fragment != "" || p.User != nil {
			add(c.at("upload.url", nil, "must be an http or https URL without query, such as \"https://upload.example.org/upload/\", got %q", u.URL))
		}
	}
	if u.MaxFileSize < 1 || u.MaxFileSize > 1<<40 {
		add(c.at("upload.max_file_size", nil, "must be between 1 and %d bytes, got %d", 1<<40, u.MaxFileSize))
	}
	if u.Quota < 0 {
		add(c.at("upload.quota", nil, "must be 0 (no quota) or a number of bytes, got %d", u.Quota))
	} else if u.Quota > 0 && u.Quota < u.MaxFileSize {
		add(c.at("upload.quota", []string{"upload.max_file_size"}, "must be 0 or at least upload.max_file_size (%d)", u.MaxFileSize))
	}
	if u.Expiry != 0 {
		durRange("upload.expiry", u.Expiry, time.Minute, 100*365*24*time.Hour)
	}
	durRange("upload.slot_timeout", u.SlotTimeout, 10*time.Second, 24*time.Hour)
	intRange("upload.max_pending_slots", u.MaxPendingSlots, 1, 10000)
	intRange("upload.max_concurrent", u.MaxConcurrent, 1, 100000)
}

func (c *Config) validateMUC(add func(*Error), oneOf func(string, string, ...string),
	intRange func(string, int, int, int), durRange func(string, time.Duration, time.Duration, time.Duration)) {
	m := c.MUC
	if msg := checkHostName(m.Subdomain + ".example"); m.Subdomain == "" || strings.Contains(m.Subdomain, ".") || msg != "" {
		add(c.at("muc.subdomain", nil, "must be one DNS label such as \"conference\", got %q", m.Subdomain))
	}
	oneOf("muc.create", m.Create, "local", "admins", "list", "anyone")
	if m.Create == "list" && len(m.Creators) == 0 {
		add(c.at("muc.creators", []string{"muc.create"}, `must name at least one bare JID or domain when create = "list"`))
	}
	for i, cr := range m.Creators {
		if j, err := jid.Parse(cr); err != nil || j.Resourcepart() != "" || j.String() != cr {
			add(c.at(indexKey("muc.creators", i), []string{"muc.creators"}, "%q is not a bare JID or domain in canonical form", cr))
		}
	}
	intRange("muc.max_rooms_per_user", m.MaxRoomsPerUser, 0, 1000000)
	intRange("muc.max_occupants", m.MaxOccupants, 1, 1000000)
	intRange("muc.max_history", m.MaxHistory, 0, 100000)
	if m.MessageRate < 0 || m.MessageRate > 1e6 {
		add(c.at("muc.message_rate", nil, "must be between 0 and 1000000, got %v", m.MessageRate))
	}
	intRange("muc.message_burst", m.MessageBurst, 1, 1000000)
	durRange("muc.idle_timeout", m.IdleTimeout, time.Second, 7*24*time.Hour)
	intRange("muc.large_room", m.LargeRoom, 0, 1000000)
	intRange("muc.archive_retention_days", m.ArchiveRetentionDays, 0, 100000)
	for i, r := range m.LargeRoomRoles {
		oneOf(indexKey("muc.large_room_roles", i), r, "moderator", "participant", "visitor")
	}
	d := m.Defaults
	oneOf("muc.defaults.whois", d.Whois, "moderators", "anyone")
	oneOf("muc.defaults.allow_pm", d.AllowPM, "anyone", "participants", "moderators", "none")
	intRange("muc.defaults.history_length", d.HistoryLength, 0, max(m.MaxHistory, 0))
}
