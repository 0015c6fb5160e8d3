-- Prosody for Parley's s2s interop test (interop/s2s_prosody_test.go), on
-- loopback only. Filled from the environment by the test:
-- S2S_DATA, S2S_C2S, S2S_S2S, S2S_DOMAIN, S2S_PEER, S2S_PEER_PORT, S2S_PLUGINS.
local env = os.getenv
local data = env("S2S_DATA")
local domain = env("S2S_DOMAIN")
local peer = env("S2S_PEER")
local peer_port = tonumber(env("S2S_PEER_PORT"))

run_as_root = true
pidfile = data .. "/prosody.pid"
data_path = data .. "/data"
log = { debug = data .. "/prosody.log" }
admin_socket = data .. "/admin.sock"
certificates = data .. "/certs"
plugin_paths = { env("S2S_PLUGINS") }

interfaces = { "127.0.0.1" }
local_interfaces = { "127.0.0.1" }
c2s_ports = { tonumber(env("S2S_C2S")) }
c2s_interfaces = { "127.0.0.1" }
s2s_ports = { tonumber(env("S2S_S2S")) }
s2s_interfaces = { "127.0.0.1" }
c2ss_ports = { }
s2ss_ports = { }
http_ports = { }
https_ports = { }
component_ports = { }
proxy65_ports = { }

modules_enabled = {
	"roster"; "saslauth"; "tls"; "dialback"; "disco"; "ping"; "presence";
	"s2s_bidi"; "s2s_static_hosts";
}

-- Dialback by default (Parley's certificate is self-signed). With
-- S2S_CAFILE (Parley's certificate), Prosody trusts it and requires valid
-- certificates: SASL EXTERNAL both ways.
local cafile = env("S2S_CAFILE")
if cafile == "" then cafile = nil end
s2s_require_encryption = true
s2s_secure_auth = cafile ~= nil
s2s_static_hosts = {
	[peer] = { "127.0.0.1", peer_port };
	["conference." .. peer] = { "127.0.0.1", peer_port };
}

c2s_require_encryption = true
authentication = "internal_plain"
storage = "internal"
statistics = nil

VirtualHost (domain)
	ssl = { certificate = data .. "/certs/" .. domain .. ".crt"; key = data .. "/certs/" .. domain .. ".key"; cafile = cafile }

Component ("conference." .. domain) "muc"
	ssl = { certificate = data .. "/certs/" .. domain .. ".crt"; key = data .. "/certs/" .. domain .. ".key"; cafile = cafile }
	restrict_room_creation = false
	muc_room_locking = false
