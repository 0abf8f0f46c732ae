package api

// FindCoordinator, versions 0-6.
//
// This broker coordinates every group (key type 0) and every
// transactional id (key type 1): the answer is this broker once the
// coordinator runs (COORDINATOR_NOT_AVAILABLE before). v4+ answer each
// key of CoordinatorKeys, older versions the one CoordinatorKey.
//
// Deviations: key type 2 (share group, v6) is INVALID_REQUEST, as share
// groups are not supported, and so is any other type, as in Kafka.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirdb/weir/internal/server"
)

func init() { register(10, 0, 6, handleFindCoordinator) }

func handleFindCoordinator(b *Broker, _ context.Context, r *server.Request) server.Reply {
	req := r.Body.(*kmsg.FindCoordinatorRequest)
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	keys := req.CoordinatorKeys
	if r.Version < 4 {
		keys = []string{req.CoordinatorKey}
	}
	for _, key := range keys {
		c := kmsg.NewFindCoordinatorResponseCoordinator()
		c.Key, c.NodeID, c.Port = key, -1, -1
		switch {
		case req.CoordinatorType == 1 && b.txns == nil:
			c.ErrorCode = kerr.CoordinatorNotAvailable.Code
		case req.CoordinatorType == 1:
			c.NodeID, c.Host, c.Port = b.eng.NodeID(), b.host, b.port
		case req.CoordinatorType != 0:
			c.ErrorCode = kerr.InvalidRequest.Code
			c.ErrorMessage = kmsg.StringPtr("unsupported coordinator type")
		case b.groups == nil:
			c.ErrorCode = kerr.CoordinatorNotAvailable.Code
		default:
			c.NodeID, c.Host, c.Port = b.eng.NodeID(), b.host, b.port
		}
		resp.Coordinators = append(resp.Coordinators, c)
	}
	if r.Version < 4 {
		c := resp.Coordinators[0]
		resp.Coordinators = nil
		resp.ErrorCode, resp.NodeID, resp.Host, resp.Port = c.ErrorCode, c.NodeID, c.Host, c.Port
		if r.Version >= 1 {
			resp.ErrorMessage = c.ErrorMessage
		}
	}
	return server.Done(resp)
}
