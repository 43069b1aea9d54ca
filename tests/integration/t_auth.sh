#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Access control (README "Access control"): with auth = all every transport
# refuses a request without a token, with a bad signature, expired, not yet
# valid, for another audience or signed with "none" (401 + WWW-Authenticate,
# RFC 6750 §3), and one for another channel (403 insufficient_scope); serves
# one with a good token; DELETE needs admin; a held stream ends at the
# token's exp; auth = publish leaves subscribing open; RS256 with a key made
# by openssl. Tokens are made here (HS256 with Python's hmac, RS256 with
# openssl) so each claim can be set, and by `fcpush token`.
. "$FCPUSH_SRCDIR/tests/lib.sh"
WS_PY=/usr/bin/python3
WS_CLIENT="$FCPUSH_SRCDIR/tests/integration/ws_client.py"
if ! "$WS_PY" -c 'import websockets' 2>/dev/null; then
	echo "# python3-websockets is missing for $WS_PY: skipping t_auth (./quickstart installs it)"
	exit 0
fi

AUD=fcpush-test
openssl rand -hex 32 >"$T/hs.key"
openssl rand -hex 32 >"$T/other.key"
openssl genrsa -out "$T/rsa.key" 2048 2>/dev/null && openssl rsa -in "$T/rsa.key" -pubout -out "$T/rsa.pub" 2>/dev/null ||
	setup_failed
cat >"$T/mkjwt.py" <<'EOF'
# mkjwt.py ALG KEYFILE CLAIMS_JSON: a compact JWS (RFC 7515) signed with ALG
# (HS256: the key file's bytes less one trailing newline; RS256: openssl
# with a PEM private key; none: no signature).
import base64, hashlib, hmac, subprocess, sys
def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
alg, keyfile, claims = sys.argv[1:4]
msg = (b64(('{"alg":"%s","typ":"JWT"}' % alg).encode()) + "." + b64(claims.encode())).encode()
if alg == "HS256":
    key = open(keyfile, "rb").read()
    key = key[:-1] if key.endswith(b"\n") else key
    sig = hmac.new(key, msg, hashlib.sha256).digest()
elif alg == "RS256":
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", keyfile], input=msg,
                         capture_output=True, check=True).stdout
else:
    sig = b""
print(msg.decode() + "." + b64(sig))
EOF

# jwt ALG KEYFILE FCPUSH_CLAIM [EXTRA_CLAIMS]: a token for $AUD expiring in
# 10 minutes, with EXTRA_CLAIMS (',"nbf":N'...) added; an "exp" or "aud" in
# them replaces the default one (a claim may appear once).
jwt() {
	local alg=$1 key=$2 fc=$3 extra=${4:-}
	local base="\"aud\":\"$AUD\",\"exp\":$(($(date +%s) + 600))"
	case $extra in *'"exp"'*) base="\"aud\":\"$AUD\"" ;; esac
	case $extra in *'"aud"'*) base="\"exp\":$(($(date +%s) + 600))" ;; esac
	"$WS_PY" "$T/mkjwt.py" "$alg" "$key" "{$base,\"fcpush\":$fc$extra}"
}

GRANT='{"subscribe":["a*"],"publish":["a1"]}'
GOOD=$(jwt HS256 "$T/hs.key" "$GRANT")
ADMIN=$(jwt HS256 "$T/hs.key" '{"admin":true}')
declare -A BAD
BAD[signature]=$(jwt HS256 "$T/other.key" "$GRANT")
BAD[expired]=$(jwt HS256 "$T/hs.key" "$GRANT" ",\"exp\":$(($(date +%s) - 10))")
BAD[nbf]=$(jwt HS256 "$T/hs.key" "$GRANT" ",\"nbf\":$(($(date +%s) + 600))")
BAD[audience]=$(jwt HS256 "$T/hs.key" "$GRANT" ',"aud":"someone-else"')
BAD[alg_none]=$(jwt none "$T/hs.key" "$GRANT")
BAD[garbage]=not.a.token

AUTH_ENV=(FCPUSH_AUTH=all FCPUSH_AUTH_KEY_FILE="$T/hs.key" FCPUSH_AUTH_AUDIENCE=$AUD)
fcpush_setup "${AUTH_ENV[@]}"
start_ws ws "${AUTH_ENV[@]}" || setup_failed
WSURL="ws://127.0.0.1:$PORT/push/ws/channels"

wsc() {
	"$WS_PY" "$WS_CLIENT" "$@"
}

# The read endpoints of channel a1 (and, with b1, of a channel the token
# does not name): PATH-SUFFIX and curl arguments, one per line.
read_transports() {
	local ch=$1
	printf '%s\n' "poll /push/channels/$ch?since=0" "longpoll /push/channels/$ch?wait=1" \
		"sse /push/channels/$ch?stream=sse" "ndjson /push/channels/$ch?stream=ndjson" \
		"message /push/channels/$ch/messages/$SEQ1" "info /push/channels/$ch/info"
}

# assert_refused STATUS CODE: a 401/403 with the JSON error CODE and an
# RFC 6750 challenge (with error= except for a request without a token).
assert_refused() {
	assert_error "$1"
	assert_json .error "$2"
	if [ "$2" = invalid_request ]; then
		assert_header WWW-Authenticate 'Bearer realm="fcpush"'
	else
		assert_header_match WWW-Authenticate "^Bearer realm=\"fcpush\", error=\"$2\""
	fi
}

SEQ1=$(printf 'x' | curl -sS --max-time 5 -H "Authorization: Bearer $GOOD" -H 'Content-Type: text/plain' \
	--data-binary @- "$PUSH/channels/a1" | "$JQ" -r .seq)
SEQB=$(printf 'x' | curl -sS --max-time 5 -H "Authorization: Bearer $ADMIN" -H 'Content-Type: text/plain' \
	--data-binary @- "$PUSH/channels/b1" | "$JQ" -r .seq)
[[ $SEQ1 =~ ^[0-9]+$ && $SEQB =~ ^[0-9]+$ ]] || setup_failed

case_every_read_transport() {
	local name path kind
	while read -r name path; do
		req GET "$path"
		assert_refused 401 invalid_request
		for kind in "${!BAD[@]}"; do
			req GET "$path" -H "Authorization: Bearer ${BAD[$kind]}"
			assert_refused 401 invalid_token
		done
		# A good token, but not for this channel.
		req GET "${path/a1/b1}" -H "Authorization: Bearer $GOOD"
		assert_refused 403 insufficient_scope
		# And served with it (streams: the head, then cut by --max-time).
		REQ_MAX_TIME=2 req GET "$path" -H "Authorization: Bearer $GOOD"
		case $name in longpoll) [ "$STATUS" = 200 ] || [ "$STATUS" = 204 ] || fail "$name: $STATUS" ;;
		*) assert_status 200 ;; esac
	done < <(read_transports a1)
	# Several channels: every one must be granted.
	req GET "/push/channels/a1,b1?since=0" -H "Authorization: Bearer $GOOD"
	assert_refused 403 insufficient_scope
	req GET "/push/channels/a1,a2?since=0" -H "Authorization: Bearer $GOOD"
	assert_status 200
	# The channel list names every channel: an admin's.
	req GET /push/channels -H "Authorization: Bearer $GOOD"
	assert_refused 403 insufficient_scope
	req GET /push/channels -H "Authorization: Bearer $ADMIN"
	assert_status 200
}

case_publish_and_delete() {
	local kind
	req POST /push/channels/a1 --data-binary x -H 'Content-Type: text/plain'
	assert_refused 401 invalid_request
	for kind in "${!BAD[@]}"; do
		req POST /push/channels/a1 --data-binary x -H 'Content-Type: text/plain' -H "Authorization: Bearer ${BAD[$kind]}"
		assert_refused 401 invalid_token
	done
	req POST /push/channels/a2 --data-binary x -H 'Content-Type: text/plain' -H "Authorization: Bearer $GOOD"
	assert_refused 403 insufficient_scope
	req POST /push/channels/a1 --data-binary x -H 'Content-Type: text/plain' -H "Authorization: Bearer $GOOD"
	assert_status 201
	# A batch: every element's channel; nothing stored when one is refused.
	req POST /push/publish -H 'Content-Type: application/json' -H "Authorization: Bearer $GOOD" \
		--data-binary '[{"channel":"a1","data":"ok"},{"channel":"a2","data":"no"}]'
	assert_refused 403 insufficient_scope
	assert_json '.detail | test("element 1")' true
	req GET "/push/channels/a2?since=0" -H "Authorization: Bearer $GOOD"
	assert_status 204
	req POST /push/publish -H 'Content-Type: application/json' --data-binary '[{"channel":"a1","data":"x"}]'
	assert_refused 401 invalid_request
	# DELETE: admin only.
	req DELETE /push/channels/a1 -H "Authorization: Bearer $GOOD"
	assert_refused 403 insufficient_scope
	req DELETE /push/channels/b1
	assert_refused 401 invalid_request
	req DELETE /push/channels/b1 -H "Authorization: Bearer $ADMIN"
	assert_status 204
}

case_token_sources() {
	# ?access_token= (RFC 6750 §2.3) and a cookie for reading.
	req GET "/push/channels/a1?since=0&access_token=$GOOD"
	assert_status 200
	req GET "/push/channels/a1?since=0" -H "Cookie: other=1; fcpush_token=$GOOD"
	assert_status 200
	req GET "/push/channels/a1?since=0" -H "Cookie: fcpush_tokenx=$GOOD"
	assert_refused 401 invalid_request
	# A cookie never publishes: a browser sends it with a cross-site form.
	req POST /push/channels/a1 --data-binary x -H 'Content-Type: text/plain' -H "Cookie: fcpush_token=$GOOD"
	assert_refused 401 invalid_request
	req POST "/push/channels/a1?access_token=$GOOD" --data-binary x -H 'Content-Type: text/plain'
	assert_status 201
	# fcpush token issues what the worker takes.
	tok=$("$FCPUSH" --config /dev/null token --key-file "$T/hs.key" --subscribe 'a*' --ttl 60)
	req GET "/push/channels/a1?since=0" -H "Authorization: Bearer $tok"
	# ... but without aud, which this worker requires.
	assert_refused 401 invalid_token
	tok=$(FCPUSH_AUTH_AUDIENCE=$AUD "$FCPUSH" token --key-file "$T/hs.key" --subscribe 'a*' --publish a1 --ttl 60)
	req GET "/push/channels/a1?since=0" -H "Authorization: Bearer $tok"
	assert_status 200
	req POST /push/channels/a1 --data-binary x -H 'Content-Type: text/plain' -H "Authorization: Bearer $tok"
	assert_status 201
}

case_websocket() {
	local out kind
	out=$(wsc listen "$WSURL/a1" --timeout 5)
	assert_eq "$(jq -c . <<<"$out")" '{"type":"_refused","status":401}' "no token"
	for kind in "${!BAD[@]}"; do
		out=$(wsc listen "$WSURL/a1?access_token=${BAD[$kind]}" --timeout 5)
		assert_eq "$(jq -c . <<<"$out")" '{"type":"_refused","status":401}' "$kind"
	done
	out=$(wsc listen "$WSURL/a1,b1?access_token=$GOOD" --timeout 5)
	assert_eq "$(jq -c . <<<"$out")" '{"type":"_refused","status":403}' "channel b1"
	# The refusal is JSON with the challenge, like HTTP.
	curl -sS --max-time 5 -D "$T/headers" -o "$T/body" -H 'Connection: Upgrade' -H 'Upgrade: websocket' \
		-H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' \
		"$PUSH/ws/channels/a1?access_token=${BAD[expired]}" >/dev/null
	STATUS=$(head -n1 "$T/headers" | awk '{print $2}')
	assert_refused 401 invalid_token
	# Good: every command is checked against the token.
	out=$(wsc listen "$WSURL/a1?access_token=$GOOD" --count 0 --timeout 5 \
		--send '{"type":"publish","channel":"a1","data":"ok","id":"p1"}' \
		--send '{"type":"publish","channel":"a2","data":"no","id":"p2"}' \
		--send '{"type":"subscribe","channel":"b1","id":"s1"}' \
		--send '{"type":"subscribe","channel":"a7","id":"s2"}')
	grep -q '"type":"ack","id":"p1"' <<<"$out" || fail "publish a1 not acked: $out"
	grep -q '"type":"error","error":"insufficient_scope".*"id":"p2"' <<<"$out" || fail "publish a2: $out"
	grep -q '"type":"error","error":"insufficient_scope".*"id":"s1"' <<<"$out" || fail "subscribe b1: $out"
	grep -q '"type":"subscribed","channel":"a7"' <<<"$out" || fail "subscribe a7: $out"
	# The token in an Authorization header, as a non-browser client sends it.
	out=$(wsc listen "$WSURL/a1" --header "Authorization: Bearer $GOOD" --count 0 --timeout 5 \
		--send '{"type":"publish","channel":"a1","data":"h","id":"p3"}')
	grep -q '"type":"ack","id":"p3"' <<<"$out" || fail "header token: $out"
	# A cookie subscribes but does not publish.
	out=$(wsc listen "$WSURL/a1" --header "Cookie: fcpush_token=$GOOD" --count 0 --timeout 5 \
		--send '{"type":"publish","channel":"a1","data":"c","id":"p4"}')
	grep -q '"type":"error","error":"invalid_request".*"id":"p4"' <<<"$out" || fail "cookie publish: $out"
	# With auth on, ws_allowed_origins defaults to the site's own origin.
	out=$(wsc listen "$WSURL/a1?access_token=$GOOD" --origin http://evil.example --timeout 5)
	assert_eq "$(jq -c . <<<"$out")" '{"type":"_refused","status":403}' "foreign origin"
	out=$(wsc listen "$WSURL/a1?access_token=$GOOD" --origin "http://127.0.0.1:$PORT" --count 0 --timeout 5 \
		--send '{"type":"publish","channel":"a1","data":"o","id":"p5"}')
	grep -q '"type":"ack","id":"p5"' <<<"$out" || fail "own origin: $out"
}

case_stream_ends_at_exp() {
	local short exp t0 ms out
	exp=$(($(date +%s) + 3))
	short=$(jwt HS256 "$T/hs.key" "$GRANT" ",\"exp\":$exp")
	t0=$(now_ms)
	bg_req sse GET "/push/channels/a1?stream=sse" -H "Authorization: Bearer $short"
	bg_req nd GET "/push/channels/a1?stream=ndjson" -H "Authorization: Bearer $short"
	bg_req lp GET "/push/channels/a1?wait=25" -H "Authorization: Bearer $short"
	out=$(wsc listen "$WSURL/a1?access_token=$short" --timeout 10)
	ms=$(($(now_ms) - t0))
	assert_eq "$(tail -n1 <<<"$out" | jq -c '{type,code}')" '{"type":"_close","code":4401}' "WebSocket close"
	[ "$ms" -ge 1000 ] && [ "$ms" -le 5000 ] || fail "WebSocket closed after $ms ms, exp was 2-3 s away"
	bg_wait sse
	assert_status 200
	[ "$ELAPSED_MS" -ge 1000 ] && [ "$ELAPSED_MS" -le 5000 ] || fail "SSE ended after $ELAPSED_MS ms"
	grep -q '^event: auth$' "$T/body" || fail "SSE: no event: auth$(what_we_got)"
	bg_wait nd
	assert_status 200
	[ "$ELAPSED_MS" -ge 1000 ] && [ "$ELAPSED_MS" -le 5000 ] || fail "NDJSON ended after $ELAPSED_MS ms"
	[ "$(tail -n1 "$T/body" | jq -r .type)" = auth ] || fail "NDJSON: last line not type auth$(what_we_got)"
	bg_wait lp
	assert_status 204
	[ "$ELAPSED_MS" -ge 1000 ] && [ "$ELAPSED_MS" -le 5000 ] || fail "long poll answered after $ELAPSED_MS ms"
	# Then the same token is refused.
	wait_until 3 "the token to expire" test "$(date +%s)" -ge "$exp"
	req GET "/push/channels/a1?since=0" -H "Authorization: Bearer $short"
	assert_refused 401 invalid_token
	assert_header_match WWW-Authenticate 'error_description="the token has expired"'
}

# fcpush.js (in node: its fetch transports) with a getToken that mints
# 8-second tokens: the stream ends at each exp (NDJSON {"type":"auth"}), the
# long poll is answered at exp and then refused 401; each time fcpush.js
# gets a fresh token and resumes from its seq. Every message published over
# two or more expiries arrives once, in order.
case_fcpush_js_resumes() {
	command -v node >/dev/null || { echo "# node is missing: skipped"; return 0; }
	cat >"$T/resume.mjs" <<'EOF'
import crypto from 'node:crypto';
import fs from 'node:fs';
const [src, base, keyfile, aud, pubToken, transport, channel, seconds] = process.argv.slice(2);
globalThis.window = globalThis;
await import(src + '/www/fcpush.js');
const key = fs.readFileSync(keyfile, 'utf8').replace(/\n$/, '');
const b64 = (s) => Buffer.from(s).toString('base64url');
let minted = 0;
const mint = () => {
  const h = b64(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const p = b64(JSON.stringify({ aud, exp: Math.floor(Date.now() / 1000) + 8, fcpush: { subscribe: [channel] } }));
  minted++;
  return h + '.' + p + '.' + crypto.createHmac('sha256', key).update(h + '.' + p).digest('base64url');
};
const received = [], published = [], reasons = [];
const start = await fcpush.publish(channel, 'start', { base, token: pubToken });
const sub = fcpush.subscribe(channel, {
  base, transports: [transport], since: start.seq, getToken: async () => mint(),
  onMessage: (m) => received.push(m.seq),
  onState: (st, t, d) => { if (st === 'reconnecting') reasons.push(d.reason); },
  onError: (e) => reasons.push('error ' + e.status + ' ' + e.error + (e.fatal ? ' fatal' : '')),
});
const end = Date.now() + Number(seconds) * 1000;
while (Date.now() < end) {
  published.push((await fcpush.publish(channel, 'm' + published.length, { base, token: pubToken })).seq);
  await new Promise((r) => setTimeout(r, 300));
}
const deadline = Date.now() + 8000;
while (received.length < published.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
const open = sub.state !== 'closed';
sub.close();
const ok = JSON.stringify(received) === JSON.stringify(published) && minted >= 3 && open;
console.log(JSON.stringify({ transport, ok, minted, published: published.length, received: received.length,
  missing: published.filter((s) => !received.includes(s)), reasons }));
process.exit(ok ? 0 : 1);
EOF
	local tr pub rc=0
	pub=$(jwt HS256 "$T/hs.key" '{"publish":["r*"]}')
	for tr in stream longpoll; do
		node "$T/resume.mjs" "$FCPUSH_SRCDIR" "$PUSH" "$T/hs.key" "$AUD" "$pub" "$tr" "r-$tr" 19 \
			>"$T/resume-$tr.out" 2>&1 &
	done
	wait -n || rc=1
	wait -n || rc=1
	for tr in stream longpoll; do
		echo "# $tr: $(cat "$T/resume-$tr.out")"
	done
	[ "$rc" = 0 ] || fail "fcpush.js lost or repeated messages across token expiries"
	grep -q 'token expired' "$T/resume-stream.out" ||
		fail "the stream did not end with an auth notice: $(cat "$T/resume-stream.out")"
}

# restart NAME KIND SETTINGS...: the worker or fcpush-ws again with SETTINGS.
restart() {
	local name=$1 kind=$2 msg
	shift 2
	msg=$(stop_worker "$name") || fail "$name: $msg"
	if [ "$kind" = ws ]; then
		start_ws "$name" "$@" || fail "fcpush-ws did not restart"
	else
		start_worker "$name" "$SOCKET" "$@" || fail "worker did not restart"
	fi
}

case_mode_publish() {
	local out env=(FCPUSH_AUTH=publish FCPUSH_AUTH_KEY_FILE="$T/hs.key" FCPUSH_AUTH_AUDIENCE=$AUD
		FCPUSH_CORS_ALLOW_ORIGINS=https://app.example)
	restart worker worker "${env[@]}"
	restart ws ws "${env[@]}"
	req GET "/push/channels/b1?since=0"
	[ "$STATUS" = 200 ] || [ "$STATUS" = 204 ] || fail "subscribing is open: $STATUS"
	REQ_MAX_TIME=1 req GET "/push/channels/b1?stream=sse"
	assert_status 200
	req POST /push/channels/b1 --data-binary x -H 'Content-Type: text/plain'
	assert_refused 401 invalid_request
	req POST /push/channels/a1 --data-binary x -H 'Content-Type: text/plain' -H "Authorization: Bearer $GOOD"
	assert_status 201
	req DELETE /push/channels/a1 -H "Authorization: Bearer $GOOD"
	assert_refused 403 insufficient_scope
	# Credentialed CORS names the origin, never *.
	req GET "/push/channels/a1?since=0" -H 'Origin: https://app.example'
	assert_header Access-Control-Allow-Origin https://app.example
	assert_header Access-Control-Allow-Credentials true
	req OPTIONS /push/channels/a1 -H 'Origin: https://app.example' -H 'Access-Control-Request-Method: POST'
	assert_header_match Access-Control-Allow-Headers 'Authorization'
	out=$(wsc listen "$WSURL/b1" --count 0 --timeout 5 \
		--send '{"type":"publish","channel":"b1","data":"x","id":"p1"}')
	grep -q '"type":"error","error":"invalid_request".*"id":"p1"' <<<"$out" || fail "WebSocket publish: $out"
	out=$(wsc listen "$WSURL/b1?access_token=${BAD[expired]}" --timeout 5)
	assert_eq "$(jq -c . <<<"$out")" '{"type":"_refused","status":401}' "a bad token is refused even where open"
}

case_rs256() {
	local env=(FCPUSH_AUTH=all FCPUSH_AUTH_KEY_FILE="$T/rsa.pub" FCPUSH_AUTH_ALGORITHM=RS256 FCPUSH_AUTH_AUDIENCE=$AUD)
	restart worker worker "${env[@]}"
	restart ws ws "${env[@]}"
	req GET "/push/channels/a1?since=0" -H "Authorization: Bearer $(jwt RS256 "$T/rsa.key" "$GRANT")"
	assert_status 200
	# An HS256 token keyed with the public key's text (algorithm confusion).
	req GET "/push/channels/a1?since=0" -H "Authorization: Bearer $(jwt HS256 "$T/rsa.pub" "$GRANT")"
	assert_refused 401 invalid_token
	req GET "/push/channels/a1?since=0" -H "Authorization: Bearer $GOOD"
	assert_refused 401 invalid_token
	out=$(wsc listen "$WSURL/a1?access_token=$(jwt RS256 "$T/rsa.key" "$GRANT")" --count 0 --timeout 5 \
		--send '{"type":"publish","channel":"a1","data":"r","id":"r1"}')
	grep -q '"type":"ack","id":"r1"' <<<"$out" || fail "RS256 WebSocket: $out"
}

case_mode_off() {
	local out
	restart worker worker FCPUSH_AUTH=off FCPUSH_AUTH_KEY_FILE="$T/hs.key"
	restart ws ws FCPUSH_AUTH=off
	req POST /push/channels/b1 --data-binary x -H 'Content-Type: text/plain'
	assert_status 201
	req DELETE /push/channels/b1
	assert_status 204
	# Without auth, ws_allowed_origins empty lets every origin in, as before.
	out=$(wsc listen "$WSURL/b1" --origin http://evil.example --count 0 --timeout 5 \
		--send '{"type":"publish","channel":"b1","data":"x","id":"o1"}')
	grep -q '"type":"ack","id":"o1"' <<<"$out" || fail "auth off, any origin: $out"
}

run_case "every read transport: 401 without or with a bad token, 403 for another channel, 200 with one" \
	case_every_read_transport
run_case "publish, batch and DELETE (admin only)" case_publish_and_delete
run_case "token from Authorization, ?access_token, a cookie (reads only), fcpush token" case_token_sources
run_case "WebSocket handshake and every command; own origin by default" case_websocket
run_case "SSE, NDJSON, long poll and WebSocket end at the token's exp" case_stream_ends_at_exp
run_case "fcpush.js getToken: a stream and a long poll resume after each exp, nothing lost" \
	case_fcpush_js_resumes
run_case "auth = publish: subscribing open, publishing needs a token; credentialed CORS" case_mode_publish
run_case "RS256 with an openssl key; no algorithm confusion" case_rs256
run_case "auth = off: no token needed, WebSockets from any origin" case_mode_off
finish
