// Package share is Weir's share group coordinator (KIP-932, Kafka 4.2
// level): share group membership (ShareGroupHeartbeat), share sessions
// and record acquisition (ShareFetch, ShareAcknowledge), and the
// share-partition state that Kafka keeps through its share coordinator in
// __share_group_state.
//
// # Share-partitions
//
// A share-partition is one group's view of one topic partition: the
// share-partition start offset (SPSO) and the state of every offset from
// it to the end of the in-flight window. Offsets past the window have never
// been delivered.
//
//	Available --ShareFetch--> Acquired (delivery count + 1, lock until
//	    now + share.record.lock.duration.ms)
//	Acquired --ACCEPT--> Acknowledged
//	Acquired --REJECT or GAP--> Archived
//	Acquired --RELEASE, lock expiry, member leaves or times out, session
//	    closes--> Available, or Archived once delivered
//	    share.delivery.count.limit times
//	Acquired --RENEW (v2 IsRenewAck)--> Acquired with a fresh lock
//
// The SPSO moves past every leading Acknowledged or Archived offset (and
// up to the log start offset when retention removed records). The window
// may not grow past SPSO + 2000 records (Kafka's
// group.share.partition.max.record.locks). A new share-partition starts at
// the high watermark, or at the log start offset when the group's
// share.auto.offset.reset is earliest.
//
// Every member of a share group is assigned every partition of every
// topic it subscribes to (share groups share partitions); records, not
// partitions, are divided among members.
//
// # Threading
//
// One mutex guards all state; handlers take it for short, non-blocking
// steps. State writes are appended to the log under it (so the log holds
// them in order) and waited for outside it. One goroutine, owned by the
// Coordinator and stopped by Stop, expires acquisition locks and members
// whose session timed out.
//
// # Records of __share_group_state
//
// The state topic (cleanup.policy=compact, 50 partitions) holds one record
// per change; all of a group's records go to partition
// crc32(group) % partitions, so their order is kept. Integers are
// big-endian, a string is an int16 length and its bytes. A null value is a
// tombstone. Later records replace earlier ones with the same key.
//
//	key                                   value (int16 version 0 first)
//	int16 0, string group,                int64 SPSO, int32 n, n x (int64 first
//	  [16]byte topic ID, int32 partition    offset, int32 count, int8 state,
//	                                        int16 delivery count)
//	int16 1, string group                 int32 group epoch
//	int16 2, string group                 int32 n, n x (string name, string value)
//
// The runs of a share-partition record list every offset at or above the
// SPSO that is Acknowledged (2), Archived (4), or Available (0) after at
// least one delivery; Acquired records are written as Available with
// their delivery count. A share-partition is written when it is first
// used, after every acknowledgement (the response waits until the write is
// durable), when locks expire, when a member leaves or its session closes,
// and by AlterShareGroupOffsets / DeleteShareGroupOffsets (tombstones).
// The group epoch is written whenever it changes; DeleteGroups writes
// tombstones for the group, its configs and its share-partitions.
//
// # Recovery and what is not durable
//
// Start reads every partition of the state topic from its log start
// offset before serving. An acknowledged record is never redelivered after
// a crash and the SPSO never goes backwards. Not durable, as in memory
// only: members (they rejoin after a restart: heartbeats get
// UNKNOWN_MEMBER_ID), share sessions (clients get SHARE_SESSION_NOT_FOUND
// and open new ones), acquisitions (records acquired at the crash are
// delivered again), and delivery counts of acquisitions since the last
// write of the share-partition. Deviation: the state topic is never
// compacted (Weir does not apply key compaction yet), so a load reads
// every record ever written.
package share
