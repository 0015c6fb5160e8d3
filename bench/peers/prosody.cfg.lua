-- Benchmark-only Prosody 0.12 config for bench/compare.sh: loopback only,
-- TLS offered but not required, SCRAM-SHA-256 over stored keys (no PBKDF2
-- per login, as Parley and ejabberd with `auth_password_format: scram`),
-- no offline storage, no archive, no rate limits, MUC on conference.<domain>.
-- Based on ../shared/bench/peers/prosody.cfg.lua. Filled from the
-- environment: BENCH_DATA, BENCH_C2S, BENCH_HTTP, BENCH_DOMAIN, BENCH_ITERATIONS.
local env = os.getenv
local data = env("BENCH_DATA") or "/tmp/bench-prosody"
local domain = env("BENCH_DOMAIN") or "localhost"

run_as_root = true
pidfile = data .. "/prosody.pid"
data_path = data .. "/data"
log = { warn = data .. "/prosody.log" }
admin_socket = data .. "/admin.sock"
certificates = data .. "/certs"

interfaces = { "127.0.0.1" }
local_interfaces = { "127.0.0.1" }
c2s_ports = { tonumber(env("BENCH_C2S") or "15222") }
c2s_interfaces = { "127.0.0.1" }
c2s_direct_tls_ports = { }
http_ports = { tonumber(env("BENCH_HTTP") or "15280") }
http_interfaces = { "127.0.0.1" }
https_ports = { }
s2s_ports = { }
component_ports = { }
proxy65_ports = { }
network_settings = { tcp_backlog = 1024 }

modules_enabled = {
	"roster"; "saslauth"; "tls"; "disco"; "ping"; "presence"; "posix";
	-- no "offline" and no "mam": Parley runs with mam.default = "never"
}
modules_disabled = { "s2s"; }

c2s_require_encryption = false
allow_unencrypted_plain_auth = true
authentication = "internal_hashed"
password_hash = "SHA-256"
default_iteration_count = tonumber(env("BENCH_ITERATIONS") or "4096")
storage = "internal"
statistics = nil

VirtualHost (domain)

Component ("conference." .. domain) "muc"
	restrict_room_creation = false
	max_history_messages = 20
	muc_room_locking = false
	muc_room_default_public = true
	muc_max_occupants = 100000
