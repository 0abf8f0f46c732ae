"""A consumer group member for Weir's end-to-end group tests.

Usage: python3 python_groups.py CLIENT BOOTSTRAP GROUP TOPIC COMMIT CLIENT_ID [NAME=VALUE ...]
       python3 python_groups.py admin BOOTSTRAP GROUP TOPIC [delete]

CLIENT is confluent (confluent-kafka, librdkafka) or kafka-python. The
member subscribes to TOPIC in GROUP, from the earliest offset when the group
has no committed offset, and consumes until SIGTERM, then closes (leaving
the group, committing first with COMMIT=auto). COMMIT is auto (the client
commits in the background every 500ms and on close) or sync (a synchronous
commit of what was consumed, every 50ms while records come and whenever
they stop).
NAME=VALUE pairs are extra librdkafka settings (confluent only), such as
partition.assignment.strategy or group.instance.id, and e2e.delay.ms=N,
which makes the member take N ms over each record (a slow consumer, with
a backlog fetched ahead).

Writes one line per event to stdout, flushed, for the test to follow:

    assigned P,P,...     partitions assigned (after every rebalance)
    rec P O VALUE        a record consumed
    commit P O           the broker acknowledged a commit of offset O
    commit-error MSG     a commit failed (retried by the next one)
    closed               the consumer closed cleanly
"""

import json
import signal
import sys
import time

running = True


def stop(_sig, _frame):
    global running
    running = False


def out(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def run_confluent(bootstrap, group, topic, commit, client_id, extra):
    import confluent_kafka

    def on_commit(err, partitions):
        if err is not None:
            out("commit-error %s" % err)
            return
        for p in partitions:
            if p.error is None and p.offset >= 0:
                out("commit %d %d" % (p.partition, p.offset))

    conf = {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "client.id": client_id,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": commit == "auto",
        # At least once: an offset is stored for commit only once its
        # record is reported, not when poll hands it over (a kill in
        # between would otherwise commit a record nobody saw).
        "enable.auto.offset.store": False,
        "auto.commit.interval.ms": 500,
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 500,
        "fetch.wait.max.ms": 100,
        "on_commit": on_commit,
        "error_cb": lambda e: sys.stderr.write("confluent error: %s\n" % e),
    }
    delay = float(extra.pop("e2e.delay.ms", 0)) / 1000
    conf.update(extra)
    c = confluent_kafka.Consumer(conf)

    def on_assign(consumer, partitions):
        # With cooperative-sticky, partitions is what was added; report
        # the whole assignment. The client assigns after the callback.
        now = {p.partition for p in consumer.assignment()} | {p.partition for p in partitions}
        out("assigned " + ",".join(str(p) for p in sorted(now)))

    c.subscribe([topic], on_assign=on_assign)
    uncommitted, last_commit = False, time.monotonic()
    while running:
        # poll, not consume(num_messages=...): librdkafka 2.0 drops the
        # records of a batch being gathered when a cooperative rebalance
        # pauses their partitions, and resumes fetching after them.
        m = c.poll(0.1)
        if m is not None and not m.error():
            if delay:
                time.sleep(delay)
            out("rec %d %d %s" % (m.partition(), m.offset(), m.value().decode()))
            try:
                c.store_offsets(message=m)
                uncommitted = True
            except confluent_kafka.KafkaException:
                pass  # revoked meanwhile: its new owner reads it again
        # (Errors, such as partition EOF, are reported and the consumer
        # carries on by itself.)
        if commit == "sync" and uncommitted and (m is None or time.monotonic() - last_commit >= 0.05):
            uncommitted, last_commit = False, time.monotonic()
            try:
                # The stored offsets: one past every record consumed.
                on_commit(None, c.commit(asynchronous=False))
            except confluent_kafka.KafkaException as e:
                out("commit-error %s" % e)
    c.close()
    out("closed")


def run_kafka_python(bootstrap, group, topic, commit, client_id):
    import kafka

    class Listener(kafka.ConsumerRebalanceListener):
        def on_partitions_revoked(self, revoked):
            pass

        def on_partitions_assigned(self, assigned):
            out("assigned " + ",".join(str(tp.partition) for tp in sorted(assigned)))

    c = kafka.KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        client_id=client_id,
        auto_offset_reset="earliest",
        enable_auto_commit=commit == "auto",
        auto_commit_interval_ms=500,
        session_timeout_ms=6000,
        heartbeat_interval_ms=500,
        fetch_max_wait_ms=100,
    )
    c.subscribe([topic], listener=Listener())
    while running:
        batches = c.poll(timeout_ms=200)
        nexts = {}
        for tp, recs in batches.items():
            for r in recs:
                out("rec %d %d %s" % (r.partition, r.offset, r.value.decode()))
                nexts[tp] = r.offset + 1
        if nexts and commit == "sync":
            offsets = {tp: kafka.OffsetAndMetadata(o, "") for tp, o in nexts.items()}
            try:
                c.commit(offsets)
            except kafka.errors.KafkaError as e:
                out("commit-error %s" % e)
                continue
            for tp, o in sorted(nexts.items()):
                out("commit %d %d" % (tp.partition, o))
    c.close(autocommit=commit == "auto")
    out("closed")


def run_admin(bootstrap, group, topic, delete):
    """Prints one JSON line: the group as kafka-python's KafkaAdminClient
    (ListGroups, DescribeGroups, OffsetFetch) and confluent-kafka's
    AdminClient.list_groups see it; with delete, then deletes the group
    with kafka-python (DeleteGroups)."""
    import confluent_kafka.admin
    import kafka

    adm = kafka.KafkaAdminClient(bootstrap_servers=bootstrap, client_id="weir-e2e-admin")
    d = adm.describe_consumer_groups([group])[0]
    members = {}
    for m in d.members:
        a = m.member_assignment
        members[m.client_id] = sorted(p for t, ps in (a.assignment if a else []) if t == topic for p in ps)
    offsets = adm.list_consumer_group_offsets(group)
    res = {"kafka_python": {
        "listed": sorted([g, t] for g, t in adm.list_consumer_groups()),
        "error": d.error_code,
        "state": d.state,
        "protocol_type": d.protocol_type,
        "protocol": d.protocol,
        "members": members,
        "offsets": {str(tp.partition): om.offset for tp, om in offsets.items() if tp.topic == topic},
    }}
    ca = confluent_kafka.admin.AdminClient({"bootstrap.servers": bootstrap})
    for g in ca.list_groups(group, timeout=10):
        res["confluent"] = {
            "error": str(g.error) if g.error else None,
            "state": g.state,
            "protocol_type": g.protocol_type,
            "protocol": g.protocol,
            "members": sorted(m.client_id for m in g.members),
        }
    if delete:
        res["deleted"] = [e.__name__ for _, e in adm.delete_consumer_groups([group])]
    adm.close()
    print(json.dumps(res))


def main():
    if sys.argv[1] == "admin":
        run_admin(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:] == ["delete"])
        return
    client, bootstrap, group, topic, commit, client_id = sys.argv[1:7]
    extra = dict(kv.split("=", 1) for kv in sys.argv[7:])
    if commit not in ("auto", "sync"):
        sys.exit("COMMIT must be auto or sync, not %r" % commit)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if client == "confluent":
        run_confluent(bootstrap, group, topic, commit, client_id, extra)
    elif client == "kafka-python" and not extra:
        run_kafka_python(bootstrap, group, topic, commit, client_id)
    else:
        sys.exit("unknown client %r" % client)


if __name__ == "__main__":
    main()
