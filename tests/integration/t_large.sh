#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Large objects: a 100 MB body is published, stored and downloaded in pieces
# (the worker never holds it whole: its peak RSS stays far below the body),
# announced to subscribers with its size instead of inline, and served with
# byte ranges (206, 416) as a <video> element would ask for them. A store
# with a per-message limit of its own (NATS: max_payload) refuses a body over
# it with 413 naming it, before reading it; spool files go to spool_dir.
. "$FCPUSH_SRCDIR/tests/lib.sh"
fcpush_setup FCPUSH_MAX_MESSAGE_BYTES=200M

BIG=$T/big.bin
SIZE=$((100 * 1024 * 1024))
head -c "$SIZE" /dev/urandom >"$BIG"

# peak_rss_kb: the worker's peak resident memory so far (VmHWM).
peak_rss_kb() {
	awk '/^VmHWM/ { print $2 }' "/proc/$(worker_pid worker)/status"
}

case_large_publish_and_download() {
	local ch seq peak
	sqlite_only "a 100 MB body is over the NATS server's max_payload (the 413 case)"
	ch=$(unique_channel big)
	REQ_MAX_TIME=120 req POST "/push/channels/$ch" --data-binary "@$BIG" -H 'Content-Type: video/mp4'
	assert_status 201
	seq=$(json .seq)
	REQ_MAX_TIME=120 req GET "/push/channels/$ch/messages/$seq"
	assert_status 200
	assert_header Content-Type video/mp4
	assert_header Accept-Ranges bytes
	cmp -s "$T/body" "$BIG" || fail "the downloaded body differs from the published one"
	# Stored and sent in pieces: the worker never held 100 MB (a sanitizer
	# build's shadow memory still stays well below it).
	peak=$(peak_rss_kb)
	[ "$peak" -lt 65536 ] || fail "worker peak RSS $peak KB while moving a $((SIZE / 1024)) KB body"
	log "worker peak RSS: $peak KB for a $((SIZE / 1024)) KB body"
}

case_large_announced_not_inline() {
	local ch seq
	ch=$(unique_channel ann)
	head -c 2000000 "$BIG" >"$T/two.bin"
	req POST "/push/channels/$ch" --data-binary "@$T/two.bin" -H 'Content-Type: application/octet-stream'
	assert_status 201
	seq=$(json .seq)
	req GET "/push/channels/$ch?since=0"
	assert_status 200
	assert_json '.messages[0].seq' "$seq"
	assert_json '.messages[0].data' null
	assert_json '.messages[0].size' 2000000
	assert_json '.messages[0].omitted' true
}

case_ranges() {
	local ch seq
	ch=$(unique_channel range)
	head -c 300000 "$BIG" >"$T/part.bin"
	req POST "/push/channels/$ch" --data-binary "@$T/part.bin" -H 'Content-Type: video/mp4'
	assert_status 201
	seq=$(json .seq)
	req GET "/push/channels/$ch/messages/$seq" -H 'Range: bytes=1000-1999'
	assert_status 206
	assert_header Content-Range 'bytes 1000-1999/300000'
	# (Apache re-frames the body as chunked and drops Content-Length.)
	assert_eq "$(stat -c %s "$T/body")" 1000 "bytes in the 206 body"
	cmp -s "$T/body" <(tail -c +1001 "$T/part.bin" | head -c 1000) || fail "bytes 1000-1999 differ"
	req GET "/push/channels/$ch/messages/$seq" -H 'Range: bytes=299990-'
	assert_status 206
	assert_header Content-Range 'bytes 299990-299999/300000'
	req GET "/push/channels/$ch/messages/$seq" -H 'Range: bytes=-10'
	assert_status 206
	cmp -s "$T/body" <(tail -c 10 "$T/part.bin") || fail "the last 10 bytes differ"
	# Several ranges: answered whole (RFC 9110 lets a server ignore Range).
	req GET "/push/channels/$ch/messages/$seq" -H 'Range: bytes=0-1,5-6'
	assert_status 200
	cmp -s "$T/body" "$T/part.bin" || fail "the whole body differs"
	# Past the end: 416 with the size, and the worker goes on serving.
	req GET "/push/channels/$ch/messages/$seq" -H 'Range: bytes=300000-'
	assert_error 416
	assert_header Content-Range 'bytes */300000'
	req GET "/push/channels/$ch/messages/$seq" -H 'Range: bytes=0-0'
	assert_status 206
}

# On NATS (max_payload 8 MB in tests/nats_lib.sh): a 100 MB body announced
# by Content-Length is refused at once, unread; so is a chunked one (the web
# server passes its length, or the worker stops at the limit). Nothing is
# stored either way; a body of exactly the limit is.
case_over_store_limit() {
	local ch peak
	[ "${FCPUSH_TEST_STORE:-sqlite}" = nats ] ||
		{ echo "NATS-only: SQLite has no per-message limit of its own" >"$T/case.skip"; exit 0; }
	ch=$(unique_channel over)
	REQ_MAX_TIME=60 req POST "/push/channels/$ch" --data-binary "@$BIG" -H 'Content-Type: video/mp4'
	assert_error 413
	assert_json .error too_large
	assert_json '.detail | test("max_payload of 8388608 bytes less 1024")' true
	head -c $((9 * 1024 * 1024)) "$BIG" >"$T/nine.bin"
	REQ_MAX_TIME=60 req POST "/push/channels/$ch" --data-binary "@$T/nine.bin" -H 'Transfer-Encoding: chunked' \
		-H 'Content-Type: application/octet-stream'
	assert_error 413
	assert_json '.detail | test("8387584 bytes: the NATS server.s max_payload of 8388608")' true
	req GET "/push/channels/$ch/info"
	assert_error 404
	peak=$(peak_rss_kb)
	[ "$peak" -lt 65536 ] || fail "worker peak RSS $peak KB: the refused body was held"
	# A batch element is held to the same limit: 413, not the store's 400.
	# (A batch is read into memory: this one after the RSS check.)
	{ printf '[{"channel":"%s","data":"' "$ch"; head -c 9000000 /dev/zero | tr '\0' a; printf '"}]'; } >"$T/batch.json"
	REQ_MAX_TIME=60 req POST /push/publish -H 'Content-Type: application/json' --data-binary "@$T/batch.json"
	assert_error 413
	assert_json '.detail | test("element 0: .*8387584")' true
	req GET "/push/channels/$ch/info"
	assert_error 404
	# Just under the limit is stored whole.
	head -c 8387584 "$BIG" >"$T/max.bin"
	REQ_MAX_TIME=60 req POST "/push/channels/$ch" --data-binary "@$T/max.bin" -H 'Content-Type: application/octet-stream'
	assert_status 201
	REQ_MAX_TIME=60 req GET "/push/channels/$ch/messages/$(json .seq)"
	cmp -s "$T/body" "$T/max.bin" || fail "the body of max_payload less 1024 bytes differs"
}

# restart_worker SETTINGS...: the worker again with SETTINGS.
restart_worker() {
	local msg
	msg=$(stop_worker worker) || fail "worker: $msg"
	start_worker worker "$SOCKET" FCPUSH_MAX_MESSAGE_BYTES=200M "$@" || fail "the worker did not restart"
}

# spool_dir: a spooled body goes there (one that does not exist answers 503,
# nothing written), and its spool file is removed after. (lighttpd buffers a
# request body, so the file lives too briefly to be watched for.)
case_spool_dir() {
	local ch
	ch=$(unique_channel spool)
	head -c 3000000 "$BIG" >"$T/three.bin"
	restart_worker FCPUSH_SPOOL_DIR="$T/nospool"
	req POST "/push/channels/$ch" --data-binary "@$T/three.bin" -H 'Content-Type: application/octet-stream'
	assert_error 503
	assert_json '.detail | test("cannot spool the body: No such file or directory")' true
	req GET "/push/channels/$ch/info"
	assert_error 404
	mkdir -p "$T/spool"
	restart_worker FCPUSH_SPOOL_DIR="$T/spool"
	req POST "/push/channels/$ch" --data-binary "@$T/three.bin" -H 'Content-Type: application/octet-stream'
	assert_status 201
	req GET "/push/channels/$ch/messages/$(json .seq)"
	cmp -s "$T/body" "$T/three.bin" || fail "the spooled body differs"
	compgen -G "$T/spool/*" >/dev/null && fail "a spool file was left behind: $(ls "$T/spool")"
	return 0
}

run_case "a 100 MB body is stored and downloaded in pieces" case_large_publish_and_download
run_case "over the store's own limit (NATS max_payload): 413 naming it, unread, nothing stored" case_over_store_limit
run_case "a body over 1 MiB is announced with its size, not inline" case_large_announced_not_inline
run_case "byte ranges: 206, suffix, open end, several ranges, 416" case_ranges
run_case "spool files go to spool_dir and are removed; a missing one answers 503" case_spool_dir
finish
