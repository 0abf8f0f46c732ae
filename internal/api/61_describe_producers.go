package api

// DescribeProducers, version 0 (KIP-664).
//
// Lists each requested partition's active producer ids, from its producer
// state (see 00_produce.go): epoch, last sequence, timestamp of the last
// batch, and the first offset of its open transaction (-1 if none).
// CoordinatorEpoch is -1: Weir's markers carry coordinator epoch 0 and
// partitions do not track it. An unknown topic or partition is UNKNOWN_TOPIC_OR_PARTITION,
// as in Kafka.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirdb/weir/internal/server"
)

func init() { register(61, 0, 0, handleDescribeProducers) }

func handleDescribeProducers(b *Broker, _ context.Context, r *server.Request) server.Reply {
	req := r.Body.(*kmsg.DescribeProducersRequest)
	resp := req.ResponseKind().(*kmsg.DescribeProducersResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewDescribeProducersResponseTopic()
		st.Topic = rt.Topic
		t := b.eng.Topic(rt.Topic)
		for _, pi := range rt.Partitions {
			sp := kmsg.NewDescribeProducersResponseTopicPartition()
			sp.Partition = pi
			p := partitionOf(t, pi)
			if p == nil {
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			for _, ps := range p.Producers() {
				ap := kmsg.NewDescribeProducersResponseTopicPartitionActiveProducer()
				ap.ProducerID = ps.ProducerID
				ap.ProducerEpoch = int32(ps.Epoch)
				ap.LastSequence = ps.LastSequence
				ap.LastTimestamp = ps.LastTimestamp
				ap.CoordinatorEpoch = -1
				ap.CurrentTxnStartOffset = ps.TxnStartOffset
				sp.ActiveProducers = append(sp.ActiveProducers, ap)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return server.Done(resp)
}
