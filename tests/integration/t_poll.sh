#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Publish and poll through the web server: bodies of each kind, sequence
# numbers, every cursor, multi-channel polls, batch publish, channel info and
# list, DELETE, the message URL, /status and the static page.
. "$FCPUSH_SRCDIR/tests/lib.sh"
fcpush_setup

case_publish_text() {
	local ch seq
	ch=$(unique_channel text)
	req POST "/push/channels/$ch" -H 'Content-Type: text/plain; charset=utf-8' --data-binary 'hello, world'
	assert_status 201
	assert_header_match Content-Type '^application/json'
	assert_json .channel "$ch"
	assert_json '.seq | type' number
	assert_json '.time | type' number
	seq=$(json .seq)
	assert_header Location "/push/channels/$ch/messages/$seq"
	assert_json '.time > 1600000000000' true

	req GET "/push/channels/$ch?since=0"
	assert_status 200
	assert_header_match Content-Type '^application/json'
	assert_header ETag "\"$seq\""
	assert_json .channel "$ch"
	assert_json '.messages | length' 1
	assert_json .last_seq "$seq"
	assert_json '.messages[0].channel' "$ch"
	assert_json '.messages[0].seq' "$seq"
	assert_json '.messages[0].data' 'hello, world'
	assert_json '.messages[0].content_type' 'text/plain; charset=utf-8'
	assert_json '.messages[0].time | type' number
	assert_json '.messages[0] | has("event")' false
	assert_json '.messages[0] | has("encoding")' false
	assert_json 'has("gap")' false
	assert_no_header Push-Gap
}

case_publish_json() {
	local ch
	ch=$(unique_channel json)
	publish "$ch" '{"a":[1,2,{"b":"c"}],"n":null,"s":"é\"x"}' -H 'Content-Type: application/json'
	req GET "/push/channels/$ch?since=0"
	assert_status 200
	assert_json '.messages[0].data' '{"a":[1,2,{"b":"c"}],"n":null,"s":"é\"x"}'
	assert_json '.messages[0].data.a[2].b' c
	assert_json '.messages[0].content_type' application/json
	assert_json '.messages[0] | has("encoding")' false
	# A JSON scalar is embedded as such.
	publish "$ch" '42' -H 'Content-Type: application/json'
	req GET "/push/channels/$ch?last=1"
	assert_status 200
	assert_json '.messages[0].data' 42
	assert_json '.messages[0].data | type' number
}

case_publish_binary() {
	local ch expect
	ch=$(unique_channel bin)
	printf '\x00\x01\x02\xff\xfe\x80binary\n\x00' >"$T/bin.in"
	req POST "/push/channels/$ch" -H 'Content-Type: application/octet-stream' --data-binary "@$T/bin.in"
	assert_status 201
	req GET "/push/channels/$ch?since=0"
	assert_status 200
	assert_json '.messages[0].encoding' base64
	assert_json '.messages[0].content_type' application/octet-stream
	expect=$(base64 -w0 <"$T/bin.in")
	assert_json '.messages[0].data' "$expect"
	json '.messages[0].data' | base64 -d >"$T/bin.out"
	assert_true "binary body round trip" cmp -s "$T/bin.in" "$T/bin.out"
	# The message URL replays the raw body with its Content-Type.
	req GET "$(json '.messages[0].seq' | sed "s|^|/push/channels/$ch/messages/|")"
	assert_status 200
	assert_header Content-Type application/octet-stream
	assert_true "raw body from the message URL" cmp -s "$T/bin.in" "$T/body"
}

case_event_name() {
	local ch
	ch=$(unique_channel ev)
	publish "$ch?event=greeting" one
	publish "$ch" two -H 'X-EventSource-Event: farewell'
	publish "$ch" three
	req GET "/push/channels/$ch?since=0"
	assert_json '[.messages[] | .event // "none"]' '["greeting","farewell","none"]'
	assert_json '[.messages[].data]' '["one","two","three"]'
}

case_seq_increasing() {
	local ch i prev=0 seqs=()
	ch=$(unique_channel seq)
	for i in 1 2 3 4 5; do
		publish "$ch" "m$i"
		[ "$SEQ" -gt "$prev" ] || fail "seq $SEQ after $prev is not increasing"
		prev=$SEQ
		seqs+=("$SEQ")
	done
	req GET "/push/channels/$ch?since=0"
	assert_status 200
	assert_json '[.messages[].data]' '["m1","m2","m3","m4","m5"]'
	assert_json '[.messages[].seq] | join(" ")' "${seqs[*]}"
	assert_json .last_seq "${seqs[4]}"
	assert_header ETag "\"${seqs[4]}\""
}

case_cursors() {
	local ch s=()
	ch=$(unique_channel cur)
	for i in 1 2 3 4; do
		publish "$ch" "c$i"
		s+=("$SEQ")
	done
	req GET "/push/channels/$ch?since=${s[1]}"
	assert_status 200
	assert_json '[.messages[].data]' '["c3","c4"]'
	req GET "/push/channels/$ch" -H "Last-Event-ID: ${s[2]}"
	assert_status 200
	assert_json '[.messages[].data]' '["c4"]'
	req GET "/push/channels/$ch?lastEventId=${s[0]}"
	assert_status 200
	assert_json '[.messages[].data]' '["c2","c3","c4"]'
	req GET "/push/channels/$ch?last_event_id=${s[0]}"
	assert_status 200
	assert_json '[.messages[].data]' '["c2","c3","c4"]'
	# If-None-Match with an older ETag: what came after it.
	req GET "/push/channels/$ch" -H "If-None-Match: \"${s[1]}\""
	assert_status 200
	assert_json '[.messages[].data]' '["c3","c4"]'
	assert_header ETag "\"${s[3]}\""
	# If-None-Match with the current ETag: 304, no body.
	req GET "/push/channels/$ch" -H "If-None-Match: \"${s[3]}\""
	assert_status 304
	assert_empty_body
	# ?last=N: the last N messages.
	req GET "/push/channels/$ch?last=2"
	assert_status 200
	assert_json '[.messages[].data]' '["c3","c4"]'
	assert_json .last_seq "${s[3]}"
	# No cursor: the latest page.
	req GET "/push/channels/$ch"
	assert_status 200
	assert_json '[.messages[].data]' '["c1","c2","c3","c4"]'
}

case_nothing_new() {
	local ch
	ch=$(unique_channel empty)
	publish "$ch" x
	req GET "/push/channels/$ch?since=$SEQ"
	assert_status 204
	assert_empty_body
	# A channel that never had a message polls empty too.
	req GET "/push/channels/$(unique_channel never)?since=0"
	assert_status 204
}

case_multi_channel() {
	local a b c d s=()
	a=$(unique_channel ma)
	b=$(unique_channel mb)
	c=$(unique_channel mc)
	d=$(unique_channel md)
	publish "$a" a1; s+=("$SEQ")
	publish "$d" d1
	publish "$b" b1; s+=("$SEQ")
	publish "$c" c1; s+=("$SEQ")
	publish "$a" a2; s+=("$SEQ")
	req GET "/push/channels/$a,$b,$c?since=0"
	assert_status 200
	assert_json .channel "$a,$b,$c"
	assert_json '[.messages[].data]' '["a1","b1","c1","a2"]'
	assert_json '[.messages[].channel] | unique | length' 3
	assert_json '[.messages[].seq] | (. == sort)' true
	assert_json .last_seq "${s[3]}"
	# One cursor for all three.
	req GET "/push/channels/$a,$b,$c?since=${s[1]}"
	assert_status 200
	assert_json '[.messages[].data]' '["c1","a2"]'
	req GET "/push/channels/$a,$b,$c?since=${s[3]}"
	assert_status 204
}

case_page_limit() {
	local ch i
	ch=$(unique_channel page)
	# 120 messages in one batch, more than a page (page_messages = 100).
	for i in $(seq 1 120); do
		printf '{"channel":"%s","data":%d}\n' "$ch" "$i"
	done | "$JQ" -s . >"$T/batch.json"
	req POST /push/publish -H 'Content-Type: application/json' --data-binary "@$T/batch.json"
	assert_status 201
	req GET "/push/channels/$ch?since=0"
	assert_status 200
	assert_json '.messages | length' 100
	assert_json '.messages[0].data' 1
	assert_json '.messages[99].data' 100
	assert_json .last_seq "$(json '.messages[99].seq')"
	req GET "/push/channels/$ch?since=$(json .last_seq)"
	assert_status 200
	assert_json '[.messages[].data] | length' 20
	assert_json '.messages[19].data' 120
}

case_batch() {
	local x y
	x=$(unique_channel bx)
	y=$(unique_channel by)
	cat >"$T/batch.json" <<-EOF
	[
	  {"channel": "$x", "data": "first"},
	  {"channel": "$y", "data": {"k": [1, 2]}, "event": "obj"},
	  {"channel": "$x", "data": "third", "content_type": "text/plain"}
	]
	EOF
	req POST /push/publish -H 'Content-Type: application/json' --data-binary "@$T/batch.json"
	assert_status 201
	assert_json 'length' 3
	assert_json '[.[].channel]' "[\"$x\",\"$y\",\"$x\"]"
	assert_json '[.[].seq | type] | unique' '["number"]'
	assert_json '.[0].seq < .[1].seq and .[1].seq < .[2].seq' true
	req GET "/push/channels/$x?since=0"
	assert_json '[.messages[].data]' '["first","third"]'
	req GET "/push/channels/$y?since=0"
	assert_json '.messages[0].data' '{"k":[1,2]}'
	assert_json '.messages[0].event' obj
}

case_batch_all_or_nothing() {
	local x before
	x=$(unique_channel ba)
	before=$(db_count 1)
	cat >"$T/batch.json" <<-EOF
	[
	  {"channel": "$x", "data": "fine"},
	  {"channel": "bad name!", "data": "refused"},
	  {"channel": "$x", "data": "also fine"}
	]
	EOF
	req POST /push/publish -H 'Content-Type: application/json' --data-binary "@$T/batch.json"
	assert_error 400
	req POST /push/publish -H 'Content-Type: application/json' --data-binary '[{"channel": "ok", "data": 1}, 7]'
	assert_error 400
	req POST /push/publish -H 'Content-Type: application/json' --data-binary '[{"channel": "ok", "data": 1'
	assert_error 400
	req POST /push/publish -H 'Content-Type: application/json' --data-binary '{"channel": "ok", "data": 1}'
	assert_error 400
	req GET "/push/channels/$x?since=0"
	assert_status 204
	assert_eq "$(db_count 1)" "$before" "rows in messages after refused batches"
}

case_info_and_list() {
	local ch first
	ch=$(unique_channel info)
	publish "$ch" 'abc'
	first=$SEQ
	publish "$ch" 'defgh'
	req GET "/push/channels/$ch/info"
	assert_status 200
	assert_header_match Content-Type '^application/json'
	assert_json .channel "$ch"
	assert_json .messages 2
	assert_json .bytes 8
	assert_json .first_seq "$first"
	assert_json .last_seq "$SEQ"
	assert_json '.last_publish_time | type' number
	assert_json .trimmed_seq 0
	req GET /push/channels
	assert_status 200
	assert_json "[.channels[] | select(.channel == \"$ch\") | .messages]" '[2]'
	req GET "/push/channels/$(unique_channel nosuch)/info"
	assert_error 404
}

case_delete() {
	local ch
	ch=$(unique_channel del)
	publish "$ch" 'soon gone'
	req DELETE "/push/channels/$ch"
	assert_status 204
	assert_empty_body
	req GET "/push/channels/$ch?since=0"
	assert_status 204
	req GET "/push/channels/$ch/info"
	assert_error 404
	assert_eq "$(db_count "channel = '$ch'")" 0 "rows left of the deleted channel"
	req DELETE "/push/channels/$ch"
	assert_error 404
	req DELETE "/push/channels/$(unique_channel never)"
	assert_error 404
}

case_message_url() {
	local ch
	ch=$(unique_channel msg)
	publish "$ch" 'just this' -H 'Content-Type: text/csv'
	req GET "$(header Location)"
	assert_status 200
	assert_header Content-Type text/csv
	assert_eq "$(body)" 'just this' "message body"
	req GET "/push/channels/$ch/messages/$((SEQ + 1000))"
	assert_error 404
}

case_status() {
	req GET /push/status
	assert_status 200
	assert_json '.requests | type' number
	assert_json '.publishes | type' number
	assert_json '.parked' 0
	assert_json '.publishes > 0' true
}

case_static_page() {
	req GET /
	assert_status 200
	assert_header_match Content-Type '^text/html'
	grep -q 'fcpush' "$T/body" || fail "index.html does not mention fcpush"
}

run_case "publish text: 201, Location, JSON; poll it back" case_publish_text
run_case "publish JSON: data is the JSON value" case_publish_json
run_case "publish binary: base64 with encoding, raw from the message URL" case_publish_binary
run_case "event name from ?event= and X-EventSource-Event" case_event_name
run_case "seq strictly increasing, ETag is the last seq" case_seq_increasing
run_case "cursors: since, Last-Event-ID, lastEventId, last_event_id, If-None-Match, last" case_cursors
run_case "204 when nothing is new" case_nothing_new
run_case "multi-channel poll a,b,c with one cursor" case_multi_channel
run_case "a poll answers one page (page_messages) and continues" case_page_limit
run_case "batch publish: seqs in request order" case_batch
run_case "batch publish: all or nothing" case_batch_all_or_nothing
run_case "channel info and channel list" case_info_and_list
run_case "DELETE: 204, history gone, 404 when unknown" case_delete
run_case "GET message URL: raw body and Content-Type, 404 when absent" case_message_url
run_case "GET /push/status counters" case_status
run_case "www/ served as the document root" case_static_page
finish
