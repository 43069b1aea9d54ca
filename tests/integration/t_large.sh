#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Large objects: a 100 MB body is published, stored and downloaded in pieces
# (the worker never holds it whole: its peak RSS stays far below the body),
# announced to subscribers with its size instead of inline, and served with
# byte ranges (206, 416) as a <video> element would ask for them.
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

run_case "a 100 MB body is stored and downloaded in pieces" case_large_publish_and_download
run_case "a body over 1 MiB is announced with its size, not inline" case_large_announced_not_inline
run_case "byte ranges: 206, suffix, open end, several ranges, 416" case_ranges
finish
