// Package coordlog is the storage seam of Weir's coordinators (groups in
// internal/group, transactions in internal/txn): each keeps its state as
// records in the partitions of one internal, compacted topic, as Kafka does
// with __consumer_offsets and __transaction_state, and is the only writer of
// those partitions. Riding on the engine's partitions gives that state the
// same durability as produced data and lets it move with partition ownership.
package coordlog

import (
	"context"
	"errors"
	"fmt"

	"github.com/weirdb/weir/internal/batch"
	"github.com/weirdb/weir/internal/engine"
)

// Log is one partition of a coordinator's topic.
type Log interface {
	// Append queues one valid record batch at the end of the log and
	// returns once the batch has its offsets, so appends made one after
	// the other land in that order. wait returns nil once the batch is
	// durable, or the reason it never will be.
	Append(ctx context.Context, batch []byte) (wait func(context.Context) error, err error)
	// Read returns whole batches from the one holding offset on, at least
	// one batch when any is readable below the high watermark.
	Read(ctx context.Context, offset int64, maxBytes int) (records []byte, err error)
	// Bounds returns the log start offset and the high watermark.
	Bounds() (logStart, hw int64)
}

// Storage gives a coordinator the partitions of its topic.
type Storage interface {
	// Open returns the partitions of the topic, creating it with
	// partitions partitions if it does not exist. An existing topic keeps
	// its partition count, as in Kafka.
	Open(ctx context.Context, partitions int32) ([]Log, error)
}

// EngineStorage keeps topic in eng as an internal topic with
// cleanup.policy=compact.
func EngineStorage(eng *engine.Engine, topic string) Storage {
	return engineStorage{eng: eng, topic: topic}
}

type engineStorage struct {
	eng   *engine.Engine
	topic string
}

func (s engineStorage) Open(ctx context.Context, partitions int32) ([]Log, error) {
	t := s.eng.Topic(s.topic)
	if t == nil {
		var err error
		t, err = s.eng.CreateTopic(ctx, s.topic, partitions, map[string]string{"cleanup.policy": "compact"}, true)
		if errors.Is(err, engine.ErrTopicExists) {
			t = s.eng.Topic(s.topic)
		} else if err != nil {
			return nil, fmt.Errorf("create %s: %w", s.topic, err)
		}
		if t == nil {
			return nil, fmt.Errorf("create %s: topic vanished", s.topic)
		}
	}
	logs := make([]Log, len(t.Partitions))
	for i, p := range t.Partitions {
		logs[i] = engineLog{p}
	}
	return logs, nil
}

type engineLog struct{ p *engine.Partition }

func (l engineLog) Append(ctx context.Context, raw []byte) (func(context.Context) error, error) {
	h, err := batch.Validate(raw)
	if err != nil {
		return nil, err
	}
	a, err := l.p.Append(ctx, raw, h, false)
	if err != nil {
		return nil, err
	}
	return a.Wait, nil
}

func (l engineLog) Read(ctx context.Context, offset int64, maxBytes int) ([]byte, error) {
	res, err := l.p.Read(ctx, offset, maxBytes)
	return res.Records, err
}

func (l engineLog) Bounds() (int64, int64) {
	start, hw, _, _ := l.p.Offsets()
	return start, hw
}
