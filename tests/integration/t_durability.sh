#!/usr/bin/env bash
# Durability: durability = full is what the worker runs by default; a
# database rolled back under its subscribers (the simulated power loss of
# issue 12: the file and its -wal copied before the last commits, restored
# after them) answers a cursor above its highest seq with the gap signal, and
# the publishes after the restore reach that subscriber; a cursor that names
# another database's epoch (Push-Epoch) gets the gap and the whole history;
# plain integer cursors behave as before.
. "$FCPUSH_SRCDIR/tests/lib.sh"
. "$FCPUSH_SRCDIR/tests/integration/stream_lib.sh"
fcpush_setup

# power_loss: kill -9 the worker (the machine loses power: nothing is shut
# down cleanly), put back the copy of the database and its WAL made by
# copy_db, and start worker "restored" on it.
copy_db() {
	cp "$DB" "$T/copy.db" && cp "$DB-wal" "$T/copy.db-wal" || fail "cannot copy the database"
}
power_loss() {
	kill -KILL "$(worker_pid worker)" 2>/dev/null
	wait_until 10 "the worker to die" test -e "$T/worker.rc" || fail "the worker survived kill -9"
	forget_worker worker
	rm -f "$DB-shm"
	cp "$T/copy.db" "$DB" && cp "$T/copy.db-wal" "$DB-wal" || fail "cannot restore the copy"
	start_worker restored "$SOCKET" || fail "the worker did not start on the restored database"
}

case_defaults() {
	req GET /push/status
	assert_status 200
	assert_json .durability full
	epoch=$(db_epoch)
	[[ $epoch =~ ^[0-9a-f]{16}$ ]] || fail "the store's epoch is '$epoch', not 16 hex digits"
	assert_json .epoch "$epoch"
	assert_header Push-Epoch "$epoch"
	ch=$(unique_channel dflt)
	publish "$ch" one
	assert_header Push-Epoch "$epoch"
	req GET "/push/channels/$ch/info"
	assert_json .epoch "$epoch"
	# Plain integers, and EPOCH:SEQ or ?epoch= of this database: as before.
	for q in "since=0" "since=$epoch:0" "since=0&epoch=$epoch"; do
		req GET "/push/channels/$ch?$q"
		assert_status 200
		assert_json '([.messages[].data] | join(" ")) + " " + (.gap // false | tostring)' "one false"
		assert_no_header Push-Gap
		assert_header ETag "\"$SEQ\""
	done
	req GET "/push/channels/$ch" -H "If-None-Match: \"$epoch:$SEQ\""
	assert_status 304
	req GET "/push/channels/$ch?since=1&epoch=zz"
	assert_error 400
	assert_json .error bad_cursor
}

case_power_loss() {
	local ch s=() seq epoch
	sqlite_only "copies the SQLite file and its WAL back (a simulated power loss)"
	ch=$(unique_channel power)
	epoch=$(db_epoch)
	publish "$ch" a1
	s+=("$SEQ")
	publish "$ch" a2
	s+=("$SEQ")
	# The copy a power loss leaves behind: the file and its WAL as they were
	# before the last commits.
	copy_db
	publish "$ch" lost3
	s+=("$SEQ")
	publish "$ch" lost4
	s+=("$SEQ")
	# A subscriber got everything, up to the last seq.
	req GET "/push/channels/$ch?since=${s[0]}"
	assert_json '[.messages[].data] | join(" ")' "a2 lost3 lost4"
	seq=$(json .last_seq)
	assert_eq "$seq" "${s[3]}" "subscriber's cursor"

	power_loss
	assert_eq "$(db_count "channel = '$ch'")" 2 "rows after the restore"

	# A poll from the lost cursor: the gap signal, never silence, and the
	# ETag / last_seq it continues from is the restored highest seq.
	req GET "/push/channels/$ch?since=$seq"
	assert_status 200
	assert_json '.gap' true
	assert_header Push-Gap "$((${s[1]} + 1))"
	assert_header Push-Epoch "$epoch"
	assert_json .last_seq "${s[1]}"
	# The same with If-None-Match (a conditional poll): 200 with the gap, not 304.
	req GET "/push/channels/$ch" -H "If-None-Match: \"$seq\""
	assert_status 200
	assert_json '.gap' true

	# A long poll from the lost cursor is answered at once with the gap.
	req GET "/push/channels/$ch?since=$seq" -H 'Prefer: wait=10'
	assert_status 200
	assert_json '.gap' true
	[ "$(json .last_seq)" = "${s[1]}" ] || fail "long poll: last_seq $(json .last_seq)"

	# An SSE stream from the lost cursor: event: gap first, then the
	# publishes after the restore, which take the lost seqs again.
	stream_start sse "/push/channels/$ch" -H "Last-Event-ID: $seq"
	await_records sse '.type == "event" and .event == "gap"' 1 10
	stream_start nd "/push/channels/$ch?since=$seq&stream=ndjson" --mode ndjson
	await_records nd '.type == "gap"' 1 10
	assert_eq "$(st_jq nd '[.[] | select(.type == "gap")][0].epoch')" "$epoch" "epoch in the NDJSON gap"
	publish "$ch" new3
	[ "$SEQ" -le "$seq" ] || fail "expected the restored database to reuse seq ${s[2]}, got $SEQ"
	publish "$ch" new4
	await_records sse '.type == "event" and .event == "message"' 2 10
	assert_eq "$(st_jq sse '[.[] | select(.type == "event") | .event + ":" + .data] | join(" ")')" \
		"gap:{\"oldest\":$((${s[1]} + 1)),\"epoch\":\"$epoch\"} message:new3 message:new4" "SSE after the restore"
	await_records nd '.type == "message"' 2 10
	assert_eq "$(st_jq nd '[.[] | select(.type == "message") | .data] | join(" ")')" "new3 new4" "NDJSON after the restore"
	stream_stop sse
	stream_stop nd
	# A long poll that continues from the gap answer's last_seq gets them too.
	req GET "/push/channels/$ch?since=${s[1]}"
	assert_json '[.messages[].data] | join(" ")' "new3 new4"
}

case_other_epoch() {
	local ch other epoch
	ch=$(unique_channel epoch)
	epoch=$(db_epoch)
	other=0123456789abcdef
	[ "$other" != "$epoch" ] || other=fedcba9876543210
	publish "$ch" e1
	publish "$ch" e2
	# The cursor of another history, in each form: the gap, and the whole
	# stored history from its start.
	for q in "since=$other:$SEQ" "since=$SEQ&epoch=$other" "lastEventId=$other:$SEQ"; do
		req GET "/push/channels/$ch?$q"
		assert_status 200
		assert_json '.gap' true
		assert_json '[.messages[].data] | join(" ")' "e1 e2"
		assert_header Push-Epoch "$epoch"
	done
	stream_start sse "/push/channels/$ch?epoch=$other" -H "Last-Event-ID: $SEQ"
	await_records sse '.type == "event" and .event == "message"' 2 10
	assert_eq "$(st_jq sse '[.[] | select(.type == "event") | .event] | join(" ")')" "gap message message" \
		"SSE with another epoch"
	stream_stop sse
}

case_ws_gap() {
	local ch seq
	command -v "$FCPUSH_WS" >/dev/null || return 0
	start_ws ws >/dev/null || fail "fcpush-ws did not start"
	ch=$(unique_channel wsgap)
	publish "$ch" w1
	seq=$((SEQ + 100))
	"$PY" "$FCPUSH_SRCDIR/tests/integration/ws_client.py" listen "ws://127.0.0.1:$PORT/push/ws/channels/$ch?since=$seq" \
		--count 1 --timeout 10 --ready "$T/ws.ready" >"$T/ws.out" 2>"$T/ws.err" &
	wait_until 10 "the WebSocket to open" test -e "$T/ws.ready" || fail "no WebSocket: $(cat "$T/ws.err")"
	publish "$ch" w2
	wait "$!" || fail "ws_client: $(cat "$T/ws.out" "$T/ws.err")"
	assert_eq "$("$JQ" -c -r -s '[.[] | select(.type == "gap" or .type == "message") | .type + ":" + (.data // .epoch)] | join(" ")' "$T/ws.out")" \
		"gap:$(db_epoch) message:w2" "WebSocket from a cursor above the highest seq"
	# Another epoch in the URL: the gap, then the history from its start.
	"$PY" "$FCPUSH_SRCDIR/tests/integration/ws_client.py" listen \
		"ws://127.0.0.1:$PORT/push/ws/channels/$ch?since=$SEQ&epoch=0000000000000000" \
		--count 2 --timeout 10 >"$T/ws.out" 2>"$T/ws.err" || fail "ws_client: $(cat "$T/ws.out" "$T/ws.err")"
	assert_eq "$("$JQ" -c -r -s '[.[] | select(.type == "gap" or .type == "message") | .type + ":" + (.data // "")] | join(" ")' "$T/ws.out")" \
		"gap: message:w1 message:w2" "WebSocket with another epoch"
}

run_case "durability full by default; epoch in status, info and Push-Epoch; plain cursors as before" case_defaults
run_case "simulated power loss: a subscriber ahead of the restored database sees a gap, then the new publishes" case_power_loss
run_case "a cursor with another database's epoch: gap and the whole history" case_other_epoch
run_case "WebSocket: a cursor above the highest seq or of another epoch gets a gap frame with the epoch" case_ws_gap
finish
