// Command parley-bench is a load tool for XMPP servers (Parley or any other
// server speaking RFC 6120 client streams).
//
//	parley-bench login-idle [flags]   open N sessions, report login rate/latency, hold them idle, report server RSS per session
//	parley-bench chat       [flags]   1:1 chat between pairs, open loop at -rate or closed loop (saturation)
//	parley-bench presence   [flags]   rosters of mutual contacts, presence updates broadcast to them
//	parley-bench mam        [flags]   fill archives, then XEP-0313 queries at a rate
//	parley-bench muc-fanout [flags]   one room, N occupants, S senders
//	parley-bench provision  [flags]   create bench accounts (Parley's storage, Prosody, ejabberd, any command)
//	parley-bench table FILE.json...   print results written with -json as one Markdown table
//	parley-bench compare -dir DIR     the side-by-side table of bench/compare.sh
//
// Every scenario logs in N accounts (-user pattern with %d, -first, -count)
// over -tls plaintext|starttls|direct with -mech, at most -concurrency
// logins in flight, and samples the server given by -pid (CPU seconds from
// /proc/PID/stat, RSS from /proc/PID/status) and itself. Run
// `parley-bench login-idle -h` for every flag.
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Options are the flags every scenario shares.
type Options struct {
	Addrs        []string
	Domain       string
	UserPattern  string
	Password     string
	First        int
	Count        int
	Concurrency  int
	Ramp         time.Duration
	TLS          TLSMode
	Mech         string
	ScramCache   bool
	TLSGroups    string
	Sources      []net.IP
	PID          int
	LoginTimeout time.Duration
	Resource     string
	Presence     bool
	MaxDuration  time.Duration
	JSON         string
	Label        string
	CPUProfile   string
	Sockets      SocketOptions
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "usage: parley-bench <command> [flags]\n\ncommands:\n")
	for _, s := range scenarios {
		fmt.Fprintf(w, "  %-12s %s\n", s.Name(), s.Synopsis())
	}
	fmt.Fprintf(w, "  %-12s %s\n", "provision", "create bench accounts: in Parley's storage, Prosody's files, through ejabberd's HTTP API, or with a command per account")
	fmt.Fprintf(w, "  %-12s %s\n", "table", "print -json result files as one Markdown table")
	fmt.Fprintf(w, "  %-12s %s\n", "compare", "print bench/compare.sh's side-by-side table from a directory of results")
	fmt.Fprintf(w, "\nRun parley-bench <command> -h for its flags.\n")
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "provision":
		return cmdProvision(rest, stdout, stderr)
	case "table":
		return cmdTable(rest, stdout, stderr)
	case "compare":
		return cmdCompare(rest, stdout, stderr)
	case "help", "-h", "-help", "--help":
		usage(stdout)
		return 0
	}
	for _, s := range scenarios {
		if s.Name() == cmd {
			return runScenario(s, rest, stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "parley-bench: unknown command %q\n\n", cmd)
	usage(stderr)
	return 2
}

func commonFlags(fs *flag.FlagSet, o *Options) (addrs, sources, tlsMode *string, pidfile *string) {
	addrs = fs.String("addr", "127.0.0.1:5222", "server `host:port`; a comma-separated list is used round robin")
	fs.StringVar(&o.Domain, "domain", "localhost", "XMPP domain of the accounts (stream 'to', TLS server name)")
	fs.StringVar(&o.UserPattern, "user", "user%d", "account name `pattern`, with one %d for the index")
	fs.StringVar(&o.Password, "password", "bench", "password of every account (benchmark accounts only)")
	fs.IntVar(&o.First, "first", 0, "index of the first account")
	fs.IntVar(&o.Count, "count", 1000, "number of sessions")
	fs.IntVar(&o.Concurrency, "concurrency", 100, "logins in flight at most")
	fs.DurationVar(&o.Ramp, "ramp", 0, "spread the login starts evenly over this `duration` (0: as fast as -concurrency allows)")
	tlsMode = fs.String("tls", "starttls", "`mode`: starttls, direct (XEP-0368) or plaintext (the server must allow SASL without TLS)")
	fs.StringVar(&o.Mech, "mech", "SCRAM-SHA-256", "SASL mechanism, or a comma-separated list in order of preference (the first the server offers is used): "+strings.Join(knownMechanisms(), ", "))
	fs.BoolVar(&o.ScramCache, "scram-cache", true, "derive SCRAM keys once per (password, salt, iterations) instead of one PBKDF2 per login (false: mellium's mechanisms as they are)")
	fs.StringVar(&o.TLSGroups, "tls-groups", "", "TLS key exchange groups to offer, comma-separated: x25519mlkem768, x25519, p256, p384 (default: Go's)")
	sources = fs.String("source", "", "comma-separated local `addresses` to connect from, round robin (e.g. 127.0.0.2,127.0.0.3: one address runs out of ports near 28,000 connections)")
	fs.IntVar(&o.PID, "pid", 0, "server process id, to sample its CPU time and RSS from /proc")
	pidfile = fs.String("pidfile", "", "read the server process id from this `file`")
	fs.DurationVar(&o.LoginTimeout, "login-timeout", 30*time.Second, "give up a login after this long")
	fs.StringVar(&o.Resource, "resource", "bench", "resource to bind (empty: let the server choose)")
	fs.BoolVar(&o.Presence, "presence", true, "send initial presence after bind")
	fs.DurationVar(&o.MaxDuration, "max-duration", 15*time.Minute, "stop everything after this long")
	fs.StringVar(&o.JSON, "json", "", "also write the result as JSON to this `file`")
	fs.StringVar(&o.Label, "label", "", "free-form label for the result (server name, variant)")
	fs.IntVar(&o.Sockets.SndBuf, "sndbuf", 0, "SO_SNDBUF of the client sockets in `bytes` (0: the kernel's autotuning, up to net.ipv4.tcp_wmem's maximum)")
	fs.IntVar(&o.Sockets.NotSentLowat, "notsent-lowat", 0, "TCP_NOTSENT_LOWAT of the client sockets in `bytes`: a write blocks while this much is written and not yet sent, so that the tool, like a well-behaved client, feels the server's push-back instead of queueing megabytes in its own kernel buffer (0: the system's default)")
	fs.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of the tool itself to this `file` (to see where its own CPU goes)")
	return
}

func (o *Options) finish(addrs, sources, tlsMode, pidfile string) error {
	for _, a := range strings.Split(addrs, ",") {
		if a = strings.TrimSpace(a); a != "" {
			if _, _, err := net.SplitHostPort(a); err != nil {
				return fmt.Errorf("-addr %q: %v", a, err)
			}
			o.Addrs = append(o.Addrs, a)
		}
	}
	if len(o.Addrs) == 0 {
		return errors.New("-addr: no address")
	}
	for _, s := range strings.Split(sources, ",") {
		if s = strings.TrimSpace(s); s != "" {
			ip := net.ParseIP(s)
			if ip == nil {
				return fmt.Errorf("-source %q: not an IP address", s)
			}
			o.Sources = append(o.Sources, ip)
		}
	}
	switch m := TLSMode(tlsMode); m {
	case Plaintext, StartTLS, DirectTLS:
		o.TLS = m
	default:
		return fmt.Errorf("-tls %q: want starttls, direct or plaintext", tlsMode)
	}
	if strings.Count(o.UserPattern, "%") != 1 || !strings.Contains(o.UserPattern, "%d") {
		return fmt.Errorf("-user %q: want exactly one %%d", o.UserPattern)
	}
	if o.Count < 1 || o.Concurrency < 1 || o.First < 0 {
		return errors.New("-count and -concurrency must be positive, -first not negative")
	}
	for _, m := range strings.Split(o.Mech, ",") {
		m = strings.TrimSpace(m)
		if _, err := mechanism(m, newKeyCache()); err != nil {
			return err
		}
		if strings.HasSuffix(m, "-PLUS") && o.TLS == Plaintext {
			return errors.New("-PLUS mechanisms need TLS")
		}
	}
	if o.Mech == "PLAIN" && o.TLS == Plaintext {
		fmt.Fprintln(os.Stderr, "parley-bench: warning: PLAIN without TLS; most servers refuse it")
	}
	if err := o.Sockets.check(); err != nil {
		return err
	}
	if pidfile != "" {
		b, err := os.ReadFile(pidfile)
		if err != nil {
			return err
		}
		if o.PID, err = strconv.Atoi(strings.TrimSpace(string(b))); err != nil {
			return fmt.Errorf("-pidfile %s: %v", pidfile, err)
		}
	}
	if o.PID > 0 {
		if _, err := SampleProc(o.PID); err != nil {
			return fmt.Errorf("-pid %d: %v", o.PID, err)
		}
	}
	return nil
}

var tlsGroupNames = map[string]tls.CurveID{
	"x25519mlkem768": tls.X25519MLKEM768,
	"x25519":         tls.X25519,
	"p256":           tls.CurveP256,
	"p384":           tls.CurveP384,
}

func (o *Options) tlsConfig() (*tls.Config, error) {
	cfg := &tls.Config{
		ServerName: o.Domain,
		// A benchmark against self-signed test certificates: the server's
		// identity is not checked (loopback only).
		InsecureSkipVerify: true, //nolint:gosec // benchmark tool
		MinVersion:         tls.VersionTLS12,
	}
	for _, g := range strings.Split(o.TLSGroups, ",") {
		if g = strings.ToLower(strings.TrimSpace(g)); g == "" {
			continue
		}
		id, ok := tlsGroupNames[g]
		if !ok {
			return nil, fmt.Errorf("-tls-groups: unknown group %q", g)
		}
		cfg.CurvePreferences = append(cfg.CurvePreferences, id)
	}
	return cfg, nil
}

func runScenario(s Scenario, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("parley-bench "+s.Name(), flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o Options
	addrs, sources, tlsMode, pidfile := commonFlags(fs, &o)
	s.Flags(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(stderr, "parley-bench: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if err := o.finish(*addrs, *sources, *tlsMode, *pidfile); err != nil {
		fmt.Fprintln(stderr, "parley-bench:", err)
		return 2
	}
	tc, err := o.tlsConfig()
	if err != nil {
		fmt.Fprintln(stderr, "parley-bench:", err)
		return 2
	}
	cc := &ClientConfig{
		Domain:       o.Domain,
		TLS:          o.TLS,
		TLSConfig:    tc,
		Mech:         o.Mech,
		Password:     o.Password,
		Resource:     o.Resource,
		Presence:     o.Presence,
		LoginTimeout: o.LoginTimeout,
		MaxStanza:    1 << 20,
	}
	if o.ScramCache {
		cc.Cache = newKeyCache()
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.MaxDuration)
	defer cancel()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	env := newEnv(&o, cc, stdout)
	res := &Result{
		Label:       o.Label,
		Scenario:    s.Name(),
		Time:        time.Now().UTC(),
		Addrs:       o.Addrs,
		Domain:      o.Domain,
		TLS:         string(o.TLS),
		Mech:        o.Mech,
		Count:       o.Count,
		Concurrency: o.Concurrency,
		ScramCache:  o.ScramCache,
		ToolProcs:   runtime.GOMAXPROCS(0),

		SndBuf:       o.Sockets.SndBuf,
		NotSentLowat: o.Sockets.NotSentLowat,
	}
	if o.Ramp > 0 {
		res.Ramp = o.Ramp.String()
	}
	for _, ip := range o.Sources {
		res.Sources = append(res.Sources, ip.String())
	}
	if o.CPUProfile != "" {
		f, err := os.Create(o.CPUProfile)
		if err != nil {
			fmt.Fprintln(stderr, "parley-bench:", err)
			return 1
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(stderr, "parley-bench:", err)
			return 1
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	runErr := s.Run(ctx, env, res)
	if cc.Cache != nil {
		res.Login.PBKDF2 = cc.Cache.Derived()
	}
	res.Print(stdout)
	if o.JSON != "" {
		b, _ := json.MarshalIndent(res, "", "  ")
		if err := os.WriteFile(o.JSON, append(b, '\n'), 0o644); err != nil {
			fmt.Fprintln(stderr, "parley-bench:", err)
			return 1
		}
	}
	if runErr != nil {
		fmt.Fprintln(stderr, "parley-bench:", runErr)
		return 1
	}
	return 0
}
