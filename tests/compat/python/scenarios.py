"""Runs one scenario of tests/compat/scenarios.json with a Python client.

Usage: scenarios.py confluent-kafka-python|kafka-python SCENARIO, configured
by the environment (BOOTSTRAP, TOPIC, GROUP, CLIENT, TS_BASE, CODEC,
WRITER, FIXED_TS). Exit 0: passed; 77: skipped (reason on stdout); 1: failed (reason
on stderr). The clients are Debian's python3-confluent-kafka and
python3-kafka; the scenario logic below is shared, the classes adapt each
library.
"""

import os
import sys
import time

INTEROP_BASE_TS = int(os.environ.get("TS_BASE", "0"))
TIMEOUT_S = 60


class Failure(Exception):
    pass


class Rec:
    def __init__(self, key, value, headers=(), ts=0, offset=-1):
        self.key, self.value, self.headers = key, value, list(headers)
        self.ts, self.offset = ts, offset

    def __repr__(self):
        return "Rec(key=%r value=%r headers=%r ts=%r offset=%r)" % (
            self.key, self.value, self.headers, self.ts, self.offset)


def b(s):
    return s.encode() if isinstance(s, str) else s


def s(v):
    return v.decode() if isinstance(v, (bytes, bytearray)) else v


class Confluent:
    """confluent-kafka (librdkafka)."""

    def __init__(self, bootstrap):
        import confluent_kafka
        from confluent_kafka import admin
        self.ck, self.admin_mod = confluent_kafka, admin
        self.bootstrap = bootstrap
        self.admin = admin.AdminClient({"bootstrap.servers": bootstrap})

    def produce(self, topic, codec, recs):
        p = self.ck.Producer({"bootstrap.servers": self.bootstrap, "acks": "all",
                              "compression.type": codec, "linger.ms": 20})
        errs = []

        def on_delivery(err, msg):
            if err is not None:
                errs.append(err)
        for r in recs:
            kw = {"key": b(r.key), "value": b(r.value), "partition": 0, "on_delivery": on_delivery,
                  "headers": [(k, b(v)) for k, v in r.headers]}
            if r.ts:
                kw["timestamp"] = r.ts
            p.produce(topic, **kw)
        left = p.flush(TIMEOUT_S)
        if left or errs:
            raise Failure("produce: %d undelivered, errors %s" % (left, errs))

    def _rec(self, m):
        return Rec(s(m.key()), s(m.value()), [(k, s(v)) for k, v in (m.headers() or [])],
                   m.timestamp()[1], m.offset())

    def _poll(self, c, n, timeout=TIMEOUT_S):
        out = []
        deadline = time.time() + timeout
        while len(out) < n and time.time() < deadline:
            m = c.poll(0.2)
            if m is None:
                continue
            if m.error():
                if m.error().code() == self.ck.KafkaError._PARTITION_EOF:
                    continue
                raise Failure("consume: %s" % m.error())
            out.append(self._rec(m))
        return out

    def consume(self, topic, frm, n, ready=None):
        c = self.ck.Consumer({"bootstrap.servers": self.bootstrap, "group.id": "compat-unused",
                              "enable.auto.commit": False, "fetch.wait.max.ms": 100})
        try:
            tp = self.ck.TopicPartition(topic, 0)
            if frm == "beginning":
                tp.offset = self.ck.OFFSET_BEGINNING
            elif frm == "end":
                tp.offset = self.ck.OFFSET_END
            else:
                tp.offset = int(frm)
                tp = c.offsets_for_times([tp], timeout=10)[0]
                if tp.error:
                    raise Failure("offsets_for_times: %s" % tp.error)
            c.assign([tp])
            if ready:
                early = self._poll(c, 1, 2)
                if early:
                    raise Failure("read %r before anything was produced" % early)
                ready()
            out = self._poll(c, n)
            if len(out) < n:
                raise Failure("got %d of %d records: %r" % (len(out), n, out))
            return out
        finally:
            c.close()

    def group(self, topic, group, n):
        c = self.ck.Consumer({"bootstrap.servers": self.bootstrap, "group.id": group,
                              "enable.auto.commit": False, "auto.offset.reset": "earliest"})
        try:
            c.subscribe([topic])
            out = self._poll(c, n)
            if len(out) < n:
                raise Failure("got %d of %d records" % (len(out), n))
            c.commit(offsets=[self.ck.TopicPartition(topic, 0, out[-1].offset + 1)], asynchronous=False)
            return out
        finally:
            c.close()

    def metadata(self, topic):
        md = self.admin.list_topics(topic=topic, timeout=10)
        brokers = ["%s:%d" % (bm.host, bm.port) for bm in md.brokers.values()]
        t = md.topics.get(topic)
        if t is None or t.error is not None:
            raise Failure("topic %s not in metadata: %s" % (topic, t and t.error))
        leaders = all(p.leader in md.brokers for p in t.partitions.values())
        return brokers, len(t.partitions), leaders

    def topic_exists(self, topic):
        return topic in self.admin.list_topics(timeout=10).topics

    def create_topic(self, topic, parts, configs):
        f = self.admin.create_topics([self.admin_mod.NewTopic(topic, parts, 1, config=configs)])[topic]
        try:
            f.result(TIMEOUT_S)
            return False
        except self.ck.KafkaException as e:
            if e.args[0].code() == self.ck.KafkaError.TOPIC_ALREADY_EXISTS:
                return True
            raise

    def describe_config(self, topic, name):
        res = self.admin_mod.ConfigResource("topic", topic)
        cfg = self.admin.describe_configs([res])[res].result(TIMEOUT_S)
        return cfg[name].value

    def delete_topic(self, topic):
        self.admin.delete_topics([topic])[topic].result(TIMEOUT_S)


class KafkaPython:
    """kafka-python."""

    def __init__(self, bootstrap):
        import kafka
        from kafka import admin, errors, structs
        self.k, self.admin_mod, self.errors, self.structs = kafka, admin, errors, structs
        self.bootstrap = bootstrap
        self.admin = admin.KafkaAdminClient(bootstrap_servers=bootstrap)

    def produce(self, topic, codec, recs):
        p = self.k.KafkaProducer(bootstrap_servers=self.bootstrap, acks="all", linger_ms=20,
                                 compression_type=None if codec == "none" else codec)
        try:
            fs = [p.send(topic, key=b(r.key), value=b(r.value), partition=0,
                         headers=[(k, b(v)) for k, v in r.headers], timestamp_ms=r.ts or None)
                  for r in recs]
            p.flush(TIMEOUT_S)
            for f in fs:
                f.get(timeout=TIMEOUT_S)
        finally:
            p.close()

    def _rec(self, m):
        return Rec(s(m.key), s(m.value), [(k, s(v)) for k, v in m.headers], m.timestamp, m.offset)

    def _poll(self, c, n, timeout=TIMEOUT_S):
        out = []
        deadline = time.time() + timeout
        while len(out) < n and time.time() < deadline:
            for recs in c.poll(timeout_ms=200, max_records=n - len(out)).values():
                out.extend(self._rec(m) for m in recs)
        return out

    def consume(self, topic, frm, n, ready=None):
        c = self.k.KafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None,
                                 enable_auto_commit=False, fetch_max_wait_ms=100)
        try:
            tp = self.structs.TopicPartition(topic, 0)
            c.assign([tp])
            if frm == "beginning":
                c.seek_to_beginning(tp)
            elif frm == "end":
                c.seek_to_end(tp)
                c.position(tp)  # resolve the end offset now
            else:
                ot = c.offsets_for_times({tp: int(frm)})[tp]
                if ot is None:
                    raise Failure("offsets_for_times(%s): none" % frm)
                c.seek(tp, ot.offset)
            if ready:
                ready()
            out = self._poll(c, n)
            if len(out) < n:
                raise Failure("got %d of %d records: %r" % (len(out), n, out))
            return out
        finally:
            c.close()

    def group(self, topic, group, n):
        c = self.k.KafkaConsumer(topic, bootstrap_servers=self.bootstrap, group_id=group,
                                 enable_auto_commit=False, auto_offset_reset="earliest",
                                 fetch_max_wait_ms=100)
        try:
            out = self._poll(c, n)
            if len(out) < n:
                raise Failure("got %d of %d records" % (len(out), n))
            tp = self.structs.TopicPartition(topic, 0)
            c.commit({tp: self.structs.OffsetAndMetadata(out[-1].offset + 1, None)})
            return out
        finally:
            c.close(autocommit=False)

    def metadata(self, topic):
        cluster = self.admin.describe_cluster()
        brokers = ["%s:%d" % (bm["host"], bm["port"]) for bm in cluster["brokers"]]
        ids = {bm["node_id"] for bm in cluster["brokers"]}
        ts = self.admin.describe_topics([topic])
        if not ts or ts[0]["error_code"] != 0:
            raise Failure("topic %s not in metadata: %r" % (topic, ts))
        parts = ts[0]["partitions"]
        return brokers, len(parts), all(p["leader"] in ids for p in parts)

    def topic_exists(self, topic):
        return topic in self.admin.list_topics()

    def create_topic(self, topic, parts, configs):
        try:
            resp = self.admin.create_topics([self.admin_mod.NewTopic(
                topic, num_partitions=parts, replication_factor=1, topic_configs=configs)])
        except self.errors.TopicAlreadyExistsError:
            return True
        for err in resp.topic_errors:
            code = err[1]
            if code == self.errors.TopicAlreadyExistsError.errno:
                return True
            if code != 0:
                raise Failure("create %s: error %r" % (topic, err))
        return False

    def describe_config(self, topic, name):
        res = self.admin_mod.ConfigResource(self.admin_mod.ConfigResourceType.TOPIC, topic)
        resp = self.admin.describe_configs([res])[0]
        for resource in resp.resources:
            if resource[0] != 0:
                raise Failure("describe configs: error %r" % (resource,))
            for entry in resource[4]:
                if entry[0] == name:
                    return entry[1]
        raise Failure("%s not in %r" % (name, resp))

    def delete_topic(self, topic):
        resp = self.admin.delete_topics([topic])
        for err in resp.topic_error_codes:
            if err[1] != 0:
                raise Failure("delete %s: error %r" % (topic, err))


def interop_records(writer, fixed_ts):
    return [Rec("key-%d" % i, "%s value %d" % (writer, i), [("origin", writer), ("index", str(i))],
                INTEROP_BASE_TS + 1000 * i if fixed_ts else 0, i) for i in range(5)]


def compare(got, want, check_ts):
    if len(got) != len(want):
        raise Failure("got %d records, want %d: %r" % (len(got), len(want), got))
    for i, (g, w) in enumerate(zip(got, want)):
        if (g.key, g.value, g.headers, g.offset) != (w.key, w.value, w.headers, w.offset):
            raise Failure("record %d: got %r, want %r" % (i, g, w))
        if check_ts and ((w.ts and g.ts != w.ts) or (not w.ts and g.ts <= INTEROP_BASE_TS)):
            raise Failure("record %d: timestamp %d, want %d (0: later than %d)" % (i, g.ts, w.ts, INTEROP_BASE_TS))


def run(c, scenario, bootstrap):
    topic, group, client = os.environ.get("TOPIC"), os.environ.get("GROUP"), os.environ.get("CLIENT")
    if scenario == "metadata":
        c.produce(topic, "none", [Rec("k", "v")])
        brokers, parts, leaders = c.metadata(topic)
        if bootstrap not in brokers:
            raise Failure("brokers %r do not include %s" % (brokers, bootstrap))
        if parts != 1 or not leaders:
            raise Failure("topic %s: %d partitions (want 1), leaders known: %s" % (topic, parts, leaders))
    elif scenario == "admin-topics":
        cfg = {"retention.ms": "3600000"}
        if c.create_topic(topic, 3, cfg):
            raise Failure("first create: TOPIC_ALREADY_EXISTS")
        if not c.create_topic(topic, 3, cfg):
            raise Failure("second create: no TOPIC_ALREADY_EXISTS")
        _, parts, _ = c.metadata(topic)
        if parts != 3:
            raise Failure("metadata: %d partitions, want 3" % parts)
        v = c.describe_config(topic, "retention.ms")
        if v != "3600000":
            raise Failure("describe configs: retention.ms=%r" % v)
        c.delete_topic(topic)
        deadline = time.time() + 15
        while c.topic_exists(topic):
            if time.time() > deadline:
                raise Failure("topic still listed 15 s after delete")
            time.sleep(0.2)
    elif scenario.startswith("produce-"):
        codec = scenario[len("produce-"):]
        want = [Rec("key-%d" % i, "value-%d %s" % (i, "x" * 100),
                    [("h1", "v1-%d" % i), ("h2", "v2-%d" % i)], 0, i) for i in range(10)]
        c.produce(topic, codec, want)
        compare(c.consume(topic, "beginning", 10), want, False)
    elif scenario == "consume-offsets":
        for i in range(5):
            if i:
                time.sleep(0.01)
            c.produce(topic, "none", [Rec("key-%d" % i, "r%d" % i)])
        got = c.consume(topic, "beginning", 5)
        for i, r in enumerate(got):
            if r.offset != i or r.value != "r%d" % i or (i and r.ts <= got[i - 1].ts):
                raise Failure("from beginning: record %d: %r" % (i, got))
        first = c.consume(topic, str(got[2].ts), 1)[0]
        if (first.offset, first.value) != (2, "r2"):
            raise Failure("from timestamp %d: got %r, want r2 at offset 2" % (got[2].ts, first))
        first = c.consume(topic, "end", 1, lambda: c.produce(topic, "none", [Rec("key-5", "r5")]))[0]
        if (first.offset, first.value) != (5, "r5"):
            raise Failure("from end: got %r, want r5 at offset 5" % first)
    elif scenario == "group-commit-resume":
        c.produce(topic, "none", [Rec("key-%d" % i, "g%d" % i) for i in range(6)])
        first = c.group(topic, group, 3)
        second = c.group(topic, group, 3)
        for i, r in enumerate(first + second):
            if (r.offset, r.value) != (i, "g%d" % i):
                raise Failure("record %d: %r (first consumer %r)" % (i, r, first))
    elif scenario == "interop-write":
        c.produce(topic, os.environ["CODEC"], interop_records(client, True))
    elif scenario == "interop-read":
        want = interop_records(os.environ["WRITER"], os.environ.get("FIXED_TS") == "1")
        compare(c.consume(topic, "beginning", len(want)), want, True)
    else:
        raise Failure("unknown scenario %r" % scenario)


def main():
    if len(sys.argv) != 3:
        print("usage: scenarios.py confluent-kafka-python|kafka-python SCENARIO", file=sys.stderr)
        return 2
    bootstrap = os.environ["BOOTSTRAP"]
    try:
        c = {"confluent-kafka-python": Confluent, "kafka-python": KafkaPython}[sys.argv[1]](bootstrap)
        run(c, sys.argv[2], bootstrap)
    except Exception as e:  # noqa: BLE001 - every error is a scenario failure
        import traceback
        traceback.print_exc()
        print("%s %s: %s: %s" % (sys.argv[1], sys.argv[2], type(e).__name__, e), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
