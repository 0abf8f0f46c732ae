package api

// SyncGroup, versions 0-5 (classic groups).
//
// As Kafka: the leader's assignment is stored in __consumer_offsets before
// anyone is answered; members it left out get an empty assignment;
// followers wait for it. A stale generation is ILLEGAL_GENERATION, a sync
// during the join phase REBALANCE_IN_PROGRESS, an unknown member
// UNKNOWN_MEMBER_ID, a fenced static member FENCED_INSTANCE_ID; v5+
// protocol type and name, when given, must match the group's
// (INCONSISTENT_GROUP_PROTOCOL) and are returned.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirdb/weir/internal/group"
	"github.com/weirdb/weir/internal/server"
)

func init() { register(14, 0, 5, handleSyncGroup) }

func handleSyncGroup(b *Broker, ctx context.Context, r *server.Request) server.Reply {
	req := r.Body.(*kmsg.SyncGroupRequest)
	resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
	if b.groups == nil {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return server.Done(resp)
	}
	sr := group.SyncRequest{
		Group:        req.Group,
		MemberID:     req.MemberID,
		InstanceID:   req.InstanceID,
		Generation:   req.Generation,
		ProtocolType: req.ProtocolType,
		Protocol:     req.Protocol,
	}
	if len(req.GroupAssignment) > 0 {
		sr.Assignments = make(map[string][]byte, len(req.GroupAssignment))
		for _, a := range req.GroupAssignment {
			sr.Assignments[a.MemberID] = a.MemberAssignment
		}
	}
	return func() (kmsg.Response, error) {
		res := b.groups.Sync(ctx, sr)
		resp.ErrorCode = groupCode(res.Err)
		resp.ProtocolType, resp.Protocol = res.ProtocolType, res.Protocol
		resp.MemberAssignment = res.Assignment
		if resp.MemberAssignment == nil {
			resp.MemberAssignment = []byte{}
		}
		return resp, nil
	}
}
