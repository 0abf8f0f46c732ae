package group

import (
	"context"
	"encoding/binary"
	"hash/crc32"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/weirdb/weir/internal/batch"
)

// Transactional offset commits (TxnOffsetCommit), as Kafka's group
// coordinator keeps them: the offsets are written at once, in a
// transactional batch with the producer's id and epoch, but become the
// group's committed offsets only when the transaction coordinator's
// commit marker for that producer is durable in the same partition (an
// abort marker drops them). Until then OffsetFetch with require_stable
// answers UNSTABLE_OFFSET_COMMIT for those partitions. A reload applies
// the log's markers the same way, so an aborted transaction's offsets
// never become visible.

// TxnCommitRequest is a TxnOffsetCommit request for one group.
type TxnCommitRequest struct {
	CommitRequest
	ProducerID int64
	Epoch      int16
}

// TxnCommit is TxnOffsetCommit; it returns one error per offset, in order.
func (c *Coordinator) TxnCommit(ctx context.Context, req TxnCommitRequest) []error {
	fail := func(err error) []error {
		errs := make([]error, len(req.Offsets))
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	s, err := c.enter(req.Group)
	if err != nil {
		return fail(err)
	}
	return call(ctx, s, fail(kerr.NotCoordinator), func(reply func([]error)) { s.txnCommit(req, reply) })
}

// TxnMarker tells the coordinator that a transaction marker for the
// producer is durable in partition of the offsets topic: its
// transactional offset commits there are applied (commit) or dropped.
func (c *Coordinator) TxnMarker(partition int32, producerID int64, commit bool) {
	if partition < 0 || int(partition) >= len(c.shards) {
		return
	}
	s := c.shards[partition]
	s.q.push(func() { s.applyTxnMarker(producerID, commit) })
}

func (s *shard) txnCommit(req TxnCommitRequest, reply func([]error)) {
	errs := make([]error, len(req.Offsets))
	g := s.groups[req.Group]
	if g != nil || req.Generation >= 0 || req.MemberID != "" {
		if g == nil {
			for i := range errs {
				errs[i] = kerr.IllegalGeneration
			}
			reply(errs)
			return
		}
		if req.Generation >= 0 || req.MemberID != "" {
			var err error
			if g.cg != nil {
				err = s.validateConsumerCommit(g, req.CommitRequest, true, errs)
			} else {
				err = g.validateCommit(req.MemberID, req.InstanceID, req.Generation)
			}
			if err != nil {
				for i := range errs {
					errs[i] = err
				}
				reply(errs)
				return
			}
		}
	}
	now := s.nowMs()
	recs, idx, vals := s.offsetRecords(req.Group, req.Offsets, errs, now)
	if len(recs) == 0 {
		reply(errs)
		return
	}
	raw := txnBatch(encodeBatch(recs, now), req.ProducerID, req.Epoch)
	wait, err := s.log.Append(s.c.ctx, raw)
	if err != nil {
		s.c.log.Error("group coordinator append failed", "partition", s.index, "err", err)
		wait = func(context.Context) error { return err }
	}
	s.inflight++
	s.acks <- pendingAppend{wait: wait, done: func(err error) {
		for j, i := range idx {
			if err != nil {
				errs[i] = writeErr(err)
				continue
			}
			s.pendTxnOffset(req.ProducerID, req.Group, req.Offsets[i].TopicPartition, vals[j])
		}
		reply(errs)
	}}
}

func (s *shard) pendTxnOffset(pid int64, group string, tp TopicPartition, v offset) {
	if s.txnPending == nil {
		s.txnPending = make(map[int64]map[string]map[TopicPartition]offset)
	}
	byGroup := s.txnPending[pid]
	if byGroup == nil {
		byGroup = make(map[string]map[TopicPartition]offset)
		s.txnPending[pid] = byGroup
	}
	if byGroup[group] == nil {
		byGroup[group] = make(map[TopicPartition]offset)
	}
	byGroup[group][tp] = v
}

func (s *shard) applyTxnMarker(pid int64, commit bool) {
	byGroup := s.txnPending[pid]
	delete(s.txnPending, pid)
	if !commit {
		return
	}
	for name, offs := range byGroup {
		g := s.groups[name]
		if g == nil {
			g = newGroup(name)
			s.groups[name] = g
		}
		for tp, v := range offs {
			g.offsets[tp] = v
		}
	}
}

// txnPendingFor reports whether an open transaction has offsets of the
// group's partition waiting for its marker.
func (s *shard) txnPendingFor(group string, tp TopicPartition) bool {
	for _, byGroup := range s.txnPending {
		if _, ok := byGroup[group][tp]; ok {
			return true
		}
	}
	return false
}

// txnBatch makes a coordinator batch transactional for the producer: the
// transactional attribute, producer id and epoch, no sequence (-1, as
// Kafka's coordinator writes them), and the CRC redone.
func txnBatch(raw []byte, pid int64, epoch int16) []byte {
	attrs := binary.BigEndian.Uint16(raw[21:])
	binary.BigEndian.PutUint16(raw[21:], attrs|batch.TransactionalBit)
	binary.BigEndian.PutUint64(raw[43:], uint64(pid))
	binary.BigEndian.PutUint16(raw[51:], uint16(epoch))
	binary.BigEndian.PutUint32(raw[53:], 0xffffffff)
	binary.BigEndian.PutUint32(raw[17:], crc32.Checksum(raw[21:], crc32.MakeTable(crc32.Castagnoli)))
	return raw
}

// markerType reads a control batch's marker type: 0 abort, 1 commit, -1
// if it is not a transaction marker.
func markerType(raw []byte) int {
	t := -1
	_ = batch.Records(raw, func(r batch.Record) bool {
		if len(r.Key) >= 4 && r.Key[0] == 0 && r.Key[1] == 0 && r.Key[2] == 0 && r.Key[3] <= 1 {
			t = int(r.Key[3])
		}
		return false
	})
	return t
}
