#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# SIGTERM: the worker stops accepting, answers its parked long polls at once
# and exits 0 (under the sanitizer build LeakSanitizer then runs: its report
# fails the case).
. "$FCPUSH_SRCDIR/tests/lib.sh"
fcpush_setup

case_sigterm() {
	local ch base pid i msg
	ch=$(unique_channel term)
	publish "$ch" x
	base=$(parked)
	for i in 1 2 3; do
		bg_req "lp$i" GET "/push/channels/$ch?since=$SEQ" -H 'Prefer: wait=25'
	done
	await_parked $((base + 3))
	pid=$(worker_pid worker)
	kill -TERM "$pid" || fail "cannot signal the worker"
	for i in 1 2 3; do
		bg_wait "lp$i"
		# Answered by the worker as at a timeout (nothing new), not dropped
		# (which the web server would turn into a 5xx).
		assert_status 204
		[ "$ELAPSED_MS" -lt 20000 ] || fail "long poll $i answered after $ELAPSED_MS ms, not at SIGTERM"
	done
	wait_until 20 "the worker to exit" test -e "$T/worker.rc" || fail "the worker did not exit after SIGTERM"
	msg=$(check_worker_exit worker) || fail "$msg"
	[ ! -S "$SOCKET" ] || echo "# note: the worker left its socket $SOCKET behind"
}

run_case "SIGTERM answers parked long polls, worker exits 0" case_sigterm
finish
