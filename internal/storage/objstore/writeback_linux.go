package objstore

import (
	"errors"
	"io"
	"os"
	"sync/atomic"
	"syscall"

	"github.com/weirdb/weir/internal/storage/directio"
)

// Flags of sync_file_range(2); the syscall package does not name them.
const (
	syncFileRangeWaitBefore = 1
	syncFileRangeWrite      = 2
	syncFileRangeWaitAfter  = 4
)

// writebackChunk is how much of an object writeFile writes before starting
// its writeback; at most two chunks are in flight at a time.
const writebackChunk = 512 << 10

// objectWrites is how writeFile writes: directly where the filesystem
// allows, else buffered with chunked writeback; readRange reads large
// ranges directly only with writesDirect. A variable only so that
// BenchmarkWALSyncWhilePut can compare the three.
var objectWrites = writesDirect

const (
	writesPlain     = iota // buffered; the fsync writes everything
	writesWriteback        // buffered, with chunked early writeback
	writesDirect           // O_DIRECT for whole blocks, else as writesWriteback
)

// writeFile writes data to f and pushes it to the disk as it goes: each
// chunk's writeback starts as soon as it is written (sync_file_range
// SYNC_FILE_RANGE_WRITE) and the previous chunk's is waited for, so that at
// most two chunks are dirty or queued at the device at any time. The fsync
// that follows then has little data left to write.
//
// Why: written in one go, an object of several MiB sits dirty in the page
// cache until its fsync, which then queues all of it at the device at
// once, and on ext4 (data=ordered) a journal commit in the meantime must
// flush it too. The WAL's fdatasync of a produce batch, on the same disk,
// then waits behind it: measured as the ack latency tail in
// docs/benchmarks.md. Trickling the object out keeps the device queue short
// for the WAL, at the price of the uploader (not the ack path) waiting for
// the disk chunk by chunk, which its fsync made it do anyway.
//
// sync_file_range does not make anything durable (no metadata, no device
// cache flush): the caller's fsync still does. Its errors are returned,
// because waiting on writeback can consume a write error that the fsync
// would then no longer report.
func writeFile(f *os.File, data []byte) error {
	if n := directPrefix(data); n > 0 && objectWrites == writesDirect && !noDirectIO.Load() {
		done, err := writeDirect(f, data[:n])
		if err != nil {
			return err
		}
		if done {
			// The tail, shorter than a block, cannot go direct; the
			// fsync that follows writes it.
			_, err := f.Write(data[n:])
			return err
		}
	}
	return writeBuffered(f, data)
}

// Direct I/O for objects. An object is written once and then read, if at
// all, through the engine's own block cache, so copying it through the
// page cache buys nothing, and on this repo's benchmark VM it was the
// broker's costliest write: each new page cache page of a fresh file cost
// about 3 s of CPU per GiB on a machine whose page cache was full
// (reclaim), against 0.2 s per GiB with O_DIRECT (docs/benchmarks.md).
// Direct writes also wait for the device chunk by chunk, so they keep the
// device queue as short for the WAL as the buffered path's writeback does.
const (
	directAlign = directio.Align
	// directChunk is the size of one direct write: one at a time in
	// flight, as writebackChunk for buffered writes.
	directChunk = 512 << 10
)

// noDirectIO is set once the filesystem refused O_DIRECT (tmpfs does), so
// that later Puts go straight to buffered writes.
var noDirectIO atomic.Bool

// directPrefix is how much of data can be written with O_DIRECT: its
// length rounded down to whole blocks, or 0 when its buffer is not aligned
// (large Go allocations are page-aligned, so objects normally are).
func directPrefix(data []byte) int {
	if len(data) < directAlign || !directio.Aligned(data) {
		return 0
	}
	return len(data) &^ (directAlign - 1)
}

// writeDirect writes data, a whole number of aligned blocks, at f's
// current offset (0) with O_DIRECT turned on for the writes and off again
// after them. done is false, with nothing written, when the filesystem does
// not take O_DIRECT; the caller then writes everything buffered.
func writeDirect(f *os.File, data []byte) (done bool, err error) {
	setDirect := func(on bool) error { return directio.Set(f, on) }
	if err := setDirect(true); err != nil {
		if errors.Is(err, syscall.EINVAL) {
			noDirectIO.Store(true)
			return false, nil
		}
		return false, err
	}
	for off := 0; off < len(data); off += directChunk {
		end := min(off+directChunk, len(data))
		if _, err := f.Write(data[off:end]); err != nil {
			if off == 0 && errors.Is(err, syscall.EINVAL) {
				// Accepted by fcntl, refused by the write (an alignment
				// the device wants larger): nothing was written.
				noDirectIO.Store(true)
				return false, setDirect(false)
			}
			return false, err
		}
	}
	if err := setDirect(false); err != nil {
		return false, err
	}
	return true, nil
}

// writeBuffered is writeFile through the page cache, written back chunk
// by chunk as described above.
func writeBuffered(f *os.File, data []byte) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	rangeOp := func(off, n int64, flags int) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			for {
				serr = syscall.SyncFileRange(int(fd), off, n, flags)
				if serr != syscall.EINTR {
					break
				}
			}
		}); err != nil {
			return err
		}
		return serr
	}
	usable := objectWrites != writesPlain
	for off := 0; off < len(data); off += writebackChunk {
		end := min(off+writebackChunk, len(data))
		if _, err := f.Write(data[off:end]); err != nil {
			return err
		}
		if !usable {
			continue
		}
		err := rangeOp(int64(off), int64(end-off), syncFileRangeWrite)
		if err == nil && off > 0 {
			err = rangeOp(int64(off-writebackChunk), writebackChunk,
				syncFileRangeWaitBefore|syncFileRangeWrite|syncFileRangeWaitAfter)
		}
		if errors.Is(err, syscall.ENOSYS) || errors.Is(err, syscall.EOPNOTSUPP) {
			// Only a hint where it exists: write the rest plainly and let
			// the fsync do all the work.
			usable = false
			continue
		}
		if err != nil {
			return &os.PathError{Op: "sync_file_range", Path: f.Name(), Err: err}
		}
	}
	return nil
}

// directReadMin is the smallest range readRange reads with O_DIRECT. A
// direct read rounds the range out to whole blocks, and the caller keeps
// the rounded buffer alive through the slice it gets, which for a small
// range would be mostly waste; small ranges are cheap through the page
// cache anyway.
const directReadMin = 64 << 10

// readRange reads n bytes of f at off. Large ranges are read with O_DIRECT,
// for the reason objects are written with it: the engine caches what it
// reads in its block cache, and a second copy in the page cache costs the
// CPU of allocating (and, on a full page cache, reclaiming) its pages.
func readRange(f *os.File, off, n int64) ([]byte, error) {
	if n < directReadMin || objectWrites != writesDirect || noDirectIO.Load() {
		return readBuffered(f, off, n)
	}
	if err := directio.Set(f, true); err != nil {
		if errors.Is(err, syscall.EINVAL) {
			noDirectIO.Store(true)
			return readBuffered(f, off, n)
		}
		return nil, err
	}
	start := off &^ (directAlign - 1)
	end := (off + n + directAlign - 1) &^ (directAlign - 1)
	buf := directio.Buffer(int(end - start))
	// The rounded range may run past the end of the file: a short read
	// ending in io.EOF is fine as long as it covers the range asked for.
	got, err := f.ReadAt(buf, start)
	if err != nil && (int64(got) < off-start+n || !errors.Is(err, io.EOF)) {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf[off-start : off-start+n : off-start+n], nil
}
