package engine

import "context"

// Test-only access to the engine's internals, for the external tests in
// package engine_test.

// Kill stops the engine's background loops without uploading anything or
// touching the WAL, store or metadata again: what a kill -9 leaves behind,
// as far as this engine's own goroutines go. An upload in flight is
// cancelled (its context ends), so it stops at whatever step it reached.
func (e *Engine) Kill() {
	select {
	case <-e.stop:
	default:
		close(e.stop)
	}
	e.wg.Wait()
}

// UploadOnce runs one upload pass, as the upload loop does.
func (e *Engine) UploadOnce(ctx context.Context) (int, error) { return e.uploadOnce(ctx) }

// Acked reports, without blocking, whether the batch is acknowledged: its
// WAL callback ran with no error.
func (a *Appended) Acked() bool {
	select {
	case <-a.done:
		return a.err == nil
	default:
		return false
	}
}

// RangeKeys returns the object key of each committed range of p, in order.
func (p *Partition) RangeKeys() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	keys := make([]string, len(p.ranges))
	for i, r := range p.ranges {
		keys[i] = r.Key
	}
	return keys
}

// TailLen is the number of batches p holds in memory.
func (p *Partition) TailLen() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.tail)
}

// WAL entry codec.
var (
	DecodeWALEntry = decodeWALEntry
	EncodeWALEntry = encodeWALEntry
)

const WALEntryHeader = walEntryHeader

// RangeLasts returns the last offset of each committed range of p, in order.
func (p *Partition) RangeLasts() []int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	lasts := make([]int64, len(p.ranges))
	for i, r := range p.ranges {
		lasts[i] = r.Last
	}
	return lasts
}
