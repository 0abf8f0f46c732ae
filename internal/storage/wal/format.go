package wal

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"strconv"
	"strings"
)

// frameHeaderSize is the length, crc and seq in front of every entry's data;
// doc.go draws the frame.
const frameHeaderSize = 16

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func segmentName(first uint64) string {
	return fmt.Sprintf("wal-%020d.log", first)
}

// freeName is the name of the n-th trimmed segment kept for reuse. Recovery
// ignores it: only segmentName's names are segments.
func freeName(n uint64) string {
	return fmt.Sprintf("free-%020d.log", n)
}

// parseFreeName returns n if name is freeName(n).
func parseFreeName(name string) (uint64, bool) {
	digits, ok := strings.CutPrefix(name, "free-")
	if !ok {
		return 0, false
	}
	digits, ok = strings.CutSuffix(digits, ".log")
	if !ok || len(digits) != 20 {
		return 0, false
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	return n, err == nil
}

// parseSegmentName returns the first sequence number of the segment called
// name, or false if name is not a segment's.
func parseSegmentName(name string) (uint64, bool) {
	digits, ok := strings.CutPrefix(name, "wal-")
	if !ok {
		return 0, false
	}
	digits, ok = strings.CutSuffix(digits, ".log")
	if !ok || len(digits) != 20 {
		return 0, false
	}
	first, err := strconv.ParseUint(digits, 10, 64)
	if err != nil || first == 0 {
		return 0, false
	}
	return first, true
}

func appendFrame(dst []byte, seq uint64, data []byte) []byte {
	start := len(dst)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(data)))
	dst = binary.LittleEndian.AppendUint32(dst, 0) // crc, filled in below
	dst = binary.LittleEndian.AppendUint64(dst, seq)
	dst = append(dst, data...)
	crc := crc32.Checksum(dst[start+8:], castagnoli)
	binary.LittleEndian.PutUint32(dst[start+4:], crc)
	return dst
}

// scanFrames reads the size bytes of segment name from r, checking each frame,
// and calls fn (if not nil) with each good entry; fn may keep data. The
// frames must carry consecutive sequence numbers starting at seq.
//
// A frame header of zeros (no frame has one: seq is never 0) where every
// byte to size is zero too is the segment's preallocated, never written
// tail: the clean end of the frames, not a bad frame.
//
// It returns the offset just past the last good frame and the sequence
// number the next frame would have carried. If it stopped before size
// because a frame is bad, reason says why. err is a read error or fn's error,
// returned as is.
func scanFrames(r io.Reader, name string, size int64, seq uint64, fn func(seq uint64, data []byte) error) (end int64, next uint64, reason string, err error) {
	br := bufio.NewReaderSize(r, 256<<10)
	var hdr [frameHeaderSize]byte
	var buf []byte
	for end < size {
		h := hdr[:min(size-end, frameHeaderSize)]
		if _, err := io.ReadFull(br, h); err != nil {
			return end, seq, "", fmt.Errorf("read wal segment %s at offset %d: %w", name, end, err)
		}
		if allZero(h) {
			zero, err := restZero(br, size-end-int64(len(h)))
			if err != nil {
				return end, seq, "", fmt.Errorf("read wal segment %s after offset %d: %w", name, end, err)
			}
			if zero {
				return end, seq, "", nil
			}
			return end, seq, "zeroed frame header before non-zero bytes", nil
		}
		if len(h) < frameHeaderSize {
			return end, seq, "torn frame header", nil
		}
		n := int64(binary.LittleEndian.Uint32(hdr[0:4]))
		if n > size-end-frameHeaderSize {
			return end, seq, "frame longer than the rest of the segment", nil
		}
		if fn != nil || int64(cap(buf)) < n {
			// fn may keep what it is given, so it gets fresh memory.
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := io.ReadFull(br, buf); err != nil {
			return end, seq, "", fmt.Errorf("read wal segment %s at offset %d: %w", name, end, err)
		}
		crc := crc32.Update(crc32.Checksum(hdr[8:], castagnoli), castagnoli, buf)
		if crc != binary.LittleEndian.Uint32(hdr[4:8]) {
			return end, seq, "checksum mismatch", nil
		}
		if got := binary.LittleEndian.Uint64(hdr[8:]); got != seq {
			return end, seq, fmt.Sprintf("sequence number %d where %d was due", got, seq), nil
		}
		if fn != nil {
			if err := fn(seq, buf); err != nil {
				return end, seq, "", err
			}
		}
		end += frameHeaderSize + n
		seq++
	}
	return end, seq, "", nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// restZero reports whether the next n bytes of br are all zero.
func restZero(br *bufio.Reader, n int64) (bool, error) {
	for n > 0 {
		b, err := br.Peek(int(min(n, int64(br.Size()))))
		if len(b) == 0 && err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return false, err
		}
		if !allZero(b) {
			return false, nil
		}
		br.Discard(len(b))
		n -= int64(len(b))
	}
	return true, nil
}
