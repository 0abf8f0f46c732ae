package meta

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrInjected is the error a Faulty returns for a fault it injected.
var ErrInjected = errors.New("meta: injected fault")

// Faulty wraps a KV and injects faults on demand, for crash and error tests
// of the code above it. With no fault set it is a correct KV (it passes
// metatest).
type Faulty struct {
	inner KV

	// mu guards the following.
	mu       sync.Mutex
	failTxns int                               // next Txns fail before reaching inner
	loseTxns int                               // next Txns are applied, then report an error
	match    func(conds []Cond, ops []Op) bool // which Txns the two counts above hit; nil: all
	failAll  bool
	latency  time.Duration
	applied  int64 // Txn calls passed to inner
}

var _ KV = (*Faulty)(nil)

// NewFaulty returns a wrapper of inner with no fault set.
func NewFaulty(inner KV) *Faulty {
	return &Faulty{inner: inner}
}

// FailTxns makes the next n matching Txn calls (see MatchTxns) return
// ErrInjected without touching the store: a commit that never happened.
func (f *Faulty) FailTxns(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failTxns = n
}

// LoseTxnReplies makes the next n matching Txn calls apply to the store and
// then return ErrInjected: etcd committing and the reply getting lost,
// which callers cannot tell from a failure.
func (f *Faulty) LoseTxnReplies(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.loseTxns = n
}

// MatchTxns restricts FailTxns and LoseTxnReplies to Txns for which match
// returns true, so a test can fail, say, the object-index commit while
// lease renewals and the controller carry on. nil matches every Txn.
func (f *Faulty) MatchTxns(match func(conds []Cond, ops []Op) bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.match = match
}

// FailAll makes every call (Get, List, Txn) return ErrInjected while on: the
// metadata store unreachable.
func (f *Faulty) FailAll(on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failAll = on
}

// SetLatency delays every call by d before it reaches the store; a call
// whose context ends first returns the context's error.
func (f *Faulty) SetLatency(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.latency = d
}

// Heal clears every fault.
func (f *Faulty) Heal() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failTxns, f.loseTxns, f.match, f.failAll, f.latency = 0, 0, nil, false, 0
}

// Txns returns how many Txn calls reached the store, applied or not; tests
// use it to check, e.g., one metadata commit per uploaded object.
func (f *Faulty) Txns() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.applied
}

// before delays the call and reports whether it must fail outright.
func (f *Faulty) before(ctx context.Context, op string) error {
	f.mu.Lock()
	d, fail := f.latency, f.failAll
	f.mu.Unlock()
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if fail {
		return fmt.Errorf("meta %s: %w", op, ErrInjected)
	}
	return nil
}

// Get implements KV.
func (f *Faulty) Get(ctx context.Context, key string) (KeyValue, bool, error) {
	if err := f.before(ctx, "get"); err != nil {
		return KeyValue{}, false, err
	}
	return f.inner.Get(ctx, key)
}

// List implements KV.
func (f *Faulty) List(ctx context.Context, prefix string) ([]KeyValue, error) {
	if err := f.before(ctx, "list"); err != nil {
		return nil, err
	}
	return f.inner.List(ctx, prefix)
}

// Txn implements KV.
func (f *Faulty) Txn(ctx context.Context, conds []Cond, ops []Op) (int64, bool, error) {
	if err := f.before(ctx, "txn"); err != nil {
		return 0, false, err
	}
	f.mu.Lock()
	match := f.match
	f.mu.Unlock()
	// Outside the lock: match is the test's code and may call back into f.
	hit := match == nil || match(conds, ops)
	f.mu.Lock()
	var fail, lose bool
	if hit {
		if f.failTxns > 0 {
			f.failTxns--
			fail = true
		} else if f.loseTxns > 0 {
			f.loseTxns--
			lose = true
		}
	}
	if !fail {
		f.applied++
	}
	f.mu.Unlock()
	if fail {
		return 0, false, fmt.Errorf("meta txn: %w", ErrInjected)
	}
	rev, ok, err := f.inner.Txn(ctx, conds, ops)
	if lose && err == nil {
		return 0, false, fmt.Errorf("meta txn (applied=%v): reply lost: %w", ok, ErrInjected)
	}
	return rev, ok, err
}

// Close implements KV; it closes the inner store.
func (f *Faulty) Close() error { return f.inner.Close() }
