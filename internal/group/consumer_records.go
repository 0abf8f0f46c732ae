package group

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kbin"
)

// The record of a KIP-848 consumer group. Kafka spreads a consumer
// group over several record types (keys 3 to 8: group epoch,
// subscription metadata, each member, target assignment per member,
// current assignment per member); kmsg has no codecs for them, so Weir
// writes one record per group instead, holding all of it, rewritten on
// every change. Its key version is one Kafka does not use, so Kafka
// tools skip it as an unknown record type. See doc.go for the layout.

// consumerKeyVersion is the key version of Weir's consumer group record.
const consumerKeyVersion int16 = 0x5700 // "W"

const consumerValueVersion int16 = 0

func consumerKey(group string) []byte {
	b := kbin.AppendInt16(nil, consumerKeyVersion)
	return kbin.AppendString(b, group)
}

func consumerTombstone(group string) kv { return kv{key: consumerKey(group)} }

// consumerSnapshot is a decoded consumer group record.
type consumerSnapshot struct {
	epoch, targetEpoch int32
	metaHash           uint64
	members            []*cmember
	targets            map[string]assignment
}

func appendAssignment(b []byte, a assignment) []byte {
	ids := sortedTopicIDs(a)
	b = kbin.AppendArrayLen(b, len(ids))
	for _, id := range ids {
		b = kbin.AppendUuid(b, id)
		b = kbin.AppendArrayLen(b, len(a[id]))
		for _, p := range a[id] {
			b = kbin.AppendInt32(b, p)
		}
	}
	return b
}

func readAssignment(r *kbin.Reader) assignment {
	a := assignment{}
	n := r.ArrayLen()
	for i := int32(0); i < n && r.Ok(); i++ {
		id := r.Uuid()
		np := r.ArrayLen()
		for j := int32(0); j < np && r.Ok(); j++ {
			a.add(id, r.Int32())
		}
	}
	a.sort()
	return a
}

// consumerRecord is g's consumer group state as one record.
func consumerRecord(g *group) kv {
	cg := g.cg
	b := kbin.AppendInt16(nil, consumerValueVersion)
	b = kbin.AppendInt32(b, cg.epoch)
	b = kbin.AppendInt32(b, cg.targetEpoch)
	b = kbin.AppendInt64(b, int64(cg.metaHash))
	ms := cg.ordered()
	b = kbin.AppendArrayLen(b, len(ms))
	for _, m := range ms {
		b = kbin.AppendString(b, m.id)
		b = kbin.AppendNullableString(b, m.instanceID)
		b = kbin.AppendNullableString(b, m.rackID)
		b = kbin.AppendString(b, m.clientID)
		b = kbin.AppendString(b, m.clientHost)
		b = kbin.AppendInt32(b, m.rebalanceTimeoutMs)
		b = kbin.AppendInt32(b, m.epoch)
		b = kbin.AppendInt32(b, m.prevEpoch)
		b = kbin.AppendInt8(b, int8(m.state))
		b = kbin.AppendArrayLen(b, len(m.topics))
		for _, t := range m.topics {
			b = kbin.AppendString(b, t)
		}
		b = kbin.AppendNullableString(b, m.regex)
		b = kbin.AppendString(b, m.assignor)
		b = appendAssignment(b, m.assigned)
		b = appendAssignment(b, m.revoking)
		b = appendAssignment(b, cg.target[m.id])
	}
	return kv{key: consumerKey(g.name), value: b}
}

// decodeConsumer reads a consumer group record's key and value (nil
// value: deleted).
func decodeConsumer(key, value []byte) (group string, snap *consumerSnapshot, err error) {
	kr := kbin.Reader{Src: key[2:]}
	group = kr.String()
	if err := kr.Complete(); err != nil {
		return "", nil, fmt.Errorf("consumer group key: %w", err)
	}
	if value == nil {
		return group, nil, nil
	}
	r := kbin.Reader{Src: value}
	if v := r.Int16(); v != consumerValueVersion {
		return group, nil, fmt.Errorf("consumer group %s: value version %d unknown", group, v)
	}
	snap = &consumerSnapshot{targets: map[string]assignment{}}
	snap.epoch = r.Int32()
	snap.targetEpoch = r.Int32()
	snap.metaHash = uint64(r.Int64())
	n := r.ArrayLen()
	for i := int32(0); i < n && r.Ok(); i++ {
		m := &cmember{}
		m.id = r.String()
		m.instanceID = r.NullableString()
		m.rackID = r.NullableString()
		m.clientID = r.String()
		m.clientHost = r.String()
		m.rebalanceTimeoutMs = r.Int32()
		m.epoch = r.Int32()
		m.prevEpoch = r.Int32()
		m.state = memberState(r.Int8())
		nt := r.ArrayLen()
		for j := int32(0); j < nt && r.Ok(); j++ {
			m.topics = append(m.topics, r.String())
		}
		m.regex = r.NullableString()
		m.assignor = r.String()
		m.assigned = readAssignment(&r)
		m.revoking = readAssignment(&r)
		snap.targets[m.id] = readAssignment(&r)
		snap.members = append(snap.members, m)
	}
	if !r.Ok() {
		return group, nil, errors.New("consumer group " + group + ": truncated value")
	}
	return group, snap, nil
}
