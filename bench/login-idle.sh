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
LOG_LEVEL=${LOG_LEVEL:-warn}
SOURCES=${SOURCES:-127.0.0.2,127.0.0.3}
SERVER_CPU=${SERVER_CPU:-1}
TOOL_CPU=${TOOL_CPU:-0}
MAX_SECONDS=${MAX_SECONDS:-1800}
PASSWORD=bench-password
DOMAIN=localhost

REPO=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/parley-login-idle.XXXXXX)
RESULTS=$WORK/results
mkdir -p "$RESULTS" "$WORK/bin"
SERVER_PID=""
WATCHDOG_PID=""

log() { printf '%s  %s\n' "$(date +%T)" "$*" >&2; }

stop_server() {
	[ -n "$SERVER_PID" ] || return 0
	if kill -0 "$SERVER_PID" 2>/dev/null; then
		kill -TERM "$SERVER_PID" 2>/dev/null || true
		for _ in $(seq 150); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$SERVER_PID" 2>/dev/null || true
	fi
	wait "$SERVER_PID" 2>/dev/null || true
	SERVER_PID=""
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	stop_server
	[ -z "$WATCHDOG_PID" ] || kill "$WATCHDOG_PID" 2>/dev/null || true
	if [ -n "${OUT:-}" ]; then
		mkdir -p "$OUT" && cp -r "$RESULTS"/. "$OUT"/ && log "results kept in $OUT"
	fi
	if [ "${KEEP:-0}" = 1 ]; then
		log "work directory kept: $WORK"
	else
		rm -rf "$WORK"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

# Bound the whole run. The watchdog ends by itself within a second of this
# script, and the tool is bounded separately (-max-duration, timeout).
(
	for _ in $(seq "$MAX_SECONDS"); do sleep 1; kill -0 $$ 2>/dev/null || exit 0; done
	log "MAX_SECONDS=$MAX_SECONDS reached"; kill -TERM $$
) 2>/dev/null &
WATCHDOG_PID=$!

# Pinning as the peers' figures were measured: server on one CPU, load on another.
PIN_SERVER=() PIN_TOOL=()
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
	PIN_SERVER=(taskset -c "$SERVER_CPU") PIN_TOOL=(taskset -c "$TOOL_CPU")
else
	log "taskset or a second CPU missing: not pinning"
fi

# Open files: each session is one fd in the server and one in the tool.
max_count=0
for n in $COUNTS; do [ "$n" -gt "$max_count" ] && max_count=$n; done
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((max_count + 200)) ]; then
	log "ulimit -n is $(ulimit -n): too low for $max_count sessions"
	exit 1
fi

free_port() {
	local p
	for _ in $(seq 100); do
		p=$((20000 + RANDOM % 10000)) # below the ephemeral range (32768-60999)
		if [ -z "$(ss -Htln "sport = :$p" 2>/dev/null)" ]; then echo "$p"; return 0; fi
	done
	log "no free port found"; return 1
}

# busy_cores prints how many cores the machine kept busy over one second.
busy_cores() {
	local a b
	a=$(head -1 /proc/stat); sleep 1; b=$(head -1 /proc/stat)
	echo "$a $b" | awk '{print (($13+$14+$15+$18+$19+$20)-($2+$3+$4+$7+$8+$9))/100}'
}

# wait_quiet waits up to QUIET_WAIT seconds for a quiet machine: on a shared
# machine other processes' CPU use moves the login rate a lot.
wait_quiet() {
	[ "${QUIET_WAIT:-0}" -gt 0 ] || return 0
	local end=$((SECONDS + QUIET_WAIT)) busy
	while :; do
		busy=$(busy_cores)
		if awk -v b="$busy" -v m="${QUIET_MAX:-0.25}" 'BEGIN{exit !(b < m)}'; then return 0; fi
		if [ $SECONDS -ge $end ]; then log "machine still busy ($busy cores): running anyway"; return 0; fi
		sleep 2
	done
}

wait_listening() {
	local port=$1
	for _ in $(seq 100); do
		[ -n "$(ss -Htln "sport = :$port" 2>/dev/null)" ] && return 0
		kill -0 "$SERVER_PID" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# Build.
SRC=$REPO
if [ -n "${PARLEY_REV:-}" ]; then
	SRC=$WORK/src
	mkdir -p "$SRC"
	git -C "$REPO" archive "$PARLEY_REV" | tar -x -C "$SRC"
	log "building Parley $(git -C "$REPO" rev-parse --short "$PARLEY_REV") from git"
else
	log "building Parley from the working tree ($(git -C "$REPO" describe --always --dirty 2>/dev/null || echo unknown))"
fi
(cd "$SRC" && go build -o "$WORK/bin/parley" ./cmd/parley && go build -o "$WORK/bin/parley-pprof" ./bench/parley-pprof &&
	go build -o "$WORK/bin/parley-bench" ./cmd/parley-bench)
BENCH=$WORK/bin/parley-bench

# Accounts: provisioned once, copied for every server so each starts alike.
log "provisioning $max_count accounts"
"$BENCH" provision -store "sqlite:$WORK/accounts.db" -domain "$DOMAIN" -password "$PASSWORD" \
	-count "$max_count" -iterations "$ITERATIONS" >&2

write_config() { # file data_dir port require_tls
	cat >"$1" <<EOF
data_dir = "$2"
[log]
level = "$LOG_LEVEL"
[[host]]
name = "$DOMAIN"
[storage]
backend = "sqlite"
[storage.sqlite]
path = "$2/parley.db"
[c2s]
starttls = ["127.0.0.1:$3"]
direct_tls = ["127.0.0.1:$4"]
require_tls = $5
[auth]
scram_iterations = $ITERATIONS
EOF
}

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
		write_config "$WORK/$name.toml" "$data" "$port" "$dport" "$require"

		server=("$WORK/bin/parley" serve -config "$WORK/$name.toml")
		pprof=()
		if [ "${PPROF:-0}" = 1 ]; then
			pport=$(free_port)
			server=("$WORK/bin/parley-pprof" -config "$WORK/$name.toml" -pprof "127.0.0.1:$pport" ${PPROF_ARGS:-})
			pprof=(-pprof "http://127.0.0.1:$pport/debug/pprof" -pprof-out "$RESULTS/$name-pprof" -pprof-cpu "${PPROF_CPU:-0s}")
		fi
		log "== $name: starting Parley on $addr"
		GODEBUG=gctrace=1 "${PIN_SERVER[@]}" "${server[@]}" 2>"$RESULTS/$name-server.log" &
		SERVER_PID=$!
		if ! wait_listening "$port"; then
			log "Parley did not start:"; tail -20 "$RESULTS/$name-server.log" >&2; exit 1
		fi
		sleep 1 # let the server finish starting before the 'before' sample

		timeout --kill-after=10 900 "${PIN_TOOL[@]}" "$BENCH" login-idle \
			-addr "$addr" -domain "$DOMAIN" -password "$PASSWORD" -tls "$tls" -mech "$mech" \
			-count "$count" -concurrency "$CONCURRENCY" -source "$SOURCES" -pid "$SERVER_PID" \
			-hold "$HOLD" -settle "$SETTLE" -label "$name" -json "$RESULTS/$name.json" \
			-max-duration 14m "${pprof[@]}" ${BENCH_FLAGS:-} || log "parley-bench exited with $?"
		stop_server
		# The last GC's live heap (gctrace: "A->B->C MB": C is live after marking).
		last_gc=$(grep -E '^gc [0-9]+ ' "$RESULTS/$name-server.log" | tail -1 || true)
		[ -z "$last_gc" ] || log "$name last GC: $last_gc"
		warnings=$(grep -E 'level=(ERROR|WARN)' "$RESULTS/$name-server.log" | grep -v SELF-SIGNED |
			sed -E 's/^time=[^ ]+ //; s/remote=[^ ]+//' | sort | uniq -c | sort -rn | head -10 || true)
		[ -z "$warnings" ] || { log "$name: server warnings/errors (count, message):"; echo "$warnings" >&2; }
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
