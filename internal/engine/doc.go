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
//	                                         log start offset, next offset to upload
//	objs/<topic id hex>/<partition %010d>/<first offset %020d>
//	                                         rangeRecord JSON: object key, first and last
//	                                         offset, max timestamp, block position, length, CRC
//	gc/<object key>                          an object that lost its last reference
//	                                         (retention, DeleteRecords, topic deletion)
//
// Object keys are data/<node id %010d>/<unix ms %013d>-<sequence %08d>-<random hex>.obj,
// unique and never overwritten; their format is documented in package objfmt.
package engine
