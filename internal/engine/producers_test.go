package engine

import (
	"errors"
	"math"
	"testing"

	"github.com/weirdb/weir/internal/batch"
)

// step is one batch offered to a partition's producer state, and what
// must come of it.
type step struct {
	pid   int64
	epoch int16
	seq   int32 // base sequence
	n     int32 // records
	want  string
	// dupOf, for want "dup", is the index of the step whose batch this
	// one duplicates.
	dupOf int
}

const (
	ok       = "ok"
	dup      = "dup"
	outOfSeq = "out_of_order"
	oldEpoch = "invalid_epoch"
)

// TestProducerSequenceRules runs scripts of batches through the producer
// state machine, checking each outcome against Kafka's rules.
func TestProducerSequenceRules(t *testing.T) {
	tests := []struct {
		name  string
		empty bool // the log never held a record (else it starts at 100)
		steps []step
	}{
		{"first batch of an unknown producer may start anywhere", false, []step{
			{pid: 1, seq: 0, n: 3, want: ok},
			{pid: 2, seq: 42, n: 1, want: ok},
			{pid: 2, seq: 43, n: 2, want: ok},
		}},
		{"but not in a log that never held a record (KAFKA-15591)", true, []step{
			{pid: 1, seq: 5, n: 1, want: outOfSeq},
			{pid: 1, seq: 0, n: 5, want: ok},
			{pid: 2, seq: 5, n: 1, want: ok},
		}},
		{"in sequence", false, []step{
			{pid: 1, seq: 0, n: 5, want: ok},
			{pid: 1, seq: 5, n: 1, want: ok},
			{pid: 1, seq: 6, n: 10, want: ok},
		}},
		{"gap is out of order", false, []step{
			{pid: 1, seq: 0, n: 5, want: ok},
			{pid: 1, seq: 6, n: 1, want: outOfSeq},
			{pid: 1, seq: 5, n: 1, want: ok},
		}},
		{"retry of the last batch is a duplicate", false, []step{
			{pid: 1, seq: 0, n: 5, want: ok},
			{pid: 1, seq: 0, n: 5, want: dup, dupOf: 0},
			{pid: 1, seq: 5, n: 1, want: ok},
		}},
		{"retry of any of the last five batches is a duplicate", false, []step{
			{pid: 1, seq: 0, n: 1, want: ok},
			{pid: 1, seq: 1, n: 1, want: ok},
			{pid: 1, seq: 2, n: 1, want: ok},
			{pid: 1, seq: 3, n: 1, want: ok},
			{pid: 1, seq: 4, n: 1, want: ok},
			{pid: 1, seq: 0, n: 1, want: dup, dupOf: 0},
			{pid: 1, seq: 2, n: 1, want: dup, dupOf: 2},
			{pid: 1, seq: 5, n: 1, want: ok},
			// The sixth batch pushed the first out: its retry is no longer
			// recognised, and it does not continue the sequence.
			{pid: 1, seq: 0, n: 1, want: outOfSeq},
			{pid: 1, seq: 1, n: 1, want: dup, dupOf: 1},
		}},
		{"same first sequence, different length is not a duplicate", false, []step{
			{pid: 1, seq: 0, n: 5, want: ok},
			{pid: 1, seq: 0, n: 4, want: outOfSeq},
		}},
		{"duplicate needs the same epoch", false, []step{
			{pid: 1, epoch: 0, seq: 0, n: 2, want: ok},
			{pid: 1, epoch: 1, seq: 0, n: 2, want: ok},
			{pid: 1, epoch: 0, seq: 0, n: 2, want: oldEpoch},
			{pid: 1, epoch: 1, seq: 0, n: 2, want: dup, dupOf: 1},
		}},
		{"new epoch must start at sequence 0 (KIP-360 bump)", false, []step{
			{pid: 1, epoch: 3, seq: 0, n: 5, want: ok},
			{pid: 1, epoch: 4, seq: 5, n: 1, want: outOfSeq},
			{pid: 1, epoch: 4, seq: 0, n: 1, want: ok},
			{pid: 1, epoch: 4, seq: 1, n: 1, want: ok},
			{pid: 1, epoch: 3, seq: 5, n: 1, want: oldEpoch},
		}},
		{"epoch may skip ahead", false, []step{
			{pid: 1, epoch: 0, seq: 0, n: 1, want: ok},
			{pid: 1, epoch: 9, seq: 0, n: 1, want: ok},
		}},
		{"producers are independent", false, []step{
			{pid: 1, seq: 0, n: 1, want: ok},
			{pid: 2, seq: 0, n: 1, want: ok},
			{pid: 1, seq: 1, n: 1, want: ok},
			{pid: 2, seq: 0, n: 1, want: dup, dupOf: 1},
			{pid: 2, seq: 2, n: 1, want: outOfSeq},
		}},
		{"sequence wraps after MaxInt32", false, []step{
			{pid: 1, seq: math.MaxInt32 - 1, n: 2, want: ok},
			{pid: 1, seq: 0, n: 3, want: ok},
			{pid: 1, seq: 3, n: 1, want: ok},
		}},
		{"batch spanning the wrap", false, []step{
			{pid: 1, seq: math.MaxInt32 - 1, n: 4, want: ok},
			{pid: 1, seq: math.MaxInt32 - 1, n: 4, want: dup, dupOf: 0},
			{pid: 1, seq: 2, n: 1, want: ok},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newProducerStates()
			next := int64(100)
			if tt.empty {
				next = 0
			}
			bases := make([]int64, len(tt.steps))
			for i, st := range tt.steps {
				h := batch.Header{ProducerID: st.pid, ProducerEpoch: st.epoch, BaseSequence: st.seq, LastOffsetDelta: st.n - 1, NumRecords: st.n, MaxTimestamp: int64(i)}
				d, err := s.check(&h, next == 0)
				got := ok
				switch {
				case errors.Is(err, ErrOutOfOrderSequence):
					got = outOfSeq
				case errors.Is(err, ErrInvalidProducerEpoch):
					got = oldEpoch
				case err != nil:
					t.Fatalf("step %d: unexpected error %v", i, err)
				case d != nil:
					got = dup
				}
				if got != st.want {
					t.Fatalf("step %d (%+v): got %s (err %v), want %s", i, st, got, err, st.want)
				}
				switch got {
				case ok:
					bases[i] = next
					s.apply(&h, next)
					next += int64(st.n)
				case dup:
					if d.base != bases[st.dupOf] || d.last != bases[st.dupOf]+int64(st.n)-1 {
						t.Fatalf("step %d: duplicate at %d-%d, want the batch of step %d at %d", i, d.base, d.last, st.dupOf, bases[st.dupOf])
					}
				}
			}
			// A snapshot round trip keeps exactly this state.
			snap := encodeSnapshot(s, next)
			back, at, err := decodeSnapshot(snap)
			if err != nil || at != next {
				t.Fatalf("snapshot round trip: offset %d, err %v", at, err)
			}
			if got := encodeSnapshot(back, at); string(got) != string(snap) {
				t.Fatal("snapshot round trip changed the state")
			}
		})
	}
}

func TestProducerRestoreAndExpire(t *testing.T) {
	s := newProducerStates()
	h := batch.Header{ProducerID: 1, BaseSequence: 0, NumRecords: 1, MaxTimestamp: 100}
	s.apply(&h, 0)
	h2 := batch.Header{ProducerID: 1, BaseSequence: 1, NumRecords: 1, MaxTimestamp: 200}
	s.restore(s.apply(&h2, 1))
	if got := s.m[1].lastSeq(); got != 0 {
		t.Fatalf("after restore last sequence %d, want 0", got)
	}
	h3 := batch.Header{ProducerID: 2, BaseSequence: 0, NumRecords: 1, MaxTimestamp: 300}
	s.restore(s.apply(&h3, 1))
	if _, ok := s.m[2]; ok {
		t.Fatal("restore of a new producer kept it")
	}
	s.apply(&h3, 1)
	if n := s.expire(200); n != 1 || s.m[1] != nil || s.m[2] == nil {
		t.Fatalf("expire(200) removed %d, left %v", n, s.ids())
	}
}

func TestDecodeSnapshotRejects(t *testing.T) {
	s := newProducerStates()
	s.apply(&batch.Header{ProducerID: 5, BaseSequence: 0, NumRecords: 3, LastOffsetDelta: 2}, 10)
	good := encodeSnapshot(s, 13)
	if _, _, err := decodeSnapshot(good); err != nil {
		t.Fatal(err)
	}
	// Batch beyond the snapshot's offset: the CRC is fine, the content not.
	bad := encodeSnapshot(s, 12)
	if _, _, err := decodeSnapshot(bad); !errors.Is(err, errBadSnapshot) {
		t.Fatalf("batch past offset: %v", err)
	}
	flip := append([]byte(nil), good...)
	flip[20] ^= 1
	if _, _, err := decodeSnapshot(flip); !errors.Is(err, errBadSnapshot) {
		t.Fatalf("flipped bit: %v", err)
	}
	if _, _, err := decodeSnapshot(good[:len(good)-1]); !errors.Is(err, errBadSnapshot) {
		t.Fatalf("truncated: %v", err)
	}
}

// FuzzDecodeSnapshot: decoding arbitrary bytes never panics, and what
// decodes re-encodes to the same bytes (the format is canonical; a
// version 1 snapshot re-encodes as version 2 and decodes back the same).
func FuzzDecodeSnapshot(f *testing.F) {
	s := newProducerStates()
	f.Add(encodeSnapshot(s, 0))
	for i := range 7 {
		s.apply(&batch.Header{ProducerID: int64(i % 3), ProducerEpoch: int16(i / 5), BaseSequence: int32(i), NumRecords: 1, MaxTimestamp: int64(i)}, int64(i))
	}
	f.Add(encodeSnapshot(s, 7))
	// Transactions: one open, one aborted, one committed by a marker of
	// a newer epoch (no batches left in it).
	txn := batch.Header{ProducerID: 7, BaseSequence: 0, NumRecords: 1, Attributes: batch.TransactionalBit}
	s.apply(&txn, 7)
	s.applyBatch(&batch.Header{ProducerID: 7, Attributes: batch.TransactionalBit | batch.ControlBit}, 8, CtrlAbort)
	txn.ProducerID = 8
	s.apply(&txn, 9)
	s.applyBatch(&batch.Header{ProducerID: 8, ProducerEpoch: 1, Attributes: batch.TransactionalBit | batch.ControlBit}, 10, CtrlCommit)
	txn.ProducerID = 9
	s.apply(&txn, 11)
	f.Add(encodeSnapshot(s, 12))
	f.Add([]byte("WPS1"))
	f.Add([]byte("WPS2"))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, at, err := decodeSnapshot(b)
		if err != nil {
			return
		}
		got := encodeSnapshot(st, at)
		if string(b[:4]) == snapMagicV1 {
			st2, at2, err := decodeSnapshot(got)
			if err != nil || at2 != at || string(encodeSnapshot(st2, at2)) != string(got) {
				t.Fatalf("version 1 snapshot does not survive version 2: %v", err)
			}
		} else if string(got) != string(b) {
			t.Fatalf("re-encoding differs:\n%x\n%x", got, b)
		}
		for id, pe := range st.m {
			if pe.n > batchesToRetain || (pe.n == 0 && string(b[:4]) == snapMagicV1) {
				t.Fatalf("producer %d with %d batches", id, pe.n)
			}
			for _, bm := range pe.batches() {
				if bm.base < 0 || bm.last < bm.base || bm.last >= at {
					t.Fatalf("producer %d batch %+v outside [0,%d)", id, bm, at)
				}
			}
			if pe.txnFirst < -1 || pe.txnFirst >= at {
				t.Fatalf("producer %d transaction at %d outside [0,%d)", id, pe.txnFirst, at)
			}
		}
		for _, a := range st.aborted {
			if a.FirstOffset < 0 || a.LastOffset <= a.FirstOffset || a.LastOffset >= at {
				t.Fatalf("aborted transaction %+v outside [0,%d)", a, at)
			}
		}
	})
}
