#!/usr/bin/env bash
# Strict input (issue 10 items 1, 6, 7, 9, 10), through the web server with
# the default configuration: every stored Content-Type is an RFC 9110 media
# type (the header-injection attack is refused and nothing of it stored), raw
# bodies are served so browsers never run them, JSON and text bodies must be
# UTF-8, batch limits refuse early with little memory, HEAD is GET without a
# body, Range follows RFC 9110 §14.2, and a large object fits by default.
. "$FCPUSH_SRCDIR/tests/lib.sh"
fcpush_setup
# fcpush-ws too, for the WebSocket publish rules (skipped without the client's
# python3-websockets, as t_ws is).
WS_READY=0
if /usr/bin/python3 -c 'import websockets' 2>/dev/null && [ -x "$FCPUSH_WS" ]; then
	start_ws ws || setup_failed
	WS_READY=1
fi

# rss_kb NAME: the worker's VmNAME (RSS, HWM) in KB.
rss_kb() {
	awk -v k="Vm$1:" '$1 == k { print $2 }' "/proc/$(worker_pid worker)/status"
}

# reset_peak: start the worker's VmHWM again from its current RSS (proc(5),
# clear_refs "5"), so each case measures its own peak.
reset_peak() {
	echo 5 >"/proc/$(worker_pid worker)/clear_refs" 2>/dev/null || true
}

# The attack from issue 10: a batch element's content_type carries CRLF and
# headers, which were stored and replayed raw on /messages/{seq}.
case_batch_content_type_injection() {
	local ch before ct
	ch=$(unique_channel inj)
	before=$(db_count 1)
	for ct in 'text/html\r\nSet-Cookie: session=evil' 'text/html\r\nStatus: 302\r\nLocation: http://evil.example/' \
		'' 'garbage' 'text/plain\u0000' 'text/plain; a=\"\u0001\"'; do
		req POST /push/publish -H 'Content-Type: application/json' --data-binary \
			"[{\"channel\":\"$ch\",\"data\":\"ok\"},{\"channel\":\"$ch\",\"data\":\"<script>alert(1)</script>\",\"content_type\":\"$ct\"}]"
		[ "$STATUS" = 400 ] || fail "content_type '$ct': expected 400$(what_we_got)"
		assert_error 400
		[[ $(json .error) == bad_content_type || $ct == *u0000* ]] || fail "content_type '$ct': $(json .error)"
		! has_header Set-Cookie || fail "a Set-Cookie came back"
	done
	assert_eq "$(db_count 1)" "$before" "rows in messages after the refused batches"
	req GET "/push/channels/$ch?since=0"
	assert_status 204
	# The same on the single publish's header: 415.
	for ct in 'text/plain; charset' 'text/plain, text/html' 'text /plain' 'image/'; do
		req POST "/push/channels/$ch" -H "Content-Type: $ct" --data-binary x
		assert_error 415
		assert_json .error bad_content_type
	done
	assert_eq "$(db_count 1)" "$before" "rows in messages after the refused publishes"
}

# A row stored before the check (here written with sqlite3) is replayed only
# if it is a media type: no header can come out of the database.
case_stored_garbage_not_replayed() {
	local ch seq
	sqlite_only "sqlite3 UPDATE of a stored row"
	ch=$(unique_channel old)
	publish "$ch" '<b>hi</b>' -H 'Content-Type: text/html'
	seq=$SEQ
	"$SQLITE3" -cmd '.timeout 5000' "$DB" \
		"UPDATE messages SET content_type = 'text/html' || char(13, 10) || 'Set-Cookie: a=b', event = 'e' || char(13, 10) || 'X-Evil: 1' WHERE seq = $seq"
	req GET "/push/channels/$ch/messages/$seq"
	assert_status 200
	assert_header Content-Type application/octet-stream
	assert_no_header Set-Cookie
	assert_no_header X-Evil
	assert_no_header X-EventSource-Event
}

case_raw_body_headers() {
	local ch ct
	ch=$(unique_channel raw)
	for ct in text/html 'image/svg+xml' 'application/xhtml+xml'; do
		publish "$ch" '<script>alert(1)</script>' -H "Content-Type: $ct"
		req GET "/push/channels/$ch/messages/$SEQ"
		assert_status 200
		assert_header Content-Type "$ct"
		assert_header X-Content-Type-Options nosniff
		assert_header Content-Security-Policy sandbox
		assert_header_match Content-Disposition '^attachment'
	done
	publish "$ch" 'plain' -H 'Content-Type: text/plain; charset=utf-8'
	req GET "/push/channels/$ch/messages/$SEQ"
	assert_header X-Content-Type-Options nosniff
	assert_header Content-Security-Policy sandbox
	assert_no_header Content-Disposition
}

case_event_names() {
	local ch before
	ch=$(unique_channel ev)
	before=$(db_count 1)
	req POST /push/publish -H 'Content-Type: application/json' \
		--data-binary "[{\"channel\":\"$ch\",\"event\":\"a\\u0007b\",\"data\":1}]"
	assert_error 400
	assert_json .error bad_event
	# (lighttpd refuses a control character in the URL itself: its own 400.)
	req POST "/push/channels/$ch?event=a%09b" -H 'Content-Type: text/plain' --data-binary x
	assert_status 400
	assert_eq "$(db_count 1)" "$before" "rows after refused event names"
	req POST /push/publish -H 'Content-Type: application/json' \
		--data-binary "[{\"channel\":\"$ch\",\"event\":\"caf\\u00e9\",\"data\":1}]"
	assert_status 201
}

# Issue 10 item 6: JSON with invalid UTF-8 was stored and poisoned polls.
case_invalid_utf8() {
	local ch before
	ch=$(unique_channel utf)
	before=$(db_count 1)
	printf '{"a":"\xff"}' >"$T/bad.json"
	req POST "/push/channels/$ch" -H 'Content-Type: application/json' --data-binary "@$T/bad.json"
	assert_error 400
	assert_json .error invalid_utf8
	printf 'caf\xc3' >"$T/bad.txt"
	req POST "/push/channels/$ch" -H 'Content-Type: text/plain' --data-binary "@$T/bad.txt"
	assert_error 400
	assert_json .error invalid_utf8
	printf '[{"channel":"%s","data":"\xed\xa0\x80"}]' "$ch" >"$T/bad-batch.json"
	req POST /push/publish -H 'Content-Type: application/json' --data-binary "@$T/bad-batch.json"
	assert_error 400
	assert_json .error invalid_utf8
	req POST /push/publish -H 'Content-Type: application/json' \
		--data-binary "[{\"channel\":\"$ch\",\"data\":\"\\ud800\"}]"
	assert_error 400
	assert_json .error invalid_utf8
	# A spooled text body (2 MB) is scanned as it streams to disk.
	{ head -c 2000000 /dev/zero | tr '\0' 'a'; printf '\xff'; } >"$T/bad-big.txt"
	req POST "/push/channels/$ch" -H 'Content-Type: text/plain' --data-binary "@$T/bad-big.txt"
	assert_error 400
	assert_json .error invalid_utf8
	assert_eq "$(db_count 1)" "$before" "rows after refused bodies"
	# The channel still polls as JSON; bytes and declared charsets pass.
	printf '\xff\xfe' >"$T/bytes"
	req POST "/push/channels/$ch" -H 'Content-Type: application/octet-stream' --data-binary "@$T/bytes"
	assert_status 201
	printf 'caf\xe9' >"$T/latin1"
	req POST "/push/channels/$ch" -H 'Content-Type: text/plain; charset=iso-8859-1' --data-binary "@$T/latin1"
	assert_status 201
	req GET "/push/channels/$ch?since=0"
	assert_status 200
	assert_json '.messages | length' 2
}

# Issue 10 item 7: an over-limit batch is refused from its element count,
# before any element is copied, with little memory.
case_batch_limits_early() {
	local ch before rss0 rss1 start ms
	ch=$(unique_channel lim)
	before=$(db_count 1)
	# 300,000 messages (the limit is 10,000) in 9 MB: the count is refused
	# before json1 parses the text (which cost 16 bytes a token, and then a
	# copy of every element before the count was checked).
	"$JQ" -nc --arg ch "$ch" '[range(300000) | {channel: $ch, data: 1}]' >"$T/many.json"
	reset_peak
	rss0=$(rss_kb HWM)
	start=$(now_ms)
	req POST /push/publish -H 'Content-Type: application/json' --data-binary "@$T/many.json"
	ms=$(($(now_ms) - start))
	rss1=$(rss_kb HWM)
	log "over-count batch of $(stat -c %s "$T/many.json") bytes: $STATUS in $ms ms, worker peak RSS +$((rss1 - rss0)) KB"
	assert_error 413
	assert_json .error too_many_messages
	# The body itself is read (at most max_batch_bytes); little more.
	[ $((rss1 - rss0)) -lt $(($(stat -c %s "$T/many.json") / 1024 + 8192)) ] ||
		fail "peak RSS grew $((rss1 - rss0)) KB for a refused batch of $(stat -c %s "$T/many.json") bytes"
	assert_json '.detail | test("more than 10000 messages")' true
	# Over max_batch_bytes (16 MiB): refused while the body is read.
	head -c $((17 * 1024 * 1024)) /dev/zero | tr '\0' ' ' >"$T/huge.json"
	req POST /push/publish -H 'Content-Type: application/json' --data-binary "@$T/huge.json"
	assert_error 413
	assert_eq "$(db_count 1)" "$before" "rows after refused batches"
}

# raw_head PATH [HEADER]: send HEAD PATH over a raw socket (HTTP/1.1,
# Connection: close) and keep every byte the server sent in $T/raw, so a body
# after the head cannot hide. Sets STATUS; $T/headers holds the head.
raw_head() {
	python3 - "$BASE_URL" "$1" "${2:-X-Nothing: 1}" >"$T/raw" <<'PY' || fail "raw HEAD $1 failed"
import socket, sys, time
from urllib.parse import urlsplit
u = urlsplit(sys.argv[1])
s = socket.create_connection((u.hostname, u.port), timeout=5)
s.sendall(("HEAD %s HTTP/1.1\r\nHost: %s\r\n%s\r\nConnection: close\r\n\r\n"
           % (sys.argv[2], u.netloc, sys.argv[3])).encode())
data, end = b"", time.monotonic() + 5
while time.monotonic() < end:
    try:
        chunk = s.recv(65536)
    except socket.timeout:
        break
    if not chunk:
        break
    data += chunk
sys.stdout.buffer.write(data)
PY
	STATUS=$(head -1 "$T/raw" | awk '{ print $2 }')
	awk '{ print } /^\r?$/ { exit }' "$T/raw" >"$T/headers"
}

# raw_no_body: nothing followed the head of the last raw_head.
raw_no_body() {
	local total head
	total=$(stat -c %s "$T/raw")
	head=$(stat -c %s "$T/headers")
	[ "$total" = "$head" ] || fail "$((total - head)) bytes of body after a HEAD answer: $(tail -c +$((head + 1)) "$T/raw" | head -c 200)"
}

# Issue 10 item 9: HEAD is GET without a body, on both servers.
case_head() {
	local ch len
	ch=$(unique_channel head)
	publish "$ch" hello
	req GET "/push/channels/$ch?since=0"
	len=$(stat -c %s "$T/body")
	raw_head "/push/channels/$ch?since=0"
	assert_status 200
	assert_header_match Content-Type '^application/json'
	raw_no_body
	! has_header Content-Length || assert_eq "$(header Content-Length)" "$len" "HEAD Content-Length"
	raw_head "/push/channels/$ch/messages/$SEQ"
	assert_status 200
	assert_header Content-Type text/plain
	raw_no_body
	! has_header Content-Length || assert_eq "$(header Content-Length)" 5 "HEAD Content-Length of a raw body"
	# A stream or a long poll answers at once.
	raw_head "/push/channels/$ch" 'Accept: text/event-stream'
	assert_status 200
	assert_header_match Content-Type '^text/event-stream'
	raw_no_body
	raw_head "/push/channels/$ch?since=$SEQ&wait=10"
	assert_status 204
	raw_head /push/status
	assert_status 200
	raw_no_body
	raw_head "/push/channels/$(unique_channel nope)/messages/1"
	assert_status 404
	raw_no_body
}

# Issue 10 item 9: RFC 9110 §14.2, an invalid Range is ignored (200, the
# whole body); an unsatisfiable one is a JSON 416 with the size.
case_range_rules() {
	local ch r
	ch=$(unique_channel rng)
	publish "$ch" 0123456789
	for r in 'bytes=abc' 'bytes=5-2' 'bytes=-' 'bytes=1-2-3' 'bytes=--1' 'items=0-1' 'bytes 0-1'; do
		req GET "/push/channels/$ch/messages/$SEQ" -H "Range: $r"
		[ "$STATUS" = 200 ] || fail "Range: $r: expected 200$(what_we_got)"
		assert_eq "$(body)" 0123456789 "body for Range: $r"
	done
	for r in 'bytes=10-' 'bytes=20-30' 'bytes=-0'; do
		req GET "/push/channels/$ch/messages/$SEQ" -H "Range: $r"
		assert_error 416
		assert_header Content-Range 'bytes */10'
	done
	req GET "/push/channels/$ch/messages/$SEQ" -H 'Range: bytes=2-4'
	assert_status 206
	assert_eq "$(body)" 234 "bytes 2-4"
}

# Issue 10 item 10: the default max_message_bytes (256 MiB) takes a large
# object: a 3 MB body is spooled, stored, and served by ranges.
case_large_by_default() {
	local ch seq
	ch=$(unique_channel large)
	head -c 3000000 /dev/urandom >"$T/three.bin"
	req POST "/push/channels/$ch" -H 'Content-Type: video/mp4' --data-binary "@$T/three.bin"
	assert_status 201
	seq=$(json .seq)
	req GET "/push/channels/$ch/messages/$seq" -H 'Range: bytes=2000000-2000999'
	assert_status 206
	assert_header Content-Range 'bytes 2000000-2000999/3000000'
	cmp -s "$T/body" <(tail -c +2000001 "$T/three.bin" | head -c 1000) || fail "bytes 2000000-2000999 differ"
	req GET "/push/channels/$ch/messages/$seq"
	assert_status 200
	cmp -s "$T/body" "$T/three.bin" || fail "the whole body differs"
}

# A chunked body without Content-Length is spooled once it outgrows 1 MiB,
# as one with a length is: the worker's memory stays small.
case_chunked_large_spooled() {
	local ch rss0 rss1
	sqlite_only "a 50 MB body is over the NATS server's max_payload (t_large checks the 413)"
	ch=$(unique_channel chunk)
	head -c $((50 * 1024 * 1024)) /dev/urandom >"$T/fifty.bin"
	reset_peak
	rss0=$(rss_kb HWM)
	REQ_MAX_TIME=60 req POST "/push/channels/$ch" -H 'Content-Type: application/octet-stream' \
		-H 'Transfer-Encoding: chunked' --data-binary "@$T/fifty.bin"
	rss1=$(rss_kb HWM)
	log "50 MB chunked publish: $STATUS, worker peak RSS +$((rss1 - rss0)) KB"
	assert_status 201
	[ $((rss1 - rss0)) -lt 16384 ] || fail "peak RSS grew $((rss1 - rss0)) KB for a 50 MB body"
	req GET "/push/channels/$ch/info"
	assert_json .bytes $((50 * 1024 * 1024))
}

# The same rules for a WebSocket publish, through the proxy to fcpush-ws. (A
# command whose JSON does not decode to UTF-8 cannot be read at all, so its
# error carries no id, as invalid_json does.)
case_ws_publish_rules() {
	local ch xff
	if [ "$WS_READY" = 0 ]; then
		log "python3-websockets or fcpush-ws missing: skipped"
		return 0
	fi
	ch=$(unique_channel wsrules)
	xff=$(printf '\xff' | base64)
	/usr/bin/python3 "$FCPUSH_SRCDIR/tests/integration/ws_client.py" listen "ws://127.0.0.1:$PORT/push/ws/channels/$ch" \
		--timeout 8 --count 0 \
		--send "{\"type\":\"publish\",\"channel\":\"$ch\",\"data\":1,\"event\":\"a\\u0001b\",\"id\":1}" \
		--send "{\"type\":\"publish\",\"channel\":\"$ch\",\"data\":\"\\ud800\",\"id\":2}" \
		--send-binary "$xff:{\"type\":\"publish\",\"channel\":\"$ch\",\"content_type\":\"text/html\\r\\nSet-Cookie: a=b\",\"id\":3}" \
		--send-binary "$xff:{\"type\":\"publish\",\"channel\":\"$ch\",\"content_type\":\"text/plain\",\"id\":4}" \
		--send "{\"type\":\"publish\",\"channel\":\"$ch\",\"data\":\"ok\",\"event\":\"fine\",\"id\":5}" \
		>"$T/ws.out" 2>"$T/ws.err"
	assert_eq "$("$JQ" -c -r -s '[.[] | select(.type == "error") | "\(.id):\(.error)"] | join(" ")' "$T/ws.out")" \
		"1:bad_event null:invalid_utf8 3:bad_content_type 4:invalid_utf8" "WebSocket errors ($(cat "$T/ws.err"))"
	assert_eq "$("$JQ" -c -r -s '[.[] | select(.type == "ack") | .id] | join(" ")' "$T/ws.out")" 5 "acks"
	assert_eq "$(db_count "channel = '$ch'")" 1 "rows stored"
}

case_cli_content_type() {
	local ch before
	ch=$(unique_channel cli)
	before=$(db_count 1)
	! "$FCPUSH" --database "$DB" publish "$ch" x --content-type $'text/html\r\nSet-Cookie: a=b' 2>"$T/cli.err" ||
		fail "the CLI published a bad content type"
	grep -q 'not a media type' "$T/cli.err" || fail "CLI said: $(cat "$T/cli.err")"
	! "$FCPUSH" --database "$DB" publish "$ch" x --event $'a\x01' 2>/dev/null || fail "the CLI published a bad event"
	! printf '\xff' | "$FCPUSH" --database "$DB" publish "$ch" 2>/dev/null || fail "the CLI published bad UTF-8"
	assert_eq "$(db_count 1)" "$before" "rows after refused CLI publishes"
	"$FCPUSH" --database "$DB" publish "$ch" '{"a":1}' --content-type 'application/json; charset=utf-8' >/dev/null ||
		fail "the CLI refused a good publish"
}

run_case "batch content_type with CRLF headers: 400, nothing stored" case_batch_content_type_injection
run_case "a stored type that is no media type is not replayed" case_stored_garbage_not_replayed
run_case "raw bodies: nosniff, CSP sandbox, attachment for active types" case_raw_body_headers
run_case "event names: one rule for ?event= and batch" case_event_names
run_case "invalid UTF-8 in JSON, text and batch bodies: 400" case_invalid_utf8
run_case "over-limit batch refused early, RSS bounded" case_batch_limits_early
run_case "HEAD answers as GET without a body" case_head
run_case "Range: invalid ignored (200), unsatisfiable 416 JSON" case_range_rules
run_case "a 3 MB object with the default config, then a Range" case_large_by_default
run_case "a 50 MB chunked publish is spooled, RSS bounded" case_chunked_large_spooled
run_case "WebSocket publish: the same rules" case_ws_publish_rules
run_case "CLI publish: content type, event and UTF-8 checked" case_cli_content_type
finish
