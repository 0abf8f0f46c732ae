package api_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// idBatch is ptValues with a producer id, epoch and base sequence.
func idBatch(pid int64, epoch int16, seq int32, attrs int16, values ...string) []byte {
	b := ptValues(time.Now().UnixMilli(), values...)
	binary.BigEndian.PutUint16(b[21:], uint16(attrs))
	binary.BigEndian.PutUint64(b[43:], uint64(pid))
	binary.BigEndian.PutUint16(b[51:], uint16(epoch))
	binary.BigEndian.PutUint32(b[53:], uint32(seq))
	ptFixCRC(b)
	return b
}

func TestInitProducerID(t *testing.T) {
	t.Parallel()
	_, addr := ptBroker(t)
	c := ptDial(t, addr)
	seen := map[int64]bool{}
	for v := int16(0); v <= 5; v++ {
		req := kmsg.NewPtrInitProducerIDRequest()
		if v >= 3 {
			// KIP-360 recovery of an idempotent producer: Kafka hands
			// out a fresh id at epoch 0 whatever the request carries.
			req.ProducerID, req.ProducerEpoch = 0, 3
		}
		resp := ptDo[*kmsg.InitProducerIDResponse](t, c, req, v)
		ptCode(t, fmt.Sprintf("v%d", v), resp.ErrorCode, nil)
		if resp.ProducerID < 0 || resp.ProducerEpoch != 0 || seen[resp.ProducerID] {
			t.Fatalf("v%d: producer id %d epoch %d (seen before: %v)", v, resp.ProducerID, resp.ProducerEpoch, seen[resp.ProducerID])
		}
		seen[resp.ProducerID] = true

		// A transactional id keeps its producer id; each init bumps
		// the epoch (see txn_test.go for the rest).
		txn := kmsg.NewPtrInitProducerIDRequest()
		txn.TransactionalID = kmsg.StringPtr("tx")
		txn.TransactionTimeoutMillis = 60000
		tresp := ptDo[*kmsg.InitProducerIDResponse](t, c, txn, v)
		ptCode(t, fmt.Sprintf("v%d transactional", v), tresp.ErrorCode, nil)
		if tresp.ProducerID < 0 || tresp.ProducerEpoch != int16(v) {
			t.Fatalf("v%d transactional: answered %d/%d, want epoch %d", v, tresp.ProducerID, tresp.ProducerEpoch, v)
		}
		txn.TransactionalID = kmsg.StringPtr("")
		tresp = ptDo[*kmsg.InitProducerIDResponse](t, c, txn, v)
		ptCode(t, fmt.Sprintf("v%d empty transactional id", v), tresp.ErrorCode, kerr.InvalidRequest)
	}
}

// TestIdempotentProduceErrors checks the produce answers of the sequence
// rules at the protocol level.
func TestIdempotentProduceErrors(t *testing.T) {
	t.Parallel()
	n, addr := ptBroker(t)
	c := ptDial(t, addr)
	type step struct {
		name     string
		records  []byte
		want     *kerr.Error
		wantBase int64
	}
	script := func(pid int64) []step {
		return []step{
			{"first", idBatch(pid, 0, 0, 0, "a", "b"), nil, 0},
			{"second", idBatch(pid, 0, 2, 0, "c"), nil, 2},
			{"retry of first", idBatch(pid, 0, 0, 0, "a", "b"), nil, 0},
			{"retry of second", idBatch(pid, 0, 2, 0, "c"), nil, 2},
			{"gap", idBatch(pid, 0, 4, 0, "e"), kerr.OutOfOrderSequenceNumber, -1},
			{"next", idBatch(pid, 0, 3, 0, "d"), nil, 3},
			{"bumped epoch not at 0", idBatch(pid, 1, 4, 0, "e"), kerr.OutOfOrderSequenceNumber, -1},
			{"bumped epoch", idBatch(pid, 1, 0, 0, "e"), nil, 4},
			{"old epoch", idBatch(pid, 0, 4, 0, "f"), kerr.InvalidProducerEpoch, -1},
			{"negative sequence", idBatch(pid, 1, -1, 0, "f"), kerr.InvalidRecord, -1},
			{"transactional", idBatch(pid, 1, 1, 0x10, "f"), kerr.InvalidTxnState, -1},
			{"unknown producer starts anywhere", idBatch(pid+1000000, 0, 17, 0, "g"), nil, 5},
		}
	}
	for _, v := range []int16{3, 9, 13} {
		// Each version runs the whole script on a fresh topic.
		tp := ptTopic(t, n, fmt.Sprintf("idem-v%d", v), 1, nil)
		pid := ptDo[*kmsg.InitProducerIDResponse](t, c, kmsg.NewPtrInitProducerIDRequest(), 4).ProducerID
		for _, s := range script(pid) {
			sp := ptProduce(t, c, v, tp, 0, s.records)
			ptCode(t, fmt.Sprintf("v%d %s", v, s.name), sp.ErrorCode, s.want)
			if sp.BaseOffset != s.wantBase {
				t.Fatalf("v%d %s: base offset %d, want %d", v, s.name, sp.BaseOffset, s.wantBase)
			}
		}
		// DescribeProducers shows what the script left.
		dreq := kmsg.NewPtrDescribeProducersRequest()
		dt := kmsg.NewDescribeProducersRequestTopic()
		dt.Topic, dt.Partitions = tp.Name, []int32{0, 1}
		dreq.Topics = append(dreq.Topics, dt)
		dresp := ptDo[*kmsg.DescribeProducersResponse](t, c, dreq, 0)
		parts := dresp.Topics[0].Partitions
		ptCode(t, "describe producers", parts[0].ErrorCode, nil)
		ptCode(t, "describe producers of a missing partition", parts[1].ErrorCode, kerr.UnknownTopicOrPartition)
		got := fmt.Sprint(parts[0].ActiveProducers)
		if len(parts[0].ActiveProducers) != 2 {
			t.Fatalf("v%d: active producers %s", v, got)
		}
		for i, want := range [][3]int64{{pid, 1, 0}, {pid + 1000000, 0, 17}} {
			ap := parts[0].ActiveProducers[i]
			if ap.ProducerID != want[0] || int64(ap.ProducerEpoch) != want[1] || int64(ap.LastSequence) != want[2] || ap.CoordinatorEpoch != -1 || ap.CurrentTxnStartOffset != -1 {
				t.Fatalf("v%d: active producers %s, want %v at %d", v, got, want, i)
			}
		}
	}
}

// flakyProxy forwards connections to a broker. Now and then it cuts a
// connection instead of forwarding an answer, so the broker has handled
// the request but the client never sees the answer and retries it.
type flakyProxy struct {
	ln     net.Listener
	target string
	cuts   atomic.Int64
	n      atomic.Int64
	mu     sync.Mutex
	conns  []net.Conn
}

func newFlakyProxy(t *testing.T, target string) *flakyProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &flakyProxy{ln: ln, target: target}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go func() { _, _ = copyAll(s, c, func() bool { return false }); s.Close(); c.Close() }()
			go func() {
				_, _ = copyAll(c, s, func() bool {
					// Drop every 7th answer (some are not produce
					// answers, which only costs a retry).
					if p.n.Add(1)%7 == 0 {
						p.cuts.Add(1)
						return true
					}
					return false
				})
				c.Close()
				s.Close()
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); p.cut() })
	return p
}

// copyAll copies src to dst until either fails or cut, asked before each
// write, says to drop the data and stop.
func copyAll(dst, src net.Conn, cut func() bool) (int64, error) {
	buf := make([]byte, 32<<10)
	var n int64
	for {
		k, err := src.Read(buf)
		if k > 0 {
			if cut() {
				return n, nil
			}
			if _, werr := dst.Write(buf[:k]); werr != nil {
				return n, werr
			}
			n += int64(k)
		}
		if err != nil {
			return n, err
		}
	}
}

func (p *flakyProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// TestIdempotentProducerDroppedConnections: franz-go's default
// (idempotent) producer, with connections cut under it while requests are
// in flight, retries into duplicates the broker must recognise: every
// record ends up exactly once, in order per partition.
func TestIdempotentProducerDroppedConnections(t *testing.T) {
	t.Parallel()
	n, addr := ptBroker(t)
	ptTopic(t, n, "flaky", 3, nil)
	proxy := newFlakyProxy(t, addr)
	// Every connection, whatever address metadata names, goes through
	// the proxy.
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(proxy.ln.Addr().String()),
		kgo.DefaultProduceTopic("flaky"),
		kgo.Dialer(func(ctx context.Context, network, host string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, proxy.ln.Addr().String())
		}),
		kgo.MaxBufferedRecords(10000),
		kgo.ProducerLinger(time.Millisecond),
		kgo.RecordRetries(1000),
		kgo.RetryBackoffFn(func(int) time.Duration { return 5 * time.Millisecond }),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	const total = 6000
	var failed atomic.Int64
	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(context.Background(), 2*ptTimeout)
	defer cancel()
	for i := range total {
		if i%4 == 0 {
			time.Sleep(time.Millisecond) // spread the records over many requests
		}
		wg.Add(1)
		r := &kgo.Record{Key: []byte(fmt.Sprint(i % 7)), Value: []byte(fmt.Sprint(i))}
		cl.Produce(ctx, r, func(r *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				failed.Add(1)
				t.Errorf("record %s: %v", r.Value, err)
			}
		})
	}
	wg.Wait()
	t.Logf("%d answers dropped", proxy.cuts.Load())
	if proxy.cuts.Load() < 10 {
		t.Fatalf("only %d cuts: the test did not test much", proxy.cuts.Load())
	}
	if failed.Load() > 0 {
		t.Fatalf("%d records failed", failed.Load())
	}
	recs := dtConsume(t, addr, "flaky", total)
	seen := map[string]bool{}
	lastByKey := map[string]int{}
	for _, r := range recs {
		v := string(r.Value)
		if seen[v] {
			t.Fatalf("record %s appears twice", v)
		}
		seen[v] = true
		var i int
		fmt.Sscan(v, &i)
		if last, ok := lastByKey[string(r.Key)]; ok && i < last {
			t.Fatalf("key %s: record %d after %d", r.Key, i, last)
		}
		lastByKey[string(r.Key)] = i
	}
	if len(seen) != total {
		t.Fatalf("consumed %d distinct records, want %d", len(seen), total)
	}
	var hw int64
	for _, p := range n.Engine().Topic("flaky").Partitions {
		_, h, _, _ := p.Offsets()
		hw += h
	}
	if hw != total {
		t.Fatalf("the log holds %d records, want %d: duplicates were appended", hw, total)
	}
}

// TestIdempotentSarama: sarama's idempotent producer (which insists on
// InitProducerId and checks every answer's offsets) writes exactly once.
func TestIdempotentSarama(t *testing.T) {
	t.Parallel()
	n, addr := ptBroker(t)
	ptTopic(t, n, "idem-sarama", 2, nil)
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.Producer.Idempotent = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Net.MaxOpenRequests = 1
	p, err := sarama.NewSyncProducer([]string{addr}, cfg)
	if err != nil {
		t.Fatalf("sarama idempotent producer: %v", err)
	}
	defer p.Close()
	const total = 500
	next := map[int32]int64{}
	for i := range total {
		part, off, err := p.SendMessage(&sarama.ProducerMessage{Topic: "idem-sarama", Key: sarama.StringEncoder(fmt.Sprint(i % 5)), Value: sarama.StringEncoder(fmt.Sprint(i))})
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if off != next[part] {
			t.Fatalf("message %d at %d-%d, want offset %d", i, part, off, next[part])
		}
		next[part]++
	}
	if got := len(dtConsume(t, addr, "idem-sarama", total)); got != total {
		t.Fatalf("consumed %d, want %d", got, total)
	}
}
