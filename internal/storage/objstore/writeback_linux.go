package objstore

import (
	"errors"
	"os"
	"syscall"
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

// chunkedWriteback turns writeFile's early writeback on; a variable only so
// that BenchmarkWALSyncWhilePut can compare with plain writes.
var chunkedWriteback = true

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
	usable := chunkedWriteback
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
