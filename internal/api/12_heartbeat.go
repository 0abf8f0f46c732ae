package api

// Heartbeat, versions 0-4 (classic groups).
//
// As Kafka: a heartbeat keeps the member's session; during a rebalance's
// join phase it is answered REBALANCE_IN_PROGRESS so the member rejoins;
// a stale generation is ILLEGAL_GENERATION, an unknown member or group
// UNKNOWN_MEMBER_ID, a fenced static member (v3+) FENCED_INSTANCE_ID.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirdb/weir/internal/group"
	"github.com/weirdb/weir/internal/server"
)

func init() { register(12, 0, 4, handleHeartbeat) }

func handleHeartbeat(b *Broker, ctx context.Context, r *server.Request) server.Reply {
	req := r.Body.(*kmsg.HeartbeatRequest)
	resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
	if b.groups == nil {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return server.Done(resp)
	}
	hr := group.HeartbeatRequest{Group: req.Group, MemberID: req.MemberID, InstanceID: req.InstanceID, Generation: req.Generation}
	return func() (kmsg.Response, error) {
		resp.ErrorCode = groupCode(b.groups.Heartbeat(ctx, hr))
		return resp, nil
	}
}
