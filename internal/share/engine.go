package share

import (
	"github.com/weirdb/weir/internal/coordlog"
	"github.com/weirdb/weir/internal/engine"
)

// EngineStorage keeps the state topic in eng: an internal topic with
// cleanup.policy=compact, as in Kafka.
func EngineStorage(eng *engine.Engine) coordlog.Storage {
	return coordlog.EngineStorage(eng, TopicName)
}

// EngineTopics is the coordinator's view of eng's topics.
func EngineTopics(eng *engine.Engine) Topics { return engineTopics{eng} }

type engineTopics struct{ eng *engine.Engine }

func info(t *engine.Topic) (TopicInfo, bool) {
	if t == nil {
		return TopicInfo{}, false
	}
	return TopicInfo{Name: t.Name, ID: [16]byte(t.ID), Partitions: int32(len(t.Partitions))}, true
}

func (e engineTopics) ByName(name string) (TopicInfo, bool) { return info(e.eng.Topic(name)) }

func (e engineTopics) ByID(id [16]byte) (TopicInfo, bool) {
	return info(e.eng.TopicByID(engine.TopicID(id)))
}

func (e engineTopics) Bounds(tp TP) (int64, int64, bool) {
	t := e.eng.TopicByID(engine.TopicID(tp.TopicID))
	if t == nil || tp.Partition < 0 || int(tp.Partition) >= len(t.Partitions) {
		return 0, 0, false
	}
	logStart, hw, _, _ := t.Partitions[tp.Partition].Offsets()
	return logStart, hw, true
}
