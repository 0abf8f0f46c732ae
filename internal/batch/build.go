package batch

import (
	"encoding/binary"
	"hash/crc32"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// KeyValue is one record for Build: a key and a value, each nil for null.
type KeyValue struct {
	Key, Value []byte
}

// Build returns an uncompressed magic-2 record batch of recs, offsets
// relative to 0 (the log assigns the base offset), every record stamped
// nowMs, no producer. The coordinators write their internal-topic records
// (__consumer_offsets, __transaction_state, __share_group_state) this way.
func Build(nowMs int64, recs ...KeyValue) []byte {
	var section []byte
	for i, r := range recs {
		kr := kmsg.Record{OffsetDelta: int32(i), Key: r.Key, Value: r.Value}
		// Length counts the bytes after itself: encode once with a
		// one-byte zero length to measure.
		kr.Length = int32(len(kr.AppendTo(nil)) - 1)
		section = kr.AppendTo(section)
	}
	b := kmsg.RecordBatch{
		Length:          int32(HeaderSize - 12 + len(section)),
		Magic:           2,
		LastOffsetDelta: int32(len(recs) - 1),
		FirstTimestamp:  nowMs,
		MaxTimestamp:    nowMs,
		ProducerID:      -1,
		ProducerEpoch:   -1,
		FirstSequence:   -1,
		NumRecords:      int32(len(recs)),
		Records:         section,
	}
	raw := b.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[offCRC:], crc32.Checksum(raw[offAttributes:], crcTable))
	return raw
}
