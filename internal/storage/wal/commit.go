package wal

import (
	"errors"
	"fmt"
	"sync"
)

const defaultMaxQueuedBytes = 64 << 20

var (
	errReplayAfterAppend = errors.New("wal: Replay after Append")
	errReplayTwice       = errors.New("wal: Replay called twice")
)

// batch is a run of consecutive entries made durable together.
type batch struct {
	first uint64 // sequence number of data[0]
	data  [][]byte
	done  []func(error)
	bytes int // what the entries count against maxBytes
}

// committer is the part of a WAL that every implementation shares: it
// numbers entries, queues them, and has one goroutine make each queued batch
// durable (through flush) and then run the batch's callbacks. A single
// goroutine fed by a queue makes the callback order trivially right, and it
// gives group commit for free: whatever queued up during one flush is the
// next batch.
type committer struct {
	flush    func(b *batch) error // called only from the loop goroutine
	maxBytes int

	kick chan struct{} // capacity 1; a value means the queue may not be empty
	stop chan struct{}
	wg   sync.WaitGroup

	spare batch // owned by the loop goroutine; recycled slices for pending

	mu       sync.Mutex // guards the following
	space    sync.Cond  // broadcast when queued shrinks, or on failure or close
	next     uint64
	pending  batch
	queued   int // bytes appended and not yet durable, including those being flushed
	failed   error
	closed   bool
	appended bool
	replayed bool
}

func newCommitter(next uint64, maxBytes int, flush func(*batch) error) *committer {
	c := &committer{
		flush:    flush,
		maxBytes: maxBytes,
		kick:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
		next:     next,
	}
	c.space.L = &c.mu
	c.wg.Add(1)
	go c.loop()
	return c
}

func (c *committer) append(data []byte, done func(error)) (uint64, error) {
	n := frameHeaderSize + len(data)
	c.mu.Lock()
	// An entry larger than maxBytes still goes through once the queue is
	// empty; otherwise it would wait forever.
	for !c.closed && c.failed == nil && c.queued > 0 && c.queued+n > c.maxBytes {
		c.space.Wait()
	}
	if c.closed {
		c.mu.Unlock()
		return 0, ErrClosed
	}
	if c.failed != nil {
		err := c.failed
		c.mu.Unlock()
		return 0, err
	}
	seq := c.next
	c.next++
	c.appended = true
	if len(c.pending.data) == 0 {
		c.pending.first = seq
	}
	c.pending.data = append(c.pending.data, data)
	c.pending.done = append(c.pending.done, done)
	c.pending.bytes += n
	c.queued += n
	c.mu.Unlock()

	select {
	case c.kick <- struct{}{}:
	default:
	}
	return seq, nil
}

func (c *committer) loop() {
	defer c.wg.Done()
	for {
		select {
		case <-c.kick:
			for c.commit() {
			}
		case <-c.stop:
			// Close has stopped new appends; what is queued still gets its
			// flush and its callbacks.
			for c.commit() {
			}
			return
		}
	}
}

// commit flushes the queued batch and runs its callbacks. It reports false
// if there was nothing queued.
func (c *committer) commit() bool {
	c.mu.Lock()
	b := c.pending
	if len(b.data) == 0 {
		c.mu.Unlock()
		return false
	}
	c.pending, c.spare = c.spare, batch{}
	c.mu.Unlock()

	err := c.flush(&b)

	var rest batch
	c.mu.Lock()
	c.queued -= b.bytes
	if err != nil {
		// Entries queued behind a failed batch would leave a hole if they
		// were written, so they fail too, and so does every later Append.
		err = fmt.Errorf("wal failed: %w", err)
		c.failed = err
		rest, c.pending = c.pending, batch{}
		c.queued -= rest.bytes
	}
	c.space.Broadcast()
	c.mu.Unlock()

	for _, done := range b.done {
		if done != nil {
			done(err)
		}
	}
	for _, done := range rest.done {
		if done != nil {
			done(err)
		}
	}
	// Drop the references so that entries can be collected while the
	// slices wait for reuse.
	clear(b.data)
	clear(b.done)
	c.spare = batch{data: b.data[:0], done: b.done[:0]}
	return true
}

func (c *committer) beginReplay() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closed:
		return ErrClosed
	case c.appended:
		return errReplayAfterAppend
	case c.replayed:
		return errReplayTwice
	}
	c.replayed = true
	return nil
}

func (c *committer) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// close stops new appends, waits until everything queued is flushed and
// called back, and returns the error that failed the WAL, if any. A second
// close returns ErrClosed.
func (c *committer) close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	c.closed = true
	c.space.Broadcast()
	c.mu.Unlock()

	close(c.stop)
	c.wg.Wait()

	c.mu.Lock()
	defer c.mu.Unlock()
	return c.failed
}
