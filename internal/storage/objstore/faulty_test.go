package objstore_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weirdb/weir/internal/storage/objstore"
	"github.com/weirdb/weir/internal/storage/objstore/objstoretest"
)

// With no faults configured, Faulty is a transparent Store.
func TestFaultyPassThrough(t *testing.T) {
	objstoretest.Run(t, func(t *testing.T) objstore.Store {
		return objstore.NewFaulty(objstore.NewMemory())
	})
}

var errInjected = errors.New("injected")

func TestFaultyFailN(t *testing.T) {
	ctx := t.Context()
	f := objstore.NewFaulty(objstore.NewMemory())
	f.FailN(objstore.OpPut, 2, errInjected)
	for i := range 2 {
		if err := f.Put(ctx, "k", []byte("v")); !errors.Is(err, errInjected) {
			t.Fatalf("Put #%d: error = %v, want injected", i+1, err)
		}
	}
	if _, err := f.Inner().Get(ctx, "k"); !errors.Is(err, objstore.ErrNotExist) {
		t.Fatalf("a failed Put reached the inner store: %v", err)
	}
	if err := f.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatalf("Put #3 after the faults ran out: %v", err)
	}
	if got := f.Calls(objstore.OpPut); got != 3 {
		t.Fatalf("Calls(OpPut) = %d, want 3", got)
	}
	if got := f.Calls(objstore.OpGet); got != 0 {
		t.Fatalf("Calls(OpGet) = %d, want 0: reads through Inner are not counted", got)
	}
}

func TestFaultyFailAndClear(t *testing.T) {
	ctx := t.Context()
	f := objstore.NewFaulty(objstore.NewMemory())
	if err := f.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	f.FailAll(errInjected)
	calls := map[string]error{}
	calls["put"] = f.Put(ctx, "k2", nil)
	_, calls["get"] = f.Get(ctx, "k")
	_, calls["getrange"] = f.GetRange(ctx, "k", 0, 1)
	calls["delete"] = f.Delete(ctx, "k")
	calls["list"] = f.List(ctx, "", func(objstore.ObjectInfo) error { return nil })
	for op, err := range calls {
		if !errors.Is(err, errInjected) {
			t.Errorf("%s under FailAll: error = %v, want injected", op, err)
		}
	}
	f.Fail(objstore.OpGet, nil) // lifts just the Get fault
	if _, err := f.Get(ctx, "k"); err != nil {
		t.Fatalf("Get after its fault was lifted: %v", err)
	}
	if err := f.Delete(ctx, "k"); !errors.Is(err, errInjected) {
		t.Fatalf("Delete, still faulted: error = %v", err)
	}
	f.Clear()
	if err := f.Delete(ctx, "k"); err != nil {
		t.Fatalf("Delete after Clear: %v", err)
	}
}

// FailAfterN models a lost response: the write lands, the caller sees an error.
func TestFaultyFailAfterN(t *testing.T) {
	ctx := t.Context()
	f := objstore.NewFaulty(objstore.NewMemory())
	f.FailAfterN(objstore.OpPut, 1, errInjected)
	if err := f.Put(ctx, "k", []byte("v")); !errors.Is(err, errInjected) {
		t.Fatalf("Put: error = %v, want injected", err)
	}
	got, err := f.Get(ctx, "k")
	if err != nil || !bytes.Equal(got, []byte("v")) {
		t.Fatalf("Get after a Put whose response was lost = %q, %v; want the object", got, err)
	}
}

func TestFaultyDelay(t *testing.T) {
	f := objstore.NewFaulty(objstore.NewMemory())
	f.SetDelay(objstore.OpPut, 50*time.Millisecond)
	start := time.Now()
	if err := f.Put(t.Context(), "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Fatalf("Put took %v, want at least the 50ms delay", d)
	}

	// A caller giving up ends the wait, and the write never happens.
	f.SetDelay(objstore.OpPut, time.Hour)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if err := f.Put(ctx, "k2", []byte("v")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("delayed Put past its deadline: error = %v, want DeadlineExceeded", err)
	}
	if _, err := f.Inner().Get(t.Context(), "k2"); !errors.Is(err, objstore.ErrNotExist) {
		t.Fatalf("a Put abandoned during its delay reached the store: %v", err)
	}
}

func TestFaultyHook(t *testing.T) {
	ctx := t.Context()
	f := objstore.NewFaulty(objstore.NewMemory())
	var mu sync.Mutex
	var seen []string
	f.SetHook(func(op objstore.Op, key string) error {
		mu.Lock()
		seen = append(seen, op.String()+" "+key)
		mu.Unlock()
		if op == objstore.OpPut && strings.HasPrefix(key, "wal/") {
			return errInjected
		}
		return nil
	})
	if err := f.Put(ctx, "wal/1", nil); !errors.Is(err, errInjected) {
		t.Fatalf("Put(wal/1): error = %v, want injected", err)
	}
	if err := f.Put(ctx, "data/1", nil); err != nil {
		t.Fatalf("Put(data/1): %v", err)
	}
	if err := f.List(ctx, "data/", func(objstore.ObjectInfo) error { return nil }); err != nil {
		t.Fatal(err)
	}
	want := []string{"put wal/1", "put data/1", "list data/"}
	if strings.Join(seen, ",") != strings.Join(want, ",") {
		t.Fatalf("hook saw %q, want %q", seen, want)
	}
}
