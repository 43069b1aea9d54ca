#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The README's first commands, really run: `./quickstart start` (SQLite,
# lighttpd) and `./quickstart start --store nats --server apache` (a 3-node
# JetStream cluster and two web nodes), each in a fresh state folder on free
# ports; what the start printed works (the token publishes, the long poll
# and poll read), `status` sees every process, `stop` leaves none. Run by
# `./quickstart test` after the builds (it needs build/ and the packages).
# Prints ok/FAIL lines; exit 1 when one failed.
set -u
SRC=${FCPUSH_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
QS=$SRC/quickstart
. "$SRC/tests/nats_lib.sh" # pid_running
CURL=${CURL:-curl}
failed=0
ok() { echo "ok - quickstart: $*"; }
fail() {
	echo "FAIL - quickstart: $*"
	failed=1
}
free_port_pair() { # a port P with P and P+1 free
	local p i
	for i in $(seq 1 50); do
		p=$((20000 + RANDOM % 12000))
		! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && ! (exec 3<>"/dev/tcp/127.0.0.1/$((p + 1))") 2>/dev/null &&
			{ echo "$p"; return 0; }
	done
	return 1
}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/fcpush-qs.XXXXXX")
STATES=()
cleanup() {
	local s
	for s in "${STATES[@]}"; do FCPUSH_STATE=$s timeout 120 "$QS" stop >/dev/null 2>&1; done
	rm -rf "$TMP"
}
trap cleanup EXIT

# left_running STATE: the pids of processes started from STATE still alive
# (not zombies).
left_running() {
	local f pid
	for f in $(find "$1" -name '*.pid' -o -name pid 2>/dev/null); do
		pid=$(cat "$f" 2>/dev/null) || continue
		pid_running "$pid" && echo "$pid"
	done
	pgrep -f "$1" 2>/dev/null || true
}

# one STORE SERVER: start, use, status, stop.
one() {
	local store=$1 server=$2 state=$TMP/$1 port out token seq rc url_b lp body
	port=$(free_port_pair) || { fail "[$store] no free ports"; return; }
	STATES+=("$state")
	export FCPUSH_STATE=$state FCPUSH_PORT=$port
	out=$(timeout 300 "$QS" start --store "$store" --server "$server" 2>&1)
	rc=$?
	if [ "$rc" != 0 ]; then
		fail "[$store] ./quickstart start --store $store --server $server exited $rc: $(tail -n 15 <<<"$out")"
		return
	fi
	ok "[$store] ./quickstart start --store $store --server $server: rc 0"
	token=$(sed -n 's/^ *export TOKEN=//p' <<<"$out")
	[ -n "$token" ] || fail "[$store] the start printed no publisher token"
	url_b=http://127.0.0.1:$port
	[ "$store" = nats ] && url_b=http://127.0.0.1:$((port + 1))
	grep -q "$url_b" <<<"$out" || fail "[$store] the start does not name $url_b"
	# The printed demo: a long poll (on node B with NATS), then a publish
	# with the printed token on node A.
	seq=$("$CURL" -s --max-time 5 "$url_b/push/channels/demo" | jq -r '.last_seq // .next_since // 0' 2>/dev/null)
	"$CURL" -s --max-time 30 -H 'Prefer: wait=25' "$url_b/push/channels/demo?since=${seq:-0}" -o "$TMP/lp" &
	lp=$!
	# Parked, so the publish wakes it (with its since, it would get the
	# message anyway).
	for _ in $(seq 1 100); do
		[ "$("$CURL" -s --max-time 2 "$url_b/push/status" | jq -r '.parked' 2>/dev/null)" = 1 ] && break
		sleep 0.05
	done
	body="hello from the quickstart test $$"
	rc=$("$CURL" -s --max-time 10 -o "$TMP/pub" -w '%{http_code}' -H "Authorization: Bearer $token" \
		-H 'Content-Type: text/plain' --data-binary "$body" "http://127.0.0.1:$port/push/channels/demo")
	[ "$rc" = 201 ] && ok "[$store] publish with the printed token: 201" ||
		fail "[$store] publish with the printed token: $rc $(cat "$TMP/pub")"
	rc=$("$CURL" -s --max-time 10 -o /dev/null -w '%{http_code}' -H 'Content-Type: text/plain' --data-binary x \
		"http://127.0.0.1:$port/push/channels/demo")
	[ "$rc" = 401 ] && ok "[$store] publish without a token: 401" || fail "[$store] publish without a token: $rc"
	wait "$lp"
	if [ "$(jq -r '[.messages[].data] | last' "$TMP/lp" 2>/dev/null)" = "$body" ]; then
		ok "[$store] the long poll$([ "$store" = nats ] && echo ' on node B') got it"
	else
		fail "[$store] the long poll got: $(head -c 300 "$TMP/lp")"
	fi
	out=$(timeout 60 "$QS" status 2>&1)
	rc=$?
	[ "$rc" = 0 ] && ok "[$store] ./quickstart status: all up" || fail "[$store] ./quickstart status exited $rc: $out"
	if [ "$store" = nats ]; then
		[ "$(grep -c '/push/status 200' <<<"$out")" = 2 ] && [ "$(grep -c '^quickstart: NATS n' <<<"$out")" = 3 ] &&
			ok "[$store] status shows two web nodes and three NATS nodes" ||
			fail "[$store] status does not show two web nodes and three NATS nodes: $out"
	fi
	out=$(timeout 120 "$QS" stop 2>&1)
	rc=$?
	[ "$rc" = 0 ] || fail "[$store] ./quickstart stop exited $rc: $out"
	left=$(left_running "$state" | sort -u | tr '\n' ' ')
	[ -z "$left" ] && ok "[$store] ./quickstart stop: nothing left running" ||
		fail "[$store] ./quickstart stop left running: $left"
	timeout 60 "$QS" status >/dev/null 2>&1
	rc=$?
	[ "$rc" = 3 ] && ok "[$store] ./quickstart status after stop: nothing runs (3)" ||
		fail "[$store] ./quickstart status after stop exited $rc"
}

one sqlite lighttpd
one nats apache
exit "$failed"
