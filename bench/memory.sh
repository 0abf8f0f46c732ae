#!/usr/bin/env bash
# Resident memory of a Weir broker under a full-speed produce-and-consume
# run, against the memory it is configured to hold (issue 6, item 4):
#
#   bench/memory.sh                      5 minutes (the issue's run)
#   bench/memory.sh --duration 30s       shorter, while developing
#   bench/memory.sh --bin /tmp/weir      a prebuilt binary instead of the tree
#   bench/memory.sh --set weir.log.cache.bytes=67108864   (repeatable) other
#                                        settings, passed to weir serve
#   GOMEMLIMIT=1GiB bench/memory.sh      the broker (not the client) with a
#                                        Go soft memory limit
#
# It starts a fresh `weir serve` (built from this tree) on 127.0.0.1 with a
# free port and a temporary data dir, runs `weir bench -m e2e` (one producer,
# one tail consumer, 1 KiB records, 8 partitions, as fast as they go) for the
# duration, and samples the broker's VmRSS and VmHWM (/proc/PID/status)
# every second. The broker runs with GODEBUG=gctrace=1, whose lines give the
# Go heap at each GC (weir serve has no metrics or pprof endpoint). Output,
# in bench/.mem/: samples.csv (t_s, rss_kib, hwm_kib), gctrace.log,
# bench.json, and summary.txt (also printed):
#
#   configured: the memory settings the broker was started with. The
#   "caches" sum is weir.log.cache.bytes + weir.block.cache.bytes +
#   weir.pending.max.bytes: the log cache holds uploaded batches for tail
#   reads, the block cache blocks read back from objects, and pending bytes
#   (written to the WAL, not yet uploaded) stay in memory until uploaded.
#   weir.wal.max.queued.bytes is not added: the WAL queue holds the same
#   byte slices as the pending batches.
#   peak RSS (VmHWM), steady RSS (median of the samples in the second half
#   of the run), the Go heap from gctrace (largest heap at a GC start, and
#   largest live heap after a GC), and overhead = peak RSS - caches.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=5m
BIN=""
SETS=()
while [ $# -gt 0 ]; do
	case "$1" in
	--duration) DURATION=$2; shift ;;
	--bin) BIN=$2; shift ;;
	--set) SETS+=(--set "$2"); shift ;;
	-h|--help) sed -n '2,31p' "$0"; exit 0 ;;
	*) echo "memory.sh: unknown argument $1" >&2; exit 2 ;;
	esac
	shift
done
OUT=bench/.mem
rm -rf "$OUT"
mkdir -p "$OUT"
if [ -z "$BIN" ]; then
	BIN=$OUT/weir
	go build -o "$BIN" ./cmd/weir
fi

# The defaults of the settings that bound memory (internal/config,
# broker_defs.go), unless --set overrides them.
declare -A CFG=(
	[weir.log.cache.bytes]=268435456
	[weir.block.cache.bytes]=268435456
	[weir.pending.max.bytes]=268435456
	[weir.wal.max.queued.bytes]=67108864
)
for ((i = 1; i < ${#SETS[@]}; i += 2)); do
	kv=${SETS[$i]}
	[ -n "${CFG[${kv%%=*}]+x}" ] && CFG[${kv%%=*}]=${kv#*=}
done
CACHES=$((CFG[weir.log.cache.bytes] + CFG[weir.block.cache.bytes] + CFG[weir.pending.max.bytes]))

DIR=$(mktemp -d /tmp/weir-mem-XXXXXX)
PID=""
SAMPLER=""
cleanup() {
	[ -n "$SAMPLER" ] && kill "$SAMPLER" 2>/dev/null || true
	if [ -n "$PID" ]; then
		kill "$PID" 2>/dev/null || true
		wait "$PID" 2>/dev/null || true
	fi
	rm -rf "$DIR"
}
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# A full-speed run writes 150-400 MiB/s (45-120 GiB in 5 minutes) to
# objects. The short retention bounds the data dir to 20-25 s of data (up
# to 10 GB); before a garbage-collection race was fixed (440d958) objects
# grew to 52 GB in 4 minutes, and the sampler below still stops the run
# when the disk has less than 5 GiB free.
GODEBUG=gctrace=1 "$BIN" serve --listen "127.0.0.1:$PORT" --data-dir "$DIR" --log-level warn \
	--set log.retention.ms=20000 --set log.retention.check.interval.ms=5000 "${SETS[@]}" 2>"$OUT/gctrace.log" &
PID=$!
for _ in $(seq 300); do
	(exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
	sleep 0.1
done

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
START=$(date +%s.%N)
(
	echo "t_s,rss_kib,hwm_kib"
	while kill -0 "$PID" 2>/dev/null; do
		if [ "$(df -Pk "$DIR" | awk 'NR==2{print $4}')" -lt 5242880 ]; then
			echo "memory.sh: less than 5 GiB free on the data disk: stopping the broker" >&2
			kill "$PID"
			break
		fi
		awk -v t="$(echo "$(date +%s.%N) - $START" | bc)" '/^VmRSS/{r=$2} /^VmHWM/{h=$2} END{printf "%.1f,%d,%d\n", t, r, h}' "/proc/$PID/status" 2>/dev/null || true
		sleep 1
	done
) >"$OUT/samples.csv" &
SAMPLER=$!

GOMEMLIMIT=off "$BIN" bench -b "127.0.0.1:$PORT" -t mem -m e2e --create-topic -p 8 -s 1024 -d "$DURATION" --json >"$OUT/bench.json"
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
sleep 1
HWM=$(awk '/^VmHWM/{print $2}' "/proc/$PID/status")
RSS_END=$(awk '/^VmRSS/{print $2}' "/proc/$PID/status")
kill "$SAMPLER" 2>/dev/null || true
SAMPLER=""

mib() { awk -v b="$1" 'BEGIN{printf "%.0f MiB", b/1048576}'; }
kib() { awk -v k="$1" 'BEGIN{printf "%.0f MiB", k/1024}'; }
STEADY=$(awk -F, 'NR>1{t[NR]=$1; r[NR]=$2; n=NR} END{for(i=2;i<=n;i++) if(t[i]>=t[n]/2) print r[i]}' "$OUT/samples.csv" |
	sort -n | awk '{v[NR]=$1} END{print v[int((NR+1)/2)]}')
# gctrace: "gc N @Ts P%: ... ms clock, ... ms cpu, A->B->C MB, G MB goal, ..."
HEAP=$(grep -oE '[0-9]+->[0-9]+->[0-9]+ MB, [0-9]+ MB goal' "$OUT/gctrace.log" | awk -F'[-> ,]+' '{if($1>a)a=$1; if($3>l)l=$3; if($5>g)g=$5; n++} END{printf "%d %d %d %d", a, l, g, n}')
read -r HEAP_START HEAP_LIVE HEAP_GOAL NGC <<<"$HEAP"
{
	echo "bench/memory.sh, $(date -u '+%Y-%m-%d %H:%M UTC'), duration $DURATION, $(nproc) CPUs, load before $LOAD_BEFORE, after $LOAD_AFTER"
	echo "binary: $BIN, GOMEMLIMIT=${GOMEMLIMIT:-unset} for the broker"
	echo "configured: weir.log.cache.bytes $(mib "${CFG[weir.log.cache.bytes]}"), weir.block.cache.bytes $(mib "${CFG[weir.block.cache.bytes]}"), weir.pending.max.bytes $(mib "${CFG[weir.pending.max.bytes]}") (caches: $(mib $CACHES)); weir.wal.max.queued.bytes $(mib "${CFG[weir.wal.max.queued.bytes]}") (same bytes as pending)"
	jq -r '"load: produce \(.produce.mib_per_sec | floor) MiB/s (\(.produce.records) records), tail consume \(.consume.mib_per_sec | floor) MiB/s, e2e p99 \(.consume.latency_ms.p99) ms"' "$OUT/bench.json"
	echo "RSS: peak (VmHWM) $(kib "$HWM"), steady (median, 2nd half) $(kib "$STEADY"), at end $(kib "$RSS_END")"
	echo "Go heap (gctrace, $NGC GCs): largest at GC start ${HEAP_START} MB, largest live after GC ${HEAP_LIVE} MB, largest goal ${HEAP_GOAL} MB"
	echo "overhead = peak RSS - caches = $(awk -v h="$HWM" -v c="$CACHES" 'BEGIN{printf "%.0f MiB", h/1024 - c/1048576}')"
} | tee "$OUT/summary.txt"
