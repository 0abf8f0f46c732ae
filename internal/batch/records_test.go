package batch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// collect copies every record out, since Records reuses its buffers.
func collect(t testing.TB, raw []byte) ([]Record, error) {
	t.Helper()
	var out []Record
	err := Records(raw, func(r Record) bool {
		c := Record{Offset: r.Offset, Timestamp: r.Timestamp, Key: cloneNullable(r.Key), Value: cloneNullable(r.Value)}
		for _, h := range r.Headers {
			c.Headers = append(c.Headers, RecordHeader{Key: cloneNullable(h.Key), Value: cloneNullable(h.Value)})
		}
		out = append(out, c)
		return true
	})
	return out, err
}

func cloneNullable(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}

func sameNullable(a, b []byte) bool { return (a == nil) == (b == nil) && bytes.Equal(a, b) }

func checkRecords(t *testing.T, got []Record, want []testRecord, baseOffset int64, ts func(i int) int64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d records, want %d", len(got), len(want))
	}
	for i, g := range got {
		w := want[i]
		if g.Offset != baseOffset+int64(i) || g.Timestamp != ts(i) {
			t.Fatalf("record %d: offset %d ts %d, want %d %d", i, g.Offset, g.Timestamp, baseOffset+int64(i), ts(i))
		}
		if !sameNullable(g.Key, w.key) || !sameNullable(g.Value, w.value) {
			t.Fatalf("record %d: key %q value %.20q, want %q %.20q (nil %v/%v, want %v/%v)",
				i, g.Key, g.Value, w.key, w.value, g.Key == nil, g.Value == nil, w.key == nil, w.value == nil)
		}
		if len(g.Headers) != len(w.headers) {
			t.Fatalf("record %d: %d headers, want %d", i, len(g.Headers), len(w.headers))
		}
		for j := range g.Headers {
			if !bytes.Equal(g.Headers[j].Key, w.headers[j].Key) || !sameNullable(g.Headers[j].Value, w.headers[j].Value) {
				t.Fatalf("record %d header %d: %+v, want %+v", i, j, g.Headers[j], w.headers[j])
			}
		}
	}
}

func TestRecordsRoundTrip(t *testing.T) {
	sizes := []struct{ n, valueSize int }{
		{1, 0},
		{7, 30},
		{120, 1000}, // >32 KiB: several xerial blocks, several lz4/zstd blocks
	}
	for _, c := range allCodecs {
		for _, sz := range sizes {
			t.Run(fmt.Sprintf("%v/%dx%d", c, sz.n, sz.valueSize), func(t *testing.T) {
				recs := sampleRecords(sz.n, sz.valueSize)
				const base, baseTs = 5000, 1_700_000_000_000
				raw := buildBatch(t, batchSpec{codec: c, baseOffset: base, baseTs: baseTs}, recs)
				if _, err := Validate(raw); err != nil {
					t.Fatal(err)
				}
				got, err := collect(t, raw)
				if err != nil {
					t.Fatal(err)
				}
				checkRecords(t, got, recs, base, func(i int) int64 { return baseTs + recs[i].tsDelta })
			})
		}
	}
}

func TestRecordsXerialMultiBlock(t *testing.T) {
	// xerial.Encode cuts 32 KiB blocks; make sure this input really
	// exercises more than one, so the block loop is tested.
	recs := sampleRecords(120, 1000)
	section := compress(t, tcXerial, encodeRecords(recs))
	blocks := 0
	for p := xerialHeaderSize; p < len(section); blocks++ {
		p += 4 + int(binary.BigEndian.Uint32(section[p:]))
	}
	if blocks < 3 {
		t.Fatalf("only %d xerial blocks", blocks)
	}
	// An empty framed stream (header, no blocks) is zero bytes of records.
	raw := buildRaw(batchSpec{codec: tcXerial}, nil, section[:xerialHeaderSize])
	if err := Records(raw, func(Record) bool { t.Fatal("record from empty stream"); return false }); err != nil {
		t.Fatal(err)
	}
}

func TestRecordsLogAppendTime(t *testing.T) {
	for _, c := range allCodecs {
		t.Run(c.String(), func(t *testing.T) {
			recs := sampleRecords(9, 10)
			raw := buildBatch(t, batchSpec{codec: c, baseOffset: 3, baseTs: 1000}, recs)
			got, err := collect(t, raw)
			if err != nil {
				t.Fatal(err)
			}
			checkRecords(t, got, recs, 3, func(i int) int64 { return 1000 + recs[i].tsDelta })

			// Kafka gives every record of a LogAppendTime batch the
			// batch's maxTimestamp, whatever its delta says.
			SetLogAppendTime(raw, 777)
			got, err = collect(t, raw)
			if err != nil {
				t.Fatal(err)
			}
			checkRecords(t, got, recs, 3, func(int) int64 { return 777 })
		})
	}
}

func TestRecordsStopEarly(t *testing.T) {
	for _, c := range allCodecs {
		raw := buildBatch(t, batchSpec{codec: c}, sampleRecords(10, 10))
		n := 0
		if err := Records(raw, func(Record) bool { n++; return n < 3 }); err != nil || n != 3 {
			t.Fatalf("%v: err %v after %d calls, want 3", c, err, n)
		}
	}
}

func TestRecordsControlBatch(t *testing.T) {
	// A commit marker: key is version 0 + type 1, value version 0 + epoch.
	recs := []testRecord{{key: []byte{0, 0, 0, 1}, value: []byte{0, 0, 0, 0, 0, 5}}}
	raw := buildBatch(t, batchSpec{attrs: ControlBit | TransactionalBit, baseOffset: 40}, recs)
	got, err := collect(t, raw)
	if err != nil {
		t.Fatal(err)
	}
	checkRecords(t, got, recs, 40, func(int) int64 { return 0 })
}

func TestRecordsMalformed(t *testing.T) {
	recs := sampleRecords(3, 5)
	section := encodeRecords(recs)
	first := encodeRecords(recs[:1])

	// A one-record batch whose record body is given verbatim after its
	// varint length, to build each field-level defect.
	withBody := func(body ...byte) []byte {
		sec := binary.AppendVarint(nil, int64(len(body)))
		return buildRaw(batchSpec{}, make([]testRecord, 1), append(sec, body...))
	}
	tests := []struct {
		name string
		raw  []byte
		want error
	}{
		{"count above records", buildRaw(batchSpec{numRecords: ptr[int32](4)}, recs, section), ErrCorrupt},
		{"count below records", buildRaw(batchSpec{numRecords: ptr[int32](2)}, recs, section), ErrCorrupt},
		{"negative count", buildRaw(batchSpec{numRecords: ptr[int32](-1)}, recs, section), ErrCorrupt},
		{"record length past end", buildRaw(batchSpec{}, recs[:1], append([]byte{0x7e}, first[1:]...)), ErrCorrupt},
		{"negative record length", buildRaw(batchSpec{}, recs[:1], append([]byte{0x01}, first[1:]...)), ErrCorrupt},
		{"empty record body", withBody(), ErrCorrupt},
		{"key past record end", withBody(0, 0, 0, 20, 'a'), ErrCorrupt},
		{"missing header count", withBody(0, 0, 0, 1, 1), ErrCorrupt},
		{"negative header count", withBody(0, 0, 0, 1, 1, 1), ErrCorrupt},
		{"header count beyond bytes", withBody(0, 0, 0, 1, 1, 20, 2, 'k', 1), ErrCorrupt},
		{"null header key", withBody(0, 0, 0, 1, 1, 2, 1, 1), ErrCorrupt},
		{"slack inside record", withBody(0, 0, 0, 1, 1, 0, 0), ErrCorrupt},
		{"offset delta over int32", withBody(0, 0, 0x80, 0x80, 0x80, 0x80, 0x20, 1, 1, 0), ErrCorrupt},
		{"unterminated varint", withBody(0, 0x80), ErrCorrupt},
		{"unknown codec", buildRaw(batchSpec{attrs: 5}, recs, section), ErrCorrupt},
		{"truncated", buildBatch(t, batchSpec{}, recs)[:HeaderSize+3], ErrCorrupt},
		{"trailing bytes", append(buildBatch(t, batchSpec{}, recs), 0), ErrCorrupt},
		{"old magic", func() []byte { b := buildBatch(t, batchSpec{}, recs); b[offMagic] = 1; return b }(), ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			err := Records(tc.raw, func(Record) bool { calls++; return true })
			if !errors.Is(err, tc.want) {
				t.Fatalf("Records = %v after %d records, want %v", err, calls, tc.want)
			}
		})
	}

	// Kafka reads any negative key or value length as null, so must we.
	raw := withBody(0, 0, 0, 3, 5, 0)
	got, err := collect(t, raw)
	if err != nil || len(got) != 1 || got[0].Key != nil || got[0].Value != nil {
		t.Fatalf("negative lengths: %+v, %v", got, err)
	}
}

func TestRecordsCorruptCompressed(t *testing.T) {
	recs := sampleRecords(40, 200)
	for _, c := range allCodecs[1:] {
		t.Run(c.String(), func(t *testing.T) {
			section := compress(t, c, encodeRecords(recs))
			for _, cut := range []int{0, 1, len(section) / 2, len(section) - 1} {
				raw := buildRaw(batchSpec{codec: c}, recs, section[:cut])
				if err := Records(raw, func(Record) bool { return true }); !errors.Is(err, ErrCorrupt) {
					t.Errorf("cut at %d of %d: %v, want ErrCorrupt", cut, len(section), err)
				}
			}
			garbage := bytes.Repeat([]byte{0xa5, 0x13, 0xff, 0x00}, 64)
			if err := Records(buildRaw(batchSpec{codec: c}, recs, garbage), func(Record) bool { return true }); !errors.Is(err, ErrCorrupt) {
				t.Errorf("garbage: %v, want ErrCorrupt", err)
			}
			// Every single-byte flip must fail cleanly or decode; which one
			// depends on the codec's checksums, the point is no panic.
			for i := range section {
				bad := bytes.Clone(section)
				bad[i] ^= 0x41
				err := Records(buildRaw(batchSpec{codec: c}, recs, bad), func(Record) bool { return true })
				if err != nil && !errors.Is(err, ErrCorrupt) {
					t.Fatalf("flip at %d: %v does not wrap ErrCorrupt", i, err)
				}
			}
		})
	}
}

func TestRecordsDecompressionLimit(t *testing.T) {
	// 1 MiB of records against a 64 KiB limit, through the same path as
	// the real limit.
	recs := sampleRecords(200, 5000)
	for _, c := range allCodecs[1:] {
		t.Run(c.String(), func(t *testing.T) {
			raw := buildBatch(t, batchSpec{codec: c}, recs)
			err := records(raw, 64<<10, func(Record) bool { return true })
			if !errors.Is(err, ErrCorrupt) || !errors.Is(err, errTooLarge) {
				t.Fatalf("records = %v, want a too-large ErrCorrupt", err)
			}
			if err := records(raw, 2<<20, func(Record) bool { return true }); err != nil {
				t.Fatalf("under the limit: %v", err)
			}
		})
	}

	// A snappy block that claims 2 GiB must be refused from its header,
	// before anything is allocated for it.
	block := append(binary.AppendUvarint(nil, 1<<31-1), 0)
	framed := append(bytes.Clone(xerialMagic), 0, 0, 0, 1, 0, 0, 0, 1)
	framed = append(binary.BigEndian.AppendUint32(framed, uint32(len(block))), block...)
	for _, section := range [][]byte{block, framed} {
		raw := buildRaw(batchSpec{codec: tcSnappy}, make([]testRecord, 1), section)
		allocs := testing.AllocsPerRun(10, func() {
			if err := Records(raw, func(Record) bool { return true }); !errors.Is(err, errTooLarge) {
				t.Fatalf("snappy claiming 2 GiB: %v", err)
			}
		})
		if allocs > 10 {
			t.Fatalf("%v allocations refusing a snappy bomb", allocs)
		}
	}
}

// TestRecordsBomb feeds streams that inflate past MaxDecompressedSize
// through the exported API, where zstd's limit is the decoder's own.
func TestRecordsBomb(t *testing.T) {
	if testing.Short() {
		t.Skip("compresses 129 MiB per codec")
	}
	zeros := make([]byte, 1<<20)
	bomb := func(w io.WriteCloser, buf *bytes.Buffer) []byte {
		for range MaxDecompressedSize>>20 + 1 {
			if _, err := w.Write(zeros); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	cases := map[testCodec]func() []byte{
		tcGzip: func() []byte { var b bytes.Buffer; return bomb(gzip.NewWriter(&b), &b) },
		tcLZ4:  func() []byte { var b bytes.Buffer; return bomb(lz4.NewWriter(&b), &b) },
		tcZstd: func() []byte {
			var b bytes.Buffer
			w, err := zstd.NewWriter(&b, zstd.WithEncoderLevel(zstd.SpeedFastest))
			if err != nil {
				t.Fatal(err)
			}
			return bomb(w, &b)
		},
	}
	for c, mk := range cases {
		t.Run(c.String(), func(t *testing.T) {
			section := mk()
			raw := buildRaw(batchSpec{codec: c}, make([]testRecord, 1), section)
			err := Records(raw, func(Record) bool { return true })
			t.Logf("%d-byte bomb: %v", len(section), err)
			if !errors.Is(err, ErrCorrupt) || !errors.Is(err, errTooLarge) {
				t.Fatalf("%d-byte bomb: %v, want a too-large ErrCorrupt", len(section), err)
			}
		})
	}
}

// TestRecordsConcurrent runs every codec from many goroutines, for the
// race detector: the pools and the shared zstd decoder are process-wide.
func TestRecordsConcurrent(t *testing.T) {
	recs := sampleRecords(30, 300)
	var raws [][]byte
	for _, c := range allCodecs {
		raws = append(raws, buildBatch(t, batchSpec{codec: c}, recs))
	}
	errs := make(chan error, 8)
	for g := range 8 {
		go func() {
			var err error
			for i := range 50 {
				raw := raws[(g+i)%len(raws)]
				n := 0
				if err = Records(raw, func(r Record) bool {
					if !sameNullable(r.Value, recs[n].value) {
						err = fmt.Errorf("record %d value mismatch", n)
					}
					n++
					return err == nil
				}); err != nil {
					break
				}
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

func BenchmarkRecords(b *testing.B) {
	recs := sampleRecords(100, 500)
	for _, c := range allCodecs {
		raw := buildBatch(b, batchSpec{codec: c}, recs)
		b.Run(c.String(), func(b *testing.B) {
			b.SetBytes(int64(len(encodeRecords(recs))))
			b.ReportAllocs()
			for b.Loop() {
				if err := Records(raw, func(Record) bool { return true }); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
