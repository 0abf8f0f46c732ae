package api

// TxnOffsetCommit, versions 0-4: offsets committed as part of the
// producer's transaction (consume-transform-produce). The group's
// partition of __consumer_offsets must have been added to the
// transaction (AddOffsetsToTxn): the transaction coordinator is asked,
// as Kafka 3.6+ verifies (INVALID_TXN_STATE if it was not;
// INVALID_PRODUCER_ID_MAPPING, PRODUCER_FENCED or, before v3,
// INVALID_PRODUCER_EPOCH for a wrong producer). The offsets are written
// at once and become the group's committed offsets when the transaction
// commits (dropped if it aborts); until then OffsetFetch with
// require_stable answers UNSTABLE_OFFSET_COMMIT for them. v3+ member and
// generation are checked as OffsetCommit checks them when given.
// Unknown partitions are UNKNOWN_TOPIC_OR_PARTITION. v5 (transaction
// version 2) is not supported.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirdb/weir/internal/group"
	"github.com/weirdb/weir/internal/server"
	"github.com/weirdb/weir/internal/txn"
)

func init() { register(28, 0, 4, handleTxnOffsetCommit) }

func handleTxnOffsetCommit(b *Broker, ctx context.Context, r *server.Request) server.Reply {
	req := r.Body.(*kmsg.TxnOffsetCommitRequest)
	return func() (kmsg.Response, error) {
		resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
		cr := group.TxnCommitRequest{
			CommitRequest: group.CommitRequest{Group: req.Group, Generation: -1},
			ProducerID:    req.ProducerID,
			Epoch:         req.ProducerEpoch,
		}
		if r.Version >= 3 {
			cr.MemberID, cr.InstanceID, cr.Generation = req.MemberID, req.InstanceID, req.Generation
		}
		// Coordinator-wide failures answer every partition.
		var common int16
		switch {
		case b.groups == nil || b.txns == nil:
			common = kerr.CoordinatorNotAvailable.Code
		default:
			tp := txn.TP{Topic: group.TopicName, Partition: group.PartitionFor(req.Group, b.groups.NumPartitions())}
			err := b.txns.AddPartitions(ctx, req.TransactionalID, req.ProducerID, req.ProducerEpoch, []txn.TP{tp}, true)[tp]
			common = txnCode(err, r.Version, 3)
		}
		type slot struct{ t, p int }
		var slots []slot
		resp.Topics = make([]kmsg.TxnOffsetCommitResponseTopic, len(req.Topics))
		for ti, rt := range req.Topics {
			st := &resp.Topics[ti]
			*st = kmsg.NewTxnOffsetCommitResponseTopic()
			st.Topic = rt.Topic
			t := b.eng.Topic(rt.Topic)
			st.Partitions = make([]kmsg.TxnOffsetCommitResponseTopicPartition, len(rt.Partitions))
			for pi, rp := range rt.Partitions {
				sp := &st.Partitions[pi]
				*sp = kmsg.NewTxnOffsetCommitResponseTopicPartition()
				sp.Partition = rp.Partition
				switch {
				case common != 0:
					sp.ErrorCode = common
				case t == nil || !knownPartition(t, rp.Partition):
					sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				default:
					epoch := rp.LeaderEpoch
					if r.Version < 2 {
						epoch = -1
					}
					cr.Offsets = append(cr.Offsets, group.CommitOffset{
						TopicPartition: group.TopicPartition{Topic: t.Name, Partition: rp.Partition},
						Offset:         rp.Offset,
						LeaderEpoch:    epoch,
						Metadata:       rp.Metadata,
					})
					slots = append(slots, slot{ti, pi})
				}
			}
		}
		if len(cr.Offsets) == 0 {
			return resp, nil
		}
		for i, err := range b.groups.TxnCommit(ctx, cr) {
			resp.Topics[slots[i].t].Partitions[slots[i].p].ErrorCode = groupCode(err)
		}
		return resp, nil
	}
}
