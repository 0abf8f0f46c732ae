package api

// ListGroups, versions 0-5.
//
// As Kafka: v4+ filters by state and v5+ by type, both case-insensitive;
// groups are of type "classic", or "consumer" for KIP-848 groups
// (protocol type "consumer", states Empty, Assigning, Reconciling,
// Stable), or "share" for KIP-932 share groups (protocol type "share",
// states Empty and Stable; kept by internal/share). Groups that only hold offsets
// (committed from outside group management) are listed with an empty
// protocol type. While part of __consumer_offsets is still loading the
// answer is COORDINATOR_LOAD_IN_PROGRESS with the groups already loaded.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirdb/weir/internal/group"
	"github.com/weirdb/weir/internal/server"
)

func init() { register(16, 0, 5, handleListGroups) }

func handleListGroups(b *Broker, ctx context.Context, r *server.Request) server.Reply {
	req := r.Body.(*kmsg.ListGroupsRequest)
	return func() (kmsg.Response, error) {
		resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
		if b.groups == nil {
			resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
			return resp, nil
		}
		groups, err := b.groups.List(ctx, req.StatesFilter, req.TypesFilter)
		resp.ErrorCode = groupCode(err)
		for _, g := range groups {
			lg := kmsg.NewListGroupsResponseGroup()
			lg.Group, lg.ProtocolType, lg.GroupState, lg.GroupType = g.Group, g.ProtocolType, g.State, g.Type
			resp.Groups = append(resp.Groups, lg)
		}
		if b.shares != nil {
			for _, g := range b.shares.List() {
				if !group.MatchesFold(req.StatesFilter, g.State) || !group.MatchesFold(req.TypesFilter, "share") {
					continue
				}
				lg := kmsg.NewListGroupsResponseGroup()
				lg.Group, lg.ProtocolType, lg.GroupState, lg.GroupType = g.Group, "share", g.State, "share"
				resp.Groups = append(resp.Groups, lg)
			}
		}
		return resp, nil
	}
}
