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
