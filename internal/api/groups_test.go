package api_test

// End-to-end tests of consumer groups and committed offsets with real
// clients (franz-go, sarama, kafka-go) against an in-process broker.
// Helpers are prefixed gr.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirdb/weir/internal/node"
	"github.com/weirdb/weir/internal/node/nodetest"
)

// grSets make rebalances fast: no initial delay, short sessions allowed.
var grSets = []string{"group.initial.rebalance.delay.ms=0", "group.min.session.timeout.ms=500"}

func grCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// grProduce writes n records to each partition of topic, values naming
// their partition and sequence.
func grProduce(t testing.TB, addr, topic string, partitions int32, n int, tag string) {
	t.Helper()
	cl := nodetest.Client(t, addr, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.DefaultProduceTopic(topic))
	var recs []*kgo.Record
	for p := range partitions {
		for i := range n {
			recs = append(recs, &kgo.Record{Partition: p, Value: fmt.Appendf(nil, "%s-%d-%d", tag, p, i)})
		}
	}
	if err := cl.ProduceSync(grCtx(t), recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// grSeen counts deliveries of each record, by partition and offset.
type grSeen struct {
	mu sync.Mutex
	n  map[[2]int64]int
	by map[string]int // deliveries per consumer
}

func newGRSeen() *grSeen { return &grSeen{n: map[[2]int64]int{}, by: map[string]int{}} }

func (s *grSeen) add(who string, r *kgo.Record) {
	s.mu.Lock()
	s.n[[2]int64{int64(r.Partition), r.Offset}]++
	s.by[who]++
	s.mu.Unlock()
}

// missing lists records below end (per partition) never delivered.
func (s *grSeen) missing(end map[int32]int64) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for p, e := range end {
		for o := int64(0); o < e; o++ {
			if s.n[[2]int64{int64(p), o}] == 0 {
				out = append(out, fmt.Sprintf("%d@%d", p, o))
			}
		}
	}
	slices.Sort(out)
	return out
}

func (s *grSeen) count(who string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.by[who]
}

// grKill is a dialer whose connections can all be cut at once, and which
// refuses new ones after: a consumer process dying without a word.
type grKill struct {
	mu    sync.Mutex
	dead  bool
	conns []net.Conn
}

func (k *grKill) dial(ctx context.Context, network, host string) (net.Conn, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.dead {
		return nil, errors.New("killed")
	}
	c, err := (&net.Dialer{}).DialContext(ctx, network, host)
	if err == nil {
		k.conns = append(k.conns, c)
	}
	return c, err
}

func (k *grKill) kill() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.dead = true
	for _, c := range k.conns {
		c.Close()
	}
}

// grConsumer is a franz-go group consumer polling in a goroutine.
type grConsumer struct {
	name   string
	cl     *kgo.Client
	killer *grKill
	cancel context.CancelFunc
	done   chan struct{}
}

func grConsume(t testing.TB, addr, group, topic, name string, seen *grSeen, balancer kgo.GroupBalancer, opts ...kgo.Opt) *grConsumer {
	t.Helper()
	k := &grKill{}
	opts = append([]kgo.Opt{
		kgo.SeedBrokers(addr),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.Balancers(balancer),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.SessionTimeout(1500 * time.Millisecond),
		kgo.HeartbeatInterval(150 * time.Millisecond),
		kgo.RebalanceTimeout(5 * time.Second),
		kgo.AutoCommitInterval(200 * time.Millisecond),
		kgo.FetchMaxWait(200 * time.Millisecond),
		kgo.ClientID(name),
		kgo.Dialer(k.dial),
		kgo.RetryTimeout(30 * time.Second),
	}, opts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &grConsumer{name: name, cl: cl, killer: k, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			fs.EachRecord(func(r *kgo.Record) { seen.add(name, r) })
		}
	}()
	t.Cleanup(func() { c.stop(); cl.Close() })
	return c
}

func (c *grConsumer) stop() {
	c.cancel()
	<-c.done
}

// grEnd returns the end offset of each partition of topic.
func grEnd(t testing.TB, adm *kadm.Client, topic string) map[int32]int64 {
	t.Helper()
	ends, err := adm.ListEndOffsets(grCtx(t), topic)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out
}

// grCommitted returns the group's committed offset of each partition.
func grCommitted(t testing.TB, adm *kadm.Client, group, topic string) map[int32]int64 {
	t.Helper()
	os, err := adm.FetchOffsets(grCtx(t), group)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int32]int64{}
	os.Each(func(o kadm.OffsetResponse) {
		if o.Topic == topic {
			out[o.Partition] = o.At
		}
	})
	return out
}

// grWait polls cond until it holds or the test's patience ends.
func grWait(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func grStart(t testing.TB, sets ...string) (*node.Node, *kadm.Client) {
	t.Helper()
	n := nodetest.Start(t, nodetest.Options{Sets: append(slices.Clone(grSets), sets...)})
	return n, nodetest.Admin(t, n.Addr())
}

// TestGroupFranzConsumers runs a group of franz-go consumers over a
// six-partition topic while members join, leave, and die without a
// word, with both an eager and a cooperative balancer: no record may be
// lost, the offsets committed at the end are the end of the log, and a new
// member resumes from them.
func TestGroupFranzConsumers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		balancer func() kgo.GroupBalancer
	}{
		{"cooperative-sticky", kgo.CooperativeStickyBalancer},
		{"range", kgo.RangeBalancer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			n, adm := grStart(t)
			addr := n.Addr()
			const topic, group, parts = "events", "workers", 6
			if _, err := adm.CreateTopic(grCtx(t), parts, 1, nil, topic); err != nil {
				t.Fatal(err)
			}
			seen := newGRSeen()
			grProduce(t, addr, topic, parts, 50, "a")
			a := grConsume(t, addr, group, topic, "a", seen, tc.balancer())
			grWait(t, "a to consume", func() bool { return seen.count("a") > 0 })

			b := grConsume(t, addr, group, topic, "b", seen, tc.balancer())
			c := grConsume(t, addr, group, topic, "c", seen, tc.balancer())
			grProduce(t, addr, topic, parts, 50, "b")
			grWait(t, "everything so far", func() bool { return len(seen.missing(grEnd(t, adm, topic))) == 0 })
			grWait(t, "b and c to get partitions", func() bool {
				dg, err := adm.DescribeGroups(grCtx(t), group)
				if err != nil || dg[group].State != "Stable" || len(dg[group].Members) != 3 {
					return false
				}
				for _, m := range dg[group].Members {
					if ca, ok := m.Assigned.AsConsumer(); !ok || len(ca.Topics) == 0 {
						return false
					}
				}
				return true
			})

			// b leaves cleanly, c dies; a must take over everything.
			b.stop()
			b.cl.Close()
			c.killer.kill()
			grProduce(t, addr, topic, parts, 50, "c")
			grWait(t, "a alone to consume everything", func() bool { return len(seen.missing(grEnd(t, adm, topic))) == 0 })
			grWait(t, "a alone in the group", func() bool {
				dg, err := adm.DescribeGroups(grCtx(t), group)
				return err == nil && dg[group].State == "Stable" && len(dg[group].Members) == 1
			})
			c.stop()
			c.cl.Close()

			// a commits what it consumed and leaves: the group is
			// Empty with its offsets at the end of the log.
			a.stop()
			if err := a.cl.CommitUncommittedOffsets(grCtx(t)); err != nil {
				t.Fatalf("commit: %v", err)
			}
			a.cl.Close()
			end := grEnd(t, adm, topic)
			if got := grCommitted(t, adm, group, topic); !mapsEqual(got, end) {
				t.Fatalf("committed %v, want the end offsets %v", got, end)
			}
			dg, err := adm.DescribeGroups(grCtx(t), group)
			if err != nil || dg[group].State != "Empty" {
				t.Fatalf("group after all left: %+v %v", dg[group], err)
			}

			// A new member resumes at the committed offsets.
			resumed := newGRSeen()
			grConsume(t, addr, group, topic, "d", resumed, tc.balancer())
			grProduce(t, addr, topic, parts, 5, "d")
			newEnd := grEnd(t, adm, topic)
			grWait(t, "d to consume the new records", func() bool { return resumed.count("d") >= parts*5 })
			time.Sleep(300 * time.Millisecond)
			resumed.mu.Lock()
			defer resumed.mu.Unlock()
			for k := range resumed.n {
				if k[1] < end[int32(k[0])] || k[1] >= newEnd[int32(k[0])] {
					t.Errorf("d consumed %d@%d, outside the new records", k[0], k[1])
				}
			}
		})
	}
}

func mapsEqual[K comparable, V comparable](a, b map[K]V) bool {
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

var (
	_ = kerr.UnknownMemberID
	_ = kmsg.NewPtrJoinGroupRequest
)
