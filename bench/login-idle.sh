#!/usr/bin/env bash
# Login + idle benchmark of Parley on loopback: builds Parley and
# parley-bench, provisions the accounts, and for each variant and session
# count starts a fresh Parley (sqlite backend, 127.0.0.1, a free port),
# runs `parley-bench login-idle` against it and stops it. Prints one table
# at the end. Everything it starts is stopped on exit; the whole run is
# bounded by MAX_SECONDS.
#
# Environment (defaults in brackets):
#   COUNTS       session counts to run                    [1000 10000]
#   VARIANTS     plaintext-scram starttls-scram starttls-plain direct-scram
#                                                         [plaintext-scram starttls-scram starttls-plain]
#   CONCURRENCY  logins in flight                         [100]
#   HOLD, SETTLE idle hold and memory settle point        [30s, 10s]
#   ITERATIONS   PBKDF2 iterations (auth.scram_iterations) [10000]
#   LOG_LEVEL    Parley's log level                       [warn]
#   SOURCES      local addresses for the tool             [127.0.0.2,127.0.0.3]
#   SERVER_CPU, TOOL_CPU  CPUs for taskset                [1, 0]
#   BENCH_FLAGS  extra parley-bench flags, e.g. "-tls-groups x25519"
#   PPROF=1      run Parley under bench/parley-pprof and save heap profiles
#   PPROF_CPU    with PPROF=1, also a CPU profile of this long from the ramp's start, e.g. 8s
#   PPROF_ARGS   extra parley-pprof flags, e.g. "-memprofilerate 524288" (Go's default; the
#                wrapper's 4096 makes heap profiles precise but costs ~12% CPU in allocation
#                profiling, which shows in CPU profiles and CPU per login)
#   PARLEY_REV   build Parley and the tool from this git revision (git archive)
#                instead of the working tree
#   OUT          directory to keep the JSON results, server logs and profiles in
#   KEEP=1       keep the work directory
#   QUIET_WAIT   before each run, wait up to this many seconds for the rest of
#                the machine to use less than QUIET_MAX cores  [0: don't wait]
#   QUIET_MAX    [0.25]
#   MAX_SECONDS  bound on the whole run                   [1800]
set -euo pipefail
# The whole script is one compound command, read before it runs, so that
# editing this file during a run does not change the run.
{

COUNTS=${COUNTS:-"1000 10000"}
VARIANTS=${VARIANTS:-"plaintext-scram starttls-scram starttls-plain"}
CONCURRENCY=${CONCURRENCY:-100}
HOLD=${HOLD:-30s}
SETTLE=${SETTLE:-10s}
ITERATIONS=${ITERATIONS:-10000}
SOURCES=${SOURCES:-127.0.0.2,127.0.0.3}
MAX_SECONDS=${MAX_SECONDS:-1800}
NAME=login-idle

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
lib_init

max_count=0
for n in $COUNTS; do [ "$n" -gt "$max_count" ] && max_count=$n; done
raise_nofile "$max_count"
build_parley

# Accounts: provisioned once, copied for every server so each starts alike.
log "provisioning $max_count accounts"
"$BENCH" provision -store "sqlite:$WORK/accounts.db" -domain "$DOMAIN" -password "$PASSWORD" \
	-count "$max_count" -iterations "$ITERATIONS" >&2

RAN=()
for count in $COUNTS; do
	for variant in $VARIANTS; do
		case $variant in
		plaintext-scram) tls=plaintext mech=SCRAM-SHA-256 require=false ;;
		starttls-scram) tls=starttls mech=SCRAM-SHA-256 require=true ;;
		starttls-plain) tls=starttls mech=PLAIN require=true ;;
		direct-scram) tls=direct mech=SCRAM-SHA-256 require=true ;;
		*) log "unknown variant $variant"; exit 2 ;;
		esac
		name=$variant-$count
		wait_quiet
		data=$WORK/data-$name
		mkdir -p "$data"
		cp "$WORK/accounts.db" "$data/parley.db"
		port=$(free_port) dport=$(free_port)
		[ "$tls" = direct ] && addr=127.0.0.1:$dport || addr=127.0.0.1:$port
		parley_config "$WORK/$name.toml" "$data" "$port" "$dport" "$require"

		pprof=() pport=""
		if [ "${PPROF:-0}" = 1 ]; then
			pport=$(free_port)
			pprof=(-pprof "http://127.0.0.1:$pport/debug/pprof" -pprof-out "$RESULTS/$name-pprof" -pprof-cpu "${PPROF_CPU:-0s}")
		fi
		log "== $name: starting Parley on $addr"
		start_parley "$RESULTS/$name-server.log" "$WORK/$name.toml" "$port" $pport || exit 1

		timeout --kill-after=10 900 "${PIN_TOOL[@]}" "$BENCH" login-idle \
			-addr "$addr" -domain "$DOMAIN" -password "$PASSWORD" -tls "$tls" -mech "$mech" \
			-count "$count" -concurrency "$CONCURRENCY" -source "$SOURCES" -pid "$SERVER_PID" \
			-hold "$HOLD" -settle "$SETTLE" -label "$name" -json "$RESULTS/$name.json" \
			-max-duration 14m "${pprof[@]}" ${BENCH_FLAGS:-} || log "parley-bench exited with $?"
		stop_server
		# The last GC's live heap (gctrace: "A->B->C MB": C is live after marking).
		last_gc=$(grep -E '^gc [0-9]+ ' "$RESULTS/$name-server.log" | tail -1 || true)
		[ -z "$last_gc" ] || log "$name last GC: $last_gc"
		server_warnings "$RESULTS/$name-server.log" "$name"
		# go tool runs outside the module: it reads go.mod, which may be mid-edit.
		if [ "${PPROF:-0}" = 1 ] && [ -f "$RESULTS/$name-pprof/heap.pb.gz" ]; then
			log "$name: heap in use after GC, top entries:"
			(cd "$WORK" && go tool pprof -top -sample_index=inuse_space "$RESULTS/$name-pprof/heap.pb.gz") 2>&1 | head -25 >&2 || true
		fi
		if [ -f "$RESULTS/$name-pprof/cpu.pb.gz" ]; then
			log "$name: server CPU profile of the ramp, top entries:"
			(cd "$WORK" && go tool pprof -top "$RESULTS/$name-pprof/cpu.pb.gz") 2>&1 | head -25 >&2 || true
		fi
		rm -rf "$data"
		[ -f "$RESULTS/$name.json" ] && RAN+=("$RESULTS/$name.json")
	done
done

echo
echo "Parley login + idle on loopback, $(date -u +%F), server on CPU $SERVER_CPU, tool on CPU $TOOL_CPU, $CONCURRENCY logins in flight"
[ ${#RAN[@]} -eq 0 ] || "$BENCH" table "${RAN[@]}"
exit
}
