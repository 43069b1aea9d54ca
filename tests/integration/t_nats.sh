#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# fcpush on a 3-node NATS JetStream cluster (store backend nats, stream with
# 3 replicas), with two web nodes sharing it: node A (the worker and server
# of fcpush_setup) and node B (a second worker and web server of its own).
# A subscriber on node A receives what is published on node B (long poll,
# SSE, WebSocket, NDJSON, poll); the nats-server leading the stream killed (SIGKILL) under publish
# load loses no
# acknowledged message, and a subscriber resuming by seq gets every message
# exactly once, in order. Runs whatever FCPUSH_TEST_STORE says; skipped when
# nats-server or the build's nats backend is missing.
. "$FCPUSH_SRCDIR/tests/lib.sh"

. "$FCPUSH_SRCDIR/tests/nats_lib.sh"
if [ ! -x "$NATS_SERVER" ] || ! "$FCPUSH" --version | grep -q 'nats '; then
	echo "ok - [$SERVER] $TEST_NAME: # SKIP nats-server or the nats store backend is missing"
	exit 0
fi
export FCPUSH_TEST_STORE=nats FCPUSH_TEST_NATS_NODES=3
fcpush_setup
start_ws ws || setup_failed # node A's fcpush-ws, for the WebSocket case

# ---- node B: its own worker and web server, the same cluster --------------

B_PID=
# start_node_b: worker "workerB" on $T/workerB.sock and $SERVER on a free
# port from the same template (state in $T/b); sets B_PUSH and B_PID.
start_node_b() {
	local bin port conf try
	mkdir -p "$T/b"
	start_worker workerB "$T/workerB.sock" || return 1
	case $SERVER in
	lighttpd) bin=$(find_prog lighttpd "${LIGHTTPD:-}") ;;
	apache) bin=$(find_prog apache2 "${APACHE2:-}") ;;
	esac
	for try in 1 2 3 4 5; do
		port=$(free_port) || return 1
		conf="$T/b/$SERVER.conf"
		sed -e "s|@PORT@|$port|g" -e "s|@WSSOCKET@|$T/b/ws.sock|g" -e "s|@STATE@|$T/b|g" \
			-e "s|@SOCKET@|$T/workerB.sock|g" -e "s|@WWW@|$T/www|g" \
			-e "s|@MODULES@|${APACHE_MODULES:-/usr/lib/apache2/modules}|g" \
			"$FCPUSH_SRCDIR/conf/$SERVER.conf.in" >"$conf"
		if [ "$SERVER" = lighttpd ]; then
			"$bin" -D -f "$conf" </dev/null >>"$T/b/server.out" 2>&1 &
		else
			"$bin" -f "$conf" -DFOREGROUND </dev/null >>"$T/b/server.out" 2>&1 &
		fi
		B_PID=$!
		if wait_until 20 "node B's $SERVER on $port" node_b_answers "$port"; then
			B_PUSH="http://127.0.0.1:$port/push"
			log "node B: $SERVER pid $B_PID on $B_PUSH"
			return 0
		fi
		kill -TERM "$B_PID" 2>/dev/null
		wait "$B_PID" 2>/dev/null
		B_PID=
	done
	return 1
}

node_b_answers() {
	kill -0 "$B_PID" 2>/dev/null || return 2
	"$CURL" -s -o /dev/null --max-time 1 "http://127.0.0.1:$1/"
}

stop_node_b() {
	[ -n "$B_PID" ] || return 0
	kill -TERM "$B_PID" 2>/dev/null
	wait_until 15 "node B's $SERVER to exit" eval '! kill -0 "$B_PID" 2>/dev/null' || kill -KILL "$B_PID" 2>/dev/null
	wait "$B_PID" 2>/dev/null
	B_PID=
}
trap 'stop_node_b; on_exit' EXIT

start_node_b || setup_failed

# ---- cases -------------------------------------------------------------------

case_cross_node_long_poll() {
	local ch seq
	ch=$(unique_channel xn)
	bg_req lp GET "/push/channels/$ch?since=0" -H 'Prefer: wait=10'
	await_parked 1
	req POST "$B_PUSH/channels/$ch" -H 'Content-Type: text/plain' --data-binary 'from node B'
	assert_status 201
	seq=$(json .seq)
	bg_wait lp
	assert_status 200
	assert_json '.messages[0].data' 'from node B'
	assert_json '.messages[0].seq' "$seq"
}

case_cross_node_sse() {
	local ch s1 s2
	ch=$(unique_channel xs)
	"$CURL" -sN --max-time 8 -H 'Accept: text/event-stream' "$PUSH/channels/$ch" >"$T/sse.out" 2>/dev/null &
	await_parked 1
	req POST "$B_PUSH/channels/$ch" -H 'Content-Type: text/plain' --data-binary 'one'
	assert_status 201
	s1=$(json .seq)
	req POST "$B_PUSH/channels/$ch" -H 'Content-Type: text/plain' --data-binary 'two'
	s2=$(json .seq)
	wait_until 5 "both events on node A's stream" grep -q '^data: two' "$T/sse.out" ||
		fail "node A's stream got: $(cat "$T/sse.out")"
	# Events are "id:" then "data:" lines (the opening's bare "id:" sets the
	# cursor, with no data).
	assert_eq "$(grep -A1 '^id: ' "$T/sse.out" | grep -B1 '^data: ' | grep '^id: ' | tr '\n' ' ')" \
		"id: $s1 id: $s2 " "ids of the events on node A (stream: $(tr '\n' '|' <"$T/sse.out"))"
}

# The other transports on node A (a WebSocket through fcpush-ws, an NDJSON
# stream, a poll) get what is published on node B, in order. Each is open
# (the WebSocket's handshake done, the stream's headers sent) before the
# publishes, so they arrive live; since=0 keeps a late one from missing them.
case_cross_node_other_transports() {
	local ch s1 s2
	ch=$(unique_channel xt)
	/usr/bin/python3 -c 'import websockets' 2>/dev/null || fail "python3-websockets is missing for /usr/bin/python3"
	rm -f "$T"/xt-*
	(
		/usr/bin/python3 "$FCPUSH_SRCDIR/tests/integration/ws_client.py" listen \
			"ws://127.0.0.1:$PORT/push/ws/channels/$ch?since=0" --count 2 --ready "$T/xt-ws.ready" --timeout 20 \
			>"$T/xt-ws.out" 2>"$T/xt-ws.err"
		put_status "$T/xt-ws.rc" $?
	) &
	"$CURL" -sN --max-time 20 -D "$T/xt-nd.head" -H 'Accept: application/x-ndjson' "$PUSH/channels/$ch?since=0" \
		>"$T/xt-nd.out" 2>/dev/null &
	wait_until 10 "the WebSocket on node A to open" test -e "$T/xt-ws.ready" ||
		fail "the WebSocket did not open: $(cat "$T/xt-ws.out" "$T/xt-ws.err" 2>/dev/null)"
	wait_until 10 "the NDJSON stream on node A to open" test -s "$T/xt-nd.head" || fail "the NDJSON stream did not open"
	req POST "$B_PUSH/channels/$ch" -H 'Content-Type: text/plain' --data-binary 'one'
	assert_status 201
	s1=$(json .seq)
	req POST "$B_PUSH/channels/$ch" -H 'Content-Type: text/plain' --data-binary 'two'
	assert_status 201
	s2=$(json .seq)
	wait_until 15 "both messages on the WebSocket" test -e "$T/xt-ws.rc" || fail "the WebSocket got: $(cat "$T/xt-ws.out")"
	assert_eq "$(cat "$T/xt-ws.rc")" 0 "the WebSocket client's exit status ($(cat "$T/xt-ws.err"))"
	assert_eq "$("$JQ" -r 'select(.type == "message") | "\(.seq) \(.data)"' "$T/xt-ws.out" | tr '\n' ' ')" \
		"$s1 one $s2 two " "messages on node A's WebSocket"
	wait_until 15 "both messages on the NDJSON stream" grep -q '"two"' "$T/xt-nd.out" ||
		fail "the NDJSON stream got: $(cat "$T/xt-nd.out")"
	assert_eq "$("$JQ" -r 'select(.data != null) | "\(.seq) \(.data)"' "$T/xt-nd.out" | tr '\n' ' ')" \
		"$s1 one $s2 two " "messages on node A's NDJSON stream"
	req GET "$PUSH/channels/$ch?since=0"
	assert_status 200
	assert_json '[.messages[] | "\(.seq) \(.data)"]' "[\"$s1 one\",\"$s2 two\"]"
}

# Idempotency keys on JetStream (Nats-Msg-Id): a key sent again through the
# other node is a replay (same seq and time, Idempotent-Replayed), the same
# key with another body is refused 422, and the channel holds one message.
case_idempotent_across_nodes() {
	local ch s t
	ch=$(unique_channel idem)
	req POST "$PUSH/channels/$ch" -H 'Content-Type: text/plain' -H 'Idempotency-Key: "k1"' --data-binary 'once'
	assert_status 201
	assert_no_header Idempotent-Replayed
	s=$(json .seq)
	t=$(json .time)
	req POST "$B_PUSH/channels/$ch" -H 'Content-Type: text/plain' -H 'Idempotency-Key: "k1"' --data-binary 'once'
	assert_status 201
	assert_header Idempotent-Replayed true
	assert_json .seq "$s"
	assert_json .time "$t"
	req POST "$B_PUSH/channels/$ch" -H 'Content-Type: text/plain' -H 'Idempotency-Key: "k1"' --data-binary 'other'
	assert_status 422
	assert_json .error idempotency_key_reused
	req GET "$PUSH/channels/$ch?since=0"
	assert_status 200
	assert_json '[.messages[] | .seq]' "[$s]"
}

# publisher CH N [BASE]: publish N messages "m1".."mN" to CH through node B
# (or BASE, a /push URL), one at
# a time, retrying a message until it is acknowledged (201; a 503 while the
# cluster re-elects a leader is retried). Each acknowledged seq goes to
# $T/acked, the retries to $T/pub.retries; $T/pub.done marks the end.
publisher() {
	local ch=$1 n=$2 base=${3:-$B_PUSH} i code tries
	for i in $(seq 1 "$n"); do
		for tries in $(seq 1 100); do
			code=$("$CURL" -s -o "$T/pub.body" -w '%{http_code}' --max-time 10 -H 'Content-Type: text/plain' \
				--data-binary "m$i" "$base/channels/$ch")
			[ "$code" = 201 ] && break
			echo "m$i: $code" >>"$T/pub.retries"
			sleep 0.1
		done
		[ "$code" = 201 ] || { echo "m$i never acknowledged" >"$T/pub.fail"; return 1; }
		"$JQ" -r .seq "$T/pub.body" >>"$T/acked"
	done
	touch "$T/pub.done"
}

# reader CH SINCE [BASE FALLBACK]: long polls on node A (or BASE) from
# SINCE, resuming from the last seq it got after any error, until
# $T/pub.done exists and it has caught up with the last acknowledged seq.
# When BASE stops answering (no HTTP answer, or the web server's 502/503:
# the node is gone) it goes on at FALLBACK with its seq, as a client of a
# dead web node (or its load balancer) does.
# Every seq received goes to $T/got.
reader() {
	local ch=$1 cur=$2 base=${3:-$PUSH} fallback=${4:-} code last
	while true; do
		code=$("$CURL" -s -o "$T/rd.body" -w '%{http_code}' --max-time 10 -H 'Prefer: wait=2' \
			"$base/channels/$ch?since=$cur")
		if [ -n "$fallback" ] && { [ "$code" = 000 ] || [ "$code" = 502 ] || [ "$code" = 503 ]; }; then
			echo "failed over at seq $cur" >>"$T/rd.errors"
			base=$fallback
			fallback=
			continue
		fi
		if [ "$code" = 200 ]; then
			"$JQ" -r '.messages[].seq' "$T/rd.body" >>"$T/got"
			cur=$("$JQ" -r .last_seq "$T/rd.body")
		elif [ "$code" != 204 ]; then
			echo "$code" >>"$T/rd.errors"
			sleep 0.1
		fi
		if [ -e "$T/pub.done" ]; then
			last=$(tail -n 1 "$T/acked" 2>/dev/null || echo 0)
			[ "$cur" -ge "$last" ] && break
		fi
	done
	touch "$T/rd.done"
}

# await_publisher_and_reader: the publisher has every message acknowledged
# (or failed: the case fails) and the reader has received the last of them.
await_publisher_and_reader() {
	wait_until 150 "the publisher to finish" test -e "$T/pub.done" -o -e "$T/pub.fail" ||
		fail "the publisher did not finish"
	[ -e "$T/pub.fail" ] && fail "publisher: $(cat "$T/pub.fail")"
	wait_until 60 "the reader to catch up" test -e "$T/rd.done" ||
		fail "the reader did not catch up: got $(wc -l <"$T/got") seqs, last $(tail -n 1 "$T/got")"
}

acked_count_at_least() {
	[ "$(wc -l <"$T/acked" 2>/dev/null || echo 0)" -ge "$1" ]
}

case_kill_one_nats_server() {
	local ch seed leader
	ch=$(unique_channel kill)
	rm -f "$T/acked" "$T/got" "$T/pub.done" "$T/pub.fail" "$T/pub.retries" "$T/rd.done" "$T/rd.errors"
	req POST "$B_PUSH/channels/$ch" -H 'Content-Type: text/plain' --data-binary 'seed'
	assert_status 201
	seed=$(json .seq)
	reader "$ch" "$seed" &
	publisher "$ch" 200 &
	wait_until 60 "50 acknowledged publishes" acked_count_at_least 50 ||
		fail "the publisher is stuck: $(cat "$T/pub.fail" 2>/dev/null)"
	# The one whose loss hurts most: the leader of the message stream.
	leader=$(nats_stream_leader "$T/nats" fcpush) || fail "no node names the leader of stream fcpush"
	nats_node_stop "$T/nats" "$leader" KILL
	log "killed nats-server n$leader (the stream's leader) after $(wc -l <"$T/acked") acknowledged publishes"
	await_publisher_and_reader
	log "200 acknowledged (retries: $(wc -l <"$T/pub.retries" 2>/dev/null || echo 0): $(sort "$T/pub.retries" 2>/dev/null | awk '{ print $2 }' | sort | uniq -c | tr '\n' ' ')); reader errors: $(wc -l <"$T/rd.errors" 2>/dev/null || echo 0)"
	assert_exactly_once "$T/acked" "$T/got"
	# A subscriber that comes back later with its seq resumes from it.
	req GET "/push/channels/$ch?since=$(sed -n 100p "$T/got")"
	assert_status 200
	assert_json '.messages[0].seq' "$(sed -n 101p "$T/got")"
}

# A whole web node dies (kill -9 of its web server and worker) under
# publish load: its long-poll client goes on at the other node with its seq
# and gets every acknowledged message exactly once, in order. Last: node B
# stays dead (a case runs in a subshell; the teardown reaps it).
case_kill_web_node() {
	local ch seed
	ch=$(unique_channel webnode)
	rm -f "$T/acked" "$T/got" "$T/pub.done" "$T/pub.fail" "$T/pub.retries" "$T/rd.done" "$T/rd.errors"
	: >"$T/acked"
	req POST "$PUSH/channels/$ch" -H 'Content-Type: text/plain' --data-binary 'seed'
	assert_status 201
	seed=$(json .seq)
	reader "$ch" "$seed" "$B_PUSH" "$PUSH" &
	publisher "$ch" 150 "$PUSH" &
	wait_until 60 "40 acknowledged publishes" acked_count_at_least 40 ||
		fail "the publisher is stuck: $(cat "$T/pub.fail" 2>/dev/null)"
	# The web server's children too (Apache's keep the listening socket).
	kill -KILL "$B_PID" $(cat /proc/"$B_PID"/task/*/children 2>/dev/null) "$(worker_pid workerB)" 2>/dev/null
	forget_worker workerB
	wait "$B_PID" 2>/dev/null
	B_PID=
	log "killed node B (web server and worker) after $(wc -l <"$T/acked") acknowledged publishes"
	await_publisher_and_reader
	grep -q 'failed over' "$T/rd.errors" 2>/dev/null || fail "the reader never had to fail over"
	log "reader: $(cat "$T/rd.errors")"
	assert_exactly_once "$T/acked" "$T/got"
}

run_case "a long poll on node A receives a publish made on node B" case_cross_node_long_poll
run_case "an SSE stream on node A receives publishes made on node B, in order" case_cross_node_sse
run_case "a WebSocket, an NDJSON stream and a poll on node A get publishes made on node B, in order" case_cross_node_other_transports
run_case "an idempotency key is one message across nodes; reused for another body: 422" case_idempotent_across_nodes
run_case "kill -9 of one nats-server under publish load: no acknowledged message lost, the reader resumes exactly once, in order" case_kill_one_nats_server
run_case "kill -9 of a whole web node under publish load: its client resumes on the other node by seq, exactly once, in order" case_kill_web_node
stop_node_b
finish
