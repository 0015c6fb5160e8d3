package server

import (
	"parley.im/parley/config"
	"parley.im/parley/extdisco"
	"parley.im/parley/invites"
	"parley.im/parley/module"
	"parley.im/parley/module/adhoc"
	"parley.im/parley/push"
	"parley.im/parley/storage"
)

// mobileModules are the modules phones rely on besides stream management:
// external services (XEP-0215), push (XEP-0357) and invitations
// (XEP-0401/0445/0379), each left out when its section disables it.
func mobileModules(cfg *config.Config, st storage.Store) []module.Module {
	var list []module.Module
	svcs := make([]extdisco.Service, 0, len(cfg.ExtDisco.Services))
	for _, s := range cfg.ExtDisco.Services {
		svc := extdisco.Service{Type: s.Type, Host: s.Host, Port: s.EffectivePort(), Transport: s.Transport, Name: s.Name}
		if s.Restricted {
			svc.Secret = s.Secret
		}
		svcs = append(svcs, svc)
	}
	list = append(list, extdisco.New(extdisco.Options{Services: svcs, TTL: cfg.ExtDisco.CredentialTTL}))
	if p := cfg.Push; p.Enabled {
		list = append(list, push.New(st, push.Options{IncludeBody: p.IncludeBody, IncludeSender: p.IncludeSender,
			Services: p.Services, MaxPerAccount: p.MaxPerAccount}))
	}
	if cfg.Invites.Enabled {
		admins := make(map[string][]string)
		for _, h := range cfg.Hosts {
			admins[h.Name] = h.Admins
		}
		list = append(list, invites.New(st, adhoc.New(), invites.Options{Admins: admins,
			AllowUsers: cfg.Invites.AllowUsers, TTL: cfg.Invites.TTL, LandingURL: cfg.Invites.LandingURL}))
	}
	return list
}
