package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"

	"github.com/weirdb/weir/internal/batch"
	"github.com/weirdb/weir/internal/meta"
)

// producerIDBlock is how many producer ids one reservation in the
// metadata store covers (Kafka's ProducerIdManager also uses blocks of
// 1000): one metadata write per thousand producers.
const producerIDBlock = 1000

// NewProducerID hands out a producer id never handed out before, by any
// broker, before or after a restart: ids come from blocks reserved in the
// metadata store, and a block reserved by a broker that then dies is
// never reused.
func (e *Engine) NewProducerID(ctx context.Context) (int64, error) {
	e.pidMu.Lock()
	defer e.pidMu.Unlock()
	if e.pidNext >= e.pidEnd {
		first, err := meta.Reserve(ctx, e.cfg.Meta, keyProducerIDs, producerIDBlock)
		if err != nil {
			return 0, fmt.Errorf("reserve producer ids: %w", err)
		}
		e.pidNext, e.pidEnd = first, first+producerIDBlock
		e.log.Debug("producer ids reserved", "first", first, "count", producerIDBlock)
	}
	id := e.pidNext
	e.pidNext++
	return id, nil
}

// loadProducers rebuilds each partition's producer state as of its upload
// point: its snapshot, then the uploaded batches with producer ids that
// follow it. replayWAL then applies the batches not yet uploaded.
func (e *Engine) loadProducers(ctx context.Context) error {
	var snaps, replayed int
	for _, p := range e.allPartitions() {
		st := p.state
		s := newProducerStates()
		if st.ProdSnap != "" {
			data, err := e.cfg.Store.Get(ctx, st.ProdSnap)
			if err != nil {
				return fmt.Errorf("load producer snapshot of %s: %w", p, err)
			}
			var at int64
			s, at, err = decodeSnapshot(data)
			if err != nil {
				return fmt.Errorf("producer snapshot %s of %s: %w", st.ProdSnap, p, err)
			}
			if at != st.ProdSnapAt {
				return fmt.Errorf("producer snapshot %s of %s: covers offsets below %d, state says %d", st.ProdSnap, p, at, st.ProdSnapAt)
			}
			snaps++
		}
		if st.ProdReplay != nil {
			from := max(*st.ProdReplay, st.ProdSnapAt)
			for _, r := range p.ranges {
				if r.Last < from || r.First >= st.Next {
					continue
				}
				block, err := e.readBlock(ctx, r)
				if err != nil {
					return fmt.Errorf("replay producer state of %s from %s: %w", p, r.Key, err)
				}
				it := batch.NewIter(block)
				for {
					h, raw, ok := it.Next()
					if !ok {
						break
					}
					if h.BaseOffset >= from && h.BaseOffset < st.Next && hasProducer(&h) {
						s.applyBatch(&h, h.BaseOffset, controlType(&h, raw))
						replayed++
					}
				}
				if err := it.Err(); err != nil {
					return fmt.Errorf("replay producer state of %s from %s: %w", p, r.Key, err)
				}
				p.snapBytes += r.Len
			}
		}
		p.upProducers = s
		p.producers = s.clone()
	}
	e.log.Info("producer state loaded", "snapshots", snaps, "batches_replayed", replayed)
	return nil
}

// prepareProducers collects, for each item of an upload, the headers of
// its batches with producer ids and, when a snapshot is due (see
// Config.ProducerSnapshotBytes), works out the producer state after the
// item and writes a snapshot of it. A snapshot that cannot be written is
// skipped: recovery then replays more.
func (e *Engine) prepareProducers(ctx context.Context, items []*uploadItem) {
	now := e.cfg.Now()
	for _, it := range items {
		p := it.p
		var hs []prodBatch
		for _, b := range it.batches {
			h, err := batch.ParseHeader(b.data)
			if err == nil && hasProducer(&h) {
				hs = append(hs, prodBatch{h, controlType(&h, b.data)})
			}
		}
		p.mu.Lock()
		dirty := p.state.ProdReplay != nil
		if len(hs) == 0 && !dirty {
			p.mu.Unlock()
			continue
		}
		it.prodFirst = -1
		if len(hs) > 0 {
			it.prodFirst = hs[0].h.BaseOffset
		}
		it.prodHeaders = hs
		due := p.snapBytes+it.bytes >= e.cfg.ProducerSnapshotBytes || now.Sub(p.snapTime) >= e.cfg.ProducerSnapshotInterval
		if !due {
			p.mu.Unlock()
			continue
		}
		s := p.upProducers.clone()
		p.mu.Unlock()
		for i := range hs {
			hs[i].apply(s)
		}
		key := newSnapshotKey(p, it.last+1)
		if err := e.cfg.Store.Put(ctx, key, encodeSnapshot(s, it.last+1)); err != nil {
			e.log.Warn("producer snapshot not written", "partition", p.String(), "err", err)
			continue
		}
		it.prod, it.snapKey = s, key
	}
}

// prodBatch is the header of a batch with a producer id and its marker
// type (ctrlNone for data).
type prodBatch struct {
	h    batch.Header
	ctrl int8
}

func (b *prodBatch) apply(s *producerStates) { s.applyBatch(&b.h, b.h.BaseOffset, b.ctrl) }

func newSnapshotKey(p *Partition, offset int64) string {
	var r [4]byte
	_, _ = rand.Read(r[:])
	return fmt.Sprintf("%s%s/%010d/%020d-%s.snap", prefixSnaps, p.id, p.index, offset, hex.EncodeToString(r[:]))
}

// producerCommit applies an upload item's producer changes to the state
// about to be committed and returns the old snapshot the commit replaces
// ("" if none).
func producerCommit(st *partState, it *uploadItem) (replaced string) {
	switch {
	case it.snapKey != "":
		replaced = st.ProdSnap
		st.ProdSnap, st.ProdSnapAt, st.ProdReplay = it.snapKey, it.last+1, nil
	case it.prodFirst >= 0 && st.ProdReplay == nil:
		first := it.prodFirst
		st.ProdReplay = &first
	}
	return replaced
}

// producerCommitted moves the upload state past an item once its commit
// landed. p.mu is held.
func (p *Partition) producerCommitted(it *uploadItem) {
	if it.prod != nil {
		p.upProducers = it.prod
	} else {
		for i := range it.prodHeaders {
			it.prodHeaders[i].apply(p.upProducers)
		}
	}
	if it.snapKey != "" {
		p.snapBytes, p.snapTime = 0, p.e.cfg.Now()
	} else if p.state.ProdReplay != nil {
		p.snapBytes += it.bytes
	}
}

// expireProducers forgets producers idle for longer than
// producer.id.expiration.ms, judged, as in Kafka, by the max timestamp of
// their last batch.
func (e *Engine) expireProducers() {
	cutoff := e.cfg.Now().Add(-e.cfg.ProducerIDExpiration).UnixMilli()
	n := 0
	for _, p := range e.allPartitions() {
		p.mu.Lock()
		logStart := p.state.LogStart
		p.mu.Unlock()
		p.appendMu.Lock()
		n += p.producers.expire(cutoff)
		p.producers.trimAborted(logStart)
		p.appendMu.Unlock()
		p.mu.Lock()
		p.upProducers.expire(cutoff)
		p.upProducers.trimAborted(logStart)
		p.txns.trim(logStart)
		p.mu.Unlock()
	}
	if n > 0 {
		e.log.Info("idle producers expired", "producers", n)
	}
}

// ExpireProducers runs the producer expiry pass the retention loop runs.
func (e *Engine) ExpireProducers() { e.expireProducers() }

// ProducerState is a partition's state of one producer id, for
// DescribeProducers and tests.
type ProducerState struct {
	ProducerID     int64
	Epoch          int16
	LastSequence   int32 // -1 if none in its epoch
	LastTimestamp  int64
	LastBaseOffset int64 // -1 if none in its epoch
	// TxnStartOffset is the first offset of its open transaction, -1 if
	// none.
	TxnStartOffset int64
}

// Producers returns the partition's producer state, by increasing id.
func (p *Partition) Producers() []ProducerState {
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	var out []ProducerState
	for _, id := range p.producers.ids() {
		pe := p.producers.m[id]
		ps := ProducerState{ProducerID: id, Epoch: pe.epoch, LastSequence: -1, LastTimestamp: pe.lastTs, LastBaseOffset: -1, TxnStartOffset: pe.txnFirst}
		if pe.n > 0 {
			last := pe.buf[pe.n-1]
			ps.LastSequence, ps.LastBaseOffset = last.lastSeq, last.base
		}
		out = append(out, ps)
	}
	return out
}
