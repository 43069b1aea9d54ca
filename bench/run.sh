#!/bin/bash
# SPDX-License-Identifier: MIT
# bench/run.sh [--quick] [--runs N] [--no-doc] [--report bench/results/DIR]
#              [--durability full|normal] [--compare-durability] [--compare-auth]
#              [--publish-only --server lighttpd|apache [--reuse off|on|both]
#               [--store sqlite|nats1|nats3]]
#
# Builds what it needs, starts lighttpd + fcpush.fcgi (and lighttpd + the
# trivial responder, the ceiling) on free 127.0.0.1 ports with a fresh
# database in a mktemp directory, runs every benchmark N times (default 5,
# --quick: 1 and a 10 s idle window instead of 60 s), saves the raw numbers
# under bench/results/<UTC time>/ and writes the medians into
# docs/BENCHMARKS.md between the "bench:results" markers. --report DIR
# measures nothing and writes the summary of an earlier run again.
# --durability sets the workers' `durability` (default full, the shipped
# default). --compare-durability measures only publish req/s at 1, 16 and 64
# connections, with durability full and then normal on a fresh database and
# worker each, in every run (the order alternates between runs), and writes
# its table to bench/results/<time>/summary.md, not to docs/BENCHMARKS.md.
# --publish-only measures only publish req/s at 1, 16 and 64 connections,
# fcpush and the trivial-libfcgi ceiling, behind --server (lighttpd, the
# default, or Apache 2.4 with conf/apache.conf.in: mpm_event,
# mod_proxy_fcgi); with Apache, --reuse on adds enablereuse=on (FastCGI
# connections kept open, FCGI_KEEP_CONN) to the /push/ ProxyPass, off takes
# it away, both measures each in every run. Its table goes to
# bench/results/<time>/summary.md.
# --store (with --publish-only): the store fcpush publishes into: sqlite
# (the default, a file), nats1 (a lone local nats-server, the stream with 1
# replica) or nats3 (a local 3-node cluster, 3 replicas: every 201 waits for
# a quorum's PubAck), started with tests/nats_lib.sh; a fresh stream per
# cell, rows counted through the channel's info.
# --compare-auth measures only publish req/s (at BENCH_AUTH_CONNS
# connections, default "1 16") with access control off, HS256 and ES256, in
# every run (the order rotates between runs), each on a fresh database and
# worker; with tokens, once with the same token in every request (what the
# worker's token cache serves) and once with a different one from 4,096
# (bench/mktokens.py: each request pays a full signature check). Every
# request carries an Authorization header, the worker with auth off
# ignores it, so wrk's own work is the same everywhere. Its table goes to
# bench/results/<time>/summary.md, not to docs/BENCHMARKS.md.
#
# Everything is loopback only, bounded in count and time (each client runs
# under timeout(1)), and stops every process it started on exit.
#
# Environment: BENCH_THREADS (worker and trivial responder request threads,
# default 16, the worker's own default), BENCH_SECONDS (wrk and batch duration, default 5),
# BENCH_IDLE_SECONDS (idle window, default 60; --quick 10), BENCH_LP_MSGS
# (messages per long-poll latency test, default 100).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=5
QUICK=0
WRITE_DOC=1
REPORT_DIR=
DURABILITY=full
COMPARE_DURABILITY=0
PUBLISH_ONLY=0
STORE=sqlite
SERVER=lighttpd
REUSE=off
COMPARE_AUTH=0
AUTH_CONNS=${BENCH_AUTH_CONNS:-1 16}
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) QUICK=1; RUNS=1 ;;
	--runs) RUNS=$2; shift ;;
	--no-doc) WRITE_DOC=0 ;;
	--report) REPORT_DIR=$2; shift ;;
	--durability)
		case $2 in full | normal) DURABILITY=$2 ;; *) echo "run.sh: --durability full or normal" >&2; exit 2 ;; esac
		shift ;;
	--compare-durability) COMPARE_DURABILITY=1 ;;
	--publish-only) PUBLISH_ONLY=1 ;;
	--store)
		case $2 in sqlite | nats1 | nats3) STORE=$2 ;; *) echo "run.sh: --store sqlite, nats1 or nats3" >&2; exit 2 ;; esac
		shift ;;
	--server)
		case $2 in lighttpd | apache) SERVER=$2 ;; *) echo "run.sh: --server lighttpd or apache" >&2; exit 2 ;; esac
		shift ;;
	--reuse)
		case $2 in on | off | both) REUSE=$2 ;; *) echo "run.sh: --reuse on, off or both" >&2; exit 2 ;; esac
		shift ;;
	--compare-auth) COMPARE_AUTH=1 ;;
	-h|--help) sed -n '3,42p' "$0"; exit 0 ;;
	*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
	esac
	shift
done
THREADS=${BENCH_THREADS:-16}
SECS=${BENCH_SECONDS:-5}
if [ $QUICK = 1 ]; then IDLE_SECS=${BENCH_IDLE_SECONDS:-10}; else IDLE_SECS=${BENCH_IDLE_SECONDS:-60}; fi
LP_MSGS=${BENCH_LP_MSGS:-100}

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "run.sh: $*"; exit 1; }

# ---- processes we start, stopped on exit --------------------------------
PIDS=()
TMP=$(mktemp -d /tmp/fcpush-bench.XXXXXX)
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$p" 2>/dev/null || true
	done
	[ -d "$TMP/nats" ] && nats_cluster_stop "$TMP/nats"
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

stop_pid() { # stop one started process and forget it
	local p=$1 i
	kill "$p" 2>/dev/null || true
	for i in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
	kill -9 "$p" 2>/dev/null || true
	wait "$p" 2>/dev/null || true
	local keep=()
	for i in "${PIDS[@]}"; do [ "$i" = "$p" ] || keep+=("$i"); done
	PIDS=("${keep[@]}")
}

if [ -z "$REPORT_DIR" ]; then
	# ---- tools and build -----------------------------------------------------
	if ! command -v wrk >/dev/null; then
		if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
			log "installing wrk"
			apt-get install -y wrk >/dev/null || die "apt-get install wrk failed"
		else
			die "wrk is missing (Debian: apt-get install wrk)"
		fi
	fi
	for t in lighttpd gcc curl sqlite3 ss; do command -v $t >/dev/null || die "$t is missing"; done

	log "building the worker"
	(cd "$ROOT" && (test -x configure || autoreconf -fi) && mkdir -p build && cd build &&
		(test -f Makefile || ../configure) && make -j2 fcpush.fcgi fcpush) >"$TMP/build.log" 2>&1 ||
		{ tail -20 "$TMP/build.log" >&2; die "worker build failed"; }
	# Copies, so that a rebuild in build/ by someone else cannot change the
	# binary between runs.
	BIN=$TMP/bin
	mkdir -p "$BIN"
	cp "$ROOT/build/fcpush.fcgi" "$ROOT/build/fcpush" "$BIN/"
	WORKER=$BIN/fcpush.fcgi
	CLI=$BIN/fcpush
	log "building the clients"
	TRIVIAL_SRC=$ROOT/tests/trivial_responder.c
	[ -f "$TRIVIAL_SRC" ] || TRIVIAL_SRC=$ROOT/bench/trivial_responder.c
	gcc -O2 -o "$BIN/trivial" "$TRIVIAL_SRC" -lfcgi -pthread
	gcc -O2 -Wall -o "$BIN/lpbench" "$ROOT/bench/lpbench.c"
	gcc -O2 -Wall -pthread -o "$BIN/batch" "$ROOT/bench/batch.c"

	LIGHTTPD_TEMPLATE=$TMP/lighttpd.conf.in
	if [ -f "$ROOT/conf/lighttpd.conf.in" ]; then
		cp "$ROOT/conf/lighttpd.conf.in" "$LIGHTTPD_TEMPLATE" # a snapshot, for the same reason
	else
		# Minimal stand-in until conf/ has one.
		cat >"$LIGHTTPD_TEMPLATE" <<-'EOF'
	server.modules = ( "mod_fastcgi" )
	server.bind = "127.0.0.1"
	server.port = @PORT@
	server.document-root = "@WWW@"
	server.pid-file = "@STATE@/lighttpd.pid"
	server.errorlog = "@STATE@/lighttpd-error.log"
	server.stream-response-body = 2
	server.max-fds = 16384
	server.max-connections = 8000
	fastcgi.server = ( "/push/" => (( "socket" => "@SOCKET@", "check-local" => "disable", "disable-time" => 0 )) )
	EOF
	fi

	# ---- results -------------------------------------------------------------
	STAMP=$(date -u +%Y%m%dT%H%M%SZ)
	[ $QUICK = 1 ] && STAMP=$STAMP-quick
	RES=$ROOT/bench/results/$STAMP
	mkdir -p "$RES"
	DATA=$RES/data.tsv # run <TAB> key <TAB> value
	: >"$DATA"
	put() { printf '%s\t%s\t%s\n' "$RUN" "$1" "$2" >>"$DATA"; }
	FAILURES=0
	fail() { log "CHECK FAILED: $*"; echo "run $RUN: $*" >>"$RES/failures.txt"; }

	# ---- helpers ---------------------------------------------------------------
	free_port() {
		local p
		for _ in $(seq 100); do
			p=$((20000 + RANDOM % 12000)) # below the ephemeral range
			[ -z "$(ss -Htln "sport = :$p")" ] && { echo $p; return; }
		done
		die "no free port"
	}

	wait_for() { # wait_for TEST... (up to 10 s)
		for _ in $(seq 200); do "$@" && return 0; sleep 0.05; done
		return 1
	}

	start_worker() { # start_worker DIR SOCKET [ENV=VALUE...] -> sets LAST_PID
		local dir=$1 sock=$2
		shift 2
		mkdir -p "$dir"
		env FCPUSH_DATABASE="$DB" FCPUSH_LISTEN="$sock" FCPUSH_LISTEN_MODE=0666 FCPUSH_THREADS="$THREADS" \
			FCPUSH_LOG_LEVEL=warn FCPUSH_LONG_POLL_MAX_WAIT_S=120 FCPUSH_DURABILITY="$DURABILITY" "$@" \
			"$WORKER" >>"$dir/worker.log" 2>&1 &
		LAST_PID=$!
		PIDS+=("$LAST_PID")
		wait_for test -S "$sock" || die "worker did not listen on $sock (see $dir/worker.log)"
	}

	start_trivial() { # start_trivial DIR SOCKET -> LAST_PID
		mkdir -p "$1"
		"$BIN/trivial" "$2" "$THREADS" >>"$1/trivial.log" 2>&1 &
		LAST_PID=$!
		PIDS+=("$LAST_PID")
		wait_for test -S "$2" || die "trivial responder did not listen on $2"
	}

	start_lighttpd() { # start_lighttpd DIR PORT SOCKET -> LAST_PID
		local dir=$1 port=$2 sock=$3
		mkdir -p "$dir"
		# @WSSOCKET@ (fcpush-ws behind mod_proxy) names a socket nothing
		# listens on: WebSocket is measured by fanout.sh and wspub.py.
		sed -e "s|@PORT@|$port|g" -e "s|@STATE@|$dir|g" -e "s|@SOCKET@|$sock|g" -e "s|@WWW@|$ROOT/www|g" \
			-e "s|@WSSOCKET@|$dir/no-fcpush-ws.sock|g" "$LIGHTTPD_TEMPLATE" >"$dir/lighttpd.conf"
		if grep -v '^[[:space:]]*#' "$dir/lighttpd.conf" | grep -q '@[A-Z_]*@'; then
			die "conf/lighttpd.conf.in has a placeholder run.sh does not know:" \
				"$(grep -v '^[[:space:]]*#' "$dir/lighttpd.conf" | grep -o '@[A-Z_]*@' | sort -u | tr '\n' ' ')"
		fi
		lighttpd -D -f "$dir/lighttpd.conf" >>"$dir/lighttpd.out" 2>&1 &
		LAST_PID=$!
		PIDS+=("$LAST_PID")
		if ! wait_for curl -fs -o /dev/null "http://127.0.0.1:$port/push/status"; then
			log "lighttpd on port $port: $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/push/status")"
			cp -r "$dir" "$RES/failed-$(basename "$dir")" 2>/dev/null || true
			die "lighttpd did not answer on port $port (state copied to $RES/failed-$(basename "$dir"))"
		fi
	}

	# start_apache DIR PORT SOCKET REUSE -> LAST_PID: Apache 2.4 from
	# conf/apache.conf.in (its /push/ ProxyPass with enablereuse=on when
	# REUSE is on, without when off).
	start_apache() {
		local dir=$1 port=$2 sock=$3 reuse=$4
		mkdir -p "$dir"
		chmod 755 "$TMP" "$dir" "$(dirname "$sock")"
		sed -e "s|@PORT@|$port|g" -e "s|@STATE@|$dir|g" -e "s|@SOCKET@|$sock|g" -e "s|@WWW@|$ROOT/www|g" \
			-e "s|@WSSOCKET@|$dir/no-fcpush-ws.sock|g" -e "s|@MODULES@|/usr/lib/apache2/modules|g" \
			"$ROOT/conf/apache.conf.in" >"$dir/apache.conf"
		sed -i -e '/^ProxyPass "\/push\/" /s/ enablereuse=[a-z]*//' "$dir/apache.conf"
		[ "$reuse" = on ] && sed -i -e '/^ProxyPass "\/push\/" /s/$/ enablereuse=on/' "$dir/apache.conf"
		apache2 -f "$dir/apache.conf" -DFOREGROUND >>"$dir/apache.out" 2>&1 &
		LAST_PID=$!
		PIDS+=("$LAST_PID")
		wait_for curl -fs -o /dev/null "http://127.0.0.1:$port/push/status" ||
			die "apache did not answer on port $port (see $dir)"
	}

	# publish_only: ceiling and fcpush publish req/s at 1, 16, 64 behind
	# $SERVER, for each FastCGI connection reuse setting asked for.
	publish_only() {
		local reuses=(off) r c ch line n ok bad p w l what sock errs k v
		[ "$SERVER" = apache ] && case $REUSE in on) reuses=(on) ;; both) reuses=(off on) ;; esac
		[ $((RUN % 2)) = 0 ] && [ ${#reuses[@]} = 2 ] && reuses=(on off)
		for r in "${reuses[@]}"; do
			for what in ceiling fcpush; do
				p=$(free_port)
				sock=$S/$what-$r/app.sock
				if [ $what = ceiling ]; then
					start_trivial "$S/$what-$r" "$sock"; w=$LAST_PID
				else
					DB=$S/fcpush-$r.db
					[ "$STORE" != sqlite ] && DB="$NATS_LOC/B${RUN}x$r?replicas=${STORE#nats}"
					start_worker "$S/$what-$r" "$sock"; w=$LAST_PID
				fi
				if [ "$SERVER" = apache ]; then
					start_apache "$S/a-$what-$r" "$p" "$sock" "$r"
				else
					start_lighttpd "$S/l-$what-$r" "$p" "$sock"
				fi
				l=$LAST_PID
				for c in 1 16 64; do
					ch=pub-$what-$r-c$c
					put "publish.$what.$r.c$c.loadavg" "$(cut -d' ' -f1 /proc/loadavg)"
					line=$(run_wrk "$what-$SERVER-$r" "$p" $c "$ch" "$w" "$l")
					bad=$(kv non2xx "$line"); ok=$(( $(kv requests "$line") - ${bad:-0} ))
					put "publish.$what.$r.c$c.rps" "$(kv rps "$line")"
					put "publish.$what.$r.c$c.p99_us" "$(kv p99_us "$line")"
					put "publish.$what.$r.c$c.non2xx" "${bad:-0}"
					errs=0
					for k in connect read write timeout; do v=$(kv $k "$line"); errs=$((errs + ${v:-0})); done
					put "publish.$what.$r.c$c.socket_errors" "$errs"
					[ "${bad:-0}" = 0 ] || fail "publish $what $SERVER reuse=$r c=$c: $bad non-2xx responses"
					[ "$errs" = 0 ] || fail "publish $what $SERVER reuse=$r c=$c: $errs socket errors (timeouts included)"
					if [ $what = fcpush ]; then
						sleep 0.5
						n=$(rows "$ch")
						if [ "$n" -lt "$ok" ] || [ "$n" -gt $((ok + c)) ]; then
							fail "publish $SERVER reuse=$r c=$c: $n rows committed but $ok acknowledged"
						fi
					fi
					log "  $what $SERVER reuse=$r c=$c: $(kv rps "$line") req/s, p99 $(kv p99_us "$line") us, ${bad:-0} non-2xx, $errs socket errors"
				done
				stop_pid "$l"; stop_pid "$w"
				[ $what = fcpush ] && rm -f "$DB" "$DB-wal" "$DB-shm"
			done
		done
	}

	rows() {
		if [ "$STORE" = sqlite ]; then
			sqlite3 "$DB" "SELECT count(*) FROM messages WHERE channel GLOB '$1'"
		else # NATS: the channel's info, through the worker on port $p
			curl -s "http://127.0.0.1:$p/push/channels/$1/info" | sed -n 's/.*"messages":\([0-9]*\).*/\1/p'
		fi
	}

	kv() { # kv KEY LINE: the value of KEY=... in a RESULT/WRK line
		printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p" | head -1
	}

	ticks() { # utime+stime of a process, in clock ticks
		awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"
	}
	busy() { # busy ticks of the whole machine (all CPUs)
		awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat
	}

	run_wrk() { # run_wrk NAME PORT CONNS CHANNEL SERVER_PID LIGHTTPD_PID -> prints the WRK line
		local name=$1 port=$2 c=$3 ch=$4 srv=$5 lt=$6 t=2 s0 l0 b0 line req hz
		[ "$c" = 1 ] && t=1
		s0=$(ticks "$srv"); l0=$(ticks "$lt"); b0=$(busy)
		# The subshell's `times` gives wrk's own CPU (its waited-for children).
		(
			rc=0
			BENCH_TOKENS=${WRK_TOKENS:-} timeout $((SECS + 30)) wrk -t$t -c"$c" -d"${SECS}s" --timeout 10s -s "$ROOT/bench/post.lua" \
				"http://127.0.0.1:$port/push/channels/$ch" >"$RES/r$RUN-wrk-$name-c$c.txt" 2>&1 || rc=$?
			times >"$TMP/wrk.times"
			exit $rc
		) || fail "wrk $name c=$c exited with an error"
		line=$(grep '^WRK ' "$RES/r$RUN-wrk-$name-c$c.txt" || echo "WRK requests=0")
		req=$(kv requests "$line")
		hz=$(getconf CLK_TCK)
		# CPU microseconds per request of the FastCGI app and of lighttpd,
		# and the share of all CPUs busy (clients included) during the run.
		# wrk's CPU: the second line of `times`, "XmY.YYYs XmZ.ZZZs".
		w=$(awk 'NR == 2 { t = 0; for (i = 1; i <= 2; i++) { split($i, a, "m"); t += a[1] * 60 + a[2] } print t }' \
			"$TMP/wrk.times")
		line="$line $(awk -v s=$(( $(ticks "$srv") - s0 )) -v l=$(( $(ticks "$lt") - l0 )) -v w="$w" \
			-v b=$(( $(busy) - b0 )) -v n="${req:-0}" -v hz="$hz" -v secs="$SECS" -v cpus="$(nproc)" \
			'BEGIN { if (n == 0) n = 1
				printf "app_us_per_req=%.1f lighttpd_us_per_req=%.1f wrk_us_per_req=%.1f machine_busy_pct=%.0f other_cpu_pct=%.0f",
				s * 1e6 / hz / n, l * 1e6 / hz / n, w * 1e6 / n, 100 * b / hz / secs / cpus,
				100 * (b / hz - s / hz - l / hz - w) / secs / cpus }')"
		echo "$line" >>"$RES/r$RUN-wrk-$name-c$c.txt"
		echo "$line"
	}

	# ---- machine -------------------------------------------------------------
	{
		echo "date_utc=$(date -u '+%Y-%m-%d %H:%M UTC')"
		echo "nproc=$(nproc)"
		echo "cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
		echo "mem=$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
		echo "kernel=$(uname -sr)"
		echo "lighttpd=$(lighttpd -v 2>&1 | head -1 | awk '{print $1}' | sed 's|^lighttpd/||')"
		echo "sqlite=$(sqlite3 --version | awk '{print $1}')"
		echo "libfcgi=$(dpkg-query -W -f '${Version}' libfcgi0ldbl 2>/dev/null || echo '?')"
		echo "wrk=$(dpkg-query -W -f '${Version}' wrk 2>/dev/null || echo '?')"
		echo "fcpush=$(cd "$ROOT" && git describe --always --dirty 2>/dev/null || echo '?')"
		echo "loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)"
		echo "runs=$RUNS threads=$THREADS seconds=$SECS idle_seconds=$IDLE_SECS lp_msgs=$LP_MSGS durability=$DURABILITY"
		echo "compare_durability=$COMPARE_DURABILITY compare_auth=$COMPARE_AUTH auth_conns=$AUTH_CONNS"
		echo "server=$SERVER reuse=$REUSE publish_only=$PUBLISH_ONLY"
		[ "$SERVER" = apache ] && echo "apache=$(dpkg-query -W -f '${Version}' apache2 2>/dev/null || echo '?')"
	} >"$RES/machine.txt"
	printf 'RUNS=%s\nTHREADS=%s\nSECS=%s\nIDLE_SECS=%s\nLP_MSGS=%s\nQUICK=%s\nCOMPARE_DURABILITY=%s\nPUBLISH_ONLY=%s\nSERVER=%s\nREUSE=%s\nCOMPARE_AUTH=%s\nAUTH_CONNS="%s"\n' \
		"$RUNS" "$THREADS" "$SECS" "$IDLE_SECS" "$LP_MSGS" "$QUICK" "$COMPARE_DURABILITY" "$PUBLISH_ONLY" "$SERVER" "$REUSE" \
		"$COMPARE_AUTH" "$AUTH_CONNS" >"$RES/params"
	echo "STORE=$STORE" >>"$RES/params"
	if [ "$STORE" != sqlite ]; then
		. "$ROOT/tests/nats_lib.sh"
		nats_cluster_start "$TMP/nats" "${STORE#nats}" || die "the NATS cluster did not start"
		NATS_LOC="nats://$NATS_URLS"
		echo "nats=$("$NATS_SERVER" --version 2>&1 | head -1) nodes=${STORE#nats}" >>"$RES/machine.txt"
	fi
	[ "$COMPARE_DURABILITY" = 1 ] && WRITE_DOC=0
	[ "$PUBLISH_ONLY" = 1 ] && WRITE_DOC=0
	[ "$COMPARE_AUTH" = 1 ] && WRITE_DOC=0

	# compare_auth keys and tokens, made once: an HS256 secret and an ES256
	# pair (openssl), each with one token and 4,096 distinct ones.
	if [ "$COMPARE_AUTH" = 1 ]; then
		command -v openssl >/dev/null || die "openssl is missing"
		python3 -c 'import cryptography' 2>/dev/null || die "python3-cryptography is missing (ES256 tokens)"
		K=$TMP/keys
		mkdir -p "$K"
		openssl rand -hex 32 | tr -d '\n' >"$K/hs256.key"
		openssl ecparam -name prime256v1 -genkey -noout -out "$K/es256.pem" 2>/dev/null &&
			openssl ec -in "$K/es256.pem" -pubout -out "$K/es256.pub" 2>/dev/null || die "openssl: no ES256 key"
		for a in hs256 es256; do
			priv=$K/$a.key; [ $a = es256 ] && priv=$K/es256.pem
			python3 "$ROOT/bench/mktokens.py" "${a^^}" "$priv" 4096 "$K/$a-distinct.tokens" ||
				die "mktokens.py $a failed"
			head -n 1 "$K/$a-distinct.tokens" >"$K/$a-same.tokens"
		done
	fi

	# compare_auth: publish req/s at $AUTH_CONNS connections with auth off,
	# HS256 and ES256 (auth = publish), each on a fresh database and worker,
	# the order rotating by run; with tokens, the same token in every request
	# and a different one each time. Every acknowledged publish must be a
	# committed row; a refused one (non-2xx) fails the check.
	compare_auth() {
		local modes=(off hs256 es256) m i c p w l v variants env
		for ((i = 0; i < (RUN - 1) % 3; i++)); do modes=("${modes[@]:1}" "${modes[0]}"); done
		for m in "${modes[@]}"; do
			DB=$S/fcpush-$m.db
			case $m in
			off) env=(FCPUSH_AUTH=off); variants=(off) ;;
			hs256) env=(FCPUSH_AUTH=publish FCPUSH_AUTH_ALGORITHM=HS256 FCPUSH_AUTH_KEY_FILE="$K/hs256.key")
				variants=(same distinct) ;;
			es256) env=(FCPUSH_AUTH=publish FCPUSH_AUTH_ALGORITHM=ES256 FCPUSH_AUTH_KEY_FILE="$K/es256.pub")
				variants=(same distinct) ;;
			esac
			p=$(free_port)
			start_worker "$S/w-$m" "$S/w-$m.sock" "${env[@]}"; w=$LAST_PID
			start_lighttpd "$S/l-$m" "$p" "$S/w-$m.sock"; l=$LAST_PID
			for v in "${variants[@]}"; do
				WRK_TOKENS=$K/hs256-distinct.tokens # auth off: sent, ignored
				[ $m = off ] || WRK_TOKENS=$K/$m-$v.tokens
				for c in $AUTH_CONNS; do
					publish_point "auth.$m.$v.c$c" "auth $m $v c=$c" "$p" "$c" "pub-$m-$v-c$c" "$w" "$l"
				done
			done
			WRK_TOKENS=
			stop_pid "$l"; stop_pid "$w"
			rm -f "$DB" "$DB-wal" "$DB-shm"
		done
	}

	# publish_point KEY LABEL PORT CONNS CHANNEL WORKER_PID LIGHTTPD_PID: one
	# wrk publish measurement of the --compare-* modes; puts KEY.loadavg,
	# .rps, .p50_us, .p99_us and .app_us_per_req. Every acknowledged publish
	# must be a committed row and none refused.
	publish_point() {
		local key=$1 label=$2 p=$3 c=$4 ch=$5 w=$6 l=$7 line n bad ok name
		put "$key.loadavg" "$(cut -d' ' -f1 /proc/loadavg)"
		name=fcpush-${ch#pub-}
		line=$(run_wrk "${name%-c"$c"}" "$p" "$c" "$ch" "$w" "$l")
		sleep 0.5
		n=$(rows "$ch"); bad=$(kv non2xx "$line"); ok=$(( $(kv requests "$line") - ${bad:-0} ))
		put "$key.rps" "$(kv rps "$line")"
		put "$key.p50_us" "$(kv p50_us "$line")"
		put "$key.p99_us" "$(kv p99_us "$line")"
		put "$key.app_us_per_req" "$(kv app_us_per_req "$line")"
		[ "${bad:-0}" = 0 ] || fail "publish $label: $bad non-2xx responses"
		if [ "$n" -lt "$ok" ] || [ "$n" -gt $((ok + c)) ]; then
			fail "publish $label: $n rows committed but $ok acknowledged"
		fi
		log "  $label: $(kv rps "$line") req/s, p99 $(kv p99_us "$line") us," \
			"worker $(kv app_us_per_req "$line") us CPU/req, $ok acknowledged, $n rows"
	}

	# compare_durability: publish req/s at 1, 16, 64 connections with each
	# durability on a fresh database and worker (the order alternates by
	# run, so that a drift in the machine's load favours neither). Every
	# acknowledged publish must be a committed row.
	compare_durability() {
		local d order=(full normal) c p w l
		[ $((RUN % 2)) = 0 ] && order=(normal full)
		for d in "${order[@]}"; do
			DURABILITY=$d
			DB=$S/fcpush-$d.db
			p=$(free_port)
			start_worker "$S/w-$d" "$S/w-$d.sock"; w=$LAST_PID
			start_lighttpd "$S/l-$d" "$p" "$S/w-$d.sock"; l=$LAST_PID
			for c in 1 16 64; do
				publish_point "publish.$d.c$c" "$d c=$c" "$p" "$c" "pub-$d-c$c" "$w" "$l"
			done
			stop_pid "$l"; stop_pid "$w"
			rm -f "$DB" "$DB-wal" "$DB-shm"
		done
		DURABILITY=full
	}
	log "machine: $(tr '\n' ' ' <"$RES/machine.txt")"

	# ---- the runs --------------------------------------------------------------
	for RUN in $(seq "$RUNS"); do
		S=$TMP/run$RUN
		mkdir -p "$S"
		DB=$S/fcpush.db
		log "run $RUN/$RUNS (load $(cut -d' ' -f1 /proc/loadavg))"
		put loadavg "$(cut -d' ' -f1 /proc/loadavg)"
		# Background: how busy both cores are for 2 s with none of ours running.
		b0=$(busy); sleep 2
		put background_busy_pct "$(awk -v b=$(( $(busy) - b0 )) -v hz="$(getconf CLK_TCK)" -v cpus="$(nproc)" \
			'BEGIN { printf "%.0f", 100 * b / hz / 2 / cpus }')"
		log "  background load: $(awk -F'\t' -v r="$RUN" '$1 == r && $2 == "background_busy_pct" {print $3}' "$DATA") % of both cores"
		if [ "$COMPARE_DURABILITY" = 1 ]; then
			compare_durability
			continue
		fi
		if [ "$PUBLISH_ONLY" = 1 ]; then
			publish_only
			continue
		fi
		if [ "$COMPARE_AUTH" = 1 ]; then
			compare_auth
			continue
		fi

		# 1. Ceiling: lighttpd -> trivial responder.
		PT=$(free_port)
		start_trivial "$S/trivial" "$S/trivial.sock"; TRIV=$LAST_PID
		start_lighttpd "$S/lt" "$PT" "$S/trivial.sock"; LT=$LAST_PID
		for c in 1 16 64; do
			line=$(run_wrk ceiling "$PT" $c ceiling "$TRIV" "$LT")
			put "publish.ceiling.c$c.rps" "$(kv rps "$line")"
			for k in app_us_per_req lighttpd_us_per_req wrk_us_per_req machine_busy_pct other_cpu_pct; do
				put "publish.ceiling.c$c.$k" "$(kv $k "$line")"
			done
			put "publish.ceiling.c$c.p99_us" "$(kv p99_us "$line")"
			log "  ceiling c=$c: $(kv rps "$line") req/s"
		done
		stop_pid "$LT"; stop_pid "$TRIV"

		# 2. fcpush worker behind lighttpd, fresh database.
		P1=$(free_port)
		start_worker "$S/w1" "$S/w1.sock"; W1=$LAST_PID
		start_lighttpd "$S/l1" "$P1" "$S/w1.sock"; L1=$LAST_PID

		# 2a. Idle: park 1,000 long polls on a fresh worker, measure CPU and RSS.
		line=$(timeout $((IDLE_SECS + 60)) "$BIN/lpbench" --port "$P1" --channel idle --subs 1000 --wait 90 \
			--idle "$IDLE_SECS" --pid "worker=$W1" --pid "lighttpd=$L1" 2>>"$RES/r$RUN-lpbench.err") ||
			fail "idle: lpbench failed: $line"
		echo "$line" >>"$RES/r$RUN-idle.txt"
		[ "$(kv lost "$line")" = 0 ] && [ "$(kv unexpected "$line")" = 0 ] ||
			fail "idle: a parked long poll was answered early or not released ($line)"
		for k in worker_cpu_s worker_cpu_pct worker_rss0_kb worker_rss1_kb worker_kb_per_parked \
			lighttpd_cpu_s lighttpd_cpu_pct lighttpd_rss0_kb lighttpd_rss1_kb lighttpd_kb_per_parked seconds; do
			put "idle.$k" "$(kv $k "$line")"
		done
		log "  idle: worker $(kv worker_cpu_s "$line") s CPU in $(kv seconds "$line") s," \
			"$(kv worker_kb_per_parked "$line") KB/parked; lighttpd $(kv lighttpd_kb_per_parked "$line") KB/parked"
		# The idle subscribers are gone (lpbench exited); let the worker notice.
		sleep 1

		# 2b. Publish throughput; every 2xx must be a committed row.
		for c in 1 16 64; do
			ch=pub-c$c
			line=$(run_wrk fcpush "$P1" $c $ch "$W1" "$L1")
			for k in app_us_per_req lighttpd_us_per_req wrk_us_per_req machine_busy_pct other_cpu_pct; do
				put "publish.fcpush.c$c.$k" "$(kv $k "$line")"
			done
			sleep 0.5
			n=$(rows "$ch")
			req=$(kv requests "$line"); bad=$(kv non2xx "$line")
			errs=0
			for k in connect read write timeout; do v=$(kv $k "$line"); errs=$((errs + ${v:-0})); done
			bad=${bad:-0}; req=${req:-0}
			ok=$((req - bad))
			put "publish.fcpush.c$c.rps" "$(kv rps "$line")"
			put "publish.fcpush.c$c.p99_us" "$(kv p99_us "$line")"
			put "publish.fcpush.c$c.acked" "$ok"
			put "publish.fcpush.c$c.rows" "$n"
			put "publish.fcpush.c$c.non2xx" "$bad"
			[ "$bad" = 0 ] || fail "publish c=$c: $bad non-2xx responses"
			[ "$errs" = 0 ] || fail "publish c=$c: $errs socket errors"
			# Requests still in flight when wrk stops may commit without being
			# counted: at most one per connection.
			if [ "$n" -lt "$ok" ] || [ "$n" -gt $((ok + c)) ]; then
				fail "publish c=$c: $n rows committed but $ok acknowledged"
			fi
			log "  fcpush c=$c: $(kv rps "$line") req/s, $ok acknowledged, $n rows"
		done

		# 2c. Batch publish: arrays of 1,000, sequential and 4 at a time.
		for c in 1 4; do
			line=$(timeout $((SECS + 60)) "$BIN/batch" --port "$P1" --channel "batch-c$c" --conns $c --size 1000 \
				--seconds "$SECS" 2>>"$RES/r$RUN-batch.err") || fail "batch c=$c failed: $line"
			n=$(rows "batch-c$c-*")
			put "batch.c$c.msg_per_s" "$(kv msg_per_s "$line")"
			put "batch.c$c.messages" "$(kv messages "$line")"
			put "batch.c$c.rows" "$n"
			[ "$n" = "$(kv messages "$line")" ] || fail "batch c=$c: $n rows but $(kv messages "$line") acknowledged"
			log "  batch c=$c: $(kv msg_per_s "$line") msg/s ($n rows)"
		done

		# 3. Long-poll wake latency, publishing through the same worker.
		lp() { # lp LABEL SUBS PUBPORT
			local line
			line=$(timeout 300 "$BIN/lpbench" --port "$P1" --pub-port "$3" --channel "lp-$1-$2" --subs "$2" \
				--msgs "$LP_MSGS" --wait 25 --label "$1" --raw "$RES/r$RUN-lp-$1-$2.ns" \
				2>>"$RES/r$RUN-lpbench.err") || fail "lp $1 $2: lpbench failed: $line"
			echo "$line" >>"$RES/r$RUN-lp.txt"
			for k in p50_us p99_us max_us first_p50_us first_p99_us last_p50_us last_p99_us pub_p50_us pub_p99_us lost dups timeouts samples; do
				put "lp.$1.k$2.$k" "$(kv $k "$line")"
			done
			[ "$(kv lost "$line")" = 0 ] || fail "lp $1 $2: $(kv lost "$line") messages lost"
			log "  long poll $1 K=$2: p50 $(kv p50_us "$line") us, p99 $(kv p99_us "$line") us," \
				"lost $(kv lost "$line")"
		}
		lp same 100 "$P1"
		lp same 1000 "$P1"

		# 4. Cross-process: publish through a second worker on the same database.
		P2=$(free_port)
		start_worker "$S/w2" "$S/w2.sock"; W2=$LAST_PID
		start_lighttpd "$S/l2" "$P2" "$S/w2.sock"; L2=$LAST_PID
		lp cross 100 "$P2"
		lp cross 1000 "$P2"

		# Keep the databases' final counts with the raw numbers.
		"$CLI" --database "$DB" stats >"$RES/r$RUN-stats.json" 2>&1 || true
		stop_pid "$L2"; stop_pid "$W2"; stop_pid "$L1"; stop_pid "$W1"
		for f in "$S"/*/worker.log; do
			if [ -s "$f" ]; then cp "$f" "$RES/r$RUN-$(basename "$(dirname "$f")")-worker.log"; fi
		done
		rm -f "$DB" "$DB-wal" "$DB-shm"
	done
	FAILURES=0; [ -f "$RES/failures.txt" ] && FAILURES=$(wc -l <"$RES/failures.txt")
	log "runs done; $FAILURES failed checks"

else
	# --report DIR: summarize saved numbers again.
	RES=$(cd "$REPORT_DIR" && pwd)
	STAMP=$(basename "$RES")
	DATA=$RES/data.tsv
	# shellcheck source=/dev/null
	. "$RES/params"
	FAILURES=0; [ -f "$RES/failures.txt" ] && FAILURES=$(wc -l <"$RES/failures.txt")
fi

# ---- summary -------------------------------------------------------------
# Median of a key over the runs (lower middle for an even count).
med() { awk -F'\t' -v k="$1" '$2 == k && $3 != "" {v[n++] = $3} END {
	if (n == 0) { print "-"; exit }
	for (i = 0; i < n; i++) for (j = i + 1; j < n; j++) if (v[j] + 0 < v[i] + 0) { t = v[i]; v[i] = v[j]; v[j] = t }
	print v[int((n - 1) / 2)] }' "$DATA"; }
# All values of a key, comma-separated (the spread behind a median).
all() { awk -F'\t' -v k="$1" '$2 == k {printf "%s%s", (n++ ? ", " : ""), $3} END {print ""}' "$DATA"; }
fmt() { # a whole number with thousands separators
	awk -v x="$1" 'BEGIN { if (x == "-" || x == "") { print "-"; exit }
		s = sprintf("%.0f", x); o = ""
		while (length(s) > 3) { o = "," substr(s, length(s) - 2) o; s = substr(s, 1, length(s) - 3) }
		print s o }'; }
ms() { awk -v x="$1" 'BEGIN { if (x == "-" || x == "") print "-"; else printf "%.2f", x / 1000 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "-"; else printf "%.0f %%", 100 * a / b }'; }
verdict() { awk -v x="$1" -v t="$2" -v op="$3" 'BEGIN { if (x == "-" || x == "") { print "no data"; exit }
	x = x + 0; t = t + 0;
	ok = (op == ">=") ? (x >= t) : (x <= t); print ok ? "met" : "**missed**" }'; }
mach() { sed -n "s/^$1=//p" "$RES/machine.txt"; }

SUM=$RES/summary.md
if [ "${PUBLISH_ONLY:-0}" = 1 ]; then
	{
		echo "Run $(mach date_utc): $RUNS run(s) of publish only behind ${SERVER:-lighttpd}, store $(sed -n 's/^STORE=//p' "$RES/params" 2>/dev/null || echo sqlite), durability $(mach runs | sed 's/.*durability=//'), medians"
		echo "(every value in \`bench/results/$STAMP/data.tsv\`). Machine: $(mach nproc) vCPU $(mach cpu), $(mach kernel);"
		echo "fcpush $(mach fcpush), $THREADS request threads, wrk ${SECS} s per cell. Load average at start: $(mach loadavg_start);"
		echo "background load (both cores busy with other work, 2 s before each run): $(all background_busy_pct | sed 's/\([0-9]\+\)/\1 %/g')."
		echo
		echo "| server | FastCGI connection reuse | concurrency | fcpush req/s | ceiling req/s | fcpush / ceiling | fcpush p99 | load avg at each cell (fcpush) |"
		echo "|---|---|---|---|---|---|---|---|"
		for r in off on; do
			grep -q "publish.fcpush.$r.c1.rps" "$DATA" || continue
			for c in 1 16 64; do
				f=$(med publish.fcpush.$r.c$c.rps); t=$(med publish.ceiling.$r.c$c.rps)
				echo "| ${SERVER:-lighttpd} | $r | $c | $(fmt "$f") | $(fmt "$t") | $(ratio "$f" "$t") | $(ms "$(med publish.fcpush.$r.c$c.p99_us)") ms | $(all publish.fcpush.$r.c$c.loadavg) |"
			done
		done
		if [ "$FAILURES" -gt 0 ]; then
			echo
			echo "**$FAILURES check(s) failed:**"
			sed 's/^/- /' "$RES/failures.txt"
		fi
	} >"$SUM"
	cat "$SUM"
	exit 0
fi
# compare_head WHAT, compare_tail: the opening and closing lines of a
# --compare-* summary.
compare_head() {
	echo "Run $(mach date_utc): $RUNS run(s) of publish only, $1, medians shown"
	echo "(every value in \`bench/results/$STAMP/data.tsv\`). Machine: $(mach nproc) vCPU $(mach cpu),"
	echo "$(mach kernel), lighttpd $(mach lighttpd), SQLite $(mach sqlite); fcpush $(mach fcpush), $THREADS request"
	echo "threads, wrk ${SECS} s per cell. Load average at start: $(mach loadavg_start); background load"
	echo "(both cores busy with other work, 2 s before each run): $(all background_busy_pct | sed 's/\([0-9]\+\)/\1 %/g')."
}
compare_tail() {
	if [ "$FAILURES" -gt 0 ]; then
		echo
		echo "**$FAILURES check(s) failed:**"
		sed 's/^/- /' "$RES/failures.txt"
	fi
}

if [ "${COMPARE_AUTH:-0}" = 1 ]; then
	{
		compare_head "access control off / HS256 / ES256"
		echo
		echo "| concurrency | tokens | req/s | of auth off | p50 | p99 | worker CPU µs/req | req/s of each run | load avg |"
		echo "|---|---|---|---|---|---|---|---|---|"
		for c in $AUTH_CONNS; do
			o=$(med auth.off.off.c$c.rps)
			for mv in off.off hs256.same hs256.distinct es256.same es256.distinct; do
				r=$(med auth.$mv.c$c.rps)
				echo "| $c | $mv | $(fmt "$r") | $(ratio "$r" "$o") | $(ms "$(med auth.$mv.c$c.p50_us)") ms |" \
					"$(ms "$(med auth.$mv.c$c.p99_us)") ms | $(med auth.$mv.c$c.app_us_per_req) |" \
					"$(all auth.$mv.c$c.rps) | $(all auth.$mv.c$c.loadavg) |"
			done
		done
		compare_tail
	} >"$SUM"
	cat "$SUM"
	exit 0
fi
if [ "${COMPARE_DURABILITY:-0}" = 1 ]; then
	{
		compare_head "durability full vs normal"
		echo
		echo "| concurrency | full req/s | normal req/s | full / normal | full p99 | normal p99 | load avg (full / normal) |"
		echo "|---|---|---|---|---|---|---|"
		for c in 1 16 64; do
			f=$(med publish.full.c$c.rps); n=$(med publish.normal.c$c.rps)
			echo "| $c | $(fmt "$f") | $(fmt "$n") | $(ratio "$f" "$n") | $(ms "$(med publish.full.c$c.p99_us)") ms |" \
				"$(ms "$(med publish.normal.c$c.p99_us)") ms | $(all publish.full.c$c.loadavg) / $(all publish.normal.c$c.loadavg) |"
		done
		compare_tail
	} >"$SUM"
	cat "$SUM"
	exit 0
fi
{
	echo "Run $(mach date_utc): $RUNS run(s), medians shown (every run's value is in"
	echo "\`bench/results/$STAMP/data.tsv\`). Machine: $(mach nproc) vCPU $(mach cpu), $(mach mem),"
	echo "$(mach kernel), lighttpd $(mach lighttpd), SQLite $(mach sqlite), libfcgi $(mach libfcgi), wrk $(mach wrk);"
	echo "fcpush $(mach fcpush), $THREADS request threads. Load average at start: $(mach loadavg_start)."
	echo "Background load (both cores busy with other work, 2 s before each run; per run):"
	echo "$(all background_busy_pct | sed 's/\([0-9]\+\)/\1 %/g')."
	[ $QUICK = 1 ] && echo "**Quick run** (\`--quick\`): one run, ${IDLE_SECS} s idle window; indicative only."
	if [ "$FAILURES" -gt 0 ]; then
		echo
		echo "**$FAILURES check(s) failed:**"
		sed 's/^/- /' "$RES/failures.txt"
	fi
	echo
	echo "**Publish** (POST one small message per request, wrk, ${SECS} s per cell; req/s):"
	echo
	echo "| concurrency | fcpush req/s | ceiling req/s | fcpush / ceiling | target | fcpush p99 | rows = 2xx |"
	echo "|---:|---:|---:|---:|---|---:|---|"
	for c in 1 16 64; do
		f=$(med publish.fcpush.c$c.rps); t=$(med publish.ceiling.c$c.rps)
		r=$(ratio "$f" "$t")
		okrows=yes
		if awk -F'\t' -v c="$c" '$2 == "publish.fcpush.c" c ".non2xx" && $3 != 0 {bad = 1} END {exit !bad}' "$DATA"; then
			okrows="**non-2xx seen**"
		fi
		grep -q "publish c=$c:" "$RES/failures.txt" 2>/dev/null && okrows="**no** (see failures)"
		echo "| $c | $(fmt "$f") | $(fmt "$t") | $r | ≥ 80 % ($(verdict "${r% %}" 80 '>=')) | $(ms "$(med publish.fcpush.c$c.p99_us)") ms | $okrows |"
	done
	echo
	echo "CPU per answered request (utime+stime from /proc/PID/stat around each wrk run, wrk's from the"
	echo "shell's \`times\`), how busy both cores were, and how much of that was none of the three (other"
	echo "work on the machine):"
	echo
	echo "| concurrency | fcpush.fcgi µs/req | trivial responder µs/req | lighttpd µs/req (fcpush / ceiling) | wrk µs/req (fcpush / ceiling) | both cores busy (fcpush / ceiling) | of which other processes (fcpush / ceiling) |"
	echo "|---:|---:|---:|---:|---:|---:|---:|"
	for c in 1 16 64; do
		echo "| $c | $(med publish.fcpush.c$c.app_us_per_req) | $(med publish.ceiling.c$c.app_us_per_req) |" \
			"$(med publish.fcpush.c$c.lighttpd_us_per_req) / $(med publish.ceiling.c$c.lighttpd_us_per_req) |" \
			"$(med publish.fcpush.c$c.wrk_us_per_req) / $(med publish.ceiling.c$c.wrk_us_per_req) |" \
			"$(med publish.fcpush.c$c.machine_busy_pct) % / $(med publish.ceiling.c$c.machine_busy_pct) % |" \
			"$(med publish.fcpush.c$c.other_cpu_pct) % / $(med publish.ceiling.c$c.other_cpu_pct) % |"
	done
	echo
	echo "**Batch publish** (POST /push/publish, arrays of 1,000 small messages, ${SECS} s; committed messages/s):"
	echo
	echo "| clients | messages/s | target | rows = acknowledged |"
	echo "|---:|---:|---|---|"
	for c in 1 4; do
		m=$(med batch.c$c.msg_per_s)
		okrows=yes; grep -q "batch c=$c" "$RES/failures.txt" 2>/dev/null && okrows="**no** (see failures)"
		echo "| $c | $(fmt "$m") | ≥ 150,000 ($(verdict "$m" 150000 '>=')) | $okrows |"
	done
	echo
	echo "**Long-poll wake** (publish → each parked long poll's response, through lighttpd; $LP_MSGS messages"
	echo "one at a time, K subscribers on one channel; ms):"
	echo
	echo "| publish via | K | first subscriber p50 / p99 | all subscribers p50 / p99 / max | last subscriber p50 / p99 | publish answered p50 | lost | p99 ≤ 5 ms: first / all |"
	echo "|---|---:|---:|---:|---:|---:|---:|---|"
	for mode in same cross; do
		for k in 100 1000; do
			p=lp.$mode.k$k
			lostsum=$(awk -F'\t' -v k="$p.lost" '$2 == k {s += $3} END {print s + 0}' "$DATA")
			label="same worker"; [ $mode = cross ] && label="other worker (cross-process)"
			echo "| $label | $(fmt $k) | $(ms "$(med $p.first_p50_us)") / $(ms "$(med $p.first_p99_us)") |" \
				"$(ms "$(med $p.p50_us)") / $(ms "$(med $p.p99_us)") / $(ms "$(med $p.max_us)") |" \
				"$(ms "$(med $p.last_p50_us)") / $(ms "$(med $p.last_p99_us)") | $(ms "$(med $p.pub_p50_us)") | $lostsum |" \
				"$(verdict "$(med $p.first_p99_us)" 5000 '<=') / $(verdict "$(med $p.p99_us)" 5000 '<=') |"
		done
	done
	echo
	echo "The 5 ms target is set for the cross-process rows; same-worker rows are shown against it for scale."
	echo
	echo "**Idle** (1,000 parked long polls, no traffic, ${IDLE_SECS} s):"
	echo
	echo "| process | CPU seconds | CPU % of one core | RSS before → with 1,000 parked | per parked long poll |"
	echo "|---|---:|---:|---:|---:|"
	for p in worker lighttpd; do
		echo "| $p | $(med idle.${p}_cpu_s) | $(med idle.${p}_cpu_pct) | $(fmt "$(med idle.${p}_rss0_kb)") KB →" \
			"$(fmt "$(med idle.${p}_rss1_kb)") KB | $(med idle.${p}_kb_per_parked) KB |"
	done
	echo
	echo "Targets: idle CPU ~0 (worker: $(verdict "$(med idle.worker_cpu_pct)" 0.1 '<=') at ≤ 0.1 %);"
	echo "worker RSS per held subscriber ≤ 8 KB ($(verdict "$(med idle.worker_kb_per_parked)" 8 '<='))."
} >"$SUM"

if [ $WRITE_DOC = 1 ]; then
	DOC=$ROOT/docs/BENCHMARKS.md
	BEGIN='<!-- bench:results:begin (written by bench/run.sh; edit outside the markers) -->'
	END='<!-- bench:results:end -->'
	[ -f "$DOC" ] || printf '# Benchmarks\n\n' >"$DOC"
	if ! grep -qF 'bench:results:begin' "$DOC"; then
		printf '\n%s\n%s\n' "$BEGIN" "$END" >>"$DOC"
	fi
	awk -v sum="$SUM" -v b="$BEGIN" -v e="$END" '
		index($0, "bench:results:begin") { print b; while ((getline l < sum) > 0) print l; skip = 1; next }
		index($0, "bench:results:end") { skip = 0; print e; next }
		!skip { print }' "$DOC" >"$DOC.tmp" && mv "$DOC.tmp" "$DOC"
	log "wrote the results into docs/BENCHMARKS.md"
fi
cat "$SUM"
log "raw numbers: $RES"
[ "$FAILURES" = 0 ]
