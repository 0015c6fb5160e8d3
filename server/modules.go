package server

import (
	"parley.im/parley/disco"
	"parley.im/parley/module"
	"parley.im/parley/ping"
	"parley.im/parley/version"
	"parley.im/parley/xmpptime"
)

// standardModules lists the modules every host runs, in start order.
func standardModules(reg *module.Registry, ver string) []module.Module {
	return []module.Module{
		disco.New(reg),
		ping.New(),
		version.New(ver),
		xmpptime.New(),
	}
}
