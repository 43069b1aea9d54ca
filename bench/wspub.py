#!/usr/bin/python3
"""WebSocket publish throughput with acks: one or more fcpush-ws clients send
{"type":"publish"} commands with a window of W unacknowledged at a time and
count acks (each ack carries the committed seq). Bounded by --messages and
--timeout-s. Prints one line: clients, messages, acked, seconds, msgs_per_s.

    bench/wspub.py ws://127.0.0.1:8080/push/ws/channels/bench [--clients 4]
        [--messages 20000] [--window 256] [--timeout-s 60]

Uses Debian's python3-websockets (run with /usr/bin/python3).
"""
import argparse
import asyncio
import json
import sys
import time

import websockets


async def client(url, channel, count, window, deadline):
    acked = 0
    async with websockets.connect(url, subprotocols=["fcpush.v1"], max_size=None) as ws:
        sent = 0
        inflight = 0
        while acked < count and time.monotonic() < deadline:
            while sent < count and inflight < window:
                await ws.send(json.dumps({"type": "publish", "channel": channel,
                                          "data": "bench %d" % sent, "id": str(sent)}))
                sent += 1
                inflight += 1
            try:
                frame = await asyncio.wait_for(ws.recv(), timeout=max(0.1, deadline - time.monotonic()))
            except asyncio.TimeoutError:
                break
            msg = json.loads(frame)
            if msg.get("type") == "ack" and msg.get("seq"):
                acked += 1
                inflight -= 1
            elif msg.get("type") == "error":
                print("error frame: %s" % frame, file=sys.stderr)
                inflight -= 1
    return acked


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--messages", type=int, default=20000)
    ap.add_argument("--window", type=int, default=256)
    ap.add_argument("--timeout-s", type=float, default=60)
    a = ap.parse_args()
    per = a.messages // a.clients
    channel = a.url.rstrip("/").rsplit("/", 1)[-1].split("?")[0]
    start = time.monotonic()
    deadline = start + a.timeout_s
    acks = await asyncio.gather(*(client(a.url, channel, per, a.window, deadline) for _ in range(a.clients)))
    took = time.monotonic() - start
    total = sum(acks)
    print("clients=%d messages=%d acked=%d seconds=%.2f msgs_per_s=%.0f"
          % (a.clients, per * a.clients, total, took, total / took if took > 0 else 0))


asyncio.run(main())
