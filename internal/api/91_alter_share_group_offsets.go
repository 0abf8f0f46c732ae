package api

// AlterShareGroupOffsets, version 0 (KIP-932).
//
// As Kafka: sets the share-partition start offset of each partition of a
// group with no members (else NON_EMPTY_GROUP), creating the group's
// state if needed; the records' delivery states are forgotten. An unknown
// topic or partition is UNKNOWN_TOPIC_OR_PARTITION, a negative offset
// INVALID_REQUEST; the others are set in one durable write.
// Deviation: no ACLs; a classic group of the same name is not checked for.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirdb/weir/internal/server"
	"github.com/weirdb/weir/internal/share"
)

func init() { register(91, 0, 0, handleAlterShareGroupOffsets) }

func handleAlterShareGroupOffsets(b *Broker, ctx context.Context, r *server.Request) server.Reply {
	req := r.Body.(*kmsg.AlterShareGroupOffsetsRequest)
	return func() (kmsg.Response, error) {
		resp := req.ResponseKind().(*kmsg.AlterShareGroupOffsetsResponse)
		if b.shares == nil {
			resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
			return resp, nil
		}
		if req.GroupID == "" {
			resp.ErrorCode = kerr.InvalidGroupID.Code
			return resp, nil
		}
		offsets := make(map[share.TP]int64)
		type slot struct{ t, p int }
		var ok []slot
		for _, rt := range req.Topics {
			st := kmsg.NewAlterShareGroupOffsetsResponseTopic()
			st.Topic = rt.Topic
			t := b.eng.Topic(rt.Topic)
			if t != nil {
				st.TopicID = t.ID
			}
			for _, rp := range rt.Partitions {
				sp := kmsg.NewAlterShareGroupOffsetsResponseTopicPartition()
				sp.Partition = rp.Partition
				switch {
				case partitionOf(t, rp.Partition) == nil:
					sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				case rp.StartOffset < 0:
					sp.ErrorCode = kerr.InvalidRequest.Code
				default:
					offsets[share.TP{TopicID: t.ID, Partition: rp.Partition}] = rp.StartOffset
					ok = append(ok, slot{len(resp.Topics), len(st.Partitions)})
				}
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		if err := b.shares.AlterOffsets(ctx, req.GroupID, offsets); err != nil {
			code := shareCode(err)
			if code == kerr.NonEmptyGroup.Code {
				resp.ErrorCode, resp.Topics = code, nil
				return resp, nil
			}
			for _, s := range ok {
				resp.Topics[s.t].Partitions[s.p].ErrorCode = code
			}
		}
		return resp, nil
	}
}
