"""Transactions with librdkafka (confluent-kafka), for txn_test.go.

Usage: python_txn.py BOOTSTRAP TOPIC TRANSACTIONS PER_TRANSACTION

A transactional producer runs TRANSACTIONS transactions of PER_TRANSACTION
records each ("t<i>-<j>", spread over the topic's partitions), committing
even-numbered ones and aborting odd-numbered ones. Then two consumers read
the topic from the start, one read_committed and one read_uncommitted,
until each has reached the end. Prints one JSON object: the values each
consumer read, and any errors.
"""

import json
import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

bootstrap, topic, txns, per = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
errors = []


def on_error(err):
    errors.append(str(err))


p = Producer({
    "bootstrap.servers": bootstrap,
    "transactional.id": "rdkafka-txn",
    "transaction.timeout.ms": 60000,
    "linger.ms": 5,
    "error_cb": on_error,
})
p.init_transactions(30)
for i in range(txns):
    p.begin_transaction()
    for j in range(per):
        p.produce(topic, key=str(j).encode(), value=("t%d-%d" % (i, j)).encode())
    if i % 2 == 0:
        p.commit_transaction(30)
    else:
        p.flush(30)  # the records reach the log before the abort
        p.abort_transaction(30)


def consume(isolation):
    c = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": "rdkafka-txn-" + isolation,
        "isolation.level": isolation,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "enable.partition.eof": True,
        "error_cb": on_error,
    })
    md = c.list_topics(topic, timeout=10)
    parts = sorted(md.topics[topic].partitions)
    c.assign([TopicPartition(topic, q, 0) for q in parts])
    values, eof = [], set()
    deadline = time.time() + 60
    while len(eof) < len(parts) and time.time() < deadline:
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            if m.error().code() == -191:  # _PARTITION_EOF
                eof.add(m.partition())
            else:
                errors.append(str(m.error()))
            continue
        values.append(m.value().decode())
    c.close()
    return values


out = {"committed": consume("read_committed"), "uncommitted": consume("read_uncommitted"), "errors": errors}
print(json.dumps(out))
