#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The Debian package, end to end, as root on this machine: build it (`make
# deb`: dpkg-buildpackage -us -uc -b from the release tarball), lintian it,
# install it, start its units, enable it in Debian's lighttpd
# (lighty-enable-mod fcpush) and then Apache (a2enmod proxy_fcgi proxy_http,
# a2enconf fcpush), and smoke-test every transport through each: the pages,
# publish, poll, long poll, SSE, NDJSON, WebSocket, and the CLI on PATH.
# Then everything is undone: servers stopped, modules disabled again, the
# package purged.
#
# Where systemd is PID 1 the units are started with systemctl. Elsewhere
# (containers, CI) tests/package/unit_run.py starts each unit's ExecStart
# the way systemd would: same user and groups, same environment, the
# socket unit's socket on fd 0 with its owner and mode; it says so.
# The web servers run Debian's own configuration files (copied, with the
# port changed to a free loopback port, and the pid and log files moved),
# including the real conf-enabled/ that the enable commands changed.
#
# Run by `./quickstart test` after the other suites, not by `make check`.
# Needs root; skips (77) otherwise. Everything bounded in time.
#   FCPUSH_SRCDIR FCPUSH_BUILDDIR   source and configured build trees
#   FCPUSH_KEEP_PACKAGE=1           leave the package installed
set -u
: "${FCPUSH_SRCDIR:?}" "${FCPUSH_BUILDDIR:?}"
if [ "$(id -u)" != 0 ]; then
	echo "package: needs root (it installs the package): SKIP"
	exit 77
fi
PY=/usr/bin/python3
for prog in dpkg-buildpackage lintian curl jq lighttpd lighty-enable-mod apache2 a2enconf "$PY"; do
	if ! PATH=$PATH:/usr/sbin:/sbin command -v "$prog" >/dev/null; then
		echo "package: $prog is missing (./quickstart test installs it)" >&2
		exit 99
	fi
done
export PATH=$PATH:/usr/sbin:/sbin

T=$(mktemp -d /tmp/fcpush-package.XXXXXX) || exit 99
chmod 755 "$T"
FAILED=0
PASSED=0
PIDS=()
UNDO=()
UNITS=/lib/systemd/system
DB=/var/lib/fcpush/fcpush.db

ok() {
	echo "ok - package: $*"
	PASSED=$((PASSED + 1))
}

bad() {
	echo "FAIL - package: $*"
	FAILED=$((FAILED + 1))
}

# check DESCRIPTION COMMAND...: one assertion.
check() {
	local desc=$1
	shift
	if "$@" >"$T/check.out" 2>&1; then
		ok "$desc"
	else
		bad "$desc"
		sed 's/^/    /' "$T/check.out" | tail -n 20
	fi
}

# wait_for SECONDS COMMAND...: until COMMAND succeeds (every 0.1 s).
wait_for() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.1
	done
}

stop_pid() {
	local pid=$1 i
	kill -TERM "$pid" 2>/dev/null || return 0
	for i in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
}

cleanup() {
	local i pid
	for pid in "${PIDS[@]}"; do
		stop_pid "$pid"
	done
	if [ "${SYSTEMD:-0}" = 1 ]; then
		systemctl stop fcpush-ws.service fcpush-fcgi.service fcpush-fcgi.socket >/dev/null 2>&1
	elif [ "${STARTED_UNITS:-0}" = 1 ]; then
		rm -rf /run/fcpush # what unit_run.py and the tmpfiles entry made
	fi
	for ((i = ${#UNDO[@]} - 1; i >= 0; i--)); do
		eval "${UNDO[i]}" >/dev/null 2>&1
	done
	if [ "${FCPUSH_KEEP_PACKAGE:-0}" != 1 ] && dpkg-query -W fcpush >/dev/null 2>&1; then
		dpkg --purge fcpush >/dev/null 2>&1 || echo "# dpkg --purge fcpush failed"
	fi
	if [ "$FAILED" -gt 0 ]; then
		for f in "$T"/*.log "$T"/*-error.log "$T"/alog/error.log; do
			[ -s "$f" ] || continue
			echo "# ---- ${f#$T/} (last 40 lines)"
			tail -n 40 "$f" | sed 's/^/# /'
		done
	fi
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
	"$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# ---- build, lintian, install -------------------------------------------------

echo "# building the package (make deb)"
if ! timeout 900 make -C "$FCPUSH_BUILDDIR" deb >"$T/build.log" 2>&1; then
	bad "make deb (dpkg-buildpackage -us -uc -b)"
	tail -n 40 "$T/build.log" | sed 's/^/    /'
	exit 1
fi
deb=$(ls "$FCPUSH_BUILDDIR"/deb/fcpush_*_*.deb 2>/dev/null | head -n 1)
changes=$(ls "$FCPUSH_BUILDDIR"/deb/fcpush_*.changes 2>/dev/null | head -n 1)
if [ -z "$deb" ] || [ -z "$changes" ]; then
	bad "make deb made no fcpush_*.deb and .changes"
	exit 1
fi
ok "make deb built $(basename "$deb")"
check "lintian: no error, warning or info tag (info-level overrides explained in debian/fcpush.lintian-overrides)" \
	timeout 300 lintian -I --fail-on error,warning,info --no-tag-display-limit "$changes"
cat "$T/check.out" | grep -v 'running with root privileges' | sed 's/^/# lintian: /'

check "the package ships binaries, config, units, snippets, pages and man pages" bash -c '
	c=$(dpkg-deb -c "$1" | awk "{ print \$6 }" | sed "s|^\./|/|")
	for f in /usr/bin/fcpush /usr/bin/fcpush.fcgi /usr/bin/fcpush-ws /etc/fcpush/fcpush.conf \
		/lib/systemd/system/fcpush-fcgi.socket /lib/systemd/system/fcpush-fcgi.service \
		/lib/systemd/system/fcpush-ws.service /usr/lib/tmpfiles.d/fcpush.conf \
		/etc/lighttpd/conf-available/50-fcpush.conf /etc/apache2/conf-available/fcpush.conf \
		/usr/share/fcpush/www/index.html /usr/share/fcpush/www/fcpush.js /usr/share/fcpush/www/favicon.svg \
		/usr/share/man/man1/fcpush.1.gz /usr/share/man/man5/fcpush.conf.5.gz \
		/usr/share/man/man8/fcpush.fcgi.8.gz /usr/share/man/man8/fcpush-ws.8.gz /var/lib/fcpush/; do
		grep -qx "$f" <<<"$c" || { echo "missing: $f"; exit 1; }
	done' _ "$deb"

if dpkg-query -W fcpush >/dev/null 2>&1; then
	echo "# fcpush was installed: purging it first"
	dpkg --purge fcpush >/dev/null 2>&1
fi
# Keep dpkg from starting lighttpd/apache2 should it (re)configure them.
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
	UNDO+=("rm -f /usr/sbin/policy-rc.d")
fi
# apt-get resolves the Depends (adduser, libwebsockets-evlib-uv...).
if ! DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -q --no-install-recommends \
	-o Dpkg::Use-Pty=0 "$deb" </dev/null >"$T/install.log" 2>&1; then
	bad "apt-get install $(basename "$deb")"
	sed 's/^/    /' "$T/install.log"
	exit 1
fi
ok "apt-get install $(basename "$deb")"
UNDO+=("dpkg --purge fcpush")

check "fcpush is a system user with group fcpush" bash -c \
	'[ "$(id -u fcpush)" -lt 1000 ] && [ "$(id -gn fcpush)" = fcpush ] && [ "$(getent passwd fcpush | cut -d: -f7)" = /usr/sbin/nologin ]'
check "/var/lib/fcpush is fcpush's, mode 750, with the database" bash -c \
	'[ "$(stat -c %U:%G:%a /var/lib/fcpush)" = fcpush:fcpush:750 ] && [ "$(stat -c %U /var/lib/fcpush/fcpush.db)" = fcpush ]'
# The units take the store location from /etc/fcpush/fcpush.conf: an
# FCPUSH_DATABASE of theirs would win over the file (README "Scaling out").
check "the units leave database to /etc/fcpush/fcpush.conf (no FCPUSH_DATABASE)" bash -c \
	'u=/lib/systemd/system; [ -f $u/fcpush-fcgi.service ] && [ -f $u/fcpush-ws.service ] &&
	 ! grep -n FCPUSH_DATABASE $u/fcpush-fcgi.service $u/fcpush-ws.service'
check "fcpush, fcpush.fcgi, fcpush-ws on PATH" bash -c \
	'fcpush --version && fcpush.fcgi --version && fcpush-ws --version'

# /run/fcpush from the package's tmpfiles.d entry: systemd-tmpfiles (the
# postinst ran it when present), else applied here as it would.
if [ ! -d /run/fcpush ]; then
	read -r type path mode user group _ < <(grep '^d ' /usr/lib/tmpfiles.d/fcpush.conf)
	echo "# no systemd-tmpfiles: creating $path $mode $user:$group from /usr/lib/tmpfiles.d/fcpush.conf"
	install -d -m "$mode" -o "$user" -g "$group" "$path"
fi
check "/run/fcpush is fcpush:www-data, mode 2750" bash -c '[ "$(stat -c %U:%G:%a /run/fcpush)" = fcpush:www-data:2750 ]'

if command -v systemd-analyze >/dev/null; then
	check "systemd-analyze verify: the installed units" \
		systemd-analyze verify --man=no "$UNITS/fcpush-fcgi.socket" "$UNITS/fcpush-fcgi.service" "$UNITS/fcpush-ws.service"
fi

# ---- start the units ------------------------------------------------------------

SYSTEMD=0
PID1=$(cat /proc/1/comm)
if [ "$PID1" = systemd ] && [ -d /run/systemd/system ]; then
	SYSTEMD=1
	echo "# systemd is PID 1: systemctl start fcpush-fcgi.socket fcpush-ws.service"
	systemctl daemon-reload
	systemctl start fcpush-fcgi.socket fcpush-ws.service
else
	STARTED_UNITS=1
	echo "# systemd is not PID 1 here ($PID1): starting the installed units' ExecStart" \
		"as systemd would (tests/package/unit_run.py: User=, Group=, Environment=, the socket unit's socket on fd 0)"
	"$PY" "$FCPUSH_SRCDIR/tests/package/unit_run.py" "$UNITS/fcpush-fcgi.service" \
		--socket "$UNITS/fcpush-fcgi.socket" --log "$T/fcpush-fcgi.log" 2>"$T/unit_run-fcgi.txt" &
	PIDS+=($!)
	"$PY" "$FCPUSH_SRCDIR/tests/package/unit_run.py" "$UNITS/fcpush-ws.service" \
		--log "$T/fcpush-ws.log" 2>"$T/unit_run-ws.txt" &
	PIDS+=($!)
fi
check "the worker's socket /run/fcpush/fcpush.sock is fcpush:www-data 660" \
	wait_for 10 bash -c '[ "$(stat -c %U:%G:%a /run/fcpush/fcpush.sock)" = fcpush:www-data:660 ]'
check "fcpush-ws's socket /run/fcpush/ws.sock is group www-data, mode 660" \
	wait_for 10 bash -c '[ "$(stat -c %U:%G:%a /run/fcpush/ws.sock)" = fcpush:www-data:660 ]'
[ "$SYSTEMD" = 1 ] || sed 's/^/# /' "$T/unit_run-fcgi.txt" "$T/unit_run-ws.txt" | sort -u
# runs_as_fcpush NAME: a process NAME runs with uid fcpush (no procps needed).
runs_as_fcpush() {
	local d uid
	uid=$(id -u fcpush)
	for d in /proc/[0-9]*; do
		[ "$(cat "$d/comm" 2>/dev/null)" = "$1" ] || continue
		awk -v u="$uid" '/^Uid:/ { exit !($2 == u && $3 == u) }' "$d/status" 2>/dev/null && return 0
	done
	echo "no $1 process runs as fcpush"
	return 1
}
check "the worker and fcpush-ws run as fcpush" bash -c "$(declare -f runs_as_fcpush); runs_as_fcpush fcpush.fcgi && runs_as_fcpush fcpush-ws"

# ---- smoke tests ----------------------------------------------------------------

check "fcpush.conf says auth = publish; its key is root:fcpush 640" bash -c \
	'grep -qx "auth = publish" /etc/fcpush/fcpush.conf && [ "$(stat -c %U:%G:%a /etc/fcpush/jwt.key)" = root:fcpush:640 ]'
TOKEN=$(fcpush --config /etc/fcpush/fcpush.conf token --subscribe '*' --publish '*' --ttl 3600) || TOKEN=
check "fcpush token issues a token from the package's key" test -n "$TOKEN"

N=0
# smoke SERVER: every transport through SERVER on $BASE.
smoke() {
	local s=$1 ch seq1 seq2 body pid
	N=$((N + 1))
	ch="pkg-$s-$N-$$"
	check "[$s] the pages: /fcpush/ and fcpush.js, favicon.svg" bash -c '
		curl -sf --max-time 5 "$1/fcpush/" | grep -q "fcpush.js" &&
		curl -sf --max-time 5 -o /dev/null "$1/fcpush/fcpush.js" &&
		curl -sf --max-time 5 -o /dev/null -w "%{content_type}" "$1/fcpush/favicon.svg" | grep -q "^image/svg+xml"' _ "$BASE"
	# The package's config says auth = publish: a publish without a token
	# is refused, one with a token from `fcpush token` (root reads the key).
	check "[$s] publish without a token: 401 invalid_request" bash -c \
		'[ "$(curl -s --max-time 5 -o /dev/null -w "%{http_code}" -H "Content-Type: text/plain" --data-binary x "$1")" = 401 ]' \
		_ "$BASE/push/channels/$ch"
	body=$(curl -s --max-time 5 -w '\n%{http_code}' -H 'Content-Type: text/plain' -H "Authorization: Bearer $TOKEN" \
		--data-binary p1 "$BASE/push/channels/$ch")
	seq1=$(head -n 1 <<<"$body" | jq -r .seq 2>/dev/null)
	if [ "$(tail -n 1 <<<"$body")" = 201 ] && [[ $seq1 =~ ^[0-9]+$ ]]; then
		ok "[$s] publish: 201, seq $seq1"
	else
		bad "[$s] publish: $body"
		return
	fi
	check "[$s] poll: the message" bash -c \
		'[ "$(curl -s --max-time 5 "$1?since=0" | jq -r ".messages[0].data")" = p1 ]' _ "$BASE/push/channels/$ch"

	# Long poll, SSE and NDJSON wait together for the second message.
	curl -s --max-time 20 -H 'Prefer: wait=15' "$BASE/push/channels/$ch?since=$seq1" >"$T/lp.out" &
	pid=$!
	curl -sN --max-time 20 -H 'Accept: text/event-stream' "$BASE/push/channels/$ch?since=0" >"$T/sse.out" &
	local sse=$!
	curl -sN --max-time 20 -H 'Accept: application/x-ndjson' "$BASE/push/channels/$ch?since=0" >"$T/ndjson.out" &
	local ndjson=$!
	wait_for 10 grep -q 'data: p1' "$T/sse.out"
	wait_for 10 grep -q '"data":"p1"' "$T/ndjson.out"
	wait_for 10 bash -c '[ "$(curl -s --max-time 2 "$1/push/status" | jq -r ".parked")" -ge 3 ]' _ "$BASE"
	body=$(curl -s --max-time 5 -H 'Content-Type: text/plain' -H "Authorization: Bearer $TOKEN" --data-binary p2 \
		"$BASE/push/channels/$ch")
	seq2=$(jq -r .seq <<<"$body" 2>/dev/null)
	wait "$pid"
	check "[$s] long poll: woken by the publish" bash -c \
		'[ "$(jq -r ".messages[0].data" "$1")" = p2 ] && [ "$(jq -r ".last_seq" "$1")" = "$2" ]' _ "$T/lp.out" "$seq2"
	check "[$s] SSE: both messages with their ids" \
		wait_for 10 bash -c 'grep -q "^id: $2$" "$1" && grep -q "^data: p2$" "$1" && grep -q "^id: $3$" "$1"' _ \
		"$T/sse.out" "$seq2" "$seq1"
	check "[$s] NDJSON: both messages" \
		wait_for 10 bash -c 'grep -q "\"seq\":$2,.*\"data\":\"p2\"" "$1"' _ "$T/ndjson.out" "$seq2"
	kill "$sse" "$ndjson" 2>/dev/null
	wait "$sse" "$ndjson" 2>/dev/null

	# WebSocket through the web server's proxy to fcpush-ws's socket: the
	# history, then a publish over the socket, acked and delivered.
	timeout 20 "$PY" "$FCPUSH_SRCDIR/tests/integration/ws_client.py" listen \
		"ws://127.0.0.1:$PORT/push/ws/channels/$ch?since=0&access_token=$TOKEN" --count 3 --timeout 15 \
		--send "{\"type\":\"publish\",\"channel\":\"$ch\",\"data\":\"w1\",\"id\":\"a\"}" >"$T/ws.out" 2>&1
	check "[$s] WebSocket: history, publish acked, delivered" bash -c '
		jq -se "[.[] | select(.type == \"message\") | .data] == [\"p1\",\"p2\",\"w1\"]" "$1" &&
		jq -se "[.[] | select(.type == \"ack\")] | length == 1" "$1" || { cat "$1"; exit 1; }' _ "$T/ws.out"
	check "[$s] the CLI publishes as fcpush, HTTP sees it" bash -c '
		runuser -u fcpush -- fcpush --database /var/lib/fcpush/fcpush.db publish "$2" c1 &&
		[ "$(curl -s --max-time 5 "$1/push/channels/$2?last=1" | jq -r ".messages[0].data")" = c1 ]' _ "$BASE" "$ch"
}

# serve_and_smoke SERVER PID WHAT: once the server PID answers on $BASE,
# the smoke test through it; then stop it.
serve_and_smoke() {
	PIDS+=("$2")
	if ! wait_for 10 curl -s -o /dev/null --max-time 1 "$BASE/"; then
		bad "[$1] did not start on $BASE"
		return
	fi
	ok "[$1] $3 serves on $BASE"
	smoke "$1"
	stop_pid "$2"
}

# lighttpd_test, apache_test: enable fcpush in the server's Debian
# configuration (undoing at exit only what was not enabled before), run that
# configuration on a free port, smoke-test.
lighttpd_test() {
	local before mod
	before=$(ls /etc/lighttpd/conf-enabled/)
	check "lighty-enable-mod fcpush (with its fastcgi, proxy dependencies)" bash -c \
		'yes | lighty-enable-mod fcpush && [ -e /etc/lighttpd/conf-enabled/50-fcpush.conf ] &&
		 [ -e /etc/lighttpd/conf-enabled/10-fastcgi.conf ] && [ -e /etc/lighttpd/conf-enabled/10-proxy.conf ]'
	for mod in fcpush fastcgi proxy; do
		grep -q -- "-$mod.conf$" <<<"$before" || UNDO+=("lighty-disable-mod $mod")
	done
	PORT=$(free_port)
	BASE=http://127.0.0.1:$PORT
	sed -e "s|^server.port .*|server.port = $PORT\nserver.bind = \"127.0.0.1\"|" \
		-e "s|^server.pid-file .*|server.pid-file = \"$T/lighttpd.pid\"|" \
		-e "s|^server.errorlog .*|server.errorlog = \"$T/lighttpd-error.log\"|" \
		-e '/use-ipv6.pl/d' /etc/lighttpd/lighttpd.conf >"$T/lighttpd.conf"
	# lighttpd opens its error log after switching to www-data.
	install -m 644 -o www-data /dev/null "$T/lighttpd-error.log"
	if ! lighttpd -tt -f "$T/lighttpd.conf" >"$T/lighttpd-check.log" 2>&1; then
		bad "[lighttpd] Debian's lighttpd.conf with 50-fcpush.conf: lighttpd -tt"
		sed 's/^/    /' "$T/lighttpd-check.log"
		return
	fi
	lighttpd -D -f "$T/lighttpd.conf" >"$T/lighttpd.log" 2>&1 &
	serve_and_smoke lighttpd $! "Debian's configuration with 50-fcpush.conf"
}

apache_test() {
	local mods_before conf_before mod
	mods_before=$(ls /etc/apache2/mods-enabled/)
	conf_before=$(ls /etc/apache2/conf-enabled/)
	check "a2enmod proxy_fcgi proxy_http && a2enconf fcpush" bash -c \
		'a2enmod -q proxy_fcgi proxy_http && a2enconf -q fcpush'
	for mod in proxy proxy_fcgi proxy_http; do
		grep -qx "$mod.load" <<<"$mods_before" || UNDO+=("a2dismod -q -f $mod")
	done
	grep -qx fcpush.conf <<<"$conf_before" || UNDO+=("a2disconf -q fcpush")
	PORT=$(free_port)
	BASE=http://127.0.0.1:$PORT
	cp -a /etc/apache2 "$T/apache2"
	sed -i "s|^Listen 80$|Listen 127.0.0.1:$PORT|; /Listen 443/d" "$T/apache2/ports.conf"
	sed -i "s|<VirtualHost \*:80>|<VirtualHost *:$PORT>|" "$T/apache2/sites-available/000-default.conf"
	mkdir -p "$T/arun" "$T/alock" "$T/alog"
	(
		set +u
		# shellcheck disable=SC1091
		. /etc/apache2/envvars
		export APACHE_RUN_DIR=$T/arun APACHE_PID_FILE=$T/arun/apache2.pid APACHE_LOCK_DIR=$T/alock \
			APACHE_LOG_DIR=$T/alog
		exec apache2 -d "$T/apache2" -f "$T/apache2/apache2.conf" -DFOREGROUND
	) >"$T/apache.log" 2>&1 &
	serve_and_smoke apache $! "Debian's configuration with conf-enabled/fcpush.conf"
}

lighttpd_test
apache_test

check "the worker and fcpush-ws logged no error" bash -c '! grep -h " error " "$1"/fcpush-*.log' _ "$T"
echo "# package: $PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
