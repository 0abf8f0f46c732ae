package txn

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"unicode/utf16"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirdb/weir/internal/batch"
)

// PartitionFor maps a transactional id to its partition of the state
// topic as Kafka does: abs(Java hashCode) % partitions.
func PartitionFor(id string, partitions int32) int32 {
	h := javaHashCode(id)
	if h == -1<<31 {
		h = 0 // Kafka's Utils.abs maps MinValue to 0
	} else if h < 0 {
		h = -h
	}
	return h % partitions
}

func javaHashCode(s string) int32 {
	var h int32
	for _, u := range utf16.Encode([]rune(s)) {
		h = 31*h + int32(u)
	}
	return h
}

// Kafka's schema versions: TransactionLogKey v0; TransactionLogValue v0
// (Kafka 3.x writes it; v1 only adds tagged fields for transaction
// version 2, which Weir does not support).
const (
	keyVersion   = 0
	valueVersion = 0
)

func encodeKey(id string) []byte {
	k := kmsg.TxnMetadataKey{Version: keyVersion, TransactionalID: id}
	return k.AppendTo(nil)
}

// encodeValue is Kafka's TransactionLogValue of m; partitions are sorted
// so that the bytes are deterministic.
func encodeValue(m *txnMeta) []byte {
	v := kmsg.NewTxnMetadataValue()
	v.Version = valueVersion
	v.ProducerID, v.ProducerEpoch = m.pid, m.epoch
	v.TimeoutMillis = m.timeoutMs
	v.State = kmsg.TransactionState(m.state)
	v.LastUpdateTimestamp, v.StartTimestamp = m.updateMs, m.startMs
	if m.state != Empty {
		v.Topics = []kmsg.TxnMetadataValueTopic{}
		for _, tp := range m.sortedParts() {
			n := len(v.Topics)
			if n == 0 || v.Topics[n-1].Topic != tp.Topic {
				v.Topics = append(v.Topics, kmsg.TxnMetadataValueTopic{Topic: tp.Topic})
				n++
			}
			v.Topics[n-1].Partitions = append(v.Topics[n-1].Partitions, tp.Partition)
		}
	}
	return v.AppendTo(nil)
}

var errBadRecord = errors.New("bad transaction state record")

// decodeRecord parses one record of the state topic: the transactional
// id and its state, nil for a tombstone. A key of another version is
// not a transaction record (ok false).
func decodeRecord(key, value []byte) (id string, m *txnMeta, ok bool, err error) {
	if len(key) < 2 {
		return "", nil, false, fmt.Errorf("%w: key of %d bytes", errBadRecord, len(key))
	}
	if v := int16(binary.BigEndian.Uint16(key)); v != keyVersion {
		return "", nil, false, nil
	}
	var k kmsg.TxnMetadataKey
	if err := k.ReadFrom(key); err != nil {
		return "", nil, false, fmt.Errorf("%w: key: %v", errBadRecord, err)
	}
	if value == nil {
		return k.TransactionalID, nil, true, nil
	}
	var v kmsg.TxnMetadataValue
	if err := v.ReadFrom(value); err != nil {
		return "", nil, false, fmt.Errorf("%w: value of %q: %v", errBadRecord, k.TransactionalID, err)
	}
	if v.Version < 0 || v.Version > 1 {
		return "", nil, false, fmt.Errorf("%w: value version %d of %q", errBadRecord, v.Version, k.TransactionalID)
	}
	st := State(v.State)
	if st < Empty || st > PrepareEpochFence || v.ProducerID < 0 {
		return "", nil, false, fmt.Errorf("%w: state %d producer %d of %q", errBadRecord, v.State, v.ProducerID, k.TransactionalID)
	}
	m = &txnMeta{
		id: k.TransactionalID, pid: v.ProducerID, epoch: v.ProducerEpoch,
		timeoutMs: v.TimeoutMillis, state: st, parts: make(map[TP]struct{}), lastEpoch: -1,
		updateMs: v.LastUpdateTimestamp, startMs: v.StartTimestamp,
	}
	for _, t := range v.Topics {
		for _, p := range t.Partitions {
			m.parts[TP{t.Topic, p}] = struct{}{}
		}
	}
	return k.TransactionalID, m, true, nil
}

// encodeBatch makes one uncompressed record batch of a record.
func encodeBatch(key, value []byte, nowMs int64) []byte {
	return batch.Build(nowMs, batch.KeyValue{Key: key, Value: value})
}

func (m *txnMeta) sortedParts() []TP {
	out := make([]TP, 0, len(m.parts))
	for tp := range m.parts {
		out = append(out, tp)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Topic != out[j].Topic {
			return out[i].Topic < out[j].Topic
		}
		return out[i].Partition < out[j].Partition
	})
	return out
}
