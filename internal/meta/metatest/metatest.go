// Package metatest is the acceptance suite every meta.KV implementation
// must pass. It checks the contract written on meta.KV, plus the etcd
// behaviours Weir relies on (create-only conds, prefix deletes, one
// revision per transaction), so that code tested against the memory store
// behaves the same against etcd.
package metatest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/weirdb/weir/internal/meta"
)

// Run runs the suite. newKV must return an empty store, isolated from any
// other it returned; the suite closes it.
func Run(t *testing.T, newKV func(t *testing.T) meta.KV) {
	tests := []struct {
		name string
		fn   func(t *testing.T, kv meta.KV)
	}{
		{"GetMissing", testGetMissing},
		{"PutGet", testPutGet},
		{"EmptyValue", testEmptyValue},
		{"NoAliasing", testNoAliasing},
		{"ModRev", testModRev},
		{"CondCreateOnly", testCondCreateOnly},
		{"CondStale", testCondStale},
		{"CondMissingKey", testCondMissingKey},
		{"MultiOpAtomic", testMultiOpAtomic},
		{"Delete", testDelete},
		{"DeletePrefix", testDeletePrefix},
		{"DuplicateKeyInTxn", testDuplicateKeyInTxn},
		{"ListOrder", testListOrder},
		{"ListPrefixIsolation", testListPrefixIsolation},
		{"ListLarge", testListLarge},
		{"RevisionsIncrease", testRevisionsIncrease},
		{"ConcurrentCAS", testConcurrentCAS},
		{"BigTxn", testBigTxn},
		{"CanceledContext", testCanceledContext},
		{"Closed", testClosed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			kv := newKV(t)
			t.Cleanup(func() { kv.Close() })
			tc.fn(t, kv)
		})
	}
}

func ctx(t *testing.T) context.Context {
	// A hung store must fail the test, not the whole run's timeout.
	c, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// put writes key=value unconditionally and returns the revision.
func put(t *testing.T, kv meta.KV, key, value string) int64 {
	t.Helper()
	return mustTxn(t, kv, nil, []meta.Op{{Key: key, Value: []byte(value)}})
}

// mustTxn runs a txn that must succeed.
func mustTxn(t *testing.T, kv meta.KV, conds []meta.Cond, ops []meta.Op) int64 {
	t.Helper()
	rev, ok, err := kv.Txn(ctx(t), conds, ops)
	if err != nil {
		t.Fatalf("txn: %v", err)
	}
	if !ok {
		t.Fatalf("txn: conds %v failed", conds)
	}
	if rev <= 0 {
		t.Fatalf("txn: revision %d, want > 0", rev)
	}
	return rev
}

// mustFail runs a txn whose conds must not hold.
func mustFail(t *testing.T, kv meta.KV, conds []meta.Cond, ops []meta.Op) {
	t.Helper()
	_, ok, err := kv.Txn(ctx(t), conds, ops)
	if err != nil {
		t.Fatalf("txn: %v", err)
	}
	if ok {
		t.Fatalf("txn with conds %v succeeded, want failure", conds)
	}
}

func get(t *testing.T, kv meta.KV, key string) (meta.KeyValue, bool) {
	t.Helper()
	got, ok, err := kv.Get(ctx(t), key)
	if err != nil {
		t.Fatalf("get %q: %v", key, err)
	}
	if ok && got.Key != key {
		t.Fatalf("get %q: returned key %q", key, got.Key)
	}
	return got, ok
}

// expect checks key holds value (with modRev, unless 0).
func expect(t *testing.T, kv meta.KV, key, value string, modRev int64) {
	t.Helper()
	got, ok := get(t, kv, key)
	if !ok {
		t.Fatalf("get %q: missing, want %q", key, value)
	}
	if string(got.Value) != value {
		t.Fatalf("get %q = %q, want %q", key, got.Value, value)
	}
	if modRev != 0 && got.ModRev != modRev {
		t.Fatalf("get %q: ModRev %d, want %d", key, got.ModRev, modRev)
	}
}

func expectMissing(t *testing.T, kv meta.KV, key string) {
	t.Helper()
	if got, ok := get(t, kv, key); ok {
		t.Fatalf("get %q = %q (rev %d), want missing", key, got.Value, got.ModRev)
	}
}

func list(t *testing.T, kv meta.KV, prefix string) []meta.KeyValue {
	t.Helper()
	kvs, err := kv.List(ctx(t), prefix)
	if err != nil {
		t.Fatalf("list %q: %v", prefix, err)
	}
	return kvs
}

func keys(kvs []meta.KeyValue) []string {
	out := make([]string, len(kvs))
	for i, kv := range kvs {
		out[i] = kv.Key
	}
	return out
}

func testGetMissing(t *testing.T, kv meta.KV) {
	expectMissing(t, kv, "nope")
	if got := list(t, kv, ""); len(got) != 0 {
		t.Fatalf("empty store lists %v", keys(got))
	}
}

func testPutGet(t *testing.T, kv meta.KV) {
	rev := put(t, kv, "topics/orders", "v1")
	expect(t, kv, "topics/orders", "v1", rev)
	expectMissing(t, kv, "topics/order")
	expectMissing(t, kv, "topics/orders/")
}

func testEmptyValue(t *testing.T, kv meta.KV) {
	rev := put(t, kv, "k", "")
	expect(t, kv, "k", "", rev) // present, though empty
}

// Callers reuse buffers; the store must own its copy, and so must they.
func testNoAliasing(t *testing.T, kv meta.KV) {
	buf := []byte("abc")
	mustTxn(t, kv, nil, []meta.Op{{Key: "k", Value: buf}})
	buf[0] = 'X'
	got, _ := get(t, kv, "k")
	got.Value[1] = 'Y'
	expect(t, kv, "k", "abc", 0)
	l := list(t, kv, "")
	l[0].Value[2] = 'Z'
	expect(t, kv, "k", "abc", 0)
}

func testModRev(t *testing.T, kv meta.KV) {
	r1 := put(t, kv, "a", "1")
	r2 := put(t, kv, "b", "1")
	if r2 <= r1 {
		t.Fatalf("revisions %d then %d, want increasing", r1, r2)
	}
	r3 := put(t, kv, "a", "2")
	if r3 <= r2 {
		t.Fatalf("revisions %d then %d, want increasing", r2, r3)
	}
	expect(t, kv, "a", "2", r3)
	expect(t, kv, "b", "1", r2) // untouched keys keep their revision
	l := list(t, kv, "")
	if len(l) != 2 || l[0].ModRev != r3 || l[1].ModRev != r2 {
		t.Fatalf("list = %+v, want a@%d b@%d", l, r3, r2)
	}
}

func testCondCreateOnly(t *testing.T, kv meta.KV) {
	create := func(v string) []meta.Op { return []meta.Op{{Key: "owner", Value: []byte(v)}} }
	absent := []meta.Cond{{Key: "owner", ModRev: 0}}

	rev := mustTxn(t, kv, absent, create("broker-1"))
	mustFail(t, kv, absent, create("broker-2"))
	expect(t, kv, "owner", "broker-1", rev)

	// Deleted is absent again.
	mustTxn(t, kv, nil, []meta.Op{{Key: "owner", Delete: true}})
	rev = mustTxn(t, kv, absent, create("broker-3"))
	expect(t, kv, "owner", "broker-3", rev)
}

func testCondStale(t *testing.T, kv meta.KV) {
	r1 := put(t, kv, "epoch", "1")
	r2 := mustTxn(t, kv, []meta.Cond{{Key: "epoch", ModRev: r1}}, []meta.Op{{Key: "epoch", Value: []byte("2")}})

	// r1 is stale now: nothing in the txn may be applied, including ops on
	// other keys.
	mustFail(t, kv, []meta.Cond{{Key: "epoch", ModRev: r1}}, []meta.Op{
		{Key: "epoch", Value: []byte("3")},
		{Key: "other", Value: []byte("x")},
	})
	expect(t, kv, "epoch", "2", r2)
	expectMissing(t, kv, "other")

	// A revision from the future is just as wrong.
	mustFail(t, kv, []meta.Cond{{Key: "epoch", ModRev: r2 + 1000}}, []meta.Op{{Key: "epoch", Value: []byte("4")}})
	expect(t, kv, "epoch", "2", r2)
}

func testCondMissingKey(t *testing.T, kv meta.KV) {
	r := put(t, kv, "x", "1")
	// "y" does not exist, so no ModRev but 0 matches it.
	mustFail(t, kv, []meta.Cond{{Key: "y", ModRev: r}}, []meta.Op{{Key: "y", Value: []byte("1")}})
	expectMissing(t, kv, "y")
}

func testMultiOpAtomic(t *testing.T, kv meta.KV) {
	ra := put(t, kv, "p/a", "a0")
	rb := put(t, kv, "p/b", "b0")
	put(t, kv, "p/c", "c0")

	// One failing cond among several fails the whole txn.
	mustFail(t, kv,
		[]meta.Cond{{Key: "p/a", ModRev: ra}, {Key: "p/b", ModRev: ra}},
		[]meta.Op{{Key: "p/a", Value: []byte("a1")}, {Key: "p/c", Delete: true}, {Key: "p/d", Value: []byte("d1")}})
	expect(t, kv, "p/a", "a0", ra)
	expect(t, kv, "p/c", "c0", 0)
	expectMissing(t, kv, "p/d")

	rev := mustTxn(t, kv,
		[]meta.Cond{{Key: "p/a", ModRev: ra}, {Key: "p/b", ModRev: rb}, {Key: "p/d", ModRev: 0}},
		[]meta.Op{{Key: "p/a", Value: []byte("a1")}, {Key: "p/c", Delete: true}, {Key: "p/d", Value: []byte("d1")}})
	// Every key a txn writes carries its revision.
	expect(t, kv, "p/a", "a1", rev)
	expect(t, kv, "p/b", "b0", rb)
	expectMissing(t, kv, "p/c")
	expect(t, kv, "p/d", "d1", rev)
}

func testDelete(t *testing.T, kv meta.KV) {
	put(t, kv, "k", "v")
	put(t, kv, "k2", "v")
	mustTxn(t, kv, nil, []meta.Op{{Key: "k", Delete: true}})
	expectMissing(t, kv, "k")
	expect(t, kv, "k2", "v", 0) // a plain delete is not a prefix delete
	// Deleting what is not there succeeds and leaves the rest alone.
	if _, ok, err := kv.Txn(ctx(t), nil, []meta.Op{{Key: "k", Delete: true}}); err != nil || !ok {
		t.Fatalf("delete missing key: ok=%v err=%v", ok, err)
	}
	expect(t, kv, "k2", "v", 0)
}

func testDeletePrefix(t *testing.T, kv meta.KV) {
	mustTxn(t, kv, nil, []meta.Op{
		{Key: "a", Value: []byte("1")},
		{Key: "a/1", Value: []byte("1")},
		{Key: "a/2/x", Value: []byte("1")},
		{Key: "a0", Value: []byte("1")},
		{Key: "b/1", Value: []byte("1")},
	})
	mustTxn(t, kv, nil, []meta.Op{{Key: "a/", Delete: true, Prefix: true}})
	if got, want := keys(list(t, kv, "")), []string{"a", "a0", "b/1"}; !slices.Equal(got, want) {
		t.Fatalf("after deleting prefix a/: %v, want %v", got, want)
	}
}

// Etcd rejects a txn writing one key twice; the memory store must as well,
// or code tested on it would fail in production.
func testDuplicateKeyInTxn(t *testing.T, kv meta.KV) {
	for _, ops := range [][]meta.Op{
		{{Key: "d/k", Value: []byte("1")}, {Key: "d/k", Value: []byte("2")}},
		{{Key: "d/k", Value: []byte("1")}, {Key: "d/k", Delete: true}},
		{{Key: "d/k", Value: []byte("1")}, {Key: "d/", Delete: true, Prefix: true}},
	} {
		if _, ok, err := kv.Txn(ctx(t), nil, ops); err == nil {
			t.Errorf("txn %+v: ok=%v, want an error", ops, ok)
		}
		expectMissing(t, kv, "d/k")
	}
}

func testListOrder(t *testing.T, kv meta.KV) {
	want := []string{"k/", "k/0", "k/00", "k/01", "k/1", "k/10", "k/2", "k/a", "k/a/b", "k/b"}
	shuffled := slices.Clone(want)
	rand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	for _, k := range shuffled {
		put(t, kv, k, "v:"+k)
	}
	got := list(t, kv, "k/")
	if !slices.Equal(keys(got), want) {
		t.Fatalf("list = %v, want %v", keys(got), want)
	}
	for _, g := range got {
		if string(g.Value) != "v:"+g.Key {
			t.Fatalf("list: %q = %q", g.Key, g.Value)
		}
	}
	if got := keys(list(t, kv, "")); !slices.Equal(got, want) {
		t.Fatalf("list everything = %v, want %v", got, want)
	}
}

func testListPrefixIsolation(t *testing.T, kv meta.KV) {
	for _, k := range []string{"a", "a/", "a/x", "a/y/z", "a0", "a0/x", "b/x", "`"} {
		put(t, kv, k, "v")
	}
	for prefix, want := range map[string][]string{
		"a/":   {"a/", "a/x", "a/y/z"},
		"a/y/": {"a/y/z"},
		"a0":   {"a0", "a0/x"},
		"a":    {"a", "a/", "a/x", "a/y/z", "a0", "a0/x"},
		"c":    nil,
		"a/x/": nil,
	} {
		if got := keys(list(t, kv, prefix)); !slices.Equal(got, want) {
			t.Errorf("list %q = %v, want %v", prefix, got, want)
		}
	}
}

// More keys than an implementation might fetch in one page.
func testListLarge(t *testing.T, kv meta.KV) {
	const n = 2500
	var want []string
	for batch := 0; batch < n/500; batch++ {
		ops := make([]meta.Op, 500)
		for i := range ops {
			k := fmt.Sprintf("big/%05d", batch*500+i)
			ops[i] = meta.Op{Key: k, Value: []byte(k)}
			want = append(want, k)
		}
		mustTxn(t, kv, nil, ops)
	}
	put(t, kv, "big0", "outside")
	got := list(t, kv, "big/")
	if !slices.Equal(keys(got), want) {
		t.Fatalf("list big/: %d keys, want %d in order", len(got), n)
	}
}

func testRevisionsIncrease(t *testing.T, kv meta.KV) {
	var last int64
	for i := range 20 {
		ops := []meta.Op{{Key: "r/" + strconv.Itoa(i%3), Value: []byte{byte(i)}}}
		if i%5 == 4 {
			ops = []meta.Op{{Key: "r/", Delete: true, Prefix: true}}
		}
		rev := mustTxn(t, kv, nil, ops)
		if rev <= last {
			t.Fatalf("txn %d: revision %d after %d", i, rev, last)
		}
		last = rev
		// Reads after a successful txn see it.
		for _, kv := range list(t, kv, "r/") {
			if kv.ModRev > last {
				t.Fatalf("key %q has ModRev %d beyond the last write %d", kv.Key, kv.ModRev, last)
			}
		}
	}
}

// The pattern every Weir CAS loop follows: read, compute, write if unchanged.
func testConcurrentCAS(t *testing.T, kv meta.KV) {
	const workers, each = 8, 25
	put(t, kv, "counter", "0")
	c := ctx(t)
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			for done := 0; done < each; {
				cur, ok, err := kv.Get(c, "counter")
				if err != nil || !ok {
					errs <- fmt.Errorf("get: ok=%v err=%v", ok, err)
					return
				}
				n, _ := strconv.Atoi(string(cur.Value))
				_, ok, err = kv.Txn(c,
					[]meta.Cond{{Key: "counter", ModRev: cur.ModRev}},
					[]meta.Op{{Key: "counter", Value: []byte(strconv.Itoa(n + 1))}})
				if err != nil {
					errs <- err
					return
				}
				if ok {
					done++
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	expect(t, kv, "counter", strconv.Itoa(workers*each), 0)
}

// Weir commits one txn per uploaded object, with ops for every partition in
// it; a store that caps txns low (etcd's default is 128 ops) breaks that.
func testBigTxn(t *testing.T, kv meta.KV) {
	const n = 1000
	ops := make([]meta.Op, n)
	conds := make([]meta.Cond, 0, n)
	for i := range ops {
		k := fmt.Sprintf("idx/%04d", i)
		ops[i] = meta.Op{Key: k, Value: bytes.Repeat([]byte{'x'}, 100)}
		conds = append(conds, meta.Cond{Key: k, ModRev: 0})
	}
	rev := mustTxn(t, kv, conds[:n/2], ops) // conds and ops count separately
	got := list(t, kv, "idx/")
	if len(got) != n {
		t.Fatalf("list after %d-op txn: %d keys", n, len(got))
	}
	for _, g := range got {
		if g.ModRev != rev {
			t.Fatalf("%q: ModRev %d, want %d", g.Key, g.ModRev, rev)
		}
	}
	mustTxn(t, kv, nil, []meta.Op{{Key: "idx/", Delete: true, Prefix: true}})
	if got := list(t, kv, "idx/"); len(got) != 0 {
		t.Fatalf("after prefix delete: %d keys left", len(got))
	}
}

func testCanceledContext(t *testing.T, kv meta.KV) {
	c, cancel := context.WithCancel(t.Context())
	cancel()
	if _, _, err := kv.Get(c, "k"); err == nil {
		t.Error("get with canceled context: no error")
	}
	if _, ok, err := kv.Txn(c, nil, []meta.Op{{Key: "k", Value: []byte("v")}}); err == nil {
		t.Errorf("txn with canceled context: ok=%v, no error", ok)
	}
	// Whether that txn was applied is unknown by contract; not checked.
}

func testClosed(t *testing.T, kv meta.KV) {
	put(t, kv, "k", "v")
	if err := kv.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if _, _, err := kv.Get(ctx(t), "k"); !errors.Is(err, meta.ErrClosed) {
		t.Errorf("get after close: %v, want ErrClosed", err)
	}
	if _, err := kv.List(ctx(t), ""); !errors.Is(err, meta.ErrClosed) {
		t.Errorf("list after close: %v, want ErrClosed", err)
	}
	if _, _, err := kv.Txn(ctx(t), nil, []meta.Op{{Key: "k", Delete: true}}); !errors.Is(err, meta.ErrClosed) {
		t.Errorf("txn after close: %v, want ErrClosed", err)
	}
}
