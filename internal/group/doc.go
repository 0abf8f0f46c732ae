// Package group is Weir's group coordinator: classic consumer groups
// (JoinGroup, SyncGroup, Heartbeat, LeaveGroup), KIP-848 consumer groups
// (ConsumerGroupHeartbeat, ConsumerGroupDescribe) and committed offsets,
// as Kafka's group coordinator runs them.
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
// # KIP-848 consumer groups
//
// A group of type "consumer" (consumer.go) is assigned by the
// coordinator. Its group epoch is bumped when a member joins, leaves or
// is fenced, when a subscription or preferred assignor changes, and when
// the subscribed topics' metadata (ID, partition count) changes, which
// every heartbeat checks; each bump computes a new target assignment with
// the assignor most members prefer (assign.go: "uniform", sticky, the
// default; "range"). Each heartbeat then moves its member one step toward
// its target (Kafka's CurrentAssignmentBuilder): partitions to give up
// are removed from its assignment and stay held by it ("pending
// revocation") until a heartbeat no longer reports them; only then does
// the member take the target epoch and the partitions of its target that
// no other member holds (the rest once released). Members are fenced
// when their session (group.consumer.session.timeout.ms) expires or when
// they do not revoke within their rebalance timeout. A static member
// leaving with epoch -2 keeps its place and assignment until its session
// expires; a member with its instance ID then takes it over, anything
// else with that ID is UNRELEASED_INSTANCE_ID. An empty group of either
// type converts to the other on its first member; a non-empty one
// refuses the other protocol (no online migration). Members commit with
// their member epoch (OffsetCommit v9+): the current one, or an older one
// for partitions held since then (KIP-1251; those epochs are kept in
// memory only, so after a reload only the current epoch commits); fetches
// naming a member must carry its current epoch.
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
//	Weir consumer group key (group)        Weir consumer group value (below),
//	                                       nil to delete
//
// Kafka keeps a KIP-848 group in several record types (keys 3-8) that
// kmsg has no codecs for; Weir keeps the whole group in one record,
// rewritten on every change, under a key version Kafka does not use
// (0x5700), so Kafka's loaders skip it as an unknown type. In Kafka's
// primitive encodings (int16/int32/int64 big endian, STRING and
// NULLABLE_STRING with an int16 length, ARRAY with an int32 count, UUID
// 16 bytes):
//
//	key:   int16 0x5700, STRING group
//	value: int16 version (0), int32 group epoch, int32 target assignment
//	       epoch, int64 subscribed metadata hash, ARRAY members of:
//	         STRING member ID, NULLABLE_STRING instance ID,
//	         NULLABLE_STRING rack ID, STRING client ID, STRING client host,
//	         int32 rebalance timeout ms, int32 member epoch,
//	         int32 previous member epoch, int8 state (0 stable,
//	         1 unrevoked partitions, 2 unreleased partitions),
//	         ARRAY STRING subscribed topic names,
//	         NULLABLE_STRING subscribed regex, STRING server assignor,
//	         assigned, pending revocation, target: each
//	           ARRAY of (UUID topic ID, ARRAY int32 partitions)
//
// It is written, and the heartbeat answered only once it is durable,
// whenever the group epoch, a member's epoch, state, assignment or
// subscription changes, so a restarted coordinator resumes every member
// at the epoch it was last told and epochs never go backwards. Converting
// a group writes the tombstone of its other kind; at load the later of
// the two records wins.
//
// When topics are deleted, every group's offsets of them are deleted too
// (DeleteTopicOffsets), as Kafka does, so a topic recreated under the
// same name does not inherit them.
//
// Classic group metadata is written when a generation completes (the leader's
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
