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
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirdb/weir/internal/meta"
	"github.com/weirdb/weir/internal/node"
	"github.com/weirdb/weir/internal/node/nodetest"
	"github.com/weirdb/weir/internal/storage/objstore"
	"github.com/weirdb/weir/internal/storage/wal"
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

func (s *grSeen) add(who string, r *kgo.Record) { s.addAt(who, r.Partition, r.Offset) }

func (s *grSeen) addAt(who string, partition int32, offset int64) {
	s.mu.Lock()
	s.n[[2]int64{int64(partition), offset}]++
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
	grLoaded(t, n)
	return n, nodetest.Admin(t, n.Addr())
}

// grBroker starts a broker for raw protocol tests with the group test
// settings (ptBroker waits for the coordinators to load).
func grBroker(t testing.TB) (*node.Node, string) {
	t.Helper()
	return ptBroker(t, grSets...)
}

// grLoaded waits until the broker's group coordinator has loaded
// __consumer_offsets; until then, group requests are answered
// COORDINATOR_LOAD_IN_PROGRESS (which clients retry, but raw requests
// would see).
func grLoaded(t testing.TB, n *node.Node) {
	t.Helper()
	if err := n.Groups().WaitLoaded(grCtx(t)); err != nil {
		t.Fatalf("group coordinator: %v", err)
	}
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

// TestGroupFranzStatic: static members (group.instance.id) restart
// without a rebalance and keep their partitions; one that stays away is
// removed when its session ends.
func TestGroupFranzStatic(t *testing.T) {
	t.Parallel()
	n, adm := grStart(t)
	addr := n.Addr()
	const topic, group, parts = "static-events", "static-workers", 4
	if _, err := adm.CreateTopic(grCtx(t), parts, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	seen := newGRSeen()
	grProduce(t, addr, topic, parts, 10, "a")
	a := grConsume(t, addr, group, topic, "a", seen, kgo.CooperativeStickyBalancer(), kgo.InstanceID("inst-a"))
	assigned := func(instance string) (string, []int32) {
		dg, err := adm.DescribeGroups(grCtx(t), group)
		if err != nil || dg[group].State != "Stable" {
			return "", nil
		}
		for _, m := range dg[group].Members {
			if m.InstanceID != nil && *m.InstanceID == instance {
				if ca, ok := m.Assigned.AsConsumer(); ok && len(ca.Topics) == 1 {
					return m.MemberID, ca.Topics[0].Partitions
				}
			}
		}
		return "", nil
	}
	// a leads. (A restarted static leader that balances with kgo's
	// KIP-814 workaround may find the stored plan stale and rebalance,
	// as it would against Kafka.)
	grWait(t, "a to lead the group", func() bool {
		_, p := assigned("inst-a")
		return len(p) == parts
	})
	b := grConsume(t, addr, group, topic, "b", seen, kgo.CooperativeStickyBalancer(), kgo.InstanceID("inst-b"))
	var bID string
	var bParts []int32
	grWait(t, "both static members assigned", func() bool {
		_, ap := assigned("inst-a")
		bID, bParts = assigned("inst-b")
		return len(ap) > 0 && len(bParts) > 0 && len(ap)+len(bParts) == parts
	})
	_, gen := a.cl.GroupMetadata()

	// b restarts: a static member does not leave on close.
	b.stop()
	b.cl.Close()
	b2 := grConsume(t, addr, group, topic, "b2", seen, kgo.CooperativeStickyBalancer(), kgo.InstanceID("inst-b"))
	grWait(t, "b's restart to take its place", func() bool {
		id, p := assigned("inst-b")
		return id != "" && id != bID && slices.Equal(p, bParts)
	})
	grProduce(t, addr, topic, parts, 10, "b")
	grWait(t, "everything consumed", func() bool { return len(seen.missing(grEnd(t, adm, topic))) == 0 })
	if _, g := a.cl.GroupMetadata(); g != gen {
		t.Fatalf("generation %d after a static restart, was %d: a rebalance happened", g, gen)
	}

	// b goes away for good: its session (1.5s) ends and a takes over.
	b2.stop()
	b2.cl.Close()
	grWait(t, "a to own every partition", func() bool {
		_, p := assigned("inst-a")
		return len(p) == parts
	})
	if _, g := a.cl.GroupMetadata(); g <= gen {
		t.Fatalf("generation %d after b left, was %d", g, gen)
	}
}

// TestGroupRestartKeepsOffsets: committed offsets and groups survive a
// broker restart on the same storage, and consumers resume from them.
func TestGroupRestartKeepsOffsets(t *testing.T) {
	t.Parallel()
	w, store, kv := wal.NewMemory(), objstore.NewMemory(), meta.NewMemory()
	opts := nodetest.Options{Sets: grSets, WAL: w, Store: store, Meta: kv}
	n1 := nodetest.Start(t, opts)
	grLoaded(t, n1)
	adm := nodetest.Admin(t, n1.Addr())
	const topic, group, parts = "restart-events", "restart-workers", 3
	if _, err := adm.CreateTopic(grCtx(t), parts, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	grProduce(t, n1.Addr(), topic, parts, 20, "a")
	seen := newGRSeen()
	a := grConsume(t, n1.Addr(), group, topic, "a", seen, kgo.RangeBalancer())
	grWait(t, "a to consume everything", func() bool { return len(seen.missing(grEnd(t, adm, topic))) == 0 })
	a.stop()
	if err := a.cl.CommitUncommittedOffsets(grCtx(t)); err != nil {
		t.Fatal(err)
	}
	a.cl.Close()
	if _, err := adm.CommitOffsets(grCtx(t), "simple", offsetsFor(topic, 1, 7)); err != nil {
		t.Fatal(err)
	}
	end := grEnd(t, adm, topic)
	if err := n1.Close(grCtx(t)); err != nil {
		t.Fatal(err)
	}

	opts.WAL = w.Reopen()
	n2 := nodetest.Start(t, opts)
	grLoaded(t, n2)
	adm = nodetest.Admin(t, n2.Addr())
	if got := grCommitted(t, adm, group, topic); !mapsEqual(got, end) {
		t.Fatalf("committed after restart %v, want %v", got, end)
	}
	if got := grCommitted(t, adm, "simple", topic); !mapsEqual(got, map[int32]int64{1: 7}) {
		t.Fatalf("simple group after restart: %v", got)
	}
	dg, err := adm.DescribeGroups(grCtx(t), group)
	if err != nil || dg[group].State != "Empty" || dg[group].ProtocolType != "consumer" {
		t.Fatalf("group after restart: %+v %v", dg[group], err)
	}
	resumed := newGRSeen()
	grConsume(t, n2.Addr(), group, topic, "b", resumed, kgo.RangeBalancer())
	grProduce(t, n2.Addr(), topic, parts, 3, "b")
	grWait(t, "b to consume the new records", func() bool { return resumed.count("b") >= parts*3 })
	resumed.mu.Lock()
	defer resumed.mu.Unlock()
	for k := range resumed.n {
		if k[1] < end[int32(k[0])] {
			t.Errorf("b consumed %d@%d, committed before the restart", k[0], k[1])
		}
	}
}
