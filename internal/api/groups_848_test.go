package api_test

// KIP-848 consumer groups driven by franz-go's next-gen consumer
// (kgo.ServerSideBalancer): the broker assigns.

import (
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirdb/weir/internal/meta"
	"github.com/weirdb/weir/internal/node/nodetest"
	"github.com/weirdb/weir/internal/storage/objstore"
	"github.com/weirdb/weir/internal/storage/wal"
)

// gr848Sets make KIP-848 groups quick: members heartbeat every 100 ms.
var gr848Sets = []string{"group.consumer.heartbeat.interval.ms=100", "group.consumer.session.timeout.ms=3000"}

// TestGroup848Franz runs three next-gen franz-go consumers over a
// six-partition topic with each server-side assignor: once the group is
// Stable, every record is consumed exactly once; a member leaving hands
// its partitions over without losing records; the commits end at the end
// of the log; and a new member resumes from them.
func TestGroup848Franz(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		balancer func() kgo.GroupBalancer
		assignor string
	}{
		{"uniform", kgo.StickyBalancer, "uniform"},
		{"range", kgo.RangeBalancer, "range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			n, adm := grStart(t, gr848Sets...)
			addr := n.Addr()
			const topic, group, parts = "events848", "workers848", 6
			if _, err := adm.CreateTopic(grCtx(t), parts, 1, nil, topic); err != nil {
				t.Fatal(err)
			}
			seen := newGRSeen()
			opt := kgo.ServerSideBalancer()
			a := grConsume(t, addr, group, topic, "a", seen, tc.balancer(), opt)
			b := grConsume(t, addr, group, topic, "b", seen, tc.balancer(), opt)
			c := grConsume(t, addr, group, topic, "c", seen, tc.balancer(), opt)

			describe := func() kmsg.ConsumerGroupDescribeResponseGroup {
				req := kmsg.NewPtrConsumerGroupDescribeRequest()
				req.Groups = []string{group}
				resp, err := req.RequestWith(grCtx(t), a.cl)
				if err != nil || len(resp.Groups) != 1 {
					t.Fatalf("describe: %v", err)
				}
				return resp.Groups[0]
			}
			stable := func(members int) func() bool {
				return func() bool {
					d := describe()
					if d.ErrorCode != 0 || d.State != "Stable" || len(d.Members) != members {
						return false
					}
					total := 0
					for _, m := range d.Members {
						if m.MemberEpoch != d.AssignmentEpoch {
							return false
						}
						for _, tp := range m.Assignment.TopicPartitions {
							total += len(tp.Partitions)
						}
					}
					return total == parts
				}
			}
			grWait(t, "three members to share the topic", stable(3))
			d := describe()
			if d.AssignorName != tc.assignor {
				t.Errorf("assignor %q, want %q", d.AssignorName, tc.assignor)
			}
			for _, m := range d.Members {
				if got := len(m.Assignment.TopicPartitions[0].Partitions); got != 2 {
					t.Errorf("member %s has %d partitions, want 2 (%+v)", m.MemberID, got, m.Assignment)
				}
			}

			// Stable: every record exactly once.
			grProduce(t, addr, topic, parts, 30, "a")
			grWait(t, "everything so far", func() bool { return len(seen.missing(grEnd(t, adm, topic))) == 0 })
			time.Sleep(200 * time.Millisecond)
			seen.mu.Lock()
			for k, v := range seen.n {
				if v != 1 {
					t.Errorf("%d@%d consumed %d times", k[0], k[1], v)
				}
			}
			if seen.by["a"] == 0 || seen.by["b"] == 0 || seen.by["c"] == 0 {
				t.Errorf("consumption not shared: %v", seen.by)
			}
			seen.mu.Unlock()

			// b and c leave; a takes over and nothing is lost.
			for _, m := range []*grConsumer{b, c} {
				m.stop()
				m.cl.Close()
			}
			grWait(t, "a alone", stable(1))
			grProduce(t, addr, topic, parts, 10, "b")
			grWait(t, "a to consume everything", func() bool { return len(seen.missing(grEnd(t, adm, topic))) == 0 })

			a.stop()
			if err := a.cl.CommitUncommittedOffsets(grCtx(t)); err != nil {
				t.Fatalf("commit: %v", err)
			}
			a.cl.Close()
			end := grEnd(t, adm, topic)
			if got := grCommitted(t, adm, group, topic); !mapsEqual(got, end) {
				t.Fatalf("committed %v, want the end offsets %v", got, end)
			}
			lg, err := adm.ListGroupsByType(grCtx(t), []string{"consumer"})
			if err != nil {
				t.Fatal(err)
			}
			if l, ok := lg[group]; !ok || l.State != "Empty" || l.ProtocolType != "consumer" {
				t.Fatalf("listed %+v", lg)
			}

			// A new member resumes at the committed offsets.
			resumed := newGRSeen()
			grConsume(t, addr, group, topic, "d", resumed, tc.balancer(), opt)
			grProduce(t, addr, topic, parts, 5, "d")
			grWait(t, "d to consume the new records", func() bool { return resumed.count("d") >= parts*5 })
			resumed.mu.Lock()
			defer resumed.mu.Unlock()
			var early []int64
			for k := range resumed.n {
				if k[1] < end[int32(k[0])] {
					early = append(early, k[1])
				}
			}
			if len(early) > 0 {
				slices.Sort(early)
				t.Errorf("d consumed offsets committed before: %v", early)
			}
		})
	}
}

// gr848Heartbeat sends one ConsumerGroupHeartbeat.
func gr848Heartbeat(t *testing.T, cl *kgo.Client, req *kmsg.ConsumerGroupHeartbeatRequest) *kmsg.ConsumerGroupHeartbeatResponse {
	t.Helper()
	resp, err := req.RequestWith(grCtx(t), cl)
	if err != nil {
		t.Fatalf("heartbeat: %v", err)
	}
	return resp
}

// TestGroup848Restart: a consumer group's epochs and assignments survive
// a broker restart; its member heartbeats on at the epoch it had, and
// the group epoch does not go backwards.
func TestGroup848Restart(t *testing.T) {
	t.Parallel()
	w, store, kv := wal.NewMemory(), objstore.NewMemory(), meta.NewMemory()
	opts := nodetest.Options{Sets: append(slices.Clone(grSets), gr848Sets...), WAL: w, Store: store, Meta: kv}
	n1 := nodetest.Start(t, opts)
	grLoaded(t, n1)
	adm := nodetest.Admin(t, n1.Addr())
	const topic, group = "restart848", "restart848-group"
	if _, err := adm.CreateTopic(grCtx(t), 3, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	cl := nodetest.Client(t, n1.Addr())
	join := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	join.Group, join.MemberID, join.MemberEpoch = group, "m1", 0
	join.RebalanceTimeoutMillis = 30000
	join.SubscribedTopicNames = []string{topic}
	join.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	resp := gr848Heartbeat(t, cl, join)
	if resp.ErrorCode != 0 || resp.MemberEpoch != 1 || resp.Assignment == nil || len(resp.Assignment.Topics) != 1 || len(resp.Assignment.Topics[0].Partitions) != 3 {
		t.Fatalf("join: %+v", resp)
	}
	owned := []kmsg.ConsumerGroupHeartbeatRequestTopic{{TopicID: resp.Assignment.Topics[0].TopicID, Partitions: resp.Assignment.Topics[0].Partitions}}
	// A second member bumps the group epoch to 2.
	join2 := *join
	join2.MemberID = "m2"
	if r := gr848Heartbeat(t, cl, &join2); r.ErrorCode != 0 || r.MemberEpoch != 2 {
		t.Fatalf("second join: %+v", r)
	}
	cl.Close()
	if err := n1.Close(grCtx(t)); err != nil {
		t.Fatal(err)
	}

	opts.WAL = w.Reopen()
	n2 := nodetest.Start(t, opts)
	grLoaded(t, n2)
	cl = nodetest.Client(t, n2.Addr())
	desc := kmsg.NewPtrConsumerGroupDescribeRequest()
	desc.Groups = []string{group}
	dresp, err := desc.RequestWith(grCtx(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	if g := dresp.Groups[0]; g.ErrorCode != 0 || g.Epoch != 2 || g.AssignmentEpoch != 2 || len(g.Members) != 2 {
		t.Fatalf("described after restart: %+v", g)
	}
	// m1 still holds everything at epoch 1: it must revoke first.
	hb := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	hb.Group, hb.MemberID, hb.MemberEpoch = group, "m1", 1
	hb.RebalanceTimeoutMillis = 30000
	hb.SubscribedTopicNames = []string{topic}
	hb.Topics = owned
	r := gr848Heartbeat(t, cl, hb)
	if r.ErrorCode != 0 || r.MemberEpoch != 1 || r.Assignment == nil || len(r.Assignment.Topics[0].Partitions) >= 3 {
		t.Fatalf("heartbeat after restart: %+v", r)
	}
	// An epoch the group never handed out is fenced.
	hb.MemberEpoch = 5
	if r := gr848Heartbeat(t, cl, hb); r.ErrorCode != kerr.FencedMemberEpoch.Code {
		t.Fatalf("future epoch: %+v", r)
	}
}
