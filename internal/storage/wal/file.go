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
)

var _ WAL = (*File)(nil)

const defaultSegmentBytes = 64 << 20

// FileOptions tune a File. The zero value gives the defaults.
type FileOptions struct {
	// SegmentBytes is the size past which the next batch starts a new
	// segment, and the size each segment is preallocated to. Segments are
	// what Trim deletes. Default 64 MiB.
	SegmentBytes int64
	// MaxQueuedBytes bounds the bytes appended and not yet durable; Append
	// blocks beyond it. Default 64 MiB.
	MaxQueuedBytes int
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

	segMu sync.Mutex // guards the following
	segs  []uint64   // first sequence number of each segment, oldest first; the last is active
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
		// A clean Close or a cut left it at its data's length.
		f.preallocate()
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
		if reason != "" {
			return segs[:i+1], next, f.cut(segs, i, end, reason)
		}
	}
	return segs, next, nil
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

// create makes segment first the active one, preallocated.
func (f *File) create(first uint64) error {
	name := segmentName(first)
	h, err := f.fs.OpenFile(f.path(name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("create wal segment %s: %w", name, err)
	}
	// Entries written into a file whose name is not durable would vanish
	// with it.
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
	// A crash before the first batch's sync leaves a segment of zeros,
	// which recovery reads as empty.
	f.preallocate()
	return nil
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
	if f.activeSize > 0 && f.activeSize >= f.segBytes {
		if err := f.create(b.first); err != nil {
			return err
		}
		f.segMu.Lock()
		f.segs = append(f.segs, b.first)
		f.segMu.Unlock()
	}
	f.buf = f.buf[:0]
	for i, data := range b.data {
		f.buf = appendFrame(f.buf, b.first+uint64(i), data)
	}
	n, err := f.active.WriteAt(f.buf, f.activeSize)
	f.activeSize += int64(n)
	if err != nil {
		return fmt.Errorf("write wal segment %s at offset %d: %w", f.activeName, f.activeSize-int64(n), err)
	}
	// fdatasync still records a size change when the batch runs past the
	// preallocated zeros, so it is enough in every case.
	if err := f.active.SyncData(); err != nil {
		return fmt.Errorf("sync wal segment %s: %w", f.activeName, err)
	}
	return nil
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
	for _, first := range segs {
		_, _, reason, err := f.scan(first, fn)
		if err != nil {
			return err
		}
		if reason != "" {
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

// Trim deletes the segments whose entries are all below seq, oldest first,
// but never the active segment. A failed Trim leaves the WAL usable.
func (f *File) Trim(seq uint64) error {
	if f.c.isClosed() {
		return ErrClosed
	}
	f.segMu.Lock()
	defer f.segMu.Unlock()
	var err error
	removed := false
	for len(f.segs) > 1 && f.segs[1] <= seq {
		name := segmentName(f.segs[0])
		if rerr := f.fs.Remove(f.path(name)); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			err = fmt.Errorf("remove wal segment %s: %w", name, rerr)
			break
		}
		f.segs = f.segs[1:]
		removed = true
	}
	if removed {
		if serr := f.fs.SyncDir(f.dir); serr != nil && err == nil {
			err = fmt.Errorf("sync wal dir %s: %w", f.dir, serr)
		}
	}
	return err
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
