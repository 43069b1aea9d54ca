#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Web-server lock-down (README "Access control", conf/*-lockdown.conf.in):
# the server's own Basic authentication guards every method but GET, HEAD
# and OPTIONS under /push/, with the worker's `auth = off`. Reads (poll,
# SSE, the CORS preflight) pass without credentials; POST and DELETE
# without them, or with a wrong password, are answered 401 by the web
# server and never reach the worker (its request counter does not move,
# nothing is stored or deleted: checked with sqlite3); with the credentials
# they pass.
. "$FCPUSH_SRCDIR/tests/lib.sh"

USER=publisher
PASS=$(openssl rand -hex 12)
printf '%s:%s\n' "$USER" "$(openssl passwd -apr1 "$PASS")" >"$T/publishers.htpasswd"
chmod 644 "$T/publishers.htpasswd"
sed "s|@HTPASSWD@|$T/publishers.htpasswd|g" "$FCPUSH_SRCDIR/conf/$SERVER-lockdown.conf.in" >"$T/lockdown.conf.in"
SERVER_CONF_EXTRA="$T/lockdown.conf.in"
fcpush_setup FCPUSH_AUTH=off
CREDS=(-u "$USER:$PASS")

# requests_total: the worker's fcpush_requests_total.
requests_total() {
	"$CURL" -s --max-time 5 "$PUSH/metrics" | awk '$1 == "fcpush_requests_total" { print $2 }'
}

# assert_refused_by_server: a 401 Basic challenge from the web server.
assert_refused_by_server() {
	assert_status 401
	assert_header_match WWW-Authenticate '^Basic realm="fcpush publishers"'
}

case_reads_open() {
	local ch
	ch=$(unique_channel open)
	publish "$ch" first "${CREDS[@]}"
	req GET "/push/channels/$ch?since=0"
	assert_status 200
	assert_json '.messages[0].data' first
	req HEAD "/push/channels/$ch?since=0" --head
	assert_status 200
	req OPTIONS "/push/channels/$ch" -H 'Origin: http://example.com' \
		-H 'Access-Control-Request-Method: POST'
	[ "$STATUS" != 401 ] && [ "$STATUS" != 403 ] || fail "the preflight was refused$(what_we_got)"
	# An SSE stream opened without credentials gets what a publisher sends.
	REQ_MAX_TIME=10 bg_req sse GET "/push/channels/$ch?stream=sse&since=$SEQ" --no-buffer
	await_parked 1 10
	publish "$ch" second "${CREDS[@]}"
	wait_until 10 "the SSE stream to carry the message" grep -q '^data: second' "$T/bg-sse.body" ||
		fail "the SSE stream did not get the message: $(head -c 300 "$T/bg-sse.body")"
	grep -q '^HTTP/1.1 200' "$T/bg-sse.headers" || fail "SSE: $(head -n1 "$T/bg-sse.headers")"
	kill "${BG_PID[sse]}" 2>/dev/null || true
}

case_writes_refused() {
	local ch before after m
	ch=$(unique_channel locked)
	publish "$ch" kept "${CREDS[@]}"
	before=$(requests_total)
	m=$(requests_total)
	# Two metrics reads in a row: what one read adds to the counter.
	local per_read=$((m - before))
	before=$m
	req POST "/push/channels/$ch" -H 'Content-Type: text/plain' --data-binary refused
	assert_refused_by_server
	req POST "/push/channels/$ch" -u "$USER:wrong" -H 'Content-Type: text/plain' --data-binary refused
	assert_refused_by_server
	req POST /push/publish -H 'Content-Type: application/json' \
		--data-binary "[{\"channel\":\"$ch\",\"data\":\"refused\"}]"
	assert_refused_by_server
	req DELETE "/push/channels/$ch"
	assert_refused_by_server
	req PUT "/push/channels/$ch" --data-binary refused
	assert_refused_by_server
	after=$(requests_total)
	assert_eq "$((after - before))" "$per_read" "worker requests counted while the server refused five"
	assert_eq "$(db_count "channel = '$ch'")" 1 "rows of $ch after the refused requests"
	! on_sqlite || assert_eq "$(db_count "CAST(body AS TEXT) = 'refused'")" 0 "refused messages stored"
}

case_writes_with_credentials() {
	local ch
	ch=$(unique_channel creds)
	publish "$ch" one "${CREDS[@]}"
	req POST /push/publish "${CREDS[@]}" -H 'Content-Type: application/json' \
		--data-binary "[{\"channel\":\"$ch\",\"data\":\"two\"}]"
	assert_status 201
	assert_eq "$(db_count "channel = '$ch'")" 2 "rows of $ch after two publishes"
	req DELETE "/push/channels/$ch" "${CREDS[@]}"
	assert_status 204
	assert_eq "$(db_count "channel = '$ch'")" 0 "rows of $ch after the DELETE"
}

run_case "GET, HEAD, OPTIONS and an SSE stream pass without credentials" case_reads_open
run_case "POST, batch, DELETE, PUT without credentials: 401 from the server, the worker never sees them" case_writes_refused
run_case "POST, batch and DELETE pass with the credentials" case_writes_with_credentials
finish
