package objfmt

import (
	"fmt"
	"math"
)

// Builder assembles one object at a time. The zero value is ready to use;
// NewBuilder preallocates. A Builder is not safe for concurrent use.
type Builder struct {
	hint    int
	buf     []byte // the data area so far; index and footer are added by Finish
	entries []Entry
	last    map[partitionKey]int64 // LastOffset of each partition's latest block
}

// NewBuilder returns a Builder that preallocates sizeHint bytes for each
// object, which saves copying when the hint covers the finished object (its
// Size, once every block is added).
func NewBuilder(sizeHint int) *Builder {
	return &Builder{hint: max(sizeHint, 0)}
}

// NewBuilderIn returns a Builder that builds the next object in buf's
// memory, from its start, overwriting what buf held; it allocates only if
// the object outgrows cap(buf). Callers reuse one buffer this way for a
// stream of objects once each finished object has been written out.
func NewBuilderIn(buf []byte) *Builder {
	return &Builder{buf: buf[:0]}
}

// Add appends one block: the record batches of one partition, which must be
// non-empty, ascending, and cover firstOffset..lastOffset (inclusive). The
// batches are copied into the object, so the caller may reuse them.
//
// Add is for callers that already hold well-formed batches, such as the
// uploader with batches it validated on produce; it panics if the arguments
// break the rules TryAdd checks, since building on would only produce an
// object that Parse rejects.
func (b *Builder) Add(topicID [16]byte, partition int32, firstOffset, lastOffset, maxTimestamp int64, batches [][]byte) {
	if err := b.TryAdd(topicID, partition, firstOffset, lastOffset, maxTimestamp, batches); err != nil {
		panic(err)
	}
}

// TryAdd is Add, returning an error instead of panicking when the block
// would be invalid: no batches, an empty batch, a negative partition or
// offset, lastOffset < firstOffset, fewer offsets than batches, offsets at or
// below those of an earlier block of the same partition, or an object
// with too many blocks for the index. On error the Builder is unchanged.
func (b *Builder) TryAdd(topicID [16]byte, partition int32, firstOffset, lastOffset, maxTimestamp int64, batches [][]byte) error {
	e := Entry{
		TopicID:      topicID,
		Partition:    partition,
		FirstOffset:  firstOffset,
		LastOffset:   lastOffset,
		MaxTimestamp: maxTimestamp,
	}
	if len(batches) == 0 {
		return fmt.Errorf("objfmt: block %s: no batches", e.describe())
	}
	if len(batches) > math.MaxInt32 {
		return fmt.Errorf("objfmt: block %s: %d batches, more than %d", e.describe(), len(batches), math.MaxInt32)
	}
	e.Batches = int32(len(batches))
	if err := e.checkFields(); err != nil {
		return fmt.Errorf("objfmt: block %s: %s", e.describe(), err)
	}
	if prev, ok := b.last[e.key()]; ok && e.FirstOffset <= prev {
		return fmt.Errorf("objfmt: block %s: first offset %d not above last offset %d of the partition's previous block",
			e.describe(), e.FirstOffset, prev)
	}
	if len(b.entries) >= maxEntries {
		return fmt.Errorf("objfmt: block %s: object already holds %d blocks, the most an index can describe", e.describe(), len(b.entries))
	}
	n := 0
	for i, batch := range batches {
		if len(batch) == 0 {
			return fmt.Errorf("objfmt: block %s: batch %d is empty", e.describe(), i)
		}
		n += len(batch)
	}

	if b.buf == nil && b.hint > 0 {
		b.buf = make([]byte, 0, max(b.hint, n))
	}
	pos := len(b.buf)
	for _, batch := range batches {
		b.buf = append(b.buf, batch...)
	}
	e.Pos = int64(pos)
	e.Len = int64(n)
	e.BlockCRC = checksum(b.buf[pos:])
	b.entries = append(b.entries, e)
	if b.last == nil {
		b.last = make(map[partitionKey]int64)
	}
	b.last[e.key()] = e.LastOffset
	return nil
}

// Len is the number of block bytes added so far: the size of the data area.
func (b *Builder) Len() int { return len(b.buf) }

// Size is the size of the object Finish would return now: Len, plus the
// index (a few bytes, and EntrySize per block), plus FooterSize.
func (b *Builder) Size() int { return len(b.buf) + indexLen(len(b.entries)) + FooterSize }

// Blocks is the number of blocks added so far.
func (b *Builder) Blocks() int { return len(b.entries) }

// Finish appends the index and footer and returns the object and its index
// entries, with Pos and Len filled. Both belong to the caller: the Builder
// keeps no reference to them and starts over, empty, for the next object.
// Finish on an empty Builder returns a valid object with no blocks.
func (b *Builder) Finish() (obj []byte, entries []Entry) {
	entries = b.entries
	obj = b.buf
	need := indexLen(len(entries)) + FooterSize
	if cap(obj)-len(obj) < need {
		grown := make([]byte, len(obj), len(obj)+need)
		copy(grown, obj)
		obj = grown
	}
	indexPos := len(obj)
	obj = appendIndex(obj, entries)
	obj = appendFooter(obj, int64(indexPos), obj[indexPos:])
	if entries == nil {
		entries = []Entry{}
	}

	b.buf = nil
	b.entries = nil
	clear(b.last)
	return obj, entries
}

// Reset discards everything added since the last Finish, keeping the
// Builder's memory for the next object.
func (b *Builder) Reset() {
	b.buf = b.buf[:0]
	b.entries = b.entries[:0]
	clear(b.last)
}
