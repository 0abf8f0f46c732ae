package api

// DeleteShareGroupOffsets, version 0 (KIP-932).
//
// As Kafka: deletes a group's share-partition state for every partition of
// each named topic, so the next fetch starts over from
// share.auto.offset.reset. The group must exist (GROUP_ID_NOT_FOUND) and
// have no members (NON_EMPTY_GROUP); an unknown topic is
// UNKNOWN_TOPIC_OR_PARTITION on its topic. Deviation: no ACLs.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirdb/weir/internal/server"
)

func init() { register(92, 0, 0, handleDeleteShareGroupOffsets) }

func handleDeleteShareGroupOffsets(b *Broker, ctx context.Context, r *server.Request) server.Reply {
	req := r.Body.(*kmsg.DeleteShareGroupOffsetsRequest)
	return func() (kmsg.Response, error) {
		resp := req.ResponseKind().(*kmsg.DeleteShareGroupOffsetsResponse)
		if b.shares == nil {
			resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
			return resp, nil
		}
		var ids [][16]byte
		var okIdx []int
		for _, rt := range req.Topics {
			st := kmsg.NewDeleteShareGroupOffsetsResponseTopic()
			st.Topic = rt.Topic
			if t := b.eng.Topic(rt.Topic); t == nil {
				st.ErrorCode = kerr.UnknownTopicOrPartition.Code
			} else {
				st.TopicID = t.ID
				ids = append(ids, t.ID)
				okIdx = append(okIdx, len(resp.Topics))
			}
			resp.Topics = append(resp.Topics, st)
		}
		if err := b.shares.DeleteOffsets(ctx, req.GroupID, ids); err != nil {
			code := shareCode(err)
			if code == kerr.GroupIDNotFound.Code || code == kerr.NonEmptyGroup.Code {
				resp.ErrorCode, resp.ErrorMessage, resp.Topics = code, shareMessage(err), nil
				return resp, nil
			}
			for _, i := range okIdx {
				resp.Topics[i].ErrorCode = code
			}
		}
		return resp, nil
	}
}
