#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""WebSocket client for the integration tests (tests/integration/t_ws.sh).

Runs under Debian's /usr/bin/python3 with python3-websockets (10.x, asyncio).
Every wait is bounded by --timeout. Subcommands:

  listen URL [--send JSON]... [--send-binary B64:JSON]... [--count N]
         [--ready FILE] [--origin O] [--protocol P] [--header 'N: V']...
         [--timeout S]
      Connect, send each --send text frame and each --send-binary binary
      message (header JSON, body given in base64; README's framing), then
      print every frame received as one line (flushed). A binary message is
      printed as its JSON header plus "_binary":true and "_body_b64". Exits 0 once N frames of type "message" came
      (N=0: after the frames answering the sends), or when the server closes:
      then the last line is {"type":"_close","code":C,"reason":R}. Exits 3 on
      timeout, 4 when the handshake is refused (prints {"type":"_refused",
      "status":S}), 5 when the connection breaks without a close frame.
      --ready FILE is created once the handshake is done.
  raw HOST PORT PATH SCENARIO [--timeout S] [--frames]
      Hand-made frames on a plain socket for what a real client never sends
      (HOST may be the path of a unix socket: PORT is then ignored);
      prints the outcome: "status N" for a refused handshake, "close C" for
      the close code the server sent, "eof" when it hung up without one.
      With --frames, each text frame before the close is printed first, as
      "frame TYPE" (its JSON "type"), flushed as it arrives.
      Scenarios: bad-key, bad-version, handshake (only the handshake's
      status), unmasked, unmasked-after:CHANNEL (a
      masked publish to CHANNEL, then an unmasked one, in one write),
      fragmented-ping, bad-utf8, ping:N (a ping with N payload bytes),
      len63 (a frame whose 64-bit payload length has its top bit set),
      close:HEX (a close frame whose payload is the bytes HEX spells),
      oversized:N (a text frame of N bytes), after-close, no-pong (read
      without ever answering a ping: prints "pings N close C" or "pings N
      eof"), stall:FILE (a small receive buffer, nothing read until FILE
      exists; then read to the end and print the message seqs, one per
      line, then the close), quiet-after-close:URL (a 70,000-byte frame; on
      the server's close frame, answer nothing, open a second subscriber on
      the same path, POST 3 messages to URL and wait until the second
      subscriber has them; prints "close C, then N data frames": what the
      first got after the close frame, which must be 0: RFC 6455 §5.5.1).
"""
import argparse
import asyncio
import base64
import json
import os
import socket
import struct
import sys
import time
import urllib.request

import websockets


def out(obj):
    sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
    sys.stdout.flush()


async def listen(args):
    kw = {"open_timeout": args.timeout, "close_timeout": 2, "max_size": None, "ping_interval": None}
    if args.origin:
        kw["origin"] = args.origin
    if args.protocol:
        kw["subprotocols"] = [args.protocol]
    if args.header:
        kw["extra_headers"] = [tuple(h.split(": ", 1)) for h in args.header]
    deadline = time.monotonic() + args.timeout
    try:
        ws = await websockets.connect(args.url, **kw)
    except websockets.exceptions.InvalidStatusCode as e:
        out({"type": "_refused", "status": e.status_code})
        return 4
    except (OSError, asyncio.TimeoutError, websockets.exceptions.InvalidHandshake) as e:
        out({"type": "_refused", "status": 0, "error": str(e)})
        return 4
    if args.ready:
        with open(args.ready + ".tmp", "w") as f:
            f.write(str(ws.subprotocol or "") + "\n")
        os.rename(args.ready + ".tmp", args.ready)
    for text in args.send:
        await ws.send(text)
    for spec in args.send_binary:
        body, header = spec.split(":", 1)
        header = header.encode()
        await ws.send(struct.pack("!I", len(header)) + header + base64.b64decode(body))
    answers = len(args.send) + len(args.send_binary)
    messages = 0
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                out({"type": "_timeout"})
                await ws.close()
                return 3
            try:
                frame = await asyncio.wait_for(ws.recv(), left)
            except asyncio.TimeoutError:
                continue
            if isinstance(frame, bytes):
                try:
                    (n,) = struct.unpack("!I", frame[:4])
                    obj = json.loads(frame[4:4 + n])
                    obj["_binary"] = True
                    obj["_body_b64"] = base64.b64encode(frame[4 + n:]).decode()
                except (struct.error, ValueError):
                    obj = {"type": "_bad_binary", "len": len(frame)}
                out(obj)
                kind = obj.get("type")
            else:
                sys.stdout.write(frame + "\n")
                sys.stdout.flush()
                try:
                    kind = json.loads(frame).get("type")
                except ValueError:
                    kind = None
            if kind == "message":
                messages += 1
            elif kind in ("ack", "error", "subscribed", "unsubscribed"):
                answers -= 1
            if args.count > 0 and messages >= args.count:
                await ws.close()
                return 0
            if args.count == 0 and answers <= 0:
                await ws.close()
                return 0
    except websockets.exceptions.ConnectionClosed as e:
        if e.rcvd is None:
            out({"type": "_close", "code": None, "reason": ""})
            return 5
        out({"type": "_close", "code": e.rcvd.code, "reason": e.rcvd.reason})
        return 0


# ---- raw frames ----------------------------------------------------------------


def frame(opcode, payload, fin=True, mask=True):
    b0 = (0x80 if fin else 0) | opcode
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", b0, (0x80 if mask else 0) | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, (0x80 if mask else 0) | 126, n)
    else:
        head = struct.pack("!BBQ", b0, (0x80 if mask else 0) | 127, n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(c ^ key[i % 4] for i, c in enumerate(payload))


def read_response(sock):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    line = head.split(b"\r\n", 1)[0].decode("latin-1")
    parts = line.split()
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    return status, rest


def split_frames(buf):
    """The whole frames at the start of buf, as (opcode, payload), and the rest."""
    frames = []
    while len(buf) >= 2:
        n = buf[1] & 0x7F
        off = 2
        if n == 126:
            if len(buf) < 4:
                break
            n = struct.unpack("!H", buf[2:4])[0]
            off = 4
        elif n == 127:
            if len(buf) < 10:
                break
            n = struct.unpack("!Q", buf[2:10])[0]
            off = 10
        if len(buf) < off + n:
            break
        frames.append((buf[0] & 0x0F, buf[off:off + n]))
        buf = buf[off + n:]
    return frames, buf


def read_close(sock, rest, show=False):
    """Read frames until a close frame (its code) or EOF; with show, print
    the type of each text frame before it."""
    buf = rest
    while True:
        frames, buf = split_frames(buf)
        for op, payload in frames:
            if op == 1 and show:
                try:
                    kind = json.loads(payload).get("type")
                except (ValueError, AttributeError):
                    kind = "?"
                print("frame %s" % kind, flush=True)
            if op == 8:
                return "close %d" % struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else "close none"
        chunk = sock.recv(65536)
        if not chunk:
            return "eof"
        buf += chunk


def read_all(sock, rest, count_pings=False, messages=False):
    """Read frames to the end: count pings, print message seqs; return the
    outcome line ("[pings N ]close C" or "[pings N ]eof")."""
    buf = rest
    pings = 0
    prefix = lambda: ("pings %d " % pings) if count_pings else ""
    while True:
        frames, buf = split_frames(buf)
        for op, payload in frames:
            if op == 9:
                pings += 1
            elif op == 8:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 0
                return prefix() + "close %d" % code
            elif op == 1 and messages:
                try:
                    obj = json.loads(payload)
                except ValueError:
                    continue
                if obj.get("type") == "message":
                    print("seq %d" % obj["seq"], flush=True)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            return prefix() + "timeout"
        except OSError:
            return prefix() + "eof"
        if not chunk:
            return prefix() + "eof"
        buf += chunk


def quiet_after_close(args, sock, rest, url):
    """See the quiet-after-close scenario above."""
    deadline = time.monotonic() + args.timeout
    sock.sendall(frame(1, b'"' + b"a" * 69998 + b'"'))
    buf, code, after = rest, None, []
    while code is None:
        frames, buf = split_frames(buf)
        for op, payload in frames:
            if code is not None:
                after.append(op)
            elif op == 8:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 0
        if code is None:
            chunk = sock.recv(65536)
            if not chunk:
                return "eof"
            buf += chunk
    # A second subscriber: frames are written to both in one pass, so once
    # it has the messages, whatever the first was sent is in its socket.
    other = connect(args)
    other.sendall(handshake(args, base64.b64encode(os.urandom(16)).decode()))
    status, obuf = read_response(other)
    if status != 101:
        return "second subscriber: status %d" % status
    for i in range(3):
        req = urllib.request.Request(url, data=b"after-close-%d" % i, method="POST")
        urllib.request.urlopen(req, timeout=args.timeout).read()
    got = 0
    while got < 3:
        if time.monotonic() > deadline:
            return "timeout"
        frames, obuf = split_frames(obuf)
        got += sum(1 for op, _ in frames if op in (1, 2))
        if got < 3:
            chunk = other.recv(65536)
            if not chunk:
                return "second subscriber: eof"
            obuf += chunk
    other.close()
    sock.setblocking(False)
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            buf += chunk
    except (BlockingIOError, OSError):
        pass
    frames, buf = split_frames(buf)
    after += [op for op, _ in frames]
    return "close %d, then %d data frames" % (code, sum(1 for op in after if op in (1, 2)))


def flood(args, sock, rest, n, go):
    """See the flood scenario above."""
    one = b"\x81\x81\0\0\0\0x"  # masked (key 0) text frame "x": invalid JSON
    chunk = one * 4097
    total, sent = n * len(one), 0
    sock.settimeout(1)
    while sent < total:
        at = sent % len(one)  # a frame may have gone out in part
        try:
            sent += sock.send(chunk[at:at + min(4096 * len(one), total - sent)])
        except socket.timeout:
            break
        except OSError:
            return "sent %d eof" % (sent // len(one))
    print("sent %d" % (sent // len(one)), flush=True)
    deadline = time.monotonic() + args.timeout
    while not os.path.exists(go):
        if time.monotonic() > deadline:
            return "timeout"
        time.sleep(0.02)
    sock.settimeout(args.timeout)
    return read_all(sock, rest)


def connect(args, rcvbuf=None):
    """A socket to HOST:PORT, or to the unix socket HOST names."""
    unix = args.host.startswith("/")
    sock = socket.socket(socket.AF_UNIX if unix else socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(args.timeout)
    sock.connect(args.host if unix else (args.host, args.port))
    return sock


def handshake(args, key, version="13"):
    host = "localhost" if args.host.startswith("/") else "%s:%d" % (args.host, args.port)
    return ("GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: %s\r\n\r\n" % (args.path, host, key, version)).encode()


def raw(args):
    """Run the scenario; a 503 (a connection limit not yet released) is
    retried until --timeout."""
    deadline = time.monotonic() + args.timeout
    while True:
        rc = raw_once(args, retry_503=time.monotonic() < deadline)
        if rc != 503:
            return rc
        time.sleep(0.05)


def raw_once(args, retry_503=False):
    key = base64.b64encode(os.urandom(16)).decode()
    version = "13"
    if args.scenario == "bad-key":
        key = "this-is-not-a-key"
    if args.scenario == "bad-version":
        version = "8"
    small = args.scenario.startswith("stall:") or args.scenario.startswith("flood:")
    sock = connect(args, rcvbuf=4096 if small else None)
    sock.sendall(handshake(args, key, version))
    status, rest = read_response(sock)
    if status == 503 and retry_503:
        sock.close()
        return 503
    if status != 101:
        print("status %d" % status)
        return 0
    if args.scenario in ("bad-key", "bad-version", "handshake"):
        print("status 101")
        return 0
    s = args.scenario
    try:
        if s == "unmasked":
            sock.sendall(frame(1, b'{"type":"subscribe","channel":"x"}', mask=False))
        elif s.startswith("unmasked-after:"):
            # One write: a masked publish, then an unmasked one.
            ch = s.split(":", 1)[1].encode()
            sock.sendall(frame(1, b'{"type":"publish","channel":"%s","data":"kept"}' % ch) +
                         frame(1, b'{"type":"publish","channel":"%s","data":"dropped"}' % ch, mask=False))
        elif s == "fragmented-ping":
            sock.sendall(frame(9, b"ab", fin=False))
            sock.sendall(frame(0, b"cd"))
        elif s.startswith("ping:"):
            sock.sendall(frame(9, b"p" * int(s.split(":")[1])))
        elif s == "len63":
            sock.sendall(struct.pack("!BBQ", 0x81, 0x80 | 127, 1 << 63) + os.urandom(4) + b"x" * 16)
        elif s.startswith("close:"):
            sock.sendall(frame(8, bytes.fromhex(s.split(":", 1)[1])))
        elif s == "bad-utf8":
            sock.sendall(frame(1, b'{"type":"publish","channel":"x","data":"\xff\xfe"}'))
        elif s.startswith("oversized:"):
            n = int(s.split(":")[1])
            sock.sendall(frame(1, b'"' + b"a" * (n - 2) + b'"'))
        elif s.startswith("quiet-after-close:"):
            print(quiet_after_close(args, sock, rest, s.split(":", 1)[1]))
            return 0
        elif s == "no-pong":
            print(read_all(sock, rest, count_pings=True))
            return 0
        elif s.startswith("flood:"):
            print(flood(args, sock, rest, int(s.split(":")[1]), s.split(":", 2)[2]))
            return 0
        elif s.startswith("stall:"):
            go = s.split(":", 1)[1]
            print("open", flush=True)
            deadline = time.monotonic() + args.timeout
            while not os.path.exists(go):
                if time.monotonic() > deadline:
                    print("timeout")
                    return 0
                time.sleep(0.02)
            print(read_all(sock, rest, messages=True))
            return 0
        elif s == "after-close":
            sock.sendall(frame(8, struct.pack("!H", 1000)) +
                         frame(1, b'{"type":"publish","channel":"afterclose","data":"x"}'))
        else:
            print("unknown scenario %s" % s, file=sys.stderr)
            return 2
    except OSError:
        print("eof")
        return 0
    try:
        print(read_close(sock, rest, show=args.frames))
    except (socket.timeout, OSError) as e:
        print("timeout" if isinstance(e, socket.timeout) else "eof")
    sock.close()
    return 0


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    l = sub.add_parser("listen")
    l.add_argument("url")
    l.add_argument("--send", action="append", default=[])
    l.add_argument("--send-binary", action="append", default=[])
    l.add_argument("--count", type=int, default=-1)
    l.add_argument("--ready")
    l.add_argument("--origin")
    l.add_argument("--protocol")
    l.add_argument("--header", action="append", default=[])
    l.add_argument("--timeout", type=float, default=10)
    r = sub.add_parser("raw")
    r.add_argument("host")
    r.add_argument("port", type=int)
    r.add_argument("path")
    r.add_argument("scenario")
    r.add_argument("--timeout", type=float, default=5)
    r.add_argument("--frames", action="store_true")
    args = p.parse_args()
    if args.cmd == "listen":
        return asyncio.run(listen(args))
    return raw(args)


if __name__ == "__main__":
    sys.exit(main())
