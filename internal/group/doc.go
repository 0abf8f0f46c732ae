// Package group is Weir's group coordinator: classic consumer groups
// (JoinGroup, SyncGroup, Heartbeat, LeaveGroup) and committed offsets, as
// Kafka's GroupCoordinator runs them. KIP-848 groups (ConsumerGroupHeartbeat)
// are not implemented.
//
// # Threading
//
// Groups are sharded by the partition of __consumer_offsets they map to
// (abs(javaHashCode(group)) % partitions, as Kafka maps them). Each shard
// is owned by one goroutine fed by an unbounded queue; requests, timers
// (session expiry, rebalance timeout, initial rebalance delay, pending
// sync, offset expiry) and storage completions all reach the state as
// functions run on that goroutine, so nothing in a group is locked.
// Requests that must wait (JoinGroup until the join phase ends, SyncGroup
// until the leader's assignment is stored, commits until durable) park a
// reply function in the state and are answered later.
//
// # State machine
//
//	Empty --(member joins)--> PreparingRebalance
//	PreparingRebalance --(all members rejoined, or rebalance timeout)--> CompletingRebalance
//	PreparingRebalance --(no member left)--> Empty (next generation)
//	CompletingRebalance --(leader's assignment stored)--> Stable
//	CompletingRebalance, Stable --(member joins, leaves, changes protocols,
//	    session or sync expires; leader rejoins)--> PreparingRebalance
//	any --(DeleteGroups, or offsets expired while Empty)--> Dead (forgotten)
//
// A new group's first rebalance waits group.initial.rebalance.delay.ms,
// extended while members keep arriving, within the rebalance timeout.
// Dynamic members that do not rejoin within the rebalance timeout are
// dropped; static members (group.instance.id) keep their place and
// assignment across restarts until their session expires, and a new join
// with a known instance ID fences the old member ID (FENCED_INSTANCE_ID).
// The broker never looks inside assignments: it relays the leader's, so
// eager and cooperative balancers both work.
//
// # Records
//
// Each shard writes to its partition of __consumer_offsets (an internal,
// compacted topic) with Kafka's schemas, so Kafka tools can read it:
//
//	key                                    value
//	OffsetCommitKey v1 (group, topic, p)   OffsetCommitValue v3 (offset, leader epoch,
//	                                       metadata, commit timestamp), nil to delete
//	GroupMetadataKey v2 (group)            GroupMetadataValue v3 (protocol type,
//	                                       generation, protocol, leader, state
//	                                       timestamp, members with subscription and
//	                                       assignment), nil to delete
//
// When topics are deleted, every group's offsets of them are deleted too
// (DeleteTopicOffsets), as Kafka does, so a topic recreated under the
// same name does not inherit them.
//
// Group metadata is written when a generation completes (the leader's
// assignment, or an Empty generation), when a static member is replaced
// in a Stable group, and deleted with the group.
//
// # Durability order
//
// An offset commit is appended, and answered and made visible to
// OffsetFetch only once the log says it is durable; completions are
// applied in log order, so memory always matches what a reload of the log
// would rebuild. A partition's groups are rebuilt on start by reading it
// from its log start offset to its high watermark (later records win,
// nil values delete); until then the shard answers
// COORDINATOR_LOAD_IN_PROGRESS.
package group
