package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"parley.im/parley/auth"
	"parley.im/parley/storage"
	"parley.im/parley/storage/postgres"
	"parley.im/parley/storage/sqlite"
)

// cmdProvision creates bench accounts directly in Parley's storage. `parley
// adduser` runs one PBKDF2 per account (three: one per SCRAM hash) and opens
// the store each time; for 10,000 accounts this derives the credentials once
// and stores the same credentials, salt included, for every account.
//
// That is for benchmarks only: accounts sharing a salt and a password have
// identical stored keys, which shows who shares a password and lets one
// precomputation attack them all. (It also lets parley-bench's SCRAM key
// cache log every account in with one client-side PBKDF2.)
func cmdProvision(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("parley-bench provision", flag.ContinueOnError)
	fs.SetOutput(stderr)
	store := fs.String("store", "", "Parley storage: sqlite:`PATH` (the server's database file) or postgres:DSN")
	domain := fs.String("domain", "localhost", "host (virtual host name in Parley's configuration)")
	pattern := fs.String("user", "user%d", "account name `pattern`, with one %d for the index")
	password := fs.String("password", "bench", "password of every account")
	first := fs.Int("first", 0, "index of the first account")
	count := fs.Int("count", 1000, "number of accounts")
	iterations := fs.Int("iterations", 10000, "PBKDF2 iterations (Parley's auth.scram_iterations)")
	workers := fs.Int("workers", 8, "accounts written concurrently (SQLite serializes writes anyway)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: parley-bench provision -store sqlite:PATH|postgres:DSN [flags]")
		fmt.Fprintln(stderr, "Creates accounts that all share one password and one salt: for benchmarks only.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 0 || *store == "" || *count < 1 || *first < 0 || *workers < 1 {
		fs.Usage()
		return 2
	}
	if strings.Count(*pattern, "%") != 1 || !strings.Contains(*pattern, "%d") {
		fmt.Fprintf(stderr, "parley-bench: -user %q: want exactly one %%d\n", *pattern)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	st, err := openStore(ctx, *store)
	if err != nil {
		fmt.Fprintln(stderr, "parley-bench:", err)
		return 1
	}
	defer st.Close()

	t0 := time.Now()
	creds, err := auth.DeriveCredentials(*password, *iterations)
	if err != nil {
		fmt.Fprintln(stderr, "parley-bench:", err)
		return 1
	}
	var created, existed atomic.Int64
	var firstErr error
	var errOnce sync.Once
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range *workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				err := st.CreateAccount(ctx, *domain, fmt.Sprintf(*pattern, i), creds)
				switch {
				case err == nil:
					created.Add(1)
				case errors.Is(err, storage.ErrConflict):
					existed.Add(1)
				default:
					errOnce.Do(func() { firstErr = err; cancel() })
				}
			}
		}()
	}
	progress := time.NewTicker(5 * time.Second)
	defer progress.Stop()
send:
	for i := *first; i < *first+*count; i++ {
		select {
		case jobs <- i:
		case <-ctx.Done():
			break send
		case <-progress.C:
			fmt.Fprintf(stderr, "provision: %d created, %d existed\n", created.Load(), existed.Load())
			i--
		}
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		fmt.Fprintln(stderr, "parley-bench: provision:", firstErr)
		return 1
	}
	fmt.Fprintf(stdout, "provision: %d accounts created, %d already existed (%s..%s@%s) in %.1f s\n",
		created.Load(), existed.Load(), fmt.Sprintf(*pattern, *first), fmt.Sprintf(*pattern, *first+*count-1), *domain, time.Since(t0).Seconds())
	return 0
}

// openStore opens sqlite:PATH or postgres:DSN and migrates the schema.
func openStore(ctx context.Context, spec string) (storage.Store, error) {
	kind, arg, ok := strings.Cut(spec, ":")
	if !ok || arg == "" {
		return nil, fmt.Errorf("-store %q: want sqlite:PATH or postgres:DSN", spec)
	}
	switch kind {
	case "sqlite":
		return sqlite.Open(ctx, arg)
	case "postgres", "postgresql":
		if kind == "postgresql" || strings.HasPrefix(arg, "//") {
			arg = kind + ":" + arg // a postgres:// URL given whole
		}
		return postgres.Open(ctx, postgres.Config{DSN: arg, MigrateOnOpen: true})
	}
	return nil, fmt.Errorf("-store %q: unknown backend %q (sqlite or postgres)", spec, kind)
}
