-- Test fixture for Parley's s2s interop tests (interop/s2s_prosody_test.go):
-- fixed addresses for remote domains, as Parley's s2s.static_hosts does,
-- so that Prosody reaches Parley on loopback ports without DNS.
-- s2s_static_hosts = { ["a.localhost"] = { "127.0.0.1", 15269 } }
local service = require "net.resolvers.service";
local map = module:get_option("s2s_static_hosts", {});
local orig = service._parley_orig or service.new;
service._parley_orig = orig;

local function fixed(targets)
	return {
		next = function(self, cb)
			local t = table.remove(targets, 1);
			if t == nil then
				self.last_error = "no more targets";
				return cb(nil);
			end
			return cb(t[1], t[2], t[3], t[4]);
		end;
	};
end

service.new = function(hostname, srv, conn_type, extra)
	local addr = map[hostname];
	if addr then
		if srv ~= "xmpp-server" then
			return fixed({});
		end
		return fixed({ { (conn_type or "tcp") .. "4", addr[1], addr[2], extra } });
	end
	return orig(hostname, srv, conn_type, extra);
end
