package api

// ListOffsets, versions 0-10.
//
// Timestamps: -1 latest (the high watermark, or the last stable offset for
// read_committed, IsolationLevel 1, v2+; a timestamp lookup with
// read_committed finds only offsets below it, else -1), -2 earliest
// (the log start offset), -3 max timestamp (v7+, KIP-734), -4 earliest
// local (v8+, KIP-1005: the log start offset, since all data is "local" to
// object storage), -5 latest tiered (v9+: the last offset in object
// storage, -1 if none), and any other value the first offset whose record
// timestamp is at least it. CurrentLeaderEpoch (v4+) is checked.
//
// Deviation: v0 returns one offset in OldStyleOffsets whatever
// MaxNumOffsets asks, since Weir has no segments to list.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirdb/weir/internal/server"
)

func init() { register(2, 0, 10, handleListOffsets) }

func handleListOffsets(b *Broker, ctx context.Context, r *server.Request) server.Reply {
	req := r.Body.(*kmsg.ListOffsetsRequest)
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	// As Kafka, every occurrence of a partition named more than once in
	// the request (even under repeated topics) is INVALID_REQUEST.
	type tp struct {
		topic     string
		partition int32
	}
	count := map[tp]int{}
	for _, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			count[tp{rt.Topic, rp.Partition}]++
		}
	}
	return func() (kmsg.Response, error) {
		for _, rt := range req.Topics {
			t := b.eng.Topic(rt.Topic)
			st := kmsg.ListOffsetsResponseTopic{Topic: rt.Topic}
			for _, rp := range rt.Partitions {
				sp := kmsg.ListOffsetsResponseTopicPartition{Partition: rp.Partition, Timestamp: -1, Offset: -1, LeaderEpoch: -1}
				p := partitionOf(t, rp.Partition)
				switch {
				case count[tp{rt.Topic, rp.Partition}] > 1:
					sp.ErrorCode = kerr.InvalidRequest.Code
				case p == nil:
					sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				default:
					if err := p.CheckEpoch(rp.CurrentLeaderEpoch); err != nil {
						sp.ErrorCode = errCode(err)
						break
					}
					logStart, hw, _, epoch := p.Offsets()
					var err error
					switch ts := rp.Timestamp; {
					case ts == -1 && req.IsolationLevel == 1 && r.Version >= 2:
						sp.Offset, sp.LeaderEpoch = p.LastStableOffset(), epoch
					case ts == -1:
						sp.Offset, sp.LeaderEpoch = hw, epoch
					case ts == -2 || ts == -4 && r.Version >= 8:
						sp.Offset, sp.LeaderEpoch = logStart, p.EpochForOffset(logStart)
					case ts == -3 && r.Version >= 7:
						sp.Offset, sp.Timestamp, sp.LeaderEpoch, err = p.MaxTimestamp(ctx)
					case ts == -5 && r.Version >= 9:
						if end := p.UploadedEnd(); end > logStart {
							sp.Offset, sp.LeaderEpoch = end-1, p.EpochForOffset(end-1)
						}
					case ts < 0:
						sp.ErrorCode = kerr.InvalidRequest.Code
					default:
						sp.Offset, sp.Timestamp, sp.LeaderEpoch, err = p.OffsetForTimestamp(ctx, ts)
						if err == nil && req.IsolationLevel == 1 && r.Version >= 2 && sp.Offset >= p.LastStableOffset() {
							// As Kafka: read_committed finds only what
							// it may fetch.
							sp.Offset, sp.Timestamp, sp.LeaderEpoch = -1, -1, -1
						}
					}
					if err != nil {
						sp.ErrorCode = errCode(err)
						b.log.Warn("list offsets failed", "partition", p.String(), "err", err)
					}
					if r.Version == 0 && sp.ErrorCode == 0 {
						if sp.Offset >= 0 {
							sp.OldStyleOffsets = []int64{sp.Offset}
						} else {
							sp.OldStyleOffsets = []int64{}
						}
					}
				}
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil
	}
}
