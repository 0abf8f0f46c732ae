#!/usr/bin/env bash
# Runs one scenario of tests/compat/scenarios.json with kcat (Debian's,
# librdkafka): scenarios.sh SCENARIO, configured by the environment
# (BOOTSTRAP, TOPIC, GROUP, CLIENT, TS_BASE, CODEC, WRITER, FIXED_TS).
# Exit 0: passed; 77: skipped (reason on stdout); 1: failed (reason on
# stderr). kcat cannot set record timestamps, and gives the same headers to
# every record of one run, so it produces records with per-record headers one
# run each.
set -euo pipefail

scenario=$1
B=$BOOTSTRAP
T=${TOPIC:-}

fail() {
	echo "kcat $scenario: $*" >&2
	exit 1
}

# produce CODEC KEY VALUE [HEADER...]: one record to partition 0.
produce() {
	local codec=$1 key=$2 value=$3
	shift 3
	local hs=()
	for h in "$@"; do hs+=(-H "$h"); done
	printf '%s|%s' "$key" "$value" |
		kcat -b "$B" -P -t "$T" -p 0 -K '|' "${hs[@]}" -X compression.codec="$codec" -X acks=all ||
		fail "produce $key"
}

# consume OFFSET COUNT: COUNT records of partition 0 from OFFSET (kcat -o),
# one line each: offset|key|value|timestamp|headers.
consume() {
	timeout 60 kcat -b "$B" -C -t "$T" -p 0 -o "$1" -c "$2" -q -f '%o|%k|%s|%T|%h\n' -X fetch.wait.max.ms=100 ||
		fail "consume from $1"
}

# group COUNT: COUNT records read by a member of GROUP (records: as consume)
# whose offsets kcat commits (auto-commit of the offsets it handed out) when
# it leaves.
group() {
	timeout 60 kcat -b "$B" -G "$GROUP" "$T" -c "$1" -q -f '%o|%k|%s|%T|%h\n' \
		-X auto.offset.reset=earliest -X fetch.wait.max.ms=100 || fail "group consume"
}

field() { # field N LINE
	cut -d'|' -f"$1" <<<"$2"
}

case $scenario in
metadata)
	produce none k v
	md=$(kcat -b "$B" -L -t "$T") || fail "metadata"
	grep -q "broker [0-9]* at $B" <<<"$md" || fail "brokers do not include $B: $md"
	grep -q "topic \"$T\" with 1 partitions" <<<"$md" || fail "topic $T not with 1 partition: $md"
	leader=$(sed -n 's/.*partition 0, leader \([0-9]*\),.*/\1/p' <<<"$md")
	grep -q "broker $leader at" <<<"$md" || fail "leader $leader not a listed broker: $md"
	;;
produce-*)
	codec=${scenario#produce-}
	x=$(printf 'x%.0s' $(seq 100))
	want=""
	for i in $(seq 0 9); do
		produce "$codec" "key-$i" "value-$i $x" "h1=v1-$i" "h2=v2-$i"
		want+="$i|key-$i|value-$i $x|h1=v1-$i,h2=v2-$i"$'\n'
	done
	got=$(consume beginning 10 | awk -F'|' '{print $1 "|" $2 "|" $3 "|" $5}')
	[[ "$got" == "${want%$'\n'}" ]] || fail "read back:"$'\n'"$got"$'\n'"want:"$'\n'"$want"
	;;
consume-offsets)
	for i in $(seq 0 4); do
		produce none "key-$i" "r$i"
		sleep 0.01
	done
	mapfile -t recs < <(consume beginning 5)
	((${#recs[@]} == 5)) || fail "from beginning: ${recs[*]}"
	for i in $(seq 0 4); do
		[[ $(field 1 "${recs[$i]}") == "$i" && $(field 3 "${recs[$i]}") == "r$i" ]] || fail "from beginning: record $i: ${recs[$i]}"
		((i == 0 || $(field 4 "${recs[$i]}") > $(field 4 "${recs[$((i - 1))]}"))) || fail "timestamps not increasing: ${recs[*]}"
	done
	ts2=$(field 4 "${recs[2]}")
	first=$(consume "s@$ts2" 1)
	[[ $(field 1 "$first") == 2 && $(field 3 "$first") == r2 ]] || fail "from timestamp $ts2: $first"
	out=$(mktemp)
	consume end 1 >"$out" &
	reader=$!
	sleep 2
	[[ ! -s $out ]] || fail "read $(cat "$out") before anything was produced"
	produce none key-5 r5
	wait "$reader" || fail "from end: consumer failed"
	first=$(cat "$out")
	rm -f "$out"
	[[ $(field 1 "$first") == 5 && $(field 3 "$first") == r5 ]] || fail "from end: $first"
	;;
group-commit-resume)
	for i in $(seq 0 5); do produce none "key-$i" "g$i"; done
	first=$(group 3 | cut -d'|' -f1,3 | tr '\n' ' ')
	second=$(group 3 | cut -d'|' -f1,3 | tr '\n' ' ')
	[[ "$first" == "0|g0 1|g1 2|g2 " && "$second" == "3|g3 4|g4 5|g5 " ]] ||
		fail "first consumer read: $first; second: $second"
	;;
interop-write)
	for i in $(seq 0 4); do
		produce "$CODEC" "key-$i" "$CLIENT value $i" "origin=$CLIENT" "index=$i"
	done
	;;
interop-read)
	mapfile -t recs < <(consume beginning 5)
	((${#recs[@]} == 5)) || fail "got ${#recs[@]} records: ${recs[*]}"
	for i in $(seq 0 4); do
		r=${recs[$i]}
		want="$i|key-$i|$WRITER value $i"
		[[ $(cut -d'|' -f1-3 <<<"$r") == "$want" && $(field 5 "$r") == "origin=$WRITER,index=$i" ]] ||
			fail "record $i: $r, want $want|...|origin=$WRITER,index=$i"
		ts=$(field 4 "$r")
		if [[ $FIXED_TS == 1 ]]; then
			((ts == TS_BASE + 1000 * i)) || fail "record $i: timestamp $ts, want $((TS_BASE + 1000 * i))"
		else
			((ts > TS_BASE)) || fail "record $i: timestamp $ts, want later than $TS_BASE"
		fi
	done
	;;
*)
	fail "unknown scenario"
	;;
esac
