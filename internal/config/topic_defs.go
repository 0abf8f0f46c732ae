package config

import "sort"

// tdef builds a topic definition whose default comes from the broker
// setting broker (Kafka's "server default property"); the broker setting's
// synonyms become the topic setting's synonyms.
func tdef(name string, t Type, def string, r rule, broker string, doc string) Def {
	d := mk(name, t, def, r, doc)
	if broker != "" {
		d.Synonyms = brokerByName[broker].Synonyms
	}
	return d
}

func buildTopicDefs() []Def {
	defs := []Def{
		tdef("cleanup.policy", TypeList, "delete", listOf("delete", "compact"), "log.cleanup.policy",
			`What to do with old data: "delete" removes it under the retention settings (retention.ms, retention.bytes), "compact" keeps the latest record of each key, "compact,delete" does both.`),
		tdef("retention.ms", TypeLong, "604800000", atLeast(TypeLong, -1), "log.retention.ms",
			"How long to keep data before deleting it (cleanup.policy delete); -1 means no time limit."),
		tdef("retention.bytes", TypeLong, "-1", anyInteger(TypeLong), "log.retention.bytes",
			"Largest size of a partition before its oldest data is deleted (cleanup.policy delete); -1 means no size limit."),
		tdef("max.message.bytes", TypeInt, "1048588", atLeast(TypeInt, 0), "message.max.bytes",
			"Largest record batch size accepted (after compression); larger batches fail with MESSAGE_TOO_LARGE."),
		tdef("message.timestamp.type", TypeString, "CreateTime", oneOf("CreateTime", "LogAppendTime"), "log.message.timestamp.type",
			"CreateTime keeps the producer's timestamps; LogAppendTime replaces them with the broker's time when the batch is appended."),
		tdef("message.timestamp.before.max.ms", TypeLong, maxLong, atLeast(TypeLong, 0), "log.message.timestamp.before.max.ms",
			"With CreateTime, reject batches whose timestamp is more than this far in the past (INVALID_TIMESTAMP)."),
		tdef("message.timestamp.after.max.ms", TypeLong, maxLong, atLeast(TypeLong, 0), "log.message.timestamp.after.max.ms",
			"With CreateTime, reject batches whose timestamp is more than this far in the future (INVALID_TIMESTAMP)."),
		tdef("min.insync.replicas", TypeInt, "1", atLeast(TypeInt, 1), "min.insync.replicas",
			"Fewest in-sync replicas for an acks=all produce to succeed. Weir acknowledges a write once it is durable in the WAL, so this is reported, not enforced."),
		tdef("compression.type", TypeString, "producer", oneOf("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"), "compression.type",
			`Final compression of the topic's data: a codec (gzip, snappy, lz4, zstd), uncompressed, or "producer" to keep what the producer sent.`),
		tdef("segment.bytes", TypeInt, "1073741824", atLeast(TypeInt, 14), "log.segment.bytes",
			"Size of a log segment; retention and compaction work a segment at a time."),
		tdef("segment.ms", TypeLong, "604800000", atLeast(TypeLong, 1), "log.roll.ms",
			"Start a new segment after this long even if it is not full, so retention and compaction can act on old data."),
		tdef("segment.jitter.ms", TypeLong, "0", atLeast(TypeLong, 0), "log.roll.jitter.ms",
			"Largest random amount subtracted from segment.ms, to spread out segment rolls."),
		tdef("delete.retention.ms", TypeLong, "86400000", atLeast(TypeLong, 0), "log.cleaner.delete.retention.ms",
			"How long delete tombstones are kept in compacted topics, so that consumers reading from the start see them."),
		tdef("min.compaction.lag.ms", TypeLong, "0", atLeast(TypeLong, 0), "log.cleaner.min.compaction.lag.ms",
			"A record stays uncompacted for at least this long."),
		tdef("max.compaction.lag.ms", TypeLong, maxLong, atLeast(TypeLong, 1), "log.cleaner.max.compaction.lag.ms",
			"A record becomes eligible for compaction after at most this long."),
		tdef("min.cleanable.dirty.ratio", TypeDouble, "0.5", doubleBetween(0, 1), "log.cleaner.min.cleanable.ratio",
			"Compact when at least this fraction of the log is uncompacted (and min.compaction.lag.ms allows)."),
		tdef("file.delete.delay.ms", TypeLong, "60000", atLeast(TypeLong, 0), "log.segment.delete.delay.ms",
			"How long to wait before deleting a file removed from the log."),
		tdef("flush.messages", TypeLong, maxLong, atLeast(TypeLong, 1), "log.flush.interval.messages",
			"Force an fsync after this many messages. Weir makes every batch durable in the WAL before acknowledging it."+noEffect),
		tdef("flush.ms", TypeLong, maxLong, atLeast(TypeLong, 0), "log.flush.interval.ms",
			"Force an fsync after this long. Weir makes every batch durable in the WAL before acknowledging it."+noEffect),
		tdef("index.interval.bytes", TypeInt, "4096", atLeast(TypeInt, 0), "log.index.interval.bytes",
			"How often Kafka adds an offset index entry."+noEffect),
		tdef("segment.index.bytes", TypeInt, "10485760", atLeast(TypeInt, 4), "log.index.size.max.bytes",
			"Size of Kafka's per-segment offset index."+noEffect),
		tdef("preallocate", TypeBoolean, "false", boolean(), "log.preallocate",
			"Preallocate segment files on disk."+noEffect),
		tdef("unclean.leader.election.enable", TypeBoolean, "false", boolean(), "unclean.leader.election.enable",
			"Allow an out-of-sync replica to become leader. Weir partitions have one owner and no replicas to elect from."+noEffect),
		tdef("message.downconversion.enable", TypeBoolean, "true", boolean(), "log.message.downconversion.enable",
			"Down-convert batches for old fetch versions. Weir serves batches as stored."+noEffect),
	}

	sort.Slice(defs, func(i, j int) bool { return defs[i].Name < defs[j].Name })
	return defs
}

// TopicDefs returns the topic setting definitions, sorted by name.
func TopicDefs() []Def {
	out := make([]Def, len(topicDefs))
	for i := range topicDefs {
		out[i] = topicDefs[i].copy()
	}
	return out
}

// TopicDef returns the definition of the named topic setting.
func TopicDef(name string) (Def, bool) {
	d, ok := topicByName[name]
	if !ok {
		return Def{}, false
	}
	return d.copy(), true
}
