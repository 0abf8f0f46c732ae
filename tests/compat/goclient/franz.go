package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// franz is franz-go (kgo and kadm) with its defaults.
type franz struct {
	seeds string
	adm   *kadm.Client
	cl    *kgo.Client
}

func newFranz(seeds string) (client, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds))
	if err != nil {
		return nil, err
	}
	return &franz{seeds: seeds, cl: cl, adm: kadm.NewClient(cl)}, nil
}

func (f *franz) close() { f.cl.Close() }

func franzCodec(codec string) (kgo.CompressionCodec, error) {
	switch codec {
	case "none":
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
	return kgo.CompressionCodec{}, fmt.Errorf("unknown codec %q", codec)
}

func (f *franz) produce(ctx context.Context, topic, codec string, recs []rec) error {
	cc, err := franzCodec(codec)
	if err != nil {
		return err
	}
	// kgo asks for topics to be auto-created only when told to.
	cl, err := kgo.NewClient(kgo.SeedBrokers(f.seeds), kgo.ProducerBatchCompression(cc), kgo.AllowAutoTopicCreation(),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(50*time.Millisecond))
	if err != nil {
		return err
	}
	defer cl.Close()
	var krs []*kgo.Record
	for _, r := range recs {
		kr := &kgo.Record{Topic: topic, Key: []byte(r.Key), Value: []byte(r.Value)}
		for _, h := range r.Headers {
			kr.Headers = append(kr.Headers, kgo.RecordHeader{Key: h[0], Value: []byte(h[1])})
		}
		if r.Ts != 0 {
			kr.Timestamp = time.UnixMilli(r.Ts)
		}
		krs = append(krs, kr)
	}
	return cl.ProduceSync(ctx, krs...).FirstErr()
}

func fromKgo(r *kgo.Record) rec {
	out := rec{Key: string(r.Key), Value: string(r.Value), Ts: r.Timestamp.UnixMilli(), Offset: r.Offset}
	for _, h := range r.Headers {
		out.Headers = append(out.Headers, [2]string{h.Key, string(h.Value)})
	}
	return out
}

func (f *franz) poll(ctx context.Context, cl *kgo.Client, n int) ([]*kgo.Record, error) {
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollRecords(ctx, n-len(out))
		if err := ctx.Err(); err != nil {
			return out, fmt.Errorf("got %d of %d records: %v", len(out), n, err)
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) { ferr = fmt.Errorf("fetch %s/%d: %w", t, p, err) })
		if ferr != nil {
			return out, ferr
		}
		out = append(out, fs.Records()...)
	}
	return out, nil
}

func (f *franz) consume(ctx context.Context, topic, from string, n int, ready func() error) ([]rec, error) {
	off := kgo.NewOffset()
	switch from {
	case "beginning":
		off = off.AtStart()
	case "end":
		off = off.AtEnd()
	default:
		ms, err := strconv.ParseInt(from, 10, 64)
		if err != nil {
			return nil, err
		}
		off = off.AfterMilli(ms)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(f.seeds),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: off}}))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	if ready != nil {
		// Polling with nothing to read positions the consumer (ListOffsets).
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		early, _ := f.poll(pctx, cl, 1)
		cancel()
		if len(early) > 0 {
			return nil, fmt.Errorf("read %+v before anything was produced", fromKgo(early[0]))
		}
		if err := ready(); err != nil {
			return nil, err
		}
	}
	krs, err := f.poll(ctx, cl, n)
	if err != nil {
		return nil, err
	}
	var out []rec
	for _, r := range krs[:n] {
		out = append(out, fromKgo(r))
	}
	return out, nil
}

func (f *franz) group(ctx context.Context, topic, group string, n int) ([]rec, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(f.seeds), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	krs, err := f.poll(ctx, cl, n)
	if err != nil {
		return nil, err
	}
	krs = krs[:n]
	if err := cl.CommitRecords(ctx, krs...); err != nil {
		return nil, fmt.Errorf("commit: %v", err)
	}
	var out []rec
	for _, r := range krs {
		out = append(out, fromKgo(r))
	}
	return out, nil
}

func (f *franz) metadata(ctx context.Context, topic string) ([]string, int, bool, error) {
	m, err := f.adm.Metadata(ctx, topic)
	if err != nil {
		return nil, 0, false, err
	}
	var brokers []string
	ids := map[int32]bool{}
	for _, b := range m.Brokers {
		brokers = append(brokers, fmt.Sprintf("%s:%d", b.Host, b.Port))
		ids[b.NodeID] = true
	}
	t, ok := m.Topics[topic]
	if !ok || t.Err != nil {
		return brokers, 0, false, fmt.Errorf("topic %s not in metadata (%v)", topic, t.Err)
	}
	leaders := true
	for _, p := range t.Partitions {
		leaders = leaders && ids[p.Leader]
	}
	return brokers, len(t.Partitions), leaders, nil
}

func (f *franz) topicExists(ctx context.Context, topic string) (bool, error) {
	ts, err := f.adm.ListTopics(ctx)
	if err != nil {
		return false, err
	}
	return ts.Has(topic), nil
}

func (f *franz) createTopic(ctx context.Context, topic string, parts int, configs map[string]string) (bool, error) {
	cfg := map[string]*string{}
	for k, v := range configs {
		cfg[k] = &v
	}
	resp, err := f.adm.CreateTopic(ctx, int32(parts), 1, cfg, topic)
	if err == nil {
		err = resp.Err
	}
	return errors.Is(err, kerr.TopicAlreadyExists), err
}

func (f *franz) describeConfig(ctx context.Context, topic, name string) (string, error) {
	rcs, err := f.adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		return "", err
	}
	rc, err := rcs.On(topic, nil)
	if err != nil {
		return "", err
	}
	if rc.Err != nil {
		return "", rc.Err
	}
	for _, c := range rc.Configs {
		if c.Key == name {
			return c.MaybeValue(), nil
		}
	}
	return "", fmt.Errorf("%s not among %d configs", name, len(rc.Configs))
}

func (f *franz) deleteTopic(ctx context.Context, topic string) error {
	resp, err := f.adm.DeleteTopic(ctx, topic)
	if err == nil {
		err = resp.Err
	}
	return err
}
