#!/usr/bin/env bash
# Side-by-side benchmark on loopback: Prosody and ejabberd (Debian's
# packages, bench/peers/ configs) and Parley on SQLite and on PostgreSQL,
# the same scenarios against each in one run, server pinned to one CPU and
# parley-bench to the other. Prints one table with the figures and
# Parley's ratio to the better peer (see bench/README.md for what each
# figure means). Everything it starts is stopped on exit; the run is
# bounded by MAX_SECONDS and every tool run by its own timeout.
#
#   bench/compare.sh                 # quick mode: small counts, ~10 minutes
#   MODE=full bench/compare.sh       # the figures of the issue, ~40 minutes
#
# Environment (defaults: quick / full):
#   MODE          quick or full                                  [quick]
#   SERVERS       which servers, in order (parley-sqlite first: the half-rate
#                 and overload runs use its saturation)  [parley-sqlite prosody ejabberd parley-postgres]
#   IDLE_COUNT    idle sessions for the memory figures           [500 / 10000]
#   TLS_COUNT     idle sessions over STARTTLS (also the login rate) [500 / 5000]
#   CHAT_COUNT    sessions chatting in pairs                     [100 / 200]
#   CHAT_RATE     msg/s of the fixed-rate run                    [1000 / 2000]
#   CHAT_SECONDS  length of each chat run                        [5 / 20]
#   WINDOW        messages in flight per session for saturation  [16]
#   OVERLOAD_SECONDS  length of the overload run                 [30]
#   NOTSENT_LOWAT the tool's TCP_NOTSENT_LOWAT in the overload run, bytes [16384]
#   MUC_COUNT     occupants of the room                          [200 / 1000]
#   MUC_RATE      groupchat messages/s offered (× occupants = deliveries/s) [100 / 60]
#   MUC_SECONDS   [5 / 10]
#   HOLD, SETTLE  idle hold and memory settle point              [15s, 8s / 30s, 10s]
#   ITERATIONS    PBKDF2 iterations of every server's stored keys [4096]
#   SOURCES       local addresses for the tool                   [127.0.0.2,127.0.0.3]
#   PG_DSN        PostgreSQL server for parley-postgres (a database is created and dropped)
#                 [postgres://postgres@127.0.0.1:5432/test?sslmode=disable]
#   PARLEY_REV    build Parley from this git revision (git archive)
#   BENCH_SRC     build parley-bench from this directory instead
#   SERVER_CPU, TOOL_CPU, QUIET_WAIT, QUIET_MAX, OUT, KEEP, MAX_SECONDS  as in login-idle.sh
set -euo pipefail
{
NAME=compare
MODE=${MODE:-quick}
case $MODE in
quick) d_idle=500 d_tls=500 d_chat=100 d_rate=1000 d_secs=5 d_over=30 d_muc=200 d_mrate=100 d_msecs=5 d_hold=15s d_settle=8s d_max=1800 ;;
full) d_idle=10000 d_tls=5000 d_chat=200 d_rate=2000 d_secs=20 d_over=30 d_muc=1000 d_mrate=60 d_msecs=10 d_hold=30s d_settle=10s d_max=5400 ;;
*) echo "MODE must be quick or full" >&2; exit 2 ;;
esac
SERVERS=${SERVERS:-"parley-sqlite prosody ejabberd parley-postgres"}
IDLE_COUNT=${IDLE_COUNT:-$d_idle}
TLS_COUNT=${TLS_COUNT:-$d_tls}
CHAT_COUNT=${CHAT_COUNT:-$d_chat}
CHAT_RATE=${CHAT_RATE:-$d_rate}
CHAT_SECONDS=${CHAT_SECONDS:-$d_secs}
WINDOW=${WINDOW:-16}
OVERLOAD_SECONDS=${OVERLOAD_SECONDS:-$d_over}
NOTSENT_LOWAT=${NOTSENT_LOWAT:-16384}
MUC_COUNT=${MUC_COUNT:-$d_muc}
MUC_RATE=${MUC_RATE:-$d_mrate}
MUC_SECONDS=${MUC_SECONDS:-$d_msecs}
HOLD=${HOLD:-$d_hold}
SETTLE=${SETTLE:-$d_settle}
ITERATIONS=${ITERATIONS:-4096}
SOURCES=${SOURCES:-127.0.0.2,127.0.0.3}
PG_DSN=${PG_DSN:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
MAX_SECONDS=${MAX_SECONDS:-$d_max}
# Equivalent settings: the peers run without an archive and without
# offline storage; Parley archives nothing by default either.
PARLEY_EXTRA=${PARLEY_EXTRA:-$'[mam]\ndefault = "never"'}

EJABBERD_NODE=parleybench$$
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
lib_init

accounts=$IDLE_COUNT
for n in $TLS_COUNT $CHAT_COUNT $MUC_COUNT; do [ "$n" -gt "$accounts" ] && accounts=$n; done
raise_nofile "$accounts"
build_parley

# Accounts for Parley: provisioned once into a SQLite file copied for every
# start (fresh state each time); PostgreSQL gets its own database.
log "provisioning $accounts accounts"
"$BENCH" provision -store "sqlite:$WORK/accounts.db" -domain "$DOMAIN" -password "$PASSWORD" \
	-count "$accounts" -iterations "$ITERATIONS" >&2
PG_DB=""
case " $SERVERS " in *" parley-postgres "*)
	PG_DB=parley_bench_$$
	if ! psql "$PG_DSN" -qc "CREATE DATABASE $PG_DB" >/dev/null; then
		log "cannot create a database on $PG_DSN: leaving parley-postgres out"
		SERVERS=${SERVERS/parley-postgres/} PG_DB=""
	else
		CLEANUPS+=("psql '$PG_DSN' -qc 'DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)' >/dev/null")
		pg_base=${PG_DSN%%\?*}
		PG_APP_DSN=${pg_base%/*}/$PG_DB${PG_DSN#"$pg_base"}
		"$BENCH" provision -store "postgres:$PG_APP_DSN" -domain "$DOMAIN" -password "$PASSWORD" \
			-count "$accounts" -iterations "$ITERATIONS" >&2
	fi
	;;
esac

# start SERVER TAG: a fresh instance of SERVER; sets ADDR (STARTTLS port).
start() {
	local s=$1 tag=$2 data port
	data=$WORK/data-$s-$tag
	rm -rf "$data"
	mkdir -p "$data"
	port=$(free_port)
	ADDR=127.0.0.1:$port
	LOGF=$RESULTS/$s-$tag-server.log
	wait_quiet
	log "== $s ($tag): starting on $ADDR"
	case $s in
	parley-sqlite)
		cp "$WORK/accounts.db" "$data/parley.db"
		parley_config "$data/parley.toml" "$data" "$port" "$(free_port)" false sqlite
		start_parley "$LOGF" "$data/parley.toml" "$port" ;;
	parley-postgres)
		parley_config "$data/parley.toml" "$data" "$port" "$(free_port)" false postgres "$PG_APP_DSN"
		start_parley "$LOGF" "$data/parley.toml" "$port" ;;
	prosody)
		"$BENCH" provision -prosody "$data/data" -domain "$DOMAIN" -password "$PASSWORD" \
			-count "$accounts" -iterations "$ITERATIONS" >&2
		start_prosody "$data" "$LOGF" "$port" ;;
	ejabberd)
		# Accounts through its API once, into a database copied for every
		# start: provisioning churns its memory, which would move the
		# per-session figures.
		if [ ! -d "$WORK/ejabberd-template/db" ]; then
			start_ejabberd "$WORK/ejabberd-template" "$RESULTS/ejabberd-provision.log" "$port" "$(free_port)" || return 1
			"$BENCH" provision -ejabberd-api "$EJABBERD_HTTP" -domain "$DOMAIN" -password "$PASSWORD" \
				-count "$accounts" -workers 4 >&2
			stop_server
		fi
		cp -r "$WORK/ejabberd-template/db" "$data/db"
		start_ejabberd "$data" "$LOGF" "$port" "$(free_port)" ;;
	*) log "unknown server $s"; return 1 ;;
	esac
}

# bench SERVER RUN SCENARIO ARGS...: one parley-bench run, pinned, bounded,
# its JSON in $RESULTS/SERVER-RUN.json.
bench() {
	local s=$1 run=$2 scenario=$3
	shift 3
	timeout --kill-after=10 900 "${PIN_TOOL[@]}" "$BENCH" "$scenario" -addr "$ADDR" -domain "$DOMAIN" \
		-password "$PASSWORD" -source "$SOURCES" -pid "$SERVER_PID" -label "$s $run" \
		-json "$RESULTS/$s-$run.json" -max-duration 14m "$@" >"$RESULTS/$s-$run.txt" 2>&1 || log "$s $run: parley-bench exited with $?"
	grep -E '^(logins|latency|deliveries|load|admitted|CPU|server RSS|NOTE|error|send error|recv error|dropped|room|memory)' "$RESULTS/$s-$run.txt" |
		sed "s/^/    $s $run: /" >&2 || true
}

# saturation SERVER: messages delivered per second in the closed-loop run.
saturation() {
	sed -nE 's/.*"delivered_per_s": ([0-9.]+).*/\1/p' "$RESULTS/$1-chat-saturation.json" 2>/dev/null | head -1
}

PARLEY_SAT=""
for s in $SERVERS; do
	# Memory per idle session and login rate: a fresh server for each.
	# (A server that does not start leaves its cells empty; the run goes on.)
	if start "$s" idle-plaintext; then
		bench "$s" idle-plaintext login-idle -tls plaintext -mech SCRAM-SHA-256 -count "$IDLE_COUNT" \
			-concurrency 100 -hold "$HOLD" -settle "$SETTLE" -after-close 0s
	fi
	stop_server
	if start "$s" idle-starttls; then
		bench "$s" idle-starttls login-idle -tls starttls -mech SCRAM-SHA-256 -count "$TLS_COUNT" \
			-concurrency 100 -hold "$HOLD" -settle "$SETTLE" -after-close 0s
	fi
	stop_server

	# 1:1 chat and MUC on one instance, in this order.
	if ! start "$s" chat; then
		stop_server
		continue
	fi
	common=(-tls plaintext -mech SCRAM-SHA-256 -count "$CHAT_COUNT" -concurrency 50 -drain 10s)
	bench "$s" chat-fixed chat "${common[@]}" -rate "$CHAT_RATE" -duration "${CHAT_SECONDS}s"
	bench "$s" chat-saturation chat "${common[@]}" -rate 0 -window "$WINDOW" -duration "${CHAT_SECONDS}s"
	sat=$(saturation "$s")
	if [ -z "$PARLEY_SAT" ] && [ -n "$sat" ] && [ "${s#parley}" != "$s" ]; then
		PARLEY_SAT=${sat%.*}
		log "Parley's saturation: $PARLEY_SAT msg/s; half-rate and overload runs use it"
	fi
	ref=${PARLEY_SAT:-${sat:-1000}}
	half=$(awk -v r="$ref" 'BEGIN{printf "%d", r/2}')
	twice=$(awk -v r="$ref" 'BEGIN{printf "%d", r*2}')
	bench "$s" chat-half chat "${common[@]}" -rate "$half" -duration "${CHAT_SECONDS}s"
	# The same well-behaved client for every server: little unsent data in
	# its own socket buffer, so that a server's push-back holds its writes
	# back instead of megabytes queueing on the tool's side.
	bench "$s" chat-overload chat "${common[@]}" -rate "$twice" -duration "${OVERLOAD_SECONDS}s" -drain 30s \
		-notsent-lowat "$NOTSENT_LOWAT"
	bench "$s" muc muc-fanout -tls plaintext -mech SCRAM-SHA-256 -count "$MUC_COUNT" -concurrency 50 \
		-senders 10 -rate "$MUC_RATE" -duration "${MUC_SECONDS}s" -drain 15s
	stop_server
	case $s in parley*) server_warnings "$LOGF" "$s" ;; esac
done

echo
echo "Side by side on loopback, $(date -u '+%F %H:%M UTC'), MODE=$MODE, server on CPU $SERVER_CPU, tool on CPU $TOOL_CPU;"
echo "idle: $IDLE_COUNT plaintext / $TLS_COUNT STARTTLS sessions; chat: $CHAT_COUNT sessions, fixed rate $CHAT_RATE msg/s,"
echo "saturation with $WINDOW in flight per session, half rate and overload from Parley's saturation (${PARLEY_SAT:-?} msg/s);"
echo "MUC: $MUC_COUNT occupants, 10 senders, $MUC_RATE msg/s offered. Parley: $(git -C "$REPO" describe --always --dirty 2>/dev/null || echo ?)${PARLEY_REV:+ (PARLEY_REV=$PARLEY_REV)}."
echo
"$BENCH" compare -dir "$RESULTS" -servers "$SERVERS"
exit
}
