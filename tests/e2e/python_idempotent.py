"""Idempotent producing with librdkafka (confluent-kafka), for idempotent_test.go.

Usage: python_idempotent.py BOOTSTRAP TOPIC N MARKER

Produces values "<i>" for i in 0..N-1 with enable.idempotence=true at a
steady pace, keyed so that each partition gets an increasing run. Once
half are sent it creates the file MARKER, telling the test to kill -9 and
restart the broker; it then keeps producing through the outage. Prints one
JSON object: delivered count, failed deliveries, and error callbacks.
"""

import json
import os
import sys
import time

from confluent_kafka import Producer

bootstrap, topic, n, marker = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
errors = []
failed = []
delivered = [0]


def on_error(err):
    errors.append(str(err))


def on_delivery(err, msg):
    if err is not None:
        failed.append("%s: %s" % (msg.value().decode(), err))
    else:
        delivered[0] += 1


p = Producer({
    "bootstrap.servers": bootstrap,
    "enable.idempotence": True,
    "linger.ms": 5,
    "message.timeout.ms": 120000,
    "retry.backoff.ms": 50,
    "reconnect.backoff.ms": 50,
    "reconnect.backoff.max.ms": 500,
    "error_cb": on_error,
})
for i in range(n):
    while True:
        try:
            p.produce(topic, key=str(i % 8).encode(), value=str(i).encode(), on_delivery=on_delivery)
            break
        except BufferError:
            p.poll(0.05)
    if i == n // 2:
        open(marker, "w").close()
    if i % 50 == 0:
        p.poll(0)
        time.sleep(0.02)
left = p.flush(150)
print(json.dumps({
    "delivered": delivered[0],
    "failed": failed[:20],
    "failed_count": len(failed),
    "undelivered": left,
    "errors": errors[:20],
}))
