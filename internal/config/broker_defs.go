package config

import (
	"sort"
	"strconv"
)

const (
	maxLong = "9223372036854775807" // Java's Long.MAX_VALUE, Kafka's "no limit"

	mib = 1 << 20
)

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// mk builds a definition whose default is given.
func mk(name string, t Type, def string, r rule, doc string) Def {
	return Def{Name: name, Type: t, Default: def, Doc: doc, Valid: r.valid, Validate: r.fn}
}

// mkNull builds a definition whose Kafka default is null.
func mkNull(name string, t Type, r rule, doc string) Def {
	d := mk(name, t, "", r, doc)
	d.NullDefault = true
	return d
}

// noEffect is appended to the documentation of Kafka settings that Weir
// accepts and reports, for compatibility with tools, without acting on them.
const noEffect = " Weir: accepted and reported for compatibility; no effect."

func buildBrokerDefs() []Def {
	defs := []Def{
		// ---- identity ----
		mk("node.id", TypeInt, "1", atLeast(TypeInt, 0),
			"The id of this broker, unique in the cluster. broker.id is a synonym; if both are set they must agree."),
		mk("broker.id", TypeInt, "1", atLeast(TypeInt, 0),
			"Synonym of node.id (Kafka's pre-KRaft name)."),

		// ---- topics ----
		mk("auto.create.topics.enable", TypeBoolean, "true", boolean(),
			"Create a topic automatically when a client asks for metadata of a topic that does not exist (Metadata v0-3 always ask; v4+ when the client allows it)."),
		mk("num.partitions", TypeInt, "1", atLeast(TypeInt, 1),
			"Default number of partitions of a topic created without a partition count (auto-created topics, CreateTopics with -1)."),
		mk("default.replication.factor", TypeInt, "1", atLeast(TypeInt, 1),
			"Default replication factor reported for topics created without one. Weir keeps data in object storage, so the factor is reported, not used to copy data."),
		mk("min.insync.replicas", TypeInt, "1", atLeast(TypeInt, 1),
			"Default for the topic setting min.insync.replicas."),
		mk("delete.topic.enable", TypeBoolean, "true", boolean(),
			"Allow DeleteTopics. When false, deleting a topic fails with TOPIC_DELETION_DISABLED."),

		// ---- requests and connections ----
		mk("message.max.bytes", TypeInt, "1048588", atLeast(TypeInt, 0),
			"Largest record batch size the broker accepts (after compression). Default for the topic setting max.message.bytes."),
		mk("socket.request.max.bytes", TypeInt, "104857600", atLeast(TypeInt, 1),
			"Largest request the broker reads from a connection; a larger size prefix closes the connection."),
		mk("connections.max.idle.ms", TypeLong, "600000", anyInteger(TypeLong),
			"Close connections idle for longer than this."),

		// ---- log (defaults for topic settings) ----
		mk("log.retention.hours", TypeInt, "168", anyInteger(TypeInt),
			"Hours to keep data before deleting it (cleanup.policy delete). Lowest precedence of log.retention.ms, log.retention.minutes, log.retention.hours. Default for retention.ms."),
		mkNull("log.retention.minutes", TypeInt, anyInteger(TypeInt),
			"Minutes to keep data; overrides log.retention.hours when set. Default for retention.ms."),
		mkNull("log.retention.ms", TypeLong, anyInteger(TypeLong),
			"Milliseconds to keep data; overrides log.retention.minutes and log.retention.hours when set. Negative means no time limit. Default for retention.ms."),
		mk("log.retention.bytes", TypeLong, "-1", anyInteger(TypeLong),
			"Largest size of a partition before old data is deleted; -1 means no size limit. Default for retention.bytes."),
		mk("log.retention.check.interval.ms", TypeLong, "300000", atLeast(TypeLong, 1),
			"How often to look for data to delete under the retention settings."),
		mk("log.cleanup.policy", TypeList, "delete", listOf("delete", "compact"),
			"Default for the topic setting cleanup.policy."),
		mk("log.message.timestamp.type", TypeString, "CreateTime", oneOf("CreateTime", "LogAppendTime"),
			"Default for the topic setting message.timestamp.type."),
		mk("log.message.timestamp.before.max.ms", TypeLong, maxLong, atLeast(TypeLong, 0),
			"Default for the topic setting message.timestamp.before.max.ms."),
		mk("log.message.timestamp.after.max.ms", TypeLong, maxLong, atLeast(TypeLong, 0),
			"Default for the topic setting message.timestamp.after.max.ms."),
		mk("compression.type", TypeString, "producer", oneOf("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"),
			"Default for the topic setting compression.type."),
		mk("log.segment.bytes", TypeInt, "1073741824", atLeast(TypeInt, 14),
			"Default for the topic setting segment.bytes."),
		mk("log.roll.hours", TypeInt, "168", atLeast(TypeInt, 1),
			"Default for the topic setting segment.ms, in hours; log.roll.ms takes precedence."),
		mkNull("log.roll.ms", TypeLong, atLeast(TypeLong, 1),
			"Default for the topic setting segment.ms; when unset, log.roll.hours is used."),
		mk("log.roll.jitter.hours", TypeInt, "0", atLeast(TypeInt, 0),
			"Default for the topic setting segment.jitter.ms, in hours; log.roll.jitter.ms takes precedence."),
		mkNull("log.roll.jitter.ms", TypeLong, atLeast(TypeLong, 0),
			"Default for the topic setting segment.jitter.ms; when unset, log.roll.jitter.hours is used."),
		mk("log.index.size.max.bytes", TypeInt, "10485760", atLeast(TypeInt, 4),
			"Default for the topic setting segment.index.bytes."),
		mk("log.index.interval.bytes", TypeInt, "4096", atLeast(TypeInt, 0),
			"Default for the topic setting index.interval.bytes."),
		mk("log.flush.interval.messages", TypeLong, maxLong, atLeast(TypeLong, 1),
			"Default for the topic setting flush.messages."),
		mkNull("log.flush.interval.ms", TypeLong, atLeast(TypeLong, 0),
			"Default for the topic setting flush.ms; when unset, log.flush.scheduler.interval.ms is used."),
		mk("log.flush.scheduler.interval.ms", TypeLong, maxLong, atLeast(TypeLong, 0),
			"Default for the topic setting flush.ms when log.flush.interval.ms is unset."),
		mk("log.cleaner.delete.retention.ms", TypeLong, "86400000", atLeast(TypeLong, 0),
			"Default for the topic setting delete.retention.ms."),
		mk("log.cleaner.min.compaction.lag.ms", TypeLong, "0", atLeast(TypeLong, 0),
			"Default for the topic setting min.compaction.lag.ms."),
		mk("log.cleaner.max.compaction.lag.ms", TypeLong, maxLong, atLeast(TypeLong, 1),
			"Default for the topic setting max.compaction.lag.ms."),
		mk("log.cleaner.min.cleanable.ratio", TypeDouble, "0.5", doubleBetween(0, 1),
			"Default for the topic setting min.cleanable.dirty.ratio."),
		mk("log.segment.delete.delay.ms", TypeLong, "60000", atLeast(TypeLong, 0),
			"Default for the topic setting file.delete.delay.ms."),
		mk("log.preallocate", TypeBoolean, "false", boolean(),
			"Default for the topic setting preallocate."),
		mk("unclean.leader.election.enable", TypeBoolean, "false", boolean(),
			"Default for the topic setting unclean.leader.election.enable."),
		mk("log.message.downconversion.enable", TypeBoolean, "true", boolean(),
			"Default for the topic setting message.downconversion.enable."),

		// ---- groups ----
		mk("group.min.session.timeout.ms", TypeInt, "6000", anyInteger(TypeInt),
			"Smallest session timeout a consumer group member may ask for; smaller ones fail with INVALID_SESSION_TIMEOUT."),
		mk("group.max.session.timeout.ms", TypeInt, "1800000", anyInteger(TypeInt),
			"Largest session timeout a consumer group member may ask for; larger ones fail with INVALID_SESSION_TIMEOUT."),
		mk("group.initial.rebalance.delay.ms", TypeInt, "3000", anyInteger(TypeInt),
			"How long the group coordinator waits for more members to join an empty group before the first rebalance."),
		mk("group.consumer.session.timeout.ms", TypeInt, "45000", atLeast(TypeInt, 1),
			"Session timeout of KIP-848 consumer group members: a member that does not heartbeat for this long is removed."),
		mk("group.consumer.heartbeat.interval.ms", TypeInt, "5000", atLeast(TypeInt, 1),
			"How often KIP-848 consumer group members are told to heartbeat."),
		mk("offsets.retention.minutes", TypeInt, "10080", atLeast(TypeInt, 1),
			"Committed offsets of a group that has been empty for this long are deleted."),
		mk("offsets.topic.num.partitions", TypeInt, "50", atLeast(TypeInt, 1),
			"Partitions of the internal __consumer_offsets topic. Takes effect when the topic is created; do not change it afterwards."),

		// ---- transactions and idempotence ----
		mk("transaction.max.timeout.ms", TypeInt, "900000", atLeast(TypeInt, 1),
			"Largest transaction timeout a producer may ask for; larger ones fail InitProducerId with INVALID_TRANSACTION_TIMEOUT."),
		mk("transaction.state.log.num.partitions", TypeInt, "50", atLeast(TypeInt, 1),
			"Partitions of the internal __transaction_state topic. Takes effect when the topic is created; do not change it afterwards."),
		mk("transaction.abort.timed.out.transaction.cleanup.interval.ms", TypeInt, "10000", atLeast(TypeInt, 1),
			"How often the transaction coordinator aborts transactions open for longer than their timeout."),
		mk("producer.id.expiration.ms", TypeInt, "86400000", atLeast(TypeInt, 1),
			"How long the broker keeps the state of an idle idempotent producer id (for duplicate detection) after its last write."),
		mk("transactional.id.expiration.ms", TypeInt, "604800000", atLeast(TypeInt, 1),
			"A transactional id with no transaction status update for this long expires."),

		// ---- Weir: WAL ----
		mk("weir.wal.kind", TypeString, "file", oneOf("file", "object"),
			"Write-ahead log: file (segmented local files under data-dir, acknowledged after fsync) or object (no local state, acknowledged after an object PUT and a metadata commit)."),
		mk("weir.wal.segment.bytes", TypeLong, itoa(64*mib), atLeast(TypeLong, 1),
			"Size at which the file WAL starts a new segment file."),
		mk("weir.wal.max.queued.bytes", TypeLong, itoa(64*mib), atLeast(TypeLong, 1),
			"Most bytes of appends waiting to be written to the WAL; further appends wait."),

		// ---- Weir: uploads ----
		mk("weir.upload.interval.ms", TypeLong, "1000", atLeast(TypeLong, 1),
			"Upload pending data to object storage at least this often."),
		mk("weir.upload.bytes", TypeLong, itoa(8*mib), atLeast(TypeLong, 1),
			"Upload as soon as this many bytes are pending, without waiting for weir.upload.interval.ms."),
		mk("weir.pending.max.bytes", TypeLong, itoa(256*mib), atLeast(TypeLong, 1),
			"Most bytes written to the WAL but not yet uploaded; beyond this, produce requests wait (back-pressure)."),

		// ---- Weir: caches ----
		mk("weir.log.cache.bytes", TypeLong, itoa(256*mib), atLeast(TypeLong, 0),
			"Memory for recently produced batches, which tailing consumers read from; 0 disables the cache."),
		mk("weir.block.cache.bytes", TypeLong, itoa(256*mib), atLeast(TypeLong, 0),
			"Memory for blocks read from object storage; 0 disables the cache."),
		mk("weir.memory.overhead.bytes", TypeLong, itoa(256*mib), atLeast(TypeLong, 0),
			"weir serve sets Go's soft memory limit to weir.log.cache.bytes + weir.block.cache.bytes + weir.pending.max.bytes + this, so that the heap's garbage does not double resident memory under load; 0 sets no limit, and GOMEMLIMIT in the environment overrides it."),

		// ---- Weir: object store ----
		mk("weir.orphan.sweep.interval.ms", TypeLong, "300000", atLeast(TypeLong, 1),
			"How often to look for objects that no metadata refers to (left behind by a crash between upload and commit)."),
		mk("weir.orphan.grace.ms", TypeLong, "3600000", atLeast(TypeLong, 0),
			"Only objects older than this are deleted as orphans, so uploads still being committed are safe."),
		mk("weir.objstore.kind", TypeString, "fs", oneOf("fs", "s3"),
			"Object store: fs (a directory under data-dir) or s3 (any S3-compatible service; set weir.s3.bucket)."),
		mk("weir.s3.endpoint", TypeString, "", httpURL(),
			"S3 endpoint URL, e.g. http://localhost:9000 for MinIO; empty for AWS."),
		mk("weir.s3.bucket", TypeString, "", anyString(),
			"S3 bucket; required when weir.objstore.kind is s3."),
		mk("weir.s3.region", TypeString, "us-east-1", nonEmptyString(),
			"S3 region."),
		mk("weir.s3.access.key", TypeString, "", anyString(),
			"S3 access key id; empty uses the AWS SDK's default credential chain (environment, profile, instance role)."),
		mk("weir.s3.secret.key", TypePassword, "", anyString(),
			"S3 secret access key; empty uses the AWS SDK's default credential chain."),
		mk("weir.s3.path.style", TypeBoolean, "false", boolean(),
			"Address buckets as endpoint/bucket instead of bucket.endpoint (needed by MinIO and most non-AWS services)."),
		mk("weir.s3.prefix", TypeString, "", anyString(),
			"Key prefix for every object Weir writes, so several clusters can share a bucket."),

		// ---- Weir: metadata ----
		mk("weir.metadata.etcd.endpoints", TypeList, "", listOfNonEmpty(),
			"Comma-separated etcd endpoints (host:port or URLs) of the metadata store; empty runs an embedded single-node etcd under data-dir."),
	}

	families := [][]string{
		{"node.id", "broker.id"},
		{"log.retention.ms", "log.retention.minutes", "log.retention.hours"},
		{"log.roll.ms", "log.roll.hours"},
		{"log.roll.jitter.ms", "log.roll.jitter.hours"},
	}
	byName := make(map[string]*Def, len(defs))
	for i := range defs {
		d := &defs[i]
		d.ReadOnly = true // Weir has no dynamic broker configs
		d.Sensitive = d.Type == TypePassword
		d.Synonyms = []string{d.Name}
		byName[d.Name] = d
	}
	for _, fam := range families {
		for _, n := range fam {
			byName[n].Synonyms = fam
		}
	}
	// Kafka: flush.ms's broker synonyms are log.flush.interval.ms then
	// log.flush.scheduler.interval.ms; the latter alone has no synonyms.
	byName["log.flush.interval.ms"].Synonyms = []string{"log.flush.interval.ms", "log.flush.scheduler.interval.ms"}

	// Effective values of unset settings that depend on others.
	byName["node.id"].effective = func(b *Broker) (string, bool) { return b.explicit("broker.id") }
	byName["broker.id"].effective = func(b *Broker) (string, bool) { return b.explicit("node.id") }
	byName["log.retention.ms"].effective = func(b *Broker) (string, bool) { return itoa(b.RetentionMs()), true }
	byName["log.retention.minutes"].effective = func(b *Broker) (string, bool) {
		ms := b.RetentionMs()
		if ms < 0 {
			return "-1", true
		}
		return itoa(ms / 60000), true
	}
	byName["log.roll.ms"].effective = func(b *Broker) (string, bool) {
		return itoa(int64(b.Int("log.roll.hours")) * 3600000), true
	}
	byName["log.roll.jitter.ms"].effective = func(b *Broker) (string, bool) {
		return itoa(int64(b.Int("log.roll.jitter.hours")) * 3600000), true
	}
	byName["log.flush.interval.ms"].effective = func(b *Broker) (string, bool) {
		return b.String("log.flush.scheduler.interval.ms"), true
	}

	sort.Slice(defs, func(i, j int) bool { return defs[i].Name < defs[j].Name })
	return defs
}

// Definitions and lookup tables, filled by init (in this order: topic
// definitions need the broker ones; closures in the definitions refer back
// to the tables, which rules out initialising them in declarations).
var (
	brokerDefs   []Def
	brokerByName map[string]*Def
	topicDefs    []Def
	topicByName  map[string]*Def
)

func init() {
	brokerDefs = buildBrokerDefs()
	brokerByName = indexDefs(brokerDefs)
	topicDefs = buildTopicDefs()
	topicByName = indexDefs(topicDefs)
}

func indexDefs(defs []Def) map[string]*Def {
	m := make(map[string]*Def, len(defs))
	for i := range defs {
		m[defs[i].Name] = &defs[i]
	}
	return m
}

// BrokerDefs returns the broker setting definitions, sorted by name.
func BrokerDefs() []Def {
	out := make([]Def, len(brokerDefs))
	for i := range brokerDefs {
		out[i] = brokerDefs[i].copy()
	}
	return out
}

// BrokerDef returns the definition of the named broker setting.
func BrokerDef(name string) (Def, bool) {
	d, ok := brokerByName[name]
	if !ok {
		return Def{}, false
	}
	return d.copy(), true
}
