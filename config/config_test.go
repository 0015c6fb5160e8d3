package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

// load writes src to <tmp>/config.toml and loads it.
func load(t *testing.T, src string) (*Config, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return Load(path)
}

// wantErr asserts that loading src fails with an error containing want,
// which tests write as "config.toml:LINE: key: message".
func wantErr(t *testing.T, src, want string) {
	t.Helper()
	_, err := load(t, src)
	if err == nil {
		t.Fatalf("Load succeeded, want error containing %q", want)
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("error\n\t%v\ndoes not contain\n\t%s", err, want)
	}
}

func TestValidationRules(t *testing.T) {
	dir := t.TempDir()
	certFile := filepath.Join(dir, "c.pem")
	if err := os.WriteFile(certFile, []byte("not parsed here"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	q := func(s string) string { return `"` + s + `"` } // paths in TOML basic strings

	tests := []struct {
		name, src, want string
	}{
		{"data_dir empty", `data_dir = ""`, `config.toml:1: data_dir: must not be empty`},
		{"log level", "[log]\nlevel = \"loud\"", `config.toml:2: log.level: must be one of debug, info, warn, error, got "loud"`},
		{"log format", "[log]\nformat = \"xml\"", `config.toml:2: log.format: must be one of text, json, got "xml"`},

		{"no hosts", `host = []`, `config.toml:1: host: at least one [[host]] is required`},
		{"host name missing", "[[host]]\ncert = \"\"", `config.toml:1: host[0].name: must not be empty`},
		{"host name empty", "[[host]]\nname = \"\"", `config.toml:2: host[0].name: must not be empty`},
		{"host not canonical", "[[host]]\nname = \"Example.ORG\"", `config.toml:2: host[0].name: "Example.ORG" must be written in canonical form "example.org"`},
		{"host with localpart", "[[host]]\nname = \"a@example.org\"", `config.toml:2: host[0].name: "a@example.org" must be a bare domain name`},
		{"host with resource", "[[host]]\nname = \"example.org/r\"", `config.toml:2: host[0].name: "example.org/r" must be a bare domain name`},
		{"host ipv4", "[[host]]\nname = \"127.0.0.1\"", `config.toml:2: host[0].name: "127.0.0.1" must be a DNS name, not an IP address`},
		{"host ipv6", "[[host]]\nname = \"[::1]\"", `config.toml:2: host[0].name: "[::1]" must be a DNS name`},
		{"host underscore", "[[host]]\nname = \"ex_ample.org\"", `config.toml:2: host[0].name: "ex_ample.org"`},
		{"host long label", "[[host]]\nname = \"" + strings.Repeat("a", 64) + ".org\"", `config.toml:2: host[0].name:`},
		{"host hyphen label", "[[host]]\nname = \"-a.org\"", `config.toml:2: host[0].name: "-a.org" is not a valid XMPP domain`},
		{"host trailing dot", "[[host]]\nname = \"example.org.\"", `config.toml:2: host[0].name: "example.org." must be written in canonical form "example.org"`},
		{"host duplicate", "[[host]]\nname = \"a.org\"\n[[host]]\nname = \"b.org\"\n[[host]]\nname = \"a.org\"",
			`config.toml:6: host[2].name: host "a.org" is already defined as host[0] (line 2)`},
		{"cert without key", "[[host]]\nname = \"a.org\"\ncert = " + q(certFile),
			`config.toml:3: host[0].key: must be set when cert is set`},
		{"key without cert", "[[host]]\nname = \"a.org\"\n\nkey = " + q(certFile),
			`config.toml:4: host[0].cert: must be set when key is set`},
		{"cert missing", "[[host]]\nname = \"a.org\"\ncert = " + q(missing) + "\nkey = " + q(certFile),
			`config.toml:3: host[0].cert: file "` + missing + `" does not exist`},
		{"key missing", "[[host]]\nname = \"a.org\"\ncert = " + q(certFile) + "\nkey = " + q(missing),
			`config.toml:4: host[0].key: file "` + missing + `" does not exist`},
		{"cert is dir", "[[host]]\nname = \"a.org\"\ncert = " + q(dir) + "\nkey = " + q(certFile),
			`config.toml:3: host[0].cert: "` + dir + `" is a directory`},
		{"admin invalid", "[[host]]\nname = \"a.org\"\nadmins = [\"@a.org\"]", `config.toml:3: host[0].admins[0]: "@a.org" is not a valid JID`},
		{"admin domain only", "[[host]]\nname = \"a.org\"\nadmins = [\"a.org\"]", `config.toml:3: host[0].admins[0]: "a.org" must be a bare JID`},
		{"admin full jid", "[[host]]\nname = \"a.org\"\nadmins = [\n  \"ok@a.org\",\n  \"me@a.org/phone\",\n]",
			`config.toml:5: host[0].admins[1]: "me@a.org/phone" must be a bare JID`},
		{"admin not canonical", "[[host]]\nname = \"a.org\"\nadmins = [\"Me@A.org\"]", `config.toml:3: host[0].admins[0]: "Me@A.org" must be written in canonical form "me@a.org"`},

		{"backend", "[storage]\nbackend = \"mysql\"", `config.toml:2: storage.backend: must be one of sqlite, postgres, got "mysql"`},
		{"postgres without dsn", "[storage]\nbackend = \"postgres\"", `config.toml:2: storage.postgres.dsn: required when storage.backend is "postgres"`},
		{"dsn scheme", "[storage.postgres]\ndsn = \"mysql://u@h/db\"", `config.toml:2: storage.postgres.dsn: must use the postgres:// or postgresql:// scheme`},
		{"dsn garbage", "[storage.postgres]\ndsn = \"just words\"", `config.toml:2: storage.postgres.dsn: must be a postgres:// URL or a key=value string`},
		{"dsn unterminated quote", "[storage.postgres]\ndsn = \"host=h password='x\"", `config.toml:2: storage.postgres.dsn: must be a postgres:// URL or a key=value string`},
		{"dsn bad url", "[storage.postgres]\ndsn = \"postgres://u:p@h:port/db\"", `config.toml:2: storage.postgres.dsn: is not a valid postgres:// URL`},
		{"max_conns low", "[storage.postgres]\nmax_conns = 0", `config.toml:2: storage.postgres.max_conns: must be between 1 and 1000, got 0`},
		{"max_conns high", "[storage.postgres]\nmax_conns = 1001", `config.toml:2: storage.postgres.max_conns: must be between 1 and 1000, got 1001`},

		{"listen no port", "[c2s]\nstarttls = [\"5222\"]", `config.toml:2: c2s.starttls[0]: "5222" is not a listen address`},
		{"listen named port", "[c2s]\nstarttls = [\":xmpp-client\"]", `config.toml:2: c2s.starttls[0]: ":xmpp-client": port must be a number from 1 to 65535`},
		{"listen port 0", "[c2s]\ndirect_tls = [\":0\"]", `config.toml:2: c2s.direct_tls[0]: ":0": port must be a number from 1 to 65535, got "0"`},
		{"listen port high", "[c2s]\ndirect_tls = [\":65536\"]", `config.toml:2: c2s.direct_tls[0]: ":65536": port must be a number`},
		{"listen bad host", "[c2s]\nstarttls = [\"bad_host:5222\"]", `config.toml:2: c2s.starttls[0]: "bad_host:5222": "bad_host" is neither an IP address nor a host name`},
		{"listen dup in list", "[c2s]\nstarttls = [\n\":5222\",\n\":5222\",\n]",
			`config.toml:4: c2s.starttls[1]: listen address ":5222" conflicts with c2s.starttls[0] ":5222" (line 3)`},
		{"listen dup across lists", "[c2s]\ndirect_tls = [\":5222\"]",
			`config.toml:2: c2s.direct_tls[0]: listen address ":5222" conflicts with c2s.starttls[0] ":5222": both would bind port 5222`},
		{"listen wildcard overlap", "[c2s]\nstarttls = [\"0.0.0.0:5222\"]\ndirect_tls = [\"127.0.0.1:5222\"]",
			`config.toml:3: c2s.direct_tls[0]: listen address "127.0.0.1:5222" conflicts with c2s.starttls[0] "0.0.0.0:5222" (line 2)`},
		{"negotiation_timeout zero", "[c2s]\nnegotiation_timeout = \"0s\"", `config.toml:2: c2s.negotiation_timeout: must be at least 1s, got "0s"`},
		{"negotiation_timeout high", "[c2s]\nnegotiation_timeout = \"2h\"", `config.toml:2: c2s.negotiation_timeout: must be at most 1h0m0s, got "2h0m0s"`},
		{"idle_timeout zero", "[c2s]\nidle_timeout = \"0s\"", `config.toml:2: c2s.idle_timeout: must be at least 1s, got "0s"`},
		{"idle_timeout high", "[c2s]\nidle_timeout = \"25h\"", `config.toml:2: c2s.idle_timeout: must be at most 24h0m0s`},
		{"ping_timeout", "[c2s]\nping_timeout = \"500ms\"", `config.toml:2: c2s.ping_timeout: must be at least 1s, got "500ms"`},
		{"write_timeout", "[c2s]\nwrite_timeout = \"-1s\"", `config.toml:2: c2s.write_timeout: must be at least 1s, got "-1s"`},
		{"resource_conflict", "[c2s]\nresource_conflict = \"kick\"", `config.toml:2: c2s.resource_conflict: must be one of replace, refuse, got "kick"`},
		{"max_sessions low", "[c2s]\nmax_sessions_per_account = 0", `config.toml:2: c2s.max_sessions_per_account: must be between 1 and 1000, got 0`},
		{"max_sessions high", "[c2s]\nmax_sessions_per_account = 1001", `config.toml:2: c2s.max_sessions_per_account: must be between 1 and 1000`},
		{"queue_size low", "[c2s]\nqueue_size = 15", `config.toml:2: c2s.queue_size: must be between 16 and 65536, got 15`},
		{"queue_size high", "[c2s]\nqueue_size = 65537", `config.toml:2: c2s.queue_size: must be between 16 and 65536, got 65537`},
		{"receive_buffer low", "[c2s]\nreceive_buffer = 4095", `config.toml:2: c2s.receive_buffer: must be 0 or between 4096 and 16777216, got 4095`},
		{"receive_buffer negative", "[c2s]\nreceive_buffer = -1", `config.toml:2: c2s.receive_buffer: must be 0 or between 4096 and 16777216, got -1`},
		{"receive_buffer high", "[c2s]\n\nreceive_buffer = 16777217", `config.toml:3: c2s.receive_buffer: must be 0 or between 4096 and 16777216, got 16777217`},
		{"read_rate low", "[c2s]\nread_rate = 1023", `config.toml:2: c2s.read_rate: must be 0 or between 1024 and 1073741824, got 1023`},
		{"read_rate high", "[c2s]\nread_rate = 1073741825", `config.toml:2: c2s.read_rate: must be 0 or between 1024 and 1073741824, got 1073741825`},
		{"read_burst low", "[c2s]\nread_burst = 100", `config.toml:2: c2s.read_burst: must be 0 or between 4096 and 1073741824, got 100`},
		{"sm_resume_timeout high", "[c2s]\nsm_resume_timeout = \"25h\"", `config.toml:2: c2s.sm_resume_timeout: must be at most 24h0m0s`},
		{"sm_resume_timeout negative", "[c2s]\nsm_resume_timeout = \"-1s\"", `config.toml:2: c2s.sm_resume_timeout: must be at least 0s`},
		{"sm_max_unacked low", "[c2s]\nsm_max_unacked = 15", `config.toml:2: c2s.sm_max_unacked: must be between 16 and 1000000, got 15`},
		{"sm_max_unacked below queue", "[c2s]\nsm_max_unacked = 100", `c2s.sm_max_unacked: must be at least c2s.queue_size (4096)`},
		{"sm_location without port", "[c2s]\nsm_location = \"node1.example.net\"", `config.toml:2: c2s.sm_location: must be "host:port"`},
		{"sm_location bad port", "[c2s]\nsm_location = \"node1.example.net:70000\"", `config.toml:2: c2s.sm_location: must be "host:port"`},

		{"scram low", "[auth]\nscram_iterations = 4095", `config.toml:2: auth.scram_iterations: must be between 4096 and 1000000, got 4095`},
		{"scram high", "[auth]\nscram_iterations = 1000001", `config.toml:2: auth.scram_iterations: must be between 4096 and 1000000`},
		{"mechanism unknown", "[auth]\nmechanisms = [\"SCRAM-SHA-256\", \"DIGEST-MD5\"]", `config.toml:2: auth.mechanisms[1]: unknown SASL mechanism "DIGEST-MD5"`},
		{"mechanism case", "[auth]\nmechanisms = [\"scram-sha-256\"]", `config.toml:2: auth.mechanisms[0]: unknown SASL mechanism "scram-sha-256"`},
		{"mechanism dup", "[auth]\nmechanisms = [\"PLAIN\", \"PLAIN\"]", `config.toml:2: auth.mechanisms[1]: "PLAIN" is listed twice, first as auth.mechanisms[0]`},
		{"plain disallowed", "[auth]\nallow_plain = false\nmechanisms = [\"SCRAM-SHA-1\", \"PLAIN\"]", `config.toml:3: auth.mechanisms[1]: PLAIN is listed but auth.allow_plain is false (line 2)`},
		{"no mechanism left", "[auth]\nallow_plain = false\nmechanisms = [\"PLAIN\"]", `config.toml:3: auth.mechanisms: no SASL mechanism is left enabled`},
		{"max_attempts low", "[auth]\nmax_attempts = 0", `config.toml:2: auth.max_attempts: must be between 1 and 5, got 0`},
		{"max_attempts high", "[auth]\nmax_attempts = 6", `config.toml:2: auth.max_attempts: must be between 1 and 5, got 6`},
		{"account_failures", "[auth]\naccount_failures = -1", `config.toml:2: auth.account_failures: must be between 0 and 1000000, got -1`},
		{"ip_failures", "[auth]\nip_failures = -1", `config.toml:2: auth.ip_failures: must be between 0 and 1000000, got -1`},
		{"failure_window", "[auth]\nfailure_window = \"0s\"", `config.toml:2: auth.failure_window: must be at least 1s, got "0s"`},

		{"stanza low", "[limits]\nmax_stanza_size = 1023", `config.toml:2: limits.max_stanza_size: must be between 1024 and 16777216, got 1023`},
		{"stanza high", "[limits]\nmax_stanza_size = 16777217", `config.toml:2: limits.max_stanza_size: must be between 1024 and 16777216`},
		{"depth low", "[limits]\nmax_depth = 3", `config.toml:2: limits.max_depth: must be between 4 and 256, got 3`},
		{"depth high", "[limits]\nmax_depth = 257", `config.toml:2: limits.max_depth: must be between 4 and 256, got 257`},
		{"header low", "[limits]\nmax_stream_header = 255", `config.toml:2: limits.max_stream_header: must be between 256 and 65536, got 255`},
		{"header high", "[limits]\nmax_stream_header = 65537", `config.toml:2: limits.max_stream_header: must be between 256 and 65536`},
		{"conns per ip", "[limits]\nmax_connections_per_ip = -1", `config.toml:2: limits.max_connections_per_ip: must be between 0 and 1000000, got -1`},

		{"web public_url", "[web]\npublic_url = \"ftp://x\"", `config.toml:2: web.public_url: must be an http or https URL without query, such as "https://chat.example.org", got "ftp://x"`},
		{"web trusted proxy", "[web]\ntrusted_proxies = [\"10.0.0.0/33\"]", `config.toml:2: web.trusted_proxies[0]: "10.0.0.0/33" is neither an IP address nor a CIDR prefix such as "10.0.0.0/8"`},
		{"web origin with path", "[web.websocket]\nallowed_origins = [\"https://a.example/chat\"]", `config.toml:2: web.websocket.allowed_origins[0]: "https://a.example/chat" is not an origin: expected scheme://host[:port] such as "https://chat.example.org", or "*"`},
		{"web port clash", "[web]\nhttp = [\":5222\"]", `config.toml:2: web.http[0]: listen address ":5222" conflicts with c2s.starttls[0] ":5222": both would bind port 5222`},
		{"web header size", "[web]\nmax_header_bytes = 10", `config.toml:2: web.max_header_bytes: must be between 1024 and 1048576, got 10`},
		{"bosh wait", "[web.bosh]\nmax_wait = \"0s\"", `config.toml:2: web.bosh.max_wait: must be at least 1s, got "0s"`},
		{"bosh hold", "[web.bosh]\nmax_hold = 0", `config.toml:2: web.bosh.max_hold: must be between 1 and 10, got 0`},
		{"bosh origin", "[web.bosh]\nallowed_origins = [\"chat.example\"]", `config.toml:2: web.bosh.allowed_origins[0]: "chat.example" is not an origin`},
		{"upload subdomain", "[upload]\nsubdomain = \"a.b\"", `config.toml:2: upload.subdomain: must be one DNS label`},
		{"upload same as muc", "[upload]\nsubdomain = \"conference\"", `config.toml:2: upload.subdomain: must differ from muc.subdomain ("conference")`},
		{"upload url", "[upload]\nurl = \"ftp://x/\"", `config.toml:2: upload.url: must be an http or https URL without query`},
		{"upload max size", "[upload]\nmax_file_size = 0", `config.toml:2: upload.max_file_size: must be between 1 and 1099511627776 bytes, got 0`},
		{"upload quota", "[upload]\nquota = 1000", `config.toml:2: upload.quota: must be 0 or at least upload.max_file_size (104857600)`},
		{"upload expiry", "[upload]\nexpiry = \"30s\"", `config.toml:2: upload.expiry: must be at least 1m0s, got "30s"`},
		{"upload slot timeout", "[upload]\nslot_timeout = \"1s\"", `config.toml:2: upload.slot_timeout: must be at least 10s, got "1s"`},
		{"s2s no listener", "[s2s]\nenabled = true\nlisten = []", `config.toml:3: s2s.listen: federation is on but no s2s listener`},
		{"s2s auth", "[s2s]\nauth = \"none\"", `config.toml:2: s2s.auth: must be one of certificate, dialback, got "none"`},
		{"s2s allow bad", "[s2s]\nallow = [\"not a domain\"]", `config.toml:2: s2s.allow[0]: "not a domain" is not a valid XMPP domain`},
		{"s2s allow own host", "[s2s]\nallow = [\"localhost\"]", `config.toml:2: s2s.allow[0]: "localhost" is one of this server's own [[host]] names`},
		{"s2s allow and deny", "[s2s]\nallow = [\"push.example\"]\ndeny = [\"push.example\"]", `config.toml:2: s2s.allow[0]: "push.example" is also in s2s.deny`},
		{"s2s static", "[s2s]\nstatic_hosts = [\"b.example\"]", `config.toml:2: s2s.static_hosts[0]: expected "domain=host:port"`},
		{"s2s static port", "[s2s]\nstatic_hosts = [\"b.example=tls:127.0.0.1:0\"]", `config.toml:2: s2s.static_hosts[0]: "b.example=tls:127.0.0.1:0": port must be`},
		{"s2s static twice", "[s2s]\nstatic_hosts = [\"b.example=h:1\", \"b.example=h:2\"]", `s2s.static_hosts[1]: domain "b.example" is mapped twice`},
		{"s2s listen conflict", "[s2s]\nlisten = [\":5222\"]", `config.toml:2: s2s.listen[0]: listen address ":5222" conflicts with c2s.starttls[0]`},
		{"s2s ca", "[s2s]\nca_file = \"/nonexistent/ca.pem\"", `config.toml:2: s2s.ca_file: cannot read "/nonexistent/ca.pem"`},
		{"s2s queue", "[s2s]\nqueue_size = 1", `config.toml:2: s2s.queue_size: must be between 16 and 100000, got 1`},
		{"s2s idle", "[s2s]\nidle_timeout = \"1s\"", `config.toml:2: s2s.idle_timeout: must be at least 10s`},
		{"s2s conns", "[s2s]\nmax_connections_per_domain = 0", `config.toml:2: s2s.max_connections_per_domain: must be between 1 and 100, got 0`},
		{"roster max", "[roster]\nmax_items = 0", `config.toml:2: roster.max_items: must be between 1 and 100000, got 0`},
		{"offline max", "[offline]\nmax_messages = 0", `config.toml:2: offline.max_messages: must be between 1 and 1000000, got 0`},
		{"offline unlimited ok then blocking", "[offline]\nmax_messages = -1\n[blocking]\nmax_items = -2", `config.toml:4: blocking.max_items: must be between 1 and 1000000, got -2`},
		{"vcard size", "[vcard]\nmax_size = 10", `config.toml:2: vcard.max_size: must be between 1024 and 16777216, got 10`},
		{"private size", "[private]\nmax_size = 0", `config.toml:2: private.max_size: must be between 1024 and 16777216, got 0`},
		{"register window", "[register]\nwindow = \"0s\"", `config.toml:2: register.window: must be at least 1s`},
		{"register rate", "[register]\nmax_per_ip = 0", `config.toml:2: register.max_per_ip: must be between 1 and 1000000, got 0`},
		{"register password", "[register]\nmax_password_length = 4", `config.toml:2: register.max_password_length: must be between 8 and 65536, got 4`},
		{"register unknown host", "[register]\nhosts = [\"nowhere.test\"]", `config.toml:2: register.hosts[0]: "nowhere.test" is not one of the [[host]] names`},
		{"mam default", "[mam]\ndefault = \"sometimes\"", `config.toml:2: mam.default: must be one of always, never, roster, got "sometimes"`},
		{"mam page sizes", "[mam]\ndefault_page_size = 300", `config.toml:2: mam.default_page_size: must not exceed mam.max_page_size (250)`},
		{"mam page vs queue", "[c2s]\nqueue_size = 100", `mam.max_page_size: must be at least 16 below c2s.queue_size (100)`},
		{"muc subdomain", "[muc]\nsubdomain = \"a.b\"", `config.toml:2: muc.subdomain: must be one DNS label`},
		{"muc create", "[muc]\ncreate = \"everyone\"", `config.toml:2: muc.create: must be one of local, admins, list, anyone, got "everyone"`},
		{"muc list empty", "[muc]\ncreate = \"list\"", `muc.creators: must name at least one bare JID or domain when create = "list"`},
		{"muc creator", "[muc]\ncreate = \"list\"\ncreators = [\"a@b/c\"]", `config.toml:3: muc.creators[0]: "a@b/c" is not a bare JID or domain`},
		{"muc rate", "[muc]\nmessage_rate = -1.5", `config.toml:2: muc.message_rate: must be between 0 and 1000000, got -1.5`},
		{"muc rate type", "[muc]\nmessage_rate = \"fast\"", `config.toml:2: muc.message_rate: expected a number`},
		{"muc idle", "[muc]\nidle_timeout = \"0s\"", `config.toml:2: muc.idle_timeout: must be at least 1s`},
		{"muc roles", "[muc]\nlarge_room_roles = [\"king\"]", `config.toml:2: muc.large_room_roles[0]: must be one of moderator, participant, visitor, got "king"`},
		{"muc whois", "[muc.defaults]\nwhois = \"nobody\"", `config.toml:2: muc.defaults.whois: must be one of moderators, anyone, got "nobody"`},
		{"muc pm", "[muc.defaults]\nallow_pm = \"all\"", `config.toml:2: muc.defaults.allow_pm: must be one of anyone, participants, moderators, none, got "all"`},
		{"muc history", "[muc.defaults]\nhistory_length = 500", `config.toml:2: muc.defaults.history_length: must be between 0 and 100, got 500`},
		{"queue vs roster", "[c2s]\nqueue_size = 1000", `c2s.queue_size: must be at least roster.max_items + 16 (1016)`},
		{"mam retention", "[mam]\nretention_days = -1", `config.toml:2: mam.retention_days: must be between 0 and 100000, got -1`},
		{"pep item size", "[pep]\nmax_item_size = 1", `config.toml:2: pep.max_item_size: must be between 1024 and 16777216, got 1`},
		{"pep node items", "[pep]\nnode_max_items = 300", `config.toml:2: pep.node_max_items: must not exceed pep.max_items (256)`},
		{"pep item vs stanza", "[limits]\nmax_stanza_size = 65536", `pep.max_item_size: must be at least 1024 below limits.max_stanza_size (65536)`},
		{"pep nodes", "[pep]\nmax_nodes = 0", `config.toml:2: pep.max_nodes: must be between 1 and 100000, got 0`},

		// Wrong TOML types, caught before decoding.
		{"string as int", "[log]\nlevel = 3", `config.toml:2: log.level: expected a string, got integer 3`},
		{"string as bool", "[c2s]\nrequire_tls = \"yes\"", `config.toml:2: c2s.require_tls: expected true or false, got string "yes"`},
		{"float as int", "[storage.postgres]\nmax_conns = 1.5", `config.toml:2: storage.postgres.max_conns: expected an integer, got float 1.5`},
		{"integer duration", "[c2s]\nidle_timeout = 300", `config.toml:2: c2s.idle_timeout: expected a duration string such as "30s" or "5m", got integer 300`},
		{"bad duration", "[c2s]\nidle_timeout = \"5 minutes\"", `config.toml:2: c2s.idle_timeout: expected a duration such as "30s" or "5m", got "5 minutes"`},
		{"table as string", `log = "debug"`, `config.toml:1: log: expected a table, got string "debug"`},
		{"host as string", `host = "example.org"`, `config.toml:1: host: expected an array of tables ([[host]]), got string "example.org"`},
		{"list as string", "[c2s]\nstarttls = \":5222\"", `config.toml:2: c2s.starttls: expected an array, got string ":5222"`},
		{"list element", "[c2s]\nstarttls = [\n  \":5222\",\n  5223,\n]", `config.toml:4: c2s.starttls[1]: expected a string, got integer 5223`},
		{"datetime", "data_dir = 1979-05-27 07:32:00Z", `config.toml:1: data_dir: expected a string, got a date/time`},

		// Other TOML spellings of the same keys still get the right line.
		{"inline table", "\nlog = { format = \"json\", level = \"loud\" }", `config.toml:2: log.level: must be one of`},
		{"dotted key", "\n\nlog.level = \"loud\"", `config.toml:3: log.level: must be one of`},
		{"inline host tables", "host = [\n  { name = \"a.org\" },\n  { name = \"A.org\" },\n]", `config.toml:3: host[1].name: "A.org" must be written in canonical form`},
		{"after multiline string", "data_dir = \"\"\"\n/a\n[log]\nlevel = 'x'\n\"\"\"\n[log]\nlevel = \"loud\"", `config.toml:7: log.level:`},
		{"comment with brackets", "# [c2s]\n[log] # [[host]]\nlevel = \"loud\" # level = x", `config.toml:3: log.level:`},
		{"quoted keys", "[\"log\"]\n'level' = \"loud\"", `config.toml:2: log.level:`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantErr(t, tt.src, tt.want) })
	}
}

func TestUnknownKeys(t *testing.T) {
	tests := []struct{ name, src, want string }{
		{"top level", "datadir = \"x\"", `config.toml:1: datadir: unknown key (did you mean "data_dir"?)`},
		{"in table", "[log]\nlevel = \"info\"\nlevl = \"debug\"", `config.toml:3: log.levl: unknown key (did you mean "level"?)`},
		{"in nested table", "[storage.sqlite]\npath = \"\"\nfile = \"x.db\"", `config.toml:3: storage.sqlite.file: unknown key`},
		{"in second host", "[[host]]\nname = \"a.org\"\n[[host]]\nname = \"b.org\"\nnmae = \"c.org\"", `config.toml:5: host[1].nmae: unknown key (did you mean "name"?)`},
		{"unknown table", "[log]\n[pprof]\nlisten = \":6060\"", `config.toml:2: pprof: unknown key`},
		{"dotted", "log.colour = true", `config.toml:1: log.colour: unknown key`},
		{"quoted odd key", "[log]\n\"le vel\" = 1", `config.toml:2: log."le vel": unknown key`},
		{"table under scalar section", "[c2s.starttls]\nx = 1", `config.toml:1: c2s.starttls: expected an array, got a table`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantErr(t, tt.src, tt.want) })
	}

	// An unknown table is reported once, not once per key inside it.
	_, err := load(t, "[pprof]\na = 1\nb = 2")
	if n := strings.Count(err.Error(), "unknown key"); n != 1 {
		t.Errorf("unknown table reported %d times: %v", n, err)
	}
}

func TestSyntaxErrorLine(t *testing.T) {
	wantErr(t, "[log]\nlevel = \"info\"\nformat = \n", "config.toml:3: syntax error:")
	wantErr(t, "[log]\nlevel = \"info\"\nlevel = \"debug\"\n", "config.toml:3: syntax error:")
	wantErr(t, "\n\n\n[c2s\n", "config.toml:4: syntax error:")
}

func TestMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.toml")
	_, err := Load(path)
	if err == nil || !strings.Contains(err.Error(), path) || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Load(missing) = %v", err)
	}
}

func TestAllErrorsReportedInOrder(t *testing.T) {
	_, err := load(t, "[log]\nlevel = \"loud\"\nformat = \"xml\"\n[c2s]\nqueue_size = 1\n")
	if err == nil {
		t.Fatal("no error")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 3 {
		t.Fatalf("want 3 errors, got %q", lines)
	}
	for i, want := range []string{":2: log.level", ":3: log.format", ":5: c2s.queue_size"} {
		if !strings.Contains(lines[i], want) {
			t.Errorf("error %d = %q, want %q", i, lines[i], want)
		}
	}
	var ce *Error
	if !errors.As(err, &ce) || ce.Line != 2 || ce.Key != "log.level" {
		t.Errorf("errors.As = %+v", ce)
	}
}

func TestDefault(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v", err)
	}
	if c.Source() != "" || !slices.Equal(c.HostNames(), []string{"localhost"}) {
		t.Errorf("Default: source %q, hosts %v", c.Source(), c.HostNames())
	}
	if got, want := c.SQLitePath(), filepath.Join("parley-data", "parley.db"); got != want {
		t.Errorf("SQLitePath = %q, want %q", got, want)
	}
	if got, want := c.CertDir(), filepath.Join("parley-data", "certs"); got != want {
		t.Errorf("CertDir = %q, want %q", got, want)
	}
	// Each call is independent.
	c.C2S.StartTLS[0] = ":1"
	if Default().C2S.StartTLS[0] != ":5222" {
		t.Error("Default shares slices between calls")
	}

	c = Default()
	c.Log.Level = "loud"
	c.C2S.IdleTimeout = 0
	err := c.Validate()
	for _, want := range []string{`(default): log.level: must be one of`, `(default): c2s.idle_timeout: must be at least 1s, got "0s"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want %q", err, want)
		}
	}
}

func TestLoadOverDefaults(t *testing.T) {
	c, err := load(t, "data_dir = \"/srv/parley\"\n[[host]]\nname = \"example.org\"\n[c2s]\nidle_timeout = \"1m\"\n")
	if err != nil {
		t.Fatal(err)
	}
	if c.DataDir != "/srv/parley" || c.C2S.IdleTimeout != time.Minute {
		t.Errorf("file values not applied: %+v", c)
	}
	if c.C2S.PingTimeout != 30*time.Second || c.Auth.ScramIterations != 10000 || !c.C2S.RequireTLS {
		t.Errorf("defaults lost: %+v", c)
	}
	// The file's hosts replace the default one rather than merging into it.
	if len(c.Hosts) != 1 || !reflect.DeepEqual(c.Hosts[0], Host{Name: "example.org"}) {
		t.Errorf("Hosts = %+v", c.Hosts)
	}
	if c.SQLitePath() != "/srv/parley/parley.db" || c.CertDir() != "/srv/parley/certs" {
		t.Errorf("paths: %q %q", c.SQLitePath(), c.CertDir())
	}
	if !strings.HasSuffix(c.Source(), "config.toml") {
		t.Errorf("Source = %q", c.Source())
	}

	// A default value that clashes with a value from the file is located
	// as a default, pointing back at the file's line.
	_, err = load(t, "[c2s]\nstarttls = [\":5223\"]\n")
	if err == nil || !strings.Contains(err.Error(), `config.toml (default): c2s.direct_tls[0]: listen address ":5223" conflicts with c2s.starttls[0] ":5223" (line 2)`) {
		t.Errorf("err = %v", err)
	}
}

func TestValidVariants(t *testing.T) {
	for name, src := range map[string]string{
		"empty file":       "",
		"no listeners":     "[c2s]\nstarttls = []\ndirect_tls = []",
		"v4 and v6":        "[c2s]\nstarttls = [\"0.0.0.0:5222\", \"[::1]:5222\"]\ndirect_tls = [\"localhost:5223\"]",
		"postgres url":     "[storage]\nbackend = \"postgres\"\n[storage.postgres]\ndsn = \"postgres://parley@localhost/parley?sslmode=disable\"",
		"postgres socket":  "[storage]\nbackend = \"postgres\"\n[storage.postgres]\ndsn = \"postgresql:///parley?host=/run/postgresql\"",
		"postgres kv":      "[storage]\nbackend = \"postgres\"\n[storage.postgres]\ndsn = \"host=localhost user=parley password='a b\\\\'c' dbname=parley\"",
		"idn host":         "[[host]]\nname = \"bücher.example\"",
		"two hosts":        "[[host]]\nname = \"a.org\"\nadmins = [\"admin@a.org\"]\n[[host]]\nname = \"b.org\"",
		"lockouts off":     "[auth]\naccount_failures = 0\nip_failures = 0\nallow_plain = false",
		"mechanism subset": "[auth]\nmechanisms = [\"SCRAM-SHA-256-PLUS\", \"SCRAM-SHA-256\"]",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := load(t, src); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestDSNNeverInMessages(t *testing.T) {
	const secret = "hunter2"
	for _, dsn := range []string{
		"postgres://u:" + secret + "@h:port/db",
		"host=h password='" + secret,
		"password " + secret,
	} {
		_, err := load(t, "[storage.postgres]\ndsn = \""+dsn+"\"")
		if err == nil || strings.Contains(err.Error(), secret) {
			t.Errorf("dsn %q: error %v", dsn, err)
		}
	}
}

func TestHelpers(t *testing.T) {
	c, err := load(t, "[[host]]\nname = \"a.org\"\n[[host]]\nname = \"b.org\"\n[storage.sqlite]\npath = \"/x/y.db\"\n[auth]\nallow_plain = false\n")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.HostNames(), []string{"a.org", "b.org"}) {
		t.Errorf("HostNames = %v", c.HostNames())
	}
	if h, ok := c.Host("B.ORG."); !ok || h.Name != "b.org" {
		t.Errorf("Host(B.ORG.) = %v, %v", h, ok)
	}
	if _, ok := c.Host("c.org"); ok {
		t.Error("Host(c.org) found")
	}
	if c.SQLitePath() != "/x/y.db" {
		t.Errorf("SQLitePath = %q", c.SQLitePath())
	}
	if m := c.Mechanisms(); slices.Contains(m, "PLAIN") || len(m) != 6 || m[0] != "SCRAM-SHA-512-PLUS" {
		t.Errorf("Mechanisms = %v", m)
	}
	c.Auth.Mechanisms = []string{"PLAIN", "SCRAM-SHA-1"}
	c.Auth.AllowPlain = true
	if m := c.Mechanisms(); !slices.Equal(m, []string{"SCRAM-SHA-1", "PLAIN"}) {
		t.Errorf("Mechanisms = %v", m)
	}
	if k := KnownMechanisms(); len(k) != 7 {
		t.Errorf("KnownMechanisms = %v", k)
	}
}

const examplePath = "../config.toml.example"

func TestExampleLoads(t *testing.T) {
	c, err := Load(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	// The example documents the defaults: loading it must change nothing.
	d := Default()
	d.source, d.lines = c.source, c.lines
	if !reflect.DeepEqual(normalize(c), normalize(d)) {
		t.Errorf("example differs from Default():\n%+v\n%+v", c, d)
	}
}

// normalize treats nil and empty slices alike.
func normalize(c *Config) *Config {
	n := *c
	n.Hosts = slices.Clone(c.Hosts)
	for i := range n.Hosts {
		if len(n.Hosts[i].Admins) == 0 {
			n.Hosts[i].Admins = nil
		}
	}
	if len(n.Auth.Mechanisms) == 0 {
		n.Auth.Mechanisms = nil
	}
	return &n
}

// emptyByDefault are the lists of tables that are empty by default: the
// example documents their keys in comments, since setting them would change
// the defaults.
var emptyByDefault = map[string]bool{"extdisco.services": true}

// TestExampleCoversSchema keeps config.toml.example from drifting: every key
// of the Config struct must be set in it (not just mentioned in a comment).
func TestExampleCoversSchema(t *testing.T) {
	var c Config
	md, err := toml.DecodeFile(examplePath, &c)
	if err != nil {
		t.Fatal(err)
	}
	set := map[string]bool{}
	for _, k := range md.Keys() {
		set[k.String()] = true
	}
	var walk func(t reflect.Type, prefix string)
	walk = func(typ reflect.Type, prefix string) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			tag := f.Tag.Get("toml")
			if !f.IsExported() || tag == "" {
				continue
			}
			key := tag
			if prefix != "" {
				key = prefix + "." + tag
			}
			if !set[key] {
				t.Errorf("config.toml.example does not set %s", key)
			}
			ft := f.Type
			if ft.Kind() == reflect.Slice {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct && ft != durationType && !emptyByDefault[key] {
				walk(ft, key)
			}
		}
	}
	walk(reflect.TypeFor[Config](), "")
}

func TestScanLines(t *testing.T) {
	src := `a = 1 # [x]
b.c = "s"
"q.k" = 'v'
[[t]]
n = 1
[[t.u]]
m = [
  1,
  [2, 3],
]
[[t]]
[t.v]
w = """
x = 1
"""
y = 1979-05-27 07:32:00Z
z = { p = 1, r = { s = "}" } }
`
	want := map[string]int{
		"a": 1, "b": 2, "b.c": 2, `"q.k"`: 3,
		"t": 4, "t[0]": 4, "t[0].n": 5, "t[0].u": 6, "t[0].u[0]": 6,
		"t[0].u[0].m": 7, "t[0].u[0].m[0]": 8, "t[0].u[0].m[1]": 9, "t[0].u[0].m[1][1]": 9,
		"t[1]": 11, "t[1].v": 12, "t[1].v.w": 13, "t[1].v.y": 16,
		"t[1].v.z": 17, "t[1].v.z.r.s": 17,
	}
	got := scanLines(src)
	for k, n := range want {
		if got[k] != n {
			t.Errorf("line of %s = %d, want %d", k, got[k], n)
		}
	}
	if _, ok := got["t[1].v.x"]; ok {
		t.Error("key inside a multi-line string was indexed")
	}
}

func TestUnknownKeysWithValidationErrors(t *testing.T) {
	_, err := load(t, "[log]\nlevel = \"loud\"\ncolour = true\n")
	for _, want := range []string{"config.toml:2: log.level: must be one of", "config.toml:3: log.colour: unknown key"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want %q", err, want)
		}
	}
}
