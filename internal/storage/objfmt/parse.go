package objfmt

import (
	"encoding/binary"
	"fmt"
	"math"
)

// footer is a decoded, checked footer.
type footer struct {
	indexPos int64
	indexLen int64
	indexCRC uint32
}

// ParseFooter decodes and checks the footer, the last FooterSize bytes of an
// object (tail may be longer: only its last FooterSize bytes are read), and
// returns where the index is. The object must be exactly
// indexPos+indexLen+FooterSize bytes long; a caller that knows its size
// should check that.
func ParseFooter(tail []byte) (indexPos, indexLen int64, err error) {
	f, err := decodeFooter(tail)
	if err != nil {
		return 0, 0, err
	}
	return f.indexPos, f.indexLen, nil
}

func decodeFooter(tail []byte) (footer, error) {
	if len(tail) < FooterSize {
		return footer{}, fmt.Errorf("%w: footer: have %d bytes, need %d", ErrCorrupt, len(tail), FooterSize)
	}
	t := tail[len(tail)-FooterSize:]
	if string(t[ftMagic:]) != Magic {
		return footer{}, fmt.Errorf("%w: footer: magic %q, want %q (not a Weir data object, or truncated)", ErrCorrupt, t[ftMagic:], Magic)
	}
	if got, want := checksum(t[:ftFooterCRC]), binary.BigEndian.Uint32(t[ftFooterCRC:]); got != want {
		return footer{}, fmt.Errorf("%w: footer: crc %08x, footer says %08x", ErrCorrupt, got, want)
	}
	if v := binary.BigEndian.Uint16(t[ftVersion:]); v != Version {
		return footer{}, fmt.Errorf("%w: footer: version %d, this reader knows %d", ErrVersion, v, Version)
	}
	if r := binary.BigEndian.Uint16(t[ftReserved:]); r != 0 {
		return footer{}, fmt.Errorf("%w: footer: reserved bytes are %04x, want 0", ErrCorrupt, r)
	}
	pos := binary.BigEndian.Uint64(t[ftIndexPos:])
	n := binary.BigEndian.Uint32(t[ftIndexLen:])
	if n < minIndexLen {
		return footer{}, fmt.Errorf("%w: footer: index length %d, the smallest index is %d bytes", ErrCorrupt, n, minIndexLen)
	}
	if pos > math.MaxInt64-uint64(n)-FooterSize {
		return footer{}, fmt.Errorf("%w: footer: index position %d is past any possible object", ErrCorrupt, pos)
	}
	return footer{
		indexPos: int64(pos),
		indexLen: int64(n),
		indexCRC: binary.BigEndian.Uint32(t[ftIndexCRC:]),
	}, nil
}

// ParseIndex checks and decodes the index of an object, given the index
// bytes (obj[indexPos:indexPos+indexLen], as ParseFooter located them) and
// the footer they came with (the object's last FooterSize bytes, or more).
// The footer supplies the index length and CRC, so neither can be skipped,
// and the data area's end, so every entry is checked to lie inside it, back
// to back. Blocks themselves are not read: check each with VerifyBlock.
func ParseIndex(index, tail []byte) ([]Entry, error) {
	f, err := decodeFooter(tail)
	if err != nil {
		return nil, err
	}
	return parseIndex(index, f)
}

func parseIndex(index []byte, f footer) ([]Entry, error) {
	if int64(len(index)) != f.indexLen {
		return nil, fmt.Errorf("%w: index is %d bytes, footer says %d", ErrCorrupt, len(index), f.indexLen)
	}
	if got := checksum(index); got != f.indexCRC {
		return nil, fmt.Errorf("%w: index crc %08x, footer says %08x", ErrCorrupt, got, f.indexCRC)
	}
	return decodeIndex(index, f.indexPos)
}

// decodeIndex decodes index entries and checks them against a data area of
// dataEnd bytes. It does not check the index CRC.
func decodeIndex(index []byte, dataEnd int64) ([]Entry, error) {
	if len(index) < minIndexLen {
		return nil, fmt.Errorf("%w: index is %d bytes, the smallest index is %d", ErrCorrupt, len(index), minIndexLen)
	}
	if index[0] != indexVersion {
		return nil, fmt.Errorf("%w: index version %d, this reader knows %d", ErrVersion, index[0], indexVersion)
	}
	count, n := binary.Uvarint(index[1:])
	if n <= 0 {
		return nil, fmt.Errorf("%w: index entry count: bad uvarint", ErrCorrupt)
	}
	body := index[1+n:]
	// Bound the count by the bytes present before trusting it.
	if count > uint64(len(body)/EntrySize) || int(count)*EntrySize != len(body) {
		return nil, fmt.Errorf("%w: index holds %d bytes of entries, count %d needs %d",
			ErrCorrupt, len(body), count, mulSat(count, EntrySize))
	}
	if indexLen(int(count)) != len(index) {
		return nil, fmt.Errorf("%w: index entry count %d is not in its shortest encoding", ErrCorrupt, count)
	}

	entries := make([]Entry, count)
	last := make(map[partitionKey]int64, count)
	var end int64 // end of the previous block
	for i := range entries {
		e := &entries[i]
		b := body[i*EntrySize : (i+1)*EntrySize]
		copy(e.TopicID[:], b[enTopicID:])
		e.Partition = int32(binary.BigEndian.Uint32(b[enPartition:]))
		e.FirstOffset = int64(binary.BigEndian.Uint64(b[enFirstOffset:]))
		e.LastOffset = int64(binary.BigEndian.Uint64(b[enLastOffset:]))
		e.MaxTimestamp = int64(binary.BigEndian.Uint64(b[enMaxTimestamp:]))
		pos := binary.BigEndian.Uint64(b[enPos:])
		length := binary.BigEndian.Uint64(b[enLen:])
		batches := binary.BigEndian.Uint32(b[enBatches:])
		e.BlockCRC = binary.BigEndian.Uint32(b[enBlockCRC:])

		if batches == 0 || batches > math.MaxInt32 {
			return nil, fmt.Errorf("%w: index entry %d: %d batches, want 1..%d", ErrCorrupt, i, batches, math.MaxInt32)
		}
		e.Batches = int32(batches)
		if err := e.checkFields(); err != nil {
			return nil, fmt.Errorf("%w: index entry %d: %s", ErrCorrupt, i, err)
		}
		if pos != uint64(end) {
			what := "the previous block ends"
			if i == 0 {
				what = "the data area starts"
			}
			return nil, fmt.Errorf("%w: index entry %d: block starts at %d, %s at %d",
				ErrCorrupt, i, pos, what, end)
		}
		if length > uint64(dataEnd-end) {
			return nil, fmt.Errorf("%w: index entry %d: block [%d,%d) past data end %d",
				ErrCorrupt, i, pos, addSat(pos, length), dataEnd)
		}
		if length < uint64(batches) {
			return nil, fmt.Errorf("%w: index entry %d: %d batches in a %d-byte block", ErrCorrupt, i, batches, length)
		}
		e.Pos = int64(pos)
		e.Len = int64(length)
		end = e.End()

		if prev, ok := last[e.key()]; ok && e.FirstOffset <= prev {
			return nil, fmt.Errorf("%w: index entry %d: %s starts at offset %d, not above %d where its previous block ends",
				ErrCorrupt, i, e.describe(), e.FirstOffset, prev)
		}
		last[e.key()] = e.LastOffset
	}
	if end != dataEnd {
		return nil, fmt.Errorf("%w: blocks end at %d, data area ends at %d", ErrCorrupt, end, dataEnd)
	}
	return entries, nil
}

// Parse checks the structure of a whole object, its footer, index and the
// bounds of every block, and returns the index entries. It does not read the
// blocks: Verify does, or VerifyBlock one at a time.
func Parse(obj []byte) ([]Entry, error) {
	f, err := decodeFooter(obj)
	if err != nil {
		return nil, err
	}
	size := int64(len(obj))
	if want := f.indexPos + f.indexLen + FooterSize; want != size {
		return nil, fmt.Errorf("%w: object is %d bytes, footer says %d (index [%d,%d))",
			ErrCorrupt, size, want, f.indexPos, f.indexPos+f.indexLen)
	}
	return parseIndex(obj[f.indexPos:f.indexPos+f.indexLen], f)
}

// Verify is Parse, then VerifyBlock for every block: a full check of an
// object held in memory, as compaction does before rewriting it.
func Verify(obj []byte) ([]Entry, error) {
	entries, err := Parse(obj)
	if err != nil {
		return nil, err
	}
	for i, e := range entries {
		if err := VerifyBlock(e, obj[e.Pos:e.End()]); err != nil {
			return nil, fmt.Errorf("%w (index entry %d)", err, i)
		}
	}
	return entries, nil
}

// VerifyBlock checks block, the bytes fetched for e, against e's length and
// CRC.
func VerifyBlock(e Entry, block []byte) error {
	if int64(len(block)) != e.Len {
		return fmt.Errorf("%w: block %s: have %d bytes, index says %d", ErrCorrupt, e.describe(), len(block), e.Len)
	}
	if got := checksum(block); got != e.BlockCRC {
		return fmt.Errorf("%w: block %s at [%d,%d): crc %08x, index says %08x",
			ErrCorrupt, e.describe(), e.Pos, e.End(), got, e.BlockCRC)
	}
	return nil
}

// checkFields checks the fields that TryAdd and decodeIndex share.
func (e *Entry) checkFields() error {
	switch {
	case e.Partition < 0:
		return fmt.Errorf("negative partition %d", e.Partition)
	case e.FirstOffset < 0:
		return fmt.Errorf("negative first offset %d", e.FirstOffset)
	case e.LastOffset < e.FirstOffset:
		return fmt.Errorf("last offset %d below first offset %d", e.LastOffset, e.FirstOffset)
	case e.LastOffset-e.FirstOffset < int64(e.Batches)-1:
		return fmt.Errorf("%d batches cannot fit in offsets %d..%d", e.Batches, e.FirstOffset, e.LastOffset)
	}
	return nil
}

// describe names the block for error messages.
func (e *Entry) describe() string {
	return fmt.Sprintf("topic %x partition %d offsets %d..%d", e.TopicID, e.Partition, e.FirstOffset, e.LastOffset)
}

func addSat(a, b uint64) uint64 {
	if a > math.MaxUint64-b {
		return math.MaxUint64
	}
	return a + b
}

func mulSat(a, b uint64) uint64 {
	if b != 0 && a > math.MaxUint64/b {
		return math.MaxUint64
	}
	return a * b
}
