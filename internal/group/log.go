package group

import (
	"github.com/weirdb/weir/internal/coordlog"
	"github.com/weirdb/weir/internal/engine"
)

// TopicName is Kafka's internal topic for group metadata and offsets.
const TopicName = "__consumer_offsets"

// Log is one partition of the offsets topic as the coordinator uses it;
// the coordinator is its only writer.
type Log = coordlog.Log

// Storage gives the coordinator the partitions of the offsets topic.
type Storage = coordlog.Storage

// EngineStorage keeps the offsets topic in eng: an internal topic with
// cleanup.policy=compact.
func EngineStorage(eng *engine.Engine) Storage { return coordlog.EngineStorage(eng, TopicName) }
