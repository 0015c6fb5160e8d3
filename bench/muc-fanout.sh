#!/usr/bin/env bash
# MUC fan-out benchmark of Parley on loopback: builds Parley and
# parley-bench, provisions the accounts, and for each room size starts a
# fresh Parley (sqlite, 127.0.0.1, a free port), runs `parley-bench
# muc-fanout` against it (N sessions join one room, SENDERS of them send
# groupchat at RATE msg/s in total for DURATION) and stops it. Prints one
# table at the end. Everything it starts is stopped on exit; the whole run
# is bounded by MAX_SECONDS.
#
# Environment (defaults in brackets):
#   RUNS         occupants:rate pairs, msg/s in total    [100:200 1000:50 5000:10]
#   VARIANT      plaintext-scram starttls-scram starttls-plain direct-scram [plaintext-scram]
#   SENDERS      sending occupants                       [10]
#   DURATION     send for this long                      [15s]
#   DRAIN        wait at most this long for late deliveries [10s]
#   LARGE_ROOM   [muc] large_room: occupants from which only moderators'
#                presence is broadcast (0: off; the default 1 keeps joins
#                O(n) for every size, so the sizes compare)  [1]
#   CONCURRENCY  logins and joins in flight              [100]
#   ITERATIONS   PBKDF2 iterations (auth.scram_iterations) [4096]
#   LOG_LEVEL    Parley's log level                      [warn]
#   SOURCES      local addresses for the tool            [127.0.0.2,127.0.0.3]
#   SERVER_CPU, TOOL_CPU  CPUs for taskset               [1, 0]
#                (Go runs on the CPUs it is pinned to: with one, a large
#                room's fan-out is not split between workers; give the
#                server more, e.g. SERVER_CPU=1-3, on a machine that has them)
#   BENCH_FLAGS  extra parley-bench flags, e.g. "-body-bytes 200"
#   PARLEY_REV   build Parley and the tool from this git revision (git archive)
#                instead of the working tree
#   OUT          directory to keep the JSON results and server logs in
#   KEEP=1       keep the work directory
#   MAX_SECONDS  bound on the whole run                  [1200]
set -euo pipefail
{

RUNS=${RUNS:-"100:200 1000:50 5000:10"}
VARIANT=${VARIANT:-plaintext-scram}
SENDERS=${SENDERS:-10}
DURATION=${DURATION:-15s}
DRAIN=${DRAIN:-10s}
LARGE_ROOM=${LARGE_ROOM:-1}
CONCURRENCY=${CONCURRENCY:-100}
ITERATIONS=${ITERATIONS:-4096}
LOG_LEVEL=${LOG_LEVEL:-warn}
SOURCES=${SOURCES:-127.0.0.2,127.0.0.3}
SERVER_CPU=${SERVER_CPU:-1}
TOOL_CPU=${TOOL_CPU:-0}
MAX_SECONDS=${MAX_SECONDS:-1200}
PASSWORD=bench-password
DOMAIN=localhost

REPO=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/parley-muc-fanout.XXXXXX)
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
	if [ "${KEEP:-0}" = 1 ]; then log "work directory kept: $WORK"; else rm -rf "$WORK"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

(
	for _ in $(seq "$MAX_SECONDS"); do sleep 1; kill -0 $$ 2>/dev/null || exit 0; done
	log "MAX_SECONDS=$MAX_SECONDS reached"; kill -TERM $$
) 2>/dev/null &
WATCHDOG_PID=$!

PIN_SERVER=() PIN_TOOL=()
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
	PIN_SERVER=(taskset -c "$SERVER_CPU") PIN_TOOL=(taskset -c "$TOOL_CPU")
else
	log "taskset or a second CPU missing: not pinning"
fi

max_count=0
for run in $RUNS; do n=${run%%:*}; [ "$n" -gt "$max_count" ] && max_count=$n; done
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((max_count + 200)) ]; then
	log "ulimit -n is $(ulimit -n): too low for $max_count sessions"; exit 1
fi

free_port() {
	local p
	for _ in $(seq 100); do
		p=$((20000 + RANDOM % 10000))
		if [ -z "$(ss -Htln "sport = :$p" 2>/dev/null)" ]; then echo "$p"; return 0; fi
	done
	log "no free port found"; return 1
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

SRC=$REPO
if [ -n "${PARLEY_REV:-}" ]; then
	SRC=$WORK/src
	mkdir -p "$SRC"
	git -C "$REPO" archive "$PARLEY_REV" | tar -x -C "$SRC"
	log "building Parley $(git -C "$REPO" rev-parse --short "$PARLEY_REV") from git"
else
	log "building Parley from the working tree ($(git -C "$REPO" describe --always --dirty 2>/dev/null || echo unknown))"
fi
(cd "$SRC" && go build -o "$WORK/bin/parley" ./cmd/parley && go build -o "$WORK/bin/parley-bench" ./cmd/parley-bench)
BENCH=$WORK/bin/parley-bench

log "provisioning $max_count accounts"
"$BENCH" provision -store "sqlite:$WORK/accounts.db" -domain "$DOMAIN" -password "$PASSWORD" \
	-count "$max_count" -iterations "$ITERATIONS" >&2

case $VARIANT in
plaintext-scram) tls=plaintext mech=SCRAM-SHA-256 require=false ;;
starttls-scram) tls=starttls mech=SCRAM-SHA-256 require=true ;;
starttls-plain) tls=starttls mech=PLAIN require=true ;;
direct-scram) tls=direct mech=SCRAM-SHA-256 require=true ;;
*) log "unknown variant $VARIANT"; exit 2 ;;
esac

RAN=()
for run in $RUNS; do
	count=${run%%:*} rate=${run#*:}
	name=$VARIANT-$count-${rate}mps
	data=$WORK/data-$name
	mkdir -p "$data"
	cp "$WORK/accounts.db" "$data/parley.db"
	port=$(free_port) dport=$(free_port)
	[ "$tls" = direct ] && addr=127.0.0.1:$dport || addr=127.0.0.1:$port
	cat >"$WORK/$name.toml" <<EOF
data_dir = "$data"
[log]
level = "$LOG_LEVEL"
[[host]]
name = "$DOMAIN"
[storage]
backend = "sqlite"
[storage.sqlite]
path = "$data/parley.db"
[c2s]
starttls = ["127.0.0.1:$port"]
direct_tls = ["127.0.0.1:$dport"]
require_tls = $require
[auth]
scram_iterations = $ITERATIONS
[muc]
max_occupants = $((count + 10))
large_room = $LARGE_ROOM
[muc.defaults]
history_length = 0
EOF
	log "== $name: starting Parley on $addr"
	"${PIN_SERVER[@]}" "$WORK/bin/parley" serve -config "$WORK/$name.toml" 2>"$RESULTS/$name-server.log" &
	SERVER_PID=$!
	if ! wait_listening "$port"; then
		log "Parley did not start:"; tail -20 "$RESULTS/$name-server.log" >&2; exit 1
	fi
	sleep 1
	timeout --kill-after=10 600 "${PIN_TOOL[@]}" "$BENCH" muc-fanout \
		-addr "$addr" -domain "$DOMAIN" -password "$PASSWORD" -tls "$tls" -mech "$mech" \
		-count "$count" -concurrency "$CONCURRENCY" -source "$SOURCES" -pid "$SERVER_PID" \
		-senders "$SENDERS" -rate "$rate" -duration "$DURATION" -drain "$DRAIN" \
		-label "$name" -json "$RESULTS/$name.json" -max-duration 9m ${BENCH_FLAGS:-} || log "parley-bench exited with $?"
	stop_server
	warnings=$(grep -E 'level=(ERROR|WARN)' "$RESULTS/$name-server.log" | grep -v SELF-SIGNED |
		sed -E 's/^time=[^ ]+ //; s/remote=[^ ]+//' | sort | uniq -c | sort -rn | head -10 || true)
	[ -z "$warnings" ] || { log "$name: server warnings/errors (count, message):"; echo "$warnings" >&2; }
	rm -rf "$data"
	[ -f "$RESULTS/$name.json" ] && RAN+=("$RESULTS/$name.json")
done

echo
echo "Parley MUC fan-out on loopback, $(date -u +%F), $VARIANT, server on CPU $SERVER_CPU, tool on CPU $TOOL_CPU, $SENDERS senders for $DURATION, large_room = $LARGE_ROOM"
[ ${#RAN[@]} -eq 0 ] || "$BENCH" table "${RAN[@]}"
exit
}
