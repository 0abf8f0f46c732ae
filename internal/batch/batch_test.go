package batch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"testing"
)

func TestValidate(t *testing.T) {
	recs := sampleRecords(5, 10)
	good := func() []byte { return buildBatch(t, batchSpec{baseOffset: 7, baseTs: 1000, leaderEpoch: -1}, recs) }
	// patch edits a header field and, unless the test is about the CRC,
	// re-signs the batch so the check under test is the one that fires.
	patch := func(off int, v uint32, fix bool) []byte {
		b := good()
		binary.BigEndian.PutUint32(b[off:], v)
		if fix {
			fixCRC(b)
		}
		return b
	}

	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"good", good(), nil},
		{"zstd", buildBatch(t, batchSpec{codec: tcZstd}, recs), nil},
		{"bad crc", func() []byte { b := good(); b[len(b)-1] ^= 1; return b }(), ErrCorrupt},
		{"crc field", func() []byte { b := good(); b[offCRC] ^= 0x80; return b }(), ErrCorrupt},
		{"truncated body", good()[:len(good())-1], ErrCorrupt},
		{"truncated header", good()[:HeaderSize-1], ErrCorrupt},
		{"truncated before magic", good()[:offMagic], ErrCorrupt},
		{"empty", nil, ErrCorrupt},
		{"magic 1", func() []byte { b := good(); b[offMagic] = 1; return b }(), ErrInvalid},
		{"magic 1 truncated", func() []byte { b := good(); b[offMagic] = 1; return b[:offMagic+1] }(), ErrInvalid},
		{"two batches", append(good(), good()...), ErrInvalid},
		{"length below header", patch(offLength, HeaderSize-13, false), ErrCorrupt},
		{"negative length", patch(offLength, math.MaxUint32, false), ErrCorrupt},
		{"length past end", patch(offLength, math.MaxInt32, false), ErrCorrupt},
		{"record count above delta", patch(offRecordCount, uint32(len(recs)+1), true), ErrInvalid},
		{"record count below delta", patch(offRecordCount, uint32(len(recs)-1), true), ErrInvalid},
		{"zero records", buildBatch(t, batchSpec{}, nil), ErrInvalid},
		{"negative record count", patch(offRecordCount, math.MaxUint32, true), ErrInvalid},
		{"control batch", buildBatch(t, batchSpec{attrs: ControlBit}, recs), ErrInvalid},
		{"transactional ok", buildBatch(t, batchSpec{attrs: TransactionalBit}, recs), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := Validate(tc.b)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				if h.Size() != len(tc.b) || h.NumRecords != int32(len(recs)) || h.LastOffset() != h.BaseOffset+int64(len(recs))-1 {
					t.Fatalf("header %+v for %d bytes", h, len(tc.b))
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Validate = %v, want %v", err, tc.want)
			}
			other := ErrInvalid
			if tc.want == ErrInvalid {
				other = ErrCorrupt
			}
			if errors.Is(err, other) {
				t.Fatalf("Validate = %v wraps both sentinels", err)
			}
		})
	}
}

func TestParseHeaderFields(t *testing.T) {
	b := buildBatch(t, batchSpec{codec: tcLZ4, baseOffset: 1 << 40, baseTs: 123, attrs: TransactionalBit, leaderEpoch: 9}, sampleRecords(3, 4))
	h, err := ParseHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	if h.BaseOffset != 1<<40 || h.LeaderEpoch != 9 || h.Magic != 2 || h.Codec() != codecLZ4 ||
		!h.IsTransactional() || h.IsControl() || h.BaseTimestamp != 123 || h.MaxTimestamp != 123+15 ||
		h.ProducerID != -1 || h.ProducerEpoch != -1 || h.BaseSequence != -1 || h.NumRecords != 3 || h.LastOffset() != 1<<40+2 {
		t.Fatalf("header %+v", h)
	}
}

func TestSetOffsetAndEpochKeepCRC(t *testing.T) {
	for _, c := range allCodecs {
		t.Run(c.String(), func(t *testing.T) {
			b := buildBatch(t, batchSpec{codec: c}, sampleRecords(4, 8))
			before := binary.BigEndian.Uint32(b[offCRC:])
			SetBaseOffset(b, 1<<50+3)
			SetLeaderEpoch(b, 42)
			h, err := Validate(b)
			if err != nil {
				t.Fatalf("Validate after patch: %v", err)
			}
			if h.BaseOffset != 1<<50+3 || h.LeaderEpoch != 42 || h.CRC != before {
				t.Fatalf("header %+v, crc before %08x", h, before)
			}
			var offs []int64
			if err := Records(b, func(r Record) bool { offs = append(offs, r.Offset); return true }); err != nil {
				t.Fatal(err)
			}
			for i, o := range offs {
				if o != 1<<50+3+int64(i) {
					t.Fatalf("record %d offset %d", i, o)
				}
			}
		})
	}
}

func TestSetLogAppendTime(t *testing.T) {
	b := buildBatch(t, batchSpec{codec: tcGzip, baseTs: 1000, attrs: TransactionalBit}, sampleRecords(3, 8))
	before := binary.BigEndian.Uint32(b[offCRC:])
	SetLogAppendTime(b, 99999)
	h, err := Validate(b)
	if err != nil {
		t.Fatalf("Validate after SetLogAppendTime: %v", err)
	}
	if h.CRC == before {
		t.Fatal("CRC unchanged though attributes and maxTimestamp changed")
	}
	if h.Attributes&LogAppendTimeBit == 0 || h.MaxTimestamp != 99999 || h.BaseTimestamp != 1000 {
		t.Fatalf("header %+v", h)
	}
	if h.Codec() != codecGzip || !h.IsTransactional() {
		t.Fatalf("other attribute bits lost: %#x", h.Attributes)
	}
}

func TestIter(t *testing.T) {
	var buf []byte
	var ends []int
	for i, c := range allCodecs {
		buf = append(buf, buildBatch(t, batchSpec{codec: c, baseOffset: int64(i * 10)}, sampleRecords(i+1, 5))...)
		ends = append(ends, len(buf))
	}
	one := buildBatch(t, batchSpec{}, sampleRecords(2, 5))

	tests := []struct {
		name    string
		buf     []byte
		batches int
		wantErr error
	}{
		{"empty", nil, 0, nil},
		{"all", buf, len(allCodecs), nil},
		{"tail shorter than magic", append(bytes.Clone(buf), one[:10]...), len(allCodecs), ErrCorrupt},
		{"tail shorter than header", append(bytes.Clone(buf), one[:HeaderSize-1]...), len(allCodecs), ErrCorrupt},
		{"tail missing last byte", append(bytes.Clone(buf), one[:len(one)-1]...), len(allCodecs), ErrCorrupt},
		{"huge length", append(bytes.Clone(buf), func() []byte {
			b := bytes.Clone(one)
			binary.BigEndian.PutUint32(b[offLength:], math.MaxInt32)
			return b
		}()...), len(allCodecs), ErrCorrupt},
		{"old magic", append(bytes.Clone(buf), func() []byte { b := bytes.Clone(one); b[offMagic] = 1; return b }()...), len(allCodecs), ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			it := NewIter(tc.buf)
			n := 0
			for {
				h, raw, ok := it.Next()
				if !ok {
					break
				}
				if len(raw) != h.Size() {
					t.Fatalf("batch %d: %d bytes, header says %d", n, len(raw), h.Size())
				}
				if _, err := Validate(raw); err != nil {
					t.Fatalf("batch %d: %v", n, err)
				}
				if h.BaseOffset != int64(n*10) {
					t.Fatalf("batch %d: base offset %d", n, h.BaseOffset)
				}
				n++
				if it.Pos() != ends[n-1] {
					t.Fatalf("Pos %d after batch %d, want %d", it.Pos(), n, ends[n-1])
				}
			}
			if n != tc.batches {
				t.Fatalf("%d batches, want %d", n, tc.batches)
			}
			if !errors.Is(it.Err(), tc.wantErr) || (tc.wantErr == nil) != (it.Err() == nil) {
				t.Fatalf("Err = %v, want %v", it.Err(), tc.wantErr)
			}
			if tc.wantErr != nil && it.Pos() != ends[n-1] {
				t.Fatalf("Pos %d should stay at the bad batch %d", it.Pos(), ends[n-1])
			}
			// A stopped iterator stays stopped.
			if _, _, ok := it.Next(); ok {
				t.Fatal("Next after the end returned a batch")
			}
		})
	}
}

// BenchmarkValidate measures the produce-path check (mostly CRC-32C) on a
// 16 KiB batch.
func BenchmarkValidate(b *testing.B) {
	recs := make([]testRecord, 16)
	for i := range recs {
		recs[i] = testRecord{key: []byte("k"), value: bytes.Repeat([]byte{byte(i)}, 1000)}
	}
	raw := buildBatch(b, batchSpec{}, recs)
	// Pad the last value so the batch is exactly 16 KiB.
	recs[15].value = append(recs[15].value, make([]byte, 16<<10-len(raw))...)
	raw = buildBatch(b, batchSpec{}, recs)
	if len(raw) != 16<<10 {
		b.Fatalf("batch is %d bytes", len(raw))
	}
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Validate(raw); err != nil {
			b.Fatal(err)
		}
	}
}
