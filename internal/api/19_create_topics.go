package api

// CreateTopics, versions 0-7.
//
// As Kafka: names are checked with Kafka's rules (INVALID_TOPIC_EXCEPTION);
// a name given more than once in a request gets one INVALID_REQUEST answer
// and is not created; names differing only in '.' and '_' collide, with
// existing topics and within the request (INVALID_TOPIC_EXCEPTION);
// NumPartitions and ReplicationFactor -1 take num.partitions and
// default.replication.factor (KIP-464), 0 or less than -1 is
// INVALID_PARTITIONS or INVALID_REPLICATION_FACTOR; a replication factor
// larger than the number of live brokers is INVALID_REPLICATION_FACTOR, as
// in Kafka, although Weir keeps no replicas (durability comes from object
// storage, and Metadata reports the owning broker as the only replica); a
// manual ReplicaAssignment requires NumPartitions and ReplicationFactor -1
// (INVALID_REQUEST) and must name partitions 0..n-1 once each, with
// non-empty replica lists of the same length, without duplicates, of live
// brokers only (INVALID_REPLICA_ASSIGNMENT); configs are validated like
// Kafka's LogConfig (INVALID_CONFIG, null values included). ValidateOnly
// runs every check and creates nothing. v5+ answers with the partition
// count, replication factor and every topic config with its source; v7 adds
// the topic ID.
//
// Deviations: the timeout is ignored, since creation is synchronous (the
// topic exists when the response is sent); a config name given twice in one
// topic is INVALID_REQUEST instead of last-one-wins.

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirdb/weir/internal/config"
	"github.com/weirdb/weir/internal/engine"
	"github.com/weirdb/weir/internal/server"
)

func init() { register(19, 0, 7, handleCreateTopics) }

func handleCreateTopics(b *Broker, ctx context.Context, r *server.Request) server.Reply {
	req := r.Body.(*kmsg.CreateTopicsRequest)
	// Creating writes metadata: do it off the connection's read loop.
	return func() (kmsg.Response, error) {
		resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
		count := make(map[string]int, len(req.Topics))
		for _, rt := range req.Topics {
			count[rt.Topic]++
		}
		answered := make(map[string]bool, len(req.Topics))
		accepted := make(map[string]string) // collision key -> name, topics accepted so far
		for i := range req.Topics {
			rt := &req.Topics[i]
			if count[rt.Topic] > 1 {
				if !answered[rt.Topic] {
					st := kmsg.NewCreateTopicsResponseTopic()
					st.Topic = rt.Topic
					st.ErrorCode = kerr.InvalidRequest.Code
					st.ErrorMessage = kmsg.StringPtr("Duplicate topic name.")
					resp.Topics = append(resp.Topics, st)
				}
				answered[rt.Topic] = true
				continue
			}
			resp.Topics = append(resp.Topics, b.createTopic(ctx, rt, req.ValidateOnly, accepted))
		}
		return resp, nil
	}
}

// createTopic creates (or with validateOnly, checks) one topic of a
// CreateTopics request. accepted holds the collision keys of the topics
// accepted earlier in the request, so that a validate-only request sees
// collisions between its own topics; it is updated on success.
func (b *Broker) createTopic(ctx context.Context, rt *kmsg.CreateTopicsRequestTopic, validateOnly bool, accepted map[string]string) kmsg.CreateTopicsResponseTopic {
	st := kmsg.NewCreateTopicsResponseTopic()
	st.Topic = rt.Topic
	fail := func(err error) kmsg.CreateTopicsResponseTopic {
		st.ErrorCode, st.ErrorMessage = adminError(err)
		return st
	}

	if err := validTopicName(rt.Topic); err != nil {
		return fail(adminErrf(kerr.InvalidTopicException, "%v", err))
	}
	if err := b.checkCreate(rt.Topic); err != nil {
		return fail(err)
	}
	key := collisionKey(rt.Topic)
	if other, ok := accepted[key]; ok {
		return fail(adminErrf(kerr.InvalidTopicException, "Topic '%s' collides with topic '%s' in the same request.", rt.Topic, other))
	}
	partitions, replicas, err := b.topicLayout(rt)
	if err != nil {
		return fail(err)
	}
	configs, err := createTopicConfigs(b.cfg, rt.Configs)
	if err != nil {
		return fail(err)
	}

	if !validateOnly {
		t, err := b.eng.CreateTopic(ctx, rt.Topic, partitions, configs, false)
		if err != nil {
			if errors.Is(err, engine.ErrTopicExists) {
				// Created concurrently since checkCreate.
				err = adminErrf(kerr.TopicAlreadyExists, "Topic '%s' already exists.", rt.Topic)
			}
			return fail(err)
		}
		st.TopicID = t.ID
		configs = t.Configs
	}
	accepted[key] = rt.Topic
	st.NumPartitions = partitions
	st.ReplicationFactor = replicas
	for _, c := range config.DescribeTopic(configs, b.cfg, nil, false, false) {
		tc := kmsg.NewCreateTopicsResponseTopicConfig()
		tc.Name = c.Name
		tc.Value = c.Value
		tc.ReadOnly = c.ReadOnly
		tc.Source = int8(c.Source)
		tc.IsSensitive = c.IsSensitive
		st.Configs = append(st.Configs, tc)
	}
	return st
}

// checkCreate reports whether a topic named name could be created now, with
// Kafka's codes and messages.
func (b *Broker) checkCreate(name string) error {
	err := b.eng.CheckCreate(name)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, engine.ErrTopicExists):
		return adminErrf(kerr.TopicAlreadyExists, "Topic '%s' already exists.", name)
	case errors.Is(err, engine.ErrTopicCollision):
		return adminErrf(kerr.InvalidTopicException, "%v", err)
	}
	return err
}

// topicLayout resolves the partition count and replication factor of a
// topic to create, from the request's counts or its manual assignment.
func (b *Broker) topicLayout(rt *kmsg.CreateTopicsRequestTopic) (int32, int16, error) {
	live := b.liveBrokers()
	if len(rt.ReplicaAssignment) > 0 {
		if rt.NumPartitions != -1 || rt.ReplicationFactor != -1 {
			return 0, 0, adminErrf(kerr.InvalidRequest, "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.")
		}
		n := len(rt.ReplicaAssignment)
		seen := make([]bool, n)
		want := 0 // replicas per partition, set by the first
		for _, a := range rt.ReplicaAssignment {
			if a.Partition < 0 || int(a.Partition) >= n {
				return 0, 0, adminErrf(kerr.InvalidReplicaAssignment, "partitions should be a consecutive 0-based integer sequence")
			}
			if seen[a.Partition] {
				return 0, 0, adminErrf(kerr.InvalidReplicaAssignment, "Found multiple manual partition assignments for partition %d", a.Partition)
			}
			seen[a.Partition] = true
			if err := checkReplicaList(a.Replicas, live, want); err != nil {
				return 0, 0, err
			}
			want = len(a.Replicas)
		}
		return int32(n), int16(want), nil
	}

	partitions := rt.NumPartitions
	switch {
	case partitions == -1:
		partitions = b.cfg.NumPartitions()
	case partitions <= 0:
		return 0, 0, adminErrf(kerr.InvalidPartitions, "Number of partitions was set to an invalid non-positive value.")
	}
	replicas := rt.ReplicationFactor
	switch {
	case replicas == -1:
		replicas = b.cfg.DefaultReplicationFactor()
	case replicas <= 0:
		return 0, 0, adminErrf(kerr.InvalidReplicationFactor, "Replication factor must be larger than 0, or -1 to use the default value.")
	}
	if int(replicas) > len(live) {
		return 0, 0, adminErrf(kerr.InvalidReplicationFactor,
			"Unable to replicate the partition %d time(s): The target replication factor of %d cannot be reached because only %d broker(s) are registered. "+
				"Weir keeps no replicas: durability comes from object storage, so a replication factor of 1 (or -1 for the default) loses nothing.",
			replicas, replicas, len(live))
	}
	return partitions, replicas, nil
}

// createTopicConfigs validates the configs of a topic to create and returns
// them in canonical form.
func createTopicConfigs(cfg *config.Broker, cs []kmsg.CreateTopicsRequestTopicConfig) (map[string]string, error) {
	m := make(map[string]*string, len(cs))
	for _, c := range cs {
		if _, dup := m[c.Name]; dup {
			return nil, adminErrf(kerr.InvalidRequest, "Error due to duplicate config keys: %s", c.Name)
		}
		m[c.Name] = c.Value
	}
	return config.NormalizeTopicConfigs(m, cfg)
}

// collisionKey folds '.' into '_', as Kafka does to find topics whose
// metric names would collide.
func collisionKey(name string) string { return strings.ReplaceAll(name, ".", "_") }

// ---- helpers shared by the admin APIs ----

// adminErr is the failure of one topic or resource in an admin request:
// the Kafka error code and the message to answer with.
type adminErr struct {
	code int16
	msg  string
}

func (e *adminErr) Error() string { return e.msg }

// Unwrap returns the kerr error for the code.
func (e *adminErr) Unwrap() error { return kerr.ErrorForCode(e.code) }

func adminErrf(ke *kerr.Error, format string, args ...any) *adminErr {
	return &adminErr{code: ke.Code, msg: fmt.Sprintf(format, args...)}
}

// adminError returns the code and message to answer err with: those of an
// *adminErr or *config.Error, else the engine's mapping.
func adminError(err error) (int16, *string) {
	var ae *adminErr
	var ce *config.Error
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &ae):
		return ae.code, kmsg.StringPtr(ae.msg)
	case errors.As(err, &ce):
		return ce.Code, kmsg.StringPtr(ce.Message)
	}
	return errCode(err), errMessage(err)
}

// liveBrokers lists the IDs of the brokers that can be named in replica
// assignments: this broker alone, until Weir runs clusters.
func (b *Broker) liveBrokers() []int32 { return []int32{b.eng.NodeID()} }

// checkReplicaList validates one partition's manual replica list: not
// empty, live brokers only, each once, and want replicas when want > 0.
func checkReplicaList(replicas, live []int32, want int) error {
	if len(replicas) == 0 {
		return adminErrf(kerr.InvalidReplicaAssignment, "The manual partition assignment includes an empty replica list.")
	}
	seen := make(map[int32]bool, len(replicas))
	for _, id := range replicas {
		known := false
		for _, l := range live {
			known = known || l == id
		}
		if !known {
			return adminErrf(kerr.InvalidReplicaAssignment, "The manual partition assignment includes broker %d, but no such broker is registered.", id)
		}
		if seen[id] {
			return adminErrf(kerr.InvalidReplicaAssignment, "The manual partition assignment includes the broker %d more than once.", id)
		}
		seen[id] = true
	}
	if want > 0 && len(replicas) != want {
		return adminErrf(kerr.InvalidReplicaAssignment,
			"The manual partition assignment includes a partition with %d replica(s), but this is not consistent with previous partitions, which have %d replica(s).",
			len(replicas), want)
	}
	return nil
}
