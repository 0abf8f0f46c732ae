package wal

import (
	"slices"
	"sync"
)

var _ WAL = (*Memory)(nil)

// Memory is a WAL held in memory, for tests of the layers above. An entry is
// durable as soon as the commit goroutine has taken it from the queue, so
// callbacks still run later, from that goroutine, in order, as with File.
type Memory struct {
	c *committer

	mu      sync.Mutex // guards the following
	first   uint64     // sequence number of entries[0]
	entries [][]byte
	trimTo  uint64 // entries below it go even if Trim came before their flush
}

// NewMemory returns an empty Memory whose first entry will be number 1.
func NewMemory() *Memory {
	return newMemory(1, nil)
}

func newMemory(first uint64, entries [][]byte) *Memory {
	m := &Memory{first: first, entries: entries}
	m.c = newCommitter(first+uint64(len(entries)), defaultMaxQueuedBytes, m.flush)
	return m
}

// Reopen returns a new Memory holding what m holds durably and has not
// trimmed, as a File reopened from its directory would. Called on a Memory
// that is still open, it simulates a crash: entries still queued are lost
// and their callbacks may still run on m.
func (m *Memory) Reopen() *Memory {
	m.mu.Lock()
	defer m.mu.Unlock()
	return newMemory(m.first, slices.Clone(m.entries))
}

func (m *Memory) flush(b *batch) error {
	m.mu.Lock()
	m.entries = append(m.entries, b.data...)
	m.trimLocked()
	m.mu.Unlock()
	return nil
}

// Replay calls fn for every retained entry. fn receives the slice given to
// Append, which nobody may modify.
func (m *Memory) Replay(fn func(seq uint64, data []byte) error) error {
	if err := m.c.beginReplay(); err != nil {
		return err
	}
	m.mu.Lock()
	first, entries := m.first, slices.Clone(m.entries)
	m.mu.Unlock()
	for i, data := range entries {
		if err := fn(first+uint64(i), data); err != nil {
			return err
		}
	}
	return nil
}

// Append queues data. done must not block on the WAL (by calling Append, for
// one): it runs on the goroutine that drains the queue.
func (m *Memory) Append(data []byte, done func(err error)) (uint64, error) {
	return m.c.append(data, done)
}

// Trim drops every entry below seq at once.
func (m *Memory) Trim(seq uint64) error {
	if m.c.isClosed() {
		return ErrClosed
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.trimTo = max(m.trimTo, seq)
	m.trimLocked()
	return nil
}

func (m *Memory) trimLocked() {
	if m.trimTo <= m.first {
		return
	}
	n := min(m.trimTo-m.first, uint64(len(m.entries)))
	clear(m.entries[:n])
	m.entries = m.entries[n:]
	m.first += n
}

// Close runs the callbacks of everything queued. A second Close returns
// ErrClosed.
func (m *Memory) Close() error {
	return m.c.close()
}
