#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A database locked past the busy timeout: publishes answer 503 with nothing
# written, reads keep working (WAL), and once the lock goes the worker serves
# as before. The lock is real: the sqlite3 shell holds BEGIN IMMEDIATE open,
# fed through a fifo. busy_timeout_ms is small so the case is quick.
. "$FCPUSH_SRCDIR/tests/lib.sh"
. "$FCPUSH_SRCDIR/tests/integration/stream_lib.sh" # use_worker
. "$FCPUSH_SRCDIR/tests/integration/lock_lib.sh"   # hold_lock, release_lock
fcpush_setup FCPUSH_BUSY_TIMEOUT_MS=200

case_locked_503() {
	local ch
	ch=$(unique_channel busy)
	publish "$ch" before
	hold_lock lock1

	req POST "/push/channels/$ch" -H 'Content-Type: text/plain' --data-binary 'during the lock'
	assert_error 503
	req POST /push/publish -H 'Content-Type: application/json' \
		--data-binary "[{\"channel\":\"$ch\",\"data\":\"during the lock\"},{\"channel\":\"$ch\",\"data\":\"2\"}]"
	assert_error 503
	req DELETE "/push/channels/$ch"
	assert_error 503
	# Readers are not blocked by a writer in WAL mode.
	req GET "/push/channels/$ch?since=0"
	assert_status 200
	assert_json '[.messages[].data]' '["before"]'

	release_lock

	publish "$ch" after
	req GET "/push/channels/$ch?since=0"
	assert_status 200
	assert_json '[.messages[].data]' '["before","after"]'
	assert_eq "$(db_count "channel = '$ch'")" 2 "rows of the channel (nothing half-written)"
	assert_eq "$(db_count "body = CAST('during the lock' AS BLOB) OR body = 'during the lock'")" 0 \
		"rows written during the lock"
	req GET /push/status
	assert_json '.errors_5xx >= 3' true
}

case_lock_wakes_nobody() {
	local ch base
	ch=$(unique_channel busylp)
	publish "$ch" x
	base=$(parked)
	bg_req lp GET "/push/channels/$ch?since=$SEQ" -H 'Prefer: wait=10'
	await_parked $((base + 1))
	hold_lock lock2
	req POST "/push/channels/$ch" -H 'Content-Type: text/plain' --data-binary 'refused'
	assert_error 503
	release_lock
	# The parked long poll saw nothing of the refused publish; the next one
	# wakes it.
	bg_running lp || fail "the long poll was answered by a publish that failed"
	publish "$ch" accepted
	bg_wait lp
	assert_status 200
	assert_json '[.messages[].data]' '["accepted"]'
}

# Retention is due (max 1 message, trimmed 1.5 s after a publish) when
# another process takes the write lock for about 8 s; the lock is taken well
# before the trim is due, so the trim always waits for it. The trim waits for the
# lock on its own thread: meanwhile streams open and long polls end on time
# (a trim on the event loop held every one of them for busy_timeout_ms).
case_lock_never_stalls_loop() {
	local ch i
	ch=$(unique_channel busyloop)
	publish "$ch" one
	publish "$ch" two
	hold_lock lock3
	assert_eq "$(db_count "channel = '$ch'")" 2 "messages of $ch when the lock was taken (the trim was not due yet)"
	for i in 1 2 3 4; do
		"$CURL" -s -N --max-time 1 -H 'Accept: text/event-stream' "$PUSH/channels/$ch" -o "$T/sse$i.out"
		grep -q '^: fcpush' "$T/sse$i.out" || fail "SSE stream $i did not open within 1 s while the lock was held"
		REQ_MAX_TIME=3 req GET "/push/channels/$ch" -H 'Prefer: wait=1'
		assert_status 204
	done
	release_lock --no-check # the trim takes the lock as soon as it goes
	wait_until 10 "retention to trim $ch to 1 message" eval "[ \"\$(db_count \"channel = '$ch'\")\" = 1 ]" ||
		fail "retention did not run after the lock went: $(db_count "channel = '$ch'") messages"
}

run_case "database locked past busy_timeout_ms: 503, nothing written, serves after" case_locked_503
run_case "a refused publish wakes no long poll" case_lock_wakes_nobody
use_worker trimmer FCPUSH_BUSY_TIMEOUT_MS=4000 FCPUSH_RETENTION_MAX_MESSAGES=1 FCPUSH_TRIM_INTERVAL_MS=1500
run_case "a write lock held during a due trim stalls no stream or long poll" case_lock_never_stalls_loop
finish
