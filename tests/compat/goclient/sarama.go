package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/IBM/sarama"
)

// saramaClient is IBM/sarama with its default protocol version.
type saramaClient struct {
	seeds []string
	cl    sarama.Client
	adm   sarama.ClusterAdmin
}

func saramaConfig() *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.ClientID = "weir-compat-sarama"
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Consumer.Return.Errors = true
	return cfg
}

func newSarama(seeds string) (client, error) {
	s := &saramaClient{seeds: []string{seeds}}
	var err error
	if s.cl, err = sarama.NewClient(s.seeds, saramaConfig()); err != nil {
		return nil, err
	}
	if s.adm, err = sarama.NewClusterAdminFromClient(s.cl); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *saramaClient) close() { s.adm.Close() }

func (s *saramaClient) produce(ctx context.Context, topic, codec string, recs []rec) error {
	cfg := saramaConfig()
	switch codec {
	case "none":
		cfg.Producer.Compression = sarama.CompressionNone
	case "gzip":
		cfg.Producer.Compression = sarama.CompressionGZIP
	case "snappy":
		cfg.Producer.Compression = sarama.CompressionSnappy
	case "lz4":
		cfg.Producer.Compression = sarama.CompressionLZ4
	case "zstd":
		cfg.Producer.Compression = sarama.CompressionZSTD
	default:
		return fmt.Errorf("unknown codec %q", codec)
	}
	p, err := sarama.NewSyncProducer(s.seeds, cfg)
	if err != nil {
		return err
	}
	defer p.Close()
	var msgs []*sarama.ProducerMessage
	for _, r := range recs {
		m := &sarama.ProducerMessage{Topic: topic, Partition: 0,
			Key: sarama.StringEncoder(r.Key), Value: sarama.StringEncoder(r.Value)}
		for _, h := range r.Headers {
			m.Headers = append(m.Headers, sarama.RecordHeader{Key: []byte(h[0]), Value: []byte(h[1])})
		}
		if r.Ts != 0 {
			m.Timestamp = time.UnixMilli(r.Ts)
		}
		msgs = append(msgs, m)
	}
	return p.SendMessages(msgs)
}

func fromSarama(m *sarama.ConsumerMessage) rec {
	r := rec{Key: string(m.Key), Value: string(m.Value), Ts: m.Timestamp.UnixMilli(), Offset: m.Offset}
	for _, h := range m.Headers {
		r.Headers = append(r.Headers, [2]string{string(h.Key), string(h.Value)})
	}
	return r
}

func (s *saramaClient) consume(ctx context.Context, topic, from string, n int, ready func() error) ([]rec, error) {
	var off int64
	switch from {
	case "beginning":
		off = sarama.OffsetOldest
	case "end":
		off = sarama.OffsetNewest
	default:
		ms, err := strconv.ParseInt(from, 10, 64)
		if err != nil {
			return nil, err
		}
		if off, err = s.cl.GetOffset(topic, 0, ms); err != nil {
			return nil, fmt.Errorf("offset for time %d: %v", ms, err)
		}
	}
	c, err := sarama.NewConsumer(s.seeds, saramaConfig())
	if err != nil {
		return nil, err
	}
	defer c.Close()
	// ConsumePartition resolves OffsetNewest before returning.
	pc, err := c.ConsumePartition(topic, 0, off)
	if err != nil {
		return nil, err
	}
	defer pc.AsyncClose()
	if ready != nil {
		if err := ready(); err != nil {
			return nil, err
		}
	}
	var out []rec
	for len(out) < n {
		select {
		case m := <-pc.Messages():
			out = append(out, fromSarama(m))
		case err := <-pc.Errors():
			return out, err
		case <-ctx.Done():
			return out, fmt.Errorf("got %d of %d records: %v", len(out), n, ctx.Err())
		}
	}
	return out, nil
}

type saramaHandler struct {
	n    int
	got  []rec
	done chan error
}

func (h *saramaHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *saramaHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h *saramaHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for m := range claim.Messages() {
		if len(h.got) >= h.n {
			continue
		}
		h.got = append(h.got, fromSarama(m))
		if len(h.got) == h.n {
			sess.MarkMessage(m, "")
			sess.Commit()
			h.done <- nil
		}
	}
	return nil
}

func (s *saramaClient) group(ctx context.Context, topic, group string, n int) ([]rec, error) {
	cfg := saramaConfig()
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Offsets.AutoCommit.Enable = false
	g, err := sarama.NewConsumerGroup(s.seeds, group, cfg)
	if err != nil {
		return nil, err
	}
	h := &saramaHandler{n: n, done: make(chan error, 1)}
	cctx, cancel := context.WithCancel(ctx)
	consumed := make(chan error, 1)
	go func() {
		for cctx.Err() == nil {
			if err := g.Consume(cctx, []string{topic}, h); err != nil {
				consumed <- err
				return
			}
		}
		consumed <- nil
	}()
	select {
	case err = <-h.done:
	case err = <-g.Errors():
	case err = <-consumed:
		if err == nil {
			err = errors.New("consume loop ended early")
		}
	case <-ctx.Done():
		err = fmt.Errorf("got %d of %d records: %v", len(h.got), n, ctx.Err())
	}
	cancel()
	<-consumed
	if cerr := g.Close(); err == nil {
		err = cerr
	}
	return h.got, err
}

func (s *saramaClient) metadata(ctx context.Context, topic string) ([]string, int, bool, error) {
	if err := s.cl.RefreshMetadata(topic); err != nil {
		return nil, 0, false, err
	}
	var brokers []string
	ids := map[int32]bool{}
	for _, b := range s.cl.Brokers() {
		brokers = append(brokers, b.Addr())
		ids[b.ID()] = true
	}
	parts, err := s.cl.Partitions(topic)
	if err != nil {
		return brokers, 0, false, err
	}
	leaders := true
	for _, p := range parts {
		l, err := s.cl.Leader(topic, p)
		leaders = leaders && err == nil && ids[l.ID()]
	}
	return brokers, len(parts), leaders, nil
}

func (s *saramaClient) topicExists(ctx context.Context, topic string) (bool, error) {
	ts, err := s.adm.ListTopics()
	if err != nil {
		return false, err
	}
	_, ok := ts[topic]
	return ok, nil
}

func (s *saramaClient) createTopic(ctx context.Context, topic string, parts int, configs map[string]string) (bool, error) {
	cfg := map[string]*string{}
	for k, v := range configs {
		cfg[k] = &v
	}
	err := s.adm.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: int32(parts), ReplicationFactor: 1, ConfigEntries: cfg}, false)
	return errors.Is(err, sarama.ErrTopicAlreadyExists), err
}

func (s *saramaClient) describeConfig(ctx context.Context, topic, name string) (string, error) {
	es, err := s.adm.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: topic, ConfigNames: []string{name}})
	if err != nil {
		return "", err
	}
	for _, e := range es {
		if e.Name == name {
			return e.Value, nil
		}
	}
	return "", fmt.Errorf("%s not among %d configs", name, len(es))
}

func (s *saramaClient) deleteTopic(ctx context.Context, topic string) error {
	return s.adm.DeleteTopic(topic)
}
