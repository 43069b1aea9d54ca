#!/usr/bin/env bash
# A full disk: the database lives on a small tmpfs that a filler file fills
# up. Publishes (single, batch, and a body large enough to be spooled) are
# answered 507 {"error":"insufficient_storage"} with a log line and nothing
# half-written; reads, streams and /push/status keep working; once the filler
# is gone, publishing works again. Needs root (mount -t tmpfs): skipped
# otherwise.
. "$FCPUSH_SRCDIR/tests/lib.sh"
. "$FCPUSH_SRCDIR/tests/integration/stream_lib.sh"
fcpush_setup

FULL="$T/full"
mkdir -p "$FULL"
if ! mount -t tmpfs -o size=4m,mode=0755 tmpfs "$FULL" 2>"$T/mount.err"; then
	log "cannot mount a tmpfs ($(cat "$T/mount.err")): skipping"
	finish
fi
# Unmounted before the temp dir goes, whatever way the file ends.
trap 'rc=$?; stop_worker full >/dev/null 2>&1; umount -l "$FULL" 2>/dev/null; (exit $rc); on_exit' EXIT
DB="$FULL/fcpush.db"
"$FCPUSH" --database "$DB" init >"$T/init-full.out" 2>&1 || { log "init on tmpfs: $(cat "$T/init-full.out")"; setup_failed; }
use_worker full FCPUSH_DATABASE="$DB" FCPUSH_MAX_MESSAGE_BYTES=2M

# fill: write zeros into $FULL/filler until the file system is full.
fill() {
	dd if=/dev/zero of="$FULL/filler" bs=16k >/dev/null 2>&1
	[ "$(df --output=avail "$FULL" | tail -1 | tr -d ' ')" -lt 16 ] || fail "the tmpfs is not full: $(df "$FULL" | tail -1)"
}

case_disk_full() {
	local ch rows big
	ch=$(unique_channel full)
	publish "$ch" before1
	publish "$ch" before2
	stream_start sse "/push/channels/$ch" -H "Last-Event-ID: 0"
	await_records sse '.type == "event" and .event == "message"' 2 10
	fill
	rows=$(db_count "1")

	req POST "/push/channels/$ch" -H 'Content-Type: text/plain' --data-binary 'during the full disk'
	assert_error 507
	assert_json .error insufficient_storage
	req POST /push/publish -H 'Content-Type: application/json' \
		--data-binary "[{\"channel\":\"$ch\",\"data\":\"b1\"},{\"channel\":\"$ch\",\"data\":\"b2\"}]"
	assert_error 507
	assert_json .error insufficient_storage
	# A body over 1 MiB is spooled next to the database first.
	big="$T/big.bin"
	head -c 1200000 /dev/zero | tr '\0' 'x' >"$big"
	req POST "/push/channels/$ch" -H 'Content-Type: text/plain' --data-binary "@$big"
	assert_error 507
	assert_json .error insufficient_storage
	ls "$FULL" | grep -q spool && fail "a spool file was left behind: $(ls "$FULL")"
	grep -q 'disk full' "$T/full.err" || fail "no 'disk full' log line in the worker's log"

	# Nothing half-written; reads, streams and /push/status still serve.
	assert_eq "$(db_count "1")" "$rows" "rows while the disk is full"
	req GET "/push/channels/$ch?since=0"
	assert_status 200
	assert_json '[.messages[].data] | join(" ")' "before1 before2"
	req GET /push/status
	assert_status 200
	stream_exited sse && fail "the SSE stream ended: $(st_tail sse)"
	assert_eq "$(st_count sse '.type == "event" and .event == "message"')" 2 "events on the stream (nothing of the refused publishes)"

	# Space again: publishing works, and the stream gets it.
	rm -f "$FULL/filler"
	publish "$ch" after
	await_records sse '.type == "event" and .data == "after"' 1 10
	req GET "/push/channels/$ch?since=0"
	assert_json '[.messages[].data] | join(" ")' "before1 before2 after"
	req POST /push/publish -H 'Content-Type: application/json' \
		--data-binary "[{\"channel\":\"$ch\",\"data\":\"b1\"},{\"channel\":\"$ch\",\"data\":\"b2\"}]"
	assert_status 201
	stream_stop sse
}

run_case "disk full: 507 insufficient_storage, logged, nothing written, reads serve, publishing resumes" case_disk_full
stop_worker full >/dev/null 2>&1
forget_worker full
umount -l "$FULL" 2>/dev/null
finish
