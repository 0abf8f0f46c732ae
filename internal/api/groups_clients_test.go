package api_test

// Consumer groups driven by clients other than franz-go: sarama's
// ConsumerGroup and kafka-go's Reader with a GroupID (versions pinned in
// go.mod), each with its own choice of protocol versions.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	kafkago "github.com/segmentio/kafka-go"
)

type grSaramaHandler struct {
	name string
	seen *grSeen
}

func (grSaramaHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (grSaramaHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h grSaramaHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for msg := range claim.Messages() {
		h.seen.addAt(h.name, msg.Partition, msg.Offset)
		sess.MarkMessage(msg, "")
	}
	return nil
}

// grSarama runs a sarama group member until stop is called.
func grSarama(t *testing.T, addr, group, topic, name string, seen *grSeen, strategy sarama.BalanceStrategy) (stop func()) {
	t.Helper()
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.ClientID = name
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Offsets.AutoCommit.Interval = 100 * time.Millisecond
	cfg.Consumer.Group.Session.Timeout = 2 * time.Second
	cfg.Consumer.Group.Heartbeat.Interval = 200 * time.Millisecond
	cfg.Consumer.Group.Rebalance.Timeout = 5 * time.Second
	cfg.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{strategy}
	cfg.Consumer.MaxWaitTime = 200 * time.Millisecond
	cfg.Metadata.Retry.Backoff = 50 * time.Millisecond
	cg, err := sarama.NewConsumerGroup([]string{addr}, group, cfg)
	if err != nil {
		t.Fatalf("sarama: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			if err := cg.Consume(ctx, []string{topic}, grSaramaHandler{name, seen}); err != nil && !errors.Is(err, sarama.ErrClosedConsumerGroup) {
				time.Sleep(50 * time.Millisecond)
			}
		}
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			<-done
			if err := cg.Close(); err != nil {
				t.Logf("sarama close: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// TestGroupSarama: two sarama members share a topic, one leaves, the
// other commits everything; a restarted member resumes after it.
func TestGroupSarama(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		strategy func() sarama.BalanceStrategy
	}{
		{"range", sarama.NewBalanceStrategyRange},
		{"sticky", sarama.NewBalanceStrategySticky},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			n, adm := grStart(t)
			addr := n.Addr()
			const topic, group, parts = "sarama-events", "sarama-group", 4
			if _, err := adm.CreateTopic(grCtx(t), parts, 1, nil, topic); err != nil {
				t.Fatal(err)
			}
			seen := newGRSeen()
			grProduce(t, addr, topic, parts, 25, "a")
			stopA := grSarama(t, addr, group, topic, "a", seen, tc.strategy())
			stopB := grSarama(t, addr, group, topic, "b", seen, tc.strategy())
			grWait(t, "both sarama members to consume everything", func() bool {
				return len(seen.missing(grEnd(t, adm, topic))) == 0
			})
			grWait(t, "a stable group of two", func() bool {
				dg, err := adm.DescribeGroups(grCtx(t), group)
				return err == nil && dg[group].State == "Stable" && len(dg[group].Members) == 2
			})
			stopB()
			grProduce(t, addr, topic, parts, 25, "b")
			grWait(t, "a alone to consume everything", func() bool {
				return len(seen.missing(grEnd(t, adm, topic))) == 0
			})
			end := grEnd(t, adm, topic)
			grWait(t, "commits to reach the end", func() bool { return mapsEqual(grCommitted(t, adm, group, topic), end) })
			stopA()

			resumed := newGRSeen()
			grSarama(t, addr, group, topic, "c", resumed, tc.strategy())
			grProduce(t, addr, topic, parts, 5, "c")
			grWait(t, "c to consume the new records", func() bool { return resumed.count("c") >= parts*5 })
			time.Sleep(300 * time.Millisecond)
			resumed.mu.Lock()
			defer resumed.mu.Unlock()
			for k := range resumed.n {
				if k[1] < end[int32(k[0])] {
					t.Errorf("c consumed %d@%d, committed before it started", k[0], k[1])
				}
			}
		})
	}
}

// TestGroupKafkaGo: kafka-go Readers in one group, committing each message
// explicitly; after they close, the group's offsets are the end of the
// log and a new Reader starts there.
func TestGroupKafkaGo(t *testing.T) {
	t.Parallel()
	n, adm := grStart(t)
	addr := n.Addr()
	const topic, group, parts = "kafkago-events", "kafkago-group", 3
	if _, err := adm.CreateTopic(grCtx(t), parts, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	grProduce(t, addr, topic, parts, 20, "a")
	reader := func(name string, seen *grSeen) (stop func()) {
		r := kafkago.NewReader(kafkago.ReaderConfig{
			Brokers:           []string{addr},
			GroupID:           group,
			Topic:             topic,
			MaxWait:           200 * time.Millisecond,
			HeartbeatInterval: 200 * time.Millisecond,
			SessionTimeout:    2 * time.Second,
			RebalanceTimeout:  5 * time.Second,
			JoinGroupBackoff:  100 * time.Millisecond,
			StartOffset:       kafkago.FirstOffset,
			GroupBalancers:    []kafkago.GroupBalancer{kafkago.RangeGroupBalancer{}},
			Dialer:            &kafkago.Dialer{ClientID: name, Timeout: 10 * time.Second},
		})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				m, err := r.FetchMessage(ctx)
				if err != nil {
					return
				}
				seen.addAt(name, int32(m.Partition), m.Offset)
				if err := r.CommitMessages(ctx, m); err != nil {
					return
				}
			}
		}()
		var once sync.Once
		stop = func() {
			once.Do(func() {
				cancel()
				<-done
				r.Close()
			})
		}
		t.Cleanup(stop)
		return stop
	}
	seen := newGRSeen()
	stopA := reader("a", seen)
	stopB := reader("b", seen)
	grWait(t, "two readers to consume everything", func() bool {
		return len(seen.missing(grEnd(t, adm, topic))) == 0
	})
	end := grEnd(t, adm, topic)
	grWait(t, "commits to reach the end", func() bool { return mapsEqual(grCommitted(t, adm, group, topic), end) })
	stopA()
	stopB()

	resumed := newGRSeen()
	reader("c", resumed)
	grProduce(t, addr, topic, parts, 4, "c")
	grWait(t, "c to consume the new records", func() bool { return resumed.count("c") >= parts*4 })
	resumed.mu.Lock()
	defer resumed.mu.Unlock()
	for k := range resumed.n {
		if k[1] < end[int32(k[0])] {
			t.Errorf("c consumed %d@%d, committed before it started", k[0], k[1])
		}
	}
}

// TestGroupKafkaGoRebalance: kafka-go Readers configured as kafka-go's own
// TestReaderConsumerGroup configures them (heartbeat interval equal to the
// rebalance timeout, 2 s; no commits), two of them on a three-partition
// topic, joining together and joining a group that is already Stable. A
// member joining while the first one syncs fails that sync with
// REBALANCE_IN_PROGRESS and both rejoin; a member joining a Stable group
// waits while the first one learns of the rebalance from its heartbeat, and
// the first is dropped if it does not rejoin within the rebalance timeout,
// then rejoins as a new member. Either way the group settles with both
// Readers, the partitions split between them (2 and 1, range), and every
// record delivered.
func TestGroupKafkaGoRebalance(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		stagger bool // the second Reader joins once the first consumes
	}{
		{"join-together", false},
		{"join-stable-group", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			n, adm := grStart(t)
			addr := n.Addr()
			topic, group := "kafkago-rebalance-"+tc.name, "kafkago-rebalance-group-"+tc.name
			const parts = 3
			if _, err := adm.CreateTopic(grCtx(t), parts, 1, nil, topic); err != nil {
				t.Fatal(err)
			}
			grProduce(t, addr, topic, parts, 8, "a")
			seen := newGRSeen()
			reader := func(name string) {
				r := kafkago.NewReader(kafkago.ReaderConfig{
					Brokers:           []string{addr},
					Topic:             topic,
					GroupID:           group,
					HeartbeatInterval: 2 * time.Second,
					RebalanceTimeout:  2 * time.Second,
					RetentionTime:     time.Hour,
					MinBytes:          1,
					MaxBytes:          1e6,
					MaxWait:           200 * time.Millisecond,
					Dialer:            &kafkago.Dialer{ClientID: name, Timeout: 10 * time.Second},
				})
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan struct{})
				go func() {
					defer close(done)
					for {
						m, err := r.FetchMessage(ctx)
						if err != nil {
							return
						}
						seen.addAt(name, int32(m.Partition), m.Offset)
					}
				}()
				t.Cleanup(func() {
					cancel()
					<-done
					r.Close()
				})
			}
			reader("a")
			if tc.stagger {
				grWait(t, "a to consume", func() bool { return seen.count("a") > 0 })
			}
			reader("b")
			var last string
			wait := time.Now().Add(40 * time.Second)
			for {
				dg, err := adm.DescribeGroups(grCtx(t), group)
				g := dg[group]
				var owned []int32
				split := err == nil && g.State == "Stable" && len(g.Members) == 2
				for _, m := range g.Members {
					ca, ok := m.Assigned.AsConsumer()
					if !ok || len(ca.Topics) != 1 || ca.Topics[0].Topic != topic || len(ca.Topics[0].Partitions) == 0 {
						split = false
						continue
					}
					owned = append(owned, ca.Topics[0].Partitions...)
				}
				slices.Sort(owned)
				split = split && slices.Equal(owned, []int32{0, 1, 2})
				last = fmt.Sprintf("state %q, %d members, partitions %v, err %v; a read %d, b read %d, missing %v",
					g.State, len(g.Members), owned, err, seen.count("a"), seen.count("b"), seen.missing(grEnd(t, adm, topic)))
				if split && seen.count("a") > 0 && seen.count("b") > 0 && len(seen.missing(grEnd(t, adm, topic))) == 0 {
					break
				}
				if time.Now().After(wait) {
					t.Fatalf("the group did not settle with both readers: %s", last)
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}
