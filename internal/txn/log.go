package txn

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/weirdb/weir/internal/coordlog"
	"github.com/weirdb/weir/internal/engine"
)

// TopicName is Kafka's internal topic for transaction state.
const TopicName = "__transaction_state"

// Log is one partition of the transaction state topic as the coordinator
// uses it; the coordinator is its only writer.
type Log = coordlog.Log

// Storage gives the coordinator the partitions of the transaction state
// topic.
type Storage = coordlog.Storage

// TP is a topic partition.
type TP struct {
	Topic     string
	Partition int32
}

func (tp TP) String() string { return fmt.Sprintf("%s/%d", tp.Topic, tp.Partition) }

// Markers writes transaction markers to data partitions.
type Markers interface {
	// WriteMarkers writes a commit or abort marker for the producer at
	// epoch to every partition and returns once all are durable. A
	// partition that no longer exists, or that already saw a newer epoch
	// of the producer, needs no marker and is skipped. An error means
	// some may not be written: the coordinator retries them all (a second
	// marker for a transaction already ended is harmless).
	WriteMarkers(ctx context.Context, parts []TP, producerID int64, epoch int16, commit bool) error
}

// EngineStorage keeps the transaction state topic in eng: an internal
// topic with cleanup.policy=compact, as in Kafka.
func EngineStorage(eng *engine.Engine) Storage { return coordlog.EngineStorage(eng, TopicName) }

// EngineMarkers writes markers into eng's partitions. written, if not nil,
// is called after each marker is durable (the group coordinator applies
// transactional offset commits of __consumer_offsets partitions then).
func EngineMarkers(eng *engine.Engine, written func(tp TP, producerID int64, commit bool)) Markers {
	return engineMarkers{eng, written}
}

type engineMarkers struct {
	eng     *engine.Engine
	written func(tp TP, producerID int64, commit bool)
}

func (m engineMarkers) WriteMarkers(ctx context.Context, parts []TP, pid int64, epoch int16, commit bool) error {
	type pending struct {
		tp TP
		a  *engine.Appended
	}
	var ps []pending
	var firstErr error
	for _, tp := range parts {
		t := m.eng.Topic(tp.Topic)
		if t == nil || tp.Partition < 0 || int(tp.Partition) >= len(t.Partitions) {
			continue // deleted: nothing to end
		}
		a, err := t.Partitions[tp.Partition].WriteMarker(ctx, pid, epoch, commit, 0)
		switch {
		case errors.Is(err, engine.ErrInvalidProducerEpoch), errors.Is(err, engine.ErrPartitionDeleted):
			continue
		case err != nil:
			if firstErr == nil {
				firstErr = fmt.Errorf("marker for %s: %w", tp, err)
			}
			continue
		}
		ps = append(ps, pending{tp, a})
	}
	for _, p := range ps {
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := p.a.Wait(wctx)
		cancel()
		if err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("marker for %s: %w", p.tp, err)
			}
			continue
		}
		if m.written != nil {
			m.written(p.tp, pid, commit)
		}
	}
	return firstErr
}
