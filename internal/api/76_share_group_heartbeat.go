package api

// ShareGroupHeartbeat, versions 0-1 (KIP-932).
//
// Members join with MemberEpoch 0 and their subscription (MemberId is
// chosen by the client, 1-36 characters), heartbeat with their epoch (the
// current or the previous one; another is FENCED_MEMBER_EPOCH, an unknown
// member UNKNOWN_MEMBER_ID) and leave with -1. The assignment is sent to a
// request carrying SubscribedTopicNames or when the member's epoch moved.
//
// Deviations: every member is assigned every partition of its subscribed
// topics (Kafka's simple assignor spreads partitions when there are more
// than members; in a share group records, not partitions, are divided, so
// both are correct). Group ids are not checked against classic groups of
// the same name (Kafka answers GROUP_ID_NOT_FOUND for those). No ACLs.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirdb/weir/internal/server"
	"github.com/weirdb/weir/internal/share"
)

func init() { register(76, 0, 1, handleShareGroupHeartbeat) }

func handleShareGroupHeartbeat(b *Broker, ctx context.Context, r *server.Request) server.Reply {
	req := r.Body.(*kmsg.ShareGroupHeartbeatRequest)
	return func() (kmsg.Response, error) {
		resp := req.ResponseKind().(*kmsg.ShareGroupHeartbeatResponse)
		if b.shares == nil {
			resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
			return resp, nil
		}
		res, err := b.shares.Heartbeat(ctx, share.HeartbeatRequest{
			Group: req.GroupID, Member: req.MemberID, Epoch: req.MemberEpoch, Rack: req.RackID,
			Topics: req.SubscribedTopicNames, ClientID: clientID(r), Host: clientHost(r),
		})
		resp.HeartbeatIntervalMillis = res.IntervalMs
		if err != nil {
			resp.ErrorCode, resp.ErrorMessage = shareCode(err), shareMessage(err)
			return resp, nil
		}
		resp.MemberID = kmsg.StringPtr(req.MemberID)
		resp.MemberEpoch = res.Epoch
		if res.SendAssignment {
			a := kmsg.NewShareGroupHeartbeatResponseAssignment()
			a.TopicPartitions = []kmsg.ShareGroupHeartbeatResponseAssignmentTopicPartition{}
			for _, t := range res.Assignment {
				tp := kmsg.NewShareGroupHeartbeatResponseAssignmentTopicPartition()
				tp.TopicID, tp.Partitions = t.TopicID, t.Partitions
				a.TopicPartitions = append(a.TopicPartitions, tp)
			}
			resp.Assignment = &a
		}
		return resp, nil
	}
}
