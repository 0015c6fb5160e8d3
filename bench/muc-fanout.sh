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
# The whole script is one compound command, read before it runs, so that
# editing this file during a run does not change the run.
{

RUNS=${RUNS:-"100:200 1000:50 5000:10"}
VARIANT=${VARIANT:-plaintext-scram}
SENDERS=${SENDERS:-10}
DURATION=${DURATION:-15s}
DRAIN=${DRAIN:-10s}
LARGE_ROOM=${LARGE_ROOM:-1}
CONCURRENCY=${CONCURRENCY:-100}
ITERATIONS=${ITERATIONS:-4096}
SOURCES=${SOURCES:-127.0.0.2,127.0.0.3}
MAX_SECONDS=${MAX_SECONDS:-1200}
NAME=muc-fanout

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
lib_init

max_count=0
for run in $RUNS; do n=${run%%:*}; [ "$n" -gt "$max_count" ] && max_count=$n; done
raise_nofile "$max_count"
build_parley

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
	PARLEY_EXTRA=$(printf '[muc]\nmax_occupants = %d\nlarge_room = %d\n[muc.defaults]\nhistory_length = 0\n' \
		$((count + 10)) "$LARGE_ROOM") parley_config "$WORK/$name.toml" "$data" "$port" "$dport" "$require"
	log "== $name: starting Parley on $addr"
	start_parley "$RESULTS/$name-server.log" "$WORK/$name.toml" "$port" || exit 1
	timeout --kill-after=10 600 "${PIN_TOOL[@]}" "$BENCH" muc-fanout \
		-addr "$addr" -domain "$DOMAIN" -password "$PASSWORD" -tls "$tls" -mech "$mech" \
		-count "$count" -concurrency "$CONCURRENCY" -source "$SOURCES" -pid "$SERVER_PID" \
		-senders "$SENDERS" -rate "$rate" -duration "$DURATION" -drain "$DRAIN" \
		-label "$name" -json "$RESULTS/$name.json" -max-duration 9m ${BENCH_FLAGS:-} || log "parley-bench exited with $?"
	stop_server
	server_warnings "$RESULTS/$name-server.log" "$name"
	rm -rf "$data"
	[ -f "$RESULTS/$name.json" ] && RAN+=("$RESULTS/$name.json")
done

echo
echo "Parley MUC fan-out on loopback, $(date -u +%F), $VARIANT, server on CPU $SERVER_CPU, tool on CPU $TOOL_CPU, $SENDERS senders for $DURATION, large_room = $LARGE_ROOM"
[ ${#RAN[@]} -eq 0 ] || "$BENCH" table "${RAN[@]}"
exit
}
