#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Scaling out on NATS JetStream, in one run on this machine: the same SSE
# fan-out and publish measurements for three set-ups side by side,
#
#   sqlite  one web node (lighttpd + fcpush.fcgi) on a SQLite file
#   nats-1  one web node on a local 3-node JetStream cluster (stream R=3)
#   nats-2  two web nodes (two lighttpd + fcpush.fcgi pairs on two ports)
#           on that same cluster
#
# SSE fan-out (bench/fanout.c): N subscribers on one channel (with two
# nodes, every other one on node B), M messages 250 ms apart published on
# node A; publish -> receive p50/p99/max and lost messages. Publish: wrk
# POSTs (bench/post.lua) at C connections for BENCH_SECONDS (with two
# nodes, C/2 on each node at the same time; req/s summed) and the rows
# stored are counted. Every cell starts on a fresh SQLite file or a fresh
# stream; the order of the set-ups rotates between runs.
#
#   bench/scaleout.sh [--quick] [--runs R] [--sizes "1000 5000"] [--conns C]
#
# Everything runs on this machine's cores: three nats-servers, one or two
# lighttpd and workers, and the load generators. What two web nodes show
# here is the cost of splitting the same work, not what a second machine
# would add. Loopback only, bounded in count and time, and it stops every
# process it started. Writes bench/results/scaleout-<time>/ and the table
# between the scaleout markers in docs/BENCHMARKS.md.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
RUNS=3
SIZES="1000 5000"
MSGS=20
CONNS=16
SECONDS_WRK=${BENCH_SECONDS:-5}
while [ $# -gt 0 ]; do
	case $1 in
	--quick) RUNS=1; SIZES=1000; MSGS=10 ;;
	--runs) RUNS=$2; shift ;;
	--sizes) SIZES=$2; shift ;;
	--conns) CONNS=$2; shift ;;
	*) echo "usage: $0 [--quick] [--runs R] [--sizes LIST] [--conns C]" >&2; exit 2 ;;
	esac
	shift
done
for prog in lighttpd wrk curl jq; do
	command -v "$prog" >/dev/null || { echo "scaleout.sh: $prog is missing" >&2; exit 1; }
done
. "$SRC/tests/nats_lib.sh"
[ -x "$NATS_SERVER" ] || { echo "scaleout.sh: nats-server is missing (apt-get install nats-server)" >&2; exit 1; }
FDS=$(ulimit -Hn)
[ "$FDS" = unlimited ] && FDS=65536
ulimit -n "$FDS"

T=$(mktemp -d /tmp/fcpush-scaleout.XXXXXX)
OUT=$SRC/bench/results/scaleout-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$OUT"
NODE_PIDS=()
cleanup() {
	stop_nodes
	[ -d "$T/nats" ] && nats_cluster_stop "$T/nats"
	rm -rf "$T"
}
trap cleanup EXIT

(cd "$SRC" && { [ -x configure ] || autoreconf -fi >/dev/null; })
mkdir -p "$SRC/build"
(cd "$SRC/build" && { [ -f Makefile ] || ../configure >/dev/null; } && make -j2 fcpush.fcgi fcpush >/dev/null)
"$SRC/build/fcpush" --version | grep -q nats || { echo "scaleout.sh: this build has no NATS backend" >&2; exit 1; }
gcc -O2 -Wall -D_GNU_SOURCE -o "$T/fanout" "$SRC/bench/fanout.c"

. "$SRC/bench/lib.sh" # free_port, wait_port

nats_cluster_start "$T/nats" 3 || { echo "scaleout.sh: the NATS cluster did not start" >&2; exit 1; }
PORTS=("$(free_port)" "$(free_port)")

# start_nodes K LOCATION: K web nodes (1 or 2), each lighttpd + fcpush.fcgi
# in $T/nK, on ports ${PORTS[0..K-1]}, all on store LOCATION.
start_nodes() {
	local k=$1 loc=$2 i d
	NODE_PIDS=()
	for i in $(seq 0 $((k - 1))); do
		d=$T/n$i
		rm -rf "$d" && mkdir -p "$d"
		FCPUSH_DATABASE=$loc FCPUSH_LISTEN=$d/fc.sock FCPUSH_LISTEN_MODE=0666 FCPUSH_LOG_LEVEL=warn \
			FCPUSH_MAX_PARKED=30000 FCPUSH_LISTEN_BACKLOG=4096 "$SRC/build/fcpush.fcgi" 2>>"$OUT/worker.err" &
		NODE_PIDS+=($!)
		for _ in $(seq 1 200); do [ -S "$d/fc.sock" ] && break; sleep 0.05; done
		sed -e "s|@PORT@|${PORTS[$i]}|; s|@STATE@|$d|; s|@SOCKET@|$d/fc.sock|; s|@WWW@|$SRC/www|; s|@WSSOCKET@|$d/ws.sock|" \
			-e "s|^server.max-fds.*|server.max-fds = $FDS\nserver.max-worker = 2|" \
			-e "s|^server.max-connections.*|server.max-connections = $((FDS / 2 - 200))|" \
			"$SRC/conf/lighttpd.conf.in" >"$d/lighttpd.conf"
		lighttpd -f "$d/lighttpd.conf"
		wait_port "${PORTS[$i]}"
	done
}
stop_nodes() {
	local d p
	for d in "$T"/n[01]; do
		[ -f "$d/lighttpd.pid" ] && kill "$(cat "$d/lighttpd.pid")" 2>/dev/null && rm -f "$d/lighttpd.pid"
	done
	for p in "${NODE_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${NODE_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	NODE_PIDS=()
}

CELL=0
# location SETUP: LOC is a fresh SQLite file or a fresh stream (not called
# in a subshell: CELL counts).
location() {
	CELL=$((CELL + 1))
	case $1 in
	sqlite) LOC=$T/c$CELL.db ;;
	*) LOC="nats://$NATS_URLS/S$CELL?replicas=3" ;;
	esac
}

# fanout_cell SETUP N RUN: one SSE fan-out; a line in data.tsv.
fanout_cell() {
	local setup=$1 n=$2 run=$3 k=1 extra=() line
	[ "$setup" = nats-2 ] && k=2 && extra=(--sub-port2 "${PORTS[1]}")
	location "$setup"
	start_nodes "$k" "$LOC"
	line=$(timeout 200 "$T/fanout" --port "${PORTS[0]}" "${extra[@]}" --sub-path "/push/channels/f$n" \
		--pub-path "/push/channels/f$n" --subs "$n" --msgs "$MSGS" --interval-ms 250 --timeout-s 150 \
		2>>"$OUT/fanout.err") || line="failed=1"
	printf 'fanout\t%s\t%s\t%s\t%s\n' "$setup" "$n" "$run" "$line" | tee -a "$OUT/data.tsv"
	stop_nodes
}

# publish_cell SETUP RUN: wrk POSTs at $CONNS connections (split over two
# nodes for nats-2); a line in data.tsv with req/s summed over the nodes,
# non-2xx answers and the rows the store holds afterwards.
publish_cell() {
	local setup=$1 run=$2 k=1 i rps=0 non2xx=0 reqs=0 line rows wrks=()
	[ "$setup" = nats-2 ] && k=2
	location "$setup"
	start_nodes "$k" "$LOC"
	for i in $(seq 0 $((k - 1))); do
		timeout $((SECONDS_WRK + 30)) wrk -t 2 -c $((CONNS / k)) -d "${SECONDS_WRK}s" -s "$SRC/bench/post.lua" \
			"http://127.0.0.1:${PORTS[$i]}/push/channels/p$run" >"$T/wrk$i.out" 2>&1 &
		wrks+=($!)
	done
	wait "${wrks[@]}" || true
	for i in $(seq 0 $((k - 1))); do
		line=$(grep '^WRK ' "$T/wrk$i.out") || { echo "scaleout.sh: wrk on node $i printed no result" >&2; cat "$T/wrk$i.out" >&2; line="WRK requests=0 non2xx=0 rps=0"; }
		rps=$(awk -v a="$rps" -v b="$(sed 's/.*rps=\([0-9.]*\).*/\1/' <<<"$line")" 'BEGIN { printf "%.1f", a + b }')
		non2xx=$((non2xx + $(sed 's/.*non2xx=\([0-9]*\).*/\1/' <<<"$line")))
		reqs=$((reqs + $(sed 's/.*requests=\([0-9]*\).*/\1/' <<<"$line")))
	done
	rows=$(curl -s --max-time 120 "http://127.0.0.1:${PORTS[0]}/push/channels/p$run/info" | jq -r '.messages // empty')
	printf 'publish\t%s\t%s\t%s\trps=%s requests=%s non2xx=%s rows=%s\n' "$setup" "$CONNS" "$run" "$rps" "$reqs" "$non2xx" "${rows:-?}" |
		tee -a "$OUT/data.tsv"
	stop_nodes
}

{
	echo "date: $(date -u)"
	echo "cpus: $(nproc) x $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)"
	echo "memory: $(awk '/MemTotal/ { print $2 " kB" }' /proc/meminfo)"
	echo "kernel: $(uname -r)"
	echo "lighttpd: $(lighttpd -v 2>&1 | head -1)"
	echo "nats-server: $("$NATS_SERVER" --version 2>&1 | head -1)"
	echo "fcpush: $("$SRC/build/fcpush" --version) at $(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo '?')"
	echo "load before: $(uptime | sed 's/.*load average: //')"
} >"$OUT/machine.txt"

SETUPS=(sqlite nats-1 nats-2)
for run in $(seq 1 "$RUNS"); do
	# Rotate the order, so a drift in the machine's load favours none.
	order=("${SETUPS[@]:$(((run - 1) % 3))}" "${SETUPS[@]:0:$(((run - 1) % 3))}")
	for setup in "${order[@]}"; do
		for n in $SIZES; do fanout_cell "$setup" "$n" "$run"; done
		publish_cell "$setup" "$run"
	done
done

python3 - "$OUT" "$SRC/docs/BENCHMARKS.md" "$RUNS" "$MSGS" "$CONNS" "$SECONDS_WRK" <<'PY'
import re, statistics, sys
out, doc, runs, msgs, conns, secs = sys.argv[1:7]
fan, pub = {}, {}
for line in open(out + "/data.tsv"):
    f = line.rstrip("\n").split("\t")
    kv = dict(x.split("=", 1) for x in f[4].split() if "=" in x)
    (fan if f[0] == "fanout" else pub).setdefault((f[1], int(f[2])), []).append(kv)
med = lambda r, k: statistics.median(float(x.get(k, "nan")) for x in r)
labels = {"sqlite": "SQLite file, 1 web node", "nats-1": "JetStream R=3, 1 web node",
          "nats-2": "JetStream R=3, 2 web nodes"}
machine = open(out + "/machine.txt").read().strip().replace("\n", "; ")
t = ["<!-- scaleout:begin -->",
     f"SSE fan-out ({msgs} messages 250 ms apart on one channel, published on node A; with 2 nodes every other subscriber is on node B) and publish ({conns} wrk connections for {secs} s, split over the nodes), medians of {runs} run(s), every cell on a fresh SQLite file or stream, order rotated between runs. Machine: {machine}.",
     "",
     "| set-up | subscribers | p50 ms | p99 ms | max ms | lost | ratio p50 / p99 to SQLite |",
     "|---|---|---|---|---|---|---|"]
for n in sorted({n for _, n in fan}):
    base = fan.get(("sqlite", n))
    for s in ("sqlite", "nats-1", "nats-2"):
        r = fan.get((s, n))
        if not r:
            continue
        ok = [x for x in r if "p50_ms" in x]
        if not ok:
            t.append(f"| {labels[s]} | {n} | failed | | | | |")
            continue
        ratio = f"{med(ok,'p50_ms')/max(med(base,'p50_ms'),1e-9):.2f} / {med(ok,'p99_ms')/max(med(base,'p99_ms'),1e-9):.2f}" if base and s != "sqlite" else ""
        lost = int(max(float(x.get("lost", 0)) for x in ok))
        t.append(f"| {labels[s]} | {n} | {med(ok,'p50_ms'):.1f} | {med(ok,'p99_ms'):.1f} | {med(ok,'max_ms'):.1f} | {lost} | {ratio} |")
t += ["", "| set-up | publish req/s (all nodes) | non-2xx | every 201 stored | ratio to SQLite |", "|---|---|---|---|---|"]
base = pub.get(("sqlite", int(conns)))
for s in ("sqlite", "nats-1", "nats-2"):
    r = pub.get((s, int(conns)))
    if not r:
        continue
    # wrk counts the answers it read: a request in flight when it stops may
    # be stored without being counted, never the other way round.
    rows_ok = all(x.get("rows") not in (None, "?") and int(x["rows"]) >= int(x["requests"]) - int(x["non2xx"]) for x in r)
    ratio = f"{med(r,'rps')/max(med(base,'rps'),1e-9):.2f}" if base and s != "sqlite" else ""
    t.append(f"| {labels[s]} | {med(r,'rps'):.0f} | {int(max(float(x['non2xx']) for x in r))} | {'yes' if rows_ok else 'no'} | {ratio} |")
t.append("<!-- scaleout:end -->")
table = "\n".join(t)
open(out + "/summary.md", "w").write(table + "\n")
text = open(doc).read()
if "<!-- scaleout:begin -->" in text:
    text = re.sub("<!-- scaleout:begin -->.*<!-- scaleout:end -->", lambda m: table, text, flags=re.S)
else:
    text += "\n## Scaling out on NATS JetStream: 1 and 2 web nodes beside SQLite (bench/scaleout.sh)\n\n" + table + "\n"
open(doc, "w").write(text)
print(table)
PY
