package api

// OffsetFetch, versions 0-10.
//
// As Kafka: a partition without a committed offset, of a group or topic
// that does not exist, is answered offset -1 with no error; v2+ a null
// topic list asks for every offset the group has; v7+ RequireStable
// answers UNSTABLE_OFFSET_COMMIT for partitions with a commit still being
// written; v8+ several groups per request, each with its own error; v10
// addresses topics by ID (an unknown ID is UNKNOWN_TOPIC_ID; offsets of
// topics deleted since are left out of an all-offsets answer, having no
// ID). Group errors (COORDINATOR_LOAD_IN_PROGRESS, NOT_COORDINATOR) go in
// the response's error field from v2 and in each partition before.
//
// v9+ KIP-848 consumer groups: a member ID or an epoch >= 0 must name a
// current member (UNKNOWN_MEMBER_ID) at its current epoch
// (STALE_MEMBER_EPOCH); no member ID with epoch -1 (admins) is not
// checked. Classic groups ignore both, as in Kafka.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirdb/weir/internal/group"
	"github.com/weirdb/weir/internal/server"
)

func init() { register(9, 0, 10, handleOffsetFetch) }

func handleOffsetFetch(b *Broker, ctx context.Context, r *server.Request) server.Reply {
	req := r.Body.(*kmsg.OffsetFetchRequest)
	return func() (kmsg.Response, error) {
		resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
		if r.Version >= 8 {
			for _, rg := range req.Groups {
				resp.Groups = append(resp.Groups, b.fetchGroup(ctx, r.Version, rg, req.RequireStable))
			}
			return resp, nil
		}
		// v0-7: one group, answered in the older shape.
		rg := kmsg.NewOffsetFetchRequestGroup()
		rg.Group = req.Group
		if req.Topics != nil || r.Version < 2 {
			rg.Topics = make([]kmsg.OffsetFetchRequestGroupTopic, 0, len(req.Topics))
		}
		for _, t := range req.Topics {
			rg.Topics = append(rg.Topics, kmsg.OffsetFetchRequestGroupTopic{Topic: t.Topic, Partitions: t.Partitions})
		}
		sg := b.fetchGroup(ctx, r.Version, rg, req.RequireStable)
		if r.Version >= 2 {
			resp.ErrorCode = sg.ErrorCode
		}
		for _, t := range sg.Topics {
			st := kmsg.NewOffsetFetchResponseTopic()
			st.Topic = t.Topic
			for _, p := range t.Partitions {
				sp := kmsg.NewOffsetFetchResponseTopicPartition()
				sp.Partition, sp.Offset, sp.LeaderEpoch, sp.Metadata, sp.ErrorCode = p.Partition, p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode
				if r.Version < 2 && sg.ErrorCode != 0 {
					sp.ErrorCode = sg.ErrorCode
				}
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil
	}
}

// fetchGroup answers one group of an OffsetFetch request.
func (b *Broker) fetchGroup(ctx context.Context, version int16, rg kmsg.OffsetFetchRequestGroup, requireStable bool) kmsg.OffsetFetchResponseGroup {
	sg := kmsg.NewOffsetFetchResponseGroup()
	sg.Group = rg.Group
	// Ask for what the request names (nil: everything), leaving out
	// topic IDs that name nothing; their partitions are answered below.
	fr := group.FetchRequest{Group: rg.Group, RequireStable: requireStable}
	if version >= 9 && (rg.MemberID != nil || rg.MemberEpoch >= 0) {
		fr.CheckMember, fr.MemberEpoch = true, rg.MemberEpoch
		if rg.MemberID != nil {
			fr.MemberID = *rg.MemberID
		}
	}
	names := make([]string, len(rg.Topics))
	if rg.Topics != nil {
		fr.Partitions = []group.TopicPartition{}
	}
	for i, rt := range rg.Topics {
		names[i] = rt.Topic
		if version >= 10 {
			names[i] = ""
			if t := b.topicByID(rt.TopicID); t != nil {
				names[i] = t.Name
			}
		}
		if names[i] == "" && version >= 10 {
			continue
		}
		for _, p := range rt.Partitions {
			fr.Partitions = append(fr.Partitions, group.TopicPartition{Topic: names[i], Partition: p})
		}
	}
	var res group.FetchResult
	if b.groups == nil {
		res.Err = kerr.CoordinatorNotAvailable
	} else {
		res = b.groups.Fetch(ctx, fr)
	}
	sg.ErrorCode = groupCode(res.Err)
	if res.Err != nil && version >= 2 {
		return sg // v0-1 have no group error field: it goes in each partition
	}
	found := make(map[group.TopicPartition]group.FetchedOffset, len(res.Offsets))
	for _, o := range res.Offsets {
		found[o.TopicPartition] = o
	}
	part := func(p int32, o group.FetchedOffset, ok bool) kmsg.OffsetFetchResponseGroupTopicPartition {
		sp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
		sp.Partition, sp.Offset, sp.LeaderEpoch, sp.Metadata = p, -1, -1, kmsg.StringPtr("")
		if ok {
			sp.Offset, sp.LeaderEpoch, sp.Metadata, sp.ErrorCode = o.Offset, o.LeaderEpoch, kmsg.StringPtr(o.Metadata), groupCode(o.Err)
		}
		return sp
	}
	if rg.Topics == nil {
		for _, o := range res.Offsets {
			var id [16]byte
			if version >= 10 {
				t := b.eng.Topic(o.Topic)
				if t == nil {
					continue
				}
				id = t.ID
			}
			if n := len(sg.Topics); n == 0 || sg.Topics[n-1].Topic != o.Topic {
				st := kmsg.NewOffsetFetchResponseGroupTopic()
				st.Topic, st.TopicID = o.Topic, id
				sg.Topics = append(sg.Topics, st)
			}
			st := &sg.Topics[len(sg.Topics)-1]
			st.Partitions = append(st.Partitions, part(o.Partition, o, true))
		}
		return sg
	}
	for i, rt := range rg.Topics {
		st := kmsg.NewOffsetFetchResponseGroupTopic()
		st.Topic, st.TopicID = names[i], rt.TopicID
		for _, p := range rt.Partitions {
			if version >= 10 && names[i] == "" {
				sp := part(p, group.FetchedOffset{}, false)
				sp.ErrorCode = kerr.UnknownTopicID.Code
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			o, ok := found[group.TopicPartition{Topic: names[i], Partition: p}]
			st.Partitions = append(st.Partitions, part(p, o, ok))
		}
		sg.Topics = append(sg.Topics, st)
	}
	return sg
}
