package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"mellium.im/xmpp/jid"

	"parley.im/parley/config"
	"parley.im/parley/invites"
	"parley.im/parley/storage"
)

// cmdInvite runs "parley invite create": an invitation link printed on
// stdout, the one place its token is ever shown.
//
//	parley invite create [-config FILE] [-user USER@HOST | -host HOST] [-inviter USER@HOST] [-ttl DURATION]
//
// -user reserves the account name; -host lets the invitee choose one (the
// first host by default); -inviter makes the new account a mutual contact
// of that user (without -user: a contact invitation of the inviter's).
func cmdInvite(ctx context.Context, configPath string, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		return errUsage
	}
	fs := flag.NewFlagSet("parley invite create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgFlag := fs.String("config", configPath, "configuration file (TOML)")
	user := fs.String("user", "", "USER@HOST: the account the invitation registers (reserved until it expires)")
	hostFlag := fs.String("host", "", "the host to register on when no -user is given (default: the first host)")
	inviter := fs.String("inviter", "", "USER@HOST: the new account becomes this user's mutual contact")
	ttl := fs.Duration("ttl", 0, "how long the invitation stays valid (default: invites.ttl)")
	if err := fs.Parse(args[1:]); err != nil {
		return errUsage
	}
	if fs.NArg() != 0 {
		return errUsage
	}
	return withStore(ctx, *cfgFlag, func(cfg *config.Config, st storage.Store) error {
		if !cfg.Invites.Enabled {
			return errors.New("invitations are disabled (invites.enabled = false): the server would refuse the token")
		}
		spec := invites.Spec{Register: true, TTL: cfg.Invites.TTL, LandingURL: cfg.Invites.LandingURL, Now: time.Now()}
		if *ttl != 0 {
			if *ttl < time.Minute {
				return fmt.Errorf("-ttl %s is shorter than a minute", *ttl)
			}
			spec.TTL = *ttl
		}
		switch {
		case *user != "":
			host, name, err := accountArg(cfg, []string{*user})
			if err != nil {
				return err
			}
			if *hostFlag != "" && *hostFlag != host {
				return fmt.Errorf("-host %s and -user %s name different hosts", *hostFlag, *user)
			}
			spec.Host, spec.Username = host, name
		case *hostFlag != "":
			h, ok := cfg.Host(*hostFlag)
			if !ok {
				return fmt.Errorf("host %q is not served by this configuration (hosts: %s)", *hostFlag, strings.Join(cfg.HostNames(), ", "))
			}
			spec.Host = h.Name
		default:
			spec.Host = cfg.HostNames()[0]
		}
		if *inviter != "" {
			j, err := jid.Parse(*inviter)
			if err != nil || j.Localpart() == "" || j.Resourcepart() != "" || j.Domainpart() != spec.Host {
				return fmt.Errorf("-inviter %q must be an account of %s", *inviter, spec.Host)
			}
			ok, err := st.AccountExists(ctx, spec.Host, j.Localpart())
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("-inviter %s: no such account", *inviter)
			}
			spec.Inviter = j.Localpart()
		}
		link, err := invites.Create(ctx, st, spec)
		switch {
		case errors.Is(err, invites.ErrBadUsername):
			return fmt.Errorf("%q is not a valid username", *user)
		case errors.Is(err, invites.ErrTaken):
			return fmt.Errorf("account %s already exists or is reserved by another invitation", *user)
		case err != nil:
			return err
		}
		fmt.Fprintln(stdout, link.URI)
		if link.LandingURL != "" {
			fmt.Fprintln(stdout, link.LandingURL)
		}
		fmt.Fprintf(stderr, "invitation created; valid until %s, usable once\n", link.Expires.Format(time.RFC3339))
		return nil
	})
}
