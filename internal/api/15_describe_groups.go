package api

// DescribeGroups, versions 0-6 (classic groups).
//
// As Kafka: a Stable group is described with its protocol and each
// member's metadata and assignment; in other states the protocol and
// member details are empty. A group that does not exist is state Dead,
// and from v6 GROUP_ID_NOT_FOUND with a message (KIP-1043). v3+
// authorized operations are READ, DELETE and DESCRIBE when asked for (no
// ACLs yet). As Kafka 4, a KIP-848 consumer group is not described here
// (ConsumerGroupDescribe does): it is state Dead with GROUP_ID_NOT_FOUND
// ("Group X is not a classic group.") from v6, and no error before.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirdb/weir/internal/group"
	"github.com/weirdb/weir/internal/server"
)

func init() { register(15, 0, 6, handleDescribeGroups) }

func handleDescribeGroups(b *Broker, ctx context.Context, r *server.Request) server.Reply {
	req := r.Body.(*kmsg.DescribeGroupsRequest)
	return func() (kmsg.Response, error) {
		resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
		var described []group.Described
		if b.groups != nil {
			described = b.groups.Describe(ctx, req.Groups)
		}
		for i, name := range req.Groups {
			sg := kmsg.NewDescribeGroupsResponseGroup()
			sg.Group = name
			sg.AuthorizedOperations = notRequestedOps
			if req.IncludeAuthorizedOperations {
				sg.AuthorizedOperations = groupOperations
			}
			if described == nil {
				sg.ErrorCode = kerr.CoordinatorNotAvailable.Code
				resp.Groups = append(resp.Groups, sg)
				continue
			}
			d := described[i]
			sg.State, sg.ProtocolType, sg.Protocol = d.State, d.ProtocolType, d.Protocol
			sg.ErrorCode = groupCode(d.Err)
			if d.Err == kerr.GroupIDNotFound {
				if r.Version < 6 {
					sg.ErrorCode = 0
				} else if d.ErrMessage != "" {
					sg.ErrorMessage = kmsg.StringPtr(d.ErrMessage)
				} else {
					sg.ErrorMessage = kmsg.StringPtr("Group " + name + " not found.")
				}
			}
			for _, m := range d.Members {
				sm := kmsg.NewDescribeGroupsResponseGroupMember()
				sm.MemberID, sm.InstanceID, sm.ClientID, sm.ClientHost = m.MemberID, m.InstanceID, m.ClientID, m.ClientHost
				sm.ProtocolMetadata, sm.MemberAssignment = m.Metadata, m.Assignment
				if sm.ProtocolMetadata == nil {
					sm.ProtocolMetadata = []byte{}
				}
				if sm.MemberAssignment == nil {
					sm.MemberAssignment = []byte{}
				}
				sg.Members = append(sg.Members, sm)
			}
			resp.Groups = append(resp.Groups, sg)
		}
		return resp, nil
	}
}
