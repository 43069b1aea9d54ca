#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# 1,000 concurrent long polls parked on one channel, all answered by a single
# publish. curl caps --parallel-max at 300, so four curl processes hold 250
# each.
. "$FCPUSH_SRCDIR/tests/lib.sh"
fcpush_setup FCPUSH_MAX_PARKED=4096
N=1000
PER_CURL=250

parked_is() {
	[ "$(parked)" = "$1" ]
}

case_fanout() {
	local ch base k i t0 t1 codes ok
	[ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -ge $((N * 2 + 100)) ] ||
		fail "ulimit -n is $(ulimit -n): $N long polls need $((N * 2 + 100)) descriptors (raise the hard limit)"
	ch=$(unique_channel fan)
	publish "$ch" before
	mkdir -p "$T/fan"
	for k in $(seq 0 $((N / PER_CURL - 1))); do
		for i in $(seq 1 $PER_CURL); do
			printf 'url = "%s/channels/%s?since=%s"\noutput = "%s/fan/%s-%s"\n' \
				"$PUSH" "$ch" "$SEQ" "$T" "$k" "$i"
		done >"$T/fan-$k.cfg"
	done
	base=$(parked)
	[ -n "$base" ] || fail "GET /push/status gave no parked count"
	for k in $(seq 0 $((N / PER_CURL - 1))); do
		"$CURL" -s --parallel --parallel-immediate --parallel-max $PER_CURL -K "$T/fan-$k.cfg" \
			-H 'Prefer: wait=25' --max-time 45 -w '%{http_code}\n' >"$T/fan-$k.codes" 2>"$T/fan-$k.err" &
	done
	await_parked $((base + N)) 60
	t0=$(now_ms)
	publish "$ch" 'one for all'
	wait
	t1=$(now_ms)
	echo "# $N long polls answered $((t1 - t0)) ms after the publish"
	codes=$(cat "$T"/fan-*.codes | sort | uniq -c | tr -s ' ' | tr '\n' ';')
	assert_eq "$(cat "$T"/fan-*.codes | grep -c '^200$')" "$N" "long polls answered 200 ($codes)"
	ok=$(cat "$T"/fan/* | "$JQ" -c '[.messages[].data]' 2>/dev/null | grep -c '^\["one for all"\]$')
	assert_eq "$ok" "$N" "responses carrying the message"
	wait_until 10 "parked back to $base" parked_is "$base" ||
		fail "parked is $(parked) after the fan-out, expected $base"
}

run_case "1,000 parked long polls all answered by one publish" case_fanout
finish
