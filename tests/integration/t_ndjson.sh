#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# NDJSON streams (Accept: application/x-ndjson or ?stream=ndjson) through the
# web server: one JSON object per line for messages (text, JSON, binary as
# base64), heartbeats, the gap, a deleted channel, SIGTERM; cursors; a client
# that leaves is freed. Lines are read one by one by the Python client of
# stream_lib.sh; every wait is bounded.
. "$FCPUSH_SRCDIR/tests/lib.sh"
. "$FCPUSH_SRCDIR/tests/integration/stream_lib.sh"
fcpush_setup FCPUSH_HEARTBEAT_S=1 FCPUSH_TRIM_INTERVAL_MS=50

# nd_open NAME PATH [CLIENT-ARGS...]: start an NDJSON client and wait until
# the headers arrived (the worker writes them once it holds the stream).
nd_open() {
	local name=$1
	stream_start "$@" --mode ndjson
	await_open "$name"
	assert_eq "$(st_jq "$name" '[.[] | select(.type == "open")][0].status')" 200 "status of stream $name"
}

# msgs NAME: the message records of stream NAME without their time.
msgs() {
	st_jq "$1" '[.[] | select(.type == "message") | del(.time)]'
}

case_messages() {
	local ch s1 s2 s3 s4 t0
	ch=$(unique_channel nd)
	t0=$(now_ms)
	nd_open n "/push/channels/$ch"
	assert_eq "$(st_jq n '.[0].headers["content-type"]')" "application/x-ndjson" "Content-Type"
	assert_eq "$(st_jq n '.[0].headers["cache-control"]')" "no-cache" "Cache-Control"
	assert_eq "$(st_jq n '.[0].headers["x-accel-buffering"]')" "no" "X-Accel-Buffering"
	publish "$ch?event=note" 'héllo ✓'
	s1=$SEQ
	publish "$ch" '{"a":[1,2],"b":null}' -H 'Content-Type: application/json'
	s2=$SEQ
	printf '\x00\x01\xfe\xff' >"$T/bin.dat"
	publish "$ch" "@$T/bin.dat" -H 'Content-Type: application/octet-stream'
	s3=$SEQ
	publish "$ch" $'two\nlines'
	s4=$SEQ
	await_records n '.type == "message"' 4 10
	assert_eq "$(msgs n)" "$("$JQ" -n -c --arg ch "$ch" --argjson s1 "$s1" --argjson s2 "$s2" --argjson s3 "$s3" \
		--argjson s4 "$s4" --arg b64 "$(base64 <"$T/bin.dat")" '[
		{type: "message", channel: $ch, seq: $s1, event: "note", content_type: "text/plain", data: "héllo ✓"},
		{type: "message", channel: $ch, seq: $s2, content_type: "application/json", data: {a: [1, 2], b: null}},
		{type: "message", channel: $ch, seq: $s3, content_type: "application/octet-stream", data: $b64, encoding: "base64"},
		{type: "message", channel: $ch, seq: $s4, content_type: "text/plain", data: "two\nlines"}]')" \
		"message lines"
	assert_eq "$(st_jq n "[.[] | select(.type == \"message\") | .time | . >= $t0 - 5000 and . <= $(now_ms) + 5000] | unique")" \
		"[true]" "time fields (ms since the epoch)"
	assert_eq "$(st_count n '.type == "bad_line"')" 0 "lines that are not JSON"
	# Every message is one line of its own.
	assert_eq "$(grep -a -c '"type":"message"' "$T/st-n.raw")" 4 "raw lines with a message"
}

case_query_and_cursors() {
	local ch i s=()
	ch=$(unique_channel ndq)
	for i in 1 2 3 4; do
		publish "$ch" "q$i"
		s+=("$SEQ")
	done
	nd_open q "/push/channels/$ch?stream=ndjson&since=${s[1]}" --no-accept
	nd_open l "/push/channels/$ch" -H "Last-Event-ID: ${s[0]}"
	nd_open k "/push/channels/$ch?last=1"
	publish "$ch" live
	await_records q '.data == "live"' 1 10
	await_records l '.data == "live"' 1 10
	await_records k '.data == "live"' 1 10
	assert_eq "$(st_jq q '.[0].headers["content-type"]')" "application/x-ndjson" "Content-Type (?stream=ndjson)"
	assert_eq "$(st_jq q '[.[] | select(.type == "message") | .data]')" '["q3","q4","live"]' "?since=${s[1]}"
	assert_eq "$(st_jq l '[.[] | select(.type == "message") | .data]')" '["q2","q3","q4","live"]' "Last-Event-ID: ${s[0]}"
	assert_eq "$(st_jq k '[.[] | select(.type == "message") | .data]')" '["q4","live"]' "?last=1"
}

case_heartbeat() {
	local ch t0
	ch=$(unique_channel ndhb)
	nd_open h "/push/channels/$ch"
	t0=$(now_ms)
	await_records h '.type == "heartbeat"' 1 5
	assert_eq "$(st_jq h "[.[] | select(.type == \"heartbeat\")][0] | (keys == [\"time\", \"type\"]) and (.time >= $t0 - 5000) and (.time <= $(now_ms) + 5000)")" \
		true "heartbeat line {\"type\":\"heartbeat\",\"time\":ms}"
	await_records h '.type == "heartbeat"' 2 5
	publish "$ch" 'after heartbeats'
	await_records h '.data == "after heartbeats"' 1 5
}

case_gap() {
	local ch i epoch s=()
	ch=$(unique_channel ndgap)
	publish "$ch" g1
	s+=("$SEQ")
	epoch=$(header Push-Epoch) # the database's epoch, on every answer (any store)
	"$FCPUSH" --database "$DB" retention "$ch" --max-messages 2 >"$T/ret.out" 2>&1 ||
		fail "fcpush retention failed: $(cat "$T/ret.out")"
	for i in 2 3 4 5 6; do
		publish "$ch" "g$i"
		s+=("$SEQ")
	done
	wait_until 10 "retention to trim $ch to 2 messages" info_is "$ch" messages 2 ||
		fail "the channel still holds $(info_field "$ch" messages) messages"
	nd_open g "/push/channels/$ch?since=${s[0]}"
	await_records g '.type == "message"' 2 10
	assert_eq "$(st_jq g '[.[] | select(.type != "open" and .type != "heartbeat") | if .type == "message" then .data else . end]')" \
		"[{\"type\":\"gap\",\"oldest\":${s[4]},\"epoch\":\"$epoch\"},\"g5\",\"g6\"]" \
		"gap object (oldest seq, the database's epoch), then what remains"
}

case_deleted() {
	local ch
	ch=$(unique_channel nddel)
	publish "$ch" x
	nd_open d "/push/channels/$ch"
	req DELETE "/push/channels/$ch"
	assert_status 204
	wait_until 10 "the stream to end after DELETE" stream_exited d ||
		fail "the stream is still open 10 s after DELETE:
$(st_tail d)"
	assert_eq "$(st_jq d '[.[] | select(.type != "heartbeat")] | .[-2:]')" \
		"[{\"type\":\"deleted\",\"channel\":\"$ch\"},{\"type\":\"end\",\"why\":\"eof\"}]" "the last line, then the end"
}

case_disconnect() {
	local ch t0
	ch=$(unique_channel ndgone)
	await_status .parked eq 0 10
	nd_open c "/push/channels/$ch"
	await_status .parked_by_transport.ndjson eq 1 5
	t0=$(now_ms)
	stream_stop c
	await_status .parked eq 0 10
	log "freed $(($(now_ms) - t0)) ms after the client left"
	await_status .parked_by_transport.ndjson eq 0 1
}

case_sigterm() {
	local ch msg
	ch=$(unique_channel ndterm)
	await_status .parked eq 0 10
	nd_open t "/push/channels/$ch"
	kill -TERM "$(worker_pid worker)" || fail "cannot signal the worker"
	wait_until 10 "the stream to end after SIGTERM" stream_exited t ||
		fail "the stream is still open 10 s after SIGTERM:
$(st_tail t)"
	assert_eq "$(st_jq t '[.[] | select(.type != "heartbeat")] | .[-2:]')" \
		'[{"type":"shutdown"},{"type":"end","why":"eof"}]' "the last line, then the end"
	wait_until 20 "the worker to exit" test -e "$T/worker.rc" || fail "the worker did not exit after SIGTERM"
	msg=$(check_worker_exit worker) || fail "$msg"
}

run_case "NDJSON headers; message lines: text with event, JSON, base64, multi-line" case_messages
run_case "NDJSON ?stream=ndjson, ?since, Last-Event-ID, ?last" case_query_and_cursors
run_case "NDJSON heartbeat line when idle (heartbeat_s=1)" case_heartbeat
run_case "NDJSON gap object, then what remains" case_gap
run_case "NDJSON deleted object ends the stream" case_deleted
run_case "NDJSON client that leaves is freed" case_disconnect
run_case "NDJSON shutdown object on SIGTERM; worker exits 0" case_sigterm
finish
