#!/usr/bin/env bash
# Stalled request bodies: 20 clients (more than the worker's 16 request
# threads) send a publish's headers and half its body, then stall. The
# worker must keep answering: /push/status within a few seconds, and a
# publish from another client commits. lighttpd reads a body whole before it
# hands the request over; Apache streams it to the worker, whose
# request_body_timeout_s (2 s here) frees a stalled thread with a 408 and
# writes nothing.
. "$FCPUSH_SRCDIR/tests/lib.sh"
fcpush_setup FCPUSH_REQUEST_BODY_TIMEOUT_S=2

PY=${PYTHON3:-/usr/bin/python3}

# stall N CHANNEL: open N connections that each send the headers of a
# 1000-byte publish and 500 bytes of it, then hold them open (silent) until
# killed; writes "ready" to $T/stall.ready once all are sent.
stall() {
	"$PY" - "$PORT" "$1" "$2" "$T/stall.ready" <<'PYEOF' &
import socket, sys, time
port, n, ch, ready = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
socks = []
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(("POST /push/channels/%s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n"
               "Content-Length: 1000\r\n\r\n" % ch).encode() + b"x" * 500)
    socks.append(s)
open(ready, "w").write("ready\n")
time.sleep(60)
PYEOF
	STALL_PID=$!
}

case_stalled_bodies() {
	local ch t0 ms
	ch=$(unique_channel slow)
	stall 20 "$ch"
	wait_until 10 "the stalled clients to connect" test -s "$T/stall.ready" || fail "the stalled clients did not connect"
	sleep 0.5 # let the server hand the stalled requests to the worker (nothing to await: they make no sound)
	t0=$(now_ms)
	REQ_MAX_TIME=20 req GET /push/status
	ms=$(($(now_ms) - t0))
	assert_status 200
	log "/push/status answered in $ms ms with 20 stalled bodies"
	[ "$ms" -lt 6000 ] || fail "/push/status took $ms ms with 20 stalled request bodies"
	REQ_MAX_TIME=20 publish "$ch" "from a healthy client"
	kill "$STALL_PID" 2>/dev/null
	wait "$STALL_PID" 2>/dev/null
	# Nothing of the stalled bodies was committed.
	assert_eq "$(db_count "channel = '$ch'")" 1 "rows of the channel"
	req GET /push/status
	assert_status 200
}

run_case "20 stalled request bodies: /push/status answers within seconds, nothing half-written" case_stalled_bodies
finish
