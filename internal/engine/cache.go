package engine

import (
	"container/list"
	"context"
	"fmt"
	"sync"

	"github.com/weirdb/weir/internal/storage/objfmt"
)

// blockCache keeps recently read object blocks (one partition's run of
// batches inside an object) in memory, least recently used out first.
// Reading a whole block at once is the read-ahead for catch-up consumers:
// the next fetches of the same partition hit memory.
type blockCache struct {
	limit int64

	mu      sync.Mutex // guards the following
	used    int64
	entries map[string]*list.Element
	lru     list.List // of *blockEntry, front = most recent
	loading map[string]*blockLoad
}

type blockEntry struct {
	key  string
	data []byte
}

type blockLoad struct {
	done chan struct{}
	data []byte
	err  error
}

func newBlockCache(limit int64) *blockCache {
	return &blockCache{limit: limit, entries: map[string]*list.Element{}, loading: map[string]*blockLoad{}}
}

func (c *blockCache) size() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used
}

// get returns the block for key, loading it once however many readers ask
// at the same time.
func (c *blockCache) get(ctx context.Context, key string, load func() ([]byte, error)) ([]byte, error) {
	c.mu.Lock()
	if el, ok := c.entries[key]; ok {
		c.lru.MoveToFront(el)
		data := el.Value.(*blockEntry).data
		c.mu.Unlock()
		return data, nil
	}
	if l, ok := c.loading[key]; ok {
		c.mu.Unlock()
		select {
		case <-l.done:
			return l.data, l.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	l := &blockLoad{done: make(chan struct{})}
	c.loading[key] = l
	c.mu.Unlock()

	l.data, l.err = load()

	c.mu.Lock()
	delete(c.loading, key)
	if l.err == nil && int64(len(l.data)) <= c.limit {
		c.entries[key] = c.lru.PushFront(&blockEntry{key: key, data: l.data})
		c.used += int64(len(l.data))
		for c.used > c.limit {
			el := c.lru.Back()
			be := el.Value.(*blockEntry)
			c.lru.Remove(el)
			delete(c.entries, be.key)
			c.used -= int64(len(be.data))
		}
	}
	c.mu.Unlock()
	close(l.done)
	return l.data, l.err
}

// has reports whether key is cached or being loaded.
func (c *blockCache) has(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, cached := c.entries[key]
	_, loading := c.loading[key]
	return cached || loading
}

func blockKey(r rangeRecord) string { return fmt.Sprintf("%s@%d", r.Key, r.Pos) }

// readAheadSlots bounds the blocks being read ahead at once, so that a
// burst of catch-up fetches cannot queue unbounded reads on the store.
const readAheadSlots = 16

// readAhead loads r's block into the cache in the background, unless it is
// there already, being loaded, or readAheadSlots loads are running. Close
// waits for every read-ahead (it takes all the slots), and cancels them.
func (e *Engine) readAhead(r rangeRecord) {
	key := blockKey(r)
	if e.blocks.has(key) {
		return
	}
	select {
	case <-e.stop:
		return
	default:
	}
	select {
	case e.readAheads <- struct{}{}:
	default:
		return
	}
	go func() {
		defer func() { <-e.readAheads }()
		if _, err := e.readBlock(e.life, r); err != nil && e.life.Err() == nil {
			// The reader that wants it will load it again and report.
			e.log.Debug("read-ahead failed", "object", r.Key, "pos", r.Pos, "err", err)
		}
	}()
}

func (e *Engine) readBlock(ctx context.Context, r rangeRecord) ([]byte, error) {
	key := blockKey(r)
	return e.blocks.get(ctx, key, func() ([]byte, error) {
		data, err := e.cfg.Store.GetRange(ctx, r.Key, r.Pos, r.Len)
		if err != nil {
			return nil, fmt.Errorf("read object %s [%d,+%d): %w", r.Key, r.Pos, r.Len, err)
		}
		if err := objfmt.VerifyBlock(objfmt.Entry{Pos: r.Pos, Len: r.Len, BlockCRC: r.CRC}, data); err != nil {
			return nil, fmt.Errorf("read object %s: %w", r.Key, err)
		}
		return data, nil
	})
}
