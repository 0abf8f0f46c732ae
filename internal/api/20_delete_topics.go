package api

// DeleteTopics, versions 0-6.
//
// As Kafka: v0-5 name topics, v6 names or topic IDs (one of the two per
// entry, else INVALID_REQUEST); an unknown name is
// UNKNOWN_TOPIC_OR_PARTITION, an unknown ID UNKNOWN_TOPIC_ID; a topic given
// twice is INVALID_REQUEST; with delete.topic.enable=false every topic gets
// TOPIC_DELETION_DISABLED (v3+) or INVALID_REQUEST (v0-2, which predate
// that code). Answers carry both the name and the ID of a deleted topic.
//
// As Kafka, every consumer group loses its committed offsets of the
// deleted topics (tombstones in __consumer_offsets), so a topic created
// again under the same name is consumed from auto.offset.reset.
//
// Deviations: deletion is synchronous, so the timeout is ignored; internal
// topics (__consumer_offsets, __transaction_state) cannot be deleted
// (INVALID_REQUEST), since the coordinators' state lives in them; a crash
// between deleting a topic and writing the offset tombstones leaves the
// topic's offsets in place until their group expires.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirdb/weir/internal/engine"
	"github.com/weirdb/weir/internal/server"
)

func init() { register(20, 0, 6, handleDeleteTopics) }

func handleDeleteTopics(b *Broker, ctx context.Context, r *server.Request) server.Reply {
	req := r.Body.(*kmsg.DeleteTopicsRequest)
	topics := req.Topics
	if r.Version <= 5 {
		topics = make([]kmsg.DeleteTopicsRequestTopic, 0, len(req.TopicNames))
		for _, name := range req.TopicNames {
			rt := kmsg.NewDeleteTopicsRequestTopic()
			rt.Topic = kmsg.StringPtr(name)
			topics = append(topics, rt)
		}
	}
	// Deleting writes metadata: do it off the connection's read loop.
	return func() (kmsg.Response, error) {
		resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
		names := make(map[string]int, len(topics))
		ids := make(map[[16]byte]int, len(topics))
		for _, rt := range topics {
			if rt.Topic != nil {
				names[*rt.Topic]++
			} else {
				ids[rt.TopicID]++
			}
		}
		deleted := make(map[engine.TopicID]bool)
		var gone []string
		for _, rt := range topics {
			st := kmsg.NewDeleteTopicsResponseTopic()
			st.Topic = rt.Topic
			st.TopicID = rt.TopicID
			t, err := b.deleteTopicTarget(r.Version, rt, names, ids)
			if err == nil && deleted[t.ID] {
				// Named once by name and once by ID.
				err = adminErrf(kerr.InvalidRequest, "Duplicate topic name.")
			}
			if err == nil {
				st.Topic, st.TopicID = kmsg.StringPtr(t.Name), t.ID
				deleted[t.ID] = true
				if err = b.eng.DeleteTopic(ctx, t.Name); err == nil {
					gone = append(gone, t.Name)
				}
			}
			st.ErrorCode, st.ErrorMessage = adminError(err)
			resp.Topics = append(resp.Topics, st)
		}
		// As Kafka, groups lose their offsets of deleted topics, before
		// the answer, so a client recreating a topic at once finds none.
		// The topics are gone whatever happens here: a failure is only
		// logged (and the offsets stay until the group expires).
		if len(gone) > 0 && b.groups != nil {
			if err := b.groups.DeleteTopicOffsets(ctx, gone); err != nil {
				b.log.Warn("removing committed offsets of deleted topics failed", "topics", gone, "err", err)
			}
		}
		return resp, nil
	}
}

// deleteTopicTarget resolves one entry of a DeleteTopics request to the
// topic to delete. names and ids count how often each name and ID appear
// in the request.
func (b *Broker) deleteTopicTarget(version int16, rt kmsg.DeleteTopicsRequestTopic, names map[string]int, ids map[[16]byte]int) (*engine.Topic, error) {
	noID := rt.TopicID == [16]byte{}
	switch {
	case rt.Topic != nil && !noID:
		return nil, adminErrf(kerr.InvalidRequest, "You may not specify both topic name and topic id.")
	case rt.Topic == nil && noID:
		return nil, adminErrf(kerr.InvalidRequest, "Neither topic name nor id were specified.")
	case rt.Topic != nil && names[*rt.Topic] > 1:
		return nil, adminErrf(kerr.InvalidRequest, "Duplicate topic name.")
	case rt.Topic == nil && ids[rt.TopicID] > 1:
		return nil, adminErrf(kerr.InvalidRequest, "Duplicate topic id.")
	}
	if !b.cfg.DeleteTopicEnable() {
		if version < 3 {
			return nil, adminErrf(kerr.InvalidRequest, "Topic deletion is disabled.")
		}
		return nil, adminErrf(kerr.TopicDeletionDisabled, "Topic deletion is disabled (delete.topic.enable=false).")
	}
	var t *engine.Topic
	if rt.Topic != nil {
		if t = b.eng.Topic(*rt.Topic); t == nil {
			return nil, adminErrf(kerr.UnknownTopicOrPartition, "This server does not host this topic-partition.")
		}
	} else if t = b.topicByID(rt.TopicID); t == nil {
		return nil, adminErrf(kerr.UnknownTopicID, "This server does not host this topic ID.")
	}
	if t.Internal {
		return nil, adminErrf(kerr.InvalidRequest, "Topic %s is internal and cannot be deleted.", t.Name)
	}
	return t, nil
}
