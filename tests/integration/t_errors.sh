#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Bad input, each one a case: every error is JSON {"error", "detail"} with the
# status of the contract, and nothing is written. max_message_bytes is small
# here so the 413 case sends little.
. "$FCPUSH_SRCDIR/tests/lib.sh"
MAX_BYTES=4096
fcpush_setup FCPUSH_MAX_MESSAGE_BYTES=$MAX_BYTES

case_unknown_route() {
	local path
	for path in /push/nope /push/channels/a/b /push/channels/a/messages /push/channels/a/info/x /push/status/x; do
		req GET "$path"
		assert_error 404
	done
	req POST /push/nope --data-binary x
	assert_error 404
}

case_bad_channel() {
	local long128 long129
	long128=$(printf 'c%.0s' $(seq 1 128))
	long129=${long128}x
	for path in '/push/channels/bad%20name' '/push/channels/semi%3Bcolon' '/push/channels/a%2Fb' \
		'/push/channels/%C3%A9' '/push/channels/a,,b' '/push/channels/a,' "/push/channels/$long129"; do
		req GET "$path?since=0"
		assert_error 400
		req POST "$path" --data-binary x -H 'Content-Type: text/plain'
		assert_error 400
	done
	# A malformed escape: the worker answers JSON 400 behind lighttpd; Apache
	# refuses the URL itself (its own HTML 400) before proxying it.
	req GET '/push/channels/bad%zzescape'
	if [ "$SERVER" = apache ]; then
		assert_status 400
	else
		assert_error 400
	fi
	# The longest valid name works, and all the allowed characters.
	publish "$long128" ok
	publish 'Az09._~-' ok
	req GET '/push/channels/Az09._~-?since=0'
	assert_status 200
}

case_too_many_channels() {
	local list64 list65
	list64=$(seq -f 'ch%g' 1 64 | paste -sd, -)
	list65="$list64,ch65"
	req GET "/push/channels/$list64?since=0"
	[ "$STATUS" = 200 ] || [ "$STATUS" = 204 ] || fail "64 channels: expected 200 or 204$(what_we_got)"
	req GET "/push/channels/$list65?since=0"
	assert_error 400
	# Publishing takes one channel.
	req POST "/push/channels/a,b" --data-binary x -H 'Content-Type: text/plain'
	assert_error 400
}

case_too_large() {
	local ch before
	ch=$(unique_channel big)
	before=$(db_count 1)
	head -c $((MAX_BYTES + 1)) /dev/zero | tr '\0' 'x' >"$T/big"
	req POST "/push/channels/$ch" -H 'Content-Type: text/plain' --data-binary "@$T/big"
	assert_error 413
	# Chunked, without Content-Length: refused as well.
	req POST "/push/channels/$ch" -H 'Content-Type: text/plain' -H 'Transfer-Encoding: chunked' \
		--data-binary "@$T/big"
	assert_error 413
	assert_eq "$(db_count 1)" "$before" "rows in messages after refused publishes"
	req GET "/push/channels/$ch?since=0"
	assert_status 204
	# Exactly the limit is fine.
	head -c $MAX_BYTES /dev/zero | tr '\0' 'y' >"$T/max"
	req POST "/push/channels/$ch" -H 'Content-Type: text/plain' --data-binary "@$T/max"
	assert_status 201
	req GET "/push/channels/$ch/info"
	assert_json .bytes $MAX_BYTES
}

case_bad_cursor() {
	local ch q
	ch=$(unique_channel cur)
	publish "$ch" x
	for q in since=abc since=-1 since=1x since= lastEventId=zz last_event_id=1.5 last=abc last=-2 \
		since=99999999999999999999999; do
		req GET "/push/channels/$ch?$q"
		assert_error 400
	done
	req GET "/push/channels/$ch" -H 'Last-Event-ID: not-a-number'
	assert_error 400
	# An If-None-Match that is not one of our ETags is no cursor (it cannot
	# match): a plain poll.
	req GET "/push/channels/$ch" -H 'If-None-Match: "garbage"'
	assert_status 200
}

case_bad_wait() {
	local ch q
	ch=$(unique_channel wait)
	for q in wait=abc wait=-1 wait=1.5x wait=; do
		req GET "/push/channels/$ch?since=0&$q"
		assert_error 400
	done
	req GET "/push/channels/$ch?since=0" -H 'Prefer: wait=soon'
	assert_error 400
}

case_bad_json_body() {
	local ch
	ch=$(unique_channel badjson)
	req POST "/push/channels/$ch" -H 'Content-Type: application/json' --data-binary '{"open": '
	assert_error 400
	req GET "/push/channels/$ch?since=0"
	assert_status 204
}

case_method_not_allowed() {
	req PUT /push/channels/a --data-binary x
	assert_error 405
	assert_header_match Allow 'GET'
	assert_header_match Allow 'POST'
	assert_header_match Allow 'DELETE'
	req PATCH /push/channels/a --data-binary x
	assert_error 405
	assert_header_match Allow 'POST'
	req POST /push/status --data-binary x
	assert_error 405
	assert_header_match Allow 'GET'
	req DELETE /push/channels
	assert_error 405
	assert_header_match Allow 'GET'
	req GET /push/publish
	assert_error 405
	assert_header_match Allow 'POST'
}

case_delete_unknown() {
	req DELETE "/push/channels/$(unique_channel nosuch)"
	assert_error 404
}

case_worker_still_serves() {
	local ch
	ch=$(unique_channel after)
	publish "$ch" 'still here'
	req GET "/push/channels/$ch?since=0"
	assert_status 200
	req GET /push/status
	assert_json '.errors_4xx > 0' true
}

run_case "unknown route: 404" case_unknown_route
run_case "bad or too long channel name: 400" case_bad_channel
run_case "more than 64 channels: 400" case_too_many_channels
run_case "body over max_message_bytes: 413, nothing written" case_too_large
run_case "bad cursor: 400" case_bad_cursor
run_case "bad wait: 400" case_bad_wait
run_case "JSON content type with a body that is not JSON: 400" case_bad_json_body
run_case "unsupported method: 405 with Allow" case_method_not_allowed
run_case "DELETE of an unknown channel: 404" case_delete_unknown
run_case "the worker keeps serving after bad input" case_worker_still_serves
finish
