package api

// DescribeShareGroupOffsets, versions 0-1 (KIP-932; v1 adds Lag).
//
// As Kafka: for each group, the share-partition start offset (SPSO) of the
// named partitions, or of every partition the group has state for when
// Topics is null; StartOffset and Lag are -1 for a partition the group
// has no state for (or an unknown group). Lag is the high watermark minus
// the SPSO minus the records above the SPSO that need no more delivery. An
// unknown topic is UNKNOWN_TOPIC_OR_PARTITION on its partitions.
// Deviation: no ACLs.

import (
	"context"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirdb/weir/internal/server"
	"github.com/weirdb/weir/internal/share"
)

func init() { register(90, 0, 1, handleDescribeShareGroupOffsets) }

func handleDescribeShareGroupOffsets(b *Broker, _ context.Context, r *server.Request) server.Reply {
	req := r.Body.(*kmsg.DescribeShareGroupOffsetsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeShareGroupOffsetsResponse)
	for _, rg := range req.Groups {
		g := kmsg.NewDescribeShareGroupOffsetsResponseGroup()
		g.GroupID = rg.GroupID
		if b.shares == nil {
			g.ErrorCode = kerr.CoordinatorNotAvailable.Code
			resp.Groups = append(resp.Groups, g)
			continue
		}
		g.Topics = b.describeShareOffsets(rg)
		resp.Groups = append(resp.Groups, g)
	}
	return server.Done(resp)
}

func (b *Broker) describeShareOffsets(rg kmsg.DescribeShareGroupOffsetsRequestGroup) []kmsg.DescribeShareGroupOffsetsResponseGroupTopic {
	var out []kmsg.DescribeShareGroupOffsetsResponseGroupTopic
	partition := func(o share.Offset, epoch int32) kmsg.DescribeShareGroupOffsetsResponseGroupTopicPartition {
		p := kmsg.NewDescribeShareGroupOffsetsResponseGroupTopicPartition()
		p.Partition, p.StartOffset, p.Lag, p.LeaderEpoch = o.TP.Partition, o.StartOffset, o.Lag, epoch
		return p
	}
	if rg.Topics == nil {
		byTopic := make(map[[16]byte][]share.Offset)
		for _, o := range b.shares.Offsets(rg.GroupID, nil) {
			byTopic[o.TP.TopicID] = append(byTopic[o.TP.TopicID], o)
		}
		for id, offs := range byTopic {
			t := b.topicByID(id)
			if t == nil {
				continue // deleted: its state is stale
			}
			st := kmsg.NewDescribeShareGroupOffsetsResponseGroupTopic()
			st.Topic, st.TopicID = t.Name, id
			sort.Slice(offs, func(i, j int) bool { return offs[i].TP.Partition < offs[j].TP.Partition })
			for _, o := range offs {
				epoch := int32(-1)
				if p := partitionOf(t, o.TP.Partition); p != nil {
					epoch = p.Epoch()
				}
				st.Partitions = append(st.Partitions, partition(o, epoch))
			}
			out = append(out, st)
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Topic < out[j].Topic })
		return out
	}
	for _, rt := range rg.Topics {
		st := kmsg.NewDescribeShareGroupOffsetsResponseGroupTopic()
		st.Topic = rt.Topic
		t := b.eng.Topic(rt.Topic)
		if t == nil {
			for _, p := range rt.Partitions {
				sp := partition(share.Offset{TP: share.TP{Partition: p}, StartOffset: -1, Lag: -1}, -1)
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				st.Partitions = append(st.Partitions, sp)
			}
			out = append(out, st)
			continue
		}
		st.TopicID = t.ID
		tps := make([]share.TP, len(rt.Partitions))
		for i, p := range rt.Partitions {
			tps[i] = share.TP{TopicID: t.ID, Partition: p}
		}
		for _, o := range b.shares.Offsets(rg.GroupID, tps) {
			p := partitionOf(t, o.TP.Partition)
			if p == nil {
				sp := partition(share.Offset{TP: o.TP, StartOffset: -1, Lag: -1}, -1)
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			st.Partitions = append(st.Partitions, partition(o, p.Epoch()))
		}
		out = append(out, st)
	}
	return out
}
