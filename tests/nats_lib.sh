# SPDX-License-Identifier: MIT
# A local NATS JetStream cluster on loopback ports for the NATS store backend
# (fcgi/store_nats.c): sourced by tests/lib.sh (FCPUSH_TEST_STORE=nats) and
# by ./quickstart (start --store nats). Bash; needs nats-server (Debian
# nats-server) and curl.
#
#   nats_cluster_start DIR N   start N nodes (1: a lone server), state in DIR
#                              (DIR/nK/ per node: config, log, JetStream
#                              files, pid); sets NATS_URLS
#                              ("127.0.0.1:P1,127.0.0.1:P2,..."), NATS_PORTS
#                              and NATS_PIDS (arrays). Returns 1 when a node
#                              does not come up healthy within 20 s.
#   nats_node_stop DIR K [SIG] stop node K (1-based) with SIG (TERM), wait
#   nats_node_start DIR K      start node K again from its config
#   nats_cluster_stop DIR      stop every node of DIR (pid files), wait
#   nats_stream_leader DIR S   the node number (K) leading stream S, asked
#                              of the first node that answers (needs jq)
#
# Ports: NATS_BASE_PORT (default: a free one between 20000 and 32000) and the
# next 3N-1 ports: client, cluster and monitoring port of each node.

NATS_SERVER=${NATS_SERVER:-$(command -v nats-server 2>/dev/null || echo /usr/sbin/nats-server)}

# nats_port_free PORT: 0 when nothing listens on 127.0.0.1:PORT.
nats_port_free() {
	! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# nats_base_port N: a port P with P..P+3N-1 all free.
nats_base_port() {
	local n=$1 p i try ok
	for try in $(seq 1 50); do
		p=${NATS_BASE_PORT:-$((20000 + RANDOM % 12000))}
		ok=1
		for i in $(seq 0 $((3 * n - 1))); do
			nats_port_free $((p + i)) || { ok=0; break; }
		done
		[ "$ok" = 1 ] && { echo "$p"; return 0; }
		[ -n "${NATS_BASE_PORT:-}" ] && return 1
	done
	return 1
}

# nats_node_healthy MONITOR_PORT: JetStream on that node is up and current.
nats_node_healthy() {
	curl -s --max-time 2 "http://127.0.0.1:$1/healthz" 2>/dev/null | grep -q '"ok"'
}

nats_node_start() {
	local dir=$1 k=$2 node="$1/n$2"
	(
		"$NATS_SERVER" -c "$node/nats.conf" </dev/null >>"$node/log" 2>&1 &
		echo $! >"$node/pid"
	)
}

# pid_running PID: the process runs (a zombie waiting for PID 1 to reap it,
# which takes seconds in some containers, does not). Also used by
# tests/quickstart/run.sh for the processes ./quickstart starts.
pid_running() {
	local st
	st=$(awk '/^State:/ { print $2 }' "/proc/$1/status" 2>/dev/null) && [ -n "$st" ] && [ "$st" != Z ]
}

nats_node_stop() {
	local dir=$1 k=$2 sig=${3:-TERM} pid i
	pid=$(cat "$dir/n$k/pid" 2>/dev/null) || return 0
	kill "-$sig" "$pid" 2>/dev/null || true
	for i in $(seq 1 100); do
		pid_running "$pid" || break
		sleep 0.1
	done
	pid_running "$pid" && kill -KILL "$pid" 2>/dev/null
	rm -f "$dir/n$k/pid"
}

nats_cluster_start() {
	local dir=$1 n=$2 base k j routes deadline all_ok
	[ -x "$NATS_SERVER" ] || { echo "nats-server not found (apt-get install nats-server)" >&2; return 1; }
	base=$(nats_base_port "$n") || { echo "no free ports for $n NATS nodes" >&2; return 1; }
	NATS_PORTS=()
	NATS_PIDS=()
	NATS_URLS=
	for k in $(seq 1 "$n"); do
		NATS_PORTS+=($((base + 3 * (k - 1))))
	done
	for k in $(seq 1 "$n"); do
		mkdir -p "$dir/n$k/js"
		routes=
		for j in $(seq 1 "$n"); do
			[ "$j" = "$k" ] || routes="${routes:+$routes, }\"nats-route://127.0.0.1:$((base + 3 * (j - 1) + 1))\""
		done
		{
			echo "server_name: n$k"
			echo "listen: 127.0.0.1:$((base + 3 * (k - 1)))"
			echo "http: 127.0.0.1:$((base + 3 * (k - 1) + 2))"
			echo "max_payload: 8MB"
			echo "jetstream { store_dir: \"$dir/n$k/js\" }"
			if [ "$n" -gt 1 ]; then
				echo "cluster { name: fcpush, listen: 127.0.0.1:$((base + 3 * (k - 1) + 1)), routes: [$routes] }"
			fi
		} >"$dir/n$k/nats.conf"
		nats_node_start "$dir" "$k"
		NATS_URLS="${NATS_URLS:+$NATS_URLS,}127.0.0.1:$((base + 3 * (k - 1)))"
	done
	deadline=$((SECONDS + 20))
	while [ "$SECONDS" -lt "$deadline" ]; do
		all_ok=1
		for k in $(seq 1 "$n"); do
			pid_running "$(cat "$dir/n$k/pid" 2>/dev/null)" || { all_ok=2; break; }
			nats_node_healthy $((base + 3 * (k - 1) + 2)) || { all_ok=0; break; }
		done
		[ "$all_ok" = 0 ] || break
		sleep 0.2
	done
	for k in $(seq 1 "$n"); do
		NATS_PIDS+=("$(cat "$dir/n$k/pid" 2>/dev/null)")
	done
	if [ "$all_ok" != 1 ]; then
		echo "NATS cluster in $dir did not become healthy in 20 s; logs:" >&2
		tail -n 20 "$dir"/n*/log >&2
		return 1
	fi
	export NATS_URLS
}

nats_cluster_stop() {
	local dir=$1 k
	for k in $(cd "$dir" 2>/dev/null && ls -d n* 2>/dev/null | sed 's/^n//'); do
		nats_node_stop "$dir" "$k"
	done
}

nats_stream_leader() {
	local dir=$1 stream=$2 conf mon leader
	for conf in "$dir"/n*/nats.conf; do
		mon=$(sed -n 's/^http: 127.0.0.1:\([0-9]*\)$/\1/p' "$conf")
		leader=$(curl -s --max-time 2 "http://127.0.0.1:$mon/jsz?accounts=true&streams=true" 2>/dev/null |
			jq -r --arg s "$stream" '[.account_details[]?.stream_detail[]? | select(.name == $s) | .cluster.leader][0] // empty' 2>/dev/null)
		[ -n "$leader" ] && { echo "${leader#n}"; return 0; }
	done
	return 1
}
