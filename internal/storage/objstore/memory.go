package objstore

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"strings"
	"sync"
	"time"
)

// Memory is a Store held in memory, for tests. It copies data in and out, so
// callers may reuse their buffers, and it enforces the same key rules as the
// filesystem store so that tests written against it hold on disk too.
type Memory struct {
	// mu guards the following.
	mu      sync.RWMutex
	objects map[string]memObject
	// dirs counts the objects under each directory prefix ("a" for "a/b"),
	// to reject a key that is also a directory of another key.
	dirs map[string]int
}

type memObject struct {
	data    []byte
	modTime time.Time
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty in-memory store. It is safe for concurrent use.
func NewMemory() *Memory {
	return &Memory{objects: map[string]memObject{}, dirs: map[string]int{}}
}

// Put stores a copy of data under key.
func (m *Memory) Put(ctx context.Context, key string, data []byte) error {
	if err := ValidateKey(key); err != nil {
		return fmt.Errorf("put object: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put object %s: %w", key, err)
	}
	obj := memObject{data: slices.Clone(data), modTime: time.Now()}
	if obj.data == nil {
		obj.data = []byte{}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.checkConflictLocked(key); err != nil {
		return fmt.Errorf("put object %s: %w", key, err)
	}
	if _, ok := m.objects[key]; !ok {
		for dir := range parentDirs(key) {
			m.dirs[dir]++
		}
	}
	m.objects[key] = obj
	return nil
}

func (m *Memory) checkConflictLocked(key string) error {
	if m.dirs[key] > 0 {
		return fmt.Errorf("%w: other keys start with %q", ErrInvalidKey, key+"/")
	}
	for dir := range parentDirs(key) {
		if _, ok := m.objects[dir]; ok {
			return fmt.Errorf("%w: key %q is a path prefix of it", ErrInvalidKey, dir)
		}
	}
	return nil
}

// Get returns a copy of the object.
func (m *Memory) Get(ctx context.Context, key string) ([]byte, error) {
	obj, err := m.lookup(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("get object %s: %w", key, err)
	}
	return slices.Clone(obj.data), nil
}

// GetRange returns a copy of n bytes of the object starting at off.
func (m *Memory) GetRange(ctx context.Context, key string, off, n int64) ([]byte, error) {
	obj, err := m.lookup(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("get object %s: %w", key, err)
	}
	if err := checkRange(key, off, n, int64(len(obj.data))); err != nil {
		return nil, err
	}
	return slices.Clone(obj.data[off : off+n]), nil
}

func (m *Memory) lookup(ctx context.Context, key string) (memObject, error) {
	if err := ValidateKey(key); err != nil {
		return memObject{}, err
	}
	if err := ctx.Err(); err != nil {
		return memObject{}, err
	}
	m.mu.RLock()
	obj, ok := m.objects[key]
	m.mu.RUnlock()
	if !ok {
		return memObject{}, ErrNotExist
	}
	return obj, nil
}

// Delete removes the object; a missing key is not an error.
func (m *Memory) Delete(ctx context.Context, key string) error {
	if err := ValidateKey(key); err != nil {
		return fmt.Errorf("delete object: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete object %s: %w", key, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.objects[key]; !ok {
		return nil
	}
	delete(m.objects, key)
	for dir := range parentDirs(key) {
		if m.dirs[dir]--; m.dirs[dir] == 0 {
			delete(m.dirs, dir)
		}
	}
	return nil
}

// List calls fn for each object whose key starts with prefix, in key order.
// It works on a snapshot of the matching keys taken at the start and holds no
// lock while fn runs, so fn may call back into the store.
func (m *Memory) List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error {
	if err := validatePrefix(prefix); err != nil {
		return fmt.Errorf("list objects: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("list objects %s: %w", prefix, err)
	}
	m.mu.RLock()
	infos := make([]ObjectInfo, 0, len(m.objects))
	for key, obj := range m.objects {
		if strings.HasPrefix(key, prefix) {
			infos = append(infos, ObjectInfo{Key: key, Size: int64(len(obj.data)), ModTime: obj.modTime})
		}
	}
	m.mu.RUnlock()
	slices.SortFunc(infos, func(a, b ObjectInfo) int { return strings.Compare(a.Key, b.Key) })
	for _, info := range infos {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("list objects %s: %w", prefix, err)
		}
		if err := fn(info); err != nil {
			return err
		}
	}
	return nil
}

// parentDirs yields the directory prefixes of key: "a" and "a/b" for "a/b/c".
func parentDirs(key string) iter.Seq[string] {
	return func(yield func(string) bool) {
		for i := 0; i < len(key); i++ {
			if key[i] == '/' && !yield(key[:i]) {
				return
			}
		}
	}
}
