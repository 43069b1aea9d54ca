# SPDX-License-Identifier: MIT
# Shell helpers shared by bench/fanout.sh and bench/scaleout.sh (sourced).

# free_port: a TCP port on 127.0.0.1 that nothing listens on now.
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_port PORT: returns once something accepts on 127.0.0.1:PORT; 1 after
# 5 s without.
wait_port() {
	local i
	for i in $(seq 1 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.05
	done
	echo "$(basename "$0"): nothing answers on port $1" >&2
	return 1
}
