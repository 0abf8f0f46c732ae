package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/weirdb/weir/internal/batch"
	"github.com/weirdb/weir/internal/meta"
	"github.com/weirdb/weir/internal/storage/objfmt"
)

// uploadLoop owns uploading: every UploadInterval, or sooner when enough is
// pending, it packs pending batches into one object and commits it.
func (e *Engine) uploadLoop() {
	defer e.wg.Done()
	t := time.NewTicker(e.cfg.UploadInterval)
	defer t.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-e.stop
		cancel()
	}()
	backoff := 100 * time.Millisecond
	for {
		select {
		case <-e.stop:
			return
		case <-t.C:
		case <-e.uploadKick:
		}
		for {
			n, err := e.uploadOnce(ctx)
			if err != nil {
				if e.stopped() {
					return
				}
				e.log.Warn("upload failed", "err", err, "retry_in", backoff)
				select {
				case <-e.stop:
					return
				case <-time.After(backoff):
				}
				backoff = min(2*backoff, 5*time.Second)
				break
			}
			backoff = 100 * time.Millisecond
			if n == 0 || e.pendingBytes.Load() < e.cfg.UploadBytes {
				break
			}
		}
	}
}

type uploadItem struct {
	p       *Partition
	batches []*cachedBatch
	first   int64
	last    int64
	maxTs   int64
	bytes   int64

	// Producer state (see prepareProducers): prodHeaders are the item's
	// batches with producer ids; prod the state after the item and
	// snapKey its snapshot, when one was written for this upload;
	// prodFirst the offset of the item's first batch with a producer id
	// (-1 if none).
	prodHeaders []prodBatch
	prod        *producerStates
	snapKey     string
	prodFirst   int64
}

// uploadOnce uploads up to MaxObjectBytes of durable, pending batches as
// one object and returns how many batches it committed.
func (e *Engine) uploadOnce(ctx context.Context) (int, error) {
	var items []*uploadItem
	var size int64
	for _, p := range e.allPartitions() {
		if size >= e.cfg.MaxObjectBytes {
			break
		}
		p.mu.Lock()
		if p.deleted || p.fenced {
			p.mu.Unlock()
			continue
		}
		var it *uploadItem
		for _, b := range p.tail {
			if b.uploaded || b.base < p.state.Next {
				continue
			}
			if b.last >= p.hw || size >= e.cfg.MaxObjectBytes {
				break
			}
			if it == nil {
				it = &uploadItem{p: p, first: b.base, maxTs: b.maxTs, prodFirst: -1}
			}
			it.batches = append(it.batches, b)
			it.last = b.last
			it.maxTs = max(it.maxTs, b.maxTs)
			it.bytes += int64(len(b.data))
			size += int64(len(b.data))
		}
		p.mu.Unlock()
		if it != nil {
			items = append(items, it)
		}
	}
	if len(items) == 0 {
		e.trimWAL()
		return 0, nil
	}
	sort.Slice(items, func(i, j int) bool {
		a, b := items[i].p, items[j].p
		if a.id != b.id {
			return string(a.id[:]) < string(b.id[:])
		}
		return a.index < b.index
	})

	// Sized up front: growing a buffer of up to MaxObjectBytes by appends
	// was a fifth of the broker's CPU in the first benchmark.
	need := int(size) + len(items)*objfmt.EntrySize + 16 + objfmt.FooterSize
	if cap(e.uploadBuf) < need {
		e.uploadBuf = make([]byte, 0, need)
	}
	bld := objfmt.NewBuilderIn(e.uploadBuf)
	for _, it := range items {
		raws := make([][]byte, len(it.batches))
		for i, b := range it.batches {
			raws[i] = b.data
		}
		bld.Add(it.p.id, it.p.index, it.first, it.last, it.maxTs, raws)
	}
	obj, entries := bld.Finish()
	key := e.newObjectKey()
	err := e.cfg.Store.Put(ctx, key, obj)
	// Stores keep no reference to what they were given (objstore.Store).
	e.uploadBuf = obj[:0]
	if err != nil {
		return 0, fmt.Errorf("upload object %s: %w", key, err)
	}
	e.prepareProducers(ctx, items)

	n, err := e.commitObject(ctx, key, items, entries)
	if err != nil {
		return 0, err
	}
	e.space.Broadcast()
	e.evictCache()
	e.trimWAL()
	return n, nil
}

func (e *Engine) newObjectKey() string {
	var r [4]byte
	_, _ = rand.Read(r[:])
	return fmt.Sprintf("data/%010d/%013d-%08d-%s.obj", e.cfg.NodeID, e.cfg.Now().UnixMilli(), e.objSeq.Add(1), hex.EncodeToString(r[:]))
}

// commitObject records the object's ranges with one transaction guarded by
// each partition's state revision.
func (e *Engine) commitObject(ctx context.Context, key string, items []*uploadItem, entries []objfmt.Entry) (int, error) {
	e.metaMu.Lock()
	defer e.metaMu.Unlock()
	var conds []meta.Cond
	var ops []meta.Op
	garbage := map[string]bool{key: true}
	for _, it := range items {
		if it.snapKey != "" {
			garbage[it.snapKey] = true
		}
	}
	var skipped []string // snapshots of items not committed
	live := items[:0:0]
	ranges := make([]rangeRecord, 0, len(items))
	states := make([]partState, 0, len(items))
	for i, it := range items {
		p := it.p
		en := entries[i]
		p.mu.Lock()
		if p.deleted || p.fenced || p.state.Next != it.first {
			p.mu.Unlock()
			if it.snapKey != "" {
				skipped = append(skipped, it.snapKey)
			}
			continue
		}
		st := p.state
		st.Next = it.last + 1
		if old := producerCommit(&st, it); old != "" {
			ops = append(ops, meta.Op{Key: prefixGC + old, Value: []byte{}})
		}
		rr := rangeRecord{Key: key, First: it.first, Last: it.last, MaxTs: it.maxTs, Pos: en.Pos, Len: en.Len, CRC: en.BlockCRC}
		conds = append(conds, meta.Cond{Key: partKey(p.id, p.index), ModRev: p.stateRev})
		p.mu.Unlock()
		ops = append(ops,
			meta.Op{Key: partKey(p.id, p.index), Value: mustJSON(st)},
			meta.Op{Key: objKey(p.id, p.index, it.first), Value: mustJSON(rr)})
		live = append(live, it)
		ranges = append(ranges, rr)
		states = append(states, st)
	}
	if len(live) == 0 {
		return 0, e.addGarbageLocked(ctx, garbage)
	}
	rev, ok, err := e.cfg.Meta.Txn(ctx, conds, ops)
	if err != nil {
		// The outcome is unknown: the next attempt's conditions tell.
		return 0, fmt.Errorf("commit object %s: %w", key, err)
	}
	if !ok {
		if err := e.reloadStatesLocked(ctx, live); err != nil {
			return 0, err
		}
		_ = e.addGarbageLocked(ctx, garbage)
		return 0, fmt.Errorf("commit object %s: %w", key, ErrConcurrentMetadata)
	}
	if len(skipped) > 0 {
		junk := map[string]bool{}
		for _, k := range skipped {
			junk[k] = true
		}
		if err := e.addGarbageLocked(ctx, junk); err != nil {
			e.log.Warn("record garbage snapshots", "err", err)
		}
	}
	n := 0
	for i, it := range live {
		p := it.p
		p.mu.Lock()
		p.state = states[i]
		p.stateRev = rev
		p.ranges = append(p.ranges, ranges[i])
		for _, b := range it.batches {
			b.uploaded = true
		}
		p.producerCommitted(it)
		p.mu.Unlock()
		n += len(it.batches)
		e.pendingBytes.Add(-it.bytes)
		e.cachedBytes.Add(it.bytes)
	}
	return n, nil
}

// reloadStatesLocked re-reads partition state after a failed conditional
// commit. A state whose upload point moved past our batches means an
// earlier commit whose reply was lost did land: adopt its ranges.
func (e *Engine) reloadStatesLocked(ctx context.Context, items []*uploadItem) error {
	for _, it := range items {
		p := it.p
		kv, ok, err := e.cfg.Meta.Get(ctx, partKey(p.id, p.index))
		if err != nil {
			return fmt.Errorf("reload state of %s: %w", p, err)
		}
		if !ok {
			e.log.Warn("partition state vanished", "partition", p.String())
			continue
		}
		var st partState
		if err := json.Unmarshal(kv.Value, &st); err != nil {
			return fmt.Errorf("decode state of %s: %w", p, err)
		}
		if st.Owner != e.cfg.NodeID || st.Epoch != p.Epoch() {
			// Another owner took the partition: stop writing to it, and
			// never adopt its state, or our next commit would pass the
			// revision check on its behalf.
			e.log.Error("partition fenced by another owner", "partition", p.String(), "owner", st.Owner, "epoch", st.Epoch)
			p.mu.Lock()
			p.fenced = true
			p.mu.Unlock()
			continue
		}
		var adopted []rangeRecord
		p.mu.Lock()
		next := p.state.Next
		p.mu.Unlock()
		if st.Next > next {
			kvs, err := e.cfg.Meta.List(ctx, objsPartPrefix(p.id, p.index))
			if err != nil {
				return fmt.Errorf("reload ranges of %s: %w", p, err)
			}
			for _, kv := range kvs {
				var r rangeRecord
				if json.Unmarshal(kv.Value, &r) == nil && r.First >= next && r.Last < st.Next {
					adopted = append(adopted, r)
				}
			}
		}
		p.mu.Lock()
		p.state = st
		p.stateRev = kv.ModRev
		p.ranges = append(p.ranges, adopted...)
		for _, b := range p.tail {
			if !b.uploaded && b.last < st.Next {
				// Adopted: the upload state moves past it too.
				if h, err := batch.ParseHeader(b.data); err == nil && hasProducer(&h) {
					p.upProducers.applyBatch(&h, h.BaseOffset, controlType(&h, b.data))
				}
				b.uploaded = true
				e.pendingBytes.Add(-int64(len(b.data)))
				e.cachedBytes.Add(int64(len(b.data)))
			}
		}
		p.mu.Unlock()
	}
	return nil
}

// trimWAL trims the WAL below the oldest batch not yet uploaded.
func (e *Engine) trimWAL() {
	e.walMu.Lock()
	upTo := e.lastWALSeq.Load() + 1
	for _, p := range e.allPartitions() {
		p.mu.Lock()
		for _, b := range p.tail {
			if !b.uploaded {
				if b.walSeq > 0 && b.walSeq < upTo {
					upTo = b.walSeq
				}
				break
			}
		}
		p.mu.Unlock()
	}
	e.walMu.Unlock()
	if err := e.cfg.WAL.Trim(upTo); err != nil {
		e.log.Warn("wal trim failed", "up_to", upTo, "err", err)
	}
}

// evictCache drops the oldest uploaded batches once the log cache is over
// its budget; they stay readable from object storage.
func (e *Engine) evictCache() {
	over := e.cachedBytes.Load() - e.cfg.LogCacheBytes
	if over <= 0 {
		return
	}
	for _, p := range e.allPartitions() {
		p.mu.Lock()
		i := 0
		for ; i < len(p.tail) && over > 0 && p.tail[i].uploaded; i++ {
			over -= int64(len(p.tail[i].data))
			e.cachedBytes.Add(-int64(len(p.tail[i].data)))
		}
		if i > 0 {
			p.tail = append([]*cachedBatch(nil), p.tail[i:]...)
		}
		p.mu.Unlock()
		if over <= 0 {
			return
		}
	}
}
