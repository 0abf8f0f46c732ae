package wal

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/weirdb/weir/internal/storage/directio"
)

var _ WAL = (*File)(nil)

const (
	defaultSegmentBytes    = 64 << 20
	defaultRecycleSegments = 2
)

// FileOptions tune a File. The zero value gives the defaults.
type FileOptions struct {
	// SegmentBytes is the size past which the next batch starts a new
	// segment, and the size each segment is preallocated to. Segments are
	// what Trim deletes. Default 64 MiB.
	SegmentBytes int64
	// RecycleSegments is how many trimmed segments are kept (renamed) to be
	// reused as new segments instead of being deleted. Default 2; negative
	// keeps none. See recycle.
	RecycleSegments int
	// MaxQueuedBytes bounds the bytes appended and not yet durable; Append
	// blocks beyond it. Default 64 MiB.
	MaxQueuedBytes int
	// Buffered turns direct I/O off: segments are then written through the
	// page cache. By default new segments are written with O_DIRECT where
	// the filesystem supports it (see writeDirect).
	Buffered bool
	// FS holds the segments. Default OSFS.
	FS FS
	// Logger receives a warning when recovery cuts the log. Default
	// slog.Default().
	Logger *slog.Logger
}

// File is the WAL on local disk: a directory of preallocated segment files,
// written by one goroutine with one write and one fdatasync per batch. The
// package doc describes the format and recovery.
type File struct {
	dir      string
	fs       FS
	log      *slog.Logger
	segBytes int64
	c        *committer

	// The commit goroutine owns these once OpenFile has returned.
	active     Handle
	activeName string
	activeSize int64
	buf        []byte
	// rollEarly makes the next batch start a new segment although the
	// active one is not full: set when OpenFile reopens a segment while a
	// free one is ready, which nothing but that roll can take first (see
	// OpenFile).
	rollEarly bool
	// direct says the active segment is written with direct I/O; buf is
	// then aligned to directAlign, and its first activeSize%directAlign
	// bytes are the active segment's last, partial block.
	direct   bool
	buffered bool // FileOptions.Buffered, or set once SetDirect failed

	keepFree int // RecycleSegments, at least 0

	// trimMu serializes Trims, which alone drop segments (segs[0]) and add
	// free ones, so that a Trim can work on segs[0] outside segMu.
	trimMu   sync.Mutex
	nextFree uint64 // number of the next free segment's name; guarded by trimMu

	segMu sync.Mutex // guards the following
	segs  []uint64   // first sequence number of each segment, oldest first; the last is active
	free  []string   // trimmed segments kept for reuse (freeName), oldest first
}

// OpenFile opens the WAL in dir, creating dir if needed, and recovers it:
// it checks every frame and cuts the log at the first bad one, so that the
// next Append continues after the last good entry.
func OpenFile(dir string, opts FileOptions) (*File, error) {
	f := &File{
		dir:      dir,
		fs:       opts.FS,
		log:      opts.Logger,
		segBytes: opts.SegmentBytes,
		buffered: opts.Buffered,
	}
	if f.fs == nil {
		f.fs = OSFS
	}
	if f.log == nil {
		f.log = slog.Default()
	}
	if f.segBytes <= 0 {
		f.segBytes = defaultSegmentBytes
	}
	switch {
	case opts.RecycleSegments > 0:
		f.keepFree = opts.RecycleSegments
	case opts.RecycleSegments == 0:
		f.keepFree = defaultRecycleSegments
	}
	maxQueued := opts.MaxQueuedBytes
	if maxQueued <= 0 {
		maxQueued = defaultMaxQueuedBytes
	}

	if err := f.fs.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create wal dir %s: %w", dir, err)
	}
	segs, err := f.listSegments()
	if err != nil {
		return nil, err
	}
	if err := f.loadFree(); err != nil {
		return nil, err
	}
	next := uint64(1)
	if len(segs) == 0 {
		if err := f.create(1); err != nil {
			return nil, err
		}
		// MkdirAll may have just made dir; its name must be durable too.
		if parent := filepath.Dir(dir); parent != dir {
			if err := f.fs.SyncDir(parent); err != nil {
				f.active.Close()
				return nil, fmt.Errorf("sync dir %s: %w", parent, err)
			}
		}
		segs = []uint64{1}
	} else {
		if segs, next, err = f.recover(segs); err != nil {
			return nil, err
		}
		f.activeName = segmentName(segs[len(segs)-1])
		// Not O_APPEND: flush writes at activeSize, in front of the
		// preallocated zeros.
		f.active, err = f.fs.OpenFile(f.path(f.activeName), os.O_WRONLY, 0)
		if err != nil {
			return nil, fmt.Errorf("open wal segment %s: %w", f.activeName, err)
		}
		// A clean Close or a cut left it at its data's length. Extending
		// it again with fallocate would give it unwritten blocks, whose
		// every fdatasync commits the journal (see recycle), and it is
		// written through the page cache (writeDirect needs its last
		// partial block in memory). A free segment has only written
		// blocks and is written directly, so the first batch moves on
		// to one instead, leaving this one short, which recovery and
		// Trim handle like any segment. (An empty segment cannot be
		// rolled: its successor would take its name.)
		if f.activeSize > 0 && len(f.free) > 0 {
			f.rollEarly = true
		} else {
			f.preallocate()
		}
	}
	f.segs = segs
	f.c = newCommitter(next, maxQueued, f.flush)
	return f, nil
}

func (f *File) path(name string) string { return filepath.Join(f.dir, name) }

func (f *File) listSegments() ([]uint64, error) {
	entries, err := f.fs.ReadDir(f.dir)
	if err != nil {
		return nil, fmt.Errorf("list wal dir %s: %w", f.dir, err)
	}
	var segs []uint64
	for _, e := range entries {
		if first, ok := parseSegmentName(e.Name()); ok && e.Type().IsRegular() {
			segs = append(segs, first)
		}
	}
	slices.Sort(segs)
	return segs, nil
}

// recover checks the segments in order and cuts the log at the first bad
// frame. It returns the segments kept and the next sequence number, and
// leaves activeSize at the length of the last segment kept.
func (f *File) recover(segs []uint64) (kept []uint64, next uint64, err error) {
	next = segs[0]
	for i, first := range segs {
		if first != next {
			// A segment is missing; nothing after the hole could be
			// replayed in order.
			reason := fmt.Sprintf("next segment starts at %d where %d was due", first, next)
			return segs[:i], next, f.cut(segs, i-1, f.activeSize, reason)
		}
		end, after, reason, err := f.scan(first, nil)
		if err != nil {
			return nil, 0, err
		}
		f.activeSize, next = end, after
		if reason != "" && !staleTail(segs, i, after) {
			return segs[:i+1], next, f.cut(segs, i, end, reason)
		}
	}
	return segs, next, nil
}

// staleTail reports whether the bytes that stopped the scan of segment
// segs[i], after its last good frame, are merely left over from the
// segment's earlier life as another (recycled) segment: true when a later
// segment starts exactly at next, the sequence number the bad frame should
// have carried. Such a segment was rolled once its frames filled it, so
// nothing of it is missing; a frame lost to a torn write or a corrupted disk
// instead leaves a gap before the next segment, which is cut as before.
func staleTail(segs []uint64, i int, next uint64) bool {
	return i+1 < len(segs) && segs[i+1] == next
}

// loadFree collects the free segments left by an earlier run and sets
// nextFree past them. A free segment shorter than SegmentBytes (a larger
// SegmentBytes than when it was written) would need preallocating again,
// which is what recycling avoids, so it is deleted, as are those beyond
// RecycleSegments. A deletion lost in a crash only repeats here.
func (f *File) loadFree() error {
	entries, err := f.fs.ReadDir(f.dir)
	if err != nil {
		return fmt.Errorf("list wal dir %s: %w", f.dir, err)
	}
	var nums []uint64
	for _, e := range entries {
		if n, ok := parseFreeName(e.Name()); ok && e.Type().IsRegular() {
			nums = append(nums, n)
		}
	}
	slices.Sort(nums)
	for _, n := range nums {
		name := freeName(n)
		f.nextFree = n + 1
		if len(f.free) < f.keepFree && f.sizeOf(name) >= f.segBytes {
			f.free = append(f.free, name)
			continue
		}
		if err := f.fs.Remove(f.path(name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove free wal segment %s: %w", name, err)
		}
	}
	return nil
}

// sizeOf returns the size of file name in the WAL dir, or -1 if it cannot
// be read.
func (f *File) sizeOf(name string) int64 {
	h, err := f.fs.OpenFile(f.path(name), os.O_RDONLY, 0)
	if err != nil {
		return -1
	}
	defer h.Close()
	info, err := h.Stat()
	if err != nil {
		return -1
	}
	return info.Size()
}

// cut truncates segment segs[keep] to end and deletes every later segment.
func (f *File) cut(segs []uint64, keep int, end int64, reason string) error {
	name := segmentName(segs[keep])
	f.log.Warn("wal: cutting the log at a bad frame",
		"segment", name, "offset", end, "reason", reason, "deleted_segments", len(segs)-keep-1)

	h, err := f.fs.OpenFile(f.path(name), os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("open wal segment %s: %w", name, err)
	}
	err = h.Truncate(end)
	if err == nil {
		err = h.Sync()
	}
	if cerr := h.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("truncate wal segment %s to %d: %w", name, end, err)
	}
	// Newest first: if this stops half way, the next open cuts again at the
	// same place.
	for _, first := range slices.Backward(segs[keep+1:]) {
		if err := f.fs.Remove(f.path(segmentName(first))); err != nil {
			return fmt.Errorf("remove wal segment %s: %w", segmentName(first), err)
		}
	}
	if err := f.fs.SyncDir(f.dir); err != nil {
		return fmt.Errorf("sync wal dir %s: %w", f.dir, err)
	}
	return nil
}

// scan reads and checks the segment starting at first; see scanFrames.
func (f *File) scan(first uint64, fn func(seq uint64, data []byte) error) (end int64, next uint64, reason string, err error) {
	name := segmentName(first)
	h, err := f.fs.OpenFile(f.path(name), os.O_RDONLY, 0)
	if err != nil {
		return 0, 0, "", fmt.Errorf("open wal segment %s: %w", name, err)
	}
	defer h.Close()
	info, err := h.Stat()
	if err != nil {
		return 0, 0, "", fmt.Errorf("stat wal segment %s: %w", name, err)
	}
	return scanFrames(h, name, info.Size(), first, fn)
}

// create makes segment first the active one: a recycled segment if one is
// free, else a new, preallocated file.
func (f *File) create(first uint64) error {
	name := segmentName(first)
	h, recycled, err := f.openNew(name)
	if err != nil {
		return err
	}
	// Entries written into a file whose name is not durable would vanish
	// with it. For a recycled segment this also makes the rename that
	// freed it durable, if its Trim has not synced the directory yet.
	if err := f.fs.SyncDir(f.dir); err != nil {
		h.Close()
		return fmt.Errorf("sync wal dir %s: %w", f.dir, err)
	}
	if f.active != nil {
		// Every byte of the old segment was synced by its last batch, so a
		// failed close loses nothing.
		if err := f.active.Close(); err != nil {
			f.log.Warn("wal: close segment", "segment", f.activeName, "err", err)
		}
	}
	f.active, f.activeName, f.activeSize = h, name, 0
	f.direct = false
	if !f.buffered {
		if dh, ok := h.(directHandle); ok {
			if err := dh.SetDirect(true); err != nil {
				f.buffered = true // the next segments would fail the same way
				f.log.Info("wal: direct I/O unavailable, writing through the page cache", "dir", f.dir, "err", err)
			} else {
				f.direct = true
			}
		}
	}
	if !recycled {
		// A crash before the first batch's sync leaves a segment of
		// zeros, which recovery reads as empty.
		f.preallocate()
	}
	// A recycled segment needs no preallocation: it is at least segBytes
	// long and every block of it has been written. A crash before the
	// first batch's sync leaves its old frames, whose sequence numbers are
	// all below first, so recovery keeps none of them.
	return nil
}

// openNew opens the file for the new segment name: a free segment renamed
// to name if there is one, else a new empty file.
func (f *File) openNew(name string) (h Handle, recycled bool, err error) {
	f.segMu.Lock()
	free := ""
	if len(f.free) > 0 {
		free = f.free[0]
		f.free = f.free[1:]
	}
	f.segMu.Unlock()
	if free != "" {
		// On failure the free segment is left out of the pool: it either
		// stays a free file (reused or deleted by the next OpenFile) or
		// became segment name, whose old frames recovery does not keep.
		if err := f.fs.Rename(f.path(free), f.path(name)); err != nil {
			return nil, false, fmt.Errorf("recycle wal segment %s as %s: %w", free, name, err)
		}
		// Not O_APPEND: flush writes at activeSize, over the old frames.
		h, err := f.fs.OpenFile(f.path(name), os.O_WRONLY, 0)
		if err != nil {
			return nil, false, fmt.Errorf("open recycled wal segment %s: %w", name, err)
		}
		return h, true, nil
	}
	h, err = f.fs.OpenFile(f.path(name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, false, fmt.Errorf("create wal segment %s: %w", name, err)
	}
	return h, false, nil
}

// preallocate extends the active segment to segBytes of zeros, with its
// blocks reserved where the filesystem can. Appends then overwrite zeros
// instead of growing the file, so the fdatasync of each batch has no file
// size to record and no blocks to allocate (ext4 still journals the
// reserved blocks turning from unwritten to written). On this repo's test
// machine that cut the median append+sync of 1 KiB entries by about 30 %
// and left 256 KiB-1 MiB batches unchanged within noise
// (docs/benchmarks.md). Writing the zeros instead of only reserving blocks
// made 1 MiB syncs 5-13x faster there, but writes every segment twice, and
// a background zero-filler gained nothing end to end, so it was dropped.
// It is only an optimization: fdatasync is durable for a growing file too,
// so a failure is logged and the segment grows as it is written.
func (f *File) preallocate() {
	if f.activeSize >= f.segBytes {
		return
	}
	if err := f.active.Allocate(f.segBytes); err != nil {
		f.log.Warn("wal: preallocate segment", "segment", f.activeName, "bytes", f.segBytes, "err", err)
	}
}

// flush writes b into the active segment with one write and one fdatasync.
func (f *File) flush(b *batch) error {
	if f.activeSize > 0 && (f.activeSize >= f.segBytes || f.rollEarly) {
		f.rollEarly = false
		if err := f.create(b.first); err != nil {
			return err
		}
		f.segMu.Lock()
		f.segs = append(f.segs, b.first)
		f.segMu.Unlock()
	}
	if f.direct {
		if err := f.writeDirect(b); err != nil {
			return err
		}
	} else {
		f.buf = f.buf[:0]
		for i, data := range b.data {
			f.buf = appendFrame(f.buf, b.first+uint64(i), data)
		}
		n, err := f.active.WriteAt(f.buf, f.activeSize)
		f.activeSize += int64(n)
		if err != nil {
			return fmt.Errorf("write wal segment %s at offset %d: %w", f.activeName, f.activeSize-int64(n), err)
		}
	}
	// fdatasync still records a size change when the batch runs past the
	// preallocated zeros, so it is enough in every case.
	if err := f.active.SyncData(); err != nil {
		return fmt.Errorf("sync wal segment %s: %w", f.activeName, err)
	}
	return nil
}

// writeDirect writes b's frames into the active segment with direct I/O:
// whole blocks from the start of the segment's last, partial block (kept
// at the front of buf since the previous batch) through the new frames,
// padded with zeros to the block's end. The zeros read as the clean end of
// the frames, as a preallocated tail does, and the next batch writes over
// them.
//
// Why: through the page cache, a write that starts mid-page into a page
// not in the cache first reads that page from the disk. A recycled
// segment's pages are evicted under memory pressure (or by dropping the
// cache, as the benchmarks do), and 100 KB appends+fdatasync then ran at
// 189 MiB/s against 451 MiB/s cached and 530-629 MiB/s direct on this
// repo's benchmark VM; direct writes also spare the CPU the copy into the
// page cache (docs/benchmarks.md).
func (f *File) writeDirect(b *batch) error {
	head := int(f.activeSize % directAlign)
	need := head
	for _, data := range b.data {
		need += frameHeaderSize + len(data)
	}
	total := (need + directAlign - 1) &^ (directAlign - 1)
	if cap(f.buf) < total || !directio.Aligned(f.buf) {
		f.growAligned(total, head)
	}
	buf := f.buf[:head]
	for i, data := range b.data {
		buf = appendFrame(buf, b.first+uint64(i), data) // fits: no reallocation
	}
	clear(f.buf[need:total])
	off := f.activeSize - int64(head)
	if _, err := f.active.WriteAt(f.buf[:total], off); err != nil {
		// What reached the disk is unknown; the WAL fails, so nothing is
		// written after it.
		return fmt.Errorf("write wal segment %s at offset %d: %w", f.activeName, off, err)
	}
	f.activeSize += int64(need - head)
	last := need % directAlign
	copy(f.buf[:last], f.buf[need-last:need])
	f.buf = f.buf[:last]
	return nil
}

// growAligned replaces buf with one of capacity at least n aligned to
// directAlign, keeping its first head bytes.
func (f *File) growAligned(n, head int) {
	buf := directio.Buffer(max(n, 1<<20))
	copy(buf, f.buf[:head])
	f.buf = buf[:head]
}

// trimTail truncates the active segment to its entries' end and syncs it;
// failing is only logged, since the zeros it would drop are valid.
func (f *File) trimTail() {
	err := f.active.Truncate(f.activeSize)
	if err == nil {
		err = f.active.Sync()
	}
	if err != nil {
		f.log.Warn("wal: truncate preallocated tail", "segment", f.activeName, "offset", f.activeSize, "err", err)
	}
}

// Replay calls fn for every entry kept by OpenFile. fn may keep data.
func (f *File) Replay(fn func(seq uint64, data []byte) error) error {
	if err := f.c.beginReplay(); err != nil {
		return err
	}
	f.segMu.Lock()
	segs := slices.Clone(f.segs)
	f.segMu.Unlock()
	for i, first := range segs {
		_, next, reason, err := f.scan(first, fn)
		if err != nil {
			return err
		}
		if reason != "" && !staleTail(segs, i, next) {
			return fmt.Errorf("replay wal segment %s: changed since open: %s", segmentName(first), reason)
		}
	}
	return nil
}

// Append queues data. done must not block on the WAL (by calling Append, for
// one): it runs on the goroutine that writes the segments.
func (f *File) Append(data []byte, done func(err error)) (uint64, error) {
	if uint64(len(data)) > math.MaxUint32 {
		return 0, fmt.Errorf("wal: entry of %d bytes does not fit in a frame", len(data))
	}
	return f.c.append(data, done)
}

// Trim drops the segments whose entries are all below seq, oldest first,
// but never the active segment: it keeps up to RecycleSegments of them for
// reuse (see recycle) and deletes the others. A failed Trim leaves the WAL
// usable.
func (f *File) Trim(seq uint64) error {
	if f.c.isClosed() {
		return ErrClosed
	}
	f.trimMu.Lock()
	defer f.trimMu.Unlock()
	var err error
	removed := false
	for {
		// Only Trim drops segs[0], and the commit goroutine only appends,
		// so segs[0] stays put while segMu is released for the file
		// operations (which would otherwise stall a segment roll).
		f.segMu.Lock()
		if len(f.segs) < 2 || f.segs[1] > seq {
			f.segMu.Unlock()
			break
		}
		name := segmentName(f.segs[0])
		recycle := len(f.free) < f.keepFree
		f.segMu.Unlock()

		free := ""
		if recycle {
			free = f.recycle(name)
		}
		if free == "" {
			if rerr := f.fs.Remove(f.path(name)); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
				err = fmt.Errorf("remove wal segment %s: %w", name, rerr)
				break
			}
		}
		f.segMu.Lock()
		f.segs = f.segs[1:]
		if free != "" {
			f.free = append(f.free, free)
		}
		f.segMu.Unlock()
		removed = true
	}
	if removed {
		if serr := f.fs.SyncDir(f.dir); serr != nil && err == nil {
			err = fmt.Errorf("sync wal dir %s: %w", f.dir, serr)
		}
	}
	return err
}

// recycle renames the trimmed segment name to a free segment's name and
// returns that name, or "" if it did not (the caller deletes it instead).
//
// Why: a new segment is preallocated with fallocate, whose blocks stay
// "unwritten" until written, and on ext4 the fdatasync of every batch
// written into them has to commit the journal to record them as written.
// That commit also waits for other files' data (data=ordered), such as an
// object being uploaded, so on a busy broker an ack could wait tens of
// milliseconds for it. A segment that has been filled once has only written
// blocks: overwriting them changes no metadata, so fdatasync is a data
// write and a cache flush, independent of the journal. Reusing trimmed
// segments gets that for every segment after the first few, without
// writing zeros (which doubled the bytes written, see docs/benchmarks.md),
// and also spares the journal the freeing and reallocating of 64 MiB of
// blocks per segment.
//
// Only a segment at least segBytes long is reused: every segment but the
// active one was filled to segBytes before the WAL moved on, unless
// SegmentBytes has grown since it was written. Its frames stay in place
// and the next life overwrites them from the start; recovery tells the
// leftovers from entries by their sequence numbers (see staleTail and the
// package doc). The rename becomes durable with the directory sync at the
// end of Trim, or with that of the segment roll that reuses it; if a crash
// loses it, the old segment reappears and its entries are replayed again,
// which the WAL's contract allows for trimmed entries.
func (f *File) recycle(name string) string {
	if f.sizeOf(name) < f.segBytes {
		return ""
	}
	free := freeName(f.nextFree)
	f.nextFree++
	if err := f.fs.Rename(f.path(name), f.path(free)); err != nil {
		f.log.Warn("wal: recycle segment", "segment", name, "err", err)
		return ""
	}
	return free
}

// Close writes and syncs what is queued, runs the callbacks and closes the
// active segment. It returns the error that failed the WAL, if one did. A
// second Close returns ErrClosed.
func (f *File) Close() error {
	err := f.c.close()
	if errors.Is(err, ErrClosed) {
		return err
	}
	if err == nil {
		// Every entry is durable; dropping the zeros behind them leaves a
		// segment that older versions of Weir, which knew no preallocation,
		// read without cutting anything. A crash before it is harmless: the
		// zeros read as the end of the log.
		f.trimTail()
	}
	if cerr := f.active.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("close wal segment %s: %w", f.activeName, cerr)
	}
	return err
}
