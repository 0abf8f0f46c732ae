package objfmt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

func FuzzParse(f *testing.F) {
	for i, blocks := range [][]block{
		nil,
		{{topicID(1), 0, 0, 0, -1, [][]byte{[]byte("x")}}},
		{
			{topicID(1), 0, 100, 104, 1, [][]byte{fill(30, 1), fill(21, 2)}},
			{topicID(2), 3, 7, 7, 2, [][]byte{fill(13, 3)}},
			{topicID(1), 0, 200, 299, 3, [][]byte{fill(5, 4)}},
		},
		randomBlocks(8, 3),
	} {
		obj, _ := build(f, new(Builder), blocks)
		f.Add(obj)
		if i == 2 {
			f.Add(obj[1:])
			f.Add(obj[:len(obj)-1])
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkParse(t, data)
		// Most mutations break a checksum; fix them up so that the
		// checks behind the checksums get exercised too.
		checkParse(t, fixChecksums(data))
	})
}

// checkParse asserts that Parse either rejects obj with a sentinel error or
// accepts an object that is exactly what this package would write.
func checkParse(t *testing.T, obj []byte) {
	entries, err := Parse(obj)
	if err != nil {
		if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrVersion) {
			t.Fatalf("error %q wraps neither ErrCorrupt nor ErrVersion", err)
		}
		if entries != nil {
			t.Fatal("entries returned with an error")
		}
		return
	}

	// The ranged path agrees.
	tail := obj[len(obj)-FooterSize:]
	pos, n, err := ParseFooter(tail)
	if err != nil {
		t.Fatalf("Parse accepted, ParseFooter: %v", err)
	}
	ranged, err := ParseIndex(obj[pos:pos+n], tail)
	if err != nil {
		t.Fatalf("Parse accepted, ParseIndex: %v", err)
	}
	if !equalEntries(ranged, entries) {
		t.Fatal("Parse and ParseIndex disagree")
	}

	// The encoding is canonical: re-encoding the entries gives the same
	// bytes.
	again := appendIndex(bytes.Clone(obj[:pos]), entries)
	again = appendFooter(again, pos, again[pos:])
	if !bytes.Equal(again, obj) {
		t.Fatalf("re-encoded object differs:\n got %x\nwant %x", again, obj)
	}

	// A Builder given the same blocks builds an object Verify accepts, with
	// the same entries but for block CRCs, which Parse does not check. If
	// the input passes Verify, the two objects are identical.
	var b Builder
	for _, e := range entries {
		block := obj[e.Pos:e.End()]
		// The format does not record batch boundaries: any split into
		// Batches non-empty pieces is the same block.
		batches := make([][]byte, e.Batches)
		for i := range batches[:len(batches)-1] {
			batches[i] = block[i : i+1]
		}
		batches[len(batches)-1] = block[len(batches)-1:]
		if err := b.TryAdd(e.TopicID, e.Partition, e.FirstOffset, e.LastOffset, e.MaxTimestamp, batches); err != nil {
			t.Fatalf("Parse accepted an entry the Builder refuses: %v", err)
		}
	}
	rebuilt, built := b.Finish()
	if _, err := Verify(rebuilt); err != nil {
		t.Fatalf("rebuilt object: %v", err)
	}
	if len(built) != len(entries) {
		t.Fatalf("rebuilt %d entries, parsed %d", len(built), len(entries))
	}
	for i := range built {
		e := entries[i]
		e.BlockCRC = built[i].BlockCRC
		if e != built[i] {
			t.Fatalf("entry %d: parsed %+v, rebuilt %+v", i, entries[i], built[i])
		}
	}
	if _, err := Verify(obj); err == nil && !bytes.Equal(rebuilt, obj) {
		t.Fatal("rebuilt object differs from a verified one")
	}
}

// fixChecksums returns a copy of obj whose index CRC (if the footer locates
// an index) and footer CRC are correct.
func fixChecksums(obj []byte) []byte {
	if len(obj) < FooterSize {
		return obj
	}
	obj = bytes.Clone(obj)
	size := uint64(len(obj) - FooterSize)
	f := obj[size:]
	pos := binary.BigEndian.Uint64(f[ftIndexPos:])
	n := uint64(binary.BigEndian.Uint32(f[ftIndexLen:]))
	if pos <= size && n <= size-pos {
		binary.BigEndian.PutUint32(f[ftIndexCRC:], checksum(obj[pos:pos+n]))
	}
	binary.BigEndian.PutUint32(f[ftFooterCRC:], checksum(f[:ftFooterCRC]))
	return obj
}
