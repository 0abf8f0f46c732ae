package txn

import (
	"bytes"
	"context"
	"errors"
	"math"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/weirdb/weir/internal/batch"
	"github.com/weirdb/weir/internal/engine"
)

// txnMeta is one transactional id's state (Kafka's TransactionMetadata).
type txnMeta struct {
	id        string
	pid       int64
	epoch     int16
	timeoutMs int32
	state     State
	parts     map[TP]struct{}
	startMs   int64 // when the open transaction started, -1 if none
	updateMs  int64

	// Loop-owned, not stored.
	busy bool // a state write is in flight (Kafka's pending transition)
	// lastEpoch is Kafka's lastProducerEpoch: the epoch a KIP-360
	// re-initialization bumped from (-1 otherwise), so that a retry of
	// that InitProducerId gets the same epoch again.
	lastEpoch int16
}

func (m *txnMeta) clone() txnMeta {
	c := *m
	c.parts = make(map[TP]struct{}, len(m.parts))
	for tp := range m.parts {
		c.parts[tp] = struct{}{}
	}
	return c
}

func (m *txnMeta) describe() Description {
	return Description{ID: m.id, State: m.state, ProducerID: m.pid, Epoch: m.epoch,
		TimeoutMs: m.timeoutMs, StartMs: m.startMs, Partitions: m.sortedParts()}
}

// shard owns the transactions of one state topic partition: one goroutine
// (run) changes them, fed by q; write completions, marker completions and
// the timeout sweep reach it through q too.
type shard struct {
	c     *Coordinator
	index int32
	log   Log
	q     *queue

	loaded atomic.Bool
	done   chan struct{}

	// Loop-owned.
	txns     map[string]*txnMeta
	stopping bool
	inflight int
	acks     chan pendingAppend
	sweep    interface{ Stop() bool }
}

type pendingAppend struct {
	wait func(context.Context) error
	done func(error)
}

func newShard(c *Coordinator, index int32, log Log) *shard {
	return &shard{c: c, index: index, log: log, q: newQueue(), done: make(chan struct{}),
		txns: make(map[string]*txnMeta), acks: make(chan pendingAppend, 256)}
}

func (s *shard) run() {
	defer close(s.done)
	ackerDone := make(chan struct{})
	go s.acker(ackerDone)
	defer func() {
		close(s.acks)
		<-ackerDone
	}()
	if !s.load() {
		return
	}
	s.scheduleSweep()
	for {
		select {
		case <-s.q.ready:
		case <-s.c.ctx.Done():
			return
		}
		for _, f := range s.q.pop() {
			f()
		}
		if s.stopping && s.inflight == 0 {
			return
		}
	}
}

func (s *shard) acker(done chan struct{}) {
	defer close(done)
	for pa := range s.acks {
		err := pa.wait(s.c.ctx)
		s.q.push(func() {
			s.inflight--
			pa.done(err)
		})
	}
}

func (s *shard) beginStop() {
	if s.stopping {
		return
	}
	s.stopping = true
	if s.sweep != nil {
		s.sweep.Stop()
	}
}

func (s *shard) nowMs() int64 { return s.c.clock.Now().UnixMilli() }

// write makes next m's state: m is busy until the record is durable, and
// then (unless the write failed) takes next's state before done runs.
func (s *shard) write(m *txnMeta, next txnMeta, done func(error)) {
	next.updateMs = s.nowMs()
	raw := encodeBatch(encodeKey(m.id), encodeValue(&next), next.updateMs)
	wait, err := s.log.Append(s.c.ctx, raw)
	if err != nil {
		s.c.log.Error("transaction coordinator append failed", "partition", s.index, "err", err)
		wait = func(context.Context) error { return err }
	}
	m.busy = true
	s.inflight++
	s.acks <- pendingAppend{wait: wait, done: func(err error) {
		if err == nil {
			*m = next
		}
		m.busy = false
		done(writeErr(err))
	}}
}

// writeErr maps a failed write to the retriable error clients get.
func writeErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, engine.ErrNotLeader) || errors.Is(err, engine.ErrPartitionDeleted) {
		return kerr.NotCoordinator
	}
	return kerr.CoordinatorNotAvailable
}

// producerCheck is Kafka's check of a client's producer id and epoch
// against the transaction's.
func producerCheck(m *txnMeta, pid int64, epoch int16) error {
	switch {
	case m == nil || m.pid != pid:
		return kerr.InvalidProducerIDMapping
	case m.epoch != epoch:
		return kerr.ProducerFenced
	}
	return nil
}

// bump returns the next epoch, or a new producer id at epoch 0 when the
// epoch is exhausted (as Kafka: at Short.MaxValue - 1).
func (s *shard) bump(next *txnMeta) error {
	if next.epoch < math.MaxInt16-1 {
		next.epoch++
		return nil
	}
	pid, err := s.c.cfg.NewProducerID(s.c.ctx)
	if err != nil {
		s.c.log.Warn("transaction coordinator: no producer id", "err", err)
		return kerr.CoordinatorNotAvailable
	}
	next.pid, next.epoch = pid, 0
	return nil
}

// initProducerID is TransactionCoordinator.handleInitProducerId.
func (s *shard) initProducerID(id string, timeoutMs int32, pid int64, epoch int16, reply func(InitResult)) {
	fail := func(err error) { reply(InitResult{ProducerID: -1, Epoch: -1, Err: err}) }
	m := s.txns[id]
	if m == nil {
		newPID, err := s.c.cfg.NewProducerID(s.c.ctx)
		if err != nil {
			s.c.log.Warn("transaction coordinator: no producer id", "err", err)
			fail(kerr.CoordinatorNotAvailable)
			return
		}
		m = &txnMeta{id: id, pid: newPID, epoch: -1, lastEpoch: -1, state: Empty, parts: map[TP]struct{}{}, startMs: -1}
		s.txns[id] = m
		next := m.clone()
		next.epoch, next.timeoutMs = 0, timeoutMs
		s.write(m, next, func(err error) {
			if err != nil {
				if m.epoch < 0 && s.txns[id] == m {
					delete(s.txns, id) // never durable
				}
				fail(err)
				return
			}
			reply(InitResult{ProducerID: m.pid, Epoch: m.epoch})
		})
		return
	}
	if m.busy || m.state == PrepareCommit || m.state == PrepareAbort {
		fail(kerr.ConcurrentTransactions)
		return
	}
	// KIP-360: a client bumping its epoch must hold the current one, or
	// be retrying the InitProducerId that bumped it.
	retry := pid >= 0 && pid == m.pid && m.lastEpoch >= 0 && epoch == m.lastEpoch
	if pid >= 0 && !retry && !(pid == m.pid && epoch == m.epoch) {
		fail(kerr.ProducerFenced)
		return
	}
	switch m.state {
	case Ongoing:
		// Fence the old producer and abort its transaction; the client
		// retries and then gets the next epoch.
		s.abort(m, func(err error) {
			if err == nil {
				err = kerr.ConcurrentTransactions
			}
			fail(err)
		})
	case Empty, CompleteCommit, CompleteAbort, Dead:
		next := m.clone()
		switch {
		case retry:
		case pid >= 0:
			next.lastEpoch = m.epoch
			if err := s.bump(&next); err != nil {
				fail(err)
				return
			}
		default:
			next.lastEpoch = -1
			if err := s.bump(&next); err != nil {
				fail(err)
				return
			}
		}
		next.state, next.timeoutMs, next.startMs = Empty, timeoutMs, -1
		next.parts = map[TP]struct{}{}
		s.write(m, next, func(err error) {
			if err != nil {
				fail(err)
				return
			}
			reply(InitResult{ProducerID: m.pid, Epoch: m.epoch})
		})
	default:
		fail(kerr.ConcurrentTransactions)
	}
}

// addPartitions is TransactionCoordinator.handleAddPartitionsToTransaction.
func (s *shard) addPartitions(id string, pid int64, epoch int16, parts []TP, reply func(error)) {
	m := s.txns[id]
	if err := producerCheck(m, pid, epoch); err != nil {
		reply(err)
		return
	}
	if m.busy || m.state == PrepareCommit || m.state == PrepareAbort {
		reply(kerr.ConcurrentTransactions)
		return
	}
	if m.state == Ongoing {
		missing := false
		for _, tp := range parts {
			if _, ok := m.parts[tp]; !ok {
				missing = true
			}
		}
		if !missing {
			reply(nil)
			return
		}
	}
	next := m.clone()
	if m.state != Ongoing {
		next.parts = map[TP]struct{}{}
		next.startMs = s.nowMs()
	}
	next.state = Ongoing
	for _, tp := range parts {
		next.parts[tp] = struct{}{}
	}
	s.write(m, next, reply)
}

// verifyPartitions answers AddPartitionsToTxn's verify-only form
// (KIP-890): whether each partition is in the producer's open
// transaction (INVALID_TXN_STATE if not).
func (s *shard) verifyPartitions(id string, pid int64, epoch int16, parts []TP) map[TP]error {
	out := make(map[TP]error, len(parts))
	m := s.txns[id]
	err := producerCheck(m, pid, epoch)
	for _, tp := range parts {
		switch {
		case err != nil:
			out[tp] = err
		case m.state != Ongoing:
			out[tp] = kerr.InvalidTxnState
		default:
			if _, ok := m.parts[tp]; !ok {
				out[tp] = kerr.InvalidTxnState
			} else {
				out[tp] = nil
			}
		}
	}
	return out
}

// check is what TxnOffsetCommit needs: the producer holds the current
// epoch of an open transaction.
func (s *shard) check(id string, pid int64, epoch int16) error {
	m := s.txns[id]
	if err := producerCheck(m, pid, epoch); err != nil {
		return err
	}
	if m.state != Ongoing {
		return kerr.InvalidTxnState
	}
	return nil
}

// endTxn is TransactionCoordinator.handleEndTransaction (transaction
// version 1): the client is answered once PrepareCommit or PrepareAbort
// is durable; markers and the Complete state follow.
func (s *shard) endTxn(id string, pid int64, epoch int16, commit bool, reply func(error)) {
	m := s.txns[id]
	if err := producerCheck(m, pid, epoch); err != nil {
		reply(err)
		return
	}
	if m.busy {
		reply(kerr.ConcurrentTransactions)
		return
	}
	switch {
	case m.state == Ongoing:
		next := m.clone()
		next.state = PrepareAbort
		if commit {
			next.state = PrepareCommit
		}
		s.write(m, next, func(err error) {
			reply(err)
			if err == nil {
				s.writeMarkers(m)
			}
		})
	case m.state == CompleteCommit && commit, m.state == CompleteAbort && !commit:
		reply(nil) // a retry of the request that completed it
	case m.state == PrepareCommit && commit, m.state == PrepareAbort && !commit:
		reply(kerr.ConcurrentTransactions)
	default:
		reply(kerr.InvalidTxnState)
	}
}

// abort fences the producer (next epoch) and aborts its open transaction,
// as Kafka does on timeout and when a new producer initializes the id:
// done runs once PrepareAbort is durable.
func (s *shard) abort(m *txnMeta, done func(error)) {
	next := m.clone()
	if next.epoch < math.MaxInt16 {
		next.epoch++
	}
	next.lastEpoch = -1 // as Kafka's prepareFenceProducerEpoch
	next.state = PrepareAbort
	s.write(m, next, func(err error) {
		done(err)
		if err == nil {
			s.writeMarkers(m)
		}
	})
}

// writeMarkers writes m's markers (m is PrepareCommit or PrepareAbort)
// off the loop, then completes the transaction on the loop. Failures are
// retried until the coordinator stops; the next start resumes them.
func (s *shard) writeMarkers(m *txnMeta) {
	commit := m.state == PrepareCommit
	parts, pid, epoch := m.sortedParts(), m.pid, m.epoch
	m.busy = true // no other transition until Complete is durable
	s.c.wg.Add(1)
	go func() {
		defer s.c.wg.Done()
		for {
			err := s.c.cfg.Markers.WriteMarkers(s.c.ctx, parts, pid, epoch, commit)
			if err == nil {
				break
			}
			s.c.log.Warn("transaction markers not written, retrying", "transactional_id", m.id, "err", err)
			select {
			case <-s.c.stopping:
				s.q.push(func() { m.busy = false })
				return
			case <-time.After(s.c.cfg.MarkerRetry):
			}
		}
		s.q.push(func() { s.complete(m) })
	}()
}

// complete writes CompleteCommit or CompleteAbort once every marker is
// durable.
func (s *shard) complete(m *txnMeta) {
	m.busy = false
	if s.stopping || s.txns[m.id] != m {
		return
	}
	next := m.clone()
	next.state = CompleteAbort
	if m.state == PrepareCommit {
		next.state = CompleteCommit
	}
	next.parts = map[TP]struct{}{}
	next.startMs = -1
	s.write(m, next, func(err error) {
		if err != nil {
			s.c.log.Warn("transaction completion not written, retrying", "transactional_id", m.id, "err", err)
			m.busy = true
			s.c.clock.AfterFunc(s.c.cfg.MarkerRetry, func() { s.q.push(func() { s.complete(m) }) })
		}
	})
}

// scheduleSweep aborts timed-out transactions every AbortInterval.
func (s *shard) scheduleSweep() {
	s.sweep = s.c.clock.AfterFunc(s.c.cfg.AbortInterval, func() {
		s.q.push(func() {
			if s.stopping {
				return
			}
			s.abortExpired()
			s.expireIDs()
			s.scheduleSweep()
		})
	})
}

// abortExpired aborts (and fences) every open transaction older than its
// timeout, as Kafka's abortTimedOutTransactions.
func (s *shard) abortExpired() {
	now := s.nowMs()
	ids := make([]string, 0)
	for id, m := range s.txns {
		if m.state == Ongoing && !m.busy && m.startMs+int64(m.timeoutMs) < now {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		m := s.txns[id]
		s.c.log.Info("aborting timed-out transaction", "transactional_id", id, "producer_id", m.pid, "epoch", m.epoch)
		s.abort(m, func(error) {})
	}
}

// expireIDs deletes transactional ids idle for longer than IDExpiration
// with no transaction open or completing, as Kafka's
// removeExpiredTransactionalIds: a tombstone, then forgotten once durable.
func (s *shard) expireIDs() {
	cutoff := s.nowMs() - s.c.cfg.IDExpiration.Milliseconds()
	var ids []string
	for id, m := range s.txns {
		if !m.busy && m.updateMs < cutoff && (m.state == Empty || m.state == CompleteCommit || m.state == CompleteAbort) {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		m := s.txns[id]
		raw := encodeBatch(encodeKey(id), nil, s.nowMs())
		wait, err := s.log.Append(s.c.ctx, raw)
		if err != nil {
			wait = func(context.Context) error { return err }
		}
		m.busy = true
		s.inflight++
		s.acks <- pendingAppend{wait: wait, done: func(err error) {
			m.busy = false
			if err == nil && s.txns[id] == m {
				delete(s.txns, id)
				s.c.log.Info("transactional id expired", "transactional_id", id)
			}
		}}
	}
}

// load replays the partition; later records win, tombstones delete.
// Transactions that were being completed get their markers written again.
func (s *shard) load() bool {
	logStart, hw := s.log.Bounds()
	var records, skipped int
	for off := logStart; off < hw; {
		raw, err := s.log.Read(s.c.ctx, off, 1<<20)
		if err == nil && len(raw) == 0 {
			err = errors.New("no batch below the high watermark")
		}
		if err != nil {
			if s.c.ctx.Err() != nil {
				return false
			}
			s.c.log.Warn("transaction coordinator load: read failed, retrying", "partition", s.index, "offset", off, "err", err)
			select {
			case <-s.c.stopping:
				return false
			case <-time.After(time.Second):
			}
			if ls, _ := s.log.Bounds(); ls > off {
				off = ls
			}
			continue
		}
		it := batch.NewIter(raw)
		for {
			h, b, ok := it.Next()
			if !ok {
				break
			}
			if h.LastOffset() < off {
				continue
			}
			if !h.IsControl() {
				from := off
				err := batch.Records(b, func(r batch.Record) bool {
					if r.Offset < from {
						return true
					}
					id, m, ok, err := decodeRecord(bytes.Clone(r.Key), bytes.Clone(r.Value))
					if err != nil || !ok {
						skipped++
						if err != nil {
							s.c.log.Warn("transaction coordinator load: skipping record", "partition", s.index, "offset", r.Offset, "err", err)
						}
						return true
					}
					records++
					if m == nil {
						delete(s.txns, id)
					} else {
						s.txns[id] = m
					}
					return true
				})
				if err != nil {
					s.c.log.Warn("transaction coordinator load: skipping batch", "partition", s.index, "offset", h.BaseOffset, "err", err)
				}
			}
			off = h.LastOffset() + 1
		}
		if err := it.Err(); err != nil {
			s.c.log.Warn("transaction coordinator load: bad batch framing", "partition", s.index, "offset", off, "err", err)
			off++
		}
	}
	s.loaded.Store(true)
	resumed := 0
	for _, m := range s.txns {
		if m.state == PrepareCommit || m.state == PrepareAbort {
			s.writeMarkers(m)
			resumed++
		}
	}
	s.c.log.Debug("transaction coordinator partition loaded", "partition", s.index, "transactions", len(s.txns),
		"records", records, "skipped", skipped, "resumed", resumed)
	return true
}

// queue is an unbounded FIFO of functions for one loop goroutine.
type queue struct {
	mu    sync.Mutex // guards items
	items []func()

	ready chan struct{}
}

func newQueue() *queue { return &queue{ready: make(chan struct{}, 1)} }

func (q *queue) push(f func()) {
	q.mu.Lock()
	q.items = append(q.items, f)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

func (q *queue) pop() []func() {
	q.mu.Lock()
	items := q.items
	q.items = nil
	q.mu.Unlock()
	return items
}
