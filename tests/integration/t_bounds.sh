#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Memory bounds of the worker under hostile reads (issue: answers bounded in
# bytes, not only rows; fan-out that shares, and checks the slow-consumer
# bound per message). Bodies of control characters grow six-fold in JSON
# (\u0001), so they are the costliest thing a client can make the worker
# encode. Each case measures the worker's peak RSS (VmHWM) growth and checks
# that nothing is lost for a client that reads on.
. "$FCPUSH_SRCDIR/tests/lib.sh"
. "$FCPUSH_SRCDIR/tests/integration/stream_lib.sh"
# The peaks measured are the worker's own: AddressSanitizer's quarantine
# would keep every freed block resident (256 MB by default), so the
# sanitizer build runs these with a small one.
export ASAN_OPTIONS="$ASAN_OPTIONS:quarantine_size_mb=4:thread_local_quarantine_size_kb=64"
fcpush_setup

BODY_BYTES=1000000

# insert_ctl CHANNEL N: one transaction (the sqlite3 CLI, as an operator's
# INSERT) of N text/plain messages of BODY_BYTES \x01 bytes each, so the
# worker's own memory is only what reading and sending them costs. On
# another store `fcpush publish` stores them (one line each, one commit
# each: the CLI's memory, not the worker's).
insert_ctl() {
	local i
	if ! on_sqlite; then
		{ head -c "$BODY_BYTES" /dev/zero | tr '\0' '\1'; echo; } >"$T/ctl.line"
		for i in $(seq 1 "$2"); do cat "$T/ctl.line"; done |
			"$FCPUSH" --database "$DB" publish "$1" --content-type text/plain >"$T/ctl.out" 2>&1 ||
			fail "fcpush publish failed: $(cat "$T/ctl.out")"
		return
	fi
	"$SQLITE3" -cmd '.timeout 5000' "$DB" \
		"WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < $2)
		 INSERT INTO messages(channel, content_type, body)
		 SELECT '$1', 'text/plain', CAST(replace(hex(zeroblob($BODY_BYTES)), '00', char(1)) AS BLOB) FROM c;" ||
		fail "sqlite3 insert failed"
}

# peak_kb: the worker's peak resident memory (VmHWM) since reset_peak.
peak_kb() {
	awk '/^VmHWM/ { print $2 }' "/proc/$(worker_pid worker)/status"
}

# reset_peak: start VmHWM again from the current RSS (proc(5), clear_refs 5),
# so each case measures its own peak.
reset_peak() {
	echo 5 >"/proc/$(worker_pid worker)/clear_refs" || fail "cannot reset the worker's VmHWM"
}

# A poll over 30 MB of stored bodies (180 MB as JSON) answers one budget's
# worth (page_max_bytes, 1 MiB, at least one message) and says "more"; paging
# on with since=last_seq yields every message once, in order.
case_poll_answer_bounded() {
	local ch peak0 peak since=0 got=() pages=0 size
	ch=$(unique_channel pollb)
	insert_ctl "$ch" 30
	reset_peak
	peak0=$(peak_kb)
	while [ "${#got[@]}" -lt 30 ] && [ "$pages" -lt 40 ]; do
		req GET "/push/channels/$ch?since=$since"
		assert_status 200
		size=$(stat -c %s "$T/body")
		[ "$size" -lt $((BODY_BYTES * 6 + 65536)) ] || fail "a poll answer of $size bytes (one message is $((BODY_BYTES * 6)) as JSON)"
		mapfile -t -O "${#got[@]}" got < <("$JQ" -r '.messages[].seq' "$T/body")
		since=$(json .last_seq)
		assert_eq "$(header ETag)" "\"$since\"" "ETag names the last message sent"
		[ "${#got[@]}" -lt 30 ] && assert_json .more true
		pages=$((pages + 1))
	done
	assert_eq "${#got[@]}" 30 "messages received over $pages pages"
	assert_eq "$(printf '%s\n' "${got[@]}")" "$(printf '%s\n' "${got[@]}" | sort -n -u)" "seqs once each, in order"
	peak=$(peak_kb)
	log "30 polls of a 30 MB channel: worker peak RSS grew $(((peak - peak0) / 1024)) MB"
	[ $((peak - peak0)) -lt 102400 ] || fail "worker peak RSS grew $(((peak - peak0) / 1024)) MB over bounded polls"
}

# Stalled NDJSON streams and one commit of 8 x 1 MB control-character
# bodies (48 MB as NDJSON): each row is encoded once and shared, the bound
# is checked per message, so the stalled streams are dropped holding a
# couple of messages each instead of a copy of the whole commit each
# (10 x 48 MB before). A normal reader gets all 8.
case_stalled_streams_share() {
	local ch i peak0 peak dropped
	ch=$(unique_channel stallb)
	dropped=$(status_field .dropped)
	for i in $(seq 1 10); do
		stream_start "s$i" "/push/channels/$ch?stream=ndjson" --mode stall --rcvbuf 4096 --max-time 60
	done
	for i in $(seq 1 10); do
		await_records "s$i" '.type == "stalled"' 1 10
	done
	await_stream_parked ndjson 10
	stream_start r "/push/channels/$ch" --mode ndjson --reconnect --retry-ms 100 --max-time 60
	await_open r
	await_stream_parked ndjson 11
	reset_peak
	peak0=$(peak_kb)
	insert_ctl "$ch" 8
	await_records r '.type == "message"' 8 30
	await_status .dropped ge $((dropped + 10)) 20
	peak=$(peak_kb)
	log "10 stalled streams, one 8 MB commit: worker peak RSS grew $(((peak - peak0) / 1024)) MB"
	[ $((peak - peak0)) -lt 204800 ] || fail "worker peak RSS grew $(((peak - peak0) / 1024)) MB (a copy per stalled stream?)"
	assert_eq "$(st_jq r '[.[] | select(.type == "message") | .data | length] | unique')" "[$BODY_BYTES]" "the reader's message sizes"
	assert_eq "$(st_jq r '[.[] | select(.type == "message") | .seq] | (. == (sort | unique))')" true "the reader's seqs once each, in order"
	# 48 MB at once is far past the bound: the reader is held back and reads
	# the rest from the store as it drains, without being dropped.
	assert_eq "$(st_count r '.type == "open"')" 1 "connections the reader needed"
}

# A stream resuming from 0 behind 60 MB of bodies reads its history page by
# page within page_max_bytes (not 100 rows at once) and gets all of it.
case_catch_up_bounded() {
	local ch peak0 peak
	ch=$(unique_channel catchb)
	insert_ctl "$ch" 60
	reset_peak
	peak0=$(peak_kb)
	stream_start c "/push/channels/$ch?since=0" --mode ndjson --max-time 60
	await_records c '.type == "message"' 60 60
	assert_eq "$(st_jq c '[.[] | select(.type == "message") | .seq] | (. == (sort | unique))')" true "seqs once each, in order"
	peak=$(peak_kb)
	log "catch-up over 60 MB: worker peak RSS grew $(((peak - peak0) / 1024)) MB"
	[ $((peak - peak0)) -lt 40960 ] || fail "worker peak RSS grew $(((peak - peak0) / 1024)) MB during a catch-up"
}

run_case "a poll over 30 MB answers within page_max_bytes, says more, pages lose nothing" case_poll_answer_bounded
run_case "catch-up behind 60 MB reads by the byte budget and delivers everything" case_catch_up_bounded
run_case "10 stalled streams + one 8 MB commit: shared encodings, held back per message, stalled ones dropped" case_stalled_streams_share
finish
