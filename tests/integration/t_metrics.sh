#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Prometheus metrics: GET /push/metrics from the worker and GET /metrics
# from fcpush-ws (directly on its socket, and as /push/ws/metrics through the
# web server) parse with a real Prometheus text parser (Debian's
# python3-prometheus-client), and their values move as publishes, long
# polls, SSE and NDJSON streams, WebSockets, request errors and a locked
# store make them move. Also the log lines: one per request error, and
# fcpush-ws's connects and closes.
. "$FCPUSH_SRCDIR/tests/lib.sh"
. "$FCPUSH_SRCDIR/tests/integration/lock_lib.sh" # hold_lock, release_lock

PY=/usr/bin/python3
if ! "$PY" -c 'import prometheus_client.parser, websockets' 2>/dev/null; then
	echo "# python3-prometheus-client or python3-websockets is missing: skipping t_metrics (./quickstart test installs them)"
	exit 0
fi
WS_CLIENT="$FCPUSH_SRCDIR/tests/integration/ws_client.py"

fcpush_setup FCPUSH_BUSY_TIMEOUT_MS=200
start_ws ws || setup_failed

# The parser: prints one "sample value" line per sample (labels sorted, as
# name{a="x",b="y"}), after checking what a scrape must hold: every family
# typed (counter, gauge, histogram; a sample without its # TYPE parses as
# "unknown") and documented, named PREFIX*, counters' samples ending in
# _total, histogram buckets cumulative with +Inf equal to _count. Exits 1
# with the reason otherwise, or when the parser refuses the text.
cat >"$T/parse_metrics.py" <<'PYEOF'
import sys
from prometheus_client.parser import text_string_to_metric_families

path, prefix = sys.argv[1], sys.argv[2]
text = open(path, encoding="utf-8").read()
lines = []
try:
    for fam in text_string_to_metric_families(text):
        if fam.type not in ("counter", "gauge", "histogram"):
            sys.exit("family %s has type %s" % (fam.name, fam.type))
        if not fam.documentation:
            sys.exit("family %s has no HELP" % fam.name)
        if not fam.name.startswith(prefix):
            sys.exit("family %s is not named %s*" % (fam.name, prefix))
        buckets, count = [], None
        for s in fam.samples:
            if fam.type == "counter" and not s.name.endswith("_total"):
                sys.exit("counter sample %s does not end in _total" % s.name)
            if s.name.endswith("_bucket"):
                buckets.append((float(s.labels["le"]), s.value))
            elif fam.type == "histogram" and s.name.endswith("_count"):
                count = s.value
            labels = ",".join('%s="%s"' % kv for kv in sorted(s.labels.items()))
            lines.append("%s%s %r" % (s.name, "{%s}" % labels if labels else "", float(s.value)))
        if fam.type == "histogram":
            if not buckets or buckets[-1][0] != float("inf") or buckets[-1][1] != count:
                sys.exit("histogram %s: no +Inf bucket equal to _count" % fam.name)
            if any(b[1] < a[1] for a, b in zip(buckets, buckets[1:])):
                sys.exit("histogram %s: buckets not cumulative" % fam.name)
except ValueError as e:
    sys.exit("the parser refused the scrape: %s" % e)
print("\n".join(lines))
PYEOF

# scrape NAME URL PREFIX [CURL-ARGS...]: GET URL, assert 200 with the
# exposition format's Content-Type, parse it into $T/NAME.m (see above).
scrape() {
	local name=$1 url=$2 prefix=$3 err
	shift 3
	req GET "$url" "$@"
	assert_status 200
	assert_header Content-Type "text/plain; version=0.0.4; charset=utf-8"
	cp "$T/body" "$T/$name.txt"
	err=$("$PY" "$T/parse_metrics.py" "$T/$name.txt" "$prefix" 2>&1 >"$T/$name.m") ||
		fail "scrape $name of $url: $err; the text: $(head -c 2000 "$T/$name.txt")"
}

# mval NAME SAMPLE: the value of SAMPLE in scrape NAME, as an integer ("" when absent).
mval() {
	awk -v k="$2" '$1 == k { printf "%d", $2; found = 1 } END { if (!found) print "" }' "$T/$1.m"
}

# moved BEFORE AFTER SAMPLE DELTA: SAMPLE grew by exactly DELTA.
moved() {
	local a b
	a=$(mval "$1" "$3")
	b=$(mval "$2" "$3")
	[ -n "$a" ] && [ -n "$b" ] || fail "sample $3 missing (before '$a', after '$b')"
	[ $((b - a)) = "$4" ] || fail "$3: expected +$4, went from $a to $b"
}

# grew BEFORE AFTER SAMPLE: SAMPLE grew.
grew() {
	local a b
	a=$(mval "$1" "$3")
	b=$(mval "$2" "$3")
	[ -n "$a" ] && [ -n "$b" ] || fail "sample $3 missing (before '$a', after '$b')"
	[ "$b" -gt "$a" ] || fail "$3: expected it to grow, stayed $a -> $b"
}

# has_data FILE: an SSE or NDJSON stream's output holds a message.
has_data() {
	grep -q '"seq"' "$1" 2>/dev/null
}

case_worker_format() {
	scrape w "$PUSH/metrics" fcpush_
	for s in fcpush_requests_total fcpush_publishes_total fcpush_messages_published_total \
		'fcpush_parked{transport="long_poll"}' 'fcpush_deliveries_total{transport="ndjson"}' \
		'fcpush_store_errors_total{kind="full"}' fcpush_wake_latency_seconds_count \
		fcpush_commit_batch_messages_count fcpush_slow_consumers_dropped_total; do
		[ -n "$(mval w "$s")" ] || fail "no sample $s in $(cat "$T/w.m")"
	done
	# HEAD is GET without the body; POST is refused.
	req HEAD "$PUSH/metrics" -I
	assert_status 200
	req POST "$PUSH/metrics" --data x
	assert_error 405
}

case_worker_moves() {
	local ch
	ch=$(unique_channel)
	scrape before "$PUSH/metrics" fcpush_
	bg_req lp GET "/push/channels/$ch?wait=10"
	bg_req sse GET "/push/channels/$ch" -N -H 'Accept: text/event-stream'
	bg_req nd GET "/push/channels/$ch" -N -H 'Accept: application/x-ndjson'
	await_parked 3
	scrape parked "$PUSH/metrics" fcpush_
	assert_eq "$(mval parked 'fcpush_parked{transport="long_poll"}')" 1 "parked long polls"
	assert_eq "$(mval parked 'fcpush_parked{transport="sse"}')" 1 "open SSE streams"
	assert_eq "$(mval parked 'fcpush_parked{transport="ndjson"}')" 1 "open NDJSON streams"
	publish "$ch" one
	bg_wait lp
	assert_status 200
	wait_until 10 "the SSE stream to get the message" grep -q '^data: one' "$T/bg-sse.body" ||
		fail "the SSE stream got nothing: $(cat "$T/bg-sse.body")"
	wait_until 10 "the NDJSON stream to get the message" has_data "$T/bg-nd.body" ||
		fail "the NDJSON stream got nothing: $(cat "$T/bg-nd.body")"
	req POST /push/publish -H 'Content-Type: application/json' \
		--data "[{\"channel\":\"$ch\",\"data\":\"two\"},{\"channel\":\"$ch\",\"data\":\"three\"}]"
	assert_status 201
	req GET /push/channels/bad%20name
	assert_error 400
	req GET "/push/channels/$ch/messages/999999999"
	assert_error 404
	scrape after "$PUSH/metrics" fcpush_
	moved before after fcpush_publishes_total 2
	moved before after fcpush_messages_published_total 3
	moved before after fcpush_committed_messages_total 3
	moved before after fcpush_commit_transactions_total 2
	moved before after fcpush_commit_batch_messages_count 2
	moved before after 'fcpush_commit_batch_messages_bucket{le="1"}' 1
	moved before after 'fcpush_commit_batch_messages_bucket{le="2"}' 2
	moved before after fcpush_long_polls_parked_total 1
	moved before after fcpush_long_polls_woken_total 1
	moved before after fcpush_streams_opened_total 2
	moved before after 'fcpush_deliveries_total{transport="long_poll"}' 1
	moved before after 'fcpush_http_errors_total{code="400"}' 1
	moved before after 'fcpush_http_errors_total{code="404"}' 1
	grew before after 'fcpush_deliveries_total{transport="sse"}'
	grew before after 'fcpush_deliveries_total{transport="ndjson"}'
	grew before after fcpush_wake_latency_seconds_count
	grew before after fcpush_requests_total
	# One log line per request error: method, path (no query), status, code.
	grep -q "info .*GET /push/channels/bad%20name: 400 bad_request$" "$T/worker.err" ||
		fail "no log line for the 400: $(tail -n 5 "$T/worker.err")"
	grep -q "info .*GET /push/channels/$ch/messages/999999999: 404 no_message$" "$T/worker.err" ||
		fail "no log line for the 404: $(tail -n 5 "$T/worker.err")"
}

case_store_busy() {
	local ch
	ch=$(unique_channel)
	scrape before "$PUSH/metrics" fcpush_
	hold_lock busy
	req POST "/push/channels/$ch?x=secret" -H 'Content-Type: text/plain' --data-binary one
	release_lock
	assert_error 503
	scrape after "$PUSH/metrics" fcpush_
	moved before after 'fcpush_store_errors_total{kind="busy"}' 1
	moved before after 'fcpush_store_errors_total{kind="full"}' 0
	moved before after 'fcpush_http_errors_total{code="503"}' 1
	moved before after fcpush_publishes_total 0
	grep -q "warn .*POST /push/channels/$ch: 503 store_unavailable$" "$T/worker.err" ||
		fail "no warn line for the 503: $(tail -n 5 "$T/worker.err")"
	! grep -q secret "$T/worker.err" || fail "the query string was logged"
}

case_ws() {
	local ch n
	ch=$(unique_channel)
	scrape wsbefore "http://localhost/metrics" fcpush_ws_ --unix-socket "$WSSOCKET"
	# Through the web server's WebSocket proxy too.
	scrape wsproxied "$PUSH/ws/metrics" fcpush_ws_
	assert_eq "$(mval wsbefore fcpush_ws_connections)" 0 "open WebSockets"
	"$PY" "$WS_CLIENT" listen "ws://127.0.0.1:$PORT/push/ws/channels/$ch" --count 1 --timeout 10 \
		--send "{\"type\":\"publish\",\"channel\":\"$ch\",\"data\":\"hi\",\"id\":\"a\"}" >"$T/ws.out" 2>&1 ||
		fail "the WebSocket client failed: $(cat "$T/ws.out")"
	grep -q '"type": *"ack"' "$T/ws.out" || fail "no ack: $(cat "$T/ws.out")"
	# The close is counted once fcpush-ws has seen it: wait (bounded) for it.
	wait_until 10 "fcpush-ws to log the close" grep -q "WebSocket closed: /push/ws/channels/$ch: 1000 by the client, 1 messages delivered" "$T/ws.err" ||
		fail "no close log line: $(tail -n 5 "$T/ws.err")"
	grep -q "info .*WebSocket connected: /push/ws/channels/$ch (1 open)" "$T/ws.err" ||
		fail "no connect log line: $(tail -n 5 "$T/ws.err")"
	scrape wsafter "http://localhost/metrics" fcpush_ws_ --unix-socket "$WSSOCKET"
	assert_eq "$(mval wsafter fcpush_ws_connections)" 0 "open WebSockets after the close"
	moved wsbefore wsafter fcpush_ws_connections_opened_total 1
	moved wsbefore wsafter fcpush_ws_publishes_acked_total 1
	moved wsbefore wsafter fcpush_ws_messages_delivered_total 1
	moved wsbefore wsafter 'fcpush_ws_closes_total{code="1000"}' 1
	moved wsbefore wsafter fcpush_ws_committed_messages_total 1
	moved wsbefore wsafter fcpush_ws_commit_batch_messages_count 1
	moved wsbefore wsafter fcpush_ws_slow_clients_dropped_total 0
	# A refused handshake counts, and plain HTTP elsewhere is still 426.
	n=$(mval wsafter fcpush_ws_handshakes_refused_total)
	req GET "$PUSH/ws/channels/bad%20name" -H 'Connection: Upgrade' -H 'Upgrade: websocket' \
		-H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=='
	assert_error 400
	req GET "http://localhost/push/ws/channels/$ch" --unix-socket "$WSSOCKET"
	assert_error 426
	scrape wslast "http://localhost/metrics" fcpush_ws_ --unix-socket "$WSSOCKET"
	assert_eq "$(mval wslast fcpush_ws_handshakes_refused_total)" $((n + 1)) "refused handshakes"
}

run_case "worker GET /push/metrics: the 0.0.4 text format, every family typed and documented" case_worker_format
run_case "publishes, long poll, SSE, NDJSON, 4xx move their counters; errors logged one line each" case_worker_moves
run_case "a locked store: fcpush_store_errors_total{kind=busy}, a warn line without the query" case_store_busy
run_case "fcpush-ws GET /metrics (direct and proxied) moves with a WebSocket; connects/closes logged" case_ws
finish
