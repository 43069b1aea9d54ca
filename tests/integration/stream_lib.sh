# SPDX-License-Identifier: MIT
# Helpers for the stream tests (t_sse.sh, t_ndjson.sh), sourced after
# tests/lib.sh. A small stdlib-only Python client (Debian's /usr/bin/python3)
# reads SSE or NDJSON streams over a raw socket and prints one JSON line per
# event as it arrives, so a test awaits conditions on a file instead of
# sleeping:
#   SSE (parsed by the WHATWG event-stream rules):
#     {"type":"open","status":200,"headers":{...lower-case names...}}
#     {"type":"comment","text":"heartbeat"}   {"type":"retry","ms":500}
#     {"type":"event","event":"message","data":"...","id":"12"}
#     {"type":"end","why":"eof"|"closed"|"error: ..."|"deadline"}
#   NDJSON: the open and end records as above, and each line's object as is
#     (or {"type":"bad_line","line":"..."} when a line is not JSON).
# Streams are started with stream_start and stopped with stream_stop (or by
# run_case killing its background jobs).

PY=${PYTHON3:-/usr/bin/python3}
STREAM_CLIENT="$T/stream_client.py"

cat >"$STREAM_CLIENT" <<'PYEOF'
import argparse, base64, json, os, socket, sys, time

ap = argparse.ArgumentParser()
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--path", required=True)
ap.add_argument("--mode", choices=["sse", "ndjson", "stall"], default="sse")
ap.add_argument("-H", dest="headers", action="append", default=[])
ap.add_argument("--no-accept", action="store_true", help="send no Accept header")
ap.add_argument("--out", required=True)
ap.add_argument("--raw", help="append the raw (de-chunked) body bytes here")
ap.add_argument("--max-time", type=float, default=30.0)
ap.add_argument("--reconnect", action="store_true",
                help="like EventSource: reconnect with Last-Event-ID when the stream ends")
ap.add_argument("--retry-ms", type=int, default=100, help="delay before a reconnection")
ap.add_argument("--last-event-id", help="Last-Event-ID for the first connection")
ap.add_argument("--until-data", help="exit once an event with this data arrived")
ap.add_argument("--rcvbuf", type=int, default=0, help="SO_RCVBUF before connecting (stall mode)")
a = ap.parse_args()

deadline = time.monotonic() + a.max_time
out = open(a.out, "a", buffering=1)
raw = open(a.raw, "ab", buffering=0) if a.raw else None


def emit(obj):
    out.write(json.dumps(obj, ensure_ascii=False) + "\n")


class Done(Exception):
    pass


def remaining():
    r = deadline - time.monotonic()
    if r <= 0:
        raise Done("deadline")
    return r


class Conn:
    """One HTTP/1.1 request on a raw socket; body() yields de-chunked bytes."""

    def __init__(self, sock):
        self.s = sock
        self.buf = b""
        self.eof = False

    def fill(self):
        self.s.settimeout(min(remaining(), 1.0))
        try:
            d = self.s.recv(65536)
        except socket.timeout:
            return True
        if not d:
            self.eof = True
            return False
        self.buf += d
        return True

    def line(self):
        while b"\r\n" not in self.buf:
            if not self.fill():
                if self.eof:
                    raise Done("closed")
        i = self.buf.index(b"\r\n")
        l, self.buf = self.buf[:i], self.buf[i + 2:]
        return l

    def head(self):
        status_line = self.line().decode("latin-1")
        parts = status_line.split(" ", 2)
        status = int(parts[1])
        headers = {}
        while True:
            l = self.line().decode("latin-1")
            if l == "":
                break
            k, _, v = l.partition(":")
            headers[k.strip().lower()] = v.strip()
        return status, headers

    def take(self):
        d, self.buf = self.buf, b""
        return d

    def body(self, headers):
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        if not chunked:
            if "content-length" in headers:
                n = int(headers["content-length"])
                while len(self.buf) < n and not self.eof:
                    self.fill()
                yield self.buf[:n]
                return
            while True:
                if self.buf:
                    yield self.take()
                if self.eof:
                    return
                self.fill()
        while True:
            size = int(self.line().split(b";")[0], 16)
            if size == 0:
                return
            left = size
            while left > 0:
                if not self.buf and not self.fill() and self.eof:
                    raise Done("closed")
                d = self.buf[:left]
                self.buf = self.buf[len(d):]
                left -= len(d)
                if d:
                    yield d
            while len(self.buf) < 2:
                if not self.fill() and self.eof:
                    raise Done("closed")
            self.buf = self.buf[2:]


def connect(last_id):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if a.rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, a.rcvbuf)
    s.settimeout(min(remaining(), 5.0))
    s.connect(("127.0.0.1", a.port))
    hdrs = ["Host: 127.0.0.1:%d" % a.port, "Connection: close"]
    if not a.no_accept and not any(h.lower().startswith("accept:") for h in a.headers):
        hdrs.append("Accept: " + ("application/x-ndjson" if a.mode == "ndjson" else "text/event-stream"))
    hdrs += a.headers
    if last_id is not None:
        hdrs.append("Last-Event-ID: " + last_id)
    req = "GET %s HTTP/1.1\r\n%s\r\n\r\n" % (a.path, "\r\n".join(hdrs))
    s.sendall(req.encode("utf-8"))
    return s


class SSE:
    """The WHATWG event-stream interpretation, fed with bytes."""

    def __init__(self):
        self.pending = b""
        self.first = True
        self.data = []
        self.event = ""
        self.last_id = None  # the last event ID buffer (None: never set)
        self.dispatched_id = None  # the last event ID string: sent on reconnection
        self.cr = False

    def feed(self, chunk):
        if self.first:
            self.pending += chunk
            if len(self.pending) < 3 and b"\xef\xbb\xbf".startswith(self.pending):
                return
            if self.pending.startswith(b"\xef\xbb\xbf"):
                self.pending = self.pending[3:]
            self.first = False
        else:
            self.pending += chunk
        # Split on CRLF, LF or CR; a CR at the end may be the first half of CRLF.
        while True:
            if self.cr and self.pending.startswith(b"\n"):
                self.pending = self.pending[1:]
            self.cr = False
            i_n = self.pending.find(b"\n")
            i_r = self.pending.find(b"\r")
            cands = [i for i in (i_n, i_r) if i >= 0]
            if not cands:
                return
            i = min(cands)
            line = self.pending[:i]
            if self.pending[i:i + 1] == b"\r":
                if i + 1 < len(self.pending):
                    skip = 2 if self.pending[i + 1:i + 2] == b"\n" else 1
                else:
                    skip = 1
                    self.cr = True
            else:
                skip = 1
            self.pending = self.pending[i + skip:]
            self.line(line.decode("utf-8", errors="replace"))

    def line(self, l):
        if l == "":
            # Dispatch: the last event ID string is set first, even when no
            # event follows (WHATWG: "id: N" then a blank line sets it).
            self.dispatched_id = self.last_id
            if not self.data:
                self.event = ""
                return
            d = "\n".join(self.data)
            emit({"type": "event", "event": self.event or "message", "data": d,
                  "id": self.last_id if self.last_id is not None else ""})
            self.data = []
            self.event = ""
            if a.until_data is not None and d == a.until_data:
                raise Done("got " + a.until_data)
            return
        if l.startswith(":"):
            t = l[1:]
            emit({"type": "comment", "text": t[1:] if t.startswith(" ") else t})
            return
        name, colon, value = l.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "event":
            self.event = value
        elif name == "data":
            self.data.append(value)
        elif name == "id":
            if "\0" not in value:
                self.last_id = value
        elif name == "retry":
            if value.isdigit() and value.isascii():
                emit({"type": "retry", "ms": int(value)})


class NDJSON:
    # last_id: the seq of the last message line; a reconnection sends it as
    # Last-Event-ID.
    def __init__(self):
        self.pending = b""
        self.last_id = None

    def feed(self, chunk):
        self.pending += chunk
        while b"\n" in self.pending:
            l, _, self.pending = self.pending.partition(b"\n")
            try:
                obj = json.loads(l.decode("utf-8"))
            except Exception:
                emit({"type": "bad_line", "line": l.decode("utf-8", errors="replace")})
                continue
            emit(obj)
            if isinstance(obj, dict) and obj.get("type") == "message":
                self.last_id = str(obj.get("seq"))
                if a.until_data is not None and obj.get("data") == a.until_data:
                    raise Done("got " + a.until_data)


def main():
    parser = NDJSON() if a.mode == "ndjson" else SSE()
    last_id = a.last_event_id
    why = "eof"
    while True:
        s = None
        try:
            s = connect(last_id)
            if a.mode == "stall":
                emit({"type": "stalled"})
                while True:
                    time.sleep(min(remaining(), 0.5))
            c = Conn(s)
            status, headers = c.head()
            emit({"type": "open", "status": status, "headers": headers})
            if status != 200:
                body = b"".join(c.body(headers))
                emit({"type": "error_body", "body": body.decode("utf-8", errors="replace")})
                why = "status %d" % status
            else:
                why = "eof"
                for chunk in c.body(headers):
                    if raw:
                        raw.write(chunk)
                    parser.feed(chunk)
        except Done as e:
            why = str(e)
            if why != "closed":
                emit({"type": "end", "why": why})
                return
        except (OSError, ValueError, IndexError) as e:
            why = "error: %s" % e
        finally:
            if s is not None:
                s.close()
        emit({"type": "end", "why": why})
        if not a.reconnect:
            return
        if isinstance(parser, SSE):
            # The last event ID string: set when an event is dispatched (an
            # id: line of an event cut short does not count).
            last_id = parser.dispatched_id if parser.dispatched_id else last_id
            parser.__init__()
            parser.last_id = parser.dispatched_id = last_id
        else:
            last_id = parser.last_id if parser.last_id else last_id
        try:
            time.sleep(min(remaining(), a.retry_ms / 1000.0))
            remaining()
        except Done:
            emit({"type": "end", "why": "deadline"})
            return


main()
PYEOF

# stream_start NAME PATH [CLIENT-ARGS...]: start the client in the background
# on $BASE_URL's port; its records land in $T/st-NAME.out (raw body in
# $T/st-NAME.raw). Default mode sse, --max-time 30.
declare -A ST_PID
stream_start() {
	local name=$1 path=$2
	shift 2
	rm -f "$T/st-$name.out" "$T/st-$name.raw"
	: >"$T/st-$name.out"
	"$PY" "$STREAM_CLIENT" --port "$PORT" --path "$path" --out "$T/st-$name.out" \
		--raw "$T/st-$name.raw" "$@" >"$T/st-$name.err" 2>&1 &
	ST_PID[$name]=$!
}

# stream_stop NAME: kill the client (if still running) and reap it.
stream_stop() {
	kill "${ST_PID[$1]}" 2>/dev/null
	wait "${ST_PID[$1]}" 2>/dev/null
	return 0
}

# stream_exited NAME: the client has exited on its own.
stream_exited() {
	! kill -0 "${ST_PID[$1]}" 2>/dev/null
}

# st_jq NAME FILTER: jq -c -r FILTER over all records of the stream, slurped.
st_jq() {
	"$JQ" -c -r -s "$2" "$T/st-$1.out" 2>/dev/null
}

# st_count NAME SELECT: number of records matching the jq boolean SELECT.
st_count() {
	st_jq "$1" "[.[] | select($2)] | length"
}

# st_has NAME SELECT [N]: at least N (default 1) records match SELECT.
st_has() {
	local n
	n=$(st_count "$1" "$2")
	[ -n "$n" ] && [ "$n" -ge "${3:-1}" ]
}

# await_records NAME SELECT N SECONDS: wait (bounded) until N records match;
# fails the case with what the stream got otherwise.
await_records() {
	wait_until "$4" "$3 records ($2) on stream $1" st_has "$1" "$2" "$3" ||
		fail "stream $1: expected $3 records matching '$2' within $4 s, got $(st_count "$1" "$2"):
$(st_tail "$1")"
}

# await_open NAME: the stream answered (its open record arrived) and, for an
# SSE stream, the opening comment was parsed.
await_open() {
	await_records "$1" '.type == "open"' 1 10
}

# st_tail NAME: the last records, for messages.
st_tail() {
	tail -n 12 "$T/st-$1.out" | cut -c1-300 | sed 's/^/      /'
	[ -s "$T/st-$1.err" ] && sed 's/^/      stderr: /' "$T/st-$1.err" | tail -n 5
}

# st_events NAME: the data of every SSE event (JSON array).
st_datas() {
	st_jq "$1" '[.[] | select(.type == "event") | .data]'
}

# status_field JQ-EXPR: a field of GET /push/status ("" on failure).
status_field() {
	"$CURL" -s --max-time 5 "$PUSH/status" | "$JQ" -r "$1 // empty" 2>/dev/null
}

status_at_least() {
	local v
	v=$(status_field "$1")
	[ -n "$v" ] && [ "$v" -ge "$2" ]
}

status_is() {
	[ "$(status_field "$1")" = "$2" ]
}

# await_status EXPR OP N SECONDS: wait until the status field EXPR is >= N
# (OP "ge") or == N (OP "eq").
await_status() {
	local fn=status_at_least
	[ "$2" = eq ] && fn=status_is
	wait_until "$4" "status $1 $2 $3" "$fn" "$1" "$3" ||
		fail "GET /push/status: $1 expected $2 $3 within $4 s, is $(status_field "$1")"
}

# await_stream_parked KIND N: the worker holds at least N streams of KIND
# (sse or ndjson).
await_stream_parked() {
	await_status ".parked_by_transport.$1" ge "$2" 10
}

# info_field CHANNEL FIELD: one field of GET /push/channels/CHANNEL/info.
info_field() {
	"$CURL" -s --max-time 5 "$PUSH/channels/$1/info" | "$JQ" -r ".$2 // empty" 2>/dev/null
}

info_is() {
	[ "$(info_field "$1" "$2")" = "$3" ]
}

# db_seqs CHANNEL: the committed seqs of CHANNEL in order, one line (JSON),
# read from the store (channel_seqs: sqlite3, or polls on another store).
db_seqs() {
	channel_seqs "$1" 0
}

# ---- switching workers (main shell only, between cases) --------------------
# The web server talks to $SOCKET; cases that need other settings get a
# worker of their own on the same socket. The previous one is stopped and
# checked (exit 0, no sanitizer report) on the way.
CUR_WORKER=worker

# forget_worker NAME: teardown no longer stops and checks NAME (tests/lib.sh
# keeps its workers in $T/workers.list; older versions in WORKERS).
forget_worker() {
	local w keep=()
	if [ -f "$T/workers.list" ]; then
		grep -vx -- "$1" "$T/workers.list" >"$T/workers.list.tmp"
		mv "$T/workers.list.tmp" "$T/workers.list"
	fi
	if declare -p WORKERS >/dev/null 2>&1; then
		for w in "${WORKERS[@]}"; do
			[ "$w" = "$1" ] || keep+=("$w")
		done
		WORKERS=("${keep[@]}")
	fi
}

# use_worker NAME [FCPUSH_KEY=VALUE...]: stop the current worker, start NAME.
use_worker() {
	local name=$1 msg
	shift
	if [ -n "$CUR_WORKER" ] && ! msg=$(stop_worker "$CUR_WORKER"); then
		echo "FAIL - [$SERVER] $TEST_NAME: worker $CUR_WORKER exits 0 on SIGTERM, no sanitizer report"
		echo "    $msg"
		CASES_FAILED=$((CASES_FAILED + 1))
	fi
	[ -n "$CUR_WORKER" ] && forget_worker "$CUR_WORKER"
	start_worker "$name" "$SOCKET" "$@" || setup_failed
	CUR_WORKER=$name
}

# reap_worker NAME: a worker a case started (the case's subshell could not
# register it): SIGTERM it if it still runs, wait (bounded) for it to go.
reap_worker() {
	local pid
	pid=$(worker_pid "$1") || return 0
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	wait_until 20 "worker $1 to exit" eval "! kill -0 $pid 2>/dev/null" || kill -KILL "$pid" 2>/dev/null
	return 0
}
