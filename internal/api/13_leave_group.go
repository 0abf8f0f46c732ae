package api

// LeaveGroup, versions 0-5 (classic groups).
//
// As Kafka: v0-2 one member leaves and its error is the response's; v3+
// several members, each answered (a member given by instance ID alone is
// removed administratively, KIP-345); v5 carries a reason, which is
// logged. A leaving member triggers a rebalance of the others. A group
// that does not exist answers each member UNKNOWN_MEMBER_ID.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirdb/weir/internal/group"
	"github.com/weirdb/weir/internal/server"
)

func init() { register(13, 0, 5, handleLeaveGroup) }

func handleLeaveGroup(b *Broker, ctx context.Context, r *server.Request) server.Reply {
	req := r.Body.(*kmsg.LeaveGroupRequest)
	resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	if b.groups == nil {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return server.Done(resp)
	}
	var members []group.LeaveMember
	if r.Version < 3 {
		members = []group.LeaveMember{{MemberID: req.MemberID}}
	} else {
		for _, m := range req.Members {
			lm := group.LeaveMember{MemberID: m.MemberID, InstanceID: m.InstanceID}
			if m.Reason != nil {
				lm.Reason = *m.Reason
			}
			members = append(members, lm)
		}
	}
	return func() (kmsg.Response, error) {
		res := b.groups.Leave(ctx, req.Group, members)
		resp.ErrorCode = groupCode(res.Err)
		if res.Err != nil {
			return resp, nil
		}
		if r.Version < 3 {
			resp.ErrorCode = groupCode(res.Members[0])
			return resp, nil
		}
		for i, m := range members {
			rm := kmsg.NewLeaveGroupResponseMember()
			rm.MemberID, rm.InstanceID, rm.ErrorCode = m.MemberID, m.InstanceID, groupCode(res.Members[i])
			resp.Members = append(resp.Members, rm)
		}
		return resp, nil
	}
}
