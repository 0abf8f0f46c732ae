// Package batch reads and patches Kafka record batches (magic 2) in place.
//
// Weir stores batches exactly as producers sent them; the broker only
// rewrites the header fields that the CRC does not cover (baseOffset and
// partitionLeaderEpoch), plus, for topics with LogAppendTime, the timestamp
// type and max timestamp (then the CRC is recomputed, as Kafka does).
//
// Record batch v2 header (61 bytes, big-endian):
//
//	offset  size  field
//	0       8     baseOffset
//	8       4     batchLength (bytes after this field)
//	12      4     partitionLeaderEpoch
//	16      1     magic (2)
//	17      4     crc (CRC-32C of bytes 21..end)
//	21      2     attributes (bits 0-2 codec, 3 timestamp type, 4 transactional, 5 control)
//	23      4     lastOffsetDelta
//	27      8     baseTimestamp
//	35      8     maxTimestamp
//	43      8     producerId
//	51      2     producerEpoch
//	53      4     baseSequence
//	57      4     recordCount
//	61      ...   records
package batch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// HeaderSize is the size of a v2 record batch header.
const HeaderSize = 61

const (
	offBaseOffset   = 0
	offLength       = 8
	offLeaderEpoch  = 12
	offMagic        = 16
	offCRC          = 17
	offAttributes   = 21
	offLastDelta    = 23
	offBaseTs       = 27
	offMaxTs        = 35
	offProducerID   = 43
	offProducerEpoc = 51
	offBaseSequence = 53
	offRecordCount  = 57
)

// Attribute bits.
const (
	CodecMask        = 0x07
	LogAppendTimeBit = 0x08
	TransactionalBit = 0x10
	ControlBit       = 0x20
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// Errors, each mapping to the Kafka error code the broker returns.
var (
	// ErrCorrupt maps to CORRUPT_MESSAGE: sizes or CRC do not add up.
	ErrCorrupt = errors.New("corrupt record batch")
	// ErrInvalid maps to INVALID_RECORD: a well-formed batch Kafka refuses
	// (old magic, inconsistent counts, several batches where one is required).
	ErrInvalid = errors.New("invalid record batch")
)

// Header is the decoded fixed part of a record batch.
type Header struct {
	BaseOffset      int64
	Length          int32
	LeaderEpoch     int32
	Magic           int8
	CRC             uint32
	Attributes      int16
	LastOffsetDelta int32
	BaseTimestamp   int64
	MaxTimestamp    int64
	ProducerID      int64
	ProducerEpoch   int16
	BaseSequence    int32
	NumRecords      int32
}

// Size is the whole batch size in bytes.
func (h *Header) Size() int { return 12 + int(h.Length) }

// LastOffset is the offset of the batch's last record.
func (h *Header) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// Codec is the compression codec (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd).
func (h *Header) Codec() int { return int(h.Attributes & CodecMask) }

// IsControl reports whether this is a control batch (transaction marker).
func (h *Header) IsControl() bool { return h.Attributes&ControlBit != 0 }

// IsTransactional reports whether the batch belongs to a transaction.
func (h *Header) IsTransactional() bool { return h.Attributes&TransactionalBit != 0 }

// ParseHeader decodes the header at the start of b without checking the CRC.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < offMagic+1 {
		return Header{}, fmt.Errorf("%w: %d bytes is shorter than a batch header", ErrCorrupt, len(b))
	}
	var h Header
	h.BaseOffset = int64(binary.BigEndian.Uint64(b[offBaseOffset:]))
	h.Length = int32(binary.BigEndian.Uint32(b[offLength:]))
	h.LeaderEpoch = int32(binary.BigEndian.Uint32(b[offLeaderEpoch:]))
	h.Magic = int8(b[offMagic])
	if h.Magic != 2 {
		return h, fmt.Errorf("%w: magic %d, only magic 2 is supported", ErrInvalid, h.Magic)
	}
	if len(b) < HeaderSize {
		return h, fmt.Errorf("%w: %d bytes is shorter than a batch header", ErrCorrupt, len(b))
	}
	if h.Length < HeaderSize-12 {
		return h, fmt.Errorf("%w: batch length %d below header size", ErrCorrupt, h.Length)
	}
	h.CRC = binary.BigEndian.Uint32(b[offCRC:])
	h.Attributes = int16(binary.BigEndian.Uint16(b[offAttributes:]))
	h.LastOffsetDelta = int32(binary.BigEndian.Uint32(b[offLastDelta:]))
	h.BaseTimestamp = int64(binary.BigEndian.Uint64(b[offBaseTs:]))
	h.MaxTimestamp = int64(binary.BigEndian.Uint64(b[offMaxTs:]))
	h.ProducerID = int64(binary.BigEndian.Uint64(b[offProducerID:]))
	h.ProducerEpoch = int16(binary.BigEndian.Uint16(b[offProducerEpoc:]))
	h.BaseSequence = int32(binary.BigEndian.Uint32(b[offBaseSequence:]))
	h.NumRecords = int32(binary.BigEndian.Uint32(b[offRecordCount:]))
	return h, nil
}

// Validate checks one produced batch that must fill b exactly: framing,
// magic, CRC, and record counts as Kafka checks them on produce.
func Validate(b []byte) (Header, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return h, err
	}
	// int64 because 12+Length overflows int on 32-bit platforms.
	if size := int64(h.Length) + 12; size != int64(len(b)) {
		if size < int64(len(b)) {
			return h, fmt.Errorf("%w: produce partition data holds more than one record batch", ErrInvalid)
		}
		return h, fmt.Errorf("%w: batch length %d but %d bytes present", ErrCorrupt, h.Size(), len(b))
	}
	if got := crc32.Checksum(b[offAttributes:], crcTable); got != h.CRC {
		return h, fmt.Errorf("%w: crc %08x, computed %08x", ErrCorrupt, h.CRC, got)
	}
	if h.NumRecords <= 0 {
		return h, fmt.Errorf("%w: batch has %d records", ErrInvalid, h.NumRecords)
	}
	if h.LastOffsetDelta != h.NumRecords-1 {
		return h, fmt.Errorf("%w: lastOffsetDelta %d with %d records", ErrInvalid, h.LastOffsetDelta, h.NumRecords)
	}
	if h.IsControl() {
		return h, fmt.Errorf("%w: clients may not produce control batches", ErrInvalid)
	}
	return h, nil
}

// SetBaseOffset rewrites baseOffset; the CRC does not cover it.
func SetBaseOffset(b []byte, off int64) { binary.BigEndian.PutUint64(b[offBaseOffset:], uint64(off)) }

// SetLeaderEpoch rewrites partitionLeaderEpoch; the CRC does not cover it.
func SetLeaderEpoch(b []byte, epoch int32) {
	binary.BigEndian.PutUint32(b[offLeaderEpoch:], uint32(epoch))
}

// SetLogAppendTime marks the batch as LogAppendTime with maxTimestamp ts and
// recomputes the CRC, which covers both fields.
func SetLogAppendTime(b []byte, ts int64) {
	attrs := binary.BigEndian.Uint16(b[offAttributes:]) | LogAppendTimeBit
	binary.BigEndian.PutUint16(b[offAttributes:], attrs)
	binary.BigEndian.PutUint64(b[offMaxTs:], uint64(ts))
	binary.BigEndian.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:], crcTable))
}

// Iter walks concatenated batches (as stored in an object block or sent in
// a fetch response). It stops at the first incomplete batch.
type Iter struct {
	buf []byte
	pos int
	err error
}

// NewIter returns an iterator over the batches in buf.
func NewIter(buf []byte) *Iter { return &Iter{buf: buf} }

// Next returns the next batch's header and bytes; ok is false at the end or
// on malformed input (see Err).
func (it *Iter) Next() (h Header, raw []byte, ok bool) {
	if it.err != nil || it.pos >= len(it.buf) {
		return h, nil, false
	}
	h, err := ParseHeader(it.buf[it.pos:])
	if err != nil {
		it.err = err
		return h, nil, false
	}
	// int64 because 12+Length overflows int on 32-bit platforms, and a
	// negative end would panic in the slice expression below.
	if int64(h.Length)+12 > int64(len(it.buf)-it.pos) {
		it.err = fmt.Errorf("%w: batch at %d runs past the end", ErrCorrupt, it.pos)
		return h, nil, false
	}
	end := it.pos + h.Size()
	raw = it.buf[it.pos:end]
	it.pos = end
	return h, raw, true
}

// Pos is the byte position of the next batch.
func (it *Iter) Pos() int { return it.pos }

// Err is the reason iteration stopped early, if any.
func (it *Iter) Err() error { return it.err }
