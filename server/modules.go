package server

import (
	"crypto/hmac"
	"crypto/sha256"
	"time"

	"parley.im/parley/avatarconv"
	"parley.im/parley/blocking"
	"parley.im/parley/bookmarks"
	"parley.im/parley/carbons"
	"parley.im/parley/config"
	"parley.im/parley/disco"
	"parley.im/parley/lastactivity"
	"parley.im/parley/mam"
	"parley.im/parley/module"
	"parley.im/parley/muc"
	"parley.im/parley/offline"
	"parley.im/parley/ping"
	"parley.im/parley/presence"
	"parley.im/parley/private"
	"parley.im/parley/pubsub"
	"parley.im/parley/register"
	"parley.im/parley/roster"
	"parley.im/parley/storage"
	"parley.im/parley/vcard"
	"parley.im/parley/version"
	"parley.im/parley/xmpptime"
)

// modules is the standard set every host runs, built from the
// configuration, in start order. Feature packages never import each other;
// where one needs another (presence pushes roster changes), the link is
// made here.
type modules struct {
	list     []module.Module
	register *register.Register
	mam      *mam.MAM
}

func standardModules(reg *module.Registry, cfg *config.Config, st storage.Store, ver string, secret []byte) modules {
	ros := roster.New(st, roster.WithLimits(roster.Limits{MaxItems: cfg.Roster.MaxItems}))
	presOpts := []presence.Option{presence.WithMaxRosterItems(cfg.Roster.MaxItems)}
	if cfg.S2S.Enabled {
		presOpts = append(presOpts, presence.WithFederation())
	}
	pres := presence.New(st, ros, presOpts...)
	regMod := register.New(st, register.Options{
		Enabled:           cfg.Register.Enabled,
		Hosts:             cfg.Register.Hosts,
		MaxPerIP:          cfg.Register.MaxPerIP,
		Window:            cfg.Register.Window,
		MaxPasswordLength: cfg.Register.MaxPasswordLength,
		Iterations:        cfg.Auth.ScramIterations,
		Instructions:      cfg.Register.Instructions,
		Invites:           cfg.Invites.Enabled,
		RosterPush:        ros.Push,
	})
	archive := mam.New(st, mam.Options{
		Default:         storage.ArchiveDefault(cfg.MAM.Default),
		Retention:       time.Duration(cfg.MAM.RetentionDays) * 24 * time.Hour,
		MaxPageSize:     cfg.MAM.MaxPageSize,
		DefaultPageSize: cfg.MAM.DefaultPageSize,
	})
	list := []module.Module{
		disco.New(reg),
		ping.New(),
		version.New(ver),
		xmpptime.New(),
		ros,
		pres,
		// Blocking sees stanzas before the modules that deliver them.
		blocking.New(st, blocking.Options{MaxItems: cfg.Blocking.MaxItems, Roster: st}),
		offline.New(st, offline.Options{Limit: cfg.Offline.MaxMessages}),
		vcard.New(st, vcard.Options{MaxSize: cfg.VCard.MaxSize}),
		private.New(st, private.Options{MaxSize: cfg.Private.MaxSize}),
		lastactivity.New(st, st, lastactivity.Options{}),
		regMod,
		carbons.New(),
		archive,
		pubsub.NewPEP(st, pubsub.Options{
			MaxItemSize:      cfg.PEP.MaxItemSize,
			MaxItems:         cfg.PEP.MaxItems,
			NodeMaxItems:     cfg.PEP.NodeMaxItems,
			MaxNodes:         cfg.PEP.MaxNodes,
			MaxSubscriptions: cfg.PEP.MaxSubscriptions,
			CapsCacheSize:    cfg.PEP.CapsCacheSize,
			Federation:       cfg.S2S.Enabled,
		}),
		// Conversions between modules, through the protocol: after PEP,
		// private XML and vCard, whose answers they watch.
		bookmarks.New(st),
		avatarconv.New(st),
	}
	if cfg.MUC.Enabled {
		list = append(list, muc.New(st, mucOptions(cfg, secret)))
	}
	list = append(list, mobileModules(cfg, st)...)
	return modules{register: regMod, mam: archive, list: list}
}

func mucOptions(cfg *config.Config, secret []byte) muc.Options {
	m := cfg.MUC
	admins := make(map[string][]string)
	for _, h := range cfg.Hosts {
		admins[h.Name] = h.Admins
	}
	create := map[string]muc.CreatePolicy{"local": muc.CreateLocal, "admins": muc.CreateAdmins,
		"list": muc.CreateList, "anyone": muc.CreateAnyone}[m.Create]
	// Occupant ids (XEP-0421) must stay the same across restarts: derive
	// their key from the server's persistent secret.
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("parley muc occupant-id"))
	d := m.Defaults
	defaults := &muc.RoomConfig{Persistent: d.Persistent, MUCConfig: storage.MUCConfig{
		Public: d.Public, MembersOnly: d.MembersOnly, Moderated: d.Moderated,
		WhoisAnyone: d.Whois == "anyone", HistoryLength: d.HistoryLength, AllowPM: d.AllowPM,
		AllowInvites: d.AllowInvites, ChangeSubject: d.ChangeSubject, Archive: d.Archive,
	}}
	return muc.Options{
		Subdomain:        m.Subdomain,
		Name:             m.Name,
		Admins:           admins,
		Create:           create,
		Creators:         m.Creators,
		MaxRoomsPerUser:  m.MaxRoomsPerUser,
		MaxOccupants:     m.MaxOccupants,
		MaxHistory:       m.MaxHistory,
		Defaults:         defaults,
		MessageRate:      m.MessageRate,
		MessageBurst:     m.MessageBurst,
		OccupantIDSecret: mac.Sum(nil),
		IdleTimeout:      m.IdleTimeout,
		LargeRoom:        m.LargeRoom,
		LargeRoomRoles:   m.LargeRoomRoles,
		NoRegistration:   !m.Registration,
		ArchiveRetention: time.Duration(m.ArchiveRetentionDays) * 24 * time.Hour,
	}
}
