#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# SSE fan-out, fcpush behind lighttpd and nginx + Nchan side by side, in one
# run on this machine. For each subscriber count it holds N SSE subscribers
# on one channel (bench/fanout.c, epoll), measures server memory per held
# subscriber and CPU while all sit idle, then publishes M messages whose
# bodies are their send time and reports publish -> receive p50/p99 and lost
# messages. Loopback only; every step is bounded in time.
#
#   bench/fanout.sh [--quick] [--ws [--direct] | --lp] [--runs R] [--sizes "1000 5000 10000"]
#
# --pushpin (SSE only): a third system in the same run, Pushpin (Debian
# pushpin 1.36, with its condure, zurl, pushpin-proxy and pushpin-handler)
# in front of a tiny static backend that answers every GET with
# Grip-Hold: stream and Grip-Channel: CH; publishes go to Pushpin's HTTP
# control API (POST /publish/, an http-stream item carrying the same SSE
# event). Installed with apt-get when missing and we are root.
#
# --lp: long-poll fan-out instead (bench/lpbench.c): K long polls parked on
# one channel, M messages published one at a time, every subscriber
# re-parking at once with its cursor and the next publish going out when all
# K are parked again; fcpush (Prefer: wait, since=) against Nchan's
# longpoll subscriber (If-Modified-Since / If-None-Match), same client, same
# rule. Default sizes 1000, 100 messages (BENCH_LP_MSGS). --base DIR (with
# --lp): a third system in the same run, the fcpush.fcgi of another build
# directory (an earlier commit), for a before/after beside Nchan.
#
# --store nats1|nats3: fcpush on NATS JetStream instead of a SQLite file (a
# lone nats-server, or a local 3-node cluster with 3 replicas), a fresh
# stream for each start; Nchan is the same anchor.
#
# --ws: the same with WebSocket subscribers: fcpush-ws behind lighttpd's
# WebSocket proxy, and Nchan's websocket subscriber.
# --direct (with --ws): also a third system whose subscribers connect to
# fcpush-ws itself, not through lighttpd (publishes still go through it),
# to tell fcpush-ws's share of the latency from the proxy hop's.
#
# Besides latency and memory, each run records the CPU seconds the server
# and the web server spent from the first publish to the last delivery.
# --perf: also profile the whole machine over that phase (perf record -a,
# cpu-clock) into the results folder, with a report by process and symbol.
#
# Writes bench/results/fanout[-ws]-<time>/ and the table between the
# fanout (or fanout-ws) markers in docs/BENCHMARKS.md.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
RUNS=3
SIZES="1000 5000 10000"
MSGS=20
IDLE_S=10
WS=0
LP=0
PUSHPIN=0
BASE_BUILD=
LP_MSGS=${BENCH_LP_MSGS:-100}
DIRECT=0
PERF=0
REPORT=
STORE=sqlite
while [ $# -gt 0 ]; do
	case $1 in
	--report) REPORT=$2; shift ;;
	--quick) RUNS=1; SIZES="1000 10000"; MSGS=10; IDLE_S=5 ;;
	--ws) WS=1 ;;
	--lp) LP=1 ;;
	--pushpin) PUSHPIN=1 ;;
	--base) BASE_BUILD=$(cd "$2" && pwd); shift ;;
	--direct) DIRECT=1 ;;
	--perf) PERF=1 ;;
	--runs) RUNS=$2; shift ;;
	--sizes) SIZES=$2; shift ;;
	--store)
		case $2 in sqlite | nats1 | nats3) STORE=$2 ;; *) echo "fanout.sh: --store sqlite, nats1 or nats3" >&2; exit 2 ;; esac
		shift ;;
	*) echo "usage: $0 [--quick] [--ws [--direct] | --lp | --pushpin] [--store sqlite|nats1|nats3] [--runs R] [--sizes LIST]" >&2; exit 2 ;;
	esac
	shift
done
if [ $LP = 1 ] && [ "$SIZES" = "1000 5000 10000" ]; then SIZES=1000; fi
[ $LP = 1 ] && [ $RUNS = 1 ] && LP_MSGS=${BENCH_LP_MSGS:-30}

# nginx + Nchan are Debian packages: install them when missing and we may.
if ! command -v nginx >/dev/null || [ ! -e /usr/lib/nginx/modules/ngx_nchan_module.so ]; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		echo "fanout.sh: installing nginx and libnginx-mod-nchan" >&2
		DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y --no-install-recommends \
			nginx libnginx-mod-nchan >/dev/null || true
	fi
fi
if [ $PUSHPIN = 1 ]; then
	[ $WS = 0 ] && [ $LP = 0 ] || { echo "fanout.sh: --pushpin is for SSE runs" >&2; exit 2; }
	if ! command -v pushpin >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		echo "fanout.sh: installing pushpin" >&2
		DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y --no-install-recommends pushpin >/dev/null || true
	fi
	command -v pushpin >/dev/null || { echo "fanout.sh: --pushpin needs pushpin (apt-get install pushpin)" >&2; exit 1; }
fi

command -v nginx >/dev/null && [ -e /usr/lib/nginx/modules/ngx_nchan_module.so ] || {
	echo "fanout.sh: needs nginx and libnginx-mod-nchan (apt-get install nginx libnginx-mod-nchan)" >&2
	exit 1
}
# Every process gets the hard limit of descriptors (20,000 in this
# workplace's containers, which root cannot raise). A stream through
# lighttpd costs it two (client and backend), so lighttpd runs two worker
# processes (server.max-worker), each with its own limit.
FDS=$(ulimit -Hn)
[ "$FDS" = unlimited ] && FDS=65536
ulimit -n "$FDS"

T=$(mktemp -d /tmp/fcpush-fanout.XXXXXX)
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
MARK=fanout
[ $WS = 1 ] && MARK=fanout-ws
[ $LP = 1 ] && MARK=fanout-lp
OUT=$SRC/bench/results/$MARK-$STAMP
if [ -n "$REPORT" ]; then
	# Rewrite the table from a finished run's data.tsv.
	OUT=$(cd "$REPORT" && pwd)
	case $OUT in *fanout-ws-*) MARK=fanout-ws ;; *fanout-lp-*) MARK=fanout-lp ;; esac
	RUNS=$(cut -f3 "$OUT/data.tsv" | sort -u | wc -l)
	MSGS=$(head -1 "$OUT/data.tsv" | grep -oE 'msgs=[0-9]+' | cut -d= -f2)
	SIZES=
fi
mkdir -p "$OUT"
PIDS=()
cleanup() {
	local p
	if [ -n "${PP_PID:-}" ]; then stop_pushpin; fi
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	[ -f "$T/nginx.pid" ] && kill "$(cat "$T/nginx.pid")" 2>/dev/null || true
	[ -f "$T/lighttpd.pid" ] && kill "$(cat "$T/lighttpd.pid")" 2>/dev/null || true
	wait 2>/dev/null || true
	[ -d "$T/nats" ] && nats_cluster_stop "$T/nats"
	rm -rf "$T"
}
trap cleanup EXIT

(cd "$SRC" && { [ -x configure ] || autoreconf -fi >/dev/null; })
mkdir -p "$SRC/build"
(cd "$SRC/build" && { [ -f Makefile ] || ../configure >/dev/null; } && make -j2 fcpush.fcgi fcpush fcpush-ws >/dev/null)
gcc -O2 -Wall -D_GNU_SOURCE -o "$T/fanout" "$SRC/bench/fanout.c"
gcc -O2 -Wall -o "$T/lpbench" "$SRC/bench/lpbench.c"

. "$SRC/bench/lib.sh" # free_port, wait_port
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
sum_rss() { local t=0 p; for p in "$@"; do t=$((t + $(rss_kb "$p"))); done; echo $t; }
sum_cpu() { local t=0 p; for p in "$@"; do t=$((t + $(cpu_ticks "$p"))); done; echo $t; }

# ---- fcpush behind lighttpd -------------------------------------------------
# --store nats1|nats3: fcpush on NATS JetStream (a lone nats-server, or a
# local 3-node cluster with 3 replicas; tests/nats_lib.sh), a fresh stream
# for every start of fcpush, instead of a fresh SQLite file.
FC_DB=$T/fc.db
FC_STARTS=0
if [ "$STORE" != sqlite ]; then
	. "$SRC/tests/nats_lib.sh"
	nats_cluster_start "$T/nats" "${STORE#nats}" || { echo "fanout.sh: the NATS cluster did not start" >&2; exit 1; }
fi
FC_PORT=$(free_port)
start_fcpush() {
	rm -f "$T/fc.db"* "$T/fc.sock"
	FC_STARTS=$((FC_STARTS + 1))
	[ "$STORE" != sqlite ] && FC_DB="nats://$NATS_URLS/F$FC_STARTS?replicas=${STORE#nats}"
	FCPUSH_DATABASE=$FC_DB FCPUSH_LISTEN=$T/fc.sock FCPUSH_LISTEN_MODE=0666 FCPUSH_LOG_LEVEL=warn \
		FCPUSH_MAX_PARKED=30000 FCPUSH_LISTEN_BACKLOG=4096 "${FC_BUILD:-$SRC/build}/fcpush.fcgi" 2>>"$T/fc.err" &
	FC_PID=$!
	PIDS+=("$FC_PID")
	for _ in $(seq 1 100); do [ -S "$T/fc.sock" ] && break; sleep 0.05; done
	WS_PID=
	if [ $WS = 1 ]; then
		FCPUSH_DATABASE=$FC_DB FCPUSH_WS_LISTEN=$T/ws.sock FCPUSH_LISTEN_MODE=0666 FCPUSH_WS_MAX_CONNECTIONS=30000 \
			FCPUSH_LOG_LEVEL=warn "$SRC/build/fcpush-ws" 2>>"$T/ws.err" &
		WS_PID=$!
		PIDS+=("$WS_PID")
		for _ in $(seq 1 100); do [ -S "$T/ws.sock" ] && break; sleep 0.05; done
	fi
	sed -e "s|@PORT@|$FC_PORT|; s|@STATE@|$T|; s|@SOCKET@|$T/fc.sock|; s|@WWW@|$SRC/www|; s|@WSSOCKET@|$T/ws.sock|" \
		-e "s|^server.max-fds.*|server.max-fds = $FDS\nserver.max-worker = 2|" \
		-e "s|^server.max-connections.*|server.max-connections = $((FDS / 2 - 200))|" \
		"$SRC/conf/lighttpd.conf.in" >"$T/lighttpd.conf"
	lighttpd -f "$T/lighttpd.conf"
	wait_port "$FC_PORT"
	LT_PID=$(cat "$T/lighttpd.pid")
	LT_PIDS="$LT_PID $(pgrep -P "$LT_PID" | tr '\n' ' ')"
}
stop_fcpush() {
	kill "$(cat "$T/lighttpd.pid")" 2>/dev/null || true
	kill "$FC_PID" $WS_PID 2>/dev/null || true
	wait "$FC_PID" $WS_PID 2>/dev/null || true
	rm -f "$T/lighttpd.pid"
}

# ---- nginx + Nchan (memory store) -------------------------------------------
NX_PORT=$(free_port)
NX_SUB=eventsource
[ $LP = 1 ] && NX_SUB=longpoll
start_nchan() {
	mkdir -p "$T/nginx"
	cat >"$T/nginx.conf" <<EOF
load_module /usr/lib/nginx/modules/ngx_nchan_module.so;
worker_processes 1;
worker_rlimit_nofile $FDS;
pid $T/nginx.pid;
error_log $T/nginx-error.log warn;
events { worker_connections $((FDS - 100)); }
http {
	access_log off;
	client_body_temp_path $T/nginx;
	proxy_temp_path $T/nginx;
	fastcgi_temp_path $T/nginx;
	uwsgi_temp_path $T/nginx;
	scgi_temp_path $T/nginx;
	server {
		listen 127.0.0.1:$NX_PORT backlog=4096;
		location ~ ^/pub/(\w+)$ { nchan_publisher; nchan_channel_id \$1; }
		location ~ ^/sub/(\w+)$ { nchan_subscriber $NX_SUB; nchan_channel_id \$1; nchan_subscriber_first_message newest; nchan_subscriber_timeout 25s; }
		location ~ ^/ws/(\w+)$ { nchan_subscriber websocket; nchan_channel_id \$1; }
	}
}
EOF
	nginx -c "$T/nginx.conf" -p "$T/nginx"
	wait_port "$NX_PORT"
	NX_PIDS=$(pgrep -P "$(cat "$T/nginx.pid")" | tr '\n' ' ')
}
stop_nchan() {
	kill "$(cat "$T/nginx.pid")" 2>/dev/null || true
	for _ in $(seq 1 100); do [ -f "$T/nginx.pid" ] || break; sleep 0.05; done
}

# ---- Pushpin in front of a static GRIP backend --------------------------------
start_pushpin() { # fresh ports each time: a stopped Pushpin's may linger
	local off
	PP_PORT=$(free_port)
	PP_BACKEND=$(free_port)
	rm -rf "$T/pp" && mkdir -p "$T/pp/run" "$T/pp/log"
	# Its ZeroMQ and control ports are 5560-5563 plus an offset.
	off=$((PP_PORT % 20000 + 10000))
	PP_CTL=$((5561 + off))
	cat >"$T/pp/grip.py" <<'PY'
import asyncio, sys
BODY = b": pushpin\n\n"
async def handle(r, w):
    try:
        while True:
            head = await r.readuntil(b"\r\n\r\n")
            ch = head.split(b" ", 2)[1].split(b"?")[0].rstrip(b"/").rsplit(b"/", 1)[-1]
            w.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nGrip-Hold: stream\r\n"
                    b"Grip-Channel: " + ch + b"\r\nContent-Length: %d\r\n\r\n" % len(BODY) + BODY)
            await w.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        w.close()
async def main():
    srv = await asyncio.start_server(handle, "127.0.0.1", int(sys.argv[1]), backlog=4096)
    await srv.serve_forever()
asyncio.run(main())
PY
	python3 "$T/pp/grip.py" "$PP_BACKEND" 2>>"$T/pp/grip.err" &
	PP_GRIP_PID=$!
	PIDS+=("$PP_GRIP_PID")
	echo "* 127.0.0.1:$PP_BACKEND" >"$T/pp/routes"
	# Debian's pushpin.conf with our ports and directories, warnings only,
	# zurl (its outbound HTTP client) run by Pushpin's runner on our own
	# sockets, and message_rate / message_hwm (2,500/s and 25,000 by
	# default: they would throttle a 10,000-subscriber fan-out) raised.
	cat >"$T/pp/pushpin.conf" <<CONF
[global]
include={libdir}/internal.conf
rundir=$T/pp/run
ipc_prefix=fcb-
port_offset=$off
stats_connection_ttl=120
[runner]
services=condure,zurl,pushpin-proxy,pushpin-handler
http_port=127.0.0.1:$PP_PORT
logdir=$T/pp/log
log_level=${PUSHPIN_LOG_LEVEL:-1}
client_buffer_size=8192
client_maxconn=$((FDS - 200))
condure_bin=condure
zurl_bin=zurl
[proxy]
routesfile=routes
updates_check=off
sig_key=changeme
zurl_out_specs=ipc://{rundir}/{ipc_prefix}zurl-in
zurl_out_stream_specs=ipc://{rundir}/{ipc_prefix}zurl-in-stream
zurl_in_specs=ipc://{rundir}/{ipc_prefix}zurl-out
[handler]
push_in_spec=tcp://127.0.0.1:5560
push_in_sub_specs=tcp://127.0.0.1:5562
push_in_sub_connect=false
push_in_http_addr=127.0.0.1
push_in_http_port=5561
stats_spec=ipc://{rundir}/{ipc_prefix}stats
command_spec=tcp://127.0.0.1:5563
message_rate=1000000
message_hwm=1000000
message_wait=5000
id_cache_ttl=60
connection_subscription_max=20
subscription_linger=60
CONF
	pushpin --config "$T/pp/pushpin.conf" --merge-output >>"$T/pp/pushpin.out" 2>&1 &
	PP_PID=$!
	PIDS+=("$PP_PID")
	{ wait_port "$PP_PORT" || wait_port "$PP_PORT"; } && { wait_port "$PP_CTL" || wait_port "$PP_CTL"; } &&
		wait_port "$PP_BACKEND" || return 1
	sleep 0.5
	PP_PIDS=$(pgrep -P "$PP_PID" | tr '\n' ' ')
}
stop_pushpin() { # bounded: its runner may take its time to stop its services
	local pids="$PP_PID ${PP_GRIP_PID:-} $(pgrep -P "$PP_PID" | tr '\n' ' ')" p
	kill $pids 2>/dev/null || true
	for _ in $(seq 100); do
		kill -0 "$PP_PID" 2>/dev/null || break
		sleep 0.1
	done
	for p in $pids; do kill -9 "$p" 2>/dev/null || true; done
	wait "$PP_PID" ${PP_GRIP_PID:-} 2>/dev/null || true
}

# run_one SYSTEM N RUN: one fan-out run; appends a line to $OUT/data.tsv.
run_one() {
	local sys=$1 n=$2 run=$3 port sub_unix=() sub pub base_rss rss0 cpu0 cpu1 line ch srv_pids web_pids b0 b1
	ch=f$run$n
	if [ "$sys" = pushpin ]; then
		if ! start_pushpin; then
			echo "fanout.sh: Pushpin did not start (run $run, $n); this run has no Pushpin row" >&2
			cp "$T/pp/pushpin.out" "$OUT/pushpin-$n-$run-failed.log" 2>/dev/null || true
			stop_pushpin
			return 0
		fi
		port=$PP_PORT sub="/sub/$ch" pub="/publish/"
		sub_unix=(--pub-port "$PP_CTL" --pub-grip "$ch")
		srv_pids=$PP_PIDS web_pids=
		base_rss="$(sum_rss $PP_PIDS) 0"
	elif [ "$sys" = nchan ]; then
		start_nchan
		port=$NX_PORT sub="/sub/$ch" pub="/pub/$ch"
		[ $WS = 1 ] && sub="/ws/$ch"
		srv_pids=$NX_PIDS web_pids=
		base_rss="$(sum_rss $NX_PIDS) 0"
	else
		start_fcpush
		port=$FC_PORT sub="/push/channels/$ch" pub="/push/channels/$ch"
		srv_pids=$FC_PID web_pids=$LT_PIDS
		if [ $WS = 1 ]; then sub="/push/ws/channels/$ch"; srv_pids="$WS_PID $FC_PID"; fi
		base_rss="$(rss_kb "${srv_pids%% *}") $(sum_rss $LT_PIDS)"
	fi
	[ "$sys" = direct ] && sub_unix=(--sub-unix "$T/ws.sock")
	rm -f "$T/ready"
	"$T/fanout" --ws "$WS" --port "$port" "${sub_unix[@]}" --sub-path "$sub" --pub-path "$pub" \
		--subs "$n" --msgs "$MSGS" --interval-ms 250 --timeout-s 120 --ready-file "$T/ready" \
		>"$T/fanout.out" 2>>"$T/fanout.err" &
	local fpid=$!
	for _ in $(seq 1 1200); do [ -f "$T/ready" ] && break; sleep 0.05; done
	# All held: memory per subscriber, then CPU while idle.
	if [ "$sys" = pushpin ]; then
		rss0="$(sum_rss $PP_PIDS) 0"
	elif [ "$sys" = nchan ]; then
		rss0="$(sum_rss $NX_PIDS) 0"
	else
		rss0="$(rss_kb "${srv_pids%% *}") $(sum_rss $LT_PIDS)"
	fi
	cpu0=$(sum_cpu $srv_pids $web_pids)
	sleep "$IDLE_S"
	cpu1=$(sum_cpu $srv_pids $web_pids)
	# The publishing phase: CPU of the server(s) and of the web server.
	b0="$(sum_cpu $srv_pids) $(sum_cpu $web_pids)"
	local perf_pid= perf_data=$OUT/perf-$sys-$n-$run.data
	if [ $PERF = 1 ]; then
		perf record -q -a -g -e cpu-clock -F 999 -o "$perf_data" 2>/dev/null &
		perf_pid=$!
	fi
	rm -f "$T/ready"
	wait "$fpid" || true
	if [ -n "$perf_pid" ]; then
		kill -INT "$perf_pid"
		wait "$perf_pid" || true
		perf report -i "$perf_data" --no-children --sort comm,dso,sym --stdio 2>/dev/null |
			grep -v '^$' | head -400 >"${perf_data%.data}.txt" || true
	fi
	b1="$(sum_cpu $srv_pids) $(sum_cpu $web_pids)"
	line=$(cat "$T/fanout.out")
	set -- $base_rss
	local b_srv=$1 b_web=$2
	set -- $rss0
	local h_srv=$1 h_web=$2
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$sys" "$n" "$run" "$line" \
		"srv_kb_per_sub=$(awk -v a="$h_srv" -v b="$b_srv" -v n="$n" 'BEGIN { printf "%.2f", (a - b) / n }') web_kb_per_sub=$(awk -v a="$h_web" -v b="$b_web" -v n="$n" 'BEGIN { printf "%.2f", (a - b) / n }')" \
		"idle_cpu_pct=$(awk -v t="$((cpu1 - cpu0))" -v s="$IDLE_S" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", 100 * t / hz / s }')" \
		"$(set -- $b0 $b1; awk -v s0="$1" -v w0="$2" -v s1="$3" -v w1="$4" -v hz="$(getconf CLK_TCK)" \
			'BEGIN { printf "busy_srv_s=%.2f busy_web_s=%.2f", (s1 - s0) / hz, (w1 - w0) / hz }')" \
		| tee -a "$OUT/data.tsv"
	case $sys in
	nchan) stop_nchan ;;
	pushpin) stop_pushpin; cp "$T/pp/pushpin.out" "$OUT/pushpin-$n-$run.log" 2>/dev/null || true ;;
	*) stop_fcpush ;;
	esac
}

# run_lp SYSTEM K RUN: one long-poll fan-out run (lpbench); appends a line
# to $OUT/data.tsv: lpbench's RESULT line and the CPU seconds the server and
# the web server spent while it ran.
run_lp() {
	local sys=$1 n=$2 run=$3 port nchan=0 srv_pids web_pids b0 b1 line rc=0
	if [ "$sys" = nchan ]; then
		start_nchan
		port=$NX_PORT nchan=1 srv_pids=$NX_PIDS web_pids=
	else
		FC_BUILD=
		[ "$sys" = base ] && FC_BUILD=$BASE_BUILD
		start_fcpush
		port=$FC_PORT srv_pids=$FC_PID web_pids=$LT_PIDS
	fi
	b0="$(sum_cpu $srv_pids) $(sum_cpu $web_pids)"
	line=$(timeout 300 "$T/lpbench" --port "$port" --channel "lp$run$n" --subs "$n" --msgs "$LP_MSGS" --wait 25 \
		--label "$sys" --nchan "$nchan" 2>>"$OUT/lpbench.err") || rc=$?
	b1="$(sum_cpu $srv_pids) $(sum_cpu $web_pids)"
	[ $rc = 0 ] || echo "fanout.sh: lpbench $sys $n run $run exited $rc" >&2
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$sys" "$n" "$run" "${line#RESULT }" "load1=$(cut -d' ' -f1 /proc/loadavg)" \
		"$(set -- $b0 $b1; awk -v s0="$1" -v w0="$2" -v s1="$3" -v w1="$4" -v hz="$(getconf CLK_TCK)" \
			'BEGIN { printf "busy_srv_s=%.2f busy_web_s=%.2f", (s1 - s0) / hz, (w1 - w0) / hz }')" \
		| tee -a "$OUT/data.tsv"
	if [ "$sys" = nchan ]; then stop_nchan; else stop_fcpush; fi
}

{
	echo "date: $(date -u)"
	echo "cpus: $(nproc) x $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)"
	echo "memory: $(awk '/MemTotal/ { print $2 " kB" }' /proc/meminfo)"
	echo "kernel: $(uname -r)"
	echo "lighttpd: $(lighttpd -v 2>&1 | head -1)"
	echo "nginx: $(nginx -v 2>&1) + libnginx-mod-nchan $(dpkg-query -W -f='${Version}' libnginx-mod-nchan 2>/dev/null)"
	if [ $PUSHPIN = 1 ]; then
		echo "pushpin: $(dpkg-query -W -f='${Version}' pushpin 2>/dev/null) (condure $(dpkg-query -W -f='${Version}' condure 2>/dev/null), zurl $(dpkg-query -W -f='${Version}' zurl 2>/dev/null))"
	fi
	echo "load before: $(uptime | sed 's/.*load average: //')"
} >"$OUT/machine.txt.new"
[ -n "$REPORT" ] && rm -f "$OUT/machine.txt.new" || mv "$OUT/machine.txt.new" "$OUT/machine.txt"

for n in $SIZES; do
	for run in $(seq 1 "$RUNS"); do
		if [ $LP = 1 ]; then
			# Alternate the order, so a drift in the machine's load favours neither.
			if [ $((run % 2)) = 1 ]; then run_lp fcpush "$n" "$run"; run_lp nchan "$n" "$run"
			else run_lp nchan "$n" "$run"; run_lp fcpush "$n" "$run"; fi
			if [ -n "$BASE_BUILD" ]; then run_lp base "$n" "$run"; fi
			continue
		fi
		run_one fcpush "$n" "$run"
		[ $DIRECT = 1 ] && run_one direct "$n" "$run"
		run_one nchan "$n" "$run"
		if [ $PUSHPIN = 1 ]; then run_one pushpin "$n" "$run"; fi
	done
done

# Medians per system and size, and the table for docs/BENCHMARKS.md.
python3 - "$OUT" "$SRC/docs/BENCHMARKS.md" "$RUNS" "$MSGS" "$IDLE_S" "$MARK" <<'PY'
import re, statistics, sys
out, doc, runs, msgs, idle, mark = sys.argv[1:7]
ws = mark == "fanout-ws"
rows = {}
for line in open(out + "/data.tsv"):
    f = line.rstrip("\n").split("\t")
    kv = dict(x.split("=", 1) for x in " ".join(f[3:]).split() if "=" in x)
    rows.setdefault((f[0], int(f[1])), []).append(kv)
def med(lst, k):
    return statistics.median(float(x[k]) for x in lst)
sizes = sorted({n for _, n in rows})
machine = open(out + "/machine.txt").read().strip().replace("\n", "; ")
def put(table):
    open(out + "/summary.md", "w").write(table + "\n")
    text = open(doc).read()
    if f"<!-- {mark}:begin -->" in text:
        text = re.sub(f"<!-- {mark}:begin -->.*<!-- {mark}:end -->", lambda m: table, text, flags=re.S)
    else:
        text += "\n" + table + "\n"
    open(doc, "w").write(text)
    print(table)
if mark == "fanout-lp":
    ms = lambda lst, k: med(lst, k) / 1000
    lmsgs = rows[next(iter(rows))][0].get("msgs", "?")
    t = [f"<!-- {mark}:begin -->",
         f"Long-poll fan-out, one channel, {lmsgs} messages one at a time, each subscriber re-parking at once with its cursor; medians of {runs} run(s) each (fcpush and Nchan alternate which goes first). Load average (1 min) at each run: "
         + ", ".join(f"{s} {'/'.join(x['load1'] for x in rows[(s, n)])}" for s, n in sorted(rows)) + f". Machine: {machine}.",
         "",
         "| K | system | first answered p50 ms | all answered (last subscriber) p50 / p99 ms | every answer p50 / p99 ms | publish answered p50 ms | lost | busy CPU s: server / web server |",
         "|---|---|---|---|---|---|---|---|"]
    labels = {"fcpush": "fcpush (lighttpd + fcpush.fcgi)", "nchan": "nginx + Nchan (memory)",
              "base": "fcpush before (lighttpd + the --base build's fcpush.fcgi)"}
    for n in sizes:
        for sysname in ("fcpush", "nchan", "base"):
            r = rows.get((sysname, n))
            if not r:
                continue
            lost = int(max(float(x["lost"]) + float(x["dups"]) for x in r))
            t.append(f"| {n} | {labels[sysname]} | {ms(r, 'first_p50_us'):.2f} | {ms(r, 'last_p50_us'):.2f} / {ms(r, 'last_p99_us'):.2f} | {ms(r, 'p50_us'):.2f} / {ms(r, 'p99_us'):.2f} | {ms(r, 'pub_p50_us'):.2f} | {lost} | {med(r, 'busy_srv_s'):.2f} / {med(r, 'busy_web_s'):.2f} |")
        f, nx = rows.get(("fcpush", n)), rows.get(("nchan", n))
        if f and nx:
            t.append(f"| {n} | ratio fcpush/Nchan | {ms(f,'first_p50_us')/ms(nx,'first_p50_us'):.2f} | {ms(f,'last_p50_us')/ms(nx,'last_p50_us'):.2f} / {ms(f,'last_p99_us')/ms(nx,'last_p99_us'):.2f} | {ms(f,'p50_us')/ms(nx,'p50_us'):.2f} / {ms(f,'p99_us')/ms(nx,'p99_us'):.2f} | | | |")
        b = rows.get(("base", n))
        if b and nx:
            t.append(f"| {n} | ratio before/Nchan | {ms(b,'first_p50_us')/ms(nx,'first_p50_us'):.2f} | {ms(b,'last_p50_us')/ms(nx,'last_p50_us'):.2f} / {ms(b,'last_p99_us')/ms(nx,'last_p99_us'):.2f} | {ms(b,'p50_us')/ms(nx,'p50_us'):.2f} / {ms(b,'p99_us')/ms(nx,'p99_us'):.2f} | | | |")
    t.append(f"<!-- {mark}:end -->")
    put("\n".join(t))
    sys.exit(0)
kind = "WebSocket" if ws else "SSE"
pp_procs = ", Pushpin's condure + zurl + pushpin-proxy + pushpin-handler" if any(s == "pushpin" for s, _ in rows) else ""
server = "fcpush-ws" if ws else "fcpush.fcgi"
t = [f"<!-- {mark}:begin -->",
     f"{kind} fan-out, one channel, {msgs} messages 250 ms apart, medians of {runs} run(s) each; server KB/sub is {server}'s (Nchan's worker's{pp_procs}) resident memory per held subscriber; idle CPU over {idle} s with every subscriber held. Machine: {machine}.",
     "",
     "| subscribers | system | p50 ms | p99 ms | max ms | lost | server KB/sub | web server KB/sub | idle CPU % | busy CPU s: server / web server |",
     "|---|---|---|---|---|---|---|---|---|---|"]
labels = {"fcpush": f"fcpush (lighttpd + {server})", "direct": f"{server} direct (no proxy; publishes via lighttpd)",
          "nchan": "nginx + Nchan (memory)", "pushpin": "Pushpin (static GRIP backend)"}
def busy(r):
    if "busy_srv_s" not in r[0]:
        return ""
    return f"{med(r, 'busy_srv_s'):.2f} / {med(r, 'busy_web_s'):.2f}"
for n in sizes:
    for sysname in ("fcpush", "direct", "nchan", "pushpin"):
        r = rows.get((sysname, n))
        if not r:
            continue
        web = f"{med(r, 'web_kb_per_sub'):.2f}" if sysname not in ("nchan", "pushpin") else "(in the server)"
        t.append(f"| {n} | {labels[sysname]} | {med(r, 'p50_ms'):.1f} | {med(r, 'p99_ms'):.1f} | {med(r, 'max_ms'):.1f} | {int(max(float(x['lost']) for x in r))} | {med(r, 'srv_kb_per_sub'):.2f} | {web} | {med(r, 'idle_cpu_pct'):.2f} | {busy(r)} |")
    f, nx = rows.get(("fcpush", n)), rows.get(("nchan", n))
    if f and nx:
        t.append(f"| {n} | ratio fcpush/Nchan | {med(f,'p50_ms')/max(med(nx,'p50_ms'),1e-9):.2f} | {med(f,'p99_ms')/max(med(nx,'p99_ms'),1e-9):.2f} | | | {med(f,'srv_kb_per_sub')/max(med(nx,'srv_kb_per_sub'),1e-9):.2f} | | | |")
    pp = rows.get(("pushpin", n))
    if f and pp:
        t.append(f"| {n} | ratio fcpush/Pushpin | {med(f,'p50_ms')/max(med(pp,'p50_ms'),1e-9):.2f} | {med(f,'p99_ms')/max(med(pp,'p99_ms'),1e-9):.2f} | | | {med(f,'srv_kb_per_sub')/max(med(pp,'srv_kb_per_sub'),1e-9):.2f} | | | |")
t.append(f"<!-- {mark}:end -->")
table = "\n".join(t)
open(out + "/summary.md", "w").write(table + "\n")
text = open(doc).read()
if f"<!-- {mark}:begin -->" in text:
    text = re.sub(f"<!-- {mark}:begin -->.*<!-- {mark}:end -->", lambda m: table, text, flags=re.S)
else:
    text += f"\n## {kind} fan-out: fcpush and Nchan side by side (bench/fanout.sh{' --ws' if ws else ''})\n\n" + table + "\n"
open(doc, "w").write(text)
print(table)
PY
