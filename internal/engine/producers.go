package engine

import (
	"errors"
	"fmt"
	"math"
	"sort"

	"github.com/weirdb/weir/internal/batch"
)

// Producer state errors; the API layer maps them to Kafka codes.
var (
	// ErrOutOfOrderSequence is OUT_OF_ORDER_SEQUENCE_NUMBER: the batch does
	// not continue its producer's sequence and is not one of its last
	// batches retried.
	ErrOutOfOrderSequence = errors.New("out of order sequence number")
	// ErrInvalidProducerEpoch is INVALID_PRODUCER_EPOCH: a newer epoch of
	// the producer id has written to the partition (a zombie producer).
	ErrInvalidProducerEpoch = errors.New("invalid producer epoch")
	// ErrInvalidTxnState is INVALID_TXN_STATE: a producer with an open
	// transaction in the partition wrote a non-transactional batch.
	ErrInvalidTxnState = errors.New("invalid transaction state")
)

// Control batch types (the EndTransactionMarker key's type field), and
// ctrlNone for a data batch.
const (
	ctrlNone   int8 = -1
	CtrlAbort  int8 = 0
	CtrlCommit int8 = 1
)

// AbortedTxn is one aborted transaction in a partition: its producer, the
// offset of its first batch and the offset of its abort marker.
type AbortedTxn struct {
	ProducerID  int64
	FirstOffset int64
	LastOffset  int64
}

// batchesToRetain is how many of a producer's last batches a partition
// remembers for duplicate detection: Kafka's NUM_BATCHES_TO_RETAIN, which
// is also the most in-flight requests an idempotent producer may have.
const batchesToRetain = 5

// batchMeta is what a partition remembers of one appended batch.
type batchMeta struct {
	firstSeq, lastSeq int32
	base, last        int64 // offsets of the first and last record
}

// producerEntry is a partition's state of one producer id. It is a plain
// value (no pointers), so saving and restoring it costs no allocation on
// the produce path.
type producerEntry struct {
	epoch  int16
	lastTs int64 // max timestamp of its last batch, for expiry
	// txnFirst is the offset of the first batch of the producer's open
	// transaction in the partition, -1 when none is open.
	txnFirst int64
	n        int // batches in use, 0..batchesToRetain (0 after a marker bumped the epoch)
	// buf[:n] holds the last batches of epoch, oldest first.
	buf [batchesToRetain]batchMeta
}

func (pe *producerEntry) batches() []batchMeta { return pe.buf[:pe.n] }

// lastSeq is the sequence of the producer's last batch, -1 when it has
// none in its epoch (so that the next must be 0, as Kafka's NO_SEQUENCE).
func (pe *producerEntry) lastSeq() int32 {
	if pe.n == 0 {
		return -1
	}
	return pe.buf[pe.n-1].lastSeq
}

// add records a batch of the entry's epoch, dropping the oldest beyond
// batchesToRetain.
func (pe *producerEntry) add(b batchMeta) {
	if pe.n == batchesToRetain {
		copy(pe.buf[:], pe.buf[1:])
		pe.n--
	}
	pe.buf[pe.n] = b
	pe.n++
}

// producerStates is one partition's producer state at some offset: every
// idempotent batch below it has been applied, none at or above it. It is
// Kafka's ProducerStateManager: producers' sequences and epochs, their
// open transactions, and the aborted transactions of the partition (its
// transaction index).
type producerStates struct {
	m map[int64]*producerEntry
	// aborted holds the aborted transactions, by increasing marker offset
	// (LastOffset), down to the log start offset.
	aborted []AbortedTxn
}

func newProducerStates() *producerStates {
	return &producerStates{m: make(map[int64]*producerEntry)}
}

func (s *producerStates) clone() *producerStates {
	c := &producerStates{m: make(map[int64]*producerEntry, len(s.m)), aborted: append([]AbortedTxn(nil), s.aborted...)}
	for id, pe := range s.m {
		cp := *pe
		c.m[id] = &cp
	}
	return c
}

// lastSequence is the sequence of a batch's last record; sequences wrap
// from MaxInt32 to 0, as in Kafka's DefaultRecordBatch.incrementSequence.
func lastSequence(h *batch.Header) int32 {
	return incrementSequence(h.BaseSequence, h.LastOffsetDelta)
}

func incrementSequence(seq, by int32) int32 {
	if seq > math.MaxInt32-by {
		return by - (math.MaxInt32 - seq) - 1
	}
	return seq + by
}

// inSequence is Kafka's ProducerAppendInfo.inSequence.
func inSequence(last, next int32) bool {
	return int64(next) == int64(last)+1 || (next == 0 && last == math.MaxInt32)
}

// hasProducer reports whether a batch carries producer state to check and
// record (an idempotent or transactional batch).
func hasProducer(h *batch.Header) bool { return h.ProducerID >= 0 }

// check decides what to do with an idempotent batch from a client, with
// Kafka's rules (UnifiedLog.analyzeAndValidateProducerState and
// ProducerAppendInfo.checkProducerEpoch/checkSequence, Kafka 3.x/4.x):
//
//   - a batch with the producer's current epoch and exactly the first and
//     last sequence of one of its retained batches is a duplicate: dup is
//     that batch, and the caller answers with its offsets and no error;
//   - an epoch below the producer's is ErrInvalidProducerEpoch;
//   - a new, higher epoch must start at sequence 0;
//   - the same epoch must continue the last sequence (lastSeq+1, wrapping);
//   - a producer the partition has no state for (new, expired, or whose
//     state was lost) may start at any sequence, as Kafka allows since
//     KIP-360; Kafka 3.x/4.x no longer answer UNKNOWN_PRODUCER_ID here.
//     Except, as Kafka 4.5 does (KAFKA-15591), in a partition that never
//     held a record (neverWritten): there it must start at sequence 0, or
//     of two requests in flight to a new partition the first could be
//     lost when the second overtakes it.
func (s *producerStates) check(h *batch.Header, neverWritten bool) (dup *batchMeta, err error) {
	pe := s.m[h.ProducerID]
	if h.IsControl() || h.BaseSequence < 0 {
		// A marker from the transaction coordinator, or a coordinator's
		// own transactional write (the group coordinator's TxnOffsetCommit;
		// clients' batches with a producer id always have a sequence, the
		// API layer sees to it): no sequence to check, as Kafka checks
		// none for coordinator appends; only an older epoch is refused.
		if pe != nil && h.ProducerEpoch < pe.epoch {
			return nil, fmt.Errorf("%w: marker of producer %d epoch %d is older than %d", ErrInvalidProducerEpoch, h.ProducerID, h.ProducerEpoch, pe.epoch)
		}
		return nil, nil
	}
	if pe != nil && pe.txnFirst >= 0 && !h.IsTransactional() && h.ProducerEpoch == pe.epoch {
		return nil, fmt.Errorf("%w: producer %d wrote a non-transactional batch during its transaction", ErrInvalidTxnState, h.ProducerID)
	}
	if pe == nil {
		if neverWritten && h.BaseSequence != 0 {
			return nil, fmt.Errorf("%w: producer %d starts at sequence %d in a partition that never held a record", ErrOutOfOrderSequence, h.ProducerID, h.BaseSequence)
		}
		return nil, nil
	}
	last := lastSequence(h)
	if h.ProducerEpoch == pe.epoch {
		for i := range pe.batches() {
			b := &pe.buf[i]
			if b.firstSeq == h.BaseSequence && b.lastSeq == last {
				return b, nil
			}
		}
	}
	switch {
	case h.ProducerEpoch < pe.epoch:
		return nil, fmt.Errorf("%w: producer %d epoch %d is older than %d", ErrInvalidProducerEpoch, h.ProducerID, h.ProducerEpoch, pe.epoch)
	case h.ProducerEpoch > pe.epoch:
		if h.BaseSequence != 0 {
			return nil, fmt.Errorf("%w: producer %d new epoch %d must start at sequence 0, not %d", ErrOutOfOrderSequence, h.ProducerID, h.ProducerEpoch, h.BaseSequence)
		}
	default:
		if !inSequence(pe.lastSeq(), h.BaseSequence) {
			return nil, fmt.Errorf("%w: producer %d epoch %d sequence %d does not follow %d", ErrOutOfOrderSequence, h.ProducerID, h.ProducerEpoch, h.BaseSequence, pe.lastSeq())
		}
	}
	return nil, nil
}

// undo is what apply changed, for restore.
type undo struct {
	id         int64
	existed    bool
	prev       producerEntry
	abortedLen int
}

// apply records an appended data batch (base is its assigned first
// offset) without checking it; see applyBatch.
func (s *producerStates) apply(h *batch.Header, base int64) undo {
	return s.applyBatch(h, base, ctrlNone)
}

// applyBatch records an appended batch without checking it: on append
// after check, and when rebuilding state from the log, where every batch
// was checked when first written. ctrl is the marker type of a control
// batch (see controlType). What it returns undoes it (restore), for an
// append that fails after all.
//
// A transactional data batch opens its producer's transaction if none is
// open; a marker closes it, and an abort marker adds it to the aborted
// transactions. A marker with a newer epoch (the coordinator fencing or
// aborting on the producer's behalf) moves the producer to that epoch
// with no batches, so its next batch must start at sequence 0.
func (s *producerStates) applyBatch(h *batch.Header, base int64, ctrl int8) undo {
	u := undo{id: h.ProducerID, abortedLen: len(s.aborted)}
	pe := s.m[h.ProducerID]
	if pe != nil {
		u.existed, u.prev = true, *pe
	} else {
		pe = &producerEntry{epoch: h.ProducerEpoch, txnFirst: -1}
		s.m[h.ProducerID] = pe
	}
	if h.IsControl() {
		if h.ProducerEpoch > pe.epoch {
			pe.epoch, pe.n = h.ProducerEpoch, 0
		}
		if pe.txnFirst >= 0 && ctrl == CtrlAbort {
			s.aborted = append(s.aborted, AbortedTxn{ProducerID: h.ProducerID, FirstOffset: pe.txnFirst, LastOffset: base})
		}
		pe.txnFirst = -1
		pe.lastTs = h.MaxTimestamp
		return u
	}
	if h.ProducerEpoch != pe.epoch {
		pe.n = 0
	}
	pe.epoch = h.ProducerEpoch
	pe.lastTs = h.MaxTimestamp
	if h.IsTransactional() && pe.txnFirst < 0 {
		pe.txnFirst = base
	}
	if h.BaseSequence < 0 {
		return u // a coordinator's write: no sequence to remember
	}
	pe.add(batchMeta{
		firstSeq: h.BaseSequence,
		lastSeq:  lastSequence(h),
		base:     base,
		last:     base + int64(h.LastOffsetDelta),
	})
	return u
}

// restore undoes an apply; only the latest apply of a producer id may be
// undone.
func (s *producerStates) restore(u undo) {
	s.aborted = s.aborted[:u.abortedLen]
	if !u.existed {
		delete(s.m, u.id)
		return
	}
	*s.m[u.id] = u.prev
}

// expire forgets producers whose last batch is older than cutoff (unix
// ms, inclusive), as Kafka does after producer.id.expiration.ms, and
// returns how many. A producer with an open transaction is kept: its
// transaction still bounds the last stable offset until the coordinator
// ends it.
func (s *producerStates) expire(cutoff int64) int {
	n := 0
	for id, pe := range s.m {
		if pe.lastTs <= cutoff && pe.txnFirst < 0 {
			delete(s.m, id)
			n++
		}
	}
	return n
}

// ids returns the producer ids in increasing order.
func (s *producerStates) ids() []int64 {
	ids := make([]int64, 0, len(s.m))
	for id := range s.m {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// trimAborted forgets aborted transactions whose marker is below
// logStart: no fetch can reach them any more.
func (s *producerStates) trimAborted(logStart int64) {
	i := sort.Search(len(s.aborted), func(i int) bool { return s.aborted[i].LastOffset >= logStart })
	if i > 0 {
		s.aborted = append([]AbortedTxn(nil), s.aborted[i:]...)
	}
}

// controlType returns the marker type of a control batch (CtrlAbort or
// CtrlCommit), read from its first record's key, or ctrlNone for a data
// batch or a control batch that is not a transaction marker.
func controlType(h *batch.Header, raw []byte) int8 {
	if !h.IsControl() {
		return ctrlNone
	}
	t := ctrlNone
	_ = batch.Records(raw, func(r batch.Record) bool {
		if len(r.Key) >= 4 {
			switch v := int16(r.Key[2])<<8 | int16(r.Key[3]); v {
			case 0:
				t = CtrlAbort
			case 1:
				t = CtrlCommit
			}
		}
		return false
	})
	return t
}
