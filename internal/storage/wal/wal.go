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
package wal

import "errors"

// ErrClosed is returned by Append after Close.
var ErrClosed = errors.New("wal: closed")

// WAL is a durable, ordered log of opaque entries.
type WAL interface {
	// Replay calls fn for every retained entry in sequence order. It must be
	// called at most once, before any Append. An error from fn stops the
	// replay and is returned.
	Replay(fn func(seq uint64, data []byte) error) error

	// Append queues data (which the WAL may retain until done runs; callers
	// must not modify it) and returns its sequence number. done is called
	// once the entry is durable or has failed. Append blocks while the WAL's
	// queue of unsynced bytes is full (back-pressure) and returns an error
	// at once if the WAL has failed or is closed; in that case done is not
	// called.
	Append(data []byte, done func(err error)) (seq uint64, err error)

	// Trim marks every entry with a sequence number below seq as no longer
	// needed.
	Trim(seq uint64) error

	// Close syncs what is queued, runs the pending callbacks and releases
	// resources.
	Close() error
}
