#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Idempotent publish (draft-ietf-httpapi-idempotency-key-header): a publish
# repeated with the same Idempotency-Key (header, batch element
# "idempotency_key", WebSocket publish "idempotency_key") on the same
# channel within idempotency_window_s stores one message and answers the
# original 201 and seq, marked Idempotent-Replayed: true; the same key with
# another payload is 422, a malformed key 400. The keys are stored (in
# SQLite, or as JetStream's Nats-Msg-Id on NATS): a retry after kill -9 of the
# worker and a restart gets the original seq. Every case counts the stored
# rows: with the sqlite3 CLI on SQLite, through HTTP on NATS (db_count).
. "$FCPUSH_SRCDIR/tests/lib.sh"
. "$FCPUSH_SRCDIR/tests/integration/stream_lib.sh" # use_worker

WS_PY=/usr/bin/python3
WS_CLIENT="$FCPUSH_SRCDIR/tests/integration/ws_client.py"
fcpush_setup
HAVE_WS=0
if "$WS_PY" -c 'import websockets' 2>/dev/null && [ -x "$FCPUSH_WS" ]; then
	start_ws ws || setup_failed
	HAVE_WS=1
fi
WSURL="ws://127.0.0.1:$PORT/push/ws/channels"

# ---- helpers ------------------------------------------------------------

# keyed_post CHANNEL KEY-HEADER-VALUE BODY [CURL-ARGS...]: POST BODY (as
# text/plain unless a Content-Type is given) with Idempotency-Key:
# KEY-HEADER-VALUE.
keyed_post() {
	local ch=$1 key=$2 data=$3 a ct=(-H 'Content-Type: text/plain')
	shift 3
	for a in "$@"; do
		case ${a,,} in content-type:*) ct=() ;; esac
	done
	req POST "/push/channels/$ch" "${ct[@]}" -H "Idempotency-Key: $key" --data-binary "$data" "$@"
}

rows() {
	db_count "channel = '$1'"
}

key_rows() {
	"$SQLITE3" -cmd '.timeout 5000' "$DB" "SELECT count(*) FROM idempotency_keys WHERE channel = '$1';"
}

# batch BODY [CURL-ARGS...]: POST BODY (JSON) to /push/publish.
batch() {
	local data=$1
	shift
	req POST /push/publish -H 'Content-Type: application/json' --data-binary "$data" "$@"
}

# ws_publish URL SEND...: one WebSocket client that sends each text frame and
# waits for their answers; its frames land in $T/once.out.
ws_publish() {
	local url=$1 a args=()
	shift
	for a in "$@"; do
		args+=(--send "$a")
	done
	"$WS_PY" "$WS_CLIENT" listen "$url" --timeout 8 --count 0 "${args[@]}" >"$T/once.out" 2>"$T/once.err"
	WS_RC=$?
}

once_jq() {
	"$JQ" -c -r -s "$1" "$T/once.out" 2>/dev/null
}

# ---- cases ----------------------------------------------------------------

case_post_twice_one_row() {
	local ch seq time loc
	ch=$(unique_channel twice)
	keyed_post "$ch" '"order-1"' 'hello'
	assert_status 201
	assert_no_header Idempotent-Replayed
	seq=$(json .seq)
	time=$(json .time)
	loc=$(header Location)
	[[ $seq =~ ^[0-9]+$ ]] || fail "no seq$(what_we_got)"
	sleep 0.01 # a later publish time, which the replay must not show
	keyed_post "$ch" '"order-1"' 'hello'
	assert_status 201
	assert_header Idempotent-Replayed true
	assert_json .seq "$seq"
	assert_json .time "$time"
	assert_header Location "$loc"
	# A bare key (as many clients send it) is the same key.
	keyed_post "$ch" 'order-1' 'hello'
	assert_status 201
	assert_header Idempotent-Replayed true
	assert_json .seq "$seq"
	assert_eq "$(rows "$ch")" 1 "stored messages"
	! on_sqlite || assert_eq "$(key_rows "$ch")" 1 "idempotency_keys rows (sqlite3)"
	# Another channel: another scope.
	keyed_post "$ch-2" '"order-1"' 'hello'
	assert_status 201
	assert_no_header Idempotent-Replayed
	[ "$(json .seq)" -gt "$seq" ] || fail "another channel's key replayed$(what_we_got)"
	# Without a key nothing is deduplicated.
	publish "$ch" 'hello'
	publish "$ch" 'hello'
	assert_eq "$(rows "$ch")" 3 "messages rows after two unkeyed publishes"
}

case_different_payload_422() {
	local ch seq
	ch=$(unique_channel diff)
	keyed_post "$ch" '"k-1"' 'first'
	assert_status 201
	seq=$(json .seq)
	keyed_post "$ch" '"k-1"' 'second'
	assert_error 422
	assert_json .error idempotency_key_reused
	# Same body, another type or event: another payload too.
	keyed_post "$ch" '"k-1"' 'first' -H 'Content-Type: text/markdown'
	assert_error 422
	keyed_post "$ch" '"k-1"' 'first' -H 'X-EventSource-Event: other'
	assert_error 422
	assert_eq "$(rows "$ch")" 1 "stored messages"
	keyed_post "$ch" '"k-1"' 'first'
	assert_status 201
	assert_json .seq "$seq"
}

case_malformed_key_400() {
	local ch long v
	ch=$(unique_channel bad)
	long=$(printf 'x%.0s' $(seq 1 256))
	for v in '""' '"a' '"a b"x' "$long" "\"$long\"" '"a", "b"' 'caf'$'\xc3\xa9' 'a"b' '"a\x"'; do
		keyed_post "$ch" "$v" 'x'
		assert_error 400
		assert_json .error bad_idempotency_key
	done
	# The longest key is fine, quoted escapes too.
	keyed_post "$ch" "${long:1}" 'x'
	assert_status 201
	keyed_post "$ch" '"q\"\\x"' 'x'
	assert_status 201
	! on_sqlite ||
		assert_eq "$("$SQLITE3" "$DB" "SELECT key FROM idempotency_keys WHERE channel = '$ch' AND key LIKE 'q%';")" \
			'q"\x' "the unescaped key"
	keyed_post "$ch" '"q\"\\x"' 'x'
	assert_header Idempotent-Replayed true
	assert_eq "$(rows "$ch")" 2 "stored messages"
	# Bad keys in a batch element and over WebSocket.
	batch "[{\"channel\":\"$ch\",\"data\":\"x\",\"idempotency_key\":\"has space\"}]"
	assert_error 400
	assert_json .error bad_idempotency_key
	batch "[{\"channel\":\"$ch\",\"data\":\"x\",\"idempotency_key\":7}]"
	assert_error 400
	assert_eq "$(rows "$ch")" 2 "messages rows after the refused batches"
}

case_batch_elements() {
	local ch a s1 s2 s3 d
	ch=$(unique_channel batch)
	d="[{\"channel\":\"$ch\",\"data\":\"one\",\"idempotency_key\":\"e1\"},"
	d+="{\"channel\":\"$ch-b\",\"data\":{\"n\":2},\"idempotency_key\":\"e1\"},"
	d+="{\"channel\":\"$ch\",\"data\":\"free\"}]"
	batch "$d"
	assert_status 201
	s1=$(json '.[0].seq')
	s2=$(json '.[1].seq')
	s3=$(json '.[2].seq')
	assert_json '[.[] | .replayed] | map(tostring) | join(",")' 'null,null,null'
	batch "$d"
	assert_status 201
	assert_no_header Idempotent-Replayed # element 2 had no key: stored again
	assert_json '.[0].seq' "$s1"
	assert_json '.[1].seq' "$s2"
	assert_json '.[0].replayed' true
	assert_json '.[1].replayed' true
	[ "$(json '.[2].seq')" -gt "$s3" ] || fail "the unkeyed element was not stored again$(what_we_got)"
	assert_eq "$(rows "$ch")" 3 "rows of $ch: e1 once, the unkeyed element twice"
	assert_eq "$(rows "$ch-b")" 1 "rows of $ch-b"
	# The same key twice in one batch: one message.
	batch "[{\"channel\":\"$ch\",\"data\":\"t\",\"idempotency_key\":\"tw\"},{\"channel\":\"$ch\",\"data\":\"t\",\"idempotency_key\":\"tw\"}]"
	assert_status 201
	assert_json '.[0].seq == .[1].seq' true
	assert_json '.[1].replayed' true
	assert_eq "$(rows "$ch")" 4 "rows after a batch repeating its own key"
	# A changed element refuses the whole batch (all or nothing).
	batch "[{\"channel\":\"$ch\",\"data\":\"new one\"},{\"channel\":\"$ch\",\"data\":\"ONE\",\"idempotency_key\":\"e1\"}]"
	assert_error 422
	assert_json .error idempotency_key_reused
	assert_eq "$(rows "$ch")" 4 "rows after the refused batch"

	# An Idempotency-Key header on the batch: the whole batch replays.
	a="[{\"channel\":\"$ch\",\"data\":\"h1\"},{\"channel\":\"$ch\",\"data\":\"h2\"}]"
	batch "$a" -H 'Idempotency-Key: "batch-7"'
	assert_status 201
	assert_no_header Idempotent-Replayed
	s1=$(json -c .)
	batch "$a" -H 'Idempotency-Key: "batch-7"'
	assert_status 201
	assert_header Idempotent-Replayed true
	assert_json '[.[] | {channel, seq}]' "$s1"
	assert_eq "$(rows "$ch")" 6 "rows after a batch sent twice with one Idempotency-Key"
	batch "[{\"channel\":\"$ch\",\"data\":\"h1\"},{\"channel\":\"$ch\",\"data\":\"changed\"}]" \
		-H 'Idempotency-Key: "batch-7"'
	assert_error 422
	assert_eq "$(rows "$ch")" 6 "rows after the changed batch"
}

case_ws_publish() {
	local ch seq p
	[ "$HAVE_WS" = 1 ] || { log "python3-websockets or fcpush-ws missing: skipped"; return 0; }
	ch=$(unique_channel ws)
	p="{\"type\":\"publish\",\"channel\":\"$ch\",\"data\":\"over ws\",\"idempotency_key\":\"w-1\""
	ws_publish "$WSURL/$ch" "$p,\"id\":1}" "$p,\"id\":2}"
	assert_eq "$WS_RC" 0 "client exit status"
	seq=$(once_jq '[.[] | select(.type == "ack" and .id == 1)][0].seq')
	[[ $seq =~ ^[0-9]+$ ]] || fail "no ack: $(cat "$T/once.out" "$T/once.err")"
	assert_eq "$(once_jq '[.[] | select(.type == "ack" and .id == 1)][0].replayed')" null "first ack"
	assert_eq "$(once_jq '[.[] | select(.type == "ack" and .id == 2)][0].seq')" "$seq" "second ack's seq"
	assert_eq "$(once_jq '[.[] | select(.type == "ack" and .id == 2)][0].replayed')" true "second ack"
	# A new connection (a client that reconnected), then HTTP: one key space.
	ws_publish "$WSURL/$ch" "$p,\"id\":3}" \
		"{\"type\":\"publish\",\"channel\":\"$ch\",\"data\":\"other\",\"idempotency_key\":\"w-1\",\"id\":4}" \
		"{\"type\":\"publish\",\"channel\":\"$ch\",\"data\":\"x\",\"idempotency_key\":\"bad key\",\"id\":5}"
	assert_eq "$(once_jq '[.[] | select(.type == "ack" and .id == 3)][0].seq')" "$seq" "ack after reconnecting"
	assert_eq "$(once_jq '[.[] | select(.type == "error" and .id == 4)][0].error')" idempotency_key_reused \
		"another payload"
	assert_eq "$(once_jq '[.[] | select(.type == "error" and .id == 5)][0].error')" bad_idempotency_key \
		"a malformed key"
	req POST "/push/channels/$ch" -H 'Content-Type: text/plain; charset=utf-8' -H 'Idempotency-Key: w-1' \
		--data-binary 'over ws'
	assert_status 201
	assert_header Idempotent-Replayed true
	assert_json .seq "$seq"
	assert_eq "$(rows "$ch")" 1 "stored messages"
}

# fcpush.js publish (www/fcpush.js, run by node): the connection breaks after
# the server has committed, so the 201 is lost; the client sends the publish
# again with the same Idempotency-Key and gets the stored seq.
case_fcpush_js_retry() {
	local ch
	command -v node >/dev/null || { log "node missing: skipped"; return 0; }
	ch=$(unique_channel js)
	node - "$FCPUSH_SRCDIR/www/fcpush.js" "$PUSH" "$ch" >"$T/node.out" 2>&1 <<'JS'
const [file, push, ch] = process.argv.slice(2);
const realFetch = globalThis.fetch;
const keys = [];
globalThis.fetch = async (url, init) => {
  keys.push(init.headers['Idempotency-Key']);
  const res = await realFetch(url, init);
  if (keys.length === 1) {
    await res.text();
    throw new TypeError('connection reset after the server answered');
  }
  return res;
};
require(file);
const limit = setTimeout(() => { console.log(JSON.stringify({ error: 'timeout' })); process.exit(1); }, 10000);
fcpush.publish(ch, 'once', { base: push }).then((r) => {
  clearTimeout(limit);
  console.log(JSON.stringify({ seq: r.seq, replayed: r.replayed, calls: keys.length, same: keys[0] === keys[1] && !!keys[0] }));
}, (e) => {
  clearTimeout(limit);
  console.log(JSON.stringify({ error: String(e), calls: keys.length }));
  process.exit(1);
});
JS
	[ $? = 0 ] || fail "fcpush.publish failed: $(cat "$T/node.out")"
	assert_eq "$("$JQ" -c '{replayed, calls, same}' "$T/node.out")" '{"replayed":true,"calls":2,"same":true}' \
		"the retry (node output $(cat "$T/node.out"))"
	assert_eq "$(rows "$ch")" 1 "stored messages"
	assert_eq "[$("$JQ" -r .seq "$T/node.out")]" "$(channel_seqs "$ch" 0)" "the seq fcpush.publish resolved to"
}

# The worker dies by kill -9 after answering (as if the 201 were lost on
# the wire); the retry, to a new worker, gets the stored seq.
case_survives_kill9() {
	local ch seq
	ch=$(unique_channel k9)
	keyed_post "$ch" '"after-crash"' 'payload'
	assert_status 201
	seq=$(json .seq)
	kill -KILL "$(worker_pid worker)" || fail "cannot kill the worker"
	wait_until 10 "the worker to die" test -e "$T/worker.rc" || fail "the worker survived kill -9"
	forget_worker worker
	start_worker k9 "$SOCKET" || fail "the worker did not restart"
	keyed_post "$ch" '"after-crash"' 'payload'
	assert_status 201
	assert_header Idempotent-Replayed true
	assert_json .seq "$seq"
	keyed_post "$ch" '"after-crash"' 'changed'
	assert_error 422
	assert_eq "$(rows "$ch")" 1 "stored messages"
}

# idempotency_window_s: past it the key is forgotten.
case_window() {
	local ch seq
	ch=$(unique_channel win)
	keyed_post "$ch" w 'x'
	assert_status 201
	seq=$(json .seq)
	keyed_post "$ch" w 'x'
	assert_header Idempotent-Replayed true
	sleep 1.1 # the window (1 s) passes: time itself is what is tested
	keyed_post "$ch" w 'x'
	assert_status 201
	assert_no_header Idempotent-Replayed
	[ "$(json .seq)" -gt "$seq" ] || fail "the key outlived its window$(what_we_got)"
	assert_eq "$(rows "$ch")" 2 "stored messages"
	# The retention pass a commit schedules deletes expired keys (on NATS,
	# JetStream forgets them itself).
	on_sqlite || return 0
	assert_eq "$(key_rows "$ch")" 1 "idempotency_keys rows (the expired one replaced)"
	sleep 1.1
	publish "$ch" 'a commit, which schedules a retention pass'
	wait_until 10 "the expired key's row to go" key_rows_are "$ch" 0 ||
		fail "the expired key is still stored: $(key_rows "$ch") rows"
}

key_rows_are() {
	[ "$(key_rows "$1")" = "$2" ]
}

run_case "a key sent twice: one row, the original 201 and seq, Idempotent-Replayed" case_post_twice_one_row
run_case "the same key with another payload: 422" case_different_payload_422
run_case "malformed keys: 400, nothing stored" case_malformed_key_400
run_case "batch: element keys and the request's key replay, one row each" case_batch_elements
run_case "WebSocket publish with idempotency_key: acked once stored, shared with HTTP" case_ws_publish
run_case "fcpush.js publish retries a lost 201 with its key: one row" case_fcpush_js_retry
run_case "a retry after kill -9 and restart gets the stored seq" case_survives_kill9
CUR_WORKER=k9
use_worker win FCPUSH_IDEMPOTENCY_WINDOW_S=1 FCPUSH_TRIM_INTERVAL_MS=50
run_case "idempotency_window_s: a key is forgotten after it, its row deleted" case_window
finish
