#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Retention and the gap signal: a worker keeping 3 messages per channel trims
# in the background; a cursor older than what was trimmed gets "gap": true and
# Push-Gap: <oldest available seq>. Per-channel overrides from the CLI.
. "$FCPUSH_SRCDIR/tests/lib.sh"
fcpush_setup FCPUSH_RETENTION_MAX_MESSAGES=3 FCPUSH_TRIM_INTERVAL_MS=100

# info_field CHANNEL FIELD: one field of GET /push/channels/CHANNEL/info.
info_field() {
	"$CURL" -s --max-time 5 "$PUSH/channels/$1/info" | "$JQ" -r ".$2 // empty" 2>/dev/null
}

info_is() {
	[ "$(info_field "$1" "$2")" = "$3" ]
}

case_trim_and_gap() {
	local ch i s=()
	ch=$(unique_channel ret)
	for i in $(seq 1 10); do
		publish "$ch" "r$i"
		s+=("$SEQ")
	done
	wait_until 10 "retention to trim $ch to 3 messages" info_is "$ch" messages 3 ||
		fail "the channel still holds $(info_field "$ch" messages) messages"
	req GET "/push/channels/$ch/info"
	assert_json .first_seq "${s[7]}"
	assert_json .trimmed_seq "${s[6]}"
	assert_eq "$(db_count "channel = '$ch'")" 3 "rows left in messages"

	# A cursor before the trimmed part: told about the gap, then what remains.
	req GET "/push/channels/$ch?since=0"
	assert_status 200
	assert_json .gap true
	assert_header Push-Gap "${s[7]}"
	assert_json '[.messages[].data]' '["r8","r9","r10"]'
	req GET "/push/channels/$ch?since=${s[3]}"
	assert_status 200
	assert_json .gap true
	assert_header Push-Gap "${s[7]}"
	# A cursor at the trim point or later: no gap.
	req GET "/push/channels/$ch?since=${s[6]}"
	assert_status 200
	assert_json 'has("gap")' false
	assert_no_header Push-Gap
	assert_json '[.messages[].data]' '["r8","r9","r10"]'
	req GET "/push/channels/$ch?since=${s[9]}"
	assert_status 204
}

case_gap_multi_channel() {
	local a b i
	a=$(unique_channel ga)
	b=$(unique_channel gb)
	publish "$b" b1
	for i in $(seq 1 6); do
		publish "$a" "a$i"
	done
	wait_until 10 "retention to trim $a" info_is "$a" messages 3 ||
		fail "the channel still holds $(info_field "$a" messages) messages"
	req GET "/push/channels/$a,$b?since=0"
	assert_status 200
	assert_json .gap true
	assert_header_match Push-Gap '^[0-9]+$'
	assert_json '[.messages[].data]' '["b1","a4","a5","a6"]'
}

case_cli_override() {
	local ch i
	ch=$(unique_channel over)
	publish "$ch" first
	"$FCPUSH" --database "$DB" retention "$ch" --max-messages 1 >"$T/ret.out" 2>&1 ||
		fail "fcpush retention failed: $(cat "$T/ret.out")"
	for i in 2 3 4; do
		publish "$ch" "o$i"
	done
	wait_until 10 "retention to trim $ch to 1 message" info_is "$ch" messages 1 ||
		fail "the channel still holds $(info_field "$ch" messages) messages"
	req GET "/push/channels/$ch/info"
	assert_json .retention.max_messages 1
	req GET "/push/channels/$ch?since=0"
	assert_json '[.messages[].data]' '["o4"]'
	assert_json .gap true
}

case_cli_trim() {
	local ch i
	sqlite_only "sqlite3 INSERT, bypassing the worker's trim"
	ch=$(unique_channel clitrim)
	# Rows from sqlite3 bypass the worker's trim trigger; `fcpush trim` applies
	# the stored retention.
	for i in 1 2 3 4 5; do
		"$SQLITE3" -cmd '.timeout 5000' "$DB" "INSERT INTO messages(channel, body) VALUES('$ch', 'q$i')"
	done
	"$FCPUSH" --database "$DB" retention "$ch" --max-messages 2 >/dev/null 2>&1 || fail "fcpush retention failed"
	"$FCPUSH" --database "$DB" trim >"$T/trim.out" 2>&1 || fail "fcpush trim failed: $(cat "$T/trim.out")"
	assert_eq "$(db_count "channel = '$ch'")" 2 "rows left after fcpush trim"
	req GET "/push/channels/$ch?since=0"
	assert_json '[.messages[].data]' '["q4","q5"]'
	assert_json .gap true
}

run_case "retention trims to max_messages; gap and Push-Gap for old cursors" case_trim_and_gap
run_case "gap on a multi-channel poll" case_gap_multi_channel
run_case "per-channel retention set with fcpush retention" case_cli_override
run_case "fcpush trim applies retention to rows inserted by sqlite3" case_cli_trim
finish
