#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# CORS with cors_allow_origins set to two origins: allowed origins get
# Access-Control-Allow-Origin (and the exposed headers), others get nothing,
# preflight OPTIONS answers 204 with the allowed methods and headers.
. "$FCPUSH_SRCDIR/tests/lib.sh"
A=https://a.example
B=http://b.example:8080
fcpush_setup FCPUSH_CORS_ALLOW_ORIGINS="$A,$B"

case_allowed_origin() {
	local ch
	ch=$(unique_channel cors)
	publish "$ch" x -H "Origin: $A"
	assert_header Access-Control-Allow-Origin "$A"
	assert_header_match Vary 'Origin'
	req GET "/push/channels/$ch?since=0" -H "Origin: $B"
	assert_status 200
	assert_header Access-Control-Allow-Origin "$B"
	assert_header_match Access-Control-Expose-Headers 'ETag'
	assert_header_match Access-Control-Expose-Headers 'Push-Gap'
	# Errors carry it too, so a page can read them.
	req GET "/push/channels/bad%20name" -H "Origin: $A"
	assert_error 400
	assert_header Access-Control-Allow-Origin "$A"
}

case_other_origin() {
	local ch
	ch=$(unique_channel nocors)
	publish "$ch" x -H 'Origin: https://evil.example'
	assert_no_header Access-Control-Allow-Origin
	req GET "/push/channels/$ch?since=0" -H 'Origin: https://a.example.evil'
	assert_status 200
	assert_no_header Access-Control-Allow-Origin
	req GET "/push/channels/$ch?since=0"
	assert_no_header Access-Control-Allow-Origin
}

case_preflight() {
	req OPTIONS /push/channels/pre -H "Origin: $A" -H 'Access-Control-Request-Method: POST' \
		-H 'Access-Control-Request-Headers: content-type, prefer'
	assert_status 204
	assert_header Access-Control-Allow-Origin "$A"
	assert_header_match Access-Control-Allow-Methods 'POST'
	assert_header_match Access-Control-Allow-Methods 'GET'
	assert_header_match Access-Control-Allow-Headers '[Cc]ontent-[Tt]ype'
	assert_header_match Access-Control-Allow-Headers '[Pp]refer'
	assert_header_match Access-Control-Allow-Headers '[Ll]ast-[Ee]vent-ID'
	req OPTIONS /push/publish -H "Origin: $B" -H 'Access-Control-Request-Method: POST'
	assert_status 204
	assert_header Access-Control-Allow-Origin "$B"
	# Not allowed: no CORS grant.
	req OPTIONS /push/channels/pre -H 'Origin: https://evil.example' -H 'Access-Control-Request-Method: POST'
	assert_no_header Access-Control-Allow-Origin
	assert_no_header Access-Control-Allow-Methods
}

run_case "allowed origins get Access-Control-Allow-Origin" case_allowed_origin
run_case "other origins get no CORS headers" case_other_origin
run_case "preflight OPTIONS: 204 with methods and headers" case_preflight
finish
