package objfmt

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
)

const (
	// FooterSize is the size of the footer at the end of every object.
	FooterSize = 32

	// Version is the format version this package writes and reads.
	Version = 1

	// Magic ends every object.
	Magic = "WEIROBJ\x01"

	// EntrySize is the encoded size of one index entry.
	EntrySize = 68

	// MinObjectSize is the size of an object with no blocks.
	MinObjectSize = minIndexLen + FooterSize

	indexVersion = 1
	minIndexLen  = 2 // version byte and a zero count

	// maxEntries keeps the index length within the footer's uint32.
	maxEntries = (math.MaxUint32 - 1 - binary.MaxVarintLen64) / EntrySize
)

// Footer field offsets.
const (
	ftIndexPos  = 0
	ftIndexLen  = 8
	ftIndexCRC  = 12
	ftVersion   = 16
	ftReserved  = 18
	ftFooterCRC = 20
	ftMagic     = 24
)

// Entry field offsets.
const (
	enTopicID      = 0
	enPartition    = 16
	enFirstOffset  = 20
	enLastOffset   = 28
	enMaxTimestamp = 36
	enPos          = 44
	enLen          = 52
	enBatches      = 60
	enBlockCRC     = 64
)

var (
	// ErrCorrupt is wrapped by every error about malformed bytes: bad magic,
	// a checksum mismatch, a truncated or inconsistent index or footer.
	ErrCorrupt = errors.New("objfmt: corrupt object")

	// ErrVersion is wrapped by errors about a well-formed object (or index)
	// of a version this package does not know, such as one written by a newer
	// broker. It is not an ErrCorrupt: the object is not to be quarantined.
	ErrVersion = errors.New("objfmt: unsupported format version")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func checksum(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// Entry describes one block: where it is in the object and what it holds.
type Entry struct {
	TopicID      [16]byte
	Partition    int32
	FirstOffset  int64 // base offset of the first batch
	LastOffset   int64 // last offset of the last batch, inclusive
	MaxTimestamp int64 // largest MaxTimestamp of the batches
	Pos          int64 // start of the block in the object
	Len          int64 // length of the block in bytes
	Batches      int32 // number of record batches in the block
	BlockCRC     uint32
}

// End is the position just past the block: the block is obj[e.Pos:e.End()].
func (e Entry) End() int64 { return e.Pos + e.Len }

type partitionKey struct {
	topicID   [16]byte
	partition int32
}

func (e *Entry) key() partitionKey { return partitionKey{e.TopicID, e.Partition} }

// indexLen is the encoded length of an index of n entries.
func indexLen(n int) int {
	var tmp [binary.MaxVarintLen64]byte
	return 1 + binary.PutUvarint(tmp[:], uint64(n)) + n*EntrySize
}

// appendIndex appends the encoded index of entries to dst.
func appendIndex(dst []byte, entries []Entry) []byte {
	dst = append(dst, indexVersion)
	dst = binary.AppendUvarint(dst, uint64(len(entries)))
	for i := range entries {
		e := &entries[i]
		dst = append(dst, e.TopicID[:]...)
		dst = binary.BigEndian.AppendUint32(dst, uint32(e.Partition))
		dst = binary.BigEndian.AppendUint64(dst, uint64(e.FirstOffset))
		dst = binary.BigEndian.AppendUint64(dst, uint64(e.LastOffset))
		dst = binary.BigEndian.AppendUint64(dst, uint64(e.MaxTimestamp))
		dst = binary.BigEndian.AppendUint64(dst, uint64(e.Pos))
		dst = binary.BigEndian.AppendUint64(dst, uint64(e.Len))
		dst = binary.BigEndian.AppendUint32(dst, uint32(e.Batches))
		dst = binary.BigEndian.AppendUint32(dst, e.BlockCRC)
	}
	return dst
}

// appendFooter appends the footer for an index of the given position and
// bytes to dst.
func appendFooter(dst []byte, indexPos int64, index []byte) []byte {
	var f [FooterSize]byte
	binary.BigEndian.PutUint64(f[ftIndexPos:], uint64(indexPos))
	binary.BigEndian.PutUint32(f[ftIndexLen:], uint32(len(index)))
	binary.BigEndian.PutUint32(f[ftIndexCRC:], checksum(index))
	binary.BigEndian.PutUint16(f[ftVersion:], Version)
	binary.BigEndian.PutUint32(f[ftFooterCRC:], checksum(f[:ftFooterCRC]))
	copy(f[ftMagic:], Magic)
	return append(dst, f[:]...)
}
