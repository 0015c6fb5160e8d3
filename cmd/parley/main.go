// Command parley is the Parley XMPP server and its administration tool.
//
//	parley serve    [-config FILE]            run the server
//	parley check    [-config FILE]            check configuration, certificates, storage and ports
//	parley adduser  [-config FILE] USER@HOST  create an account (password from a prompt or stdin)
//	parley passwd   [-config FILE] USER@HOST  change a password (same)
//	parley deluser  [-config FILE] USER@HOST  delete an account and its data
//	parley migrate  [-config FILE]            bring the database schema up to date
//	parley invite create [-config FILE] [-user USER@HOST | -host HOST] [-inviter USER@HOST] [-ttl D]
//	                                          create an invitation link (XEP-0401)
//	parley version                            print the version
//
// Without -config (or $PARLEY_CONFIG) the built-in defaults are used: host
// localhost, embedded storage in ./parley-data, a self-signed certificate.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			return bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				return "dev-" + s.Value[:12]
			}
		}
	}
	return "dev"
}

const usage = `usage: parley <command> [-config FILE] [arguments]

commands:
  serve              run the server
  check              check configuration, certificates, storage and ports
  adduser USER@HOST  create an account; the password is read from a prompt or stdin
  passwd USER@HOST   change an account's password (same)
  deluser USER@HOST  delete an account and everything stored for it
  migrate            bring the database schema up to date
  invite create [-user USER@HOST | -host HOST] [-inviter USER@HOST] [-ttl DURATION]
                     print an invitation link that registers one account (even
                     with registration off); -inviter makes it that user's contact
  version            print the version

Without -config or $PARLEY_CONFIG, built-in defaults are used (host localhost,
embedded storage in ./parley-data, a self-signed certificate).
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// errUsage means the command line was wrong; the usage text was printed.
var errUsage = errors.New("usage")

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	fs := flag.NewFlagSet("parley "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", os.Getenv("PARLEY_CONFIG"), "configuration file (TOML)")
	if err := fs.Parse(rest); err != nil {
		return 2
	}
	ctx := context.Background()
	var err error
	switch cmd {
	case "serve":
		err = cmdServe(ctx, *configPath, fs.Args(), stderr)
	case "check":
		err = cmdCheck(ctx, *configPath, fs.Args(), stdout)
	case "adduser":
		err = cmdAddUser(ctx, *configPath, fs.Args(), stdin, stderr)
	case "passwd":
		err = cmdPasswd(ctx, *configPath, fs.Args(), stdin, stderr)
	case "deluser":
		err = cmdDelUser(ctx, *configPath, fs.Args(), stderr)
	case "migrate":
		err = cmdMigrate(ctx, *configPath, fs.Args(), stderr)
	case "invite":
		err = cmdInvite(ctx, *configPath, fs.Args(), stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, "parley", buildVersion())
		return 0
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "parley: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	if errors.Is(err, errUsage) {
		fmt.Fprint(stderr, usage)
		return 2
	}
	if err != nil {
		fmt.Fprintln(stderr, "parley:", err)
		return 1
	}
	return 0
}

func newLogger(w io.Writer, level, format string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
