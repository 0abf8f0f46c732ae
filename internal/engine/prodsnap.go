package engine

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Producer state snapshot format (see the package doc for when snapshots
// are written and how state is rebuilt). All integers are big-endian:
//
//	offset  size  field
//	0       4     magic "WPS2" (version 2; "WPS1" is still read)
//	4       8     offset: the state holds every batch below it
//	12      4     producer count n
//	16      ...   n producers, in increasing id order:
//	                8  producer id
//	                2  epoch
//	                8  last timestamp (max timestamp of its last batch)
//	                1  batch count k, 0..5 (1..5 in version 1)
//	                k batches, oldest first:
//	                  4  first sequence
//	                  4  last sequence
//	                  8  first offset
//	                  4  last offset - first offset (>= 0)
//	                8  first offset of its open transaction, -1 if none
//	                   (version 2 only)
//	...     4     aborted transaction count a (version 2 only)
//	...     a*24  aborted transactions, by increasing marker offset
//	              (version 2 only): producer id, first offset, marker
//	              offset, 8 bytes each
//	end-4   4     CRC-32C (Castagnoli) of everything before it
const (
	snapMagic       = "WPS2"
	snapMagicV1     = "WPS1"
	snapHeaderSize  = 16
	snapEntryFixed  = 8 + 2 + 8 + 1
	snapBatchSize   = 4 + 4 + 8 + 4
	snapTxnSize     = 8
	snapAbortedSize = 24
	snapTrailerSize = 4
)

var errBadSnapshot = errors.New("bad producer state snapshot")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// encodeSnapshot serializes s, the producer state below offset.
func encodeSnapshot(s *producerStates, offset int64) []byte {
	size := snapHeaderSize + 4 + len(s.aborted)*snapAbortedSize + snapTrailerSize
	for _, pe := range s.m {
		size += snapEntryFixed + pe.n*snapBatchSize + snapTxnSize
	}
	b := make([]byte, 0, size)
	b = append(b, snapMagic...)
	b = binary.BigEndian.AppendUint64(b, uint64(offset))
	b = binary.BigEndian.AppendUint32(b, uint32(len(s.m)))
	for _, id := range s.ids() {
		pe := s.m[id]
		b = binary.BigEndian.AppendUint64(b, uint64(id))
		b = binary.BigEndian.AppendUint16(b, uint16(pe.epoch))
		b = binary.BigEndian.AppendUint64(b, uint64(pe.lastTs))
		b = append(b, byte(pe.n))
		for _, bm := range pe.batches() {
			b = binary.BigEndian.AppendUint32(b, uint32(bm.firstSeq))
			b = binary.BigEndian.AppendUint32(b, uint32(bm.lastSeq))
			b = binary.BigEndian.AppendUint64(b, uint64(bm.base))
			b = binary.BigEndian.AppendUint32(b, uint32(bm.last-bm.base))
		}
		b = binary.BigEndian.AppendUint64(b, uint64(pe.txnFirst))
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(s.aborted)))
	for _, a := range s.aborted {
		b = binary.BigEndian.AppendUint64(b, uint64(a.ProducerID))
		b = binary.BigEndian.AppendUint64(b, uint64(a.FirstOffset))
		b = binary.BigEndian.AppendUint64(b, uint64(a.LastOffset))
	}
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// decodeSnapshot parses a snapshot, checking its CRC and that every field
// is in range, so that state rebuilt from it is as valid as state built
// by appends.
func decodeSnapshot(b []byte) (*producerStates, int64, error) {
	if len(b) < snapHeaderSize+snapTrailerSize {
		return nil, 0, fmt.Errorf("%w: %d bytes", errBadSnapshot, len(b))
	}
	v2 := string(b[:4]) == snapMagic
	if !v2 && string(b[:4]) != snapMagicV1 {
		return nil, 0, fmt.Errorf("%w: magic %q", errBadSnapshot, b[:4])
	}
	minBatches, entryMin := 1, snapEntryFixed+snapBatchSize
	if v2 {
		minBatches, entryMin = 0, snapEntryFixed+snapTxnSize
	}
	body, sum := b[:len(b)-snapTrailerSize], binary.BigEndian.Uint32(b[len(b)-snapTrailerSize:])
	if got := crc32.Checksum(body, castagnoli); got != sum {
		return nil, 0, fmt.Errorf("%w: crc %08x, computed %08x", errBadSnapshot, sum, got)
	}
	offset := int64(binary.BigEndian.Uint64(b[4:]))
	n := binary.BigEndian.Uint32(b[12:])
	if offset < 0 {
		return nil, 0, fmt.Errorf("%w: offset %d", errBadSnapshot, offset)
	}
	// Each producer takes at least snapEntryFixed+snapBatchSize bytes:
	// bound n before allocating for it.
	rest := body[snapHeaderSize:]
	if uint64(n) > uint64(len(rest)/entryMin) {
		return nil, 0, fmt.Errorf("%w: %d producers in %d bytes", errBadSnapshot, n, len(rest))
	}
	s := &producerStates{m: make(map[int64]*producerEntry, n)}
	prevID := int64(-1)
	for range n {
		if len(rest) < snapEntryFixed {
			return nil, 0, fmt.Errorf("%w: truncated producer", errBadSnapshot)
		}
		id := int64(binary.BigEndian.Uint64(rest))
		pe := &producerEntry{
			epoch:    int16(binary.BigEndian.Uint16(rest[8:])),
			lastTs:   int64(binary.BigEndian.Uint64(rest[10:])),
			txnFirst: -1,
		}
		k := int(rest[18])
		rest = rest[snapEntryFixed:]
		if id <= prevID {
			return nil, 0, fmt.Errorf("%w: producer id %d after %d", errBadSnapshot, id, prevID)
		}
		prevID = id
		if k < minBatches || k > batchesToRetain {
			return nil, 0, fmt.Errorf("%w: producer %d has %d batches", errBadSnapshot, id, k)
		}
		if len(rest) < k*snapBatchSize {
			return nil, 0, fmt.Errorf("%w: truncated batches of producer %d", errBadSnapshot, id)
		}
		pe.n = k
		for i := range pe.batches() {
			bm := batchMeta{
				firstSeq: int32(binary.BigEndian.Uint32(rest)),
				lastSeq:  int32(binary.BigEndian.Uint32(rest[4:])),
				base:     int64(binary.BigEndian.Uint64(rest[8:])),
			}
			delta := int32(binary.BigEndian.Uint32(rest[16:]))
			rest = rest[snapBatchSize:]
			if bm.base < 0 || delta < 0 || bm.base > offset-1-int64(delta) || bm.firstSeq < 0 || bm.lastSeq < 0 {
				return nil, 0, fmt.Errorf("%w: producer %d batch at %d out of range", errBadSnapshot, id, bm.base)
			}
			bm.last = bm.base + int64(delta)
			pe.buf[i] = bm
		}
		if v2 {
			if len(rest) < snapTxnSize {
				return nil, 0, fmt.Errorf("%w: truncated producer %d", errBadSnapshot, id)
			}
			pe.txnFirst = int64(binary.BigEndian.Uint64(rest))
			rest = rest[snapTxnSize:]
			if pe.txnFirst < -1 || pe.txnFirst >= offset {
				return nil, 0, fmt.Errorf("%w: producer %d transaction at %d out of range", errBadSnapshot, id, pe.txnFirst)
			}
		}
		s.m[id] = pe
	}
	if v2 {
		if len(rest) < 4 {
			return nil, 0, fmt.Errorf("%w: truncated aborted transactions", errBadSnapshot)
		}
		a := binary.BigEndian.Uint32(rest)
		rest = rest[4:]
		if uint64(a) != uint64(len(rest)/snapAbortedSize) || len(rest)%snapAbortedSize != 0 {
			return nil, 0, fmt.Errorf("%w: %d aborted transactions in %d bytes", errBadSnapshot, a, len(rest))
		}
		s.aborted = make([]AbortedTxn, 0, a)
		prev := int64(-1)
		for range a {
			t := AbortedTxn{
				ProducerID:  int64(binary.BigEndian.Uint64(rest)),
				FirstOffset: int64(binary.BigEndian.Uint64(rest[8:])),
				LastOffset:  int64(binary.BigEndian.Uint64(rest[16:])),
			}
			rest = rest[snapAbortedSize:]
			if t.ProducerID < 0 || t.FirstOffset < 0 || t.LastOffset <= t.FirstOffset || t.LastOffset >= offset || t.LastOffset <= prev {
				return nil, 0, fmt.Errorf("%w: aborted transaction %+v out of range", errBadSnapshot, t)
			}
			prev = t.LastOffset
			s.aborted = append(s.aborted, t)
		}
	}
	if len(rest) != 0 {
		return nil, 0, fmt.Errorf("%w: %d trailing bytes", errBadSnapshot, len(rest))
	}
	return s, offset, nil
}
