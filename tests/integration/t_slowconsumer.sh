#!/usr/bin/env bash
# A stalled SSE client with small events (~85 bytes each): the worker queues
# it about stream_max_pending_bytes (64 KB here), not the megabytes the
# kernels would otherwise take first; then it is held back and dropped.
# What the worker queued to it (its deliveries) is what it could fall behind
# by while connected.
#
# Where those megabytes sit: the web server's TCP socket to the client, whose
# send buffer autotunes to net.ipv4.tcp_wmem's maximum (4 MB; 2.9 MB of
# events measured), then the FastCGI socket (the worker bounds its SO_SNDBUF
# when a stream parks). Apache bounds the first with SendBufferSize
# (conf/apache.conf.in). lighttpd has no such setting: it gets a listening
# socket whose SO_SNDBUF is set, which accepted sockets inherit, through
# socket activation, as a systemd .socket unit with SendBuffer= gives it;
# this file starts lighttpd that way.
. "$FCPUSH_SRCDIR/tests/lib.sh"
. "$FCPUSH_SRCDIR/tests/integration/stream_lib.sh"
MAX_PENDING=65536
fcpush_setup FCPUSH_STREAM_MAX_PENDING_BYTES=$MAX_PENDING FCPUSH_STREAM_STALL_TIMEOUT_MS=1000

# restart_lighttpd_activated SNDBUF: stop lighttpd and start it again on the
# same port with a listening socket made here, SO_SNDBUF set, passed as
# systemd socket activation does (LISTEN_FDS, fd 3).
restart_lighttpd_activated() {
	local conf="$T/lighttpd-activated.conf"
	stop_server
	render_conf "$FCPUSH_SRCDIR/conf/lighttpd.conf.in" "$conf"
	echo 'server.systemd-socket-activation = "enable"' >>"$conf"
	"$PY" - "$PORT" "$1" "$(find_prog lighttpd "${LIGHTTPD:-}")" "$conf" </dev/null >>"$T/server.out" 2>&1 <<'PYEOF' &
import os, socket, sys
port, sndbuf, lighttpd, conf = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
s.bind(("127.0.0.1", port))
s.listen(1024)
if s.fileno() != 3:
    os.dup2(s.fileno(), 3)
os.set_inheritable(3, True)
os.environ["LISTEN_FDS"] = "1"
os.environ["LISTEN_PID"] = str(os.getpid())
os.execv(lighttpd, [lighttpd, "-D", "-f", conf])
PYEOF
	SERVER_PID=$!
	wait_until 20 "lighttpd (socket-activated) on port $PORT" server_answers || setup_failed
	log "lighttpd pid $SERVER_PID, socket-activated with SO_SNDBUF $1"
}
[ "$SERVER" = lighttpd ] && restart_lighttpd_activated 32768

case_small_events() {
	local ch dropped delivered batch i n=0 bytes limit data event
	ch=$(unique_channel small)
	data=$(printf 'e%.0s' $(seq 1 66))
	# "id: SEQ\ndata: DATA\n\n" with a 5-digit seq.
	event=$((4 + 5 + 1 + 6 + ${#data} + 1 + 1))
	batch=$("$JQ" -c -n --arg ch "$ch" --arg d "$data" '[range(200) | {channel: $ch, data: $d}]')
	dropped=$(status_field .dropped)
	delivered=$(status_field .deliveries)
	stream_start stall "/push/channels/$ch" --mode stall --rcvbuf 4096 --max-time 120
	await_records stall '.type == "stalled"' 1 5
	await_stream_parked sse 1
	# 1.7 MB of events, far past what the client and the kernels take: the
	# stream is held back at the bound (it gets no more live messages) and
	# dropped once it has taken nothing for stream_stall_timeout_ms.
	for i in $(seq 1 100); do
		req POST /push/publish -H 'Content-Type: application/json' --data-binary "$batch"
		assert_status 201
		n=$((n + 200))
		status_at_least .dropped $((dropped + 1)) && break
	done
	await_status .dropped ge $((dropped + 1)) 10
	# It is the only subscriber: every delivery went to it.
	bytes=$((($(status_field .deliveries) - delivered) * event))
	log "$n events of about $event bytes published; $bytes bytes of them queued to the stalled client (stream_max_pending_bytes $MAX_PENDING) before it was dropped"
	# The worker's bound, plus what the kernels hold between it and the
	# client: the FastCGI socket (SO_SNDBUF an eighth of the bound, doubled
	# by the kernel), the web server's socket to the client (64 KB), the
	# client's receive buffer (4 KB). Measured: about 190-200 KB; 350-370 KB
	# without the worker's SO_SNDBUF, 2.9 MB with neither.
	limit=$((MAX_PENDING * 4))
	[ "$bytes" -le "$limit" ] || fail "the stalled client was sent $bytes bytes before it was dropped (bound $limit)"
	stream_stop stall
}

run_case "a stalled SSE client with ~85-byte events is dropped after about stream_max_pending_bytes" case_small_events
finish
