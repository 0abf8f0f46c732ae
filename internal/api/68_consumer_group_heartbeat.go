package api

// ConsumerGroupHeartbeat, versions 0-1 (KIP-848 consumer groups).
//
// As Kafka 4: MemberEpoch 0 joins (owned partitions must be an empty
// list), -1 leaves, -2 leaves for a while (static members keep their
// place and assignment until their session expires), a positive epoch
// heartbeats; the coordinator assigns with the "uniform" (default) or
// "range" ServerAssignor (others: UNSUPPORTED_ASSIGNOR) and reconciles
// incrementally: a partition goes to its new owner only once the previous
// owner stopped reporting it. Subscriptions are topic names or, v1+, a
// regular expression resolved by the broker against every topic name
// (internal topics too), matching whole names (Go's RE2 regexp; a bad one
// is INVALID_REGULAR_EXPRESSION). v1 members name themselves (KIP-1082):
// an empty member ID is INVALID_REQUEST; v0 joins get one from the broker.
// Errors: UNKNOWN_MEMBER_ID, FENCED_MEMBER_EPOCH (the previous epoch is
// accepted with a subset of the assignment), UNRELEASED_INSTANCE_ID,
// FENCED_INSTANCE_ID, INVALID_REQUEST for bad field combinations,
// GROUP_ID_NOT_FOUND for a classic group with members. Session timeout
// and heartbeat interval are group.consumer.session.timeout.ms and
// group.consumer.heartbeat.interval.ms; a member revoking partitions
// longer than its rebalance timeout is fenced. Answers wait until the
// group's new state is durable in __consumer_offsets.
//
// Deviations: no online migration between classic and consumer groups
// (as group.consumer.migration.policy=disabled): an empty group of either
// type is converted, a non-empty one refuses the other protocol;
// group.consumer.max.size is not enforced (Kafka's default is no limit);
// RackID is stored and described but not used by the assignors; per-group
// configs (KIP-1240 group configs) are not supported.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirdb/weir/internal/group"
	"github.com/weirdb/weir/internal/server"
)

func init() { register(68, 0, 1, handleConsumerGroupHeartbeat) }

func handleConsumerGroupHeartbeat(b *Broker, ctx context.Context, r *server.Request) server.Reply {
	req := r.Body.(*kmsg.ConsumerGroupHeartbeatRequest)
	resp := req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
	if b.groups == nil {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return server.Done(resp)
	}
	hr := group.ConsumerHeartbeatRequest{
		Group:                req.Group,
		MemberID:             req.MemberID,
		MemberEpoch:          req.MemberEpoch,
		InstanceID:           req.InstanceID,
		RackID:               req.RackID,
		RebalanceTimeoutMs:   req.RebalanceTimeoutMillis,
		SubscribedTopicNames: req.SubscribedTopicNames,
		ServerAssignor:       req.ServerAssignor,
		ClientID:             clientID(r),
		ClientHost:           clientHost(r),
		MemberIDRequired:     r.Version >= 1,
	}
	if r.Version >= 1 {
		hr.SubscribedTopicRegex = req.SubscribedTopicRegex
	}
	if req.Topics != nil {
		hr.Owned = make([]group.TopicPartitions, 0, len(req.Topics))
		for _, t := range req.Topics {
			hr.Owned = append(hr.Owned, group.TopicPartitions{TopicID: t.TopicID, Partitions: t.Partitions})
		}
	}
	// The answer waits for the group's record to be durable: off the
	// read loop.
	return func() (kmsg.Response, error) {
		res := b.groups.ConsumerHeartbeat(ctx, hr)
		resp.ErrorCode = groupCode(res.Err)
		if res.ErrMessage != "" {
			resp.ErrorMessage = kmsg.StringPtr(res.ErrMessage)
		}
		resp.HeartbeatIntervalMillis = res.HeartbeatIntervalMs
		if res.Err != nil {
			return resp, nil
		}
		resp.MemberID = kmsg.StringPtr(res.MemberID)
		resp.MemberEpoch = res.MemberEpoch
		if res.HasAssignment {
			a := kmsg.NewConsumerGroupHeartbeatResponseAssignment()
			for _, t := range res.Assignment {
				at := kmsg.NewConsumerGroupHeartbeatResponseAssignmentTopic()
				at.TopicID, at.Partitions = t.TopicID, t.Partitions
				a.Topics = append(a.Topics, at)
			}
			resp.Assignment = &a
		}
		return resp, nil
	}
}
