package api

// CreatePartitions, versions 0-3.
//
// As Kafka: partitions can only be added (INVALID_PARTITIONS otherwise,
// with Kafka's messages); an unknown topic is UNKNOWN_TOPIC_OR_PARTITION; a
// topic named twice gets one INVALID_REQUEST answer and is left alone; a
// manual Assignment must give one replica list per new partition, each
// non-empty, without duplicates, of live brokers only and as long as the
// existing partitions' (INVALID_REPLICA_ASSIGNMENT). ValidateOnly runs
// every check and changes nothing.
//
// Deviations: the timeout is ignored, since the partitions exist when the
// response is sent. The existing partitions' replication factor is 1: Weir
// keeps no replicas (durability comes from object storage) and Metadata
// reports the owning broker as the only replica.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirdb/weir/internal/server"
)

func init() { register(37, 0, 3, handleCreatePartitions) }

func handleCreatePartitions(b *Broker, ctx context.Context, r *server.Request) server.Reply {
	req := r.Body.(*kmsg.CreatePartitionsRequest)
	// Adding partitions writes metadata: do it off the connection's read loop.
	return func() (kmsg.Response, error) {
		resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
		count := make(map[string]int, len(req.Topics))
		for _, rt := range req.Topics {
			count[rt.Topic]++
		}
		answered := make(map[string]bool, len(req.Topics))
		for i := range req.Topics {
			rt := &req.Topics[i]
			if answered[rt.Topic] {
				continue
			}
			answered[rt.Topic] = true
			st := kmsg.NewCreatePartitionsResponseTopic()
			st.Topic = rt.Topic
			var err error
			if count[rt.Topic] > 1 {
				err = adminErrf(kerr.InvalidRequest, "Duplicate topic name.")
			} else {
				err = b.createPartitions(ctx, rt, req.ValidateOnly)
			}
			st.ErrorCode, st.ErrorMessage = adminError(err)
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil
	}
}

// createPartitions grows (or with validateOnly, checks growing) one topic.
func (b *Broker) createPartitions(ctx context.Context, rt *kmsg.CreatePartitionsRequestTopic, validateOnly bool) error {
	t := b.eng.Topic(rt.Topic)
	if t == nil {
		return adminErrf(kerr.UnknownTopicOrPartition, "The topic '%s' does not exist.", rt.Topic)
	}
	cur := int32(len(t.Partitions))
	switch {
	case rt.Count == cur:
		return adminErrf(kerr.InvalidPartitions, "Topic already has %d partitions.", cur)
	case rt.Count < cur:
		return adminErrf(kerr.InvalidPartitions, "Topic currently has %d partitions, which is higher than the requested %d.", cur, rt.Count)
	}
	if len(rt.Assignment) > 0 {
		if add := rt.Count - cur; int64(len(rt.Assignment)) != int64(add) {
			return adminErrf(kerr.InvalidReplicaAssignment, "Attempted to add %d additional partition(s), but only %d assignment(s) were specified.", add, len(rt.Assignment))
		}
		live := b.liveBrokers()
		for _, a := range rt.Assignment {
			if err := checkReplicaList(a.Replicas, live, 1); err != nil {
				return err
			}
		}
	}
	if validateOnly {
		return nil
	}
	// The engine rechecks the count, should the topic have grown since.
	return b.eng.CreatePartitions(ctx, rt.Topic, rt.Count)
}
