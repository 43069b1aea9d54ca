#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/attack_mem.sh [BUILDDIR]: the worker's peak memory under the hostile
# reads of issue "answers bounded in bytes" (issue 10 items 2 and 3), for a
# before/after table in docs/BENCHMARKS.md. Runs against BUILDDIR's binaries
# (default build/) through lighttpd on a free loopback port, with the test
# harness of tests/lib.sh; prints one line per attack:
#   attack  peak-RSS-growth-MB  note
# Attacks (bodies of \x01 bytes, six times larger as JSON):
#   poll4     4 polls ?since=0, one after another, over 30 x 1 MB stored
#   stall10   10 stalled NDJSON streams, then one commit of 8 x 1 MB
#   catchup   one NDJSON stream resuming from 0 behind 60 x 1 MB
# Bounded: every request under a time limit; everything it starts stops.
set -u
here=$(cd "$(dirname "$0")" && pwd)
export FCPUSH_SRCDIR=${FCPUSH_SRCDIR:-$(cd "$here/.." && pwd)}
export FCPUSH_BUILDDIR=${1:-$FCPUSH_SRCDIR/build}
export SERVER=${SERVER:-lighttpd}
. "$FCPUSH_SRCDIR/tests/lib.sh"
. "$FCPUSH_SRCDIR/tests/integration/stream_lib.sh"
fcpush_setup

pid=$(worker_pid worker)
reset_peak() { echo 5 >"/proc/$pid/clear_refs"; }
rss_kb() { awk "/^$1/ { print \$2 }" "/proc/$pid/status"; }
insert_ctl() {
	"$SQLITE3" -cmd '.timeout 5000' "$DB" \
		"WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < $2)
		 INSERT INTO messages(channel, content_type, body)
		 SELECT '$1', 'text/plain', CAST(replace(hex(zeroblob(1000000)), '00', char(1)) AS BLOB) FROM c;"
}
report() { # NAME BASE_KB NOTE
	printf '%-8s %6d MB  %s\n' "$1" $((($(rss_kb VmHWM) - $2) / 1024)) "$3"
}

insert_ctl poll 30
reset_peak
base=$(rss_kb VmRSS)
for i in 1 2 3 4; do
	"$CURL" -s --max-time 60 -o /dev/null -w '%{size_download}\n' "$PUSH/channels/poll?since=0" >"$T/poll$i.size"
done
report poll4 "$base" "answer $(cat "$T/poll1.size") bytes each"

for i in $(seq 1 10); do
	stream_start "s$i" "/push/channels/stall?stream=ndjson" --mode stall --rcvbuf 4096 --max-time 60
done
for i in $(seq 1 10); do
	wait_until 10 "stall client $i" st_has "s$i" '.type == "stalled"' || exit 1
done
wait_until 10 "10 streams parked" status_at_least .parked_by_transport.ndjson 10 || exit 1
reset_peak
base=$(rss_kb VmRSS)
insert_ctl stall 8
wait_until 30 "the stalled streams to go" status_at_least .dropped 10
report stall10 "$base" "dropped: $(status_field .dropped)"
for i in $(seq 1 10); do stream_stop "s$i"; done

insert_ctl catch 60
reset_peak
base=$(rss_kb VmRSS)
stream_start c "/push/channels/catch?since=0" --mode ndjson --max-time 120
wait_until 120 "the catch-up" st_has c '.type == "message"' 60
report catchup "$base" "messages: $(st_count c '.type == "message"')"
stream_stop c
teardown
