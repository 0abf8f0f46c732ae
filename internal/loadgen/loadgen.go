// Package loadgen produces and consumes synthetic records against any
// Kafka-compatible cluster with franz-go, and reports throughput and
// produce-acknowledgement latency. It is the seed of a future `weir bench`
// command; bench/throughput uses it to compare Weir with kfake.
//
// Produce sends Records records of RecordSize random (incompressible) bytes,
// without keys, with kgo's asynchronous Produce. The latency of a record is
// the time from just before its Produce call to its promise: it includes
// time blocked in Produce while the client buffer is full, as
// kafka-producer-perf-test does, so at full throughput it is dominated by
// queueing in the client, not by the broker alone.
//
// Consume reads the topic from the start with a direct (group-less)
// consumer until it has seen Records records.
package loadgen

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Options describe one produce or consume run.
type Options struct {
	Brokers []string // seed brokers
	Topic   string

	// Partitions is the partition count used when CreateTopic creates the
	// topic. Produce and Consume otherwise use whatever the topic has.
	Partitions int
	// CreateTopic makes Produce create the topic (Partitions partitions,
	// replication factor 1) first; an existing topic is not an error.
	CreateTopic bool

	// Records is how many records Produce sends and Consume reads. For
	// Consume, 0 means every record in the topic when Consume starts.
	Records    int
	RecordSize int // bytes of value per record; default 1024

	Acks        string        // "all" (default, also "-1"), "1" or "0"
	Compression string        // "none" (default), "gzip", "snappy", "lz4" or "zstd"
	Linger      time.Duration // kgo.ProducerLinger; 0 keeps franz-go's default (10ms), negative disables lingering

	// Clients is the number of clients run concurrently (default 1).
	// Produce splits Records between them; Consume splits the partitions.
	Clients int

	// Idempotent enables idempotent writes. Off by default, because Weir
	// does not implement InitProducerId yet; when on, Produce first checks
	// that every broker advertises it. Acks other than "all" require it
	// off.
	Idempotent bool

	// ClientOpts are passed to every kgo client after the options above,
	// so they override them (e.g. kgo.MaxProduceRequestsInflightPerBroker).
	ClientOpts []kgo.Opt
}

// Result is the outcome of one run.
type Result struct {
	Records  int64
	Bytes    int64 // record key and value bytes
	Duration time.Duration

	RecordsPerSec float64
	MBPerSec      float64 // MiB (2^20 bytes) of key and value per second

	// Produce-acknowledgement latency; zero for Consume.
	Latency Latency
}

// Latency holds percentiles of per-record latency, computed exactly from
// every sample.
type Latency struct {
	P50, P95, P99, P999, Max time.Duration
}

func (r Result) String() string {
	s := fmt.Sprintf("%d records, %.1f MiB in %v: %.0f records/s, %.1f MiB/s",
		r.Records, float64(r.Bytes)/(1<<20), r.Duration.Round(time.Millisecond), r.RecordsPerSec, r.MBPerSec)
	if r.Latency.Max > 0 {
		l := r.Latency
		s += fmt.Sprintf("; ack latency p50 %v p95 %v p99 %v p99.9 %v max %v",
			ms(l.P50), ms(l.P95), ms(l.P99), ms(l.P999), ms(l.Max))
	}
	return s
}

func ms(d time.Duration) time.Duration { return d.Round(10 * time.Microsecond) }

func (o *Options) normalize() error {
	if len(o.Brokers) == 0 {
		return errors.New("loadgen: no brokers")
	}
	if o.Topic == "" {
		return errors.New("loadgen: no topic")
	}
	if o.RecordSize <= 0 {
		o.RecordSize = 1024
	}
	if o.Clients <= 0 {
		o.Clients = 1
	}
	if o.Partitions <= 0 {
		o.Partitions = 1
	}
	return nil
}

// baseOpts are the options of every client, before ClientOpts. Admin and
// consumer clients also get idempotence off when it is off, so that
// producer options in ClientOpts that require it off still validate.
func (o *Options) baseOpts() []kgo.Opt {
	opts := []kgo.Opt{kgo.SeedBrokers(o.Brokers...)}
	if !o.Idempotent {
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	return opts
}

// producerOpts maps Options to kgo options.
func (o *Options) producerOpts() ([]kgo.Opt, error) {
	opts := append(o.baseOpts(), kgo.DefaultProduceTopic(o.Topic))
	switch strings.ToLower(o.Acks) {
	case "", "all", "-1":
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	case "1":
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()))
	case "0":
		opts = append(opts, kgo.RequiredAcks(kgo.NoAck()))
	default:
		return nil, fmt.Errorf("loadgen: acks %q: want all, 1 or 0", o.Acks)
	}
	var codec kgo.CompressionCodec
	switch strings.ToLower(o.Compression) {
	case "", "none":
		codec = kgo.NoCompression()
	case "gzip":
		codec = kgo.GzipCompression()
	case "snappy":
		codec = kgo.SnappyCompression()
	case "lz4":
		codec = kgo.Lz4Compression()
	case "zstd":
		codec = kgo.ZstdCompression()
	default:
		return nil, fmt.Errorf("loadgen: compression %q: want none, gzip, snappy, lz4 or zstd", o.Compression)
	}
	opts = append(opts, kgo.ProducerBatchCompression(codec))
	switch {
	case o.Linger > 0:
		opts = append(opts, kgo.ProducerLinger(o.Linger))
	case o.Linger < 0:
		opts = append(opts, kgo.ProducerLinger(0))
	}
	return append(opts, o.ClientOpts...), nil
}

// CreateTopic creates o.Topic with o.Partitions partitions and replication
// factor 1. An existing topic is not an error.
func CreateTopic(ctx context.Context, o Options) error {
	if err := o.normalize(); err != nil {
		return err
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

// Produce sends o.Records records and waits for every acknowledgement.
func Produce(ctx context.Context, o Options) (Result, error) {
	if err := o.normalize(); err != nil {
		return Result{}, err
	}
	if o.Records <= 0 {
		return Result{}, errors.New("loadgen: Records must be positive")
	}
	opts, err := o.producerOpts()
	if err != nil {
		return Result{}, err
	}
	if o.CreateTopic {
		if err := CreateTopic(ctx, o); err != nil {
			return Result{}, err
		}
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
	lat := make([]time.Duration, o.Records) // each index written by one promise
	var (
		failed   atomic.Int64
		errOnce  sync.Once
		firstErr error
		wg       sync.WaitGroup
	)
	start := time.Now()
	for c, cl := range clients {
		lo, hi := c*o.Records/o.Clients, (c+1)*o.Records/o.Clients
		wg.Go(func() {
			for i := lo; i < hi; i++ {
				if ctx.Err() != nil {
					return
				}
				t0 := time.Now()
				cl.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
					lat[i] = time.Since(t0)
					if err != nil {
						failed.Add(1)
						errOnce.Do(func() { firstErr = err })
					}
				})
			}
			if err := cl.Flush(ctx); err != nil {
				errOnce.Do(func() { firstErr = err })
			}
		})
	}
	wg.Wait()
	d := time.Since(start)
	if firstErr != nil {
		return Result{}, fmt.Errorf("loadgen: %d of %d records failed: %w", failed.Load(), o.Records, firstErr)
	}
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	res := newResult(int64(o.Records), int64(o.Records)*int64(o.RecordSize), d)
	res.Latency = percentiles(lat)
	return res, nil
}

// Consume reads o.Records records from the start of o.Topic.
func Consume(ctx context.Context, o Options) (Result, error) {
	if err := o.normalize(); err != nil {
		return Result{}, err
	}
	base := o.baseOpts()
	adminCl, err := kgo.NewClient(slices.Concat(base, o.ClientOpts)...)
	if err != nil {
		return Result{}, fmt.Errorf("loadgen: client: %w", err)
	}
	defer adminCl.Close()
	adm := kadm.NewClient(adminCl)
	md, err := adm.Metadata(ctx, o.Topic)
	if err != nil {
		return Result{}, fmt.Errorf("loadgen: metadata: %w", err)
	}
	td, ok := md.Topics[o.Topic]
	if !ok || td.Err != nil {
		return Result{}, fmt.Errorf("loadgen: topic %s: %v", o.Topic, td.Err)
	}
	parts := td.Partitions.Numbers()
	slices.Sort(parts)
	want := int64(o.Records)
	if want <= 0 {
		starts, err := adm.ListStartOffsets(ctx, o.Topic)
		if err != nil {
			return Result{}, fmt.Errorf("loadgen: list start offsets: %w", err)
		}
		ends, err := adm.ListEndOffsets(ctx, o.Topic)
		if err != nil {
			return Result{}, fmt.Errorf("loadgen: list end offsets: %w", err)
		}
		ends.Each(func(e kadm.ListedOffset) {
			if s, ok := starts.Lookup(e.Topic, e.Partition); ok {
				want += e.Offset - s.Offset
			}
		})
		if want == 0 {
			return Result{}, fmt.Errorf("loadgen: topic %s is empty", o.Topic)
		}
	}
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
			assign[parts[i]] = kgo.NewOffset().AtStart()
		}
		opts := slices.Concat(base, []kgo.Opt{kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{o.Topic: assign})}, o.ClientOpts)
		if clients[c], err = kgo.NewClient(opts...); err != nil {
			return Result{}, fmt.Errorf("loadgen: client: %w", err)
		}
	}

	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		records, bytes atomic.Int64
		errOnce        sync.Once
		firstErr       error
		wg             sync.WaitGroup
	)
	start := time.Now()
	for _, cl := range clients {
		wg.Go(func() {
			for rctx.Err() == nil {
				fs := cl.PollFetches(rctx)
				var got, size int64
				fs.EachRecord(func(r *kgo.Record) {
					got++
					size += int64(len(r.Key) + len(r.Value))
				})
				bytes.Add(size)
				if records.Add(got) >= want {
					cancel()
					return
				}
				for _, fe := range fs.Errors() {
					if errors.Is(fe.Err, context.Canceled) {
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
	if records.Load() < want {
		if err := ctx.Err(); err != nil {
			return Result{}, fmt.Errorf("loadgen: consumed %d of %d records: %w", records.Load(), want, err)
		}
	}
	return newResult(records.Load(), bytes.Load(), d), nil
}

func newResult(records, bytes int64, d time.Duration) Result {
	secs := d.Seconds()
	return Result{
		Records:       records,
		Bytes:         bytes,
		Duration:      d,
		RecordsPerSec: float64(records) / secs,
		MBPerSec:      float64(bytes) / (1 << 20) / secs,
	}
}

// percentiles sorts samples in place and returns nearest-rank percentiles.
func percentiles(samples []time.Duration) Latency {
	if len(samples) == 0 {
		return Latency{}
	}
	slices.Sort(samples)
	at := func(q float64) time.Duration {
		i := int(math.Ceil(q*float64(len(samples)))) - 1
		return samples[max(0, min(i, len(samples)-1))]
	}
	return Latency{P50: at(0.50), P95: at(0.95), P99: at(0.99), P999: at(0.999), Max: samples[len(samples)-1]}
}
