#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Supervision (fcpush.fcgi --supervise, fcpush-ws --supervise): the
# supervisor holds the worker's listening socket and restarts the worker with
# backoff. kill -9 of the worker under publish and poll load: requests sent
# while no worker runs wait in the socket's backlog and succeed (no 503 from
# the web server), the EventSource-like reader resumes and gets every
# committed message exactly once, in order. Also: the backoff doubles, a
# start-up failure is not retried, fcpush-ws comes back after kill -9,
# SIGHUP is passed on and the supervisor stays, SIGTERM stops supervisor and
# worker (exit 0, socket removed).
. "$FCPUSH_SRCDIR/tests/lib.sh"
. "$FCPUSH_SRCDIR/tests/integration/stream_lib.sh"
MAIN_SETTINGS=(FCPUSH_HEARTBEAT_S=1 FCPUSH_RETRY_MS=100)
fcpush_setup --supervise "${MAIN_SETTINGS[@]}"

# child_is_new OLD: the supervisor runs a child other than OLD (0: any).
child_is_new() {
	local c
	c=$(supervised_child worker)
	[ -n "$c" ] && [ "$c" != "$1" ]
}

# kill_child: kill -9 the worker (not the supervisor); sets KILLED to its pid.
kill_child() {
	KILLED=$(supervised_child worker)
	[ -n "$KILLED" ] || fail "the supervisor runs no worker"
	kill -KILL "$KILLED" || fail "cannot kill worker $KILLED"
}

# publisher CH N: publish m1..mN one after another; every attempt's status
# goes to $T/pub.codes, a failed attempt is retried (bounded).
publisher() {
	local ch=$1 n=$2 i tries code
	for i in $(seq 1 "$n"); do
		tries=0
		while true; do
			code=$("$CURL" -s -o /dev/null -w '%{http_code}' --max-time 10 -H 'Expect:' \
				-H 'Content-Type: text/plain' --data-binary "m$i" "$PUSH/channels/$ch")
			echo "$code" >>"$T/pub.codes"
			[ "$code" = 201 ] && break
			tries=$((tries + 1))
			if [ "$tries" -ge 20 ]; then
				echo "m$i: gave up after $tries attempts (last status $code)" >"$T/pub.fail"
				return 1
			fi
			sleep 0.05
		done
		echo "$i" >"$T/pub.count.tmp"
		mv "$T/pub.count.tmp" "$T/pub.count"
	done
}

# poller N: GET /push/status until N messages are published; statuses to
# $T/poll.codes.
poller() {
	while ! published "$1" && [ ! -e "$T/pub.fail" ]; do
		"$CURL" -s -o /dev/null -w '%{http_code}\n' --max-time 10 "$PUSH/status" >>"$T/poll.codes"
	done
}

# published N: 0 once m1..mN are acknowledged, 2 when the publisher gave up.
published() {
	local n
	[ -e "$T/pub.fail" ] && return 2
	n=$(cat "$T/pub.count" 2>/dev/null)
	[ "${n:-0}" -ge "$1" ] 2>/dev/null || return 1
}

# reader_seqs: the ids of the events reader r got, in order (JSON).
reader_seqs() {
	st_jq r '[.[] | select(.type == "event") | .id | tonumber]'
}

reader_got() {
	[ "$(reader_seqs)" = "$1" ]
}

# not_ok FILE GOOD: the lines of FILE other than GOOD, counted by value.
not_ok() {
	grep -vx "$2" "$1" 2>/dev/null | sort | uniq -c | tr -s ' ' | tr '\n' ',' || true
}

case_kill9() {
	local ch sup want probe bad_pub bad_poll
	ch=$(unique_channel sv)
	rm -f "$T"/pub.* "$T"/poll.*
	publish "$ch" seed
	sup=$(worker_pid worker)
	stream_start r "/push/channels/$ch" --reconnect --retry-ms 100 --last-event-id "$SEQ" --max-time 80
	await_records r '.type == "retry"' 1 10
	publisher "$ch" 200 &
	poller 200 &
	wait_until 20 "50 messages published" published 50 || fail "the publisher is stuck: $(cat "$T/pub.fail" 2>/dev/null)"
	kill_child
	# Sent while no worker runs (the restart waits 100 ms): it must wait in
	# the backlog, not be refused.
	probe=$("$CURL" -s -o /dev/null -w '%{http_code} %{time_total}' --max-time 10 "$PUSH/status")
	log "a request sent right after kill -9: ${probe% *} in ${probe#* } s"
	assert_eq "${probe% *}" 200 "status of GET /push/status sent while the worker was dead"
	wait_until 10 "a new worker" child_is_new "$KILLED" || fail "the supervisor did not start a new worker"
	assert_eq "$(worker_pid worker)" "$sup" "the supervisor's pid (it must survive)"
	grep -q "killed by signal 9" "$T/worker.err" || fail "the supervisor did not log the crash"
	wait_until 60 "the publisher to finish" published 200 || fail "publisher: $(cat "$T/pub.fail" 2>/dev/null)"
	# Every committed row after the seed (the seed is the channel's first).
	want=$(db_seqs "$ch" | "$JQ" -c '.[1:]')
	wait_until 15 "the reader to get every committed seq" reader_got "$want" ||
		fail "the reader's seqs differ from the committed ones:
      committed: $want
      received:  $(reader_seqs)
$(st_tail r)"
	stream_stop r
	bad_pub=$(grep -cvx 201 "$T/pub.codes")
	bad_poll=$(grep -cvx 200 "$T/poll.codes")
	log "publishes: $(wc -l <"$T/pub.codes") attempts, not 201: $bad_pub ($(not_ok "$T/pub.codes" 201)); polls: $(wc -l <"$T/poll.codes"), not 200: $bad_poll ($(not_ok "$T/poll.codes" 200)); reader connections: $(st_count r '.type == "open"')"
	assert_eq "$(st_jq r '[.[] | select(.type == "event") | .data] | map(select(test("^m[0-9]+$"))) | unique | length')" 200 \
		"distinct messages the reader got (m1..m200)"
	[ "$(st_count r '.type == "open"')" -ge 2 ] || fail "the reader never reconnected: was the worker killed?"
	[ "$(st_count r '.type == "open" and .status != 200')" = 0 ] ||
		fail "a reconnection was refused: $(st_jq r '[.[] | select(.type == "open") | .status]')"
	# Only a request the killed worker had already accepted may fail (one
	# publisher and one poller: at most one each); nothing sent during the
	# restart does.
	[ "$bad_pub" -le 1 ] || fail "$bad_pub publishes failed: $(not_ok "$T/pub.codes" 201)"
	[ "$bad_poll" -le 1 ] || fail "$bad_poll polls failed: $(not_ok "$T/poll.codes" 200)"
}

case_backoff() {
	local i
	for i in 1 2 3; do
		kill_child
		wait_until 10 "a new worker" child_is_new "$KILLED" || fail "no new worker after kill $i"
	done
	grep -o 'killed by signal 9 after [0-9]* ms; restarting in [0-9]* ms' "$T/worker.err" | tail -n 3 |
		sed 's/.*restarting in \([0-9]*\) ms/\1/' >"$T/delays"
	log "restart delays for three quick crashes: $(tr '\n' ' ' <"$T/delays")ms"
	# The previous case's crash was less than 10 s ago: the delays go on
	# from there (200 ms), doubling up to 5 s.
	awk 'NR == 1 { d = $1; if (d < 100) bad = 1; next }
		{ w = d * 2 > 5000 ? 5000 : d * 2; if ($1 != w) bad = 1; d = $1 }
		END { exit bad || NR != 3 }' "$T/delays" ||
		fail "restart delays do not double while crashes come quickly: $(tr '\n' ' ' <"$T/delays")"
	req GET /push/status
	assert_status 200
}

case_startup_failure() {
	local rc
	start_daemon bad worker "$T/bad.sock" worker_ready "$FCPUSH_FCGI" FCPUSH_LISTEN="$T/bad.sock" \
		FCPUSH_DATABASE="$T/missing/dir/fcpush.db" --supervise >/dev/null 2>&1
	wait_until 10 "the supervisor to give up" test -e "$T/bad.rc" ||
		fail "the supervisor still runs 10 s after its worker failed at start-up"
	rc=$(cat "$T/bad.rc")
	[ "$rc" != 0 ] || fail "exit status 0 after a start-up failure"
	grep -q "at start-up: not restarting" "$T/bad.err" || fail "no log line for the start-up failure: $(cat "$T/bad.err")"
	[ ! -e "$T/bad.sock" ] || fail "the supervisor left its socket behind"
	forget_worker bad
}

ws_handshake() {
	"$CURL" -s -o /dev/null -w '%{http_code}' --max-time 1 -H 'Connection: Upgrade' -H 'Upgrade: websocket' \
		-H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' \
		"$PUSH/ws/channels/$1" 2>/dev/null
}

ws_upgrades() {
	[ "$(ws_handshake "$1")" = 101 ]
}

ws_child_is_new() {
	local c
	c=$(supervised_child ws)
	[ -n "$c" ] && [ "$c" != "$1" ]
}

case_ws() {
	local ch old gap
	ch=$(unique_channel svws)
	start_ws ws --supervise || fail "cannot start fcpush-ws --supervise"
	wait_until 10 "a WebSocket handshake" ws_upgrades "$ch" || fail "no 101 from fcpush-ws"
	old=$(supervised_child ws)
	[ -n "$old" ] || fail "fcpush-ws --supervise runs no child"
	kill -KILL "$old"
	gap=$(ws_handshake "$ch")
	log "a WebSocket handshake right after kill -9 of fcpush-ws: $gap"
	wait_until 10 "a new fcpush-ws" ws_child_is_new "$old" || fail "the supervisor did not restart fcpush-ws"
	wait_until 10 "a WebSocket handshake" ws_upgrades "$ch" || fail "no 101 after the restart"
}

# SIGHUP to the supervisor reaches the worker (which reloads, or stops and
# is started again): the supervisor stays and requests keep succeeding.
case_sighup() {
	local sup i
	sup=$(worker_pid worker)
	kill -HUP "$sup"
	for i in $(seq 1 20); do
		req GET /push/status
		assert_status 200
	done
	kill -0 "$sup" 2>/dev/null || fail "the supervisor died on SIGHUP"
	[ ! -e "$T/worker.rc" ] || fail "the supervisor exited on SIGHUP with status $(cat "$T/worker.rc")"
	wait_until 10 "a worker" child_is_new 0 || fail "no worker runs after SIGHUP"
}

case_sigterm() {
	local sup child
	sup=$(worker_pid worker)
	child=$(supervised_child worker)
	kill -TERM "$sup"
	wait_until 20 "the supervisor to exit" test -e "$T/worker.rc" || fail "the supervisor ignored SIGTERM"
	assert_eq "$(cat "$T/worker.rc")" 0 "the supervisor's exit status"
	! kill -0 "$child" 2>/dev/null || fail "worker $child outlived its supervisor"
	[ ! -e "$SOCKET" ] || fail "the supervisor left $SOCKET behind"
	grep -q "signal 15: stopping" "$T/worker.err" || fail "the worker did not stop on SIGTERM"
}

run_case "kill -9 under publish and poll load: requests queue, the reader resumes, no loss, no duplicate" case_kill9
run_case "quick crashes: each restart waits twice as long as the last" case_backoff
run_case "a worker failing at start-up is not restarted; the supervisor exits non-zero" case_startup_failure
run_case "fcpush-ws --supervise: restarted after kill -9" case_ws
run_case "SIGHUP to the supervisor: passed on, the supervisor stays, requests succeed" case_sighup
run_case "SIGTERM to the supervisor stops the worker; exit 0, socket removed" case_sigterm
finish
