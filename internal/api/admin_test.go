package api_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/weirdb/weir/internal/node"
	"github.com/weirdb/weir/internal/node/nodetest"
)

// adminStart starts a broker with the given settings and returns it with a
// raw client and an admin client.
func adminStart(t *testing.T, sets ...string) (*node.Node, *kgo.Client, *kadm.Client) {
	t.Helper()
	n := nodetest.Start(t, nodetest.Options{Sets: sets})
	cl := nodetest.Client(t, n.Addr())
	return n, cl, kadm.NewClient(cl)
}

func adminCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func adminMustCreate(t *testing.T, adm *kadm.Client, partitions int32, configs map[string]*string, topics ...string) {
	t.Helper()
	rs, err := adm.CreateTopics(adminCtx(t), partitions, -1, configs, topics...)
	if err != nil {
		t.Fatalf("create %v: %v", topics, err)
	}
	if err := rs.Error(); err != nil {
		t.Fatalf("create %v: %v", topics, err)
	}
}

func adminCode(t *testing.T, what string, got, want int16, msg *string) {
	t.Helper()
	if got != want {
		m := ""
		if msg != nil {
			m = *msg
		}
		t.Errorf("%s: error code %v (%s), want %v", what, kerr.ErrorForCode(got), m, kerr.ErrorForCode(want))
	}
}

// adminListed reports whether Metadata lists topic. It asks the broker
// directly: kadm's ListTopics may answer from the client's metadata cache.
func adminListed(t *testing.T, cl *kgo.Client, topic string) bool {
	t.Helper()
	return adminMetadata(t, cl, topic) >= 0
}

// adminMetadata returns how many partitions Metadata lists for topic, -1
// when it does not list it.
func adminMetadata(t *testing.T, cl *kgo.Client, topic string) int {
	t.Helper()
	resp, err := kmsg.NewPtrMetadataRequest().RequestWith(adminCtx(t), cl)
	if err != nil {
		t.Fatalf("metadata: %v", err)
	}
	for _, mt := range resp.Topics {
		if mt.Topic != nil && *mt.Topic == topic {
			return len(mt.Partitions)
		}
	}
	return -1
}

func adminCreateTopic(name string, partitions int32, rf int16) kmsg.CreateTopicsRequestTopic {
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic = name
	rt.NumPartitions = partitions
	rt.ReplicationFactor = rf
	return rt
}

func adminAssign(lists ...[]int32) []kmsg.CreateTopicsRequestTopicReplicaAssignment {
	var out []kmsg.CreateTopicsRequestTopicReplicaAssignment
	for i, l := range lists {
		a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
		a.Partition = int32(i)
		a.Replicas = l
		out = append(out, a)
	}
	return out
}

func TestAdminCreateTopics(t *testing.T) {
	n, cl, adm := adminStart(t, "num.partitions=2")
	node := n.Engine().NodeID()
	adminMustCreate(t, adm, 1, nil, "existing", "dotted.name")

	withConfig := func(rt kmsg.CreateTopicsRequestTopic, name string, value *string) kmsg.CreateTopicsRequestTopic {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = name, value
		rt.Configs = append(rt.Configs, c)
		return rt
	}
	withAssign := func(rt kmsg.CreateTopicsRequestTopic, a []kmsg.CreateTopicsRequestTopicReplicaAssignment) kmsg.CreateTopicsRequestTopic {
		rt.ReplicaAssignment = a
		return rt
	}
	gap := adminAssign([]int32{node}, []int32{node})
	gap[1].Partition = 2
	dupPart := adminAssign([]int32{node}, []int32{node})
	dupPart[1].Partition = 0

	for _, tc := range []struct {
		name       string
		topic      kmsg.CreateTopicsRequestTopic
		code       int16
		msg        string // substring of the error message
		partitions int32  // on success
	}{
		{name: "defaults", topic: adminCreateTopic("defaults", -1, -1), partitions: 2},
		{name: "explicit", topic: adminCreateTopic("explicit", 3, 1), partitions: 3},
		{name: "internal-looking name", topic: adminCreateTopic("__mine", 1, 1), partitions: 1},
		{name: "with config", topic: withConfig(adminCreateTopic("compacted", 1, -1), "cleanup.policy", kmsg.StringPtr("compact")), partitions: 1},
		{name: "invalid name", topic: adminCreateTopic("bad/name", 1, 1), code: kerr.InvalidTopicException.Code, msg: "bad/name"},
		{name: "empty name", topic: adminCreateTopic("", 1, 1), code: kerr.InvalidTopicException.Code},
		{name: "dot name", topic: adminCreateTopic("..", 1, 1), code: kerr.InvalidTopicException.Code},
		{name: "too long", topic: adminCreateTopic(strings.Repeat("x", 250), 1, 1), code: kerr.InvalidTopicException.Code},
		{name: "exists", topic: adminCreateTopic("existing", 1, 1), code: kerr.TopicAlreadyExists.Code, msg: "already exists"},
		{name: "collision", topic: adminCreateTopic("dotted_name", 1, 1), code: kerr.InvalidTopicException.Code, msg: "collides"},
		{name: "zero partitions", topic: adminCreateTopic("p0", 0, 1), code: kerr.InvalidPartitions.Code},
		{name: "partitions -2", topic: adminCreateTopic("pm2", -2, 1), code: kerr.InvalidPartitions.Code},
		{name: "replication factor 2", topic: adminCreateTopic("rf2", 1, 2), code: kerr.InvalidReplicationFactor.Code, msg: "object storage"},
		{name: "replication factor 0", topic: adminCreateTopic("rf0", 1, 0), code: kerr.InvalidReplicationFactor.Code},
		{name: "replication factor -2", topic: adminCreateTopic("rfm2", 1, -2), code: kerr.InvalidReplicationFactor.Code},
		{name: "bad config value", topic: withConfig(adminCreateTopic("badval", 1, 1), "retention.ms", kmsg.StringPtr("soon")), code: kerr.InvalidConfig.Code, msg: "retention.ms"},
		{name: "unknown config", topic: withConfig(adminCreateTopic("unkcfg", 1, 1), "retention.mss", kmsg.StringPtr("1")), code: kerr.InvalidConfig.Code, msg: "retention.mss"},
		{name: "broker config", topic: withConfig(adminCreateTopic("brokercfg", 1, 1), "log.retention.ms", kmsg.StringPtr("1")), code: kerr.InvalidConfig.Code},
		{name: "null config", topic: withConfig(adminCreateTopic("nullcfg", 1, 1), "retention.ms", nil), code: kerr.InvalidConfig.Code},
		{name: "duplicate config", topic: withConfig(withConfig(adminCreateTopic("dupcfg", 1, 1), "retention.ms", kmsg.StringPtr("1")), "retention.ms", kmsg.StringPtr("2")), code: kerr.InvalidRequest.Code},
		{name: "assignment", topic: withAssign(adminCreateTopic("assigned", -1, -1), adminAssign([]int32{node}, []int32{node}, []int32{node})), partitions: 3},
		{name: "assignment with count", topic: withAssign(adminCreateTopic("assigned-count", 2, -1), adminAssign([]int32{node}, []int32{node})), code: kerr.InvalidRequest.Code},
		{name: "assignment with factor", topic: withAssign(adminCreateTopic("assigned-rf", -1, 1), adminAssign([]int32{node})), code: kerr.InvalidRequest.Code},
		{name: "assignment gap", topic: withAssign(adminCreateTopic("assigned-gap", -1, -1), gap), code: kerr.InvalidReplicaAssignment.Code},
		{name: "assignment twice", topic: withAssign(adminCreateTopic("assigned-twice", -1, -1), dupPart), code: kerr.InvalidReplicaAssignment.Code},
		{name: "assignment empty replicas", topic: withAssign(adminCreateTopic("assigned-empty", -1, -1), adminAssign([]int32{})), code: kerr.InvalidReplicaAssignment.Code},
		{name: "assignment unknown broker", topic: withAssign(adminCreateTopic("assigned-unknown", -1, -1), adminAssign([]int32{node + 1})), code: kerr.InvalidReplicaAssignment.Code, msg: "no such broker"},
		{name: "assignment duplicate broker", topic: withAssign(adminCreateTopic("assigned-dup", -1, -1), adminAssign([]int32{node, node})), code: kerr.InvalidReplicaAssignment.Code},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := kmsg.NewPtrCreateTopicsRequest()
			req.Topics = append(req.Topics, tc.topic)
			resp, err := req.RequestWith(adminCtx(t), cl)
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.Topics) != 1 {
				t.Fatalf("got %d topics, want 1", len(resp.Topics))
			}
			st := resp.Topics[0]
			adminCode(t, "create", st.ErrorCode, tc.code, st.ErrorMessage)
			if tc.msg != "" && (st.ErrorMessage == nil || !strings.Contains(*st.ErrorMessage, tc.msg)) {
				t.Errorf("message %v does not mention %q", st.ErrorMessage, tc.msg)
			}
			existed := tc.topic.Topic == "existing" || tc.topic.Topic == "dotted.name"
			if got := n.Engine().Topic(tc.topic.Topic) != nil; got != (tc.code == 0 || existed) {
				t.Errorf("topic exists: %v", got)
			}
			if tc.code != 0 {
				return
			}
			if st.NumPartitions != tc.partitions || st.ReplicationFactor != 1 {
				t.Errorf("partitions %d, replication factor %d; want %d, 1", st.NumPartitions, st.ReplicationFactor, tc.partitions)
			}
			if et := n.Engine().Topic(tc.topic.Topic); et == nil || len(et.Partitions) != int(tc.partitions) || [16]byte(et.ID) != st.TopicID {
				t.Errorf("engine topic %+v does not match the response", et)
			}
			if !adminListed(t, cl, tc.topic.Topic) {
				t.Errorf("Metadata does not list %s", tc.topic.Topic)
			}
			cfgs := map[string]kmsg.CreateTopicsResponseTopicConfig{}
			for _, c := range st.Configs {
				cfgs[c.Name] = c
			}
			if c, ok := cfgs["retention.ms"]; !ok || c.Value == nil || *c.Value != "604800000" || kmsg.ConfigSource(c.Source) != kmsg.ConfigSourceDefaultConfig {
				t.Errorf("retention.ms in the response: %+v", c)
			}
			if tc.topic.Topic == "compacted" {
				if c := cfgs["cleanup.policy"]; c.Value == nil || *c.Value != "compact" || kmsg.ConfigSource(c.Source) != kmsg.ConfigSourceDynamicTopicConfig {
					t.Errorf("cleanup.policy in the response: %+v", c)
				}
			}
		})
	}
}

func TestAdminCreateTopicsRequestLevel(t *testing.T) {
	n, cl, adm := adminStart(t)
	ctx := adminCtx(t)

	t.Run("duplicates", func(t *testing.T) {
		req := kmsg.NewPtrCreateTopicsRequest()
		req.Topics = append(req.Topics, adminCreateTopic("twice", 1, 1), adminCreateTopic("once", 1, 1), adminCreateTopic("twice", 2, 1))
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int16{}
		for _, st := range resp.Topics {
			if _, dup := got[st.Topic]; dup {
				t.Errorf("%s answered twice", st.Topic)
			}
			got[st.Topic] = st.ErrorCode
		}
		adminCode(t, "twice", got["twice"], kerr.InvalidRequest.Code, nil)
		adminCode(t, "once", got["once"], 0, nil)
		if n.Engine().Topic("twice") != nil {
			t.Error("duplicated topic was created")
		}
	})

	t.Run("validate only", func(t *testing.T) {
		rs, err := adm.ValidateCreateTopics(ctx, 4, 1, map[string]*string{"retention.ms": kmsg.StringPtr("1000")}, "checked")
		if err != nil {
			t.Fatal(err)
		}
		r := rs["checked"]
		if r.Err != nil || r.NumPartitions != 4 || r.ReplicationFactor != 1 || r.ID != (kadm.TopicID{}) {
			t.Errorf("validate-only response: %+v", r)
		}
		if c := r.Configs["retention.ms"]; c.Value == nil || *c.Value != "1000" {
			t.Errorf("retention.ms in the response: %+v", c)
		}
		if n.Engine().Topic("checked") != nil || adminListed(t, cl, "checked") {
			t.Error("validate-only created the topic")
		}
		rs, err = adm.ValidateCreateTopics(ctx, 1, 2, nil, "checked")
		if err != nil {
			t.Fatal(err)
		}
		if !errors.Is(rs["checked"].Err, kerr.InvalidReplicationFactor) {
			t.Errorf("validate-only with factor 2: %v", rs["checked"].Err)
		}
	})

	t.Run("validate only collision within request", func(t *testing.T) {
		req := kmsg.NewPtrCreateTopicsRequest()
		req.ValidateOnly = true
		req.Topics = append(req.Topics, adminCreateTopic("x.y", 1, 1), adminCreateTopic("x_y", 1, 1))
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		adminCode(t, "x.y", resp.Topics[0].ErrorCode, 0, resp.Topics[0].ErrorMessage)
		adminCode(t, "x_y", resp.Topics[1].ErrorCode, kerr.InvalidTopicException.Code, resp.Topics[1].ErrorMessage)
	})

	t.Run("collision within request", func(t *testing.T) {
		req := kmsg.NewPtrCreateTopicsRequest()
		req.Topics = append(req.Topics, adminCreateTopic("p.q", 1, 1), adminCreateTopic("p_q", 1, 1))
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		adminCode(t, "p.q", resp.Topics[0].ErrorCode, 0, resp.Topics[0].ErrorMessage)
		adminCode(t, "p_q", resp.Topics[1].ErrorCode, kerr.InvalidTopicException.Code, resp.Topics[1].ErrorMessage)
	})

	t.Run("v0", func(t *testing.T) {
		old := nodetest.Client(t, n.Addr(), kgo.MaxVersions(adminPin(19, 0)))
		req := kmsg.NewPtrCreateTopicsRequest()
		req.Topics = append(req.Topics, adminCreateTopic("old-client", 2, 1), adminCreateTopic("old-client-bad", 0, 1))
		resp, err := req.RequestWith(ctx, old)
		if err != nil {
			t.Fatal(err)
		}
		adminCode(t, "old-client", resp.Topics[0].ErrorCode, 0, nil)
		adminCode(t, "old-client-bad", resp.Topics[1].ErrorCode, kerr.InvalidPartitions.Code, nil)
		if et := n.Engine().Topic("old-client"); et == nil || len(et.Partitions) != 2 {
			t.Errorf("old-client: %+v", et)
		}
	})

	t.Run("default replication factor above brokers", func(t *testing.T) {
		_, _, adm3 := adminStart(t, "default.replication.factor=3")
		rs, err := adm3.CreateTopics(ctx, 1, -1, nil, "rf-default")
		if err != nil {
			t.Fatal(err)
		}
		if !errors.Is(rs["rf-default"].Err, kerr.InvalidReplicationFactor) {
			t.Errorf("got %v, want INVALID_REPLICATION_FACTOR", rs["rf-default"].Err)
		}
	})
}

// adminPin returns the client's versions with key capped at version.
func adminPin(key, version int16) *kversion.Versions {
	v := kversion.Stable()
	v.SetMaxKeyVersion(key, version)
	return v
}

func TestAdminDeleteTopics(t *testing.T) {
	n, cl, adm := adminStart(t)
	ctx := adminCtx(t)
	adminMustCreate(t, adm, 2, nil, "by-name", "by-id", "both", "twice")
	byID := n.Engine().Topic("by-id").ID

	t.Run("kadm by name", func(t *testing.T) {
		rs, err := adm.DeleteTopics(ctx, "by-name", "missing")
		if err != nil {
			t.Fatal(err)
		}
		if err := rs["by-name"].Err; err != nil {
			t.Errorf("delete by-name: %v", err)
		}
		if !errors.Is(rs["missing"].Err, kerr.UnknownTopicOrPartition) {
			t.Errorf("delete missing: %v", rs["missing"].Err)
		}
		if n.Engine().Topic("by-name") != nil || adminListed(t, cl, "by-name") {
			t.Error("by-name still exists")
		}
	})

	for _, tc := range []struct {
		name  string
		topic *string
		id    [16]byte
		code  int16
	}{
		{name: "by id", id: byID},
		{name: "unknown id", id: [16]byte{1, 2, 3}, code: kerr.UnknownTopicID.Code},
		{name: "unknown name", topic: kmsg.StringPtr("nope"), code: kerr.UnknownTopicOrPartition.Code},
		{name: "name and id", topic: kmsg.StringPtr("both"), id: n.Engine().Topic("both").ID, code: kerr.InvalidRequest.Code},
		{name: "neither", code: kerr.InvalidRequest.Code},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := kmsg.NewPtrDeleteTopicsRequest()
			rt := kmsg.NewDeleteTopicsRequestTopic()
			rt.Topic, rt.TopicID = tc.topic, tc.id
			req.Topics = append(req.Topics, rt)
			resp, err := req.RequestWith(ctx, cl)
			if err != nil {
				t.Fatal(err)
			}
			if req.Version < 6 {
				t.Skipf("negotiated DeleteTopics v%d, want v6", req.Version)
			}
			st := resp.Topics[0]
			adminCode(t, "delete", st.ErrorCode, tc.code, st.ErrorMessage)
			if tc.code == 0 {
				if st.Topic == nil || *st.Topic != "by-id" || st.TopicID != tc.id {
					t.Errorf("answer names %v %x", st.Topic, st.TopicID)
				}
				if n.Engine().TopicByID(tc.id) != nil || adminListed(t, cl, "by-id") {
					t.Error("by-id still exists")
				}
			}
		})
	}
	if n.Engine().Topic("both") == nil {
		t.Error("a request naming both name and id deleted the topic")
	}

	t.Run("duplicate", func(t *testing.T) {
		req := kmsg.NewPtrDeleteTopicsRequest()
		for range 2 {
			rt := kmsg.NewDeleteTopicsRequestTopic()
			rt.Topic = kmsg.StringPtr("twice")
			req.Topics = append(req.Topics, rt)
		}
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range resp.Topics {
			adminCode(t, "twice", st.ErrorCode, kerr.InvalidRequest.Code, st.ErrorMessage)
		}
		if n.Engine().Topic("twice") == nil {
			t.Error("duplicated topic was deleted")
		}
	})

	t.Run("recreate after delete", func(t *testing.T) {
		adminMustCreate(t, adm, 1, nil, "again")
		first := n.Engine().Topic("again").ID
		if _, err := adm.DeleteTopic(ctx, "again"); err != nil {
			t.Fatal(err)
		}
		adminMustCreate(t, adm, 3, nil, "again")
		if et := n.Engine().Topic("again"); et == nil || et.ID == first || len(et.Partitions) != 3 {
			t.Errorf("recreated topic: %+v", et)
		}
	})

	t.Run("internal topic", func(t *testing.T) {
		// The group coordinator creates it at start.
		if n.Engine().Topic("__consumer_offsets") == nil {
			t.Fatal("__consumer_offsets missing")
		}
		rs, err := adm.DeleteTopics(ctx, "__consumer_offsets")
		if err != nil {
			t.Fatal(err)
		}
		if !errors.Is(rs["__consumer_offsets"].Err, kerr.InvalidRequest) || n.Engine().Topic("__consumer_offsets") == nil {
			t.Errorf("deleting an internal topic: %v", rs["__consumer_offsets"].Err)
		}
	})

	t.Run("deletion disabled", func(t *testing.T) {
		n2, _, adm2 := adminStart(t, "delete.topic.enable=false")
		adminMustCreate(t, adm2, 1, nil, "kept")
		rs, err := adm2.DeleteTopics(ctx, "kept")
		if err != nil {
			t.Fatal(err)
		}
		if !errors.Is(rs["kept"].Err, kerr.TopicDeletionDisabled) {
			t.Errorf("got %v, want TOPIC_DELETION_DISABLED", rs["kept"].Err)
		}
		if n2.Engine().Topic("kept") == nil {
			t.Error("topic deleted although deletion is disabled")
		}
		// v0-2 predate TOPIC_DELETION_DISABLED.
		old := nodetest.Client(t, n2.Addr(), kgo.MaxVersions(adminPin(20, 2)))
		req := kmsg.NewPtrDeleteTopicsRequest()
		req.TopicNames = []string{"kept"}
		resp, err := req.RequestWith(ctx, old)
		if err != nil {
			t.Fatal(err)
		}
		adminCode(t, "delete v2", resp.Topics[0].ErrorCode, kerr.InvalidRequest.Code, nil)
	})
}

func TestAdminCreatePartitions(t *testing.T) {
	n, cl, adm := adminStart(t)
	ctx := adminCtx(t)
	node := n.Engine().NodeID()
	adminMustCreate(t, adm, 2, nil, "grow", "assigned", "twice")

	partitions := func(topic string) int {
		if et := n.Engine().Topic(topic); et != nil {
			return len(et.Partitions)
		}
		return -1
	}
	for _, tc := range []struct {
		name     string
		topic    string
		count    int32
		assign   [][]int32
		validate bool
		code     int16
		msg      string
		after    int
	}{
		{name: "grow", topic: "grow", count: 4, after: 4},
		{name: "same count", topic: "grow", count: 4, code: kerr.InvalidPartitions.Code, msg: "Topic already has 4 partitions.", after: 4},
		{name: "shrink", topic: "grow", count: 3, code: kerr.InvalidPartitions.Code, msg: "Topic currently has 4 partitions, which is higher than the requested 3.", after: 4},
		{name: "validate only", topic: "grow", count: 8, validate: true, after: 4},
		{name: "validate only shrink", topic: "grow", count: 1, validate: true, code: kerr.InvalidPartitions.Code, after: 4},
		{name: "unknown topic", topic: "missing", count: 3, code: kerr.UnknownTopicOrPartition.Code, after: -1},
		{name: "assignment", topic: "assigned", count: 4, assign: [][]int32{{node}, {node}}, after: 4},
		{name: "assignment too short", topic: "assigned", count: 7, assign: [][]int32{{node}}, code: kerr.InvalidReplicaAssignment.Code, after: 4},
		{name: "assignment unknown broker", topic: "assigned", count: 5, assign: [][]int32{{node + 1}}, code: kerr.InvalidReplicaAssignment.Code, after: 4},
		{name: "assignment two replicas", topic: "assigned", count: 5, assign: [][]int32{{node, node}}, code: kerr.InvalidReplicaAssignment.Code, after: 4},
		{name: "assignment empty", topic: "assigned", count: 5, assign: [][]int32{{}}, code: kerr.InvalidReplicaAssignment.Code, after: 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := kmsg.NewPtrCreatePartitionsRequest()
			req.ValidateOnly = tc.validate
			rt := kmsg.NewCreatePartitionsRequestTopic()
			rt.Topic, rt.Count = tc.topic, tc.count
			for _, r := range tc.assign {
				a := kmsg.NewCreatePartitionsRequestTopicAssignment()
				a.Replicas = r
				rt.Assignment = append(rt.Assignment, a)
			}
			req.Topics = append(req.Topics, rt)
			resp, err := req.RequestWith(ctx, cl)
			if err != nil {
				t.Fatal(err)
			}
			st := resp.Topics[0]
			adminCode(t, "create partitions", st.ErrorCode, tc.code, st.ErrorMessage)
			if tc.msg != "" && (st.ErrorMessage == nil || *st.ErrorMessage != tc.msg) {
				t.Errorf("message %v, want %q", st.ErrorMessage, tc.msg)
			}
			if got := partitions(tc.topic); got != tc.after {
				t.Errorf("%d partitions, want %d", got, tc.after)
			}
		})
	}

	t.Run("kadm and metadata", func(t *testing.T) {
		rs, err := adm.UpdatePartitions(ctx, 6, "grow")
		if err != nil || rs.Error() != nil {
			t.Fatalf("update partitions: %v %v", err, rs.Error())
		}
		if got := adminMetadata(t, cl, "grow"); got != 6 {
			t.Errorf("Metadata lists %d partitions, want 6", got)
		}
	})

	t.Run("duplicate", func(t *testing.T) {
		req := kmsg.NewPtrCreatePartitionsRequest()
		for range 2 {
			rt := kmsg.NewCreatePartitionsRequestTopic()
			rt.Topic, rt.Count = "twice", 5
			req.Topics = append(req.Topics, rt)
		}
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Topics) != 1 {
			t.Fatalf("%d answers, want 1", len(resp.Topics))
		}
		adminCode(t, "twice", resp.Topics[0].ErrorCode, kerr.InvalidRequest.Code, resp.Topics[0].ErrorMessage)
		if got := partitions("twice"); got != 2 {
			t.Errorf("%d partitions, want 2", got)
		}
	})
}

// adminDescribe sends one DescribeConfigs resource and returns its answer.
func adminDescribe(t *testing.T, cl *kgo.Client, typ kmsg.ConfigResourceType, name string, names []string, synonyms bool) kmsg.DescribeConfigsResponseResource {
	t.Helper()
	req := kmsg.NewPtrDescribeConfigsRequest()
	req.IncludeSynonyms = synonyms
	req.IncludeDocumentation = true
	rr := kmsg.NewDescribeConfigsRequestResource()
	rr.ResourceType, rr.ResourceName, rr.ConfigNames = typ, name, names
	req.Resources = append(req.Resources, rr)
	// Straight to the broker: the client would route a BROKER resource to
	// the broker it names, and fail locally for an unknown one.
	kresp, err := cl.SeedBrokers()[0].Request(adminCtx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	resp := kresp.(*kmsg.DescribeConfigsResponse)
	if len(resp.Resources) != 1 {
		t.Fatalf("%d resources, want 1", len(resp.Resources))
	}
	return resp.Resources[0]
}

func adminConfigMap(cs []kmsg.DescribeConfigsResponseResourceConfig) map[string]kmsg.DescribeConfigsResponseResourceConfig {
	m := make(map[string]kmsg.DescribeConfigsResponseResourceConfig, len(cs))
	for _, c := range cs {
		m[c.Name] = c
	}
	return m
}

// adminTopicConfigs returns the described configs of topic.
func adminTopicConfigs(t *testing.T, cl *kgo.Client, topic string) map[string]kmsg.DescribeConfigsResponseResourceConfig {
	t.Helper()
	r := adminDescribe(t, cl, kmsg.ConfigResourceTypeTopic, topic, nil, false)
	adminCode(t, "describe "+topic, r.ErrorCode, 0, r.ErrorMessage)
	return adminConfigMap(r.Configs)
}

func TestAdminDescribeConfigs(t *testing.T) {
	n, cl, adm := adminStart(t, "log.retention.ms=1000")
	node := strconv.Itoa(int(n.Engine().NodeID()))
	adminMustCreate(t, adm, 1, map[string]*string{"cleanup.policy": kmsg.StringPtr("compact")}, "described")

	t.Run("topic sources", func(t *testing.T) {
		r := adminDescribe(t, cl, kmsg.ConfigResourceTypeTopic, "described", nil, true)
		adminCode(t, "describe", r.ErrorCode, 0, r.ErrorMessage)
		cs := adminConfigMap(r.Configs)
		for _, tc := range []struct {
			name, value string
			source      kmsg.ConfigSource
		}{
			{"cleanup.policy", "compact", kmsg.ConfigSourceDynamicTopicConfig},
			{"retention.ms", "1000", kmsg.ConfigSourceStaticBrokerConfig},
			{"max.message.bytes", "1048588", kmsg.ConfigSourceDefaultConfig},
		} {
			c, ok := cs[tc.name]
			if !ok {
				t.Errorf("%s not described", tc.name)
				continue
			}
			if c.Value == nil || *c.Value != tc.value || c.Source != tc.source {
				t.Errorf("%s: value %v source %v; want %s %v", tc.name, adminStr(c.Value), c.Source, tc.value, tc.source)
			}
			if c.Documentation == nil || *c.Documentation == "" {
				t.Errorf("%s: no documentation", tc.name)
			}
		}
		if syns := cs["retention.ms"].ConfigSynonyms; len(syns) == 0 || syns[0].Name != "log.retention.ms" || syns[0].Source != kmsg.ConfigSourceStaticBrokerConfig {
			t.Errorf("retention.ms synonyms: %+v", syns)
		}
	})

	t.Run("kadm", func(t *testing.T) {
		rcs, err := adm.DescribeTopicConfigs(adminCtx(t), "described")
		if err != nil {
			t.Fatal(err)
		}
		rc, err := rcs.On("described", nil)
		if err != nil || rc.Err != nil {
			t.Fatalf("describe: %v %v", err, rc.Err)
		}
		if len(rc.Configs) < 10 {
			t.Errorf("only %d configs described", len(rc.Configs))
		}
	})

	for _, tc := range []struct {
		name   string
		typ    kmsg.ConfigResourceType
		res    string
		names  []string
		code   int16
		want   []string // names that must be described
		exact  bool     // and nothing else
		absent bool     // no configs at all
	}{
		{name: "topic filtered", typ: kmsg.ConfigResourceTypeTopic, res: "described", names: []string{"retention.ms", "no.such.config"}, want: []string{"retention.ms"}, exact: true},
		{name: "topic empty filter", typ: kmsg.ConfigResourceTypeTopic, res: "described", names: []string{}, absent: true},
		{name: "unknown topic", typ: kmsg.ConfigResourceTypeTopic, res: "missing", code: kerr.UnknownTopicOrPartition.Code, absent: true},
		{name: "invalid topic", typ: kmsg.ConfigResourceTypeTopic, res: "bad/name", code: kerr.InvalidTopicException.Code, absent: true},
		{name: "broker", typ: kmsg.ConfigResourceTypeBroker, res: node, want: []string{"log.retention.ms", "num.partitions", "node.id"}},
		{name: "broker filtered", typ: kmsg.ConfigResourceTypeBroker, res: node, names: []string{"log.retention.ms"}, want: []string{"log.retention.ms"}, exact: true},
		{name: "cluster default", typ: kmsg.ConfigResourceTypeBroker, res: "", absent: true},
		{name: "other broker", typ: kmsg.ConfigResourceTypeBroker, res: node + "0", code: kerr.InvalidRequest.Code, absent: true},
		{name: "broker not a number", typ: kmsg.ConfigResourceTypeBroker, res: "one", code: kerr.InvalidRequest.Code, absent: true},
		{name: "broker logger", typ: kmsg.ConfigResourceTypeBrokerLogger, res: node, code: kerr.InvalidRequest.Code, absent: true},
		{name: "unknown type", typ: kmsg.ConfigResourceType(99), res: "x", code: kerr.InvalidRequest.Code, absent: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := adminDescribe(t, cl, tc.typ, tc.res, tc.names, false)
			adminCode(t, "describe", r.ErrorCode, tc.code, r.ErrorMessage)
			if tc.absent != (len(r.Configs) == 0) {
				t.Errorf("%d configs described", len(r.Configs))
			}
			cs := adminConfigMap(r.Configs)
			for _, w := range tc.want {
				if _, ok := cs[w]; !ok {
					t.Errorf("%s not described", w)
				}
			}
			if tc.exact && len(cs) != len(tc.want) {
				t.Errorf("described %d configs, want %d", len(cs), len(tc.want))
			}
		})
	}

	t.Run("broker values", func(t *testing.T) {
		cs := adminConfigMap(adminDescribe(t, cl, kmsg.ConfigResourceTypeBroker, node, nil, true).Configs)
		c := cs["log.retention.ms"]
		if c.Value == nil || *c.Value != "1000" || c.Source != kmsg.ConfigSourceStaticBrokerConfig || !c.ReadOnly {
			t.Errorf("log.retention.ms: %+v", c)
		}
		c = cs["num.partitions"]
		if c.Value == nil || *c.Value != "1" || c.Source != kmsg.ConfigSourceDefaultConfig {
			t.Errorf("num.partitions: %+v", c)
		}
	})

	t.Run("v0", func(t *testing.T) {
		old := nodetest.Client(t, n.Addr(), kgo.MaxVersions(adminPin(32, 0)))
		r := adminDescribe(t, old, kmsg.ConfigResourceTypeTopic, "described", []string{"cleanup.policy", "segment.bytes"}, false)
		adminCode(t, "describe v0", r.ErrorCode, 0, r.ErrorMessage)
		cs := adminConfigMap(r.Configs)
		if c := cs["cleanup.policy"]; c.IsDefault || c.Value == nil || *c.Value != "compact" {
			t.Errorf("cleanup.policy at v0: %+v", c)
		}
		if c := cs["segment.bytes"]; !c.IsDefault {
			t.Errorf("segment.bytes at v0: %+v", c)
		}
	})
}

func TestAdminAlterConfigs(t *testing.T) {
	n, cl, adm := adminStart(t)
	ctx := adminCtx(t)
	adminMustCreate(t, adm, 1, nil, "altered")

	alter := func(t *testing.T, validate bool, rs ...kmsg.AlterConfigsRequestResource) []kmsg.AlterConfigsResponseResource {
		t.Helper()
		req := kmsg.NewPtrAlterConfigsRequest()
		req.ValidateOnly = validate
		req.Resources = rs
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Resources
	}
	resource := func(typ kmsg.ConfigResourceType, name string, kv ...string) kmsg.AlterConfigsRequestResource {
		rr := kmsg.NewAlterConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = typ, name
		for i := 0; i+1 < len(kv); i += 2 {
			c := kmsg.NewAlterConfigsRequestResourceConfig()
			c.Name, c.Value = kv[i], kmsg.StringPtr(kv[i+1])
			rr.Configs = append(rr.Configs, c)
		}
		return rr
	}
	overrides := func() map[string]string { return n.Engine().Topic("altered").Configs }
	topic := kmsg.ConfigResourceTypeTopic

	for _, tc := range []struct {
		name     string
		res      kmsg.AlterConfigsRequestResource
		validate bool
		code     int16
		want     map[string]string // overrides afterwards
	}{
		{name: "set two", res: resource(topic, "altered", "retention.ms", "5000", "cleanup.policy", "compact"),
			want: map[string]string{"retention.ms": "5000", "cleanup.policy": "compact"}},
		{name: "replace whole set", res: resource(topic, "altered", "segment.bytes", "1048576"),
			want: map[string]string{"segment.bytes": "1048576"}},
		{name: "validate only", res: resource(topic, "altered", "retention.ms", "1"), validate: true,
			want: map[string]string{"segment.bytes": "1048576"}},
		{name: "bad value", res: resource(topic, "altered", "retention.ms", "-5"), code: kerr.InvalidConfig.Code,
			want: map[string]string{"segment.bytes": "1048576"}},
		{name: "unknown config", res: resource(topic, "altered", "no.such", "1"), code: kerr.InvalidConfig.Code,
			want: map[string]string{"segment.bytes": "1048576"}},
		{name: "duplicate key", res: resource(topic, "altered", "retention.ms", "1", "retention.ms", "2"), code: kerr.InvalidRequest.Code,
			want: map[string]string{"segment.bytes": "1048576"}},
		{name: "unknown topic", res: resource(topic, "missing", "retention.ms", "1"), code: kerr.UnknownTopicOrPartition.Code,
			want: map[string]string{"segment.bytes": "1048576"}},
		{name: "broker", res: resource(kmsg.ConfigResourceTypeBroker, strconv.Itoa(int(n.Engine().NodeID())), "log.retention.ms", "1"), code: kerr.InvalidRequest.Code,
			want: map[string]string{"segment.bytes": "1048576"}},
		{name: "clear", res: resource(topic, "altered"), want: map[string]string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := alter(t, tc.validate, tc.res)
			if len(got) != 1 {
				t.Fatalf("%d answers, want 1", len(got))
			}
			adminCode(t, "alter", got[0].ErrorCode, tc.code, got[0].ErrorMessage)
			if !adminSameMap(overrides(), tc.want) {
				t.Errorf("overrides %v, want %v", overrides(), tc.want)
			}
		})
	}

	t.Run("described after alter", func(t *testing.T) {
		alter(t, false, resource(topic, "altered", "retention.ms", "7000"))
		c := adminTopicConfigs(t, cl, "altered")["retention.ms"]
		if c.Value == nil || *c.Value != "7000" || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
			t.Errorf("retention.ms: %+v", c)
		}
	})

	t.Run("duplicate resource", func(t *testing.T) {
		got := alter(t, false, resource(topic, "altered", "retention.ms", "1"), resource(topic, "altered", "retention.ms", "2"))
		if len(got) != 1 {
			t.Fatalf("%d answers, want 1", len(got))
		}
		adminCode(t, "alter", got[0].ErrorCode, kerr.InvalidRequest.Code, got[0].ErrorMessage)
		if overrides()["retention.ms"] != "7000" {
			t.Errorf("overrides %v", overrides())
		}
	})

	t.Run("kadm state", func(t *testing.T) {
		rs, err := adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{{Name: "retention.bytes", Value: kmsg.StringPtr("1024")}}, "altered")
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			if r.Err != nil {
				t.Errorf("%s: %v", r.Name, r.Err)
			}
		}
		if !adminSameMap(overrides(), map[string]string{"retention.bytes": "1024"}) {
			t.Errorf("overrides %v", overrides())
		}
	})
}

func TestAdminIncrementalAlterConfigs(t *testing.T) {
	n, cl, adm := adminStart(t)
	ctx := adminCtx(t)
	adminMustCreate(t, adm, 1, map[string]*string{"retention.ms": kmsg.StringPtr("9000")}, "inc")
	overrides := func() map[string]string { return n.Engine().Topic("inc").Configs }
	set, del, app, sub := kadm.SetConfig, kadm.DeleteConfig, kadm.AppendConfig, kadm.SubtractConfig
	v := kmsg.StringPtr

	for _, tc := range []struct {
		name     string
		ops      []kadm.AlterConfig
		validate bool
		err      *kerr.Error
		want     map[string]string
	}{
		{name: "set", ops: []kadm.AlterConfig{{Op: set, Name: "segment.bytes", Value: v("1048576")}},
			want: map[string]string{"retention.ms": "9000", "segment.bytes": "1048576"}},
		{name: "delete", ops: []kadm.AlterConfig{{Op: del, Name: "retention.ms"}},
			want: map[string]string{"segment.bytes": "1048576"}},
		{name: "append to default", ops: []kadm.AlterConfig{{Op: app, Name: "cleanup.policy", Value: v("compact")}},
			want: map[string]string{"segment.bytes": "1048576", "cleanup.policy": "delete,compact"}},
		{name: "subtract", ops: []kadm.AlterConfig{{Op: sub, Name: "cleanup.policy", Value: v("delete")}},
			want: map[string]string{"segment.bytes": "1048576", "cleanup.policy": "compact"}},
		{name: "append to non-list", ops: []kadm.AlterConfig{{Op: app, Name: "retention.ms", Value: v("1")}}, err: kerr.InvalidConfig,
			want: map[string]string{"segment.bytes": "1048576", "cleanup.policy": "compact"}},
		{name: "bad value", ops: []kadm.AlterConfig{{Op: set, Name: "cleanup.policy", Value: v("forever")}}, err: kerr.InvalidConfig,
			want: map[string]string{"segment.bytes": "1048576", "cleanup.policy": "compact"}},
		{name: "conflicting result", ops: []kadm.AlterConfig{{Op: set, Name: "min.compaction.lag.ms", Value: v("10")}, {Op: set, Name: "max.compaction.lag.ms", Value: v("5")}}, err: kerr.InvalidConfig,
			want: map[string]string{"segment.bytes": "1048576", "cleanup.policy": "compact"}},
		{name: "set without value", ops: []kadm.AlterConfig{{Op: set, Name: "retention.ms"}}, err: kerr.InvalidRequest,
			want: map[string]string{"segment.bytes": "1048576", "cleanup.policy": "compact"}},
		{name: "validate only", ops: []kadm.AlterConfig{{Op: del, Name: "segment.bytes"}}, validate: true,
			want: map[string]string{"segment.bytes": "1048576", "cleanup.policy": "compact"}},
		{name: "several at once", ops: []kadm.AlterConfig{{Op: del, Name: "segment.bytes"}, {Op: set, Name: "retention.bytes", Value: v("4096")}},
			want: map[string]string{"cleanup.policy": "compact", "retention.bytes": "4096"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			alter := adm.AlterTopicConfigs
			if tc.validate {
				alter = adm.ValidateAlterTopicConfigs
			}
			rs, err := alter(ctx, tc.ops, "inc")
			if err != nil {
				t.Fatal(err)
			}
			if len(rs) != 1 {
				t.Fatalf("%d answers, want 1", len(rs))
			}
			if got := rs[0].Err; (tc.err == nil && got != nil) || (tc.err != nil && !errors.Is(got, tc.err)) {
				t.Errorf("error %v (%s), want %v", got, rs[0].ErrMessage, tc.err)
			}
			if !adminSameMap(overrides(), tc.want) {
				t.Errorf("overrides %v, want %v", overrides(), tc.want)
			}
		})
	}

	rawAlter := func(t *testing.T, rs ...kmsg.IncrementalAlterConfigsRequestResource) []kmsg.IncrementalAlterConfigsResponseResource {
		t.Helper()
		req := kmsg.NewPtrIncrementalAlterConfigsRequest()
		req.Resources = rs
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Resources
	}
	resource := func(typ kmsg.ConfigResourceType, name string, op kmsg.IncrementalAlterConfigOp, key, value string) kmsg.IncrementalAlterConfigsRequestResource {
		rr := kmsg.NewIncrementalAlterConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = typ, name
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name, c.Op, c.Value = key, op, kmsg.StringPtr(value)
		rr.Configs = append(rr.Configs, c)
		return rr
	}
	for _, tc := range []struct {
		name string
		res  []kmsg.IncrementalAlterConfigsRequestResource
		code int16
	}{
		{name: "broker", res: []kmsg.IncrementalAlterConfigsRequestResource{resource(kmsg.ConfigResourceTypeBroker, "", kmsg.IncrementalAlterConfigOpSet, "log.retention.ms", "1")}, code: kerr.InvalidRequest.Code},
		{name: "broker logger", res: []kmsg.IncrementalAlterConfigsRequestResource{resource(kmsg.ConfigResourceTypeBrokerLogger, "1", kmsg.IncrementalAlterConfigOpSet, "kafka", "DEBUG")}, code: kerr.InvalidRequest.Code},
		{name: "unknown topic", res: []kmsg.IncrementalAlterConfigsRequestResource{resource(kmsg.ConfigResourceTypeTopic, "missing", kmsg.IncrementalAlterConfigOpSet, "retention.ms", "1")}, code: kerr.UnknownTopicOrPartition.Code},
		{name: "unknown op", res: []kmsg.IncrementalAlterConfigsRequestResource{resource(kmsg.ConfigResourceTypeTopic, "inc", kmsg.IncrementalAlterConfigOp(9), "retention.ms", "1")}, code: kerr.InvalidRequest.Code},
		{name: "duplicate resource", res: []kmsg.IncrementalAlterConfigsRequestResource{
			resource(kmsg.ConfigResourceTypeTopic, "inc", kmsg.IncrementalAlterConfigOpSet, "retention.ms", "1"),
			resource(kmsg.ConfigResourceTypeTopic, "inc", kmsg.IncrementalAlterConfigOpSet, "retention.ms", "2"),
		}, code: kerr.InvalidRequest.Code},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := rawAlter(t, tc.res...)
			if len(got) != 1 {
				t.Fatalf("%d answers, want 1", len(got))
			}
			adminCode(t, "alter", got[0].ErrorCode, tc.code, got[0].ErrorMessage)
			if _, ok := overrides()["retention.ms"]; ok {
				t.Errorf("overrides changed: %v", overrides())
			}
		})
	}

	t.Run("described after alter", func(t *testing.T) {
		cs := adminTopicConfigs(t, cl, "inc")
		if c := cs["cleanup.policy"]; c.Value == nil || *c.Value != "compact" || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
			t.Errorf("cleanup.policy: %+v", c)
		}
		if c := cs["segment.bytes"]; c.Source != kmsg.ConfigSourceDefaultConfig {
			t.Errorf("segment.bytes: %+v", c)
		}
	})
}

func TestAdminDescribeCluster(t *testing.T) {
	n, cl, _ := adminStart(t)
	ctx := adminCtx(t)
	for _, tc := range []struct {
		name     string
		endpoint int8
		ops      bool
		code     int16
		wantOps  int32
	}{
		{name: "brokers", endpoint: 1, wantOps: -2147483648},
		{name: "with operations", endpoint: 1, ops: true, wantOps: 1<<5 | 1<<7 | 1<<8 | 1<<9 | 1<<10 | 1<<11 | 1<<12},
		{name: "controllers", endpoint: 2, code: kerr.MismatchedEndpointType.Code},
		{name: "unknown endpoint", endpoint: 7, code: kerr.UnsupportedEndpointType.Code},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := kmsg.NewPtrDescribeClusterRequest()
			req.EndpointType = tc.endpoint
			req.IncludeClusterAuthorizedOperations = tc.ops
			req.IncludeFencedBrokers = true
			resp, err := req.RequestWith(ctx, cl)
			if err != nil {
				t.Fatal(err)
			}
			adminCode(t, "describe cluster", resp.ErrorCode, tc.code, resp.ErrorMessage)
			if tc.code != 0 {
				return
			}
			if resp.ClusterID != n.Engine().ClusterID() || resp.ClusterID == "" {
				t.Errorf("cluster id %q, want %q", resp.ClusterID, n.Engine().ClusterID())
			}
			if resp.ControllerID != n.Engine().NodeID() {
				t.Errorf("controller %d", resp.ControllerID)
			}
			if resp.ClusterAuthorizedOperations != tc.wantOps {
				t.Errorf("authorized operations %d, want %d", resp.ClusterAuthorizedOperations, tc.wantOps)
			}
			if len(resp.Brokers) != 1 {
				t.Fatalf("%d brokers, want 1", len(resp.Brokers))
			}
			br := resp.Brokers[0]
			if br.NodeID != n.Engine().NodeID() || br.Rack != nil || br.IsFenced || n.Addr() != br.Host+":"+strconv.Itoa(int(br.Port)) {
				t.Errorf("broker %+v, address %s", br, n.Addr())
			}
		})
	}

	t.Run("node id", func(t *testing.T) {
		n7, cl7, _ := adminStart(t, "node.id=7")
		resp, err := kmsg.NewPtrDescribeClusterRequest().RequestWith(ctx, cl7)
		if err != nil {
			t.Fatal(err)
		}
		if resp.ControllerID != 7 || len(resp.Brokers) != 1 || resp.Brokers[0].NodeID != 7 || n7.Engine().NodeID() != 7 {
			t.Errorf("controller %d, brokers %+v", resp.ControllerID, resp.Brokers)
		}
		r := adminDescribe(t, cl7, kmsg.ConfigResourceTypeBroker, "7", []string{"node.id"}, false)
		adminCode(t, "describe broker 7", r.ErrorCode, 0, r.ErrorMessage)
		if len(r.Configs) != 1 || adminStr(r.Configs[0].Value) != "7" {
			t.Errorf("node.id described as %+v", r.Configs)
		}
		r = adminDescribe(t, cl7, kmsg.ConfigResourceTypeBroker, "1", nil, false)
		adminCode(t, "describe broker 1", r.ErrorCode, kerr.InvalidRequest.Code, r.ErrorMessage)
	})

	t.Run("v0", func(t *testing.T) {
		old := nodetest.Client(t, n.Addr(), kgo.MaxVersions(adminPin(60, 0)))
		resp, err := kmsg.NewPtrDescribeClusterRequest().RequestWith(ctx, old)
		if err != nil {
			t.Fatal(err)
		}
		adminCode(t, "describe cluster v0", resp.ErrorCode, 0, resp.ErrorMessage)
		if len(resp.Brokers) != 1 {
			t.Errorf("%d brokers, want 1", len(resp.Brokers))
		}
	})
}

func adminStr(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

func adminSameMap(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
