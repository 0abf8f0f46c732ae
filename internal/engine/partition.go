package engine

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weirdb/weir/internal/batch"
	"github.com/weirdb/weir/internal/storage/objstore"
)

// cachedBatch is one record batch held in memory: every batch not yet
// uploaded, and recently uploaded ones kept as the log cache for tail reads.
type cachedBatch struct {
	base, last, maxTs int64
	data              []byte
	walSeq            uint64 // 0 until the WAL has numbered it
	uploaded          bool
	// For the transaction index, applied once durable: the batch's
	// producer id, whether it is transactional data, and its marker type
	// (ctrlNone unless a transaction marker).
	pid  int64
	txn  bool
	ctrl int8
	// settled is set once the WAL reported the batch durable or failed
	// (err); until then dups collects retries of it found to be
	// duplicates, answered with its outcome.
	settled bool
	err     error
	dups    []*Appended
}

// Partition is one partition this broker leads.
type Partition struct {
	e     *Engine
	id    TopicID
	name  string
	index int32
	topic atomic.Pointer[Topic] // latest snapshot, for configs

	// appendMu serializes offset assignment with the WAL append, so WAL
	// order is offset order within a partition. The WAL's completion
	// callbacks never take it (they take mu), so a WAL blocked on
	// back-pressure cannot deadlock with them.
	appendMu sync.Mutex
	// producers is the producer state after every appended batch, durable
	// or not; guarded by appendMu.
	producers *producerStates

	waitMu  sync.Mutex // guards waiters
	waiters map[*Waiter]struct{}

	mu       sync.Mutex // guards the following
	state    partState
	stateRev int64
	leo      int64 // next offset to assign
	hw       int64 // everything below is durable and readable
	ranges   []rangeRecord
	tail     []*cachedBatch
	deleted  bool
	fenced   bool // another broker owns the partition now
	// upProducers is the producer state as of state.Next (what object
	// storage holds), from which snapshots are written.
	upProducers *producerStates
	snapBytes   int64     // bytes uploaded since the last snapshot
	snapTime    time.Time // when the last snapshot was written (or Open)
	// txns is the partition's open and aborted transactions as of hw.
	txns txnIndex
}

func newPartition(e *Engine, t *Topic, index int32) *Partition {
	p := &Partition{e: e, id: t.ID, name: t.Name, index: index,
		producers: newProducerStates(), upProducers: newProducerStates(), snapTime: e.cfg.Now()}
	p.txns = newTxnIndex(p.producers)
	p.topic.Store(t)
	return p
}

// Index is the partition number.
func (p *Partition) Index() int32 { return p.index }

// Topic returns the partition's topic name.
func (p *Partition) Topic() string { return p.name }

func (p *Partition) String() string { return fmt.Sprintf("%s-%d", p.name, p.index) }

// Offsets returns the log start offset, high watermark, log end offset and
// current leader epoch.
func (p *Partition) Offsets() (logStart, hw, leo int64, epoch int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state.LogStart, p.hw, p.leo, p.state.Epoch
}

// Epoch returns the current leader epoch.
func (p *Partition) Epoch() int32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state.Epoch
}

// Epoch check outcomes for requests that carry CurrentLeaderEpoch.
var (
	ErrFencedLeaderEpoch  = fmt.Errorf("fenced leader epoch")
	ErrUnknownLeaderEpoch = fmt.Errorf("unknown leader epoch")
)

// CheckEpoch validates a client's CurrentLeaderEpoch (-1 skips the check).
func (p *Partition) CheckEpoch(current int32) error {
	if current < 0 {
		return nil
	}
	epoch := p.Epoch()
	switch {
	case current < epoch:
		return ErrFencedLeaderEpoch
	case current > epoch:
		return ErrUnknownLeaderEpoch
	}
	return nil
}

// Waiter is a fetch waiting for data on any of several partitions.
type Waiter struct{ ch chan struct{} }

// NewWaiter returns a Waiter; register it with Watch.
func NewWaiter() *Waiter { return &Waiter{ch: make(chan struct{}, 1)} }

// C receives when a watched partition's high watermark moved since the
// last receive.
func (w *Waiter) C() <-chan struct{} { return w.ch }

// Watch wakes w whenever the high watermark moves or the partition goes
// away. Callers must Unwatch when done.
func (p *Partition) Watch(w *Waiter) {
	p.waitMu.Lock()
	if p.waiters == nil {
		p.waiters = make(map[*Waiter]struct{})
	}
	p.waiters[w] = struct{}{}
	p.waitMu.Unlock()
}

// Unwatch undoes Watch.
func (p *Partition) Unwatch(w *Waiter) {
	p.waitMu.Lock()
	delete(p.waiters, w)
	p.waitMu.Unlock()
}

func (p *Partition) wake() {
	p.waitMu.Lock()
	for w := range p.waiters {
		select {
		case w.ch <- struct{}{}:
		default:
		}
	}
	p.waitMu.Unlock()
}

// Appended is a batch that has offsets and is on its way to the WAL.
type Appended struct {
	BaseOffset    int64
	LogAppendTime int64 // -1 unless the topic uses LogAppendTime
	LogStart      int64
	// Duplicate is set when the batch is a retry of one of its idempotent
	// producer's last batches: nothing was appended, and BaseOffset is the
	// original's (acknowledged once the original is durable).
	Duplicate bool
	done      chan struct{}
	err       error
}

// Wait blocks until the batch is durable or failed, or ctx ends.
func (a *Appended) Wait(ctx context.Context) error {
	select {
	case <-a.done:
		return a.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Append assigns offsets to raw, a validated record batch (which Append
// copies), and queues it for the WAL. The batch is acknowledged once Wait
// returns nil. When more than MaxPendingBytes wait for upload, Append waits
// for room until ctx ends (back-pressure on producers).
//
// A batch with a producer id is checked against the partition's producer
// state first (see producerStates.check): a retried duplicate is not
// appended again but answered with the original's offsets
// (Appended.Duplicate); a sequence or epoch error is returned as
// ErrOutOfOrderSequence or ErrInvalidProducerEpoch.
func (p *Partition) Append(ctx context.Context, raw []byte, h batch.Header, logAppendTime bool) (*Appended, error) {
	e := p.e
	for {
		// Take the signal's channel before checking, so that an upload
		// making room between the check and the wait is not missed.
		space := e.space.C()
		if e.pendingBytes.Load() <= e.cfg.MaxPendingBytes {
			break
		}
		if e.walFailed.Load() {
			return nil, ErrStorage
		}
		e.kick(e.uploadKick)
		select {
		case <-space:
		case <-ctx.Done():
			return nil, ErrTimeout
		case <-e.stop:
			return nil, ErrStorage
		}
	}
	if e.walFailed.Load() {
		return nil, ErrStorage
	}
	a := &Appended{LogAppendTime: -1, done: make(chan struct{})}

	p.appendMu.Lock()
	defer p.appendMu.Unlock()

	idempotent := hasProducer(&h)
	if idempotent {
		p.mu.Lock()
		neverWritten := p.leo == 0
		p.mu.Unlock()
		dup, err := p.producers.check(&h, neverWritten)
		if err != nil {
			return nil, err
		}
		if dup != nil {
			return p.duplicate(dup), nil
		}
	}

	p.mu.Lock()
	if p.deleted {
		p.mu.Unlock()
		return nil, ErrPartitionDeleted
	}
	if p.fenced {
		p.mu.Unlock()
		return nil, ErrNotLeader
	}
	entry := encodeWALEntry(p.id, p.index, p.state.Epoch, raw)
	data := entry[walEntryHeader:]
	base := p.leo
	batch.SetBaseOffset(data, base)
	batch.SetLeaderEpoch(data, p.state.Epoch)
	maxTs := h.MaxTimestamp
	if logAppendTime {
		maxTs = e.cfg.Now().UnixMilli()
		batch.SetLogAppendTime(data, maxTs)
		a.LogAppendTime = maxTs
	}
	cb := &cachedBatch{base: base, last: base + int64(h.LastOffsetDelta), maxTs: maxTs, data: data, pid: -1, ctrl: ctrlNone}
	var prevProducer undo
	if idempotent {
		ph := h
		ph.MaxTimestamp = maxTs
		cb.pid, cb.txn, cb.ctrl = h.ProducerID, h.IsTransactional() && !h.IsControl(), controlType(&h, data)
		prevProducer = p.producers.applyBatch(&ph, base, cb.ctrl)
	}
	p.tail = append(p.tail, cb)
	p.leo = cb.last + 1
	e.pendingBytes.Add(int64(len(data)))
	p.mu.Unlock()
	a.BaseOffset = base

	e.walMu.RLock()
	seq, err := e.cfg.WAL.Append(entry, func(err error) { p.durable(cb, a, err) })
	if err != nil {
		e.walMu.RUnlock()
		e.walFailed.Store(true)
		p.mu.Lock()
		if n := len(p.tail); n > 0 && p.tail[n-1] == cb {
			p.tail = p.tail[:n-1]
			p.leo = cb.base
			e.pendingBytes.Add(-int64(len(data)))
		}
		cb.settled, cb.err = true, ErrStorage
		dups := cb.dups
		p.mu.Unlock()
		if idempotent {
			p.producers.restore(prevProducer)
		}
		for _, d := range dups {
			d.err = ErrStorage
			close(d.done)
		}
		e.log.Error("wal append failed", "partition", p.String(), "err", err)
		return nil, fmt.Errorf("%w: %v", ErrStorage, err)
	}
	p.mu.Lock()
	cb.walSeq = seq
	p.mu.Unlock()
	for {
		cur := e.lastWALSeq.Load()
		if seq <= cur || e.lastWALSeq.CompareAndSwap(cur, seq) {
			break
		}
	}
	e.walMu.RUnlock()
	if e.pendingBytes.Load() >= e.cfg.UploadBytes {
		e.kick(e.uploadKick)
	}
	return a, nil
}

// durable runs on the WAL's goroutine, in WAL order.
func (p *Partition) durable(cb *cachedBatch, a *Appended, err error) {
	if err != nil {
		p.e.walFailed.Store(true)
		err = fmt.Errorf("%w: %v", ErrStorage, err)
	}
	p.mu.Lock()
	if err == nil && cb.last+1 > p.hw {
		p.hw = cb.last + 1
		p.txns.durable(cb)
	}
	logStart := p.state.LogStart
	cb.settled, cb.err = true, err
	dups := cb.dups
	cb.dups = nil
	p.mu.Unlock()
	for _, x := range append([]*Appended{a}, dups...) { // the original first: a retry is never answered before it
		x.err, x.LogStart = err, logStart
		close(x.done)
	}
	if err == nil {
		p.wake()
	}
}

// duplicate answers a retry of batch d, which the partition holds: at
// once if d is durable, else with d's outcome once the WAL reports it, as
// Kafka answers a duplicate only once the original is replicated.
func (p *Partition) duplicate(d *batchMeta) *Appended {
	a := &Appended{BaseOffset: d.base, LogAppendTime: -1, Duplicate: true, done: make(chan struct{})}
	p.mu.Lock()
	defer p.mu.Unlock()
	a.LogStart = p.state.LogStart
	if d.last < p.hw {
		close(a.done)
		return a
	}
	for i := len(p.tail) - 1; i >= 0; i-- {
		cb := p.tail[i]
		if cb.base != d.base {
			continue
		}
		if cb.settled {
			a.err = cb.err
			if a.err == nil {
				a.err = ErrStorage // settled without error yet beyond hw: cannot be
			}
			close(a.done)
			return a
		}
		cb.dups = append(cb.dups, a)
		return a
	}
	// Not durable and not in the tail: the WAL append failed and was
	// rolled back, yet the producer state kept it. Should not happen.
	a.err = fmt.Errorf("%w: duplicate of batch at %d not found", ErrStorage, d.base)
	close(a.done)
	return a
}

// ReadResult is what a fetch of one partition returns.
type ReadResult struct {
	Records  []byte
	HW       int64
	LogStart int64
	LSO      int64 // last stable offset
}

// Read returns batches starting with the one holding offset, up to
// maxBytes, but always at least one whole batch (as Kafka does, so a batch
// larger than the limit still makes progress).
func (p *Partition) Read(ctx context.Context, offset int64, maxBytes int) (ReadResult, error) {
	return p.read(ctx, offset, maxBytes, false)
}

// ReadCommitted is Read for a read_committed consumer: only batches below
// the last stable offset are returned.
func (p *Partition) ReadCommitted(ctx context.Context, offset int64, maxBytes int) (ReadResult, error) {
	return p.read(ctx, offset, maxBytes, true)
}

func (p *Partition) read(ctx context.Context, offset int64, maxBytes int, committed bool) (ReadResult, error) {
	p.mu.Lock()
	res := ReadResult{HW: p.hw, LogStart: p.state.LogStart, LSO: p.txns.lso(p.hw)}
	limit := res.HW
	if committed {
		limit = res.LSO
	}
	if p.deleted {
		p.mu.Unlock()
		return res, ErrPartitionDeleted
	}
	if offset < p.state.LogStart || offset > p.leo {
		p.mu.Unlock()
		return res, ErrOffsetOutOfRange
	}
	if offset >= limit {
		p.mu.Unlock()
		return res, nil
	}
	if len(p.tail) > 0 && p.tail[0].base <= offset {
		i := sort.Search(len(p.tail), func(i int) bool { return p.tail[i].last >= offset })
		var n int
		var out []*cachedBatch
		for ; i < len(p.tail); i++ {
			b := p.tail[i]
			if b.last >= limit || (len(out) > 0 && n+len(b.data) > maxBytes) {
				break
			}
			out = append(out, b)
			n += len(b.data)
		}
		p.mu.Unlock()
		if len(out) == 1 {
			res.Records = out[0].data
			return res, nil
		}
		buf := make([]byte, 0, n)
		for _, b := range out {
			buf = append(buf, b.data...)
		}
		res.Records = buf
		return res, nil
	}
	i := sort.Search(len(p.ranges), func(i int) bool { return p.ranges[i].Last >= offset })
	ranges := p.ranges[i:]
	p.mu.Unlock()

	var parts [][]byte
	var n int
	stop := false
	read := -1 // index in ranges of the last block read
	for k, r := range ranges {
		if r.First >= limit {
			break
		}
		read = k
		block, err := p.e.readBlock(ctx, r)
		if err != nil {
			// Retention or DeleteRecords may have removed the object
			// since we looked the range up.
			if errors.Is(err, objstore.ErrNotExist) {
				if logStart, _, _, _ := p.Offsets(); offset < logStart {
					return res, ErrOffsetOutOfRange
				}
			}
			return res, err
		}
		it := batch.NewIter(block)
		start, end := -1, 0
		for {
			pos := it.Pos()
			h, raw, ok := it.Next()
			if !ok {
				break
			}
			if h.LastOffset() < offset {
				continue
			}
			if h.LastOffset() >= limit {
				stop = true
				break
			}
			if (start >= 0 || len(parts) > 0) && n+len(raw) > maxBytes {
				break
			}
			if start < 0 {
				start = pos
			}
			end = it.Pos()
			n += len(raw)
		}
		if err := it.Err(); err != nil {
			return res, fmt.Errorf("read %s block of %s: %w", r.Key, p, err)
		}
		if start >= 0 {
			parts = append(parts, block[start:end])
		}
		if stop || end < len(block) || n >= maxBytes {
			break
		}
	}
	// A consumer reading from here on wants the next block soon: load it
	// now, so that its next fetch finds it in memory instead of waiting
	// for the object store.
	if next := read + 1; read >= 0 && next < len(ranges) && ranges[next].First < limit {
		p.e.readAhead(ranges[next])
	}
	switch len(parts) {
	case 0:
	case 1:
		res.Records = parts[0]
	default:
		buf := make([]byte, 0, n)
		for _, b := range parts {
			buf = append(buf, b...)
		}
		res.Records = buf
	}
	return res, nil
}

// markDeleted drops the partition's in-memory data and returns its ranges.
func (p *Partition) markDeleted() []rangeRecord {
	p.mu.Lock()
	p.deleted = true
	for _, b := range p.tail {
		if b.uploaded {
			p.e.cachedBytes.Add(-int64(len(b.data)))
		} else {
			p.e.pendingBytes.Add(-int64(len(b.data)))
		}
	}
	p.tail = nil
	rs := p.ranges
	p.ranges = nil
	p.mu.Unlock()
	p.wake()
	p.e.space.Broadcast()
	return rs
}

// OffsetForLeaderEpoch answers Kafka's OffsetForLeaderEpoch for a requested
// epoch: the largest epoch not above it and the offset where the next
// epoch starts (or the log end offset for the current epoch).
func (p *Partition) OffsetForLeaderEpoch(requested int32) (epoch int32, endOffset int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	hist := p.state.Epochs
	if requested < 0 || len(hist) == 0 {
		return -1, -1
	}
	latest := hist[len(hist)-1]
	if requested == latest.Epoch || requested == p.state.Epoch {
		return requested, p.leo
	}
	hi := sort.Search(len(hist), func(i int) bool { return hist[i].Epoch > requested })
	if hi == len(hist) {
		if requested > p.state.Epoch {
			return -1, -1
		}
		// requested lies between the last epoch with data and the
		// current one: nothing was written in it.
		return latest.Epoch, p.leo
	}
	if hi == 0 {
		return requested, hist[0].Start
	}
	return hist[hi-1].Epoch, hist[hi].Start
}

// EpochForOffset returns the leader epoch in which offset was written, per
// the epoch history (-1 if it predates the history).
func (p *Partition) EpochForOffset(offset int64) int32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	epoch := int32(-1)
	for _, h := range p.state.Epochs {
		if h.Start > offset {
			break
		}
		epoch = h.Epoch
	}
	return epoch
}

// UploadedEnd returns the offset below which everything is in object
// storage.
func (p *Partition) UploadedEnd() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state.Next
}
