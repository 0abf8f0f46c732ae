package objstore

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Op names a Store method, for fault injection and call counting.
type Op int

// The Store methods.
const (
	OpPut Op = iota
	OpGet
	OpGetRange
	OpDelete
	OpList
	numOps
)

func (op Op) String() string {
	switch op {
	case OpPut:
		return "put"
	case OpGet:
		return "get"
	case OpGetRange:
		return "getrange"
	case OpDelete:
		return "delete"
	case OpList:
		return "list"
	}
	return fmt.Sprintf("Op(%d)", int(op))
}

// Faulty wraps a Store and injects errors and latency, for crash, retry and
// back-pressure tests. With nothing configured it passes every call through
// unchanged. It is safe for concurrent use, and faults may be changed while
// calls are in flight.
//
// Each call to op runs in this order: count it, wait the op's delay (giving
// up if ctx ends), ask the hook, then apply the op's fault, if any.
type Faulty struct {
	inner Store
	calls [numOps]atomic.Int64

	// mu guards the following.
	mu     sync.Mutex
	faults [numOps]fault
	delays [numOps]time.Duration
	hook   func(op Op, key string) error
}

// fault is an error to inject for the next n calls (every call if n < 0).
type fault struct {
	err error
	n   int
	// after lets the call reach the inner store before failing it, as when
	// a response is lost after the server applied the request.
	after bool
}

var _ Store = (*Faulty)(nil)

// NewFaulty wraps inner.
func NewFaulty(inner Store) *Faulty {
	return &Faulty{inner: inner}
}

// Inner returns the wrapped store, for reading behind the faults.
func (f *Faulty) Inner() Store { return f.inner }

// Fail makes every call to op fail with err, without reaching the inner
// store, until changed. A nil err removes the op's fault. It replaces any
// fault set earlier for op.
func (f *Faulty) Fail(op Op, err error) { f.setFault(op, fault{err: err, n: -1}) }

// FailAll makes every call to every op fail with err until changed.
func (f *Faulty) FailAll(err error) {
	for op := range numOps {
		f.Fail(op, err)
	}
}

// FailN makes the next n calls to op fail with err, without reaching the
// inner store; later calls pass through. It replaces any earlier fault for op.
func (f *Faulty) FailN(op Op, n int, err error) { f.setFault(op, fault{err: err, n: n}) }

// FailAfterN lets the next n calls to op take effect on the inner store and
// then fail with err: the request was applied but the caller sees an error
// (a lost response or a timeout after the write). It replaces any earlier
// fault for op.
func (f *Faulty) FailAfterN(op Op, n int, err error) {
	f.setFault(op, fault{err: err, n: n, after: true})
}

func (f *Faulty) setFault(op Op, flt fault) {
	if flt.err == nil {
		flt = fault{}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults[op] = flt
}

// SetDelay makes every call to op wait d before doing anything else. A
// call whose ctx ends while waiting fails with the ctx error.
func (f *Faulty) SetDelay(op Op, d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.delays[op] = d
}

// SetHook installs fn, called with the op and key (the prefix for List) of
// every call; a non-nil result fails the call without reaching the inner
// store. It lets a test fail calls selectively, by key or by count. fn may
// be called concurrently. A nil fn removes the hook.
func (f *Faulty) SetHook(fn func(op Op, key string) error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hook = fn
}

// Clear removes every fault, delay and the hook. Call counts are kept.
func (f *Faulty) Clear() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = [numOps]fault{}
	f.delays = [numOps]time.Duration{}
	f.hook = nil
}

// Calls returns how many times op has been called, failed calls included.
func (f *Faulty) Calls(op Op) int64 { return f.calls[op].Load() }

// before runs the injection steps for one call. It returns an error to fail
// the call with now, or after, an error to fail it with once the inner store
// has run.
func (f *Faulty) before(ctx context.Context, op Op, key string) (now, after error) {
	f.calls[op].Add(1)
	f.mu.Lock()
	delay, hook := f.delays[op], f.hook
	f.mu.Unlock()
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err(), nil
		}
	}
	if hook != nil {
		if err := hook(op, key); err != nil {
			return err, nil
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	flt := &f.faults[op]
	if flt.err == nil || flt.n == 0 {
		return nil, nil
	}
	err := flt.err
	if flt.n > 0 {
		flt.n--
	}
	if flt.after {
		return nil, err
	}
	return err, nil
}

// Put implements Store.
func (f *Faulty) Put(ctx context.Context, key string, data []byte) error {
	now, after := f.before(ctx, OpPut, key)
	if now != nil {
		return fmt.Errorf("put object %s: %w", key, now)
	}
	if err := f.inner.Put(ctx, key, data); err != nil {
		return err
	}
	if after != nil {
		return fmt.Errorf("put object %s: %w", key, after)
	}
	return nil
}

// Get implements Store.
func (f *Faulty) Get(ctx context.Context, key string) ([]byte, error) {
	now, after := f.before(ctx, OpGet, key)
	if now != nil {
		return nil, fmt.Errorf("get object %s: %w", key, now)
	}
	data, err := f.inner.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	if after != nil {
		return nil, fmt.Errorf("get object %s: %w", key, after)
	}
	return data, nil
}

// GetRange implements Store.
func (f *Faulty) GetRange(ctx context.Context, key string, off, n int64) ([]byte, error) {
	now, after := f.before(ctx, OpGetRange, key)
	if now != nil {
		return nil, fmt.Errorf("get object %s: %w", key, now)
	}
	data, err := f.inner.GetRange(ctx, key, off, n)
	if err != nil {
		return nil, err
	}
	if after != nil {
		return nil, fmt.Errorf("get object %s: %w", key, after)
	}
	return data, nil
}

// Delete implements Store.
func (f *Faulty) Delete(ctx context.Context, key string) error {
	now, after := f.before(ctx, OpDelete, key)
	if now != nil {
		return fmt.Errorf("delete object %s: %w", key, now)
	}
	if err := f.inner.Delete(ctx, key); err != nil {
		return err
	}
	if after != nil {
		return fmt.Errorf("delete object %s: %w", key, after)
	}
	return nil
}

// List implements Store. A FailAfterN fault lets the whole listing run, fn
// included, before failing it.
func (f *Faulty) List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error {
	now, after := f.before(ctx, OpList, prefix)
	if now != nil {
		return fmt.Errorf("list objects %s: %w", prefix, now)
	}
	if err := f.inner.List(ctx, prefix, fn); err != nil {
		return err
	}
	if after != nil {
		return fmt.Errorf("list objects %s: %w", prefix, after)
	}
	return nil
}
