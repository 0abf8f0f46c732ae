// Package objstoretest is the acceptance suite every objstore.Store passes.
// Each implementation's test calls Run with a constructor for empty stores;
// see objstore's memory_test.go for the shape.
package objstoretest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weirdb/weir/internal/storage/objstore"
)

// Option adjusts a run of the suite.
type Option func(*config)

type config struct {
	thorough bool
}

// Thorough adds the slow cases: listing more than 1000 keys (S3's page
// size), and more concurrent work. Fine for local stores; for S3 it costs
// over a thousand PUTs.
func Thorough() Option { return func(c *config) { c.thorough = true } }

// Run runs the suite. newStore must return an empty store each time it is
// called; every subtest gets its own. Cleanup belongs in t.Cleanup.
func Run(t *testing.T, newStore func(t *testing.T) objstore.Store, opts ...Option) {
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, s objstore.Store)
	}{
		{"RoundTrip", testRoundTrip},
		{"EmptyObject", testEmptyObject},
		{"LargeObject", testLargeObject},
		{"GetRange", testGetRange},
		{"Missing", testMissing},
		{"Delete", testDelete},
		{"List", testList},
		{"ListStops", testListStops},
		{"ListMany", func(t *testing.T, s objstore.Store) { testListMany(t, s, cfg.thorough) }},
		{"Concurrent", func(t *testing.T, s objstore.Store) { testConcurrent(t, s, cfg.thorough) }},
		{"AtomicVisibility", testAtomicVisibility},
		{"InvalidKeys", testInvalidKeys},
		{"CanceledContext", testCanceledContext},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, newStore(t))
		})
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return c
}

func randBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func mustPut(t *testing.T, s objstore.Store, key string, data []byte) {
	t.Helper()
	if err := s.Put(ctx(t), key, data); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

func mustGet(t *testing.T, s objstore.Store, key string, want []byte) {
	t.Helper()
	got, err := s.Get(ctx(t), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Get(%q) = %d bytes, want %d bytes equal to those put", key, len(got), len(want))
	}
}

// list returns all infos under prefix.
func list(t *testing.T, s objstore.Store, prefix string) []objstore.ObjectInfo {
	t.Helper()
	var infos []objstore.ObjectInfo
	if err := s.List(ctx(t), prefix, func(info objstore.ObjectInfo) error {
		infos = append(infos, info)
		return nil
	}); err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	return infos
}

func listKeys(t *testing.T, s objstore.Store, prefix string) []string {
	t.Helper()
	var keys []string
	for _, info := range list(t, s, prefix) {
		keys = append(keys, info.Key)
	}
	return keys
}

func testRoundTrip(t *testing.T, s objstore.Store) {
	data := []byte("hello, weir")
	mustPut(t, s, "rt/obj-1", data)
	// The store must not alias the caller's buffers, in or out.
	data[0] = 'J'
	mustGet(t, s, "rt/obj-1", []byte("hello, weir"))
	got, _ := s.Get(ctx(t), "rt/obj-1")
	got[0] = 'Y'
	mustGet(t, s, "rt/obj-1", []byte("hello, weir"))

	mustPut(t, s, "top-level_key.v1", []byte{0, 1, 2, 255})
	mustGet(t, s, "top-level_key.v1", []byte{0, 1, 2, 255})
	mustPut(t, s, "a/b/c/d/e/deep", []byte("deep"))
	mustGet(t, s, "a/b/c/d/e/deep", []byte("deep"))
}

func testEmptyObject(t *testing.T, s objstore.Store) {
	mustPut(t, s, "empty", nil)
	mustPut(t, s, "empty2", []byte{})
	for _, key := range []string{"empty", "empty2"} {
		got, err := s.Get(ctx(t), key)
		if err != nil || len(got) != 0 {
			t.Fatalf("Get(%q) = %d bytes, %v; want 0 bytes, nil", key, len(got), err)
		}
		got, err = s.GetRange(ctx(t), key, 0, 0)
		if err != nil || len(got) != 0 {
			t.Fatalf("GetRange(%q, 0, 0) = %d bytes, %v; want 0 bytes, nil", key, len(got), err)
		}
		if _, err := s.GetRange(ctx(t), key, 0, 1); !errors.Is(err, objstore.ErrInvalidRange) {
			t.Fatalf("GetRange(%q, 0, 1) error = %v, want ErrInvalidRange", key, err)
		}
	}
	infos := list(t, s, "empty")
	if len(infos) != 2 || infos[0].Size != 0 || infos[1].Size != 0 {
		t.Fatalf("List(empty) = %+v, want two objects of size 0", infos)
	}
}

func testLargeObject(t *testing.T, s objstore.Store) {
	data := randBytes(1, 5<<20+123)
	mustPut(t, s, "large", data)
	mustGet(t, s, "large", data)
	off, n := int64(3<<20+7), int64(1<<20)
	got, err := s.GetRange(ctx(t), "large", off, n)
	if err != nil || !bytes.Equal(got, data[off:off+n]) {
		t.Fatalf("GetRange(large, %d, %d) = %d bytes, %v; want the matching bytes", off, n, len(got), err)
	}
	if infos := list(t, s, "large"); len(infos) != 1 || infos[0].Size != int64(len(data)) {
		t.Fatalf("List(large) = %+v, want one object of %d bytes", infos, len(data))
	}
}

func testGetRange(t *testing.T, s objstore.Store) {
	data := randBytes(2, 100)
	mustPut(t, s, "range", data)
	for _, r := range []struct{ off, n int64 }{
		{0, 10}, {45, 10}, {90, 10}, {99, 1}, {0, 100}, {0, 0}, {50, 0}, {100, 0},
	} {
		got, err := s.GetRange(ctx(t), "range", r.off, r.n)
		if err != nil {
			t.Fatalf("GetRange(range, %d, %d): %v", r.off, r.n, err)
		}
		if !bytes.Equal(got, data[r.off:r.off+r.n]) || int64(len(got)) != r.n {
			t.Fatalf("GetRange(range, %d, %d) = %x, want %x", r.off, r.n, got, data[r.off:r.off+r.n])
		}
	}
	for _, r := range []struct{ off, n int64 }{
		{95, 10}, {99, 2}, {100, 1}, {101, 0}, {200, 1}, {-1, 5}, {0, -1}, {0, 101},
	} {
		got, err := s.GetRange(ctx(t), "range", r.off, r.n)
		if !errors.Is(err, objstore.ErrInvalidRange) {
			t.Fatalf("GetRange(range, %d, %d) = %d bytes, %v; want ErrInvalidRange", r.off, r.n, len(got), err)
		}
	}
	// The object is intact after failed range reads.
	mustGet(t, s, "range", data)
}

func testMissing(t *testing.T, s objstore.Store) {
	mustPut(t, s, "dir/obj", []byte("x"))
	// "dir" is a directory in path-based stores, and "dir/obj/deeper" runs
	// through a file: neither is an object.
	for _, key := range []string{"never-put", "dir", "dir/ob", "dir/obj2", "dir/obj/deeper", "other/obj"} {
		if _, err := s.Get(ctx(t), key); !errors.Is(err, objstore.ErrNotExist) {
			t.Errorf("Get(%q) error = %v, want ErrNotExist", key, err)
		}
		for _, r := range []struct{ off, n int64 }{{0, 1}, {0, 0}} {
			if _, err := s.GetRange(ctx(t), key, r.off, r.n); !errors.Is(err, objstore.ErrNotExist) {
				t.Errorf("GetRange(%q, %d, %d) error = %v, want ErrNotExist", key, r.off, r.n, err)
			}
		}
	}
}

func testDelete(t *testing.T, s objstore.Store) {
	mustPut(t, s, "del/a", []byte("a"))
	mustPut(t, s, "del/b", []byte("b"))
	mustPut(t, s, "del/sub/c", []byte("c"))
	for i := range 2 {
		if err := s.Delete(ctx(t), "del/a"); err != nil {
			t.Fatalf("Delete(del/a) #%d: %v", i+1, err)
		}
	}
	if _, err := s.Get(ctx(t), "del/a"); !errors.Is(err, objstore.ErrNotExist) {
		t.Fatalf("Get after Delete: error = %v, want ErrNotExist", err)
	}
	// Deleting keys that never existed, including a "directory", succeeds
	// and leaves the objects below it alone.
	for _, key := range []string{"never-put", "del/sub", "del/b/x"} {
		if err := s.Delete(ctx(t), key); err != nil {
			t.Fatalf("Delete(%q): %v", key, err)
		}
	}
	mustGet(t, s, "del/b", []byte("b"))
	mustGet(t, s, "del/sub/c", []byte("c"))
	if got, want := listKeys(t, s, ""), []string{"del/b", "del/sub/c"}; !slices.Equal(got, want) {
		t.Fatalf("List after deletes = %q, want %q", got, want)
	}
	// Deleting the last object under a prefix leaves nothing listed, and
	// the key space stays usable.
	for _, key := range []string{"del/b", "del/sub/c"} {
		if err := s.Delete(ctx(t), key); err != nil {
			t.Fatalf("Delete(%q): %v", key, err)
		}
	}
	if got := listKeys(t, s, ""); len(got) != 0 {
		t.Fatalf("List after deleting all = %q, want none", got)
	}
	mustPut(t, s, "del/sub/c", []byte("again"))
	mustGet(t, s, "del/sub/c", []byte("again"))
}

func testList(t *testing.T, s objstore.Store) {
	// Chosen so that directory-walking order differs from key order:
	// '-' < '.' < '/' < '0' < 'b'.
	keys := []string{"a-b", "a.b", "a/b", "a/b-c", "a/c/d", "a/c0", "a0", "ab", "b/x", "b0/y"}
	for i, key := range slices.Backward(keys) {
		mustPut(t, s, key, bytes.Repeat([]byte{'k'}, i))
	}
	start := time.Now()
	infos := list(t, s, "")
	if len(infos) != len(keys) {
		t.Fatalf("List(\"\") = %d objects, want %d", len(infos), len(keys))
	}
	for i, info := range infos {
		if info.Key != keys[i] {
			t.Fatalf("List(\"\") keys = %q, want %q", listKeys(t, s, ""), keys)
		}
		if want := int64(i); info.Size != want {
			t.Errorf("List: %s has Size %d, want %d", info.Key, info.Size, want)
		}
		// S3 has one-second resolution and servers' clocks drift.
		if info.ModTime.IsZero() || info.ModTime.Sub(start).Abs() > time.Hour {
			t.Errorf("List: %s has ModTime %v, want about %v", info.Key, info.ModTime, start)
		}
	}
	for _, tc := range []struct {
		prefix string
		want   []string
	}{
		{"a", []string{"a-b", "a.b", "a/b", "a/b-c", "a/c/d", "a/c0", "a0", "ab"}},
		{"a/", []string{"a/b", "a/b-c", "a/c/d", "a/c0"}},
		{"a/b", []string{"a/b", "a/b-c"}},
		{"a/b-c", []string{"a/b-c"}},
		{"a/c", []string{"a/c/d", "a/c0"}},
		{"a/c/", []string{"a/c/d"}},
		{"b", []string{"b/x", "b0/y"}},
		{"b/", []string{"b/x"}},
		{"b/x/", nil},
		{"b/x/y", nil},
		{"c", nil},
		{"a-", []string{"a-b"}},
	} {
		if got := listKeys(t, s, tc.prefix); !slices.Equal(got, tc.want) {
			t.Errorf("List(%q) = %q, want %q", tc.prefix, got, tc.want)
		}
	}
}

func testListStops(t *testing.T, s objstore.Store) {
	for i := range 5 {
		mustPut(t, s, fmt.Sprintf("stop/%d", i), []byte{byte(i)})
	}
	errStop := errors.New("stop here")
	var seen []string
	err := s.List(ctx(t), "stop/", func(info objstore.ObjectInfo) error {
		seen = append(seen, info.Key)
		if len(seen) == 2 {
			return errStop
		}
		return nil
	})
	if !errors.Is(err, errStop) || len(seen) != 2 {
		t.Fatalf("List with fn failing on the 2nd object: error %v after %q, want errStop after 2", err, seen)
	}
	// fn may call back into the store.
	err = s.List(ctx(t), "stop/", func(info objstore.ObjectInfo) error {
		_, err := s.Get(ctx(t), info.Key)
		return err
	})
	if err != nil {
		t.Fatalf("List with fn calling Get: %v", err)
	}
}

func testListMany(t *testing.T, s objstore.Store, thorough bool) {
	n := 120
	if thorough {
		n = 1100 // past S3's 1000-key page
	}
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("many/%05d", i)
	}
	parallel(t, 16, n, func(i int) error { return s.Put(ctx(t), keys[i], []byte(keys[i])) })
	if got := listKeys(t, s, "many/"); !slices.Equal(got, keys) {
		t.Fatalf("List(many/) = %d keys, want %d in order (first difference at %d)", len(got), n, firstDiff(got, keys))
	}
	if got, want := listKeys(t, s, "many/0001"), keys[10:20]; !slices.Equal(got, want) {
		t.Fatalf("List(many/0001) = %q, want %q", got, want)
	}
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// parallel runs fn(0..n-1) on workers goroutines and fails t on any error.
func parallel(t *testing.T, workers, n int, fn func(i int) error) {
	t.Helper()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		next = make(chan int)
	)
	for range workers {
		wg.Go(func() {
			for i := range next {
				if err := fn(i); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}

func testConcurrent(t *testing.T, s objstore.Store, thorough bool) {
	writers, perWriter := 4, 10
	if thorough {
		writers, perWriter = 8, 25
	}
	key := func(w, i int) string { return fmt.Sprintf("conc/w%d/%03d", w, i) }
	data := func(w, i int) []byte { return randBytes(uint64(w*1000+i), 1000+i*37) }
	var wg sync.WaitGroup
	errc := make(chan error, 4*writers)
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				if err := s.Put(ctx(t), key(w, i), data(w, i)); err != nil {
					errc <- err
					return
				}
				// Read back our own writes and a neighbour's, which may
				// not exist yet but must never be partial.
				for _, kw := range []int{w, (w + 1) % writers} {
					got, err := s.Get(ctx(t), key(kw, i))
					if errors.Is(err, objstore.ErrNotExist) && kw != w {
						continue
					}
					if err != nil {
						errc <- err
						return
					}
					if !bytes.Equal(got, data(kw, i)) {
						errc <- fmt.Errorf("Get(%s) returned wrong data", key(kw, i))
						return
					}
				}
			}
		})
		// Listers run alongside and must see only whole objects.
		wg.Go(func() {
			for range perWriter / 2 {
				err := s.List(ctx(t), "conc/", func(info objstore.ObjectInfo) error {
					var w, i int
					if _, err := fmt.Sscanf(info.Key, "conc/w%d/%03d", &w, &i); err != nil {
						return fmt.Errorf("List returned unexpected key %q", info.Key)
					}
					if want := int64(len(data(w, i))); info.Size != want {
						return fmt.Errorf("List: %s has Size %d, want %d", info.Key, info.Size, want)
					}
					return nil
				})
				if err != nil {
					errc <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	if got := list(t, s, "conc/"); len(got) != writers*perWriter {
		t.Fatalf("List(conc/) = %d objects, want %d", len(got), writers*perWriter)
	}
}

// testAtomicVisibility races readers against the Put of one large object:
// each read sees nothing or everything.
func testAtomicVisibility(t *testing.T, s objstore.Store) {
	data := randBytes(3, 2<<20)
	done := make(chan struct{})
	var wg sync.WaitGroup
	errc := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			for {
				got, err := s.Get(ctx(t), "atomic/obj")
				switch {
				case errors.Is(err, objstore.ErrNotExist):
				case err != nil:
					errc <- err
					return
				case !bytes.Equal(got, data):
					errc <- fmt.Errorf("Get during Put returned %d of %d bytes or wrong bytes", len(got), len(data))
					return
				default:
					return // saw the whole object
				}
				select {
				case <-done:
					return
				default:
				}
			}
		})
	}
	mustPut(t, s, "atomic/obj", data)
	close(done)
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
}

func testInvalidKeys(t *testing.T, s objstore.Store) {
	bad := []string{
		"", "/abs", "trailing/", "a//b", "..", "../escape", "a/../b", ".", "./a", "a/.",
		".hidden", "a/.tmp-123", "with space", `back\slash`, "tab\tkey", "nul\x00", "ünï",
		"a/" + strings.Repeat("s", objstore.MaxSegmentLen+1),
		strings.Repeat("k/", objstore.MaxKeyLen/2) + "k",
	}
	for _, key := range bad {
		if err := s.Put(ctx(t), key, []byte("x")); !errors.Is(err, objstore.ErrInvalidKey) {
			t.Errorf("Put(%q) error = %v, want ErrInvalidKey", key, err)
		}
		if _, err := s.Get(ctx(t), key); !errors.Is(err, objstore.ErrInvalidKey) {
			t.Errorf("Get(%q) error = %v, want ErrInvalidKey", key, err)
		}
		if _, err := s.GetRange(ctx(t), key, 0, 1); !errors.Is(err, objstore.ErrInvalidKey) {
			t.Errorf("GetRange(%q) error = %v, want ErrInvalidKey", key, err)
		}
		if err := s.Delete(ctx(t), key); !errors.Is(err, objstore.ErrInvalidKey) {
			t.Errorf("Delete(%q) error = %v, want ErrInvalidKey", key, err)
		}
	}
	for _, prefix := range []string{"/abs", "with space", "ünï"} {
		err := s.List(ctx(t), prefix, func(objstore.ObjectInfo) error { return nil })
		if !errors.Is(err, objstore.ErrInvalidKey) {
			t.Errorf("List(%q) error = %v, want ErrInvalidKey", prefix, err)
		}
	}
	// The longest segment is accepted.
	mustPut(t, s, "x/"+strings.Repeat("s", objstore.MaxSegmentLen), []byte("ok"))
	if got := listKeys(t, s, ""); len(got) != 1 {
		t.Fatalf("List after invalid puts = %q, want only the valid key", got)
	}
}

func testCanceledContext(t *testing.T, s objstore.Store) {
	mustPut(t, s, "cancel/exists", []byte("x"))
	c, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.Put(c, "cancel/new", []byte("x")); !errors.Is(err, context.Canceled) {
		t.Errorf("Put with canceled ctx: error = %v, want context.Canceled", err)
	}
	if _, err := s.Get(c, "cancel/exists"); !errors.Is(err, context.Canceled) {
		t.Errorf("Get with canceled ctx: error = %v, want context.Canceled", err)
	}
	if _, err := s.GetRange(c, "cancel/exists", 0, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("GetRange with canceled ctx: error = %v, want context.Canceled", err)
	}
	if err := s.Delete(c, "cancel/exists"); !errors.Is(err, context.Canceled) {
		t.Errorf("Delete with canceled ctx: error = %v, want context.Canceled", err)
	}
	if err := s.List(c, "cancel/", func(objstore.ObjectInfo) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("List with canceled ctx: error = %v, want context.Canceled", err)
	}
	// Nothing a canceled call did is visible.
	if got, want := listKeys(t, s, "cancel/"), []string{"cancel/exists"}; !slices.Equal(got, want) {
		t.Fatalf("List after canceled calls = %q, want %q", got, want)
	}
}
