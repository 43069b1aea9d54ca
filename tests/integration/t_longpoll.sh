#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Long polls: parked without a thread, answered when a row commits whoever
# commits it (a publish through HTTP, a second worker process, the CLI, a raw
# sqlite3 INSERT), timeouts, the cap, DELETE → 410. The worker runs with
# long_poll_max_wait_s = 5 so that the cap case ends quickly.
. "$FCPUSH_SRCDIR/tests/lib.sh"
WAIT_CAP=5
fcpush_setup FCPUSH_LONG_POLL_MAX_WAIT_S=$WAIT_CAP
# A second worker process on the same database, reached directly over
# FastCGI with cgi-fcgi (libfcgi-bin), as another web server would.
SOCKET2="$T/worker2.sock"
start_worker worker2 "$SOCKET2" FCPUSH_LONG_POLL_MAX_WAIT_S=$WAIT_CAP || setup_failed
CGI_FCGI=$(command -v cgi-fcgi || true)

# park NAME CHANNEL [QUERY] [CURL-ARGS...]: start a long poll in the background
# and wait until the worker holds it.
park() {
	local name=$1 ch=$2 query=${3:-} base
	shift 3
	base=$(parked)
	[ -n "$base" ] || fail "GET /push/status gave no parked count"
	bg_req "$name" GET "/push/channels/$ch$query" -H "Prefer: wait=$WAIT_CAP" "$@"
	await_parked $((base + 1))
}

# assert_woken DATA: the current response is a 200 carrying exactly DATA.
assert_woken() {
	assert_status 200
	assert_header Preference-Applied "wait=$WAIT_CAP"
	assert_json '[.messages[].data]' "[\"$1\"]"
	[ "$ELAPSED_MS" -lt $((WAIT_CAP * 1000 - 500)) ] ||
		fail "the long poll took $ELAPSED_MS ms: woken at its deadline, not by the commit"
}

case_wake_http() {
	local ch
	ch=$(unique_channel lp)
	publish "$ch" old
	park lp "$ch" "?since=$SEQ"
	bg_running lp || fail "the long poll returned before the publish"
	publish "$ch" new
	bg_wait lp
	assert_woken new
	assert_json .last_seq "$SEQ"
	assert_header ETag "\"$SEQ\""
}

case_wake_query_wait() {
	local ch base
	ch=$(unique_channel lpq)
	base=$(parked)
	bg_req lp GET "/push/channels/$ch?wait=$WAIT_CAP"
	await_parked $((base + 1))
	publish "$ch" 'by query'
	bg_wait lp
	assert_woken 'by query'
}

case_no_cursor_starts_now() {
	local ch
	ch=$(unique_channel now)
	publish "$ch" before
	park lp "$ch" ""
	publish "$ch" after
	bg_wait lp
	assert_woken after
}

case_cursor_behind_answers_at_once() {
	local ch
	ch=$(unique_channel behind)
	publish "$ch" waiting
	req GET "/push/channels/$ch?since=0" -H 'Prefer: wait=5'
	assert_status 200
	assert_json '[.messages[].data]' '["waiting"]'
}

case_wake_other_process() {
	local ch out
	[ -n "$CGI_FCGI" ] || fail "cgi-fcgi not found (Debian package libfcgi-bin)"
	ch=$(unique_channel xproc)
	park lp "$ch" "?since=0"
	printf 'from worker2' >"$T/xproc.body"
	out=$(timeout 10 env -i REQUEST_METHOD=POST REQUEST_URI="/push/channels/$ch" SCRIPT_NAME=/push \
		CONTENT_LENGTH=12 CONTENT_TYPE=text/plain SERVER_PROTOCOL=HTTP/1.1 GATEWAY_INTERFACE=CGI/1.1 \
		"$CGI_FCGI" -bind -connect "$SOCKET2" <"$T/xproc.body" | tr -d '\r')
	grep -q '^Status: 201' <<<"$out" || fail "publish through worker2: $out"
	bg_wait lp
	assert_woken 'from worker2'
	assert_json '.messages[0].seq' "$(sed -n 's/.*"seq":\([0-9]*\).*/\1/p' <<<"$out")"
}

case_wake_cli() {
	local ch seq
	ch=$(unique_channel cli)
	park lp "$ch" "?since=0"
	seq=$("$FCPUSH" --database "$DB" publish "$ch" 'from the CLI') || fail "fcpush publish failed"
	bg_wait lp
	assert_woken 'from the CLI'
	assert_json '.messages[0].seq' "$seq"
}

case_wake_cli_stdin() {
	local ch base
	ch=$(unique_channel clin)
	base=$(parked)
	bg_req lp GET "/push/channels/$ch?since=0" -H "Prefer: wait=$WAIT_CAP"
	await_parked $((base + 1))
	printf 'line one\nline two\n' | "$FCPUSH" --database "$DB" publish "$ch" --seqs >"$T/cli.out" ||
		fail "fcpush publish from stdin failed"
	assert_eq "$(wc -l <"$T/cli.out" | tr -d ' ')" 2 "seqs printed by fcpush publish"
	bg_wait lp
	assert_status 200
	# Both lines, unless the poll was answered between the two commits.
	assert_json '.messages[0].data' 'line one'
	req GET "/push/channels/$ch?since=0"
	assert_json '[.messages[].data]' '["line one","line two"]'
}

case_wake_sqlite_insert() {
	local ch
	sqlite_only "sqlite3 INSERT"
	ch=$(unique_channel sql)
	park lp "$ch" "?since=0"
	"$SQLITE3" -cmd '.timeout 5000' "$DB" "INSERT INTO messages(channel, body) VALUES('$ch', 'from sqlite3')" ||
		fail "sqlite3 INSERT failed"
	bg_wait lp
	assert_woken 'from sqlite3'
}

case_multi_channel_wake() {
	local a b c
	a=$(unique_channel wa)
	b=$(unique_channel wb)
	c=$(unique_channel wc)
	park lp "$a,$b,$c" "?since=0"
	publish "$(unique_channel other)" 'not for us'
	publish "$b" 'to b'
	bg_wait lp
	assert_woken 'to b'
	assert_json .channel "$a,$b,$c"
	assert_json '.messages[0].channel' "$b"
}

# One row wakes long polls whose answers differ only in their label or
# headers: the loop builds one answer per row and shares it between the long
# polls it fits (fcgi/loop.c), so each must still get its own channel list and
# Preference-Applied, and the same body.
case_shared_answer_per_request() {
	local ch other base
	ch=$(unique_channel sh)
	other=$(unique_channel sho)
	publish "$ch" old
	park same1 "$ch" "?since=$SEQ"
	park multi "$ch,$other" "?since=$SEQ"
	base=$(parked)
	bg_req short GET "/push/channels/$ch?since=$SEQ" -H "Prefer: wait=4"
	await_parked $((base + 1))
	park same2 "$ch" "?since=$SEQ"
	publish "$ch" shared
	for name in same1 same2; do
		bg_wait $name
		assert_woken shared
		assert_json .channel "$ch"
		assert_json .last_seq "$SEQ"
	done
	bg_wait multi
	assert_woken shared
	assert_json .channel "$ch,$other"
	bg_wait short
	assert_status 200
	assert_header Preference-Applied "wait=4"
	assert_json '[.messages[].data]' '["shared"]'
	assert_json .channel "$ch"
}

case_timeout() {
	local ch
	ch=$(unique_channel to)
	publish "$ch" x
	bg_req lp GET "/push/channels/$ch?since=$SEQ" -H 'Prefer: wait=1'
	bg_wait lp
	assert_status 204
	assert_header Preference-Applied wait=1
	assert_empty_body
	[ "$ELAPSED_MS" -ge 900 ] || fail "answered after $ELAPSED_MS ms, before the 1 s wait"
	[ "$ELAPSED_MS" -lt 4000 ] || fail "answered after $ELAPSED_MS ms, long after the 1 s wait"
}

case_timeout_conditional() {
	local ch
	ch=$(unique_channel toc)
	publish "$ch" x
	bg_req lp GET "/push/channels/$ch?wait=1" -H "If-None-Match: \"$SEQ\""
	bg_wait lp
	assert_status 304
	assert_header Preference-Applied wait=1
	assert_header ETag "\"$SEQ\""
	[ "$ELAPSED_MS" -ge 900 ] || fail "answered after $ELAPSED_MS ms, before the 1 s wait"
}

case_wait_capped() {
	local ch
	ch=$(unique_channel cap)
	bg_req lp GET "/push/channels/$ch?since=0" -H 'Prefer: wait=100'
	bg_wait lp
	assert_status 204
	assert_header Preference-Applied "wait=$WAIT_CAP"
	[ "$ELAPSED_MS" -ge $((WAIT_CAP * 1000 - 100)) ] || fail "answered after $ELAPSED_MS ms, before the cap"
	[ "$ELAPSED_MS" -lt $((WAIT_CAP * 1000 + 3000)) ] || fail "answered after $ELAPSED_MS ms, long after the cap"
}

case_delete_gone() {
	local ch
	ch=$(unique_channel gone)
	publish "$ch" x
	park lp "$ch" "?since=$SEQ"
	req DELETE "/push/channels/$ch"
	assert_status 204
	bg_wait lp
	assert_error 410
	[ "$ELAPSED_MS" -lt $((WAIT_CAP * 1000 - 500)) ] || fail "410 came at the deadline ($ELAPSED_MS ms)"
}

run_case "long poll woken by a publish through HTTP" case_wake_http
run_case "long poll with ?wait=N" case_wake_query_wait
run_case "long poll without cursor starts at now" case_no_cursor_starts_now
run_case "long poll behind the head answers at once" case_cursor_behind_answers_at_once
run_case "long poll woken by a second fcpush.fcgi process" case_wake_other_process
run_case "long poll woken by the CLI (fcpush publish)" case_wake_cli
run_case "CLI publish from stdin, one message per line" case_wake_cli_stdin
run_case "long poll woken by a raw sqlite3 INSERT" case_wake_sqlite_insert
run_case "multi-channel long poll woken by one of its channels" case_multi_channel_wake
run_case "one row wakes long polls with different labels and waits: each its own answer" case_shared_answer_per_request
run_case "long poll timeout: 204 after wait=1, Preference-Applied" case_timeout
run_case "conditional long poll timeout: 304" case_timeout_conditional
run_case "wait capped to long_poll_max_wait_s" case_wait_capped
run_case "DELETE answers a parked long poll with 410" case_delete_gone
finish
