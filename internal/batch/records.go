package batch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// MaxDecompressedSize bounds the decompressed records section of one batch.
// A few compressed kilobytes can inflate to gigabytes, so anything that
// would grow past this is rejected as corrupt before it can exhaust memory.
// It is far above any sane max.message.bytes.
const MaxDecompressedSize = 128 << 20

// Compression codecs, as stored in the attributes' low bits.
const (
	codecNone   = 0
	codecGzip   = 1
	codecSnappy = 2
	codecLZ4    = 3
	codecZstd   = 4
)

// Record is one decoded record of a batch.
type Record struct {
	Offset    int64
	Timestamp int64
	Key       []byte // nil for a null key
	Value     []byte // nil for a null value (a tombstone)
	Headers   []RecordHeader
}

// RecordHeader is a record header; Kafka requires a key, the value may be nil.
type RecordHeader struct {
	Key, Value []byte
}

// Records decodes every record of the single batch raw, calling fn for each
// in order until fn returns false. It does not check the CRC: callers that
// hold untrusted bytes run Validate first, and the broker's own stored
// batches were validated on produce.
//
// Key, Value and Headers alias raw or a pooled decompression buffer and are
// reused after fn returns, so fn must copy anything it keeps.
//
// Malformed records, codecs and compressed data wrap ErrCorrupt; a batch
// whose magic is not 2 wraps ErrInvalid, as ParseHeader reports it.
func Records(raw []byte, fn func(r Record) bool) error {
	return records(raw, MaxDecompressedSize, fn)
}

// records is Records with the decompression bound as a parameter, so tests
// can exercise the bound without building 128 MiB payloads per codec.
func records(raw []byte, limit int, fn func(r Record) bool) error {
	h, err := ParseHeader(raw)
	if err != nil {
		return err
	}
	if int64(h.Length)+12 != int64(len(raw)) {
		return fmt.Errorf("%w: batch length %d but %d bytes present", ErrCorrupt, h.Size(), len(raw))
	}
	if h.NumRecords < 0 {
		return fmt.Errorf("%w: batch has %d records", ErrCorrupt, h.NumRecords)
	}
	body := raw[HeaderSize:]

	var pooled *[]byte
	if codec := h.Codec(); codec != codecNone {
		pooled = getBuf()
		defer putBuf(pooled)
		*pooled, err = decompress(codec, (*pooled)[:0], body, limit)
		if err != nil {
			return err
		}
		body = *pooled
	}
	return decodeRecords(&h, body, fn)
}

func decodeRecords(h *Header, body []byte, fn func(r Record) bool) error {
	logAppend := h.Attributes&LogAppendTimeBit != 0
	var hdrs []RecordHeader
	rd := reader{b: body}
	for i := int32(0); i < h.NumRecords; i++ {
		size, ok := rd.varint32()
		if !ok || size < 0 || int(size) > len(rd.b)-rd.p {
			return fmt.Errorf("%w: record %d of %d: bad length or premature end", ErrCorrupt, i, h.NumRecords)
		}
		// Parse within exactly the declared length so a record cannot
		// borrow bytes from its neighbour, which Kafka also rejects.
		r := reader{b: rd.b[rd.p : rd.p+int(size)]}
		rd.p += int(size)

		_, ok1 := r.byte() // attributes: unused by the protocol
		tsDelta, ok2 := r.varint()
		offDelta, ok3 := r.varint32()
		key, ok4 := r.nullableBytes()
		value, ok5 := r.nullableBytes()
		n, ok6 := r.varint32()
		if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || n < 0 {
			return fmt.Errorf("%w: record %d: malformed fields", ErrCorrupt, i)
		}
		rec := Record{Key: key, Value: value}
		// Every header takes at least two bytes, so a count beyond that is
		// a lie and must not size an allocation.
		if int(n) > (len(r.b)-r.p)/2 {
			return fmt.Errorf("%w: record %d: %d headers in %d bytes", ErrCorrupt, i, n, len(r.b)-r.p)
		}
		hdrs = slices.Grow(hdrs[:0], int(n))
		for j := int32(0); j < n; j++ {
			k, okk := r.nullableBytes()
			v, okv := r.nullableBytes()
			if !okk || !okv || k == nil {
				return fmt.Errorf("%w: record %d: malformed header %d", ErrCorrupt, i, j)
			}
			hdrs = append(hdrs, RecordHeader{Key: k, Value: v})
		}
		if r.p != len(r.b) {
			return fmt.Errorf("%w: record %d: %d bytes left over in record", ErrCorrupt, i, len(r.b)-r.p)
		}
		if n > 0 {
			rec.Headers = hdrs
		}
		rec.Offset = h.BaseOffset + int64(offDelta)
		if logAppend {
			rec.Timestamp = h.MaxTimestamp
		} else {
			rec.Timestamp = h.BaseTimestamp + tsDelta
		}
		if !fn(rec) {
			return nil
		}
	}
	if rd.p != len(rd.b) {
		return fmt.Errorf("%w: %d bytes after the last of %d records", ErrCorrupt, len(rd.b)-rd.p, h.NumRecords)
	}
	return nil
}

// reader walks a record's fields; each method reports false on a short or
// out-of-range field instead of allocating an error per call.
type reader struct {
	b []byte
	p int
}

func (r *reader) byte() (byte, bool) {
	if r.p >= len(r.b) {
		return 0, false
	}
	r.p++
	return r.b[r.p-1], true
}

// varint reads Kafka's zigzag varlong, which is the encoding binary.Varint
// implements.
func (r *reader) varint() (int64, bool) {
	v, n := binary.Varint(r.b[r.p:])
	if n <= 0 {
		return 0, false
	}
	r.p += n
	return v, true
}

func (r *reader) varint32() (int32, bool) {
	v, ok := r.varint()
	if !ok || v < math.MinInt32 || v > math.MaxInt32 {
		return 0, false
	}
	return int32(v), true
}

// nullableBytes reads a varint length and that many bytes. Like Kafka's
// DefaultRecord, any negative length is null rather than an error, so
// batches Java consumers accept are not refused here.
func (r *reader) nullableBytes() ([]byte, bool) {
	n, ok := r.varint32()
	if !ok {
		return nil, false
	}
	if n < 0 {
		return nil, true
	}
	if int(n) > len(r.b)-r.p {
		return nil, false
	}
	b := r.b[r.p : r.p+int(n) : r.p+int(n)]
	r.p += int(n)
	return b, true
}

// Decompression.

var errTooLarge = errors.New("decompressed records exceed limit")

func decompress(codec int, dst, src []byte, limit int) ([]byte, error) {
	var err error
	switch codec {
	case codecGzip:
		dst, err = gunzip(dst, src, limit)
	case codecSnappy:
		dst, err = unsnappy(dst, src, limit)
	case codecLZ4:
		dst, err = unlz4(dst, src, limit)
	case codecZstd:
		dst, err = unzstd(dst, src, limit)
	default:
		return dst, fmt.Errorf("%w: unknown compression codec %d", ErrCorrupt, codec)
	}
	if err != nil {
		if errors.Is(err, errTooLarge) {
			return dst, fmt.Errorf("%w: codec %d: %w (%d bytes)", ErrCorrupt, codec, err, limit)
		}
		return dst, fmt.Errorf("%w: codec %d: %w", ErrCorrupt, codec, err)
	}
	return dst, nil
}

// Decompression buffers are pooled because most batches are small and the
// fetch and compaction paths decode them in bulk. Buffers that a rare huge
// batch grew are dropped rather than pinned in the pool.
const maxPooledBuf = 4 << 20

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) <= maxPooledBuf {
		*b = (*b)[:0]
		bufPool.Put(b)
	}
}

// readLimited appends all of r to dst, failing once more than limit bytes
// arrive; growth is capped at limit+1 so a bomb costs at most that much.
func readLimited(dst []byte, r io.Reader, limit int) ([]byte, error) {
	start := len(dst)
	for {
		if len(dst) == cap(dst) {
			if len(dst)-start > limit {
				return dst, errTooLarge
			}
			want := min(max(2*cap(dst), 4096), start+limit+1)
			dst = slices.Grow(dst, want-len(dst))
		}
		n, err := r.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if len(dst)-start > limit {
			return dst, errTooLarge
		}
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
}

type gzipState struct {
	src bytes.Reader
	zr  gzip.Reader
}

var gzipPool = sync.Pool{New: func() any { return new(gzipState) }}

func gunzip(dst, src []byte, limit int) ([]byte, error) {
	s := gzipPool.Get().(*gzipState)
	defer func() {
		s.src.Reset(nil) // do not pin the caller's batch in the pool
		gzipPool.Put(s)
	}()
	s.src.Reset(src)
	if err := s.zr.Reset(&s.src); err != nil {
		return dst, err
	}
	return readLimited(dst, &s.zr, limit)
}

type lz4State struct {
	src bytes.Reader
	zr  *lz4.Reader
}

var lz4Pool = sync.Pool{New: func() any { return &lz4State{zr: lz4.NewReader(nil)} }}

// unlz4 reads the LZ4 frame format, which is what magic 2 batches carry;
// the broken header checksum of the old Kafka framing only affects magic 0.
func unlz4(dst, src []byte, limit int) ([]byte, error) {
	s := lz4Pool.Get().(*lz4State)
	defer func() {
		s.src.Reset(nil)
		s.zr.Reset(&s.src) // releases the block buffer
		lz4Pool.Put(s)
	}()
	s.src.Reset(src)
	s.zr.Reset(&s.src)
	return readLimited(dst, s.zr, limit)
}

// zstd.Decoder.DecodeAll is safe for concurrent use and keeps its own pool
// of block decoders, so one decoder serves every goroutine.
// Concurrency 0 means GOMAXPROCS decoders: the default of 4 would make
// fetch and compaction goroutines queue behind each other on big hosts.
var zstdDecoder = sync.OnceValues(func() (*zstd.Decoder, error) {
	return zstd.NewReader(nil,
		zstd.WithDecoderMaxMemory(MaxDecompressedSize),
		zstd.WithDecoderConcurrency(0))
})

func unzstd(dst, src []byte, limit int) ([]byte, error) {
	d, err := zstdDecoder()
	if err != nil {
		return dst, err
	}
	start := len(dst)
	dst, err = d.DecodeAll(src, dst)
	if errors.Is(err, zstd.ErrDecoderSizeExceeded) || len(dst)-start > limit {
		return dst, errTooLarge
	}
	return dst, err
}

// xerialMagic opens snappy data framed by snappy-java's SnappyOutputStream,
// which the Java client uses; librdkafka and franz-go send a raw block.
var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

// xerialHeaderSize covers the magic plus the version and min-compatible
// version int32s, which carry nothing a decoder needs.
const xerialHeaderSize = 16

func unsnappy(dst, src []byte, limit int) ([]byte, error) {
	if !bytes.HasPrefix(src, xerialMagic) {
		return snappyBlock(dst, src, len(dst)+limit)
	}
	if len(src) < xerialHeaderSize {
		return dst, errors.New("truncated xerial header")
	}
	end := len(dst) + limit
	src = src[xerialHeaderSize:]
	for len(src) > 0 {
		if len(src) < 4 {
			return dst, errors.New("truncated xerial block length")
		}
		n := binary.BigEndian.Uint32(src)
		src = src[4:]
		if uint64(n) > uint64(len(src)) {
			return dst, fmt.Errorf("xerial block of %d bytes, %d left", n, len(src))
		}
		var err error
		if dst, err = snappyBlock(dst, src[:n], end); err != nil {
			return dst, err
		}
		src = src[n:]
	}
	return dst, nil
}

// snappyBlock appends one decoded snappy block to dst, refusing to grow dst
// past end. It checks the block's declared length first because the
// decoder would otherwise allocate whatever the header claims.
//
// DecodeStrict rather than Decode: Decode accepts S2 extensions that the
// reference decoders in snappy-java and librdkafka reject, and a batch the
// broker accepts must be one its consumers can read.
func snappyBlock(dst, src []byte, end int) ([]byte, error) {
	n, err := snappy.DecodedLen(src)
	if err != nil {
		return dst, err
	}
	if n > end-len(dst) {
		return dst, errTooLarge
	}
	dst = slices.Grow(dst, n)
	out, err := snappy.DecodeStrict(dst[len(dst):len(dst)+n], src)
	if err != nil {
		return dst, err
	}
	if len(out) != n {
		return dst, errors.New("snappy block length mismatch")
	}
	return dst[:len(dst)+n], nil
}
