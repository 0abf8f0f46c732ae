package meta_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/weirdb/weir/internal/meta"
	"github.com/weirdb/weir/internal/meta/metatest"
)

// Healthy, the wrapper must be invisible.
func TestFaultyHealthy(t *testing.T) {
	metatest.Run(t, func(*testing.T) meta.KV { return meta.NewFaulty(meta.NewMemory()) })
}

func put(key string) []meta.Op { return []meta.Op{{Key: key, Value: []byte("v")}} }

func TestFaultyFailTxns(t *testing.T) {
	ctx := t.Context()
	mem := meta.NewMemory()
	f := meta.NewFaulty(mem)
	f.FailTxns(2)
	for i := range 2 {
		if _, _, err := f.Txn(ctx, nil, put("a")); !errors.Is(err, meta.ErrInjected) {
			t.Fatalf("txn %d: %v, want ErrInjected", i, err)
		}
	}
	if _, ok, _ := mem.Get(ctx, "a"); ok {
		t.Fatal("failed txn reached the store")
	}
	if _, ok, err := f.Txn(ctx, nil, put("a")); err != nil || !ok {
		t.Fatalf("third txn: ok=%v err=%v", ok, err)
	}
	if n := f.Txns(); n != 1 {
		t.Fatalf("Txns() = %d, want 1", n)
	}
}

func TestFaultyLoseTxnReplies(t *testing.T) {
	ctx := t.Context()
	f := meta.NewFaulty(meta.NewMemory())
	f.LoseTxnReplies(1)
	if _, _, err := f.Txn(ctx, nil, put("a")); !errors.Is(err, meta.ErrInjected) {
		t.Fatalf("txn: %v, want ErrInjected", err)
	}
	if _, ok, err := f.Get(ctx, "a"); err != nil || !ok {
		t.Fatalf("lost-reply txn not applied: ok=%v err=%v", ok, err)
	}
}

func TestFaultyMatchTxns(t *testing.T) {
	ctx := t.Context()
	f := meta.NewFaulty(meta.NewMemory())
	f.MatchTxns(func(_ []meta.Cond, ops []meta.Op) bool {
		return len(ops) > 0 && strings.HasPrefix(ops[0].Key, "index/")
	})
	f.FailTxns(1)
	if _, _, err := f.Txn(ctx, nil, put("lease/b1")); err != nil {
		t.Fatalf("unmatched txn: %v", err)
	}
	if _, _, err := f.Txn(ctx, nil, put("index/p0")); !errors.Is(err, meta.ErrInjected) {
		t.Fatalf("matched txn: %v, want ErrInjected", err)
	}
	if _, _, err := f.Txn(ctx, nil, put("index/p0")); err != nil {
		t.Fatalf("matched txn after the fault: %v", err)
	}
}

func TestFaultyFailAll(t *testing.T) {
	ctx := t.Context()
	f := meta.NewFaulty(meta.NewMemory())
	f.FailAll(true)
	if _, _, err := f.Get(ctx, "a"); !errors.Is(err, meta.ErrInjected) {
		t.Errorf("get: %v", err)
	}
	if _, err := f.List(ctx, ""); !errors.Is(err, meta.ErrInjected) {
		t.Errorf("list: %v", err)
	}
	if _, _, err := f.Txn(ctx, nil, put("a")); !errors.Is(err, meta.ErrInjected) {
		t.Errorf("txn: %v", err)
	}
	f.Heal()
	if _, _, err := f.Txn(ctx, nil, put("a")); err != nil {
		t.Errorf("txn after Heal: %v", err)
	}
}

func TestFaultyLatency(t *testing.T) {
	f := meta.NewFaulty(meta.NewMemory())
	f.SetLatency(50 * time.Millisecond)
	start := time.Now()
	if _, _, err := f.Get(t.Context(), "a"); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("get took %v, want >= 50ms", d)
	}
	// A deadline shorter than the latency wins.
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Millisecond)
	defer cancel()
	if _, _, err := f.Txn(ctx, nil, put("a")); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("txn under short deadline: %v, want DeadlineExceeded", err)
	}
}
