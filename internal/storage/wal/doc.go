// Package wal defines Weir's write-ahead log: the short-lived, durable bridge
// between a produce acknowledgement and the upload of the same bytes into
// object storage.
//
// A WAL is a sequence of opaque entries, each numbered by a sequence number
// that the WAL assigns in append order, starting at 1. The broker encodes what
// it needs (partition, epoch, record batch) inside each entry; the WAL never
// looks inside.
//
// Contract, shared by every implementation and checked by the acceptance
// suite in waltest:
//   - Append assigns the next sequence number and returns it at once; the
//     entry is durable only when done is called with a nil error.
//   - done callbacks run in sequence order, each exactly once, from a goroutine
//     owned by the WAL. A failed write fails that entry and every entry queued
//     after it; the WAL then stays failed (every later Append fails) until it
//     is closed and reopened, because entries after a hole could not be
//     replayed in order.
//   - Entries are made durable in batches (group commit): concurrent appends
//     share one sync.
//   - Replay, called before the first Append, visits every entry that was
//     durable and not trimmed, in sequence order. A torn or corrupt tail (a
//     crash mid-write) is cut at the first bad entry and never surfaces.
//   - Trim(n) says entries below n are no longer needed. Implementations may
//     keep them longer (whole segments are dropped), so Replay may still visit
//     entries below a trimmed point; callers skip what they already hold.
//
// # Implementations
//
// Memory keeps entries in memory; it is for tests of the layers above.
// File is the real WAL described below. FaultFS wraps File's filesystem to
// inject failed writes, failed syncs and torn writes in crash tests.
//
// # File: on-disk format
//
// A File owns one directory of segment files. Each segment is named after
// the sequence number of its first entry, zero-padded to 20 digits so that
// names sort in sequence order:
//
//	wal-00000000000000000001.log   entries 1 .. 41236
//	wal-00000000000000041237.log   entries 41237 .. 80112
//	wal-00000000000000080113.log   entries 80113 ..   (active: appends go here)
//
// Only the last segment is written to. Once its frames fill
// FileOptions.SegmentBytes (the last batch may run past it, growing the
// file), the next batch starts a new segment named after that batch's first
// entry. The first batch after OpenFile also starts a new segment if a free
// segment (below) is ready and the reopened one holds entries: the
// reopened segment then stays as short as its frames. In the example, Trim(50000) drops only the first file: the second
// still holds 50000 and later entries. Other names in the directory are
// ignored, except free segments (below).
//
// A dropped segment is not always deleted: up to FileOptions.RecycleSegments
// of them are renamed to free-NNNNNNNNNNNNNNNNNNNN.log (a counter, 20
// digits) and the next new segments are these files renamed back, instead of
// new files. A recycled segment keeps its old frames until they are
// overwritten; every block of it has been written once, which is the point
// (see "durability order"). OpenFile keeps the free segments it finds (up
// to RecycleSegments, and only those at least SegmentBytes long) and
// deletes the rest.
//
// A segment is a plain concatenation of frames, all integers little-endian:
//
//	offset  size    field
//	0       4       length: the number of data bytes
//	4       4       crc: CRC-32C (Castagnoli) of the bytes at 8 .. 16+length
//	8       8       seq: the entry's sequence number
//	16      length  data
//
// The entry with seq 7 and data "hi" is these 18 bytes:
//
//	02 00 00 00  e2 d1 5a 9c  07 00 00 00 00 00 00 00  68 69
//
// The frames may be followed by zeros up to the end of the file: the
// preallocated tail. In a recycled segment they are followed by what is left
// of its earlier life instead: frames of older entries, whose sequence
// numbers are all below the segment's first, usually starting mid-frame. A segment is preallocated to FileOptions.SegmentBytes
// of zeros (fallocate, or a sparse extension where the filesystem has no
// fallocate) when it is created and when it is reopened as the active
// segment, and frames overwrite the zeros from the start. Close truncates
// the active segment to its last frame, so a log closed cleanly has no
// zero tail; one left by a crash has. No frame starts with 16 zero bytes
// (seq is never 0), so a zero frame header cannot be mistaken for an entry.
// Older versions of Weir, which did not preallocate, read a zero tail as a
// bad frame and cut it (with a warning), losing nothing.
//
// # File: durability order
//
// Append: the entries queued since the last batch are written with one
// write (pwrite, at the end of the last frame) and made durable with one
// fdatasync; only then do their callbacks run, and a failed fdatasync fails
// them and the WAL (it is never retried: after a failed sync, the kernel may
// have dropped the dirty pages, so a later successful sync proves nothing).
// New and recycled segments are written with direct I/O (O_DIRECT) where
// the filesystem supports it. The write then starts at the beginning of
// the 4 KiB block that holds the end of the last frame (that partial block
// is kept in memory and written again) and is padded with zeros to a block
// boundary, so up to 4 KiB - 1 zeros may follow the last frame on disk.
// They are what a preallocated tail is: the clean end of the frames where
// only zeros follow, and in a recycled segment the start of its leftovers.
// The next batch writes over them. A reopened segment is written through
// the page cache until the next roll.
//
// fdatasync is enough because it also makes durable the metadata needed to
// read the data back (file size, block allocation); what it skips (mtime)
// recovery does not use. Preallocation makes it cheaper, as writes inside
// the preallocated zeros do not change the file size. A new segment is
// created, preallocated and the directory fsynced before the first write
// into it. Trim removes (or renames to free segments) the oldest segments
// first and then fsyncs the directory, so the segments left are always
// contiguous.
//
// Writing a batch over the zeros of a preallocated segment turns its blocks
// from "unwritten" to written, a metadata change that ext4 records by
// committing its journal in the fdatasync, and that commit waits for other
// files' dirty data too (data=ordered), such as an object being uploaded.
// Writing over the blocks of a recycled segment changes no metadata (its
// size does not change either, unless the batch runs past its end), so its
// fdatasync writes the data and flushes the device cache without a journal
// commit. A segment roll still commits the journal once (the directory
// fsync).
//
// # File: recovery
//
// OpenFile reads every segment in order and checks every frame: its length
// fits in the file, its crc matches, and its seq is one more than the last
// (the first frame of a segment must carry the seq in the file name, and a
// segment must start right after the previous one ends). A frame header of
// zeros (or fewer than 16 bytes of zeros at the end of the file) where every
// later byte of the segment is zero too is the segment's clean end, the
// preallocated tail: nothing is cut or logged, and the next segment, if any,
// must still start right after it. Zeros followed by anything else are a bad
// frame (reason "zeroed frame header before non-zero bytes": a disk that
// wrote a later block of a torn batch but not an earlier one). A segment
// whose frames stop at a bad frame but which is followed by a segment
// starting exactly at the sequence number due next is complete: the rest is
// the leftover of a recycled segment, and nothing is cut or logged (a frame
// lost in between would leave a gap before the next segment). At the first
// frame that fails, the log is cut: that segment is truncated to the end of
// the last good frame and fsynced, every later segment is deleted, the
// directory is fsynced, and a warning is logged with the keys "segment",
// "offset", "reason" and "deleted_segments". Appends continue after the last
// good entry. A read error is not a bad frame: OpenFile fails and changes
// nothing.
//
// A frame is bad only after a crash mid-write or a corrupted disk. A crash
// tears at most the batch being written, which was never acknowledged; in a
// preallocated segment what it leaves is part of that batch followed by
// zeros, cut at the first torn frame like any other; in a recycled segment,
// part of that batch followed by old frames, usually read as a bad frame
// (so a crash while writing a recycled segment is logged as a cut even when
// it tore nothing), or, if an old frame starts right there, as a sequence
// number below the one due: cut either way, and nothing acknowledged is
// lost, since every old frame carries a sequence number below the
// segment's first. A corrupted disk may
// cut acknowledged entries; the warning is the only trace. The converse does
// not hold: an entry whose done reported an error may still be replayed,
// because its write can reach the disk although the fsync failed. A failed
// entry's fate is unknown, not "absent".
package wal
