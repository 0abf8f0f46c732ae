package batch

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/snappy/xerial"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// testCodec names a wire encoding; snappy has two framings on the same
// attribute value, so the codec id alone is not enough.
type testCodec int

const (
	tcNone testCodec = iota
	tcGzip
	tcSnappy
	tcXerial
	tcLZ4
	tcZstd
)

var allCodecs = []testCodec{tcNone, tcGzip, tcSnappy, tcXerial, tcLZ4, tcZstd}

func (c testCodec) String() string {
	return [...]string{"none", "gzip", "snappy", "snappy-xerial", "lz4", "zstd"}[c]
}

func (c testCodec) attr() int16 {
	return [...]int16{codecNone, codecGzip, codecSnappy, codecSnappy, codecLZ4, codecZstd}[c]
}

type testRecord struct {
	key, value []byte
	headers    []RecordHeader
	tsDelta    int64
}

type batchSpec struct {
	codec       testCodec
	baseOffset  int64
	baseTs      int64
	attrs       int16 // extra attribute bits (control, transactional)
	numRecords  *int32
	lastDelta   *int32
	leaderEpoch int32
}

// encodeRecords encodes records with kmsg, whose encoder is independent of
// the decoder under test.
func encodeRecords(recs []testRecord) []byte {
	var out []byte
	for i, r := range recs {
		kr := kmsg.Record{
			TimestampDelta64: r.tsDelta,
			OffsetDelta:      int32(i),
			Key:              r.key,
			Value:            r.value,
		}
		for _, h := range r.headers {
			kr.Headers = append(kr.Headers, kmsg.Header{Key: string(h.Key), Value: h.Value})
		}
		// Length covers what follows it; encoding once with Length 0 (one
		// varint byte) measures that.
		kr.Length = int32(len(kr.AppendTo(nil)) - 1)
		out = kr.AppendTo(out)
	}
	return out
}

func compress(tb testing.TB, c testCodec, data []byte) []byte {
	tb.Helper()
	switch c {
	case tcNone:
		return data
	case tcGzip:
		var buf bytes.Buffer
		w := gzip.NewWriter(&buf)
		mustWrite(tb, w, data)
		return buf.Bytes()
	case tcSnappy:
		return snappy.Encode(nil, data)
	case tcXerial:
		return xerial.Encode(nil, data)
	case tcLZ4:
		var buf bytes.Buffer
		w := lz4.NewWriter(&buf)
		mustWrite(tb, w, data)
		return buf.Bytes()
	case tcZstd:
		enc, err := zstd.NewWriter(nil)
		if err != nil {
			tb.Fatal(err)
		}
		defer enc.Close()
		return enc.EncodeAll(data, nil)
	}
	tb.Fatalf("unknown codec %d", c)
	return nil
}

type writeCloser interface {
	Write([]byte) (int, error)
	Close() error
}

func mustWrite(tb testing.TB, w writeCloser, data []byte) {
	tb.Helper()
	if _, err := w.Write(data); err != nil {
		tb.Fatal(err)
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
}

// buildBatch returns a valid v2 batch holding recs.
func buildBatch(tb testing.TB, s batchSpec, recs []testRecord) []byte {
	tb.Helper()
	return buildRaw(s, recs, compress(tb, s.codec, encodeRecords(recs)))
}

// buildRaw wraps an already encoded (and maybe compressed) records section.
func buildRaw(s batchSpec, recs []testRecord, section []byte) []byte {
	n := int32(len(recs))
	if s.numRecords != nil {
		n = *s.numRecords
	}
	last := n - 1
	if s.lastDelta != nil {
		last = *s.lastDelta
	}
	var maxTs int64 = -1
	for _, r := range recs {
		maxTs = max(maxTs, s.baseTs+r.tsDelta)
	}
	kb := kmsg.RecordBatch{
		FirstOffset:          s.baseOffset,
		Length:               int32(HeaderSize - 12 + len(section)),
		PartitionLeaderEpoch: s.leaderEpoch,
		Magic:                2,
		Attributes:           s.codec.attr() | s.attrs,
		LastOffsetDelta:      last,
		FirstTimestamp:       s.baseTs,
		MaxTimestamp:         maxTs,
		ProducerID:           -1,
		ProducerEpoch:        -1,
		FirstSequence:        -1,
		NumRecords:           n,
		Records:              section,
	}
	b := kb.AppendTo(nil)
	fixCRC(b)
	return b
}

func fixCRC(b []byte) {
	binary.BigEndian.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:], crc32.MakeTable(crc32.Castagnoli)))
}

func ptr[T any](v T) *T { return &v }

// sampleRecords covers the shapes decoders get wrong: null versus empty
// keys and values, headers with null values, negative timestamp deltas,
// and enough bytes to span several xerial blocks.
func sampleRecords(n, valueSize int) []testRecord {
	recs := make([]testRecord, n)
	for i := range recs {
		r := &recs[i]
		switch i % 4 {
		case 0:
			r.key = nil
		case 1:
			r.key = []byte{}
		default:
			r.key = fmt.Appendf(nil, "key-%d", i)
		}
		if i%5 == 3 {
			r.value = nil
		} else {
			r.value = bytes.Repeat([]byte{byte('a' + i%26)}, valueSize+i%7)
		}
		if i%3 == 0 {
			r.headers = []RecordHeader{
				{Key: []byte("trace"), Value: fmt.Appendf(nil, "t%d", i)},
				{Key: []byte(""), Value: nil},
			}
		}
		r.tsDelta = int64(i*10) - 5
	}
	return recs
}

// seedBatches returns one valid batch per codec for fuzz corpora.
func seedBatches(tb testing.TB) [][]byte {
	var out [][]byte
	for _, c := range allCodecs {
		out = append(out, buildBatch(tb, batchSpec{codec: c, baseOffset: 100, baseTs: 1700000000000}, sampleRecords(6, 20)))
	}
	return out
}
