package api

// OffsetCommit, versions 0-10.
//
// As Kafka: offsets are written to __consumer_offsets and answered once
// durable. A commit with generation -1 and no member ID comes from outside
// group management (or an admin) and is accepted while the group has no
// members, creating an offsets-only group if needed; otherwise the member
// and generation must be current (UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION,
// FENCED_INSTANCE_ID; REBALANCE_IN_PROGRESS while the group waits for its
// assignment). A generation for a group that does not exist is
// ILLEGAL_GENERATION before v9 and GROUP_ID_NOT_FOUND from v9. Partitions
// of unknown topics, or beyond a topic's partitions, are
// UNKNOWN_TOPIC_OR_PARTITION; v10 addresses topics by ID (unknown ID:
// UNKNOWN_TOPIC_ID). Metadata over offset.metadata.max.bytes (4096) is
// OFFSET_METADATA_TOO_LARGE.
//
// KIP-848 consumer groups: the generation is the member epoch; a member
// must commit with v9+ (UNSUPPORTED_VERSION before), as a known member
// (UNKNOWN_MEMBER_ID) with its current epoch (STALE_MEMBER_EPOCH), or an
// older epoch no older than when it got the partition (KIP-1251, per
// partition); commits with epoch -1 and no member ID are accepted while
// the group has no members.
//
// Deviations: the per-partition commit timestamp of v1 and the retention
// time of v2-4 are ignored; offsets expire under offsets.retention.minutes
// as for later versions (KIP-211).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirdb/weir/internal/engine"
	"github.com/weirdb/weir/internal/group"
	"github.com/weirdb/weir/internal/server"
)

func init() { register(8, 0, 10, handleOffsetCommit) }

func handleOffsetCommit(b *Broker, ctx context.Context, r *server.Request) server.Reply {
	req := r.Body.(*kmsg.OffsetCommitRequest)
	// Commits wait for durability: off the read loop.
	return func() (kmsg.Response, error) {
		resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
		cr := group.CommitRequest{
			Group:         req.Group,
			MemberID:      req.MemberID,
			InstanceID:    req.InstanceID,
			Generation:    req.Generation,
			GroupNotFound: r.Version >= 9,
			Version:       r.Version,
		}
		if r.Version == 0 {
			cr.Generation, cr.MemberID = -1, ""
		}
		type slot struct{ t, p int }
		var slots []slot // response position of each offset in cr.Offsets
		resp.Topics = make([]kmsg.OffsetCommitResponseTopic, len(req.Topics))
		for ti, rt := range req.Topics {
			st := &resp.Topics[ti]
			*st = kmsg.NewOffsetCommitResponseTopic()
			st.Topic, st.TopicID = rt.Topic, rt.TopicID
			var t *engine.Topic
			missing := kerr.UnknownTopicOrPartition.Code
			if r.Version >= 10 {
				if t, missing = b.topicByID(rt.TopicID), kerr.UnknownTopicID.Code; t != nil {
					st.Topic = t.Name
				}
			} else {
				t = b.eng.Topic(rt.Topic)
			}
			st.Partitions = make([]kmsg.OffsetCommitResponseTopicPartition, len(rt.Partitions))
			for pi, rp := range rt.Partitions {
				sp := &st.Partitions[pi]
				*sp = kmsg.NewOffsetCommitResponseTopicPartition()
				sp.Partition = rp.Partition
				switch {
				case t == nil:
					sp.ErrorCode = missing
				case !knownPartition(t, rp.Partition):
					sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				case b.groups == nil:
					sp.ErrorCode = kerr.CoordinatorNotAvailable.Code
				default:
					epoch := rp.LeaderEpoch
					if r.Version < 6 {
						epoch = -1
					}
					cr.Offsets = append(cr.Offsets, group.CommitOffset{
						TopicPartition: group.TopicPartition{Topic: t.Name, Partition: rp.Partition},
						Offset:         rp.Offset,
						LeaderEpoch:    epoch,
						Metadata:       rp.Metadata,
					})
					slots = append(slots, slot{ti, pi})
				}
			}
		}
		if len(cr.Offsets) == 0 {
			return resp, nil
		}
		for i, err := range b.groups.Commit(ctx, cr) {
			resp.Topics[slots[i].t].Partitions[slots[i].p].ErrorCode = groupCode(err)
		}
		return resp, nil
	}
}
