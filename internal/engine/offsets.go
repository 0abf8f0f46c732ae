package engine

import (
	"context"
	"errors"

	"github.com/weirdb/weir/internal/batch"
)

// errStop ends a scan early.
var errStop = errors.New("stop")

// scanBatches visits every readable batch from offset from on, oldest first,
// uploaded ranges first (read from objects), then the log cache. Ranges are
// skipped without reading when skipRange says so.
func (p *Partition) scanBatches(ctx context.Context, from int64, skipRange func(rangeRecord) bool, fn func(h batch.Header, raw []byte) error) error {
	p.mu.Lock()
	ranges := p.ranges
	tail := append([]*cachedBatch(nil), p.tail...)
	hw := p.hw
	p.mu.Unlock()
	tailStart := int64(-1)
	if len(tail) > 0 {
		tailStart = tail[0].base
	}
	for _, r := range ranges {
		if r.Last < from || (tailStart >= 0 && r.First >= tailStart) || skipRange(r) {
			continue
		}
		block, err := p.e.readBlock(ctx, r)
		if err != nil {
			return err
		}
		it := batch.NewIter(block)
		for {
			h, raw, ok := it.Next()
			if !ok {
				break
			}
			if h.LastOffset() < from {
				continue
			}
			if tailStart >= 0 && h.BaseOffset >= tailStart {
				break // the log cache below serves the rest
			}
			if err := fn(h, raw); err != nil {
				return err
			}
		}
		if it.Err() != nil {
			return it.Err()
		}
	}
	for _, b := range tail {
		if b.last < from {
			continue
		}
		if b.last >= hw {
			break
		}
		h, err := batch.ParseHeader(b.data)
		if err != nil {
			return err
		}
		if err := fn(h, b.data); err != nil {
			return err
		}
	}
	return nil
}

// OffsetForTimestamp returns the first offset whose record timestamp is at
// least ts, with that timestamp and its batch's leader epoch; offset -1 if
// there is none.
func (p *Partition) OffsetForTimestamp(ctx context.Context, ts int64) (offset, timestamp int64, epoch int32, err error) {
	logStart, _, _, _ := p.Offsets()
	offset, timestamp, epoch = -1, -1, -1
	err = p.scanBatches(ctx, logStart, func(r rangeRecord) bool { return r.MaxTs < ts }, func(h batch.Header, raw []byte) error {
		if h.MaxTimestamp < ts || h.IsControl() {
			return nil
		}
		var found bool
		rerr := batch.Records(raw, func(r batch.Record) bool {
			if r.Offset >= logStart && r.Timestamp >= ts {
				offset, timestamp, epoch, found = r.Offset, r.Timestamp, h.LeaderEpoch, true
				return false
			}
			return true
		})
		if rerr != nil {
			return rerr
		}
		if found {
			return errStop
		}
		return nil
	})
	if errors.Is(err, errStop) {
		err = nil
	}
	return
}

// MaxTimestamp returns the offset and timestamp of the earliest record
// holding the largest timestamp at or after the log start offset
// (ListOffsets -3, KIP-734), or -1s when the partition is empty.
func (p *Partition) MaxTimestamp(ctx context.Context) (offset, timestamp int64, epoch int32, err error) {
	logStart, _, _, _ := p.Offsets()
	offset, timestamp, epoch = -1, -1, -1
	err = p.scanBatches(ctx, logStart, func(r rangeRecord) bool { return r.MaxTs <= timestamp }, func(h batch.Header, raw []byte) error {
		if h.IsControl() || h.MaxTimestamp <= timestamp {
			return nil
		}
		// The header's max may belong to a record below the log start
		// (a batch cut by DeleteRecords), so look at the records.
		return batch.Records(raw, func(r batch.Record) bool {
			if r.Offset >= logStart && r.Timestamp > timestamp {
				offset, timestamp, epoch = r.Offset, r.Timestamp, h.LeaderEpoch
			}
			return true
		})
	})
	if err != nil {
		return -1, -1, -1, err
	}
	return offset, timestamp, epoch, nil
}
