# SPDX-License-Identifier: MIT
# Shared helpers for the integration tests (tests/integration/t_*.sh), sourced
# by each of them. A test file calls fcpush_setup (fresh database, worker and
# web server in a private temp dir), then run_case for each case, then
# finish. Everything started is stopped by an EXIT trap; every wait is a
# bounded loop on a condition.
#
# Environment (set by `make check`, see TESTS_ENVIRONMENT in Makefile.am):
#   FCPUSH_SRCDIR FCPUSH_BUILDDIR   source and build trees
#   SERVER                          lighttpd or apache (set by run.sh)
#   LIGHTTPD APACHE2 CURL SQLITE3   programs (looked up in PATH when empty)
#   FCPUSH_TEST_LOG_LEVEL           the worker's log_level (default info)
#   FCPUSH_TEST_KEEP=1              keep the temp dir for inspection
#   FCPUSH_TEST_STORE=nats          run against the NATS JetStream backend: a
#                                   local cluster of FCPUSH_TEST_NATS_NODES
#                                   (default 1) nats-server nodes in $T/nats
#                                   (tests/nats_lib.sh); cases that read or
#                                   write the SQLite file call sqlite_only
#
# Exported by fcpush_setup: T (temp dir), DB, SOCKET, PORT, BASE_URL, PUSH
# (BASE_URL/push), WSSOCKET (where the server proxies /push/ws/: start_ws
# starts fcpush-ws there).

: "${FCPUSH_SRCDIR:?FCPUSH_SRCDIR must name the source tree}"
: "${FCPUSH_BUILDDIR:?FCPUSH_BUILDDIR must name the build tree}"
SERVER=${SERVER:-lighttpd}
TEST_NAME=$(basename "${0%.sh}")
[ -n "${CURL:-}" ] || CURL=$(command -v curl)
[ -n "${SQLITE3:-}" ] || SQLITE3=$(command -v sqlite3)
JQ=${JQ:-jq}
FCPUSH="$FCPUSH_BUILDDIR/fcpush"
FCPUSH_FCGI="$FCPUSH_BUILDDIR/fcpush.fcgi"
FCPUSH_WS="$FCPUSH_BUILDDIR/fcpush-ws"

# Sanitizer reports must not be lost: ASan and UBSan abort on the first error
# (configure uses -fno-sanitize-recover) and LeakSanitizer runs at exit.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}

# A thousand parked long polls need a thousand descriptors in curl and in the
# worker (both inherit this shell's limit). Root may raise the hard limit.
fd_hard=$(ulimit -Hn)
if [ "$fd_hard" != unlimited ] && [ "$fd_hard" -lt 65536 ]; then
	ulimit -Hn 65536 2>/dev/null && fd_hard=65536
fi
if [ "$fd_hard" = unlimited ] || [ "$fd_hard" -gt 65536 ]; then
	fd_hard=65536
fi
ulimit -n "$fd_hard" 2>/dev/null || true
unset fd_hard

# The temp dir must be traversable by Apache's www-data (it connects to the
# socket inside it and serves the copy of www/ there).
T=$(mktemp -d "${TMPDIR:-/tmp}/fcpush-$TEST_NAME.XXXXXX") || exit 99
chmod 755 "$T"
export T

CASES_PASSED=0
CASES_FAILED=0
SERVER_PID=
TORN_DOWN=0

# ---- small utilities -------------------------------------------------------

# log MESSAGE: diagnostic on stderr (lands in the test's .log).
log() {
	printf '# %s\n' "$*" >&2
}

# now_ms: wall clock in milliseconds.
now_ms() {
	date +%s%3N
}

# wait_until SECONDS DESCRIPTION COMMAND...: run COMMAND until it succeeds,
# at most SECONDS. Returns 1 (with a message) on timeout, or at once when
# COMMAND returns 2 (it will never succeed: the process waited for died).
wait_until() {
	local limit=$1 what=$2 deadline rc
	shift 2
	deadline=$(($(now_ms) + limit * 1000))
	while true; do
		"$@"
		rc=$?
		[ "$rc" = 0 ] && break
		if [ "$rc" = 2 ]; then
			log "gave up waiting for $what"
			return 1
		fi
		if [ "$(now_ms)" -ge "$deadline" ]; then
			log "timed out after ${limit}s waiting for $what"
			return 1
		fi
		sleep 0.02
	done
	return 0
}

# free_port: print a TCP port on 127.0.0.1 that nothing listens on now,
# below Linux's ephemeral range (32768-60999), where the local ends of
# outgoing connections would make bind() fail although nothing listens.
# Callers retry on EADDRINUSE (another process may take it meanwhile).
free_port() {
	local p i
	for i in $(seq 1 100); do
		p=$((20000 + RANDOM % 12000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

# find_prog NAME VALUE: VALUE when set, else NAME from PATH, /usr/sbin, /sbin.
find_prog() {
	local name=$1 value=${2:-} d
	if [ -n "$value" ]; then
		echo "$value"
		return 0
	fi
	command -v "$name" 2>/dev/null && return 0
	for d in /usr/sbin /sbin /usr/local/sbin; do
		if [ -x "$d/$name" ]; then
			echo "$d/$name"
			return 0
		fi
	done
	return 1
}

# unique_channel PREFIX: a channel name no other case uses.
unique_channel() {
	echo "$1-$$-$RANDOM$RANDOM"
}

# ---- worker ---------------------------------------------------------------

# put_status FILE STATUS: write an exit status for a waiter that tests
# `-e FILE`: written aside and renamed, so FILE never exists empty (a plain
# `echo $? >FILE` creates it before writing, and a reader racing it saw "").
put_status() {
	echo "$2" >"$1.tmp" && mv "$1.tmp" "$1"
}

# start_daemon NAME WHAT ADDRESS READY BIN [FCPUSH_KEY=VALUE | --FLAG...]: start
# BIN (fcpush.fcgi or fcpush-ws; WHAT names it in messages) with database $DB,
# log level $FCPUSH_TEST_LOG_LEVEL and the settings given (words starting
# with -- are BIN's arguments instead, e.g. --supervise), then wait
# (bounded) until `READY NAME ADDRESS` succeeds. Its stderr goes to
# $T/NAME.err, its pid to $T/NAME.pid and, once it has exited, its exit
# status to $T/NAME.rc (a wrapper subshell waits for it, so any subshell can
# stop it and learn how it ended); stop_worker, forget_worker and
# teardown's exit check apply to it.
start_daemon() {
	local name=$1 what=$2 addr=$3 ready=$4 bin=$5 pid a settings=() args=()
	shift 5
	for a in "$@"; do
		case $a in --*) args+=("$a") ;; *) settings+=("$a") ;; esac
	done
	rm -f "$T/$name.pid" "$T/$name.rc"
	(
		env FCPUSH_DATABASE="$DB" FCPUSH_LISTEN_MODE=0666 \
			FCPUSH_LOG_LEVEL="${FCPUSH_TEST_LOG_LEVEL:-info}" "${settings[@]}" \
			"$bin" "${args[@]}" </dev/null >>"$T/$name.err" 2>&1 &
		echo $! >"$T/$name.pid.tmp"
		mv "$T/$name.pid.tmp" "$T/$name.pid"
		wait $!
		put_status "$T/$name.rc" $?
	) &
	# Kept in a file, not a variable, so that daemons started inside a case
	# (a subshell) are stopped and checked at teardown too, and the case's
	# clean-up leaves their wrapper alone.
	echo $! >"$T/$name.wrapper"
	grep -qx "$name" "$T/workers.list" 2>/dev/null || echo "$name" >>"$T/workers.list"
	wait_until 10 "$what $name to start" test -s "$T/$name.pid" || return 1
	pid=$(cat "$T/$name.pid")
	if ! wait_until 20 "$what $name on $addr" "$ready" "$name" "$addr"; then
		log "$what $name did not come up; its stderr:"
		sed 's/^/#   /' "$T/$name.err" >&2
		return 1
	fi
	log "$what $name pid $pid on $addr"
}

# start_worker NAME SOCKET [FCPUSH_KEY=VALUE | --FLAG...]: start fcpush.fcgi
# on the unix socket SOCKET (start_daemon), ready once the socket exists.
# With --supervise the pid is the supervisor's (its child: supervised_child).
start_worker() {
	local name=$1 sock=$2
	shift 2
	rm -f "$sock"
	start_daemon "$name" worker "$sock" worker_ready "$FCPUSH_FCGI" FCPUSH_LISTEN="$sock" "$@"
}

# worker_ready NAME SOCKET: 0 when the socket exists, 2 when the worker
# already exited (no use waiting), else 1.
worker_ready() {
	[ -S "$2" ] && return 0
	if [ -e "$T/$1.rc" ]; then
		log "worker $1 exited with status $(cat "$T/$1.rc")"
		return 2
	fi
	return 1
}

# forget_worker NAME: teardown no longer stops or checks NAME (a worker a
# case killed on purpose, e.g. with SIGKILL).
forget_worker() {
	[ -f "$T/workers.list" ] || return 0
	grep -vx -- "$1" "$T/workers.list" >"$T/workers.list.tmp"
	mv "$T/workers.list.tmp" "$T/workers.list"
}

# start_ws NAME [FCPUSH_KEY=VALUE | --FLAG...]: start fcpush-ws on $WS_LISTEN (its
# ws_listen: $WSSOCKET, the unix socket the server proxies /push/ws/ to,
# unless a test sets host:port) like a worker (start_daemon), ready once it
# answers there.
start_ws() {
	local name=$1
	shift
	start_daemon "$name" fcpush-ws "$WS_LISTEN" ws_ready "$FCPUSH_WS" FCPUSH_WS_LISTEN="$WS_LISTEN" "$@"
}

# ws_ready NAME ADDRESS: 0 when fcpush-ws answers HTTP on ADDRESS (a unix
# socket path or host:port; it answers plain HTTP with 426), 2 when the
# daemon already exited, else 1.
ws_ready() {
	[ -e "$T/$1.rc" ] && { log "fcpush-ws $1 exited with status $(cat "$T/$1.rc")"; return 2; }
	case $2 in
	/*) curl -s -o /dev/null --max-time 2 --unix-socket "$2" http://localhost/ ;;
	*) curl -s -o /dev/null --max-time 2 "http://$2/" ;;
	esac
}

# worker_pid NAME
worker_pid() {
	cat "$T/$1.pid" 2>/dev/null
}

# supervised_child NAME: the pid of the process a daemon started with
# --supervise runs now (its only child); empty while it has none.
supervised_child() {
	local pid
	pid=$(worker_pid "$1") || return 0
	[ -n "$pid" ] && cat "/proc/$pid/task/$pid/children" 2>/dev/null | awk '{ print $1 }'
}

# stop_worker NAME: SIGTERM, wait (bounded) for it to exit, then check that it
# exited 0 and that its stderr holds no sanitizer report. Returns 1 with a
# message otherwise. Safe to call twice.
stop_worker() {
	local name=$1 pid rc
	pid=$(worker_pid "$name") || return 0
	[ -n "$pid" ] || return 0
	if [ ! -e "$T/$name.rc" ]; then
		kill -TERM "$pid" 2>/dev/null
		if ! wait_until 20 "worker $name to exit after SIGTERM" test -e "$T/$name.rc"; then
			# Where it hangs, when gdb is at hand (it is not required).
			command -v gdb >/dev/null 2>&1 &&
				timeout 30 gdb -batch -p "$pid" -ex 'thread apply all bt' 2>&1 | grep -E '^(Thread|#)' | head -n 80
			kill -KILL "$pid" 2>/dev/null
			wait_until 5 "worker $name to die" test -e "$T/$name.rc"
			echo "worker $name ignored SIGTERM for 20 s (killed)"
			return 1
		fi
	fi
	check_worker_exit "$name"
}

# check_worker_exit NAME: the worker has exited; 0 when it exited 0 with no
# sanitizer report, else 1 with a message on stdout.
check_worker_exit() {
	local name=$1 rc
	rc=$(cat "$T/$name.rc" 2>/dev/null)
	if grep -q -e 'ERROR: AddressSanitizer' -e 'runtime error:' -e 'LeakSanitizer' \
		"$T/$name.err" 2>/dev/null; then
		echo "sanitizer report in worker $name's stderr (exit status $rc)"
		return 1
	fi
	if [ "$rc" != 0 ]; then
		echo "worker $name exited with status $rc, expected 0"
		return 1
	fi
	return 0
}

# ---- web servers ----------------------------------------------------------

# render_conf TEMPLATE OUT: substitute the @...@ placeholders of conf/*.in.
render_conf() {
	sed -e "s|@PORT@|$PORT|g" -e "s|@WSSOCKET@|$WSSOCKET|g" -e "s|@STATE@|$T|g" -e "s|@SOCKET@|$SOCKET|g" \
		-e "s|@WWW@|$T/www|g" -e "s|@MODULES@|${APACHE_MODULES:-/usr/lib/apache2/modules}|g" \
		"$1" >"$2"
}

# server_answers: the server on $PORT answers HTTP and is still ours.
server_answers() {
	kill -0 "$SERVER_PID" 2>/dev/null || return 2
	"$CURL" -s -o /dev/null --max-time 1 "http://127.0.0.1:$PORT/" 2>/dev/null
}

# start_server: start $SERVER (lighttpd or apache) on a free port from the
# rendered conf/ template and wait until it answers. Retries on a port taken
# meanwhile. Sets PORT, BASE_URL, PUSH, SERVER_PID, SERVER_LOG. When
# SERVER_CONF_EXTRA names a file, it is rendered the same way and appended
# to the config (t_lockdown.sh adds conf/*-lockdown.conf.in so).
start_server() {
	local bin try conf
	case $SERVER in
	lighttpd)
		bin=$(find_prog lighttpd "${LIGHTTPD:-}") || { log "lighttpd not found"; return 1; }
		SERVER_LOG="$T/lighttpd-error.log"
		;;
	apache)
		bin=$(find_prog apache2 "${APACHE2:-}") || { log "apache2 not found"; return 1; }
		SERVER_LOG="$T/apache-error.log"
		;;
	*)
		log "unknown SERVER '$SERVER'"
		return 1
		;;
	esac
	for try in 1 2 3 4 5; do
		PORT=$(free_port) || return 1
		conf="$T/$SERVER.conf"
		render_conf "$FCPUSH_SRCDIR/conf/$SERVER.conf.in" "$conf"
		if [ -n "${SERVER_CONF_EXTRA:-}" ]; then
			render_conf "$SERVER_CONF_EXTRA" "$conf.extra" && cat "$conf.extra" >>"$conf"
		fi
		if [ "$SERVER" = lighttpd ]; then
			"$bin" -D -f "$conf" </dev/null >>"$T/server.out" 2>&1 &
		else
			"$bin" -f "$conf" -DFOREGROUND </dev/null >>"$T/server.out" 2>&1 &
		fi
		SERVER_PID=$!
		if wait_until 20 "$SERVER on port $PORT" server_answers; then
			BASE_URL="http://127.0.0.1:$PORT"
			PUSH="$BASE_URL/push"
			export PORT BASE_URL PUSH
			log "$SERVER pid $SERVER_PID on $BASE_URL"
			return 0
		fi
		kill -TERM "$SERVER_PID" 2>/dev/null
		wait "$SERVER_PID" 2>/dev/null
		SERVER_PID=
		if ! grep -qi 'address already in use' "$T/server.out" "$SERVER_LOG" 2>/dev/null; then
			log "$SERVER did not start:"
			cat "$T/server.out" "$SERVER_LOG" 2>/dev/null | sed 's/^/#   /' >&2
			return 1
		fi
		: >"$T/server.out"
	done
	return 1
}

# stop_server: SIGTERM the web server and wait for it (bounded).
stop_server() {
	[ -n "$SERVER_PID" ] || return 0
	kill -TERM "$SERVER_PID" 2>/dev/null
	if ! wait_until 15 "$SERVER to exit" server_gone; then
		kill -KILL "$SERVER_PID" 2>/dev/null
	fi
	wait "$SERVER_PID" 2>/dev/null
	SERVER_PID=
}

server_gone() {
	! kill -0 "$SERVER_PID" 2>/dev/null
}

# ---- set-up and tear-down -------------------------------------------------

# fcpush_setup [FCPUSH_KEY=VALUE | --FLAG...]: fresh database, worker "worker"
# on $T/worker.sock with those settings (and flags, e.g. --supervise), and $SERVER in front of it. Exits the
# test file (status 1) when any of it fails.
fcpush_setup() {
	DB="$T/fcpush.db"
	if ! on_sqlite; then
		. "$FCPUSH_SRCDIR/tests/nats_lib.sh"
		nats_cluster_start "$T/nats" "${FCPUSH_TEST_NATS_NODES:-1}" || setup_failed
		DB="nats://$NATS_URLS/fcpush?replicas=${FCPUSH_TEST_NATS_NODES:-1}"
	fi
	SOCKET="$T/worker.sock"
	WSSOCKET="$T/ws.sock"
	WS_LISTEN=$WSSOCKET
	export DB SOCKET WSSOCKET WS_LISTEN
	mkdir -p "$T/www"
	cp -R "$FCPUSH_SRCDIR/www/." "$T/www/" && chmod -R u+w,a+rX "$T/www"
	if ! "$FCPUSH" --database "$DB" init >"$T/init.out" 2>&1; then
		log "fcpush init failed:"
		sed 's/^/#   /' "$T/init.out" >&2
		setup_failed
	fi
	start_worker worker "$SOCKET" "$@" || setup_failed
	start_server || setup_failed
}

setup_failed() {
	echo "FAIL - [$SERVER] $TEST_NAME: set-up"
	CASES_FAILED=$((CASES_FAILED + 1))
	exit 1
}

# teardown: stop the server and every worker (checking each worker's exit),
# print logs when something failed, remove $T. Runs once, from finish or the
# EXIT trap.
teardown() {
	local name msg workers=()
	[ "$TORN_DOWN" = 0 ] || return 0
	TORN_DOWN=1
	stop_server
	[ -f "$T/workers.list" ] && mapfile -t workers <"$T/workers.list"
	for name in "${workers[@]}"; do
		if ! msg=$(stop_worker "$name"); then
			echo "FAIL - [$SERVER] $TEST_NAME: worker $name exits 0 on SIGTERM, no sanitizer report"
			echo "    $msg"
			CASES_FAILED=$((CASES_FAILED + 1))
		fi
	done
	[ -d "$T/nats" ] && nats_cluster_stop "$T/nats"
	if [ "$CASES_FAILED" -gt 0 ]; then
		for f in "$SERVER_LOG" "$T/server.out" "${workers[@]/%/.err}" "$T"/nats/n*/log; do
			case $f in /*) ;; *) f="$T/$f" ;; esac
			[ -s "$f" ] || continue
			echo "# ---- $(basename "$f") (last 80 lines)"
			tail -n 80 "$f" | sed 's/^/# /'
		done
	fi
	if [ "${FCPUSH_TEST_KEEP:-0}" = 1 ]; then
		log "kept $T"
	else
		rm -rf "$T"
	fi
}

on_exit() {
	local rc=$?
	teardown
	if [ "$CASES_FAILED" -gt 0 ] && [ "$rc" = 0 ]; then
		rc=1
	fi
	exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT TERM

# finish: tear down and exit 0 when every case passed, else 1.
finish() {
	teardown
	log "$TEST_NAME [$SERVER]: $CASES_PASSED passed, $CASES_FAILED failed"
	[ "$CASES_FAILED" = 0 ] && exit 0
	exit 1
}

# ---- cases ----------------------------------------------------------------

# run_case DESCRIPTION FUNCTION: run FUNCTION in a subshell; it passes unless
# an assertion fails (assertions exit the subshell). Prints one line
# "ok - ..." or "FAIL - ..." followed by the case's output. Background jobs
# the case leaves behind are killed.
run_case() {
	local desc=$1 fn=$2 rc start ms
	start=$(now_ms)
	rm -f "$T/case.skip"
	(
		trap case_cleanup EXIT
		"$fn"
	) >"$T/case.out" 2>&1
	rc=$?
	ms=$(($(now_ms) - start))
	if [ "$rc" = 0 ] && [ -e "$T/case.skip" ]; then
		echo "ok - [$SERVER] $TEST_NAME: $desc # SKIP $(cat "$T/case.skip")"
		rm -f "$T/case.skip"
	elif [ "$rc" = 0 ]; then
		CASES_PASSED=$((CASES_PASSED + 1))
		echo "ok - [$SERVER] $TEST_NAME: $desc (${ms} ms)"
	else
		CASES_FAILED=$((CASES_FAILED + 1))
		echo "FAIL - [$SERVER] $TEST_NAME: $desc (${ms} ms)"
	fi
	if [ "$rc" != 0 ] || [ "${FCPUSH_TEST_VERBOSE:-0}" = 1 ]; then
		sed 's/^/    /' "$T/case.out"
	else
		# A passing case still shows its "# " notes (timings).
		grep '^# ' "$T/case.out" | sed 's/^/    /'
	fi
	return 0
}

# case_cleanup: kill the background jobs a case leaves (requests still
# running after a failed assertion), except worker wrappers (teardown stops
# those workers).
case_cleanup() {
	local p keep
	keep=$(cat "$T"/*.wrapper 2>/dev/null)
	for p in $(jobs -p); do
		grep -qx "$p" <<<"$keep" || kill "$p" 2>/dev/null
	done
}

# fail MESSAGE: end the current case as failed.
fail() {
	echo "assertion failed: $*"
	exit 1
}

# ---- HTTP -----------------------------------------------------------------

# req METHOD URL [CURL-ARGS...]: one request; URL may be a path (prefixed with
# $BASE_URL). Sets STATUS; the response is in $T/body and $T/headers (see
# header, assert_*). Bounded by --max-time (REQ_MAX_TIME, default 15 s).
req() {
	local method=$1 url=$2
	shift 2
	case $url in http://* | https://*) ;; *) url="$BASE_URL$url" ;; esac
	: >"$T/headers"
	: >"$T/body"
	STATUS=$("$CURL" -sS -X "$method" -H 'Expect:' -o "$T/body" -D "$T/headers" \
		-w '%{http_code}' --max-time "${REQ_MAX_TIME:-15}" "$@" "$url" 2>"$T/curl.err")
	[ -n "$STATUS" ] || STATUS=000
	if [ "$STATUS" = 000 ]; then
		echo "curl $method $url: $(cat "$T/curl.err")"
	fi
}

# bg_req NAME METHOD URL [CURL-ARGS...]: like req, in the background (curl
# itself is the background job); the response lands in $T/bg-NAME.*.
# bg_wait NAME then makes it the current response (STATUS, $T/body,
# $T/headers) and sets ELAPSED_MS (curl's time_total).
declare -A BG_PID
bg_req() {
	local name=$1 method=$2 url=$3
	shift 3
	case $url in http://* | https://*) ;; *) url="$BASE_URL$url" ;; esac
	rm -f "$T/bg-$name".*
	"$CURL" -sS -X "$method" -H 'Expect:' -o "$T/bg-$name.body" -D "$T/bg-$name.headers" \
		-w '%{http_code} %{time_total}' --max-time "${REQ_MAX_TIME:-15}" "$@" "$url" \
		>"$T/bg-$name.status" 2>"$T/bg-$name.err" &
	BG_PID[$name]=$!
}

bg_wait() {
	local name=$1 out secs
	wait "${BG_PID[$name]}"
	out=$(cat "$T/bg-$name.status" 2>/dev/null)
	STATUS=${out%% *}
	secs=${out#* }
	[ -n "$STATUS" ] || STATUS=000
	cp "$T/bg-$name.body" "$T/body" 2>/dev/null || : >"$T/body"
	cp "$T/bg-$name.headers" "$T/headers" 2>/dev/null || : >"$T/headers"
	# time_total is seconds with a fraction ("1.002345"): to milliseconds.
	ELAPSED_MS=$(awk -v s="$secs" 'BEGIN { printf "%d", s * 1000 }')
	if [ "$STATUS" = 000 ]; then
		echo "background request $name: $(cat "$T/bg-$name.err")"
	fi
}

# bg_running NAME: the background request has not finished yet (curl writes
# its -w line when the transfer ends).
bg_running() {
	[ ! -s "$T/bg-$1.status" ]
}

# header NAME: the value of response header NAME (last one; CR stripped).
header() {
	awk -v h="$1" 'BEGIN { h = tolower(h) ":" }
		tolower(substr($0, 1, length(h))) == h { v = substr($0, length(h) + 1) }
		END { sub(/^[ \t]+/, "", v); sub(/[ \t\r]+$/, "", v); print v }' "$T/headers"
}

has_header() {
	grep -qi "^$1:" "$T/headers"
}

# body: the response body.
body() {
	cat "$T/body"
}

# json EXPR: jq -c -r EXPR over the body ("" when the body is not JSON).
json() {
	"$JQ" -c -r "$1" <"$T/body" 2>/dev/null
}

# ---- assertions -----------------------------------------------------------

# what_we_got: status, headers and the start of the body, for messages.
what_we_got() {
	printf '\n      got %s %s\n      body: %s' "$STATUS" \
		"$(tr -d '\r' <"$T/headers" | grep -v '^$' | tr '\n' '|' | cut -c1-400)" \
		"$(head -c 400 "$T/body" | tr '\n' ' ')"
}

# assert_eq GOT EXPECTED [WHAT]
assert_eq() {
	[ "$1" == "$2" ] || fail "${3:-value}: expected '$2', got '$1'"
}

# assert_true WHAT COMMAND...: COMMAND succeeds.
assert_true() {
	local what=$1
	shift
	"$@" || fail "$what"
}

# assert_status CODE: the current response has status CODE.
assert_status() {
	[ "$STATUS" = "$1" ] || fail "expected status $1$(what_we_got)"
}

# assert_header NAME [VALUE]: header NAME is present (and equals VALUE).
assert_header() {
	has_header "$1" || fail "expected header $1${2+: $2}$(what_we_got)"
	if [ $# -ge 2 ]; then
		[ "$(header "$1")" == "$2" ] || fail "header $1: expected '$2', got '$(header "$1")'"
	fi
}

# assert_header_match NAME REGEX: header NAME matches the extended REGEX.
assert_header_match() {
	has_header "$1" || fail "expected header $1 matching /$2/$(what_we_got)"
	[[ "$(header "$1")" =~ $2 ]] || fail "header $1: '$(header "$1")' does not match /$2/"
}

assert_no_header() {
	! has_header "$1" || fail "unexpected header $1: $(header "$1")"
}

# assert_json EXPR EXPECTED: jq -c -r EXPR over the body gives EXPECTED.
assert_json() {
	local got
	if ! "$JQ" -e . <"$T/body" >/dev/null 2>&1; then
		fail "body is not JSON (checking $1)$(what_we_got)"
	fi
	got=$(json "$1")
	[ "$got" == "$2" ] || fail "jq '$1': expected '$2', got '$got'$(what_we_got)"
}

# assert_empty_body
assert_empty_body() {
	[ ! -s "$T/body" ] || fail "expected an empty body$(what_we_got)"
}

# assert_error STATUS: an error response: STATUS, Content-Type JSON, body
# {"error": "<non-empty>", "detail": "<non-empty>"}.
assert_error() {
	assert_status "$1"
	assert_header_match Content-Type '^application/json'
	assert_json '(.error | type) + "/" + (.detail | type)' 'string/string'
	assert_json '(.error | length > 0) and (.detail | length > 0)' true
}

# ---- fcpush helpers -------------------------------------------------------

# publish CHANNEL DATA [CURL-ARGS...]: POST DATA (text/plain unless a
# Content-Type is given), assert 201, set SEQ.
publish() {
	local ch=$1 data=$2 a ct=(-H 'Content-Type: text/plain')
	shift 2
	for a in "$@"; do
		case ${a,,} in content-type:*) ct=() ;; esac
	done
	req POST "/push/channels/$ch" "${ct[@]}" --data-binary "$data" "$@"
	assert_status 201
	SEQ=$(json .seq)
	[[ $SEQ =~ ^[0-9]+$ ]] || fail "publish to $ch: no numeric seq$(what_we_got)"
}

# parked: the worker's current number of parked requests (GET /push/status).
parked() {
	"$CURL" -s --max-time 5 "$PUSH/status" | "$JQ" -r '.parked // empty' 2>/dev/null
}

parked_at_least() {
	local n
	n=$(parked)
	[ -n "$n" ] && [ "$n" -ge "$1" ]
}

# await_parked N [SECONDS]: wait until the worker holds at least N parked
# requests (bounded; default 20 s). Fails the case on timeout.
await_parked() {
	wait_until "${2:-20}" "parked >= $1 (now $(parked))" parked_at_least "$1" ||
		fail "the worker never held $1 parked requests (parked: $(parked))"
}

# on_sqlite: 0 when the store is the SQLite file: guards a SQLite-only check
# inside a case that otherwise runs on every store.
on_sqlite() {
	[ "${FCPUSH_TEST_STORE:-sqlite}" = sqlite ]
}

# sqlite_only WHAT: end the current case as skipped when the store is not
# the SQLite file (FCPUSH_TEST_STORE=nats): the case reads or writes that
# file itself (WHAT says how, e.g. "sqlite3 INSERT").
sqlite_only() {
	if ! on_sqlite; then
		echo "SQLite-only: $1" >"$T/case.skip"
		exit 0
	fi
}

# db_epoch: the store's epoch, read from the store itself: database_info
# with sqlite3, or the NATS stream's description ("fcpush epoch HEX") from
# the first node's monitoring port.
db_epoch() {
	if on_sqlite; then
		"$SQLITE3" -cmd '.timeout 5000' "$DB" 'SELECT epoch FROM database_info'
		return
	fi
	"$CURL" -sf --max-time 5 "http://127.0.0.1:$((NATS_PORTS[0] + 2))/jsz?streams=true&config=true" |
		"$JQ" -r '[.account_details[]?.stream_detail[]? | select(.name == "fcpush") | .config.description
			| capture("^fcpush epoch (?<e>[0-9a-f]+)$").e][0] // ""'
}

# channel_seqs CHANNEL SINCE: the seqs stored on CHANNEL after SINCE, as a
# JSON array, read with sqlite3 from the SQLite file, through HTTP polls
# (page by page) on another store.
channel_seqs() {
	local ch=$1 cur=$2 page all='[]'
	if on_sqlite; then
		"$SQLITE3" -cmd '.timeout 5000' "$DB" "SELECT seq FROM messages WHERE channel='$ch' AND seq > $cur ORDER BY seq;" |
			"$JQ" -s -c .
		return
	fi
	while page=$("$CURL" -sf --max-time 10 "$PUSH/channels/$ch?since=$cur") && [ -n "$page" ]; do
		all=$("$JQ" -c --argjson a "$all" '$a + [.messages[].seq]' <<<"$page")
		cur=$("$JQ" -r '.last_seq' <<<"$page")
	done
	echo "$all"
}

# assert_exactly_once ACKED GOT: every seq in file ACKED (one per line, the
# acknowledged publishes) is in file GOT (what a subscriber received, in
# arrival order) exactly once, and GOT is in increasing order.
assert_exactly_once() {
	local missing dups order
	missing=$(LC_ALL=C sort "$1" | LC_ALL=C comm -23 - <(LC_ALL=C sort -u "$2") | sort -n | head -5)
	[ -z "$missing" ] || fail "acknowledged but never received: $missing"
	dups=$(sort -n "$2" | uniq -d | head -5)
	[ -z "$dups" ] || fail "received more than once: $dups"
	order=$(awk 'NR > 1 && $1 <= prev { print prev " then " $1 } { prev = $1 }' "$2" | head -3)
	[ -z "$order" ] || fail "received out of order: $order"
}

# db_count SQL-WHERE: count of messages rows matching (sqlite3 CLI). On
# another store only "channel = 'NAME'" (counted through HTTP polls) and "1"
# (every message: the sum of GET /push/channels) are understood; anything
# else skips the case (sqlite_only), so a case that passes more calls
# sqlite_only itself before it (inside $(...) the skip would not end the
# case).
db_count() {
	if ! on_sqlite && [[ $1 =~ ^channel\ =\ \'([^\']*)\'$ ]]; then
		channel_seqs "${BASH_REMATCH[1]}" 0 | "$JQ" length
		return
	fi
	if ! on_sqlite && [ "$1" = 1 ]; then
		"$CURL" -sf --max-time 10 "$PUSH/channels" | "$JQ" '[.channels[].messages] | add // 0'
		return
	fi
	sqlite_only "sqlite3 count of messages rows"
	"$SQLITE3" -cmd '.timeout 5000' "$DB" "SELECT count(*) FROM messages WHERE $1;"
}
