// Package engine is Weir's storage engine for one broker: it owns the
// partitions this broker leads, assigns offsets, makes produced batches
// durable in the WAL, uploads them into objects, serves reads from the log
// cache or object storage, and applies retention.
//
// # Durability order
//
// Produce: assign offsets (under the partition's append lock) -> WAL append
// -> WAL durable (group-commit fsync) -> high watermark advances -> ack.
// Upload: PUT an object holding every durable, not yet uploaded batch of
// every partition -> one metadata transaction commits the object's ranges,
// guarded by each partition's state revision (so a fenced owner cannot
// commit) -> the WAL is trimmed below the oldest batch still not uploaded.
// A crash between PUT and commit leaves an orphan object, deleted by the
// orphan sweep after weir.orphan.grace.ms; a crash between commit and trim
// leaves WAL entries whose offsets are already committed, skipped on replay.
//
// # Producer state (idempotent producers)
//
// Each partition keeps, per producer id, its epoch, the timestamp of its
// last batch and its last 5 batches (first and last sequence, first and
// last offset): Kafka's ProducerStateManager, with Kafka's sequence and
// epoch rules (producers.go). Append checks a batch with a producer id
// under the append lock, before it gets offsets: a retried duplicate is
// answered with the original's offsets (once the original is durable),
// never appended twice. Idle producers are forgotten after
// producer.id.expiration.ms, by the retention loop.
//
// Two copies are kept: the live state, after every appended batch, and
// the upload state, as of the partition's upload point (state.Next). The
// uploader advances the upload state with the batches it commits and,
// every ProducerSnapshotBytes (or ProducerSnapshotInterval) of a
// partition's uploads, PUTs a snapshot of it (format in prodsnap.go) to
// snap/<topic id hex>/<partition %010d>/<offset %020d>-<random hex>.snap
// before the commit, and names it in the partition state (psnap, psnapAt)
// in the same transaction that commits the ranges; the snapshot it
// replaces becomes garbage in that transaction. When uploaded batches with
// producer ids are committed without a snapshot, the state records the
// first one's offset (preplay).
//
// Recovery (Open, after kill -9 or not): load the snapshot, replay the
// producer ids of uploaded batches from preplay to the upload point
// (reading only those objects' blocks), then the WAL replay applies the
// batches not yet uploaded. Snapshots only ever hold committed, durable
// batches, and every durable batch is either below the upload point (in
// objects) or in the WAL, so the rebuilt state is exactly that of the
// durable log: a batch acknowledged before a crash and retried after it is
// still recognised as a duplicate. A lost snapshot PUT only means a longer
// replay. (Key compaction, when it rewrites objects, must write a snapshot
// first or keep each producer's last batch, as Kafka's cleaner does.)
//
// # Transactions
//
// The producer state also keeps, per producer, the first offset of its
// open transaction in the partition (set by its first transactional
// batch, cleared by a marker), and the partition's aborted transactions
// (producer id, first offset, marker offset: Kafka's transaction index),
// down to the log start offset. A marker (a control batch written by the
// transaction coordinator, WriteMarker) with a newer epoch moves the
// producer to that epoch, fencing the old one. Snapshot format version 2
// carries both (prodsnap.go), and replay applies markers, so open and
// aborted transactions are rebuilt exactly like sequences.
//
// A separate index of the same (txnindex.go), guarded by mu, changes only
// when the WAL reports a batch durable, in offset order: the last stable
// offset is the first offset of the oldest open transaction, or the high
// watermark; ReadCommitted stops there and AbortedTxns answers the aborted
// transactions overlapping a fetched range.
//
// # WAL entry format
//
// Every WAL entry is one record batch with its partition:
//
//	offset  size  field
//	0       1     entry version (1)
//	1       16    topic ID
//	17      4     partition (int32, big-endian)
//	21      4     leader epoch the batch was written in
//	25      ...   the record batch, offsets and epoch already assigned
//
// # Metadata keys
//
// All keys are relative to the metadata store's prefix (/weir/ in etcd):
//
//	cluster/id                               the cluster ID (22-char base64)
//	topics/<name>                            topicRecord JSON: ID, partition count, configs
//	parts/<topic id hex>/<partition %010d>   partState JSON: owner, epoch, epoch history,
//	                                         log start offset, next offset to upload,
//	                                         producer snapshot (see above)
//	objs/<topic id hex>/<partition %010d>/<first offset %020d>
//	                                         rangeRecord JSON: object key, first and last
//	                                         offset, max timestamp, block position, length, CRC
//	gc/<object key>                          an object that lost its last reference
//	                                         (retention, DeleteRecords, topic deletion)
//	producer-ids/next                        the next producer id not yet reserved
//	                                         (decimal; brokers reserve blocks of 1000 by CAS)
//
// Object keys are data/<node id %010d>/<unix ms %013d>-<sequence %08d>-<random hex>.obj,
// unique and never overwritten; their format is documented in package objfmt.
package engine
