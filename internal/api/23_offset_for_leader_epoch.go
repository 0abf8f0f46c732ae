package api

// OffsetForLeaderEpoch, versions 0-4.
//
// For a requested epoch, the largest epoch not above it in the partition's
// leader epoch history and the offset where the following epoch starts (the
// log end offset for the current epoch), as Kafka's LeaderEpochFileCache
// answers. The history is kept in the metadata store, so it stays truthful
// across restarts and, later, ownership moves. CurrentLeaderEpoch (v2+) is
// checked.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirdb/weir/internal/server"
)

func init() { register(23, 0, 4, handleOffsetForLeaderEpoch) }

func handleOffsetForLeaderEpoch(b *Broker, _ context.Context, r *server.Request) server.Reply {
	req := r.Body.(*kmsg.OffsetForLeaderEpochRequest)
	resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	for _, rt := range req.Topics {
		t := b.eng.Topic(rt.Topic)
		st := kmsg.OffsetForLeaderEpochResponseTopic{Topic: rt.Topic}
		for _, rp := range rt.Partitions {
			sp := kmsg.OffsetForLeaderEpochResponseTopicPartition{Partition: rp.Partition, LeaderEpoch: -1, EndOffset: -1}
			p := partitionOf(t, rp.Partition)
			switch {
			case p == nil:
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			default:
				if err := p.CheckEpoch(rp.CurrentLeaderEpoch); err != nil {
					sp.ErrorCode = errCode(err)
					break
				}
				sp.LeaderEpoch, sp.EndOffset = p.OffsetForLeaderEpoch(rp.LeaderEpoch)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return server.Done(resp)
}
