package api

// JoinGroup, versions 0-9 (classic groups).
//
// As Kafka: v4+ a member without an ID gets MEMBER_ID_REQUIRED and an ID
// to rejoin with (KIP-394); v5+ static members (group.instance.id,
// KIP-345), a duplicate instance is FENCED_INSTANCE_ID; session timeouts
// outside group.min/max.session.timeout.ms are INVALID_SESSION_TIMEOUT (the
// rebalance timeout is not bounded, as in Kafka); members without a
// protocol in common, or of another protocol type, are
// INCONSISTENT_GROUP_PROTOCOL; v9 lets a static leader rejoining a Stable
// group skip the assignment (KIP-814). v0 has no rebalance timeout: the
// session timeout stands in for it. The answer waits for the join phase
// of the rebalance to end (up to the rebalance timeout).
//
// Deviation: group.max.size is not enforced (Kafka's default is no limit).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirdb/weir/internal/group"
	"github.com/weirdb/weir/internal/server"
)

func init() { register(11, 0, 9, handleJoinGroup) }

func handleJoinGroup(b *Broker, ctx context.Context, r *server.Request) server.Reply {
	req := r.Body.(*kmsg.JoinGroupRequest)
	resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
	resp.Generation = -1
	if b.groups == nil {
		resp.MemberID = req.MemberID
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return server.Done(resp)
	}
	jr := group.JoinRequest{
		Group:                  req.Group,
		MemberID:               req.MemberID,
		InstanceID:             req.InstanceID,
		ClientID:               clientID(r),
		ClientHost:             clientHost(r),
		SessionTimeoutMs:       req.SessionTimeoutMillis,
		RebalanceTimeoutMs:     req.RebalanceTimeoutMillis,
		ProtocolType:           req.ProtocolType,
		RequireKnownMemberID:   r.Version >= 4,
		SupportsSkipAssignment: r.Version >= 9,
	}
	if r.Version == 0 {
		jr.RebalanceTimeoutMs = req.SessionTimeoutMillis
	}
	if req.Reason != nil {
		jr.Reason = *req.Reason
	}
	for _, p := range req.Protocols {
		jr.Protocols = append(jr.Protocols, group.Protocol{Name: p.Name, Metadata: p.Metadata})
	}
	// The answer waits for the rebalance: off the read loop.
	return func() (kmsg.Response, error) {
		res := b.groups.Join(ctx, jr)
		resp.ErrorCode = groupCode(res.Err)
		resp.MemberID = res.MemberID
		resp.Generation = res.Generation
		resp.ProtocolType = res.ProtocolType
		resp.Protocol = res.Protocol
		resp.LeaderID = res.Leader
		resp.SkipAssignment = res.SkipAssignment
		for _, m := range res.Members {
			rm := kmsg.NewJoinGroupResponseMember()
			rm.MemberID, rm.InstanceID, rm.ProtocolMetadata = m.MemberID, m.InstanceID, m.Metadata
			resp.Members = append(resp.Members, rm)
		}
		return resp, nil
	}
}
