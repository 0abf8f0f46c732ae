package api

// OffsetDelete, version 0.
//
// As Kafka: an Empty group loses the named offsets; a consumer group with
// members only those of topics none of them subscribes to
// (GROUP_SUBSCRIBED_TO_TOPIC otherwise), and any other group with members
// none (NON_EMPTY_GROUP). A group that does not exist is
// GROUP_ID_NOT_FOUND; partitions of unknown topics are
// UNKNOWN_TOPIC_OR_PARTITION. Answered once the tombstones are durable.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirdb/weir/internal/group"
	"github.com/weirdb/weir/internal/server"
)

func init() { register(47, 0, 0, handleOffsetDelete) }

func handleOffsetDelete(b *Broker, ctx context.Context, r *server.Request) server.Reply {
	req := r.Body.(*kmsg.OffsetDeleteRequest)
	return func() (kmsg.Response, error) {
		resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
		if b.groups == nil {
			resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
			return resp, nil
		}
		type slot struct{ t, p int }
		var tps []group.TopicPartition
		var slots []slot
		resp.Topics = make([]kmsg.OffsetDeleteResponseTopic, len(req.Topics))
		for ti, rt := range req.Topics {
			st := &resp.Topics[ti]
			*st = kmsg.NewOffsetDeleteResponseTopic()
			st.Topic = rt.Topic
			known := b.eng.Topic(rt.Topic) != nil
			for pi, rp := range rt.Partitions {
				sp := kmsg.NewOffsetDeleteResponseTopicPartition()
				sp.Partition = rp.Partition
				if !known {
					sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				} else {
					tps = append(tps, group.TopicPartition{Topic: rt.Topic, Partition: rp.Partition})
					slots = append(slots, slot{ti, pi})
				}
				st.Partitions = append(st.Partitions, sp)
			}
		}
		res := b.groups.DeleteOffsets(ctx, req.Group, tps)
		if res.Err != nil {
			resp.ErrorCode = groupCode(res.Err)
			resp.Topics = nil
			return resp, nil
		}
		for i, err := range res.Partitions {
			resp.Topics[slots[i].t].Partitions[slots[i].p].ErrorCode = groupCode(err)
		}
		return resp, nil
	}
}
