package group

import (
	"encoding/binary"
	"fmt"
	"unicode/utf16"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirdb/weir/internal/batch"
)

// Record schema versions written, as Kafka 3.x writes them. Loading accepts
// every version kmsg decodes.
const (
	offsetKeyVersion   = 1 // OffsetCommitKey
	offsetValueVersion = 3 // OffsetCommitValue: offset, leader epoch, metadata, commit time
	groupKeyVersion    = 2 // GroupMetadataKey
	groupValueVersion  = 3 // GroupMetadataValue: with static members (KIP-345)
)

// PartitionFor returns the __consumer_offsets partition of group out of n,
// as Kafka computes it: abs(javaHashCode(group)) % n, where abs maps
// Integer.MIN_VALUE to 0 (Kafka's Utils.abs).
func PartitionFor(group string, n int32) int32 {
	h := javaHashCode(group)
	if h == -1<<31 {
		h = 0
	} else if h < 0 {
		h = -h
	}
	return h % n
}

// javaHashCode is Java's String.hashCode: s[0]*31^(n-1) + ... + s[n-1]
// over the UTF-16 code units of the string, in int32 arithmetic.
func javaHashCode(s string) int32 {
	var h int32
	for _, u := range utf16.Encode([]rune(s)) {
		h = 31*h + int32(u)
	}
	return h
}

// kv is one record to write: key and value (nil value is a tombstone).
type kv struct{ key, value []byte }

func offsetKey(group, topic string, partition int32) []byte {
	k := kmsg.OffsetCommitKey{Version: offsetKeyVersion, Group: group, Topic: topic, Partition: partition}
	return k.AppendTo(nil)
}

func offsetRecord(group string, tp TopicPartition, o offset) kv {
	v := kmsg.OffsetCommitValue{
		Version:         offsetValueVersion,
		Offset:          o.offset,
		LeaderEpoch:     o.leaderEpoch,
		Metadata:        o.metadata,
		CommitTimestamp: o.commitMs,
	}
	return kv{key: offsetKey(group, tp.Topic, tp.Partition), value: v.AppendTo(nil)}
}

func offsetTombstone(group string, tp TopicPartition) kv {
	return kv{key: offsetKey(group, tp.Topic, tp.Partition)}
}

func groupKey(group string) []byte {
	k := kmsg.GroupMetadataKey{Version: groupKeyVersion, Group: group}
	return k.AppendTo(nil)
}

func groupTombstone(group string) kv { return kv{key: groupKey(group)} }

// groupRecord is the group's metadata as Kafka stores it: generation,
// protocol, leader and each member with the subscription it joined with
// for the chosen protocol and its assignment (assignments override the
// members' current ones when not nil).
func groupRecord(g *group, assignments map[string][]byte) kv {
	v := kmsg.GroupMetadataValue{
		Version:               groupValueVersion,
		ProtocolType:          g.protocolType,
		Generation:            g.generation,
		CurrentStateTimestamp: g.stateMs,
	}
	if g.protocol != "" {
		v.Protocol = kmsg.StringPtr(g.protocol)
	}
	if g.leader != "" {
		v.Leader = kmsg.StringPtr(g.leader)
	}
	for _, m := range g.orderedMembers() {
		a := m.assignment
		if assignments != nil {
			a = assignments[m.id]
		}
		v.Members = append(v.Members, kmsg.GroupMetadataValueMember{
			MemberID:               m.id,
			InstanceID:             m.instanceID,
			ClientID:               m.clientID,
			ClientHost:             m.clientHost,
			RebalanceTimeoutMillis: m.rebalanceTimeoutMs,
			SessionTimeoutMillis:   m.sessionTimeoutMs,
			Subscription:           m.metadataFor(g.protocol),
			Assignment:             a,
		})
	}
	return kv{key: groupKey(g.name), value: v.AppendTo(nil)}
}

// encodeBatch is batch.Build of recs.
func encodeBatch(recs []kv, nowMs int64) []byte {
	kvs := make([]batch.KeyValue, len(recs))
	for i, r := range recs {
		kvs[i] = batch.KeyValue{Key: r.key, Value: r.value}
	}
	return batch.Build(nowMs, kvs...)
}

// loaded is what replaying one __consumer_offsets record yields.
type loaded struct {
	group string
	// exactly one of the following is set
	offset   *loadedOffset
	meta     *loadedGroup
	consumer *loadedConsumer
}

// loadedConsumer is a consumer group record; nil snap deletes.
type loadedConsumer struct {
	snap *consumerSnapshot
}

type loadedOffset struct {
	tp     TopicPartition
	value  offset
	delete bool
}

type loadedGroup struct {
	value  kmsg.GroupMetadataValue
	delete bool
}

// decodeRecord interprets one __consumer_offsets record. Keys of other
// kinds (Kafka's own KIP-848 and share group records, versions 3 and up,
// other than Weir's consumer group record) are skipped: ok is false with
// a nil error.
func decodeRecord(key, value []byte) (l loaded, ok bool, err error) {
	if len(key) < 2 {
		return l, false, fmt.Errorf("record key of %d bytes", len(key))
	}
	switch version := int16(binary.BigEndian.Uint16(key)); version {
	case 0, 1:
		var k kmsg.OffsetCommitKey
		if err := k.ReadFrom(key); err != nil {
			return l, false, fmt.Errorf("offset commit key: %w", err)
		}
		l.group = k.Group
		lo := &loadedOffset{tp: TopicPartition{Topic: k.Topic, Partition: k.Partition}}
		l.offset = lo
		if value == nil {
			lo.delete = true
			return l, true, nil
		}
		var v kmsg.OffsetCommitValue
		if err := v.ReadFrom(value); err != nil {
			return l, false, fmt.Errorf("offset commit value of %s: %w", k.Group, err)
		}
		lo.value = offset{offset: v.Offset, leaderEpoch: -1, metadata: v.Metadata, commitMs: v.CommitTimestamp}
		if v.Version >= 3 {
			lo.value.leaderEpoch = v.LeaderEpoch
		}
		return l, true, nil
	case 2:
		var k kmsg.GroupMetadataKey
		if err := k.ReadFrom(key); err != nil {
			return l, false, fmt.Errorf("group metadata key: %w", err)
		}
		l.group = k.Group
		lg := &loadedGroup{}
		l.meta = lg
		if value == nil {
			lg.delete = true
			return l, true, nil
		}
		if err := lg.value.ReadFrom(value); err != nil {
			return l, false, fmt.Errorf("group metadata value of %s: %w", k.Group, err)
		}
		if lg.value.Version < 2 {
			lg.value.CurrentStateTimestamp = -1
		}
		return l, true, nil
	case consumerKeyVersion:
		group, snap, err := decodeConsumer(key, value)
		if err != nil {
			return l, false, err
		}
		l.group, l.consumer = group, &loadedConsumer{snap: snap}
		return l, true, nil
	default:
		return l, false, nil
	}
}
