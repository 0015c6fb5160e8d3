# Shared set-up of the benchmark scripts (sourced, not run): the work
# directory and its cleanup, the bound on the run, CPU pinning, ports,
# building Parley and parley-bench, Parley's configuration, and starting
# and stopping the servers under test (Parley, Prosody, ejabberd), each
# on 127.0.0.1 only.
#
# A script sets NAME (for the work directory) and MAX_SECONDS, then calls
# lib_init. Every server started with start_* is stopped by stop_server or,
# at the latest, on exit.

SERVER_CPU=${SERVER_CPU:-1}
TOOL_CPU=${TOOL_CPU:-0}
LOG_LEVEL=${LOG_LEVEL:-warn}
PASSWORD=${PASSWORD:-bench-password}
DOMAIN=${DOMAIN:-localhost}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SERVER_PID=""
SERVER_KIND=""
WATCHDOG_PID=""
CLEANUPS=()

log() { printf '%s  %s\n' "$(date +%T)" "$*" >&2; }

# lib_init creates $WORK, $RESULTS and $WORK/bin, installs the exit trap
# and the watchdog, and sets PIN_SERVER / PIN_TOOL.
lib_init() {
	WORK=$(mktemp -d "/tmp/parley-${NAME:-bench}.XXXXXX")
	RESULTS=$WORK/results
	mkdir -p "$RESULTS" "$WORK/bin"
	trap lib_cleanup EXIT
	trap 'log "interrupted"; exit 130' INT TERM
	# Bound the whole run. The watchdog ends by itself within a second of
	# the script, and each tool run is bounded separately.
	local self=$$
	(
		for _ in $(seq "${MAX_SECONDS:-1800}"); do sleep 1; kill -0 "$self" 2>/dev/null || exit 0; done
		log "MAX_SECONDS=${MAX_SECONDS:-1800} reached"; kill -TERM "$self"
	) 2>/dev/null &
	WATCHDOG_PID=$!
	# Pinning as the peers' figures were measured: server on one CPU, load on
	# another. Go (GOMAXPROCS) and Erlang (schedulers) size themselves to it.
	PIN_SERVER=() PIN_TOOL=()
	if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
		PIN_SERVER=(taskset -c "$SERVER_CPU") PIN_TOOL=(taskset -c "$TOOL_CPU")
	else
		log "taskset or a second CPU missing: not pinning"
	fi
}

lib_cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	stop_server
	local c
	for c in "${CLEANUPS[@]}"; do eval "$c" || true; done
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

# raise_nofile N: each session is one fd in the server and one in the tool.
raise_nofile() {
	ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
	if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $(($1 + 200)) ]; then
		log "ulimit -n is $(ulimit -n): too low for $1 sessions"
		exit 1
	fi
}

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

# wait_quiet waits up to QUIET_WAIT seconds for the rest of the machine to
# use less than QUIET_MAX cores: on a shared machine other processes' CPU
# use moves the rates a lot.
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

# wait_listening PORT [SECONDS]: until something listens on 127.0.0.1:PORT
# and the server is still alive.
wait_listening() {
	local port=$1 tries=$((${2:-10} * 10))
	for _ in $(seq "$tries"); do
		[ -n "$(ss -Htln "sport = :$port" 2>/dev/null)" ] && return 0
		kill -0 "$SERVER_PID" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# build_parley builds parley, parley-pprof and parley-bench into $WORK/bin,
# from the working tree or, with PARLEY_REV, from that git revision (other
# people's half-done edits in a shared working tree then do not end up in
# the figures).
build_parley() {
	local src=$REPO
	PARLEY_SRC=$REPO
	if [ -n "${PARLEY_REV:-}" ]; then
		src=$WORK/src PARLEY_SRC=$WORK/src
		mkdir -p "$src"
		git -C "$REPO" archive "$PARLEY_REV" | tar -x -C "$src"
		log "building Parley $(git -C "$REPO" rev-parse --short "$PARLEY_REV") from git"
	else
		log "building Parley from the working tree ($(git -C "$REPO" describe --always --dirty 2>/dev/null || echo unknown))"
	fi
	# The load tool always comes from the working tree's bench code when
	# BENCH_SRC is set (e.g. a newer tool against an older server).
	(cd "$src" && go build -o "$WORK/bin/parley" ./cmd/parley && go build -o "$WORK/bin/parley-pprof" ./bench/parley-pprof)
	(cd "${BENCH_SRC:-$src}" && go build -o "$WORK/bin/parley-bench" ./cmd/parley-bench)
	BENCH=$WORK/bin/parley-bench
}

# parley_config FILE DATA_DIR PORT DIRECT_PORT REQUIRE_TLS [BACKEND [DSN]]
# writes a Parley configuration on 127.0.0.1; $PARLEY_EXTRA is appended.
parley_config() {
	local file=$1 data=$2 port=$3 dport=$4 require=$5 backend=${6:-sqlite} dsn=${7:-}
	{
		cat <<EOF
data_dir = "$data"
[log]
level = "$LOG_LEVEL"
[[host]]
name = "$DOMAIN"
[storage]
backend = "$backend"
EOF
		if [ "$backend" = postgres ]; then
			printf '[storage.postgres]\ndsn = "%s"\n' "$dsn"
		else
			printf '[storage.sqlite]\npath = "%s/parley.db"\n' "$data"
		fi
		cat <<EOF
[c2s]
starttls = ["127.0.0.1:$port"]
direct_tls = ["127.0.0.1:$dport"]
require_tls = $require
[auth]
scram_iterations = ${ITERATIONS:-4096}
EOF
		# Newer trees have a web front end listening by default: off here.
		if grep -q 'toml:"web"' "${PARLEY_SRC:-$REPO}/config/config.go" 2>/dev/null; then
			printf '[web]\nhttp = []\nhttps = []\n'
		fi
		printf '%s\n' "${PARLEY_EXTRA:-}"
	} >"$file"
}

# start_parley LOGFILE CONFIG PORT [PPROF_PORT]: starts Parley pinned to
# SERVER_CPU (under bench/parley-pprof with a pprof port).
start_parley() {
	local logf=$1 cfg=$2 port=$3 pport=${4:-}
	local cmd=("$WORK/bin/parley" serve -config "$cfg")
	[ -z "$pport" ] || cmd=("$WORK/bin/parley-pprof" -config "$cfg" -pprof "127.0.0.1:$pport" ${PPROF_ARGS:-})
	GODEBUG=${PARLEY_GODEBUG:-gctrace=1} "${PIN_SERVER[@]}" "${cmd[@]}" 2>"$logf" &
	SERVER_PID=$! SERVER_KIND=parley
	if ! wait_listening "$port" 20; then
		log "Parley did not start:"; tail -20 "$logf" >&2; return 1
	fi
	sleep 1 # let it finish starting before the 'before' sample
}

# make_cert DIR: a self-signed P-256 certificate for $DOMAIN and
# conference.$DOMAIN: DIR/$DOMAIN.crt, DIR/$DOMAIN.key, DIR/server.pem.
make_cert() {
	mkdir -p "$1"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj "/CN=$DOMAIN" \
		-addext "subjectAltName=DNS:$DOMAIN,DNS:conference.$DOMAIN" \
		-keyout "$1/$DOMAIN.key" -out "$1/$DOMAIN.crt" 2>/dev/null
	cat "$1/$DOMAIN.key" "$1/$DOMAIN.crt" >"$1/server.pem"
	chmod 600 "$1"/*
}

# start_prosody DATA LOGFILE PORT: Prosody (Debian's package) with
# bench/peers/prosody.cfg.lua; accounts already written into DATA/data.
start_prosody() {
	local data=$1 logf=$2 port=$3
	command -v prosody >/dev/null || { log "prosody is not installed (apt-get install prosody)"; return 1; }
	mkdir -p "$data/data"
	[ -f "$data/certs/$DOMAIN.crt" ] || make_cert "$data/certs"
	BENCH_DATA=$data BENCH_C2S=$port BENCH_HTTP=$(free_port) BENCH_DOMAIN=$DOMAIN BENCH_ITERATIONS=${ITERATIONS:-4096} \
		"${PIN_SERVER[@]}" prosody -F --config "$REPO/bench/peers/prosody.cfg.lua" >"$logf" 2>&1 &
	SERVER_PID=$! SERVER_KIND=prosody
	if ! wait_listening "$port" 20; then
		log "Prosody did not start:"; tail -20 "$logf" "$data/prosody.log" >&2; return 1
	fi
	sleep 1
}

# start_ejabberd DATA LOGFILE PORT HTTP_PORT: ejabberd (Debian's package)
# with bench/peers/ejabberd.yml.in, without epmd (nothing is left behind).
# EJABBERD_HTTP is set to its API URL, for provisioning. Its database
# (DATA/db) belongs to the Erlang node name: set EJABBERD_NODE to reuse one.
start_ejabberd() {
	local data=$1 logf=$2 port=$3 http=$4 lib
	lib=$(ls -d /usr/lib/x86_64-linux-gnu/ejabberd-* /usr/lib/*/ejabberd-* 2>/dev/null | head -1)
	command -v erl >/dev/null && [ -n "$lib" ] || { log "ejabberd is not installed (apt-get install ejabberd)"; return 1; }
	mkdir -p "$data/db"
	[ -f "$data/certs/server.pem" ] || make_cert "$data/certs"
	sed -e "s|@C2S@|$port|g; s|@HTTP@|$http|g; s|@DOMAIN@|$DOMAIN|g; s|@DATA@|$data|g" \
		"$REPO/bench/peers/ejabberd.yml.in" >"$data/ejabberd.yml"
	(cd "$data" && exec env HOME="$data" EJABBERD_CONFIG_PATH="$data/ejabberd.yml" EJABBERD_LOG_PATH="$data/ejabberd.log" \
		ERL_LIBS="$(dirname "$lib")" "${PIN_SERVER[@]}" erl -sname "${EJABBERD_NODE:-bench$port}" -setcookie bench \
		-start_epmd false -erl_epmd_port "$(free_port)" -kernel inet_dist_use_interface '{127,0,0,1}' \
		+K true +P 250000 -mnesia dir "\"$data/db\"" -s ejabberd -noinput) >"$logf" 2>&1 &
	SERVER_PID=$! SERVER_KIND=ejabberd
	if ! wait_listening "$port" 60; then
		log "ejabberd did not start:"; tail -20 "$logf" "$data/ejabberd.log" >&2; return 1
	fi
	EJABBERD_HTTP=http://127.0.0.1:$http/api
	# Its memory shrinks for a while after the start: let it, before the
	# 'before' sample of a memory figure.
	sleep "${EJABBERD_SETTLE:-8}"
}

# stop_server stops the server started last: TERM (Erlang stops cleanly on
# it too), up to 15 s, then KILL.
stop_server() {
	[ -n "$SERVER_PID" ] || return 0
	if kill -0 "$SERVER_PID" 2>/dev/null; then
		kill -TERM "$SERVER_PID" 2>/dev/null || true
		for _ in $(seq 150); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$SERVER_PID" 2>/dev/null || true
	fi
	wait "$SERVER_PID" 2>/dev/null || true
	SERVER_PID="" SERVER_KIND=""
}

# server_warnings LOGFILE NAME: the server's warnings and errors, counted.
server_warnings() {
	local w
	w=$(grep -E 'level=(ERROR|WARN)' "$1" 2>/dev/null | grep -v SELF-SIGNED |
		sed -E 's/^time=[^ ]+ //; s/remote=[^ ]+//' | sort | uniq -c | sort -rn | head -10 || true)
	[ -z "$w" ] || { log "$2: server warnings/errors (count, message):"; echo "$w" >&2; }
}
