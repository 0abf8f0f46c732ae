"""Cross-checks confluent-kafka and kafka-python against a Weir broker.

Usage: python3 python_clients.py BOOTSTRAP TOPIC_A TOPIC_B N

confluent-kafka (librdkafka) produces N records to TOPIC_A and kafka-python
reads them back; kafka-python produces N records to TOPIC_B and
confluent-kafka reads them back. Both topics have two partitions. Consumers
use assign() with explicit offsets; python_groups.py covers consumer groups.
Checks keys (including null), values (including non-UTF-8 bytes), headers
(order, duplicates, empty and binary values), CreateTime timestamps,
partitions and offsets. Prints one JSON line with what was written where;
exits non-zero with a message on the first mismatch.
"""

import json
import sys
import time

import confluent_kafka
import kafka
from kafka.structs import TopicPartition as KTopicPartition

BASE_TS = 1700000000000
DEADLINE_S = 60


def expected(prefix, i):
    key = None if i % 5 == 0 else ("%s-key-%d" % (prefix, i)).encode()
    value = ("%s-value-%d-\u00fcn\u00efc\u00f8d\u00e9" % (prefix, i)).encode() + bytes([0, 255, i % 256])
    headers = [
        ("h-index", str(i).encode()),
        ("h-bin", bytes([0, 1, 2, 255])),
        ("h-empty", b""),
        ("h-dup", b"first"),
        ("h-dup", b"second"),
    ]
    ts = BASE_TS + i * 1000
    partition = i % 2
    return key, value, headers, ts, partition


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def check(where, i, got, want):
    if got != want:
        fail("%s record %d: got %r, want %r" % (where, i, got, want))


def index_of(prefix, value):
    # value is "<prefix>-value-<i>-..."
    head = ("%s-value-" % prefix).encode()
    if not value.startswith(head):
        fail("unexpected value %r" % (value,))
    return int(value[len(head):].split(b"-", 1)[0])


def confluent_produce(bootstrap, topic, n, errors):
    placed = {}

    def on_delivery(err, msg):
        if err is not None:
            fail("confluent-kafka delivery failed: %s" % err)
        placed[index_of("ck", msg.value())] = (msg.partition(), msg.offset())

    p = confluent_kafka.Producer({
        "bootstrap.servers": bootstrap,
        "acks": "all",
        "enable.idempotence": False,
        "compression.type": "gzip",
        "linger.ms": 5,
        "error_cb": lambda e: errors.append("confluent producer: %s" % e),
    })
    for i in range(n):
        key, value, headers, ts, part = expected("ck", i)
        p.produce(topic, value=value, key=key, partition=part, timestamp=ts,
                  headers=headers, on_delivery=on_delivery)
        p.poll(0)
    left = p.flush(DEADLINE_S)
    if left:
        fail("confluent-kafka: %d records not delivered" % left)
    if len(placed) != n:
        fail("confluent-kafka: %d delivery reports, want %d" % (len(placed), n))
    return placed


def kafka_python_consume(bootstrap, topic, n, placed):
    c = kafka.KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        consumer_timeout_ms=1000,
    )
    tps = [KTopicPartition(topic, 0), KTopicPartition(topic, 1)]
    c.assign(tps)
    c.seek_to_beginning(*tps)
    got = {}
    deadline = time.time() + DEADLINE_S
    while len(got) < n and time.time() < deadline:
        for rec in c:
            i = index_of("ck", rec.value)
            if i in got:
                fail("kafka-python read record %d twice" % i)
            got[i] = rec
            if len(got) == n:
                break
    c.close()
    if len(got) != n:
        fail("kafka-python read %d records of %s, want %d" % (len(got), topic, n))
    for i in range(n):
        key, value, headers, ts, part = expected("ck", i)
        rec = got[i]
        check("kafka-python", i, rec.key, key)
        check("kafka-python", i, rec.value, value)
        check("kafka-python", i, [(k, bytes(v)) for k, v in rec.headers], headers)
        check("kafka-python", i, (rec.timestamp, rec.timestamp_type), (ts, 0))
        check("kafka-python", i, (rec.partition, rec.offset), placed[i])


def kafka_python_produce(bootstrap, topic, n):
    p = kafka.KafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        compression_type="gzip",
        linger_ms=5,
    )
    futures = []
    for i in range(n):
        key, value, headers, ts, part = expected("kp", i)
        futures.append(p.send(topic, value=value, key=key, headers=headers,
                              partition=part, timestamp_ms=ts))
    p.flush(DEADLINE_S)
    placed = {}
    for i, f in enumerate(futures):
        md = f.get(timeout=DEADLINE_S)
        placed[i] = (md.partition, md.offset)
    p.close()
    return placed


def confluent_consume(bootstrap, topic, n, placed, errors):
    c = confluent_kafka.Consumer({
        "bootstrap.servers": bootstrap,
        # librdkafka requires a group.id; with assign() and explicit
        # offsets no group coordinator is needed.
        "group.id": "weir-e2e-unused",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "fetch.wait.max.ms": 100,
        "error_cb": lambda e: errors.append("confluent consumer: %s" % e),
    })
    c.assign([confluent_kafka.TopicPartition(topic, p, confluent_kafka.OFFSET_BEGINNING) for p in (0, 1)])
    got = {}
    deadline = time.time() + DEADLINE_S
    while len(got) < n and time.time() < deadline:
        msg = c.poll(0.5)
        if msg is None:
            continue
        if msg.error():
            fail("confluent-kafka consume: %s" % msg.error())
        i = index_of("kp", msg.value())
        if i in got:
            fail("confluent-kafka read record %d twice" % i)
        got[i] = msg
    c.close()
    if len(got) != n:
        fail("confluent-kafka read %d records of %s, want %d" % (len(got), topic, n))
    for i in range(n):
        key, value, headers, ts, part = expected("kp", i)
        msg = got[i]
        check("confluent-kafka", i, msg.key(), key)
        check("confluent-kafka", i, msg.value(), value)
        check("confluent-kafka", i, msg.headers(), headers)
        check("confluent-kafka", i, msg.timestamp(), (confluent_kafka.TIMESTAMP_CREATE_TIME, ts))
        check("confluent-kafka", i, (msg.partition(), msg.offset()), placed[i])


def main():
    bootstrap, topic_a, topic_b, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    errors = []
    placed_a = confluent_produce(bootstrap, topic_a, n, errors)
    kafka_python_consume(bootstrap, topic_a, n, placed_a)
    placed_b = kafka_python_produce(bootstrap, topic_b, n)
    confluent_consume(bootstrap, topic_b, n, placed_b, errors)
    print(json.dumps({
        "versions": {
            "confluent_kafka": confluent_kafka.version()[0],
            "librdkafka": confluent_kafka.libversion()[0],
            "kafka_python": kafka.__version__,
        },
        "a": {str(i): list(v) for i, v in placed_a.items()},
        "b": {str(i): list(v) for i, v in placed_b.items()},
        "client_errors": errors,
    }))


if __name__ == "__main__":
    main()
