package api

// ConsumerGroupDescribe, versions 0-1 (KIP-848 consumer groups).
//
// As Kafka 4: each group with its state (Empty, Assigning, Reconciling,
// Stable), group epoch, target assignment epoch, assignor, and members
// with their epochs, subscriptions (names and regex), current and target
// assignments; v1 adds the member type (always consumer here). A group
// that does not exist, or is not a consumer group, is GROUP_ID_NOT_FOUND
// with a message. Authorized operations are READ, DELETE and DESCRIBE
// when asked for (no ACLs yet).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirdb/weir/internal/group"
	"github.com/weirdb/weir/internal/server"
)

func init() { register(69, 0, 1, handleConsumerGroupDescribe) }

// memberTypeConsumer is ConsumerGroupDescribe's MemberType of a member
// using the consumer protocol (0 would be classic).
const memberTypeConsumer = 1

// cgAssignment is an assignment on the wire, topics named by ID and name
// (empty for a topic deleted since).
func (b *Broker) cgAssignment(tps []group.TopicPartitions) kmsg.Assignment {
	var a kmsg.Assignment
	for _, t := range tps {
		at := kmsg.NewAssignmentTopicPartition()
		at.TopicID, at.Partitions = t.TopicID, t.Partitions
		if tp := b.topicByID(t.TopicID); tp != nil {
			at.Topic = tp.Name
		}
		a.TopicPartitions = append(a.TopicPartitions, at)
	}
	return a
}

func handleConsumerGroupDescribe(b *Broker, ctx context.Context, r *server.Request) server.Reply {
	req := r.Body.(*kmsg.ConsumerGroupDescribeRequest)
	return func() (kmsg.Response, error) {
		resp := req.ResponseKind().(*kmsg.ConsumerGroupDescribeResponse)
		var described []group.ConsumerDescribed
		if b.groups != nil {
			described = b.groups.ConsumerDescribe(ctx, req.Groups)
		}
		for i, name := range req.Groups {
			sg := kmsg.NewConsumerGroupDescribeResponseGroup()
			sg.Group = name
			if req.IncludeAuthorizedOperations {
				sg.AuthorizedOperations = groupOperations
			}
			if described == nil {
				sg.ErrorCode = kerr.CoordinatorNotAvailable.Code
				resp.Groups = append(resp.Groups, sg)
				continue
			}
			d := described[i]
			sg.ErrorCode = groupCode(d.Err)
			if d.ErrMessage != "" {
				sg.ErrorMessage = kmsg.StringPtr(d.ErrMessage)
			}
			sg.State, sg.Epoch, sg.AssignmentEpoch, sg.AssignorName = d.State, d.Epoch, d.AssignmentEpoch, d.Assignor
			for _, m := range d.Members {
				sm := kmsg.NewConsumerGroupDescribeResponseGroupMember()
				sm.MemberID, sm.InstanceID, sm.RackID, sm.MemberEpoch = m.MemberID, m.InstanceID, m.RackID, m.MemberEpoch
				sm.ClientID, sm.ClientHost = m.ClientID, m.ClientHost
				sm.SubscribedTopics, sm.SubscribedTopicRegex = m.SubscribedTopicNames, m.SubscribedTopicRegex
				if sm.SubscribedTopics == nil {
					sm.SubscribedTopics = []string{}
				}
				sm.Assignment, sm.TargetAssignment = b.cgAssignment(m.Assignment), b.cgAssignment(m.TargetAssignment)
				sm.MemberType = memberTypeConsumer
				sg.Members = append(sg.Members, sm)
			}
			resp.Groups = append(resp.Groups, sg)
		}
		return resp, nil
	}
}
