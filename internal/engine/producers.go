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
)

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
	n      int   // batches in use, 1..batchesToRetain
	// buf[:n] holds the last batches of epoch, oldest first.
	buf [batchesToRetain]batchMeta
}

func (pe *producerEntry) batches() []batchMeta { return pe.buf[:pe.n] }

func (pe *producerEntry) lastSeq() int32 { return pe.buf[pe.n-1].lastSeq }

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
// Kafka's ProducerStateManager for data batches (no transactions).
type producerStates struct {
	m map[int64]*producerEntry
}

func newProducerStates() *producerStates {
	return &producerStates{m: make(map[int64]*producerEntry)}
}

func (s *producerStates) clone() *producerStates {
	c := &producerStates{m: make(map[int64]*producerEntry, len(s.m))}
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
	id      int64
	existed bool
	prev    producerEntry
}

// apply records an appended batch (base is its assigned first offset)
// without checking it: on append after check, and when rebuilding state
// from the log, where every batch was checked when first written. What it
// returns undoes it (restore), for an append that fails after all.
func (s *producerStates) apply(h *batch.Header, base int64) undo {
	u := undo{id: h.ProducerID}
	pe := s.m[h.ProducerID]
	if pe != nil {
		u.existed, u.prev = true, *pe
		if h.ProducerEpoch != pe.epoch {
			pe.n = 0
		}
	} else {
		pe = &producerEntry{}
		s.m[h.ProducerID] = pe
	}
	pe.epoch = h.ProducerEpoch
	pe.lastTs = h.MaxTimestamp
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
	if !u.existed {
		delete(s.m, u.id)
		return
	}
	*s.m[u.id] = u.prev
}

// expire forgets producers whose last batch is older than cutoff (unix
// ms, inclusive), as Kafka does after producer.id.expiration.ms, and
// returns how many.
func (s *producerStates) expire(cutoff int64) int {
	n := 0
	for id, pe := range s.m {
		if pe.lastTs <= cutoff {
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
