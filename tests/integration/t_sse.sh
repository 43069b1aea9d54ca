#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Server-Sent Events through the web server: the opening, events (id, event
# name, data lines for LF / CR / CRLF bodies, empty, UTF-8, binary, 200 KB),
# every cursor (Last-Event-ID, ?since, ?lastEventId, ?last_event_id, ?last),
# multi-channel order, the gap event, wake-ups by the CLI and raw sqlite3,
# DELETE, a client that leaves, a client that stalls, kill -9 of the worker
# under publish load (an EventSource-like client resumes with no loss and no
# duplicate), SIGTERM, bad input. Events are read one by one by the Python
# client of stream_lib.sh; every wait is bounded.
. "$FCPUSH_SRCDIR/tests/lib.sh"
. "$FCPUSH_SRCDIR/tests/integration/stream_lib.sh"
MAIN_SETTINGS=(FCPUSH_HEARTBEAT_S=1 FCPUSH_RETRY_MS=500)
fcpush_setup "${MAIN_SETTINGS[@]}"

# sse_open NAME PATH [CLIENT-ARGS...]: start an SSE client and wait for its
# opening (the retry field comes after the headers and the comment): the
# worker then holds the stream.
sse_open() {
	local name=$1
	stream_start "$@"
	await_records "$name" '.type == "retry"' 1 10
}

case_opening() {
	local ch
	ch=$(unique_channel open)
	sse_open s "/push/channels/$ch"
	assert_eq "$(st_jq s '.[0].status')" 200 "status"
	assert_eq "$(st_jq s '.[0].headers["content-type"]')" "text/event-stream; charset=utf-8" "Content-Type"
	assert_eq "$(st_jq s '.[0].headers["cache-control"]')" "no-cache" "Cache-Control"
	assert_eq "$(st_jq s '.[0].headers["x-accel-buffering"]')" "no" "X-Accel-Buffering"
	# The comment commits the headers; retry; id: sets the EventSource's
	# last event ID to the stream's start without dispatching an event.
	assert_eq "$(head -c 24 "$T/st-s.raw" | od -An -c | tr -s ' ')" \
		"$(printf ': fcpush\nretry: 500\nid: ' | od -An -c | tr -s ' ')" "the first bytes of the body"
	assert_eq "$(head -n 4 "$T/st-s.raw" | sed -n '3{s/^id: [0-9][0-9]*$/ok/;p}')$(head -n 4 "$T/st-s.raw" | sed -n 4p)" \
		"ok" "the opening ends with id: SEQ and a blank line"
	assert_eq "$(st_count s '.type == "event"')" 0 "events without a cursor (new messages only)"
	# ?stream=sse without an Accept header.
	sse_open q "/push/channels/$ch?stream=sse" --no-accept
	assert_eq "$(st_jq q '.[0].headers["content-type"]')" "text/event-stream; charset=utf-8" "Content-Type (?stream=sse)"
}

case_message_event() {
	local ch s1 s2 s3
	ch=$(unique_channel ev)
	publish "$ch" 'before the stream'
	sse_open s "/push/channels/$ch"
	publish "$ch?event=greeting" 'hello'
	s1=$SEQ
	req POST "/push/channels/$ch" -H 'Content-Type: text/plain' -H 'X-EventSource-Event: by-header' --data-binary 'second'
	assert_status 201
	s2=$(json .seq)
	publish "$ch" 'third'
	s3=$SEQ
	await_records s '.type == "event"' 3 10
	assert_eq "$(st_jq s '[.[] | select(.type == "event") | [.id, .event, .data]]')" \
		"[[\"$s1\",\"greeting\",\"hello\"],[\"$s2\",\"by-header\",\"second\"],[\"$s3\",\"message\",\"third\"]]" \
		"events (id, event, data)"
}

case_bodies() {
	local ch big_md5 got_md5
	ch=$(unique_channel body)
	"$PY" -c 'import random, string
r = random.Random(7)
print("".join(r.choice(string.ascii_letters + string.digits) for _ in range(204800)), end="")' >"$T/big.txt"
	sse_open s "/push/channels/$ch"
	publish "$ch" $'l1\nl2\n\nl4'
	publish "$ch" $'c1\rc2'
	publish "$ch" $'r1\r\nr2\r\n'
	publish "$ch" ''
	publish "$ch" 'héllo wörld ✓ 日本語 🚀'
	printf '\xff\xfe\x00binary' >"$T/bin.dat"
	publish "$ch" "@$T/bin.dat" -H 'Content-Type: application/octet-stream'
	publish "$ch" "@$T/big.txt"
	await_records s '.type == "event"' 7 15
	assert_eq "$(st_jq s '[.[] | select(.type == "event") | .data][0:6]')" \
		"[\"l1\\nl2\\n\\nl4\",\"c1\\nc2\",\"r1\\nr2\\n\",\"\",\"héllo wörld ✓ 日本語 🚀\",\"$(base64 <"$T/bin.dat")\"]" \
		"data of LF, CR, CRLF, empty, UTF-8 and binary (base64) bodies"
	# The raw bytes: one data: line per body line, "data:" for an empty one.
	if ! grep -q -a -x 'data: c1' "$T/st-s.raw" || ! grep -q -a -x 'data: c2' "$T/st-s.raw"; then
		fail "a CR-separated body is not split into data lines"
	fi
	grep -q -a -x 'data:' "$T/st-s.raw" || fail "an empty body is not sent as a bare 'data:' line"
	big_md5=$(md5sum <"$T/big.txt")
	got_md5=$(st_jq s '[.[] | select(.type == "event")][6].data' | tr -d '\n' | md5sum)
	assert_eq "$got_md5" "$big_md5" "md5 of the 200 KB body received"
}

case_resume() {
	local ch i s=() name
	ch=$(unique_channel res)
	for i in 1 2 3 4 5; do
		publish "$ch" "r$i"
		s+=("$SEQ")
	done
	sse_open lei "/push/channels/$ch" -H "Last-Event-ID: ${s[1]}"
	sse_open since "/push/channels/$ch?since=${s[1]}"
	sse_open camel "/push/channels/$ch?lastEventId=${s[1]}"
	sse_open snake "/push/channels/$ch?last_event_id=${s[1]}"
	sse_open last "/push/channels/$ch?last=2"
	publish "$ch" live
	for name in lei since camel snake; do
		await_records "$name" '.type == "event"' 4 10
		assert_eq "$(st_datas "$name")" '["r3","r4","r5","live"]' "events with cursor $name=${s[1]}"
		assert_eq "$(st_jq "$name" '[.[] | select(.type == "event") | .id][0]')" "${s[2]}" "first id ($name)"
	done
	await_records last '.type == "event"' 3 10
	assert_eq "$(st_datas last)" '["r4","r5","live"]' "events with ?last=2"
	# Nothing more arrives after the live one (no duplicate re-sent).
	publish "$ch" end
	for name in lei since camel snake last; do
		await_records "$name" '.data == "end"' 1 10
		assert_eq "$(st_count "$name" '.type == "event" and (.data == "live" or .data == "r5")')" 2 \
			"no duplicate on stream $name"
	done
}

# An EventSource whose URL carries ?since= reconnects to that same URL with a
# Last-Event-ID header: the header is the newer cursor and must win, or every
# reconnection replays from the URL's cursor.
case_header_beats_query() {
	local ch i s=()
	ch=$(unique_channel prec)
	for i in 1 2 3 4; do
		publish "$ch" "p$i"
		s+=("$SEQ")
	done
	sse_open s "/push/channels/$ch?since=${s[0]}" -H "Last-Event-ID: ${s[2]}"
	publish "$ch" live
	await_records s '.data == "live"' 1 10
	assert_eq "$(st_datas s)" '["p4","live"]' \
		"events for ?since=${s[0]} with Last-Event-ID: ${s[2]} (an EventSource reconnecting)"
}

case_multi_channel() {
	local a b c sa1
	a=$(unique_channel ma)
	b=$(unique_channel mb)
	c=$(unique_channel mc)
	publish "$a" a1
	sa1=$SEQ
	publish "$b" b1
	publish "$c" c1
	publish "$a" a2
	publish "$b" b2
	sse_open s "/push/channels/$a,$b" -H "Last-Event-ID: $sa1"
	publish "$b" b3
	publish "$c" c2
	publish "$a" a3
	await_records s '.type == "event"' 5 10
	publish "$a" a4
	await_records s '.data == "a4"' 1 10
	assert_eq "$(st_datas s)" '["b1","a2","b2","b3","a3","a4"]' "events of $a,$b after $sa1"
	assert_eq "$(st_jq s '[.[] | select(.type == "event") | .id | tonumber] | . == sort and . == unique')" true \
		"ids strictly increasing"
}

case_gap() {
	local ch i epoch s=()
	ch=$(unique_channel gap)
	for i in 1 2 3 4 5 6; do
		publish "$ch" "g$i"
		s+=("$SEQ")
	done
	wait_until 10 "retention to trim $ch to 2 messages" info_is "$ch" messages 2 ||
		fail "the channel still holds $(info_field "$ch" messages) messages"
	sse_open s "/push/channels/$ch" -H "Last-Event-ID: ${s[0]}"
	await_records s '.type == "event"' 3 10
	req GET "/push/channels/$ch?since=0"
	epoch=$(header Push-Epoch) # the database's epoch, on every answer
	assert_eq "$(st_jq s '[.[] | select(.type == "event") | [.event, .data]]')" \
		"[[\"gap\",\"{\\\"oldest\\\":${s[4]},\\\"epoch\\\":\\\"$epoch\\\"}\"],[\"message\",\"g5\"],[\"message\",\"g6\"]]" \
		"gap event (oldest seq, the database's epoch) then what remains"
	assert_eq "$(st_jq s '[.[] | select(.type == "event")][1].id')" "${s[4]}" "id of the first message after the gap"
	# A cursor at the oldest remaining message: no gap.
	sse_open n "/push/channels/$ch" -H "Last-Event-ID: ${s[4]}"
	await_records n '.type == "event"' 1 10
	publish "$ch" g7
	await_records n '.data == "g7"' 1 10
	assert_eq "$(st_datas n)" '["g6","g7"]' "events after ${s[4]} (no gap)"
}

case_cross_process() {
	local ch seq
	ch=$(unique_channel xp)
	sse_open s "/push/channels/$ch"
	seq=$("$FCPUSH" --database "$DB" publish "$ch" 'from the CLI') || fail "fcpush publish failed"
	await_records s '.type == "event"' 1 5
	assert_eq "$(st_jq s '[.[] | select(.type == "event")][0] | [.id, .data]')" "[\"$seq\",\"from the CLI\"]" "event from the CLI"
	sqlite_only "sqlite3 INSERT (the CLI part above ran)"
	seq=$("$SQLITE3" -cmd '.timeout 5000' "$DB" \
		"INSERT INTO messages(channel, body) VALUES('$ch', 'from sqlite3'); SELECT last_insert_rowid();") ||
		fail "sqlite3 INSERT failed"
	await_records s '.type == "event"' 2 5
	assert_eq "$(st_jq s '[.[] | select(.type == "event")][1] | [.id, .data]')" "[\"$seq\",\"from sqlite3\"]" "event from sqlite3"
}

case_deleted() {
	local ch
	ch=$(unique_channel del)
	publish "$ch" x
	sse_open s "/push/channels/$ch"
	req DELETE "/push/channels/$ch"
	assert_status 204
	wait_until 10 "the stream to end after DELETE" stream_exited s ||
		fail "the stream is still open 10 s after DELETE:
$(st_tail s)"
	assert_eq "$(st_jq s '[.[] | select(.type == "event")] | last | [.event, .data]')" \
		"[\"deleted\",\"{\\\"channel\\\":\\\"$ch\\\"}\"]" "the last event"
	assert_eq "$(st_jq s 'last | [.type, .why]')" '["end","eof"]' "the response ends (cleanly)"
}

case_disconnect() {
	local ch closed t0
	ch=$(unique_channel gone)
	# Streams of earlier cases may still be being noticed (Apache: at the next
	# heartbeat); start from none.
	await_status .parked_by_transport.sse eq 0 10
	closed=$(status_field .closed)
	sse_open s "/push/channels/$ch"
	await_status .parked_by_transport.sse eq 1 5
	await_status .parked eq 1 5
	t0=$(now_ms)
	stream_stop s
	await_status .parked eq 0 10
	log "freed $(($(now_ms) - t0)) ms after the client left"
	await_status .parked_by_transport.sse eq 0 1
	await_status .closed ge $((closed + 1)) 1
}

case_bad_input() {
	local ch
	ch=$(unique_channel bad)
	req GET "/push/channels/$ch" -H 'Accept: text/event-stream' -H 'Last-Event-ID: abc'
	assert_error 400
	req GET "/push/channels/$ch" -H 'Accept: text/event-stream' -H 'Last-Event-ID: 12x'
	assert_error 400
	req GET "/push/channels/$ch?since=-1" -H 'Accept: text/event-stream'
	assert_error 400
	req GET "/push/channels/$ch" -H 'Accept: image/png'
	assert_error 406
	req GET "/push/channels/$ch?stream=sse&last=zero" -H 'Accept: */*'
	assert_error 400
	# Still serving streams.
	sse_open s "/push/channels/$ch"
	publish "$ch" 'after the errors'
	await_records s '.data == "after the errors"' 1 5
}

case_max_parked() {
	local ch
	ch=$(unique_channel max)
	await_status .parked eq 0 10
	sse_open a "/push/channels/$ch"
	sse_open b "/push/channels/$ch"
	req GET "/push/channels/$ch" -H 'Accept: text/event-stream' --max-time 5
	assert_error 503
	assert_header_match Retry-After '^[0-9]+$'
	# Counted and logged like every error answer (README "Metrics").
	"$CURL" -s --max-time 5 "$PUSH/metrics" | grep -qx 'fcpush_http_errors_total{code="503"} 1' ||
		fail "the 503 is not in fcpush_http_errors_total"
	grep -q "warn .*GET /push/channels/$ch: 503 too_many_waiting\$" "$T/maxparked.err" ||
		fail "no log line for the 503: $(tail -n 3 "$T/maxparked.err")"
	# A plain poll does not park: served.
	req GET "/push/channels/$ch"
	assert_status 204
	# Once one leaves, a stream is accepted again.
	stream_stop a
	await_status .parked eq 1 10
	sse_open c "/push/channels/$ch"
	publish "$ch" 'for b and c'
	await_records b '.data == "for b and c"' 1 5
	await_records c '.data == "for b and c"' 1 5
}

# A client that sends the request and never reads: the worker drops it once
# stream_max_pending_bytes wait; a normal reader of the same channel gets
# every message in order. The kernel and the web server buffer a few MB for
# the stalled client first (TCP send buffers grow to 4 MB on loopback; its
# SO_RCVBUF is cut to 4 KB): 64 KB messages are published until it is
# dropped, at least STALL_MESSAGES and at most 160.
STALL_MESSAGES=60
case_stalled_reader() {
	local ch i dropped first last at=
	ch=$(unique_channel stall)
	"$PY" -c 'import sys; sys.stdout.write("s" * 65536)' >"$T/64k.txt"
	dropped=$(status_field .dropped)
	stream_start stall "/push/channels/$ch" --mode stall --rcvbuf 4096 --max-time 60
	await_records stall '.type == "stalled"' 1 5
	await_stream_parked sse 1
	sse_open r "/push/channels/$ch" --reconnect --retry-ms 100 --max-time 60
	await_stream_parked sse 2
	for i in $(seq 1 160); do
		req POST "/push/channels/$ch" -H 'Content-Type: text/plain' --data-binary "@$T/64k.txt"
		assert_status 201
		[ "$i" = 1 ] && first=$(json .seq)
		if [ -z "$at" ] && [ "$i" -ge 30 ] && [ $((i % 5)) = 0 ] && status_at_least .dropped $((dropped + 1)); then
			at=$i
		fi
		[ -n "$at" ] && [ "$i" -ge "$STALL_MESSAGES" ] && break
	done
	last=$(json .seq)
	await_status .dropped ge $((dropped + 1)) 10
	log "the stalled client was dropped by message ${at:-$i} of $i (64 KB each)"
	await_records r '.type == "event"' "$i" 20
	assert_eq "$(st_jq r "[.[] | select(.type == \"event\") | .id | tonumber] == [range($first; $last + 1)]")" true \
		"the reader's ids are $first..$last in order"
	assert_eq "$(st_jq r '[.[] | select(.type == "event") | .data | length] | unique')" "[65536]" "the message sizes"
	assert_eq "$(st_count r '.type == "open"')" 1 "connections the normal reader needed (it was dropped too)"
}

# A reader that resumes behind more history than stream_max_pending_bytes
# (default 256 KB here: 20 messages of 64 KB) must still catch up: the
# backlog is history read from the store, not output piling up for a slow
# client.
case_big_backlog() {
	local ch i first last
	ch=$(unique_channel backlog)
	"$PY" -c 'import sys; sys.stdout.write("b" * 65536)' >"$T/64k.txt"
	for i in $(seq 1 20); do
		req POST "/push/channels/$ch" -H 'Content-Type: text/plain' --data-binary "@$T/64k.txt"
		assert_status 201
		[ "$i" = 1 ] && first=$(json .seq)
	done
	last=$(json .seq)
	await_status .parked eq 0 10
	stream_start r "/push/channels/$ch" --reconnect --retry-ms 200 --max-time 20 --last-event-id "$((first - 1))"
	wait_until 10 "the reader to get 20 events" st_has r '.type == "event"' 20 ||
		fail "a reader resuming $((20 * 64)) KB behind got $(st_count r '.type == "event"') of 20 messages in 10 s over $(st_count r '.type == "open"') connections (dropped counter: $(status_field .dropped))"
	assert_eq "$(st_jq r "[.[] | select(.type == \"event\") | .id | tonumber] == [range($first; $last + 1)]")" true \
		"the reader's ids are $first..$last in order"
	# History is not a slow client: the reader reads as fast as it can and
	# should not be dropped (and sent part of it again) on the way.
	assert_eq "$(st_count r '.type == "open"')" 1 \
		"connections needed (dropped $(($(st_count r '.type == "open"') - 1)) times while reading history)"
}

# A message of max_message_bytes (1 MB by default) must reach a live stream
# under the default stream_max_pending_bytes (256 KB): one message is not a
# slow client.
case_max_message_live() {
	local ch
	ch=$(unique_channel onemb)
	"$PY" -c 'import sys; sys.stdout.write("m" * 1048576)' >"$T/1m.txt"
	publish "$ch" small
	await_status .parked eq 0 10
	sse_open r "/push/channels/$ch" --reconnect --retry-ms 200 --max-time 20 --last-event-id "$SEQ"
	publish "$ch" "@$T/1m.txt"
	wait_until 10 "the reader to get the 1 MB message" st_has r '.type == "event"' 1 ||
		fail "a live reader did not get a 1 MB message in 10 s: $(st_count r '.type == "open"') connections, dropped counter $(status_field .dropped)"
	assert_eq "$(st_jq r '[.[] | select(.type == "event") | .data | length]')" "[1048576]" "sizes received"
	assert_eq "$(st_count r '.type == "open"')" 1 \
		"connections needed (a reader that keeps up was dropped $(($(st_count r '.type == "open"') - 1)) times for one message)"
}

# kill -9 the worker while a publisher posts 150 messages (retrying what
# fails) and an EventSource-like reader (reconnecting with Last-Event-ID) is
# subscribed; a new worker takes over the socket. The reader ends with
# exactly the committed seqs, in order.
publisher() {
	local ch=$1 i tries code
	for i in $(seq 1 150); do
		tries=0
		while true; do
			code=$("$CURL" -s -o /dev/null -w '%{http_code}' --max-time 3 -H 'Expect:' \
				-H 'Content-Type: text/plain' --data-binary "m$i" "$PUSH/channels/$ch")
			[ "$code" = 201 ] && break
			tries=$((tries + 1))
			if [ "$tries" -ge 100 ]; then
				echo "m$i: gave up after $tries attempts (last status $code)" >"$T/pub.fail"
				return 1
			fi
			echo "m$i: status $code" >>"$T/pub.retries"
			sleep 0.05
		done
		echo "$i" >"$T/pub.count"
	done
	touch "$T/pub.done"
}

pub_count_at_least() {
	local n
	n=$(cat "$T/pub.count" 2>/dev/null)
	[ -n "$n" ] && [ "$n" -ge "$1" ]
}

pub_finished() {
	[ -e "$T/pub.done" ] && return 0
	[ -e "$T/pub.fail" ] && return 2
	return 1
}

reader_caught_up() {
	local want=$1 got
	got=$(st_jq r '[.[] | select(.type == "event") | .id] | last')
	[ "$got" = "$want" ]
}

case_kill9() {
	local ch seed pid want got msg
	ch=$(unique_channel k9)
	rm -f "$T"/pub.*
	publish "$ch" seed
	seed=$SEQ
	sse_open r "/push/channels/$ch" --reconnect --retry-ms 100 --last-event-id "$seed" --max-time 80
	publisher "$ch" &
	wait_until 20 "50 messages published" pub_count_at_least 50 || fail "the publisher is stuck: $(cat "$T/pub.fail" 2>/dev/null)"
	pid=$(worker_pid k9)
	kill -KILL "$pid" || fail "cannot kill the worker"
	wait_until 5 "worker k9 to die" test -e "$T/k9.rc" || fail "worker k9 survived kill -9"
	start_worker k9b "$SOCKET" "${MAIN_SETTINGS[@]}" || fail "cannot start a second worker"
	wait_until 60 "the publisher to finish" pub_finished || fail "publisher: $(cat "$T/pub.fail" 2>/dev/null)"
	want=$(channel_seqs "$ch" "$seed" | "$JQ" 'last')
	wait_until 15 "the reader to reach seq $want" reader_caught_up "$want" ||
		fail "the reader did not reach seq $want:
$(st_tail r)"
	stream_stop r
	want=$(channel_seqs "$ch" "$seed")
	got=$(st_jq r '[.[] | select(.type == "event") | .id | tonumber]')
	log "committed $(jq length <<<"$want") rows (150 messages, retries: $(wc -l <"$T/pub.retries" 2>/dev/null || echo 0)); reader connections: $(st_count r '.type == "open"')"
	[ "$got" = "$want" ] || fail "the reader's seqs differ from the committed ones:
      committed: $want
      received:  $got"
	[ "$(st_count r '.type == "open"')" -ge 2 ] || fail "the reader never reconnected: was the worker killed?"
	msg=$(stop_worker k9b) || fail "$msg"
}

case_sigterm() {
	local ch pid msg
	ch=$(unique_channel term)
	await_status .parked eq 0 10
	sse_open s "/push/channels/$ch"
	pid=$(worker_pid "$CUR_WORKER")
	kill -TERM "$pid" || fail "cannot signal the worker"
	wait_until 10 "the stream to end after SIGTERM" stream_exited s ||
		fail "the stream is still open 10 s after SIGTERM:
$(st_tail s)"
	assert_eq "$(st_jq s '[.[] | select(.type == "comment")] | last | .text')" "fcpush is shutting down; reconnect" \
		"the last comment"
	assert_eq "$(st_jq s 'last | [.type, .why]')" '["end","eof"]' "the response ends (cleanly)"
	wait_until 20 "the worker to exit" test -e "$T/$CUR_WORKER.rc" || fail "the worker did not exit after SIGTERM"
	msg=$(check_worker_exit "$CUR_WORKER") || fail "$msg"
}

run_case "SSE headers and opening (: fcpush, retry)" case_opening
run_case "a message arrives as an event: id, event name, data" case_message_event
run_case "bodies: LF, CR, CRLF lines, empty, UTF-8, binary, 200 KB" case_bodies
run_case "resume: Last-Event-ID, ?since, ?lastEventId, ?last_event_id, ?last=2" case_resume
run_case "multi-channel stream: both channels in seq order" case_multi_channel
run_case "stream woken by the CLI and by a raw sqlite3 INSERT" case_cross_process
run_case "DELETE ends the stream with event: deleted" case_deleted
run_case "a client that leaves is freed" case_disconnect
run_case "bad input: 400 Last-Event-ID, 406 Accept; still serving" case_bad_input
run_case "Last-Event-ID header wins over ?since (EventSource reconnect)" case_header_beats_query

# (its wrapper's "Killed" notice goes to a file, not to the test's output)
use_worker k9 "${MAIN_SETTINGS[@]}" 2>>"$T/k9.wrapper.err"
run_case "kill -9 under publish load: the reader resumes, no loss, no duplicate" case_kill9
reap_worker k9b
reap_worker k9
forget_worker k9
CUR_WORKER=

use_worker retention FCPUSH_RETENTION_MAX_MESSAGES=2 FCPUSH_TRIM_INTERVAL_MS=50 "${MAIN_SETTINGS[@]}"
run_case "gap: event: gap with the oldest seq, then what remains" case_gap

use_worker stall FCPUSH_STREAM_MAX_PENDING_BYTES=4096 "${MAIN_SETTINGS[@]}"
run_case "a stalled reader is dropped; a normal reader gets every message in order" case_stalled_reader

use_worker maxparked FCPUSH_MAX_PARKED=2 "${MAIN_SETTINGS[@]}"
run_case "max_parked: the third stream gets 503 with Retry-After" case_max_parked
run_case "a reader resuming 1.3 MB behind (more than the pending bound) catches up" case_big_backlog
run_case "a 1 MB message reaches a live stream (default pending bound)" case_max_message_live
run_case "SIGTERM ends the stream with the shutdown comment; exit 0" case_sigterm
finish
