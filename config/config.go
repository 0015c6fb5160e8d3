package config

import (
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Config is the whole server configuration. Field tags are the TOML keys;
// config.toml.example documents each of them.
type Config struct {
	DataDir string  `toml:"data_dir"`
	Log     Log     `toml:"log"`
	Hosts   []Host  `toml:"host"`
	Storage Storage `toml:"storage"`
	C2S     C2S     `toml:"c2s"`
	Auth    Auth    `toml:"auth"`
	Limits  Limits  `toml:"limits"`
	S2S     S2S     `toml:"s2s"`

	Roster   Roster   `toml:"roster"`
	Offline  Offline  `toml:"offline"`
	Blocking Blocking `toml:"blocking"`
	VCard    VCard    `toml:"vcard"`
	Private  Private  `toml:"private"`
	Register Register `toml:"register"`
	MAM      MAM      `toml:"mam"`
	PEP      PEP      `toml:"pep"`
	MUC      MUC      `toml:"muc"`
	Web      Web      `toml:"web"`
	ExtDisco ExtDisco `toml:"extdisco"`
	Push     Push     `toml:"push"`
	Invites  Invites  `toml:"invites"`
	Upload   Upload   `toml:"upload"`

	source string    // file it was loaded from; "" for Default()
	lines  lineIndex // key path -> line in source
}

// Log configures the process logger.
type Log struct {
	Level  string `toml:"level"`  // debug | info | warn | error
	Format string `toml:"format"` // text | json
}

// Host is one virtual host.
type Host struct {
	Name   string   `toml:"name"`
	Cert   string   `toml:"cert"` // PEM chain; empty with Key empty = self-signed
	Key    string   `toml:"key"`
	Admins []string `toml:"admins"` // bare JIDs
}

// Storage selects and configures the storage backend.
type Storage struct {
	Backend  string   `toml:"backend"` // sqlite | postgres
	SQLite   SQLite   `toml:"sqlite"`
	Postgres Postgres `toml:"postgres"`
}

// SQLite configures the embedded backend.
type SQLite struct {
	Path string `toml:"path"` // empty = <data_dir>/parley.db; see Config.SQLitePath
}

// Postgres configures the PostgreSQL backend.
type Postgres struct {
	DSN      string `toml:"dsn"` // may hold a password: never log it
	MaxConns int    `toml:"max_conns"`
}

// C2S configures client-to-server listeners and sessions.
type C2S struct {
	StartTLS              []string      `toml:"starttls"`
	DirectTLS             []string      `toml:"direct_tls"`
	RequireTLS            bool          `toml:"require_tls"`
	NegotiationTimeout    time.Duration `toml:"negotiation_timeout"`
	IdleTimeout           time.Duration `toml:"idle_timeout"`
	PingTimeout           time.Duration `toml:"ping_timeout"`
	WriteTimeout          time.Duration `toml:"write_timeout"`
	ResourceConflict      string        `toml:"resource_conflict"` // replace | refuse
	MaxSessionsPerAccount int           `toml:"max_sessions_per_account"`
	QueueSize             int           `toml:"queue_size"`
	// Overload push-back: the socket receive buffer (0 = the kernel's
	// autotuning) and the read rate of one connection in bytes per second
	// (0 = unlimited), with its burst (0 = one second's worth).
	ReceiveBuffer int `toml:"receive_buffer"`
	ReadRate      int `toml:"read_rate"`
	ReadBurst     int `toml:"read_burst"`
	// XEP-0198 stream management.
	SMResumeTimeout time.Duration `toml:"sm_resume_timeout"` // 0 = not resumable
	SMMaxUnacked    int           `toml:"sm_max_unacked"`    // 0 = twice queue_size
	SMLocation      string        `toml:"sm_location"`       // host:port clients reconnect to; "" = any
}

// Auth configures SASL and login throttling.
type Auth struct {
	ScramIterations int           `toml:"scram_iterations"`
	Mechanisms      []string      `toml:"mechanisms"` // empty = all known
	AllowPlain      bool          `toml:"allow_plain"`
	MaxAttempts     int           `toml:"max_attempts"`
	AccountFailures int           `toml:"account_failures"` // 0 = no per-account limit
	IPFailures      int           `toml:"ip_failures"`      // 0 = no per-IP limit
	FailureWindow   time.Duration `toml:"failure_window"`
	// SASL2 offers XEP-0388 SASL2 with XEP-0386 Bind2 beside classic SASL.
	SASL2 bool `toml:"sasl2"`
	// FastTokenLifetime is how long a XEP-0484 FAST token lasts; 0 = no FAST.
	FastTokenLifetime time.Duration `toml:"fast_token_lifetime"`
}

// Limits bounds what one peer may make the server hold.
type Limits struct {
	MaxStanzaSize       int `toml:"max_stanza_size"`
	MaxDepth            int `toml:"max_depth"`
	MaxStreamHeader     int `toml:"max_stream_header"`
	MaxConnectionsPerIP int `toml:"max_connections_per_ip"` // 0 = unlimited
}

// S2S configures federation with other servers (RFC 6120 server-to-server
// streams, XEP-0220 dialback, XEP-0288, XEP-0368).
type S2S struct {
	Enabled            bool          `toml:"enabled"`      // full federation
	Allow              []string      `toml:"allow"`        // domains reachable even while Enabled is false
	Deny               []string      `toml:"deny"`         // domains never reached nor accepted
	Listen             []string      `toml:"listen"`       // STARTTLS listeners (5269)
	DirectTLS          []string      `toml:"direct_tls"`   // XEP-0368 listeners
	RequireTLS         bool          `toml:"require_tls"`  // refuse streams without TLS
	Auth               string        `toml:"auth"`         // certificate | dialback
	CAFile             string        `toml:"ca_file"`      // extra trusted roots (PEM)
	StaticHosts        []string      `toml:"static_hosts"` // "domain=host:port" or "domain=tls:host:port"
	ConnectTimeout     time.Duration `toml:"connect_timeout"`
	NegotiationTimeout time.Duration `toml:"negotiation_timeout"`
	IdleTimeout        time.Duration `toml:"idle_timeout"`
	QueueSize          int           `toml:"queue_size"`                 // stanzas waiting per remote domain
	MaxConnections     int           `toml:"max_connections_per_domain"` // inbound streams per remote domain
}

// S2SActive reports whether the s2s service runs at all: full federation,
// or an allow-list reachable while federation is off.
func (c *Config) S2SActive() bool { return c.S2S.Enabled || len(c.S2S.Allow) > 0 }

// Roster limits contact lists (RFC 6121).
type Roster struct {
	MaxItems int `toml:"max_items"`
}

// Offline configures storage of messages for offline users (XEP-0160).
type Offline struct {
	MaxMessages int `toml:"max_messages"` // -1 = no limit
}

// Blocking configures block lists (XEP-0191).
type Blocking struct {
	MaxItems int `toml:"max_items"` // -1 = no limit
}

// VCard configures vcard-temp profiles (XEP-0054).
type VCard struct {
	MaxSize int `toml:"max_size"`
}

// Private configures private XML storage (XEP-0049).
type Private struct {
	MaxSize int `toml:"max_size"`
}

// Register configures in-band registration (XEP-0077). Password change
// and account removal by logged-in users are always available.
type Register struct {
	Enabled           bool          `toml:"enabled"`
	Hosts             []string      `toml:"hosts"` // empty = every host
	MaxPerIP          int           `toml:"max_per_ip"`
	Window            time.Duration `toml:"window"`
	MaxPasswordLength int           `toml:"max_password_length"`
	Instructions      string        `toml:"instructions"`
}

// MAM configures the message archive (XEP-0313).
type MAM struct {
	Default         string `toml:"default"`        // always | never | roster
	RetentionDays   int    `toml:"retention_days"` // 0 = keep forever
	MaxPageSize     int    `toml:"max_page_size"`
	DefaultPageSize int    `toml:"default_page_size"`
}

// PEP configures personal eventing (XEP-0163) on the pubsub engine.
type PEP struct {
	MaxItemSize      int `toml:"max_item_size"`
	MaxItems         int `toml:"max_items"`
	NodeMaxItems     int `toml:"node_max_items"`
	MaxNodes         int `toml:"max_nodes"`
	MaxSubscriptions int `toml:"max_subscriptions"`
	CapsCacheSize    int `toml:"caps_cache_size"`
}

// MUC configures group chat (XEP-0045) on <subdomain>.<host>.
type MUC struct {
	Enabled         bool          `toml:"enabled"`
	Subdomain       string        `toml:"subdomain"`
	Name            string        `toml:"name"`
	Create          string        `toml:"create"`   // local | admins | list | anyone
	Creators        []string      `toml:"creators"` // with create = "list"
	MaxRoomsPerUser int           `toml:"max_rooms_per_user"`
	MaxOccupants    int           `toml:"max_occupants"`
	MaxHistory      int           `toml:"max_history"`
	MessageRate     float64       `toml:"message_rate"` // per occupant per second; 0 = off
	MessageBurst    int           `toml:"message_burst"`
	IdleTimeout     time.Duration `toml:"idle_timeout"`
	LargeRoom       int           `toml:"large_room"` // 0 = off
	LargeRoomRoles  []string      `toml:"large_room_roles"`
	Registration    bool          `toml:"registration"`
	// ArchiveRetentionDays is how long room archives keep messages; 0 =
	// forever.
	ArchiveRetentionDays int         `toml:"archive_retention_days"`
	Defaults             MUCDefaults `toml:"defaults"`
}

// MUCDefaults is the configuration new rooms start with.
type MUCDefaults struct {
	Persistent    bool   `toml:"persistent"`
	Public        bool   `toml:"public"`
	MembersOnly   bool   `toml:"members_only"`
	Moderated     bool   `toml:"moderated"`
	Whois         string `toml:"whois"` // moderators | anyone
	HistoryLength int    `toml:"history_length"`
	AllowPM       string `toml:"allow_pm"` // anyone | participants | moderators | none
	AllowInvites  bool   `toml:"allow_invites"`
	ChangeSubject bool   `toml:"change_subject"`
	Archive       bool   `toml:"archive"`
}

// Web configures the HTTP server (package web): WebSocket, connection
// discovery, health, metrics and the built-in web chat.
type Web struct {
	HTTP              []string      `toml:"http"`            // plain HTTP, for use behind a reverse proxy
	HTTPS             []string      `toml:"https"`           // TLS with the hosts' certificates
	PublicURL         string        `toml:"public_url"`      // "" = derived from each request
	TrustedProxies    []string      `toml:"trusted_proxies"` // CIDRs whose X-Forwarded-* are believed
	ReadHeaderTimeout time.Duration `toml:"read_header_timeout"`
	IdleTimeout       time.Duration `toml:"idle_timeout"`
	MaxHeaderBytes    int           `toml:"max_header_bytes"`
	WebSocket         WebSocket     `toml:"websocket"`
	Metrics           WebMetrics    `toml:"metrics"`
	Chat              WebChat       `toml:"chat"`
	BOSH              WebBOSH       `toml:"bosh"`
}

// WebSocket configures XMPP over WebSocket (RFC 7395).
type WebSocket struct {
	Enabled        bool          `toml:"enabled"`
	AllowedOrigins []string      `toml:"allowed_origins"` // empty = same origin only; "*" = any
	PingInterval   time.Duration `toml:"ping_interval"`
}

// WebMetrics configures /metrics (Prometheus).
type WebMetrics struct {
	Enabled bool     `toml:"enabled"`
	Allow   []string `toml:"allow"` // CIDRs; empty = anyone
}

// WebBOSH configures BOSH (XEP-0124, XEP-0206) at /http-bind.
type WebBOSH struct {
	Enabled        bool          `toml:"enabled"`
	MaxWait        time.Duration `toml:"max_wait"`
	MaxHold        int           `toml:"max_hold"`
	Inactivity     time.Duration `toml:"inactivity"`
	MaxPause       time.Duration `toml:"max_pause"`
	Polling        time.Duration `toml:"polling"`
	MaxSessions    int           `toml:"max_sessions"`
	AllowedOrigins []string      `toml:"allowed_origins"` // empty or "*" = any
}

// Upload configures XEP-0363 HTTP file upload on <subdomain>.<host>, served
// by the web server under /upload/.
type Upload struct {
	Enabled         bool          `toml:"enabled"`
	Subdomain       string        `toml:"subdomain"`
	Name            string        `toml:"name"`
	Dir             string        `toml:"dir"` // "" = <data_dir>/upload
	URL             string        `toml:"url"` // "" = derived from [web]
	MaxFileSize     int           `toml:"max_file_size"`
	Quota           int           `toml:"quota"`  // bytes per user; 0 = none
	Expiry          time.Duration `toml:"expiry"` // 0 = kept forever
	SlotTimeout     time.Duration `toml:"slot_timeout"`
	MaxPendingSlots int           `toml:"max_pending_slots"`
	MaxConcurrent   int           `toml:"max_concurrent"`
}

// WebChat configures the built-in Converse.js page.
type WebChat struct {
	Enabled bool   `toml:"enabled"`
	Dir     string `toml:"dir"` // Converse.js dist directory
}

// Default returns a complete configuration that works for a first run with
// no file: host "localhost" with a self-signed certificate, SQLite in
// ./parley-data, and listeners on the standard ports. Each call returns a
// fresh value.
func Default() *Config {
	return &Config{
		DataDir: "./parley-data",
		Log:     Log{Level: "info", Format: "text"},
		Hosts:   []Host{{Name: "localhost"}},
		Storage: Storage{
			Backend:  "sqlite",
			Postgres: Postgres{MaxConns: 16},
		},
		C2S: C2S{
			StartTLS:              []string{":5222"},
			DirectTLS:             []string{":5223"},
			RequireTLS:            true,
			NegotiationTimeout:    30 * time.Second,
			IdleTimeout:           5 * time.Minute,
			PingTimeout:           30 * time.Second,
			WriteTimeout:          30 * time.Second,
			ResourceConflict:      "replace",
			MaxSessionsPerAccount: 10,
			QueueSize:             4096,
			ReceiveBuffer:         16384,
			ReadRate:              1 << 20,
			SMResumeTimeout:       5 * time.Minute,
		},
		Auth: Auth{
			ScramIterations:   10000,
			AllowPlain:        true,
			MaxAttempts:       3,
			AccountFailures:   5,
			IPFailures:        20,
			FailureWindow:     5 * time.Minute,
			SASL2:             true,
			FastTokenLifetime: 14 * 24 * time.Hour,
		},
		Limits: Limits{
			MaxStanzaSize:   262144,
			MaxDepth:        32,
			MaxStreamHeader: 4096,
		},
		S2S: S2S{
			Allow:              []string{},
			Deny:               []string{},
			Listen:             []string{":5269"},
			DirectTLS:          []string{},
			RequireTLS:         true,
			Auth:               "dialback",
			StaticHosts:        []string{},
			ConnectTimeout:     10 * time.Second,
			NegotiationTimeout: 30 * time.Second,
			IdleTimeout:        10 * time.Minute,
			QueueSize:          1000,
			MaxConnections:     4,
		},
		Roster:   Roster{MaxItems: 1000},
		Offline:  Offline{MaxMessages: 1000},
		Blocking: Blocking{MaxItems: 1000},
		VCard:    VCard{MaxSize: 65536},
		Private:  Private{MaxSize: 262144},
		MAM:      MAM{Default: "always", MaxPageSize: 250, DefaultPageSize: 50},
		PEP: PEP{MaxItemSize: 196608, MaxItems: 256, NodeMaxItems: 1, MaxNodes: 256,
			MaxSubscriptions: 1000, CapsCacheSize: 4096},
		MUC: MUC{
			Enabled: true, Subdomain: "conference", Name: "Chatrooms", Create: "local",
			Creators: []string{}, MaxOccupants: 1000, MaxHistory: 100, MessageBurst: 5,
			IdleTimeout: 10 * time.Minute, LargeRoomRoles: []string{"moderator"}, Registration: true,
			Defaults: MUCDefaults{Public: true, Whois: "moderators", HistoryLength: 20, AllowPM: "anyone"},
		},
		Web: Web{
			HTTP: []string{"127.0.0.1:5280"}, HTTPS: []string{":5443"}, TrustedProxies: []string{},
			ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 16384,
			WebSocket: WebSocket{Enabled: true, AllowedOrigins: []string{}, PingInterval: time.Minute},
			Metrics:   WebMetrics{Enabled: true, Allow: []string{"127.0.0.0/8", "::1/128"}},
			Chat:      WebChat{Enabled: true, Dir: "web/chat/node_modules/converse.js/dist"},
			BOSH: WebBOSH{Enabled: true, MaxWait: time.Minute, MaxHold: 1, Inactivity: time.Minute,
				MaxPause: 2 * time.Minute, Polling: 2 * time.Second, MaxSessions: 10000, AllowedOrigins: []string{}},
		},
		Upload: Upload{
			Enabled: true, Subdomain: "upload", Name: "HTTP File Upload", MaxFileSize: 100 << 20,
			Quota: 1 << 30, Expiry: 30 * 24 * time.Hour, SlotTimeout: 5 * time.Minute,
			MaxPendingSlots: 16, MaxConcurrent: 64,
		},
		ExtDisco: ExtDisco{CredentialTTL: 24 * time.Hour, Services: []ExtService{}},
		Push:     Push{Enabled: true, IncludeSender: true, Services: []string{}, MaxPerAccount: 10},
		Invites:  Invites{Enabled: true, TTL: 7 * 24 * time.Hour},
		Register: Register{
			Hosts:             []string{},
			MaxPerIP:          5,
			Window:            time.Hour,
			MaxPasswordLength: 1024,
			Instructions:      "Choose a username and password to register with this server.",
		},
	}
}

// Source is the file the configuration was loaded from, "" for Default().
func (c *Config) Source() string { return c.source }

// HostNames lists the virtual hosts in configuration order; the first is the
// default for connections that name no known host.
func (c *Config) HostNames() []string {
	names := make([]string, len(c.Hosts))
	for i, h := range c.Hosts {
		names[i] = h.Name
	}
	return names
}

// Host finds a virtual host by name, ignoring case and a trailing dot as DNS
// does. The pointer refers into c.
func (c *Config) Host(name string) (*Host, bool) {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	for i := range c.Hosts {
		if c.Hosts[i].Name == name {
			return &c.Hosts[i], true
		}
	}
	return nil, false
}

// SQLitePath is the database file: storage.sqlite.path, or
// <data_dir>/parley.db when that is empty.
func (c *Config) SQLitePath() string {
	if c.Storage.SQLite.Path != "" {
		return c.Storage.SQLite.Path
	}
	return filepath.Join(c.DataDir, "parley.db")
}

// CertDir is where generated self-signed certificates are kept.
func (c *Config) CertDir() string {
	return filepath.Join(c.DataDir, "certs")
}

// knownMechanisms is every SASL mechanism Parley implements, strongest first;
// that is also the order in which they are offered.
var knownMechanisms = []string{
	"SCRAM-SHA-512-PLUS", "SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS",
	"SCRAM-SHA-512", "SCRAM-SHA-256", "SCRAM-SHA-1",
	"PLAIN",
}

// KnownMechanisms lists every SASL mechanism auth.mechanisms may name,
// strongest first.
func KnownMechanisms() []string { return slices.Clone(knownMechanisms) }

// Mechanisms is the effective SASL mechanism list, strongest first:
// auth.mechanisms (or all known when empty), without PLAIN unless
// auth.allow_plain. Whether TLS is up is the caller's business: PLAIN and
// the -PLUS variants are only offered over TLS.
func (c *Config) Mechanisms() []string {
	var out []string
	for _, m := range knownMechanisms {
		if len(c.Auth.Mechanisms) > 0 && !slices.Contains(c.Auth.Mechanisms, m) {
			continue
		}
		if m == "PLAIN" && !c.Auth.AllowPlain {
			continue
		}
		out = append(out, m)
	}
	return out
}
