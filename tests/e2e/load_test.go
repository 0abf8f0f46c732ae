package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// load is a set of franz-go producers writing unique values to one topic
// as fast as the broker acknowledges them, with acks=all and without
// idempotence (Weir has no InitProducerId yet). Every acknowledged record is
// recorded in acks.
type load struct {
	t       testing.TB
	acks    *ackLog
	clients []*kgo.Client
	cancel  context.CancelFunc
	loops   sync.WaitGroup // producing goroutines
	pending sync.WaitGroup // records whose promise has not run
}

// loadValue is the value of the seq'th record of producer w in run; values
// carry padding so that batches have some weight.
func loadValue(run string, w, seq int) string {
	return fmt.Sprintf("%s-w%d-%09d-%s", run, w, seq, strings.Repeat("x", 48))
}

// startLoad starts producers, each producing up to rate records a second
// (0: as fast as it can).
func startLoad(t testing.TB, b *Broker, topic, run string, producers, rate int, acks *ackLog) *load {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{t: t, acks: acks, cancel: cancel}
	for w := 0; w < producers; w++ {
		cl, err := kgo.NewClient(
			kgo.SeedBrokers(b.Addr),
			kgo.DefaultProduceTopic(topic),
			kgo.DisableIdempotentWrite(),
			kgo.RequiredAcks(kgo.AllISRAcks()),
			kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
			kgo.MaxBufferedRecords(2000),
			kgo.ProducerLinger(2*time.Millisecond),
			kgo.RecordDeliveryTimeout(20*time.Second),
		)
		if err != nil {
			t.Fatalf("producer: %v", err)
		}
		l.clients = append(l.clients, cl)
		l.loops.Add(1)
		go func() {
			defer l.loops.Done()
			began := time.Now()
			for seq := 0; ctx.Err() == nil; seq++ {
				if rate > 0 && seq%20 == 0 {
					due := began.Add(time.Duration(seq) * time.Second / time.Duration(rate))
					if d := time.Until(due); d > 0 {
						select {
						case <-time.After(d):
						case <-ctx.Done():
							return
						}
					}
				}
				v := loadValue(run, w, seq)
				l.pending.Add(1)
				cl.Produce(ctx, &kgo.Record{Value: []byte(v)}, func(r *kgo.Record, err error) {
					defer l.pending.Done()
					if err != nil {
						acks.fails.Add(1)
						return
					}
					acks.add(t, v, loc{r.Partition, r.Offset})
				})
			}
		}()
	}
	return l
}

// waitAcks waits until at least n more records have been acknowledged
// than when it was called.
func (l *load) waitAcks(n int64, timeout time.Duration) {
	l.t.Helper()
	start := l.acks.n.Load()
	deadline := time.Now().Add(timeout)
	for l.acks.n.Load()-start < n {
		if time.Now().After(deadline) {
			l.t.Fatalf("only %d records acknowledged in %v (want %d; %d failed)", l.acks.n.Load()-start, timeout, n, l.acks.fails.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// stop stops producing, fails what is still buffered (the broker may be
// gone) and waits until every promise has run.
func (l *load) stop() {
	l.t.Helper()
	l.cancel()
	l.loops.Wait()
	var wg sync.WaitGroup
	for _, cl := range l.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := cl.AbortBufferedRecords(ctx); err != nil {
				l.t.Errorf("abort buffered records: %v", err)
			}
			cl.Close()
		}()
	}
	wg.Wait()
	done := make(chan struct{})
	go func() { l.pending.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		l.t.Fatal("produce promises still pending 30s after stopping the producers")
	}
}

// flush waits until every buffered record is acknowledged or failed, then
// stops; for loads against a broker that stays up.
func (l *load) flush() {
	l.t.Helper()
	l.cancel()
	l.loops.Wait()
	for _, cl := range l.clients {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := cl.Flush(ctx); err != nil {
			l.t.Errorf("flush: %v", err)
		}
		cancel()
	}
	l.stop()
}
