#!/usr/bin/env bash
# Produce ack latency of a fresh `weir serve` at fixed rates (file WAL,
# acks=all, linger 0, 1 KiB records, 8 partitions), one JSON line per run:
#
#   bench/latency.sh                          rates 84000 40000 20000, 8 s each
#   bench/latency.sh -r "40000" -n 3          three runs at 40k records/s
#   bench/latency.sh -w 10s                   warm up 10 s before measuring
#   bench/latency.sh -x /tmp/weir-old         use a prebuilt binary (A/B runs)
#   bench/latency.sh -s                       strace the broker's file calls
#                                             (syncs, writes, renames...) to
#                                             bench/.lat/strace.N; summarize
#                                             with bench/syncstats.py
#   bench/latency.sh -g                       GODEBUG=gctrace=1 for the
#                                             broker (bench/.lat/weir.N.log)
#
# Every run starts its own broker on a free port in a temporary data dir
# (under /tmp, the data disk), so runs do not share WAL segments or upload
# backlogs. With -w the broker first takes the same load for that long, on
# the same topic, so that the measured part sees a WAL that has rolled and
# recycled segments and a client with the topic's metadata, as on a broker
# that has been up for a while. strace (-s) slows the broker (Go's
# preemption signals stop it too): read its call times, not the client's
# latency, from such runs. The load average is printed with every line: on
# a shared 2-core machine it matters as much as the code.
set -euo pipefail
cd "$(dirname "$0")/.."
RATES="84000 40000 20000"
DUR=8s
RUNS=1
WARM=""
BIN=""
STRACE=0
PARTS=8
while getopts "r:d:n:w:x:p:sg" o; do
	case $o in
	r) RATES=$OPTARG ;;
	d) DUR=$OPTARG ;;
	n) RUNS=$OPTARG ;;
	w) WARM=$OPTARG ;;
	x) BIN=$OPTARG ;;
	p) PARTS=$OPTARG ;;
	s) STRACE=1 ;;
	g) export GODEBUG=gctrace=1 ;;
	*) sed -n '2,26p' "$0"; exit 2 ;;
	esac
done
OUT=bench/.lat
mkdir -p "$OUT"
if [ -z "$BIN" ]; then
	BIN=$OUT/weir
	go build -o "$BIN" ./cmd/weir
fi

PID=""
DIR=""
cleanup() {
	if [ -n "$PID" ]; then
		# Under strace, stop the broker itself: strace waits for it.
		[ "$STRACE" = 1 ] && kill $(pgrep -P "$PID") 2>/dev/null || true
		kill "$PID" 2>/dev/null || true
		wait "$PID" 2>/dev/null || true
	fi
	[ -n "$DIR" ] && rm -rf "$DIR"
	PID="" DIR=""
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
	for _ in $(seq 300); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

n=0
for ((run = 1; run <= RUNS; run++)); do
	for rate in $RATES; do
		n=$((n + 1))
		DIR=$(mktemp -d /tmp/weir-lat-XXXXXX)
		port=$(free_port)
		if [ "$STRACE" = 1 ]; then
			strace -f --seccomp-bpf -tt -T -y -qq -e trace=fsync,fdatasync,rename,renameat,sync_file_range,pwrite64,ftruncate,fallocate,unlink,unlinkat,openat -o "$OUT/strace.$n" \
				"$BIN" serve --listen "127.0.0.1:$port" --data-dir "$DIR" --log-level warn >"$OUT/weir.$n.log" 2>&1 &
		else
			"$BIN" serve --listen "127.0.0.1:$port" --data-dir "$DIR" --log-level warn >"$OUT/weir.$n.log" 2>&1 &
		fi
		PID=$!
		wait_port "$port" || { echo "weir did not start; see $OUT/weir.$n.log" >&2; exit 1; }
		common=(-b "127.0.0.1:$port" -m produce --create-topic -p "$PARTS" -s 1024 --rate "$rate" --linger 0 --json)
		if [ -n "$WARM" ]; then
			GODEBUG= "$BIN" bench "${common[@]}" -t latp -d "$WARM" >/dev/null
		fi
		start=$(date -u +%H:%M:%S.%N | cut -c1-12)
		res=$(GODEBUG= "$BIN" bench "${common[@]}" -t latp -d "$DUR")
		echo "$res" | jq -c --arg t "$start" --arg load "$(cut -d' ' -f1-3 /proc/loadavg)" --arg bin "$BIN" --argjson rate "$rate" --arg warm "${WARM:-0}" \
			'{t: $t, load: $load, bin: $bin, rate: $rate, warm: $warm, achieved: (.produce.records_per_sec | floor), lat_ms: .produce.latency_ms}'
		cleanup
	done
done
