package api

// DeleteRecords, versions 0-2.
//
// Moves each partition's log start offset; offset -1 means the high
// watermark. An offset above the high watermark is OFFSET_OUT_OF_RANGE.
// Objects whose ranges fall wholly below the new start are deleted in the
// background.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirdb/weir/internal/server"
)

func init() { register(21, 0, 2, handleDeleteRecords) }

func handleDeleteRecords(b *Broker, ctx context.Context, r *server.Request) server.Reply {
	req := r.Body.(*kmsg.DeleteRecordsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	return func() (kmsg.Response, error) {
		for _, rt := range req.Topics {
			t := b.eng.Topic(rt.Topic)
			st := kmsg.DeleteRecordsResponseTopic{Topic: rt.Topic}
			for _, rp := range rt.Partitions {
				sp := kmsg.DeleteRecordsResponseTopicPartition{Partition: rp.Partition, LowWatermark: -1}
				if p := partitionOf(t, rp.Partition); p == nil {
					sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				} else if lw, err := b.eng.DeleteRecords(ctx, p, rp.Offset); err != nil {
					sp.ErrorCode = errCode(err)
				} else {
					sp.LowWatermark = lw
				}
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil
	}
}
