package api

// Metadata, versions 0-13.
//
// As Kafka: v0 with an empty topic list and v1+ with a null list describe
// every topic; v0-3 auto-create requested topics implicitly and v4+ when
// AllowAutoTopicCreation is set, in both cases only when
// auto.create.topics.enable is on; invalid names get INVALID_TOPIC_EXCEPTION
// and are never created; v10+ topics may be requested by ID.
//
// As Kafka, the request that auto-creates a topic gets LEADER_NOT_AVAILABLE
// and no partitions for it, although creation here is synchronous: clients
// retry metadata on that code, and some (kafka-go's tests) rely on a
// just-deleted topic not being listed with partitions by the next request.
// Authorized operations report everything allowed (no ACLs yet).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirdb/weir/internal/engine"
	"github.com/weirdb/weir/internal/server"
)

func init() { register(3, 0, 13, handleMetadata) }

// Kafka ACL operation codes a topic or cluster supports, as bitfields.
const (
	topicOperations   = 1<<3 | 1<<4 | 1<<5 | 1<<6 | 1<<7 | 1<<8 | 1<<10 | 1<<11
	clusterOperations = 1<<5 | 1<<7 | 1<<8 | 1<<9 | 1<<10 | 1<<11 | 1<<12 // 8096, as Kafka
	notRequestedOps   = -2147483648
)

func handleMetadata(b *Broker, ctx context.Context, r *server.Request) server.Reply {
	req := r.Body.(*kmsg.MetadataRequest)
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	resp.Brokers = []kmsg.MetadataResponseBroker{{NodeID: b.eng.NodeID(), Host: b.host, Port: b.port}}
	resp.ClusterID = kmsg.StringPtr(b.eng.ClusterID())
	resp.ControllerID = b.eng.NodeID()
	resp.AuthorizedOperations = notRequestedOps
	if req.IncludeClusterAuthorizedOperations {
		resp.AuthorizedOperations = clusterOperations
	}

	autoCreate := b.cfg.AutoCreateTopics() && (r.Version <= 3 || req.AllowAutoTopicCreation)
	all := req.Topics == nil || (r.Version == 0 && len(req.Topics) == 0)
	if all {
		for _, t := range b.eng.Topics() {
			resp.Topics = append(resp.Topics, b.describeTopic(t, req.IncludeTopicAuthorizedOperations))
		}
		return server.Done(resp)
	}
	seen := make(map[string]bool, len(req.Topics))
	for _, rt := range req.Topics {
		if rt.Topic == nil {
			t := b.topicByID(rt.TopicID)
			if t == nil {
				resp.Topics = append(resp.Topics, kmsg.MetadataResponseTopic{ErrorCode: kerr.UnknownTopicID.Code, TopicID: rt.TopicID, AuthorizedOperations: notRequestedOps})
				continue
			}
			resp.Topics = append(resp.Topics, b.describeTopic(t, req.IncludeTopicAuthorizedOperations))
			continue
		}
		name := *rt.Topic
		if seen[name] {
			continue
		}
		seen[name] = true
		t := b.eng.Topic(name)
		if t == nil {
			code := kerr.UnknownTopicOrPartition.Code
			switch {
			case validTopicName(name) != nil:
				code = kerr.InvalidTopicException.Code
			case autoCreate:
				code = kerr.LeaderNotAvailable.Code
				if _, err := b.autoCreate(ctx, name); err != nil {
					if code = errCode(err); code == kerr.TopicAlreadyExists.Code {
						code = kerr.LeaderNotAvailable.Code
					}
				}
			}
			if t == nil {
				resp.Topics = append(resp.Topics, kmsg.MetadataResponseTopic{ErrorCode: code, Topic: kmsg.StringPtr(name), AuthorizedOperations: notRequestedOps})
				continue
			}
		}
		resp.Topics = append(resp.Topics, b.describeTopic(t, req.IncludeTopicAuthorizedOperations))
	}
	return server.Done(resp)
}

func (b *Broker) describeTopic(t *engine.Topic, includeOps bool) kmsg.MetadataResponseTopic {
	node := b.eng.NodeID()
	mt := kmsg.MetadataResponseTopic{
		Topic:                kmsg.StringPtr(t.Name),
		TopicID:              t.ID,
		IsInternal:           t.Internal,
		AuthorizedOperations: notRequestedOps,
	}
	if includeOps {
		mt.AuthorizedOperations = topicOperations
	}
	mt.Partitions = make([]kmsg.MetadataResponseTopicPartition, len(t.Partitions))
	for i, p := range t.Partitions {
		mt.Partitions[i] = kmsg.MetadataResponseTopicPartition{
			Partition:   p.Index(),
			Leader:      node,
			LeaderEpoch: p.Epoch(),
			Replicas:    []int32{node},
			ISR:         []int32{node},
		}
	}
	return mt
}
