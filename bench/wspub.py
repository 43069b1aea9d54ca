#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""WebSocket publish throughput with acks: one or more fcpush-ws clients send
{"type":"publish"} commands with a window of W unacknowledged at a time and
count acks (each ack carries the committed seq). Bounded by --messages and
--timeout-s. Prints one line: clients, messages, acked, seconds, msgs_per_s.

    bench/wspub.py ws://127.0.0.1:8080/push/ws/channels/bench [--clients 4]
        [--messages 20000] [--window 256] [--timeout-s 60]

Uses Debian's python3-websockets (run with /usr/bin/python3).

The URL subscribes each client to the channel it publishes to, so it also
receives the messages published (its own and the others'), which it skips.
The clock stops at the last ack. Each client then keeps reading while it
closes: websockets queues at most max_queue (32) unread messages and stops
reading the socket behind them, so a client that stopped calling recv() with
more frames still on their way never sees the server's close frame; close()
then waits close_timeout (10 s) and fails the connection (1006). That was the
"1.6k/s mode": 20,000 acks in ~2 s + 10 s.
"""
import argparse
import asyncio
import json
import sys
import time

import websockets


async def drain(ws):
    try:
        while True:
            await ws.recv()
    except websockets.ConnectionClosed:
        pass


async def client(url, channel, count, window, deadline, done):
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
        done.append(time.monotonic())
        # Close while reading what the server still sends ahead of its close frame.
        await asyncio.gather(ws.close(), asyncio.wait_for(drain(ws), timeout=30))
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
    done = []
    acks = await asyncio.gather(*(client(a.url, channel, per, a.window, deadline, done) for _ in range(a.clients)))
    end = time.monotonic()
    took = max(done) - start if done else end - start
    total = sum(acks)
    print("clients=%d messages=%d acked=%d seconds=%.2f msgs_per_s=%.0f close_s=%.2f"
          % (a.clients, per * a.clients, total, took, total / took if took > 0 else 0, end - start - took))


asyncio.run(main())
