package group

import (
	"context"
	"errors"
	"fmt"

	"github.com/weirdb/weir/internal/batch"
	"github.com/weirdb/weir/internal/engine"
)

// TopicName is Kafka's internal topic for group metadata and offsets.
const TopicName = "__consumer_offsets"

// Log is one partition of the offsets topic as the coordinator uses it.
// The coordinator is its only writer.
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

// Storage gives the coordinator the partitions of the offsets topic.
type Storage interface {
	// Open returns the partitions of the offsets topic, creating it with
	// partitions partitions if it does not exist. An existing topic keeps
	// its partition count, as in Kafka.
	Open(ctx context.Context, partitions int32) ([]Log, error)
}

// EngineStorage keeps the offsets topic in eng: an internal topic with
// cleanup.policy=compact.
func EngineStorage(eng *engine.Engine) Storage { return engineStorage{eng} }

type engineStorage struct{ eng *engine.Engine }

func (s engineStorage) Open(ctx context.Context, partitions int32) ([]Log, error) {
	t := s.eng.Topic(TopicName)
	if t == nil {
		var err error
		t, err = s.eng.CreateTopic(ctx, TopicName, partitions, map[string]string{"cleanup.policy": "compact"}, true)
		if errors.Is(err, engine.ErrTopicExists) {
			t = s.eng.Topic(TopicName)
		} else if err != nil {
			return nil, fmt.Errorf("create %s: %w", TopicName, err)
		}
		if t == nil {
			return nil, fmt.Errorf("create %s: topic vanished", TopicName)
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
