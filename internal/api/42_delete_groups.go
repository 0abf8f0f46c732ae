package api

// DeleteGroups, versions 0-3.
//
// As Kafka: only a group without members (state Empty) is deleted, with
// all its committed offsets (tombstones in __consumer_offsets, answered
// once durable); a group with members is NON_EMPTY_GROUP, one that does
// not exist GROUP_ID_NOT_FOUND; v3 adds an error message. KIP-848 consumer
// groups likewise, once no member is left (static members away with epoch
// -2 still count, as in Kafka). Share groups (internal/share) likewise,
// with their share-partition state.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirdb/weir/internal/server"
)

func init() { register(42, 0, 3, handleDeleteGroups) }

func handleDeleteGroups(b *Broker, ctx context.Context, r *server.Request) server.Reply {
	req := r.Body.(*kmsg.DeleteGroupsRequest)
	return func() (kmsg.Response, error) {
		resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
		var errs []error
		if b.groups != nil {
			errs = b.groups.Delete(ctx, req.Groups)
		}
		for i, name := range req.Groups {
			sg := kmsg.NewDeleteGroupsResponseGroup()
			sg.Group = name
			if b.shares != nil && b.shares.IsShareGroup(name) {
				if err := b.shares.DeleteGroup(ctx, name); err != nil {
					sg.ErrorCode = shareCode(err)
					if r.Version >= 3 {
						sg.ErrorMessage = shareMessage(err)
					}
				}
			} else if errs == nil {
				sg.ErrorCode = kerr.CoordinatorNotAvailable.Code
			} else if err := errs[i]; err != nil {
				sg.ErrorCode = groupCode(err)
				if r.Version >= 3 {
					sg.ErrorMessage = kmsg.StringPtr(err.Error())
				}
			}
			resp.Groups = append(resp.Groups, sg)
		}
		return resp, nil
	}
}
