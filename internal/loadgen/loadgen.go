// Package loadgen produces and consumes synthetic records against any
// Kafka-compatible cluster with franz-go, and reports throughput and
// latency. It is the engine of `weir bench` and of bench/run.sh.
//
// Produce sends records of RecordSize random (incompressible) bytes, without
// keys, with kgo's asynchronous Produce, optionally paced to a target rate.
// The ack latency of a record runs from its intended send time (just before
// its Produce call when unpaced, its slot in the schedule when paced) to its
// promise: it includes time blocked in Produce while the client buffer is
// full, as kafka-producer-perf-test does, so at full throughput it is
// dominated by queueing in the client, not by the broker alone.
//
// Consume reads the topic from the start with direct (group-less)
// consumers. EndToEnd consumes from the end while producing, with the send
// time stamped into the first 8 bytes of each value, and reports the
// end-to-end latency (produce call to consumer poll) too.
package loadgen

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// Options describe one run.
type Options struct {
	Brokers []string // seed brokers
	Topic   string

	// Partitions is the partition count used when CreateTopic creates the
	// topic. Otherwise runs use whatever the topic has.
	Partitions int
	// CreateTopic makes the run create the topic (Partitions partitions,
	// replication factor 1) first; an existing topic is not an error.
	CreateTopic bool

	// Records is how many records Produce sends and Consume reads. Duration
	// instead bounds the run by time; at most one of them may be set. For
	// Consume with neither, it reads every record in the topic when it
	// starts.
	Records  int
	Duration time.Duration

	RecordSize int // bytes of value per record; default 1024

	Acks        string        // "all" (default, also "-1"), "1" or "0"
	Compression string        // "none" (default), "gzip", "snappy", "lz4" or "zstd"
	Linger      time.Duration // kgo.ProducerLinger; 0 keeps franz-go's default (10ms), negative disables lingering

	// Rate is the target produce rate in records per second over all
	// clients; 0 means as fast as possible.
	Rate float64

	// Clients is the number of clients run concurrently (default 1).
	// Produce splits Records and Rate between them; Consume splits the
	// partitions.
	Clients int

	// Idempotent enables idempotent writes. Off by default, so that brokers
	// without InitProducerId (Kafka before 0.11) can be measured with the
	// same settings as the others; when on, Produce first checks that every
	// broker advertises it. Acks other than "all" require it off. Note that
	// franz-go allows 5 produce requests in flight per broker with it and 1
	// without.
	Idempotent bool

	// MaxInflight caps produce requests in flight per broker; 0 keeps
	// franz-go's default (1 without idempotence, 5 with).
	MaxInflight int

	// ProtocolVersion caps request versions at those of a Kafka release
	// ("0.9.0", "2.8", ...). Brokers older than 0.10 do not answer
	// ApiVersions, so the client must be told what to speak.
	ProtocolVersion string

	// Counters, if set, is updated live (for a progress line).
	Counters *Counters

	// ClientOpts are passed to every kgo client after the options above,
	// so they override them.
	ClientOpts []kgo.Opt
}

// Counters are live totals of a run, safe to read while it runs.
type Counters struct {
	Sent, Acked, Consumed atomic.Int64
}

// Result is the outcome of one produce or consume phase.
type Result struct {
	Records  int64
	Bytes    int64 // record key and value bytes
	Duration time.Duration

	RecordsPerSec float64
	MBPerSec      float64 // MiB (2^20 bytes) of key and value per second

	// Latency is the ack latency of a produce phase and the end-to-end
	// latency of an EndToEnd consume phase; zero for a catch-up Consume.
	Latency Latency
}

// Latency holds latency percentiles (nearest rank, see Histogram).
type Latency struct {
	P50, P95, P99, P999, Max time.Duration
}

func (r Result) String() string {
	s := fmt.Sprintf("%d records, %.1f MiB in %v: %.0f records/s, %.1f MiB/s",
		r.Records, float64(r.Bytes)/(1<<20), r.Duration.Round(time.Millisecond), r.RecordsPerSec, r.MBPerSec)
	if r.Latency.Max > 0 {
		l := r.Latency
		s += fmt.Sprintf("; latency p50 %v p95 %v p99 %v p99.9 %v max %v",
			ms(l.P50), ms(l.P95), ms(l.P99), ms(l.P999), ms(l.Max))
	}
	return s
}

func ms(d time.Duration) time.Duration { return d.Round(10 * time.Microsecond) }

// Validate checks the options and fills in defaults.
func (o *Options) Validate() error {
	if len(o.Brokers) == 0 {
		return errors.New("no brokers")
	}
	if o.Topic == "" {
		return errors.New("no topic")
	}
	if o.Records < 0 {
		return fmt.Errorf("records %d: must not be negative", o.Records)
	}
	if o.Duration < 0 {
		return fmt.Errorf("duration %v: must not be negative", o.Duration)
	}
	if o.Records > 0 && o.Duration > 0 {
		return errors.New("records and duration are exclusive: give one")
	}
	if o.RecordSize < 0 {
		return fmt.Errorf("record size %d: must not be negative", o.RecordSize)
	}
	if o.RecordSize == 0 {
		o.RecordSize = 1024
	}
	if o.Rate < 0 {
		return fmt.Errorf("rate %v: must not be negative", o.Rate)
	}
	if o.Clients < 0 {
		return fmt.Errorf("clients %d: must not be negative", o.Clients)
	}
	if o.Clients == 0 {
		o.Clients = 1
	}
	if o.Partitions < 0 {
		return fmt.Errorf("partitions %d: must not be negative", o.Partitions)
	}
	if o.Partitions == 0 {
		o.Partitions = 1
	}
	if o.MaxInflight < 0 {
		return fmt.Errorf("max in-flight %d: must not be negative", o.MaxInflight)
	}
	if o.ProtocolVersion != "" && kversion.FromString(o.ProtocolVersion) == nil {
		return fmt.Errorf("protocol version %q: not a Kafka release franz-go knows (e.g. 0.9.0, 2.8, 3.9)", o.ProtocolVersion)
	}
	if _, err := o.acks(); err != nil {
		return err
	}
	if o.Idempotent && o.acksNotAll() {
		return fmt.Errorf("acks %s: idempotent writes need acks=all", o.Acks)
	}
	if _, err := o.codec(); err != nil {
		return err
	}
	return nil
}

func (o *Options) acksNotAll() bool {
	a := strings.ToLower(o.Acks)
	return a != "" && a != "all" && a != "-1"
}

func (o *Options) acks() (kgo.Acks, error) {
	switch strings.ToLower(o.Acks) {
	case "", "all", "-1":
		return kgo.AllISRAcks(), nil
	case "1":
		return kgo.LeaderAck(), nil
	case "0":
		return kgo.NoAck(), nil
	}
	return kgo.Acks{}, fmt.Errorf("acks %q: want all, 1 or 0", o.Acks)
}

func (o *Options) codec() (kgo.CompressionCodec, error) {
	switch strings.ToLower(o.Compression) {
	case "", "none":
		return kgo.NoCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "zstd":
		return kgo.ZstdCompression(), nil
	}
	return kgo.CompressionCodec{}, fmt.Errorf("compression %q: want none, gzip, snappy, lz4 or zstd", o.Compression)
}

// baseOpts are the options of every client, before ClientOpts. Admin and
// consumer clients also get idempotence off when it is off, so that
// producer options in ClientOpts that require it off still validate.
func (o *Options) baseOpts() []kgo.Opt {
	opts := []kgo.Opt{kgo.SeedBrokers(o.Brokers...)}
	if !o.Idempotent {
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	if o.ProtocolVersion != "" {
		opts = append(opts, kgo.MaxVersions(kversion.FromString(o.ProtocolVersion)))
	}
	return opts
}

// producerOpts maps Options to kgo options.
func (o *Options) producerOpts() ([]kgo.Opt, error) {
	acks, err := o.acks()
	if err != nil {
		return nil, err
	}
	codec, err := o.codec()
	if err != nil {
		return nil, err
	}
	opts := append(o.baseOpts(), kgo.DefaultProduceTopic(o.Topic), kgo.RequiredAcks(acks), kgo.ProducerBatchCompression(codec))
	switch {
	case o.Linger > 0:
		opts = append(opts, kgo.ProducerLinger(o.Linger))
	case o.Linger < 0:
		opts = append(opts, kgo.ProducerLinger(0))
	}
	if o.MaxInflight > 0 {
		opts = append(opts, kgo.MaxProduceRequestsInflightPerBroker(o.MaxInflight))
	}
	return append(opts, o.ClientOpts...), nil
}

// CreateTopic creates o.Topic with o.Partitions partitions and replication
// factor 1. An existing topic is not an error.
func CreateTopic(ctx context.Context, o Options) error {
	if err := o.Validate(); err != nil {
		return fmt.Errorf("loadgen: %w", err)
	}
	cl, err := kgo.NewClient(append(o.baseOpts(), o.ClientOpts...)...)
	if err != nil {
		return fmt.Errorf("loadgen: client: %w", err)
	}
	defer cl.Close()
	_, err = kadm.NewClient(cl).CreateTopic(ctx, int32(o.Partitions), 1, nil, o.Topic)
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("loadgen: create topic %s: %w", o.Topic, err)
	}
	return nil
}

// checkIdempotence reports an error unless every broker advertises
// InitProducerId (API key 22).
func checkIdempotence(ctx context.Context, cl *kgo.Client) error {
	vs, err := kadm.NewClient(cl).ApiVersions(ctx)
	if err != nil {
		return fmt.Errorf("loadgen: api versions: %w", err)
	}
	for _, v := range vs {
		if v.Err != nil {
			return fmt.Errorf("loadgen: api versions of broker %d: %w", v.NodeID, v.Err)
		}
		if _, ok := v.KeyMaxVersion(22); !ok {
			return fmt.Errorf("loadgen: broker %d does not support InitProducerId; run with idempotence off", v.NodeID)
		}
	}
	return nil
}

// Produce sends o.Records records (or produces for o.Duration) and waits for
// every acknowledgement.
func Produce(ctx context.Context, o Options) (Result, error) {
	if err := o.Validate(); err != nil {
		return Result{}, fmt.Errorf("loadgen: %w", err)
	}
	if o.Records == 0 && o.Duration == 0 {
		return Result{}, errors.New("loadgen: produce needs records or a duration")
	}
	if o.CreateTopic {
		if err := CreateTopic(ctx, o); err != nil {
			return Result{}, err
		}
	}
	return produce(ctx, o, false)
}

// produce runs the producer clients. With stamp, each value starts with
// its intended send time (Unix nanoseconds, big endian) for EndToEnd.
func produce(ctx context.Context, o Options, stamp bool) (Result, error) {
	opts, err := o.producerOpts()
	if err != nil {
		return Result{}, fmt.Errorf("loadgen: %w", err)
	}
	clients := make([]*kgo.Client, o.Clients)
	defer func() {
		for _, cl := range clients {
			if cl != nil {
				cl.Close()
			}
		}
	}()
	for i := range clients {
		if clients[i], err = kgo.NewClient(opts...); err != nil {
			return Result{}, fmt.Errorf("loadgen: client: %w", err)
		}
	}
	if o.Idempotent {
		if err := checkIdempotence(ctx, clients[0]); err != nil {
			return Result{}, err
		}
	}
	// Connect and load metadata before the clock starts.
	for _, cl := range clients {
		if err := cl.Ping(ctx); err != nil {
			return Result{}, fmt.Errorf("loadgen: ping: %w", err)
		}
	}

	value := make([]byte, o.RecordSize)
	_, _ = rand.Read(value)
	// Stamped values differ per record; recycling them keeps the client's
	// garbage (and so GC time) the same as for the shared unstamped value.
	pool := sync.Pool{New: func() any {
		b := make([]byte, o.RecordSize)
		copy(b, value)
		return &b
	}}
	var (
		hist     Histogram
		acked    atomic.Int64
		failed   atomic.Int64
		errOnce  sync.Once
		firstErr error
		wg       sync.WaitGroup
	)
	fail := func(err error) { errOnce.Do(func() { firstErr = err }) }
	start := time.Now()
	deadline := start.Add(o.Duration)
	for c, cl := range clients {
		n := (c+1)*o.Records/o.Clients - c*o.Records/o.Clients
		wg.Go(func() {
			pacer := NewPacer(o.Rate/float64(o.Clients), start)
			for i := 0; o.Records == 0 || i < n; i++ {
				t0, err := pacer.Wait(ctx)
				if err != nil {
					return
				}
				if o.Duration > 0 && !t0.Before(deadline) {
					break
				}
				r := &kgo.Record{Value: value}
				var buf *[]byte
				if stamp {
					buf = pool.Get().(*[]byte)
					binary.BigEndian.PutUint64(*buf, uint64(t0.UnixNano()))
					r.Value = *buf
				}
				if o.Counters != nil {
					o.Counters.Sent.Add(1)
				}
				cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
					hist.Record(time.Since(t0))
					if buf != nil {
						pool.Put(buf)
					}
					if err != nil {
						failed.Add(1)
						fail(err)
						return
					}
					acked.Add(1)
					if o.Counters != nil {
						o.Counters.Acked.Add(1)
					}
				})
			}
			if err := cl.Flush(ctx); err != nil {
				fail(err)
			}
		})
	}
	wg.Wait()
	d := time.Since(start)
	if firstErr != nil {
		return Result{}, fmt.Errorf("loadgen: %d of %d records failed: %w", failed.Load(), failed.Load()+acked.Load(), firstErr)
	}
	if err := ctx.Err(); err != nil {
		return Result{}, fmt.Errorf("loadgen: produce: %w", err)
	}
	res := newResult(acked.Load(), acked.Load()*int64(o.RecordSize), d)
	res.Latency = hist.Latency()
	return res, nil
}

// Consume reads o.Records records from the start of o.Topic (all records
// present when it starts if o.Records is 0), or reads for o.Duration.
func Consume(ctx context.Context, o Options) (Result, error) {
	if err := o.Validate(); err != nil {
		return Result{}, fmt.Errorf("loadgen: %w", err)
	}
	t, err := topicOffsets(ctx, o)
	if err != nil {
		return Result{}, err
	}
	var want atomic.Int64
	switch {
	case o.Records > 0:
		want.Store(int64(o.Records))
	case o.Duration > 0:
		want.Store(-1)
	default:
		var n int64
		for p, s := range t.starts {
			n += t.ends[p] - s
		}
		if n == 0 {
			return Result{}, fmt.Errorf("loadgen: topic %s is empty", o.Topic)
		}
		want.Store(n)
	}
	cctx := ctx
	if o.Duration > 0 {
		var cancel context.CancelFunc
		cctx, cancel = context.WithTimeout(ctx, o.Duration)
		defer cancel()
	}
	return consume(cctx, o, t.starts, &want, nil)
}

type offsets struct {
	starts, ends map[int32]int64
}

// topicOffsets lists the start and end offsets of every partition.
func topicOffsets(ctx context.Context, o Options) (offsets, error) {
	cl, err := kgo.NewClient(slices.Concat(o.baseOpts(), o.ClientOpts)...)
	if err != nil {
		return offsets{}, fmt.Errorf("loadgen: client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	md, err := adm.Metadata(ctx, o.Topic)
	if err != nil {
		return offsets{}, fmt.Errorf("loadgen: metadata: %w", err)
	}
	td, ok := md.Topics[o.Topic]
	if !ok {
		return offsets{}, fmt.Errorf("loadgen: topic %s not in metadata", o.Topic)
	}
	if td.Err != nil {
		return offsets{}, fmt.Errorf("loadgen: topic %s: %w", o.Topic, td.Err)
	}
	t := offsets{}
	if t.starts, err = listOffsets(ctx, cl, o.Topic, td.Partitions.Numbers(), -2); err != nil {
		return offsets{}, fmt.Errorf("loadgen: list start offsets: %w", err)
	}
	if t.ends, err = listOffsets(ctx, cl, o.Topic, td.Partitions.Numbers(), -1); err != nil {
		return offsets{}, fmt.Errorf("loadgen: list end offsets: %w", err)
	}
	return t, nil
}

// listOffsets asks the partition leaders for the offsets at timestamp ts
// (-2: start, -1: end). It does not use kadm, which reads only the v1+
// answer: Kafka 0.9 speaks ListOffsets v0, whose offsets are in
// OldStyleOffsets.
func listOffsets(ctx context.Context, cl *kgo.Client, topic string, parts []int32, ts int64) (map[int32]int64, error) {
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID = -1
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	for _, p := range parts {
		rp := kmsg.NewListOffsetsRequestTopicPartition() // MaxNumOffsets 1 for v0
		rp.Partition = p
		rp.Timestamp = ts
		rp.CurrentLeaderEpoch = -1
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	out := map[int32]int64{}
	for _, shard := range cl.RequestSharded(ctx, req) {
		if shard.Err != nil {
			return nil, fmt.Errorf("broker %d: %w", shard.Meta.NodeID, shard.Err)
		}
		for _, t := range shard.Resp.(*kmsg.ListOffsetsResponse).Topics {
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					return nil, fmt.Errorf("%s/%d: %w", t.Topic, p.Partition, err)
				}
				off := p.Offset
				if len(p.OldStyleOffsets) > 0 {
					off = p.OldStyleOffsets[0]
				}
				out[p.Partition] = off
			}
		}
	}
	for _, p := range parts {
		if _, ok := out[p]; !ok {
			return nil, fmt.Errorf("no offset for %s/%d", topic, p)
		}
	}
	return out, nil
}

// consume reads from the given offsets until it has *want records (a
// negative *want means not known yet: keep reading) or ctx ends. With
// e2e set, it records each record's end-to-end latency from the time
// stamped in its value. A ctx that ends by deadline is a normal end.
func consume(ctx context.Context, o Options, from map[int32]int64, want *atomic.Int64, e2e *Histogram) (Result, error) {
	parts := make([]int32, 0, len(from))
	for p := range from {
		parts = append(parts, p)
	}
	slices.Sort(parts)
	n := min(o.Clients, len(parts))
	clients := make([]*kgo.Client, n)
	defer func() {
		for _, cl := range clients {
			if cl != nil {
				cl.Close()
			}
		}
	}()
	for c := range clients {
		assign := map[int32]kgo.Offset{}
		for i := c; i < len(parts); i += n {
			assign[parts[i]] = kgo.NewOffset().At(from[parts[i]])
		}
		opts := slices.Concat(o.baseOpts(), []kgo.Opt{kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{o.Topic: assign})}, o.ClientOpts)
		var err error
		if clients[c], err = kgo.NewClient(opts...); err != nil {
			return Result{}, fmt.Errorf("loadgen: client: %w", err)
		}
	}

	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		records, bytes atomic.Int64
		lastAt         atomic.Int64 // ns since start when the last record was read
		errOnce        sync.Once
		firstErr       error
		wg             sync.WaitGroup
	)
	start := time.Now()
	done := func() bool {
		w := want.Load()
		return w >= 0 && records.Load() >= w
	}
	// A consumer blocked in PollFetches with nothing left to read must be
	// woken when *want becomes known (EndToEnd sets it after producing).
	go func() {
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-rctx.Done():
				return
			case <-t.C:
				if done() {
					cancel()
					return
				}
			}
		}
	}()
	for _, cl := range clients {
		wg.Go(func() {
			for rctx.Err() == nil && !done() {
				fs := cl.PollFetches(rctx)
				now := time.Now()
				var got, size int64
				fs.EachRecord(func(r *kgo.Record) {
					got++
					size += int64(len(r.Key) + len(r.Value))
					if e2e != nil && len(r.Value) >= 8 {
						e2e.Record(now.Sub(time.Unix(0, int64(binary.BigEndian.Uint64(r.Value)))))
					}
				})
				if got > 0 {
					bytes.Add(size)
					records.Add(got)
					lastAt.Store(int64(now.Sub(start)))
					if o.Counters != nil {
						o.Counters.Consumed.Add(got)
					}
				}
				if done() {
					cancel()
					return
				}
				for _, fe := range fs.Errors() {
					if errors.Is(fe.Err, context.Canceled) || errors.Is(fe.Err, context.DeadlineExceeded) {
						continue
					}
					errOnce.Do(func() { firstErr = fmt.Errorf("fetch %s/%d: %w", fe.Topic, fe.Partition, fe.Err) })
					cancel()
					return
				}
			}
		})
	}
	wg.Wait()
	d := time.Since(start)
	if firstErr != nil {
		return Result{}, fmt.Errorf("loadgen: %w", firstErr)
	}
	if w := want.Load(); w >= 0 && records.Load() < w {
		return Result{}, fmt.Errorf("loadgen: consumed %d of %d records: %w", records.Load(), w, context.Cause(ctx))
	}
	if done() && lastAt.Load() > 0 {
		// Reading ended with the last record wanted: time it to that
		// record, not to whenever the wake-up above noticed.
		d = time.Duration(lastAt.Load())
	}
	res := newResult(records.Load(), bytes.Load(), d)
	if e2e != nil {
		res.Latency = e2e.Latency()
	}
	return res, nil
}

// EndToEnd produces o.Records records (or for o.Duration) while consumers
// read them from the end of the topic, and returns both phases; the
// consume phase carries the end-to-end latency (intended send time to the
// poll that returned the record, on the same clock). Values must hold the
// 8-byte send time, so RecordSize must be at least 8.
func EndToEnd(ctx context.Context, o Options) (prod, cons Result, err error) {
	if err := o.Validate(); err != nil {
		return prod, cons, fmt.Errorf("loadgen: %w", err)
	}
	if o.Records == 0 && o.Duration == 0 {
		return prod, cons, errors.New("loadgen: end-to-end needs records or a duration")
	}
	if o.RecordSize < 8 {
		return prod, cons, fmt.Errorf("loadgen: end-to-end needs records of at least 8 bytes (the send time), not %d", o.RecordSize)
	}
	if o.CreateTopic {
		if err := CreateTopic(ctx, o); err != nil {
			return prod, cons, err
		}
	}
	// Consumers start at offsets listed before producing, not at "end",
	// which franz-go resolves lazily and could place after the first
	// records.
	t, err := topicOffsets(ctx, o)
	if err != nil {
		return prod, cons, err
	}
	var want atomic.Int64
	want.Store(-1)
	cctx, ccancel := context.WithCancelCause(ctx)
	defer ccancel(nil)
	var (
		e2e     Histogram
		consErr error
		wg      sync.WaitGroup
	)
	wg.Go(func() { cons, consErr = consume(cctx, o, t.ends, &want, &e2e) })
	prod, err = produce(ctx, o, true)
	if err != nil {
		ccancel(err)
		wg.Wait()
		return prod, cons, err
	}
	want.Store(prod.Records)
	// Every acknowledged record should arrive soon; don't wait forever for
	// one that acks=0 lost.
	stop := time.AfterFunc(30*time.Second, func() {
		ccancel(errors.New("records still missing 30s after the last acknowledgement"))
	})
	defer stop.Stop()
	wg.Wait()
	return prod, cons, consErr
}

func newResult(records, bytes int64, d time.Duration) Result {
	secs := d.Seconds()
	if secs <= 0 {
		secs = 1e-9
	}
	return Result{
		Records:       records,
		Bytes:         bytes,
		Duration:      d,
		RecordsPerSec: float64(records) / secs,
		MBPerSec:      float64(bytes) / (1 << 20) / secs,
	}
}
