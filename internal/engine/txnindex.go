package engine

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"sort"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirdb/weir/internal/batch"
)

// txnIndex is a partition's transactions as of its high watermark: the
// open ones (bounding the last stable offset) and the aborted ones (for
// read_committed fetches). It changes only when the WAL reports a batch
// durable, in offset order, so it always describes the durable log.
type txnIndex struct {
	ongoing map[int64]int64 // producer id -> offset of its open transaction's first batch
	aborted []AbortedTxn    // by increasing marker offset
}

func newTxnIndex(s *producerStates) txnIndex {
	x := txnIndex{ongoing: make(map[int64]int64), aborted: append([]AbortedTxn(nil), s.aborted...)}
	for id, pe := range s.m {
		if pe.txnFirst >= 0 {
			x.ongoing[id] = pe.txnFirst
		}
	}
	return x
}

// durable applies a batch that became durable.
func (x *txnIndex) durable(cb *cachedBatch) {
	switch {
	case cb.ctrl != ctrlNone:
		first, ok := x.ongoing[cb.pid]
		delete(x.ongoing, cb.pid)
		if ok && cb.ctrl == CtrlAbort {
			x.aborted = append(x.aborted, AbortedTxn{ProducerID: cb.pid, FirstOffset: first, LastOffset: cb.base})
		}
	case cb.txn:
		if _, ok := x.ongoing[cb.pid]; !ok {
			x.ongoing[cb.pid] = cb.base
		}
	}
}

func (x *txnIndex) trim(logStart int64) {
	i := sort.Search(len(x.aborted), func(i int) bool { return x.aborted[i].LastOffset >= logStart })
	if i > 0 {
		x.aborted = append([]AbortedTxn(nil), x.aborted[i:]...)
	}
}

// lso is the last stable offset given the high watermark: the first
// offset of the oldest open transaction, or hw.
func (x *txnIndex) lso(hw int64) int64 {
	for _, first := range x.ongoing {
		hw = min(hw, first)
	}
	return hw
}

// LastStableOffset returns the partition's last stable offset: below it
// every transaction is committed or aborted (Kafka's LSO).
func (p *Partition) LastStableOffset() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.txns.lso(p.hw)
}

// AbortedTxns returns the aborted transactions that a read_committed
// fetch of offsets [from, to) must be told about: those whose marker is
// at or after from and whose first batch is before to, oldest marker
// first (Kafka's collectAbortedTransactions).
func (p *Partition) AbortedTxns(from, to int64) []AbortedTxn {
	p.mu.Lock()
	defer p.mu.Unlock()
	ab := p.txns.aborted
	i := sort.Search(len(ab), func(i int) bool { return ab[i].LastOffset >= from })
	var out []AbortedTxn
	for _, a := range ab[i:] {
		if a.FirstOffset < to {
			out = append(out, a)
		}
	}
	return out
}

// OpenTxns returns the producer ids with an open transaction in the
// partition and the first offset of each.
func (p *Partition) OpenTxns() map[int64]int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[int64]int64, len(p.txns.ongoing))
	for id, f := range p.txns.ongoing {
		out[id] = f
	}
	return out
}

// WriteMarker appends a transaction marker (commit or abort) for the
// producer at epoch, as the transaction coordinator writes them: a
// control batch with the transactional bit, one record whose key is
// Kafka's EndTransactionMarker key (version 0, type) and whose value is
// (version 0, coordinator epoch). Wait on the result for durability.
func (p *Partition) WriteMarker(ctx context.Context, producerID int64, epoch int16, commit bool, coordinatorEpoch int32) (*Appended, error) {
	raw := EncodeMarker(producerID, epoch, commit, coordinatorEpoch, p.e.cfg.Now().UnixMilli())
	// Not batch.Validate: it refuses control batches, which clients may
	// not produce.
	h, err := batch.ParseHeader(raw)
	if err != nil {
		return nil, fmt.Errorf("marker batch: %w", err)
	}
	return p.Append(ctx, raw, h, false)
}

// EncodeMarker builds a transaction marker batch (see WriteMarker).
func EncodeMarker(producerID int64, epoch int16, commit bool, coordinatorEpoch int32, nowMs int64) []byte {
	typ := int16(CtrlAbort)
	if commit {
		typ = int16(CtrlCommit)
	}
	key := binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(nil, 0), uint16(typ))
	val := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint16(nil, 0), uint32(coordinatorEpoch))
	kr := kmsg.Record{Key: key, Value: val}
	kr.Length = int32(len(kr.AppendTo(nil)) - 1)
	section := kr.AppendTo(nil)
	b := kmsg.RecordBatch{
		Length:          int32(batch.HeaderSize - 12 + len(section)),
		Magic:           2,
		Attributes:      batch.ControlBit | batch.TransactionalBit,
		LastOffsetDelta: 0,
		FirstTimestamp:  nowMs,
		MaxTimestamp:    nowMs,
		ProducerID:      producerID,
		ProducerEpoch:   epoch,
		FirstSequence:   -1,
		NumRecords:      1,
		Records:         section,
	}
	raw := b.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[17:], crc32.Checksum(raw[21:], castagnoli))
	return raw
}

// HasOpenTxn reports whether the producer, at epoch, has an open
// transaction in the partition (so a further transactional batch needs
// no check with the coordinator).
func (p *Partition) HasOpenTxn(producerID int64, epoch int16) bool {
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	pe := p.producers.m[producerID]
	return pe != nil && pe.epoch == epoch && pe.txnFirst >= 0
}
