package api

// ShareGroupDescribe, versions 0-1 (KIP-932).
//
// As Kafka: each group is described with its state (Empty or Stable),
// epochs, the "simple" assignor and its members with their
// subscriptions and assignments; an unknown group is GROUP_ID_NOT_FOUND.
// Deviation: the assignment epoch is the group epoch (Weir assigns at
// once), and AuthorizedOperations is left unset (no ACLs).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirdb/weir/internal/server"
)

func init() { register(77, 0, 1, handleShareGroupDescribe) }

func handleShareGroupDescribe(b *Broker, _ context.Context, r *server.Request) server.Reply {
	req := r.Body.(*kmsg.ShareGroupDescribeRequest)
	resp := req.ResponseKind().(*kmsg.ShareGroupDescribeResponse)
	for _, id := range req.GroupIDs {
		rg := kmsg.NewShareGroupDescribeResponseGroup()
		rg.GroupID = id
		if b.shares == nil {
			rg.ErrorCode = kerr.CoordinatorNotAvailable.Code
			resp.Groups = append(resp.Groups, rg)
			continue
		}
		gi, ok := b.shares.Describe(id)
		if !ok {
			rg.ErrorCode = kerr.GroupIDNotFound.Code
			rg.ErrorMessage = kmsg.StringPtr("Group " + id + " not found.")
			resp.Groups = append(resp.Groups, rg)
			continue
		}
		rg.GroupState, rg.GroupEpoch, rg.AssignmentEpoch, rg.Assignor = gi.State, gi.Epoch, gi.Epoch, "simple"
		for _, m := range gi.Members {
			sm := kmsg.NewShareGroupDescribeResponseGroupMember()
			sm.MemberID, sm.RackID, sm.MemberEpoch = m.ID, m.Rack, m.Epoch
			sm.ClientID, sm.ClientHost, sm.SubscribedTopicNames = m.ClientID, m.Host, m.Topics
			for _, a := range m.Assignment {
				tp := kmsg.NewShareGroupDescribeResponseGroupMemberAssignmentTopicPartition()
				tp.TopicID, tp.Topic, tp.Partitions = a.TopicID, a.Topic, a.Partitions
				sm.Assignment.TopicPartitions = append(sm.Assignment.TopicPartitions, tp)
			}
			rg.Members = append(rg.Members, sm)
		}
		resp.Groups = append(resp.Groups, rg)
	}
	return server.Done(resp)
}
