// Package txn is Weir's transaction coordinator: Kafka's
// TransactionCoordinator and TransactionStateManager for transaction
// version 1 (KIP-98, with KIP-360 epoch bumps and KIP-890 part 1
// verification; not part 2's per-transaction epoch bumps).
//
// # Threading
//
// Transactional ids are sharded by the partition of __transaction_state
// they map to (abs(javaHashCode(id)) % partitions, as Kafka). Each shard
// is one goroutine fed by an unbounded queue; requests, state-write
// completions, marker completions and the timeout sweep all run as
// functions on it, so nothing in a transaction is locked. A transaction
// with a state write in flight, or whose markers are being written, is
// busy: requests that would change it get CONCURRENT_TRANSACTIONS, as
// Kafka answers during a pending transition.
//
// # State machine (Kafka's TransactionState)
//
//	(none) --InitProducerId--> Empty (new producer id, epoch 0)
//	Empty, CompleteCommit, CompleteAbort --InitProducerId--> Empty (epoch+1;
//	    a new producer id at epoch 0 once the epoch is exhausted)
//	Ongoing --InitProducerId or timeout--> PrepareAbort (epoch+1: fences the
//	    old producer; InitProducerId answers CONCURRENT_TRANSACTIONS and the
//	    client retries once the abort completed)
//	Empty, Complete*, Ongoing --AddPartitionsToTxn/AddOffsetsToTxn--> Ongoing
//	Ongoing --EndTxn--> PrepareCommit | PrepareAbort (answered once durable)
//	Prepare* --every marker durable--> CompleteCommit | CompleteAbort
//
// Every transition is a record written to the shard's partition and takes
// effect (and is answered) only once durable. Markers (control batches with
// Kafka's EndTransactionMarker) are written to every partition of the
// transaction by the Markers implementation, off the loop, and retried
// until they all succeed; markers for __consumer_offsets partitions also
// settle the group coordinator's transactional offset commits.
//
// # Records
//
//	key                                 value
//	TransactionLogKey v0 (id)           TransactionLogValue v0 (producer id,
//	                                    epoch, timeout, state, partitions,
//	                                    last update and start timestamps)
//
// # Recovery
//
// A partition's transactions are rebuilt on start by reading it from its
// log start offset to its high watermark (later records win); until then
// its ids get COORDINATOR_LOAD_IN_PROGRESS. Transactions found in
// PrepareCommit or PrepareAbort get their markers written again (a second
// marker for an ended transaction is harmless) and are completed; Ongoing
// ones stay open until ended or timed out. The data partitions keep their
// own view of open and aborted transactions in their producer state (see
// package engine), which survives restarts independently.
//
// Transactional ids idle for transactional.id.expiration.ms with no
// transaction open are deleted (a tombstone), checked with the timeout
// sweep. Deviation: the state topic is never compacted (key compaction
// does not exist yet), so a load reads every record.
package txn
