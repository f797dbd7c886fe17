# test/bench/lib.sh: what test/bench/run and test/bench/ab share. Source it
# after setting BENCH_LOG (the prefix of log lines); it makes a work
# directory ($work), kills the processes listed in $pids and removes $work
# on exit, and defines the helpers below.
# shellcheck shell=bash

if [[ -z ${VERSITYGW:-} ]]; then
	VERSITYGW=$(command -v versitygw || echo "$HOME/go/bin/versitygw")
fi
# Credentials of every server the benchmarks start.
AK=bench SK=bench-secret-key

work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT

log() { echo "${BENCH_LOG:-bench}: $*" >&2; }

# freeport prints a free TCP port on 127.0.0.1.
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# waitport PORT NAME [LOGFILE]: waits up to 2 minutes for PORT to accept
# connections; on failure prints NAME's log ($work/NAME.log by default).
waitport() {
	for _ in $(seq 1200); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done
	log "$2: port $1 never opened"; cat "${3:-$work/$2.log}" >&2 || true; return 1
}

# cpu PID prints the CPU time (user + system, seconds) process PID has used.
ticks=$(getconf CLK_TCK)
cpu() { awk -v t="$ticks" '{print ($14+$15)/t}' "/proc/$1/stat"; }
