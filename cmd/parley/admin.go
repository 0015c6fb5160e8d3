package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"

	"golang.org/x/term"
	"mellium.im/xmpp/jid"

	"parley.im/parley/auth"
	"parley.im/parley/certs"
	"parley.im/parley/config"
	"parley.im/parley/server"
	"parley.im/parley/storage"
)

// accountArg parses USER@HOST and checks the host is served.
func accountArg(cfg *config.Config, args []string) (host, user string, err error) {
	if len(args) != 1 {
		return "", "", errUsage
	}
	j, err := jid.Parse(args[0])
	if err != nil || j.Localpart() == "" || j.Resourcepart() != "" {
		return "", "", fmt.Errorf("%q is not a valid USER@HOST address", args[0])
	}
	if _, ok := cfg.Host(j.Domainpart()); !ok {
		return "", "", fmt.Errorf("host %q is not served by this configuration (hosts: %s)",
			j.Domainpart(), strings.Join(cfg.HostNames(), ", "))
	}
	return j.Domainpart(), j.Localpart(), nil
}

// readPassword prompts twice on a terminal, or reads one line from a pipe.
// A password is never taken from the command line, where other users of
// the machine could read it.
func readPassword(stdin io.Reader, prompt io.Writer) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(prompt, "Password: ")
		p1, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(prompt)
		if err != nil {
			return "", err
		}
		fmt.Fprint(prompt, "Repeat password: ")
		p2, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(prompt)
		if err != nil {
			return "", err
		}
		if string(p1) != string(p2) {
			return "", errors.New("the passwords do not match")
		}
		return string(p1), nil
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", errors.New("no password on standard input")
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", errors.New("the password is empty")
	}
	return pw, nil
}

func withStore(ctx context.Context, configPath string, f func(cfg *config.Config, st storage.Store) error) error {
	cfg, err := loadConfig(configPath)
	if err != nil {
		return err
	}
	st, err := server.OpenStore(ctx, cfg, true)
	if err != nil {
		return err
	}
	defer st.Close()
	return f(cfg, st)
}

func cmdAddUser(ctx context.Context, configPath string, args []string, stdin io.Reader, stderr io.Writer) error {
	return withStore(ctx, configPath, func(cfg *config.Config, st storage.Store) error {
		host, user, err := accountArg(cfg, args)
		if err != nil {
			return err
		}
		if ok, err := st.AccountExists(ctx, host, user); err != nil {
			return err
		} else if ok {
			return fmt.Errorf("account %s@%s already exists", user, host)
		}
		pw, err := readPassword(stdin, stderr)
		if err != nil {
			return err
		}
		creds, err := auth.DeriveCredentials(pw, cfg.Auth.ScramIterations)
		if err != nil {
			return err
		}
		if err := st.CreateAccount(ctx, host, user, creds); err != nil {
			if errors.Is(err, storage.ErrConflict) {
				return fmt.Errorf("account %s@%s already exists", user, host)
			}
			return err
		}
		fmt.Fprintf(stderr, "account %s@%s created\n", user, host)
		return nil
	})
}

func cmdPasswd(ctx context.Context, configPath string, args []string, stdin io.Reader, stderr io.Writer) error {
	return withStore(ctx, configPath, func(cfg *config.Config, st storage.Store) error {
		host, user, err := accountArg(cfg, args)
		if err != nil {
			return err
		}
		if ok, err := st.AccountExists(ctx, host, user); err != nil {
			return err
		} else if !ok {
			return fmt.Errorf("no account %s@%s", user, host)
		}
		pw, err := readPassword(stdin, stderr)
		if err != nil {
			return err
		}
		creds, err := auth.DeriveCredentials(pw, cfg.Auth.ScramIterations)
		if err != nil {
			return err
		}
		if err := st.SetCredentials(ctx, host, user, creds); err != nil {
			if errors.Is(err, storage.ErrNotFound) {
				return fmt.Errorf("no account %s@%s", user, host)
			}
			return err
		}
		fmt.Fprintf(stderr, "password of %s@%s changed\n", user, host)
		return nil
	})
}

func cmdDelUser(ctx context.Context, configPath string, args []string, stderr io.Writer) error {
	return withStore(ctx, configPath, func(cfg *config.Config, st storage.Store) error {
		host, user, err := accountArg(cfg, args)
		if err != nil {
			return err
		}
		if err := st.DeleteAccount(ctx, host, user); err != nil {
			if errors.Is(err, storage.ErrNotFound) {
				return fmt.Errorf("no account %s@%s", user, host)
			}
			return err
		}
		fmt.Fprintf(stderr, "account %s@%s deleted\n", user, host)
		return nil
	})
}

func cmdMigrate(ctx context.Context, configPath string, args []string, stderr io.Writer) error {
	if len(args) != 0 {
		return errUsage
	}
	return withStore(ctx, configPath, func(cfg *config.Config, st storage.Store) error {
		if err := st.Migrate(ctx); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "%s schema is up to date\n", cfg.Storage.Backend)
		return nil
	})
}

// cmdCheck reports every problem it finds, not just the first.
func cmdCheck(ctx context.Context, configPath string, args []string, stdout io.Writer) error {
	if len(args) != 0 {
		return errUsage
	}
	cfg, err := loadConfig(configPath)
	if err != nil {
		return err
	}
	src := configPath
	if src == "" {
		src = "(built-in defaults)"
	}
	fmt.Fprintf(stdout, "ok   configuration %s\n", src)
	problems := 0
	report := func(what string, err error) {
		if err == nil {
			fmt.Fprintf(stdout, "ok   %s\n", what)
			return
		}
		if msg, ok := strings.CutPrefix(err.Error(), "warning: "); ok {
			fmt.Fprintf(stdout, "warn %s: %s\n", what, msg)
			return
		}
		problems++
		fmt.Fprintf(stdout, "FAIL %s: %v\n", what, err)
	}
	mgr, err := certs.New(cfg, newLogger(io.Discard, "error", "text"))
	report("certificates loaded", err)
	if mgr != nil {
		for _, e := range mgr.Check() {
			report("certificate", e)
		}
	}
	st, err := server.OpenStore(ctx, cfg, false)
	if err == nil {
		err = st.Ping(ctx)
		st.Close()
	}
	report("storage "+cfg.Storage.Backend+" reachable", err)
	for _, addr := range append(append([]string{}, cfg.C2S.StartTLS...), cfg.C2S.DirectTLS...) {
		l, err := net.Listen("tcp", addr)
		if err == nil {
			l.Close()
		}
		report("port "+addr+" free", err)
	}
	if problems > 0 {
		return fmt.Errorf("%d problem(s) found", problems)
	}
	return nil
}
