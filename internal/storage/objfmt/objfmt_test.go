package objfmt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// block is the input of one Add.
type block struct {
	topic     [16]byte
	partition int32
	first     int64
	last      int64
	maxTS     int64
	batches   [][]byte
}

func topicID(n byte) [16]byte { return [16]byte{0: 0xab, 15: n} }

// fill returns n bytes derived from seed.
func fill(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// randomBlocks returns n blocks over a few partitions, each partition's
// blocks ascending.
func randomBlocks(n int, seed uint64) []block {
	r := rand.New(rand.NewPCG(seed, 2))
	next := map[partitionKey]int64{}
	var blocks []block
	for i := range n {
		k := partitionKey{topicID(byte(r.IntN(3))), int32(r.IntN(5))}
		nb := 1 + r.IntN(4)
		var batches [][]byte
		for j := range nb {
			batches = append(batches, fill(1+r.IntN(200), seed*1000+uint64(i*10+j)))
		}
		first := next[k] + int64(r.IntN(3))
		last := first + int64(nb-1) + int64(r.IntN(10))
		next[k] = last + 1
		blocks = append(blocks, block{k.topicID, k.partition, first, last, r.Int64N(1e12) - 1, batches})
	}
	return blocks
}

func build(t testing.TB, b *Builder, blocks []block) ([]byte, []Entry) {
	t.Helper()
	for _, bl := range blocks {
		if err := b.TryAdd(bl.topic, bl.partition, bl.first, bl.last, bl.maxTS, bl.batches); err != nil {
			t.Fatal(err)
		}
	}
	return b.Finish()
}

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name   string
		blocks []block
	}{
		{"empty", nil},
		{"one", []block{{topicID(1), 0, 0, 0, -1, [][]byte{[]byte("x")}}}},
		{"two partitions", []block{
			{topicID(1), 0, 100, 104, 1700000000123, [][]byte{fill(300, 1), fill(212, 2)}},
			{topicID(2), 3, 7, 7, 1700000000456, [][]byte{fill(130, 3)}},
		}},
		{"one partition, two blocks", []block{
			{topicID(1), 2, 10, 19, 5, [][]byte{fill(10, 4)}},
			{topicID(1), 2, 25, 30, 6, [][]byte{fill(10, 5), fill(1, 6)}},
		}},
		{"extreme values", []block{
			{[16]byte{}, math.MaxInt32, math.MaxInt64 - 1, math.MaxInt64, math.MinInt64, [][]byte{{0}, {1}}},
			{topicID(255), 0, 0, math.MaxInt64, math.MaxInt64, [][]byte{{2}}},
		}},
		{"many", randomBlocks(300, 7)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, b := range []*Builder{new(Builder), NewBuilder(1 << 10), NewBuilder(1 << 20)} {
				for _, bl := range tt.blocks {
					b.Add(bl.topic, bl.partition, bl.first, bl.last, bl.maxTS, bl.batches)
				}
				size := b.Size()
				obj, entries := b.Finish()
				if len(obj) != size {
					t.Fatalf("Size %d before Finish, object is %d bytes", size, len(obj))
				}
				if b.Size() != MinObjectSize {
					t.Fatalf("Size %d after Finish, want %d", b.Size(), MinObjectSize)
				}
				checkRoundTrip(t, obj, entries, tt.blocks)
			}
		})
	}
}

func checkRoundTrip(t *testing.T, obj []byte, entries []Entry, blocks []block) {
	t.Helper()
	if len(entries) != len(blocks) {
		t.Fatalf("Finish returned %d entries, want %d", len(entries), len(blocks))
	}
	var pos int64
	for i, e := range entries {
		bl := blocks[i]
		data := bytes.Join(bl.batches, nil)
		want := Entry{
			TopicID: bl.topic, Partition: bl.partition,
			FirstOffset: bl.first, LastOffset: bl.last, MaxTimestamp: bl.maxTS,
			Pos: pos, Len: int64(len(data)), Batches: int32(len(bl.batches)),
			BlockCRC: checksum(data),
		}
		if e != want {
			t.Fatalf("entry %d = %+v, want %+v", i, e, want)
		}
		if !bytes.Equal(obj[e.Pos:e.End()], data) {
			t.Fatalf("entry %d: block bytes differ from the batches", i)
		}
		pos = e.End()
	}

	got, err := Verify(obj)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !equalEntries(got, entries) {
		t.Fatalf("Verify entries differ:\n got %+v\nwant %+v", got, entries)
	}

	// The ranged reader's path: footer, then index, then blocks.
	tail := obj[len(obj)-FooterSize:]
	indexPos, indexLen, err := ParseFooter(tail)
	if err != nil {
		t.Fatalf("ParseFooter: %v", err)
	}
	if indexPos != pos || indexPos+indexLen+FooterSize != int64(len(obj)) {
		t.Fatalf("ParseFooter = %d, %d for a %d-byte object with %d data bytes", indexPos, indexLen, len(obj), pos)
	}
	got, err = ParseIndex(obj[indexPos:indexPos+indexLen], tail)
	if err != nil {
		t.Fatalf("ParseIndex: %v", err)
	}
	if !equalEntries(got, entries) {
		t.Fatalf("ParseIndex entries differ")
	}
	for _, e := range got {
		if err := VerifyBlock(e, obj[e.Pos:e.End()]); err != nil {
			t.Fatal(err)
		}
	}
	// A longer tail works the same.
	if _, _, err := ParseFooter(obj); err != nil {
		t.Fatalf("ParseFooter(whole object): %v", err)
	}
}

func equalEntries(a, b []Entry) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestBuilderReuse(t *testing.T) {
	b := NewBuilder(4096)
	blocks1 := randomBlocks(5, 1)
	blocks2 := randomBlocks(7, 2)
	obj1, entries1 := build(t, b, blocks1)
	keep := bytes.Clone(obj1)
	if b.Len() != 0 || b.Blocks() != 0 {
		t.Fatalf("after Finish: Len %d, Blocks %d, want 0", b.Len(), b.Blocks())
	}
	// The second object must not depend on the first, nor touch its bytes,
	// even when it reuses offsets of the same partitions.
	obj2, entries2 := build(t, b, blocks2)
	if !bytes.Equal(obj1, keep) {
		t.Fatal("building a second object changed the first")
	}
	checkRoundTrip(t, obj1, entries1, blocks1)
	checkRoundTrip(t, obj2, entries2, blocks2)

	// Reset drops a half-built object.
	b.Add(topicID(9), 0, 0, 0, 0, [][]byte{fill(100, 9)})
	if b.Len() != 100 || b.Blocks() != 1 {
		t.Fatalf("Len %d, Blocks %d, want 100, 1", b.Len(), b.Blocks())
	}
	b.Reset()
	if b.Len() != 0 || b.Blocks() != 0 {
		t.Fatalf("after Reset: Len %d, Blocks %d, want 0", b.Len(), b.Blocks())
	}
	obj3, entries3 := build(t, b, blocks1)
	checkRoundTrip(t, obj3, entries3, blocks1)
	if !bytes.Equal(obj3, obj1) {
		t.Fatal("same blocks after Reset built a different object")
	}
}

// NewBuilderIn builds in the given memory while it is large enough, and
// an object built there again is the same as one built from scratch.
func TestBuilderIn(t *testing.T) {
	blocks1 := randomBlocks(5, 1)
	blocks2 := randomBlocks(7, 2)
	want1, _ := build(t, NewBuilder(0), blocks1)
	want2, _ := build(t, NewBuilder(0), blocks2)

	buf := bytes.Repeat([]byte{0xee}, max(len(want1), len(want2)))
	obj1, entries1 := build(t, NewBuilderIn(buf), blocks1)
	if &obj1[0] != &buf[0] || !bytes.Equal(obj1, want1) {
		t.Fatal("first object not built in the given buffer, or not the same object")
	}
	checkRoundTrip(t, obj1, entries1, blocks1)
	obj2, entries2 := build(t, NewBuilderIn(obj1[:0]), blocks2)
	if &obj2[0] != &buf[0] || !bytes.Equal(obj2, want2) {
		t.Fatal("second object not built in the reused buffer, or not the same object")
	}
	checkRoundTrip(t, obj2, entries2, blocks2)

	// Too small: the object moves to memory of its own.
	small := make([]byte, 0, 10)
	obj3, entries3 := build(t, NewBuilderIn(small), blocks1)
	if !bytes.Equal(obj3, want1) {
		t.Fatal("object outgrowing its buffer differs")
	}
	checkRoundTrip(t, obj3, entries3, blocks1)
}

func TestBuilderCopiesBatches(t *testing.T) {
	batch := []byte("hello")
	var b Builder
	b.Add(topicID(1), 0, 0, 0, 0, [][]byte{batch})
	copy(batch, "xxxxx")
	obj, _ := b.Finish()
	if !bytes.HasPrefix(obj, []byte("hello")) {
		t.Fatal("Add did not copy the batch")
	}
}

func TestBuilderHintAvoidsCopy(t *testing.T) {
	blocks := randomBlocks(20, 3)
	allocs := testing.AllocsPerRun(10, func() {
		b := NewBuilder(1 << 16)
		for _, bl := range blocks {
			b.Add(bl.topic, bl.partition, bl.first, bl.last, bl.maxTS, bl.batches)
		}
		b.Finish()
	})
	// The Builder, its buffer, the entries (growing) and the partition map.
	if allocs > 15 {
		t.Fatalf("%v allocations per object, want few", allocs)
	}
}

func TestTryAddInvalid(t *testing.T) {
	one := [][]byte{{1}}
	tests := []struct {
		name    string
		prior   []block
		add     block
		wantErr string
	}{
		{"no batches", nil, block{topicID(1), 0, 0, 0, 0, nil}, "no batches"},
		{"empty batch", nil, block{topicID(1), 0, 0, 1, 0, [][]byte{{1}, {}}}, "batch 1 is empty"},
		{"negative partition", nil, block{topicID(1), -1, 0, 0, 0, one}, "negative partition"},
		{"negative offset", nil, block{topicID(1), 0, -1, 0, 0, one}, "negative first offset"},
		{"last below first", nil, block{topicID(1), 0, 5, 4, 0, one}, "last offset 4 below first offset 5"},
		{"more batches than offsets", nil, block{topicID(1), 0, 5, 6, 0, [][]byte{{1}, {2}, {3}}}, "3 batches cannot fit"},
		{"overlaps previous block", []block{{topicID(1), 0, 0, 10, 0, one}},
			block{topicID(1), 0, 10, 12, 0, one}, "not above last offset 10"},
		{"below previous block", []block{{topicID(1), 0, 20, 30, 0, one}},
			block{topicID(1), 0, 0, 5, 0, one}, "not above last offset 30"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setup := func() *Builder {
				b := new(Builder)
				for _, bl := range tt.prior {
					b.Add(bl.topic, bl.partition, bl.first, bl.last, bl.maxTS, bl.batches)
				}
				return b
			}
			b := setup()
			beforeLen, beforeBlocks := b.Len(), b.Blocks()
			a := tt.add
			err := b.TryAdd(a.topic, a.partition, a.first, a.last, a.maxTS, a.batches)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("TryAdd error %v, want one containing %q", err, tt.wantErr)
			}
			if b.Len() != beforeLen || b.Blocks() != beforeBlocks {
				t.Fatal("failed TryAdd changed the Builder")
			}
			if _, err := Verify(must(b.Finish())); err != nil {
				t.Fatalf("object after a failed TryAdd: %v", err)
			}
			defer func() {
				if recover() == nil {
					t.Fatal("Add did not panic")
				}
			}()
			setup().Add(a.topic, a.partition, a.first, a.last, a.maxTS, a.batches)
		})
	}
}

func must(obj []byte, _ []Entry) []byte { return obj }

// rewrite returns obj with its index replaced by the encoding of entries
// (which may be invalid), and a footer that matches, so that only the
// entries are wrong.
func rewrite(obj []byte, edit func([]Entry)) []byte {
	entries, err := Parse(obj)
	if err != nil {
		panic(err)
	}
	dataEnd := entries[len(entries)-1].End()
	edit(entries)
	out := bytes.Clone(obj[:dataEnd])
	out = appendIndex(out, entries)
	return appendFooter(out, dataEnd, out[dataEnd:])
}

// withIndex returns obj with its index bytes replaced by index (and a
// matching footer).
func withIndex(obj []byte, edit func(index []byte) []byte) []byte {
	pos, n, err := ParseFooter(obj)
	if err != nil {
		panic(err)
	}
	index := edit(bytes.Clone(obj[pos : pos+n]))
	out := append(bytes.Clone(obj[:pos]), index...)
	return appendFooter(out, pos, index)
}

// withFooter returns obj with its footer edited; fixCRC recomputes the
// footer CRC afterwards.
func withFooter(obj []byte, fixCRC bool, edit func(f []byte)) []byte {
	out := bytes.Clone(obj)
	f := out[len(out)-FooterSize:]
	edit(f)
	if fixCRC {
		binary.BigEndian.PutUint32(f[ftFooterCRC:], checksum(f[:ftFooterCRC]))
	}
	return out
}

func TestParseCorrupt(t *testing.T) {
	base, _ := build(t, new(Builder), []block{
		{topicID(1), 0, 100, 104, 1, [][]byte{fill(300, 1), fill(212, 2)}},
		{topicID(2), 3, 7, 7, 2, [][]byte{fill(130, 3)}},
		{topicID(1), 0, 200, 299, 3, [][]byte{fill(50, 4)}},
	})
	dataEnd := int64(300 + 212 + 130 + 50)

	tests := []struct {
		name     string
		obj      []byte
		sentinel error
		wantErr  string
	}{
		{"empty", nil, ErrCorrupt, "have 0 bytes, need 32"},
		{"shorter than footer", base[len(base)-FooterSize+1:], ErrCorrupt, "have 31 bytes"},
		{"bad magic", withFooter(base, false, func(f []byte) { f[FooterSize-1] = 2 }), ErrCorrupt, "magic"},
		{"no magic", base[:len(base)-1], ErrCorrupt, "magic"},
		{"footer crc", withFooter(base, false, func(f []byte) { f[ftIndexPos+7]++ }), ErrCorrupt, "footer: crc"},
		{"reserved set", withFooter(base, true, func(f []byte) { f[ftReserved+1] = 1 }), ErrCorrupt, "reserved"},
		{"newer version", withFooter(base, true, func(f []byte) { f[ftVersion+1] = 2 }), ErrVersion, "footer: version 2"},
		{"index too short", withFooter(base, true, func(f []byte) {
			binary.BigEndian.PutUint32(f[ftIndexLen:], 1)
		}), ErrCorrupt, "index length 1"},
		{"index position overflows", withFooter(base, true, func(f []byte) {
			binary.BigEndian.PutUint64(f[ftIndexPos:], math.MaxUint64-10)
		}), ErrCorrupt, "past any possible object"},
		{"object truncated at front", base[1:], ErrCorrupt, fmt.Sprintf("object is %d bytes, footer says %d", len(base)-1, len(base))},
		{"object with extra prefix", append([]byte{0}, base...), ErrCorrupt, "footer says"},
		{"index crc", func() []byte {
			o := bytes.Clone(base)
			o[dataEnd+5]++
			return o
		}(), ErrCorrupt, "index crc"},
		{"truncated index", withIndex(base, func(ix []byte) []byte { return ix[:len(ix)-10] }),
			ErrCorrupt, "index holds 194 bytes of entries, count 3 needs 204"},
		{"index with extra bytes", withIndex(base, func(ix []byte) []byte { return append(ix, 0) }),
			ErrCorrupt, "index holds 205 bytes of entries, count 3 needs 204"},
		{"lying count", withIndex(base, func(ix []byte) []byte {
			return append(binary.AppendUvarint([]byte{indexVersion}, 1<<60), ix[2:]...)
		}), ErrCorrupt, "count 1152921504606846976 needs 18446744073709551615"},
		{"count not shortest", withIndex(base, func(ix []byte) []byte {
			return append([]byte{indexVersion, 0x83, 0x00}, ix[2:]...)
		}), ErrCorrupt, "shortest encoding"},
		{"count overflowing uvarint", withIndex(base, func(ix []byte) []byte {
			return append([]byte{indexVersion}, bytes.Repeat([]byte{0xff}, 11)...)
		}), ErrCorrupt, "bad uvarint"},
		{"index version", withIndex(base, func(ix []byte) []byte { ix[0] = 2; return ix }), ErrVersion, "index version 2"},
		{"entry past data end", rewrite(base, func(e []Entry) { e[2].Len += 10 }),
			ErrCorrupt, fmt.Sprintf("index entry 2: block [642,702) past data end %d", dataEnd)},
		{"entry length overflows", rewrite(base, func(e []Entry) { e[0].Len = -1 }),
			ErrCorrupt, "index entry 0: block [0,18446744073709551615) past data end"},
		{"first entry not at 0", rewrite(base, func(e []Entry) { e[0].Pos = 1; e[0].Len-- }),
			ErrCorrupt, "index entry 0: block starts at 1, the data area starts at 0"},
		{"gap", rewrite(base, func(e []Entry) { e[1].Pos++; e[1].Len-- }),
			ErrCorrupt, "index entry 1: block starts at 513, the previous block ends at 512"},
		{"overlap", rewrite(base, func(e []Entry) { e[1].Pos--; e[1].Len++ }),
			ErrCorrupt, "index entry 1: block starts at 511"},
		{"huge position", rewrite(base, func(e []Entry) { e[1].Pos = math.MinInt64 }),
			ErrCorrupt, "index entry 1: block starts at 9223372036854775808"},
		{"data not covered", rewrite(base, func(e []Entry) { e[2].Len-- }),
			ErrCorrupt, fmt.Sprintf("blocks end at %d, data area ends at %d", dataEnd-1, dataEnd)},
		{"no batches", rewrite(base, func(e []Entry) { e[1].Batches = 0 }),
			ErrCorrupt, "index entry 1: 0 batches"},
		{"batches above int32", rewrite(base, func(e []Entry) { e[1].Batches = -1 }),
			ErrCorrupt, "index entry 1: 4294967295 batches"},
		{"more batches than bytes", rewrite(base, func(e []Entry) { e[2].Batches = 51 }),
			ErrCorrupt, "index entry 2: 51 batches in a 50-byte block"},
		{"more batches than offsets", rewrite(base, func(e []Entry) { e[0].Batches = 6 }),
			ErrCorrupt, "index entry 0: 6 batches cannot fit in offsets 100..104"},
		{"negative partition", rewrite(base, func(e []Entry) { e[0].Partition = -1 }),
			ErrCorrupt, "index entry 0: negative partition"},
		{"negative offset", rewrite(base, func(e []Entry) { e[1].FirstOffset = -7 }),
			ErrCorrupt, "index entry 1: negative first offset"},
		{"last below first", rewrite(base, func(e []Entry) { e[1].LastOffset = 6 }),
			ErrCorrupt, "index entry 1: last offset 6 below first offset 7"},
		{"partition blocks overlap", rewrite(base, func(e []Entry) { e[2].FirstOffset = 104 }),
			ErrCorrupt, "index entry 2: topic ab000000000000000000000000000001 partition 0 offsets 104..299 starts at offset 104, not above 104"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			entries, err := Parse(tt.obj)
			if err == nil {
				t.Fatalf("Parse accepted it: %+v", entries)
			}
			if !errors.Is(err, tt.sentinel) {
				t.Fatalf("error %q does not wrap %v", err, tt.sentinel)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %q, want one containing %q", err, tt.wantErr)
			}
			if entries != nil {
				t.Fatal("entries returned with an error")
			}
			if _, err := Verify(tt.obj); err == nil {
				t.Fatal("Verify accepted what Parse rejects")
			}
		})
	}
}

func TestParseIndexChecksLength(t *testing.T) {
	obj, _ := build(t, new(Builder), randomBlocks(4, 1))
	tail := obj[len(obj)-FooterSize:]
	pos, n, err := ParseFooter(tail)
	if err != nil {
		t.Fatal(err)
	}
	for _, ix := range [][]byte{obj[pos : pos+n-1], obj[pos-1 : pos+n], obj[pos : pos+n+1]} {
		if _, err := ParseIndex(ix, tail); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("ParseIndex of %d bytes (want %d): error %v", len(ix), n, err)
		}
	}
	if _, err := ParseIndex(obj[pos:pos+n], tail[1:]); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("ParseIndex with a short footer: error %v", err)
	}
}

func TestVerifyBlock(t *testing.T) {
	obj, entries := build(t, new(Builder), randomBlocks(3, 5))
	e := entries[1]
	block := bytes.Clone(obj[e.Pos:e.End()])
	if err := VerifyBlock(e, block); err != nil {
		t.Fatal(err)
	}
	block[len(block)/2] ^= 0x40
	err := VerifyBlock(e, block)
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "crc") {
		t.Fatalf("flipped bit: error %v", err)
	}
	err = VerifyBlock(e, block[1:])
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), fmt.Sprintf("have %d bytes, index says %d", e.Len-1, e.Len)) {
		t.Fatalf("short block: error %v", err)
	}

	// Parse does not read blocks; Verify does.
	bad := bytes.Clone(obj)
	bad[e.Pos] ^= 1
	if _, err := Parse(bad); err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if _, err := Verify(bad); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "index entry 1") {
		t.Fatalf("Verify: error %v", err)
	}
}

func BenchmarkBuilder(b *testing.B) {
	const (
		partitions = 64
		perBlock   = 16
		batchSize  = 1 << 10
	)
	batch := fill(batchSize, 1)
	batches := make([][]byte, perBlock)
	for i := range batches {
		batches[i] = batch
	}
	size := partitions * perBlock * batchSize
	for _, bc := range []struct {
		name string
		hint int
	}{
		{"zero", 0},
		{"hint", size + indexLen(partitions) + FooterSize}, // what Size would say
	} {
		b.Run(bc.name, func(b *testing.B) {
			bld := NewBuilder(bc.hint)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				for p := range partitions {
					bld.Add(topicID(1), int32(p), 0, perBlock-1, 0, batches)
				}
				obj, _ := bld.Finish()
				if len(obj) < size {
					b.Fatal("short object")
				}
			}
		})
	}
}

func BenchmarkParse(b *testing.B) {
	blocks := make([]block, 1000)
	for i := range blocks {
		blocks[i] = block{topicID(byte(i)), int32(i), 0, 0, 0, [][]byte{{1}}}
	}
	obj, _ := build(b, new(Builder), blocks)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(obj); err != nil {
			b.Fatal(err)
		}
	}
}
