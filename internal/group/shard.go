package group

import (
	"bytes"
	"context"
	"errors"
	"sort"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/weirdb/weir/internal/batch"
	"github.com/weirdb/weir/internal/engine"
)

// shard owns the groups of one offsets topic partition: one goroutine (run)
// changes them, fed by q. Timers and storage completions reach it through
// q too, so no state here needs a lock.
type shard struct {
	c     *Coordinator
	index int32
	log   Log
	q     *queue

	loaded atomic.Bool   // groups loaded; requests are served
	done   chan struct{} // closed when run returns

	// Loop-owned.
	groups   map[string]*group
	stopping bool
	inflight int // appends whose completion has not run yet
	acks     chan pendingAppend
	expiry   *loopTimer
	// txnPending holds transactional offset commits waiting for their
	// producer's marker: producer id -> group -> offsets (see txn.go).
	txnPending map[int64]map[string]map[TopicPartition]offset
}

type pendingAppend struct {
	wait func(context.Context) error
	done func(error)
}

func newShard(c *Coordinator, index int32, log Log) *shard {
	return &shard{
		c:      c,
		index:  index,
		log:    log,
		q:      newQueue(),
		done:   make(chan struct{}),
		groups: make(map[string]*group),
		acks:   make(chan pendingAppend, 256),
	}
}

// run loads the shard's groups, then serves its queue until stopped and
// every append has completed.
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
	s.scheduleExpiry()
	for {
		select {
		case <-s.q.ready:
		case <-s.c.ctx.Done():
			return // Stop gave up waiting for appends
		}
		for _, f := range s.q.pop() {
			f()
		}
		if s.stopping && s.inflight == 0 {
			return
		}
	}
}

// acker completes appends in the order they were made, on the loop: the
// log makes them durable in that order, and the groups must see commits
// and deletions in log order.
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

// write appends recs as one batch; done runs on the loop once the batch is
// durable or failed, after the completions of every earlier write.
func (s *shard) write(recs []kv, done func(error)) {
	raw := encodeBatch(recs, s.nowMs())
	wait, err := s.log.Append(s.c.ctx, raw)
	if err != nil {
		s.c.log.Error("group coordinator append failed", "partition", s.index, "err", err)
		wait = func(context.Context) error { return err }
	}
	s.inflight++
	s.acks <- pendingAppend{wait: wait, done: done}
}

// writeErr maps a failed append to the error clients get: retriable, so
// they find the coordinator again.
func writeErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, engine.ErrNotLeader) || errors.Is(err, engine.ErrPartitionDeleted) {
		return kerr.NotCoordinator
	}
	return kerr.CoordinatorNotAvailable
}

// beginStop answers everything parked in a rebalance with NOT_COORDINATOR,
// as Kafka does when a coordinator unloads, and stops all timers. The loop
// exits once in-flight appends complete.
func (s *shard) beginStop() {
	if s.stopping {
		return
	}
	s.stopping = true
	s.expiry.stop()
	for _, g := range s.groups {
		s.unload(g)
	}
}

func (s *shard) unload(g *group) {
	if g.cg != nil {
		g.cg.stopTimers()
	}
	g.joinTimer.stop()
	g.syncTimer.stop()
	for _, t := range g.pending {
		t.stop()
	}
	for _, m := range g.members {
		m.heartbeat.stop()
		g.answerJoin(m, JoinResult{Err: kerr.NotCoordinator, MemberID: m.id, Generation: -1})
		g.answerSync(m, SyncResult{Err: kerr.NotCoordinator})
	}
}

func (s *shard) nowMs() int64 { return s.c.clock.Now().UnixMilli() }

// after runs fn on the loop once d has passed, unless the returned timer is
// stopped first.
func (s *shard) after(d time.Duration, fn func()) *loopTimer {
	t := &loopTimer{}
	t.t = s.c.clock.AfterFunc(d, func() {
		s.q.push(func() {
			if t.done || s.stopping {
				return
			}
			t.done = true
			fn()
		})
	})
	return t
}

// live reports whether g is still the shard's group of that name: timers
// of a deleted group must not touch its successor.
func (s *shard) live(g *group) bool { return s.groups[g.name] == g }

// load replays the partition from its log start offset to its high
// watermark: later records win and tombstones delete. Read errors are
// retried until the coordinator stops; undecodable records are skipped.
func (s *shard) load() bool {
	start := s.c.clock.Now()
	type building struct {
		meta     *loadedGroup
		consumer *consumerSnapshot
		offsets  map[TopicPartition]offset
	}
	byGroup := make(map[string]*building)
	get := func(name string) *building {
		b := byGroup[name]
		if b == nil {
			b = &building{offsets: make(map[TopicPartition]offset)}
			byGroup[name] = b
		}
		return b
	}
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
			s.c.log.Warn("group coordinator load: read failed, retrying", "partition", s.index, "offset", off, "err", err)
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
			if h.IsControl() {
				// A transaction marker settles the producer's
				// transactional commits read so far.
				if t := markerType(b); t >= 0 {
					for name, offs := range s.txnPending[h.ProducerID] {
						if t == 1 {
							bg := get(name)
							for tp, v := range offs {
								bg.offsets[tp] = v
							}
						}
					}
					delete(s.txnPending, h.ProducerID)
				}
			} else {
				from := off
				txnal := h.IsTransactional()
				err := batch.Records(b, func(r batch.Record) bool {
					if r.Offset < from {
						return true
					}
					l, ok, err := decodeRecord(bytes.Clone(r.Key), bytes.Clone(r.Value))
					if err != nil || !ok {
						skipped++
						if err != nil {
							s.c.log.Warn("group coordinator load: skipping record", "partition", s.index, "offset", r.Offset, "err", err)
						}
						return true
					}
					records++
					if txnal && l.offset != nil && !l.offset.delete {
						s.pendTxnOffset(h.ProducerID, l.group, l.offset.tp, l.offset.value)
						return true
					}
					bg := get(l.group)
					switch {
					case l.offset != nil && l.offset.delete:
						delete(bg.offsets, l.offset.tp)
					case l.offset != nil:
						bg.offsets[l.offset.tp] = l.offset.value
					case l.consumer != nil:
						// A group is classic or consumer,
						// whichever record came last.
						bg.consumer = l.consumer.snap
						if bg.consumer != nil {
							bg.meta = nil
						}
					case l.meta.delete:
						bg.meta = nil
					default:
						bg.meta = l.meta
						bg.consumer = nil
					}
					return true
				})
				if err != nil {
					s.c.log.Warn("group coordinator load: skipping batch", "partition", s.index, "offset", h.BaseOffset, "err", err)
				}
			}
			off = h.LastOffset() + 1
		}
		if err := it.Err(); err != nil {
			s.c.log.Warn("group coordinator load: bad batch framing, skipping to the next read", "partition", s.index, "offset", off, "err", err)
			off++
		}
	}
	names := make([]string, 0, len(byGroup))
	for name := range byGroup {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		b := byGroup[name]
		if b.meta == nil && b.consumer == nil && len(b.offsets) == 0 {
			continue
		}
		g := newGroup(name)
		g.offsets = b.offsets
		if b.meta != nil {
			s.restore(g, b.meta)
		}
		if b.consumer != nil {
			s.restoreConsumer(g, b.consumer)
		}
		s.groups[name] = g
	}
	s.loaded.Store(true)
	s.c.log.Debug("group coordinator partition loaded", "partition", s.index, "groups", len(s.groups),
		"records", records, "skipped", skipped, "took", s.c.clock.Now().Sub(start))
	return true
}

// restore rebuilds a group from its metadata record: Stable with its
// members and their assignments, or Empty. Each member must heartbeat
// within its session timeout, as after any coordinator move in Kafka.
func (s *shard) restore(g *group, l *loadedGroup) {
	v := &l.value
	g.protocolType = v.ProtocolType
	g.generation = v.Generation
	if v.Protocol != nil {
		g.protocol = *v.Protocol
	}
	if v.Leader != nil {
		g.leader = *v.Leader
	}
	g.stateMs = v.CurrentStateTimestamp
	for _, vm := range v.Members {
		m := &member{
			id:                 vm.MemberID,
			instanceID:         vm.InstanceID,
			clientID:           vm.ClientID,
			clientHost:         vm.ClientHost,
			sessionTimeoutMs:   vm.SessionTimeoutMillis,
			rebalanceTimeoutMs: vm.RebalanceTimeoutMillis,
			protocolType:       v.ProtocolType,
			protocols:          []Protocol{{Name: g.protocol, Metadata: vm.Subscription}},
			assignment:         vm.Assignment,
		}
		if m.rebalanceTimeoutMs < 0 {
			m.rebalanceTimeoutMs = m.sessionTimeoutMs
		}
		g.seq++
		m.seq = g.seq
		g.members[m.id] = m
		if m.instanceID != nil {
			g.static[*m.instanceID] = m.id
		}
		s.scheduleHeartbeat(g, m, time.Duration(m.sessionTimeoutMs)*time.Millisecond)
	}
	if len(g.members) > 0 {
		g.state = stateStable
		if g.members[g.leader] == nil {
			g.leader = g.orderedMembers()[0].id
		}
	} else {
		g.leader = ""
	}
	g.subscribed = g.computeSubscribed()
}
