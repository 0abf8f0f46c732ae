package meta

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// Memory is a KV held in process memory. It keeps one global revision
// counter, as etcd does, so code tested against it sees the same revision
// behaviour it will see in production.
type Memory struct {
	// mu guards the following.
	mu     sync.RWMutex
	rev    int64
	data   map[string]memEntry
	closed bool
}

type memEntry struct {
	value  []byte
	modRev int64
}

var _ KV = (*Memory)(nil)

// NewMemory returns an empty in-memory KV.
func NewMemory() *Memory {
	return &Memory{data: make(map[string]memEntry)}
}

// Get implements KV.
func (m *Memory) Get(ctx context.Context, key string) (KeyValue, bool, error) {
	if err := ctx.Err(); err != nil {
		return KeyValue{}, false, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return KeyValue{}, false, ErrClosed
	}
	e, ok := m.data[key]
	if !ok {
		return KeyValue{}, false, nil
	}
	return KeyValue{Key: key, Value: clone(e.value), ModRev: e.modRev}, true, nil
}

// List implements KV. It sorts on every call: the memory store serves tests,
// where simplicity beats an ordered index.
func (m *Memory) List(ctx context.Context, prefix string) ([]KeyValue, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, ErrClosed
	}
	var out []KeyValue
	for k, e := range m.data {
		if strings.HasPrefix(k, prefix) {
			out = append(out, KeyValue{Key: k, Value: clone(e.value), ModRev: e.modRev})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// Txn implements KV. Like etcd, it returns the current revision when the
// conds fail, and it only advances the revision when something changed (a
// delete of a missing key is not a change).
func (m *Memory) Txn(ctx context.Context, conds []Cond, ops []Op) (int64, bool, error) {
	if err := ctx.Err(); err != nil {
		return 0, false, err
	}
	// Rejected up front, as etcd does, so code that passes against Memory
	// does not fail against etcd.
	if err := checkDuplicates(ops); err != nil {
		return 0, false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return 0, false, ErrClosed
	}
	for _, c := range conds {
		if m.data[c.Key].modRev != c.ModRev {
			return m.rev, false, nil
		}
	}
	next := m.rev + 1
	changed := false
	for _, op := range ops {
		switch {
		case op.Delete && op.Prefix:
			for k := range m.data {
				if strings.HasPrefix(k, op.Key) {
					delete(m.data, k)
					changed = true
				}
			}
		case op.Delete:
			if _, ok := m.data[op.Key]; ok {
				delete(m.data, op.Key)
				changed = true
			}
		default:
			m.data[op.Key] = memEntry{value: clone(op.Value), modRev: next}
			changed = true
		}
	}
	if changed {
		m.rev = next
	}
	return m.rev, true, nil
}

// Close implements KV. Later calls return ErrClosed.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	m.data = nil
	return nil
}

// checkDuplicates mirrors etcd's rule for one transaction: a key may be
// written by at most one put, and no put may fall inside a delete. Etcd
// answers "duplicate key given in txn request"; so do we, with the key.
func checkDuplicates(ops []Op) error {
	puts := make(map[string]struct{}, len(ops))
	for _, op := range ops {
		if op.Delete {
			continue
		}
		if _, dup := puts[op.Key]; dup {
			return fmt.Errorf("meta: duplicate key %q in txn", op.Key)
		}
		puts[op.Key] = struct{}{}
	}
	for _, op := range ops {
		if !op.Delete {
			continue
		}
		if !op.Prefix {
			if _, dup := puts[op.Key]; dup {
				return fmt.Errorf("meta: key %q both put and deleted in txn", op.Key)
			}
			continue
		}
		for k := range puts {
			if strings.HasPrefix(k, op.Key) {
				return fmt.Errorf("meta: key %q both put and deleted (prefix %q) in txn", k, op.Key)
			}
		}
	}
	return nil
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append(make([]byte, 0, len(b)), b...)
}
